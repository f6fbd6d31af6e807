#include "text/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/error.h"
#include "text/unicode.h"

namespace dpowb::text {

namespace {

// Longest pattern accepted from a tokenizer file: real pre-tokenizer patterns are a few
// hundred bytes; anything far larger is hostile or broken.
constexpr size_t kMaxPatternBytes = 64 * 1024;
constexpr uint32_t kMatchLimit = 50'000'000;
constexpr uint32_t kDepthLimit = 1'000'000;

std::string pcreMessage(int code) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return "PCRE2 error " + std::to_string(code);
    return reinterpret_cast<const char*>(buf);
}

// Per-thread match state: PCRE2 match data and the JIT stack must not be shared between
// threads, and allocating them per call would cost more than the match itself.
struct MatchState {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jitStack = nullptr;
    MatchState() {
        data = pcre2_match_data_create(1, nullptr);
        context = pcre2_match_context_create(nullptr);
        pcre2_set_match_limit(context, kMatchLimit);
        pcre2_set_depth_limit(context, kDepthLimit);
        jitStack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
        if (jitStack) pcre2_jit_stack_assign(context, nullptr, jitStack);
    }
    ~MatchState() {
        pcre2_match_data_free(data);
        pcre2_match_context_free(context);
        if (jitStack) pcre2_jit_stack_free(jitStack);
    }
};

MatchState& matchState() {
    thread_local MatchState state;
    return state;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : pattern_(pattern) {
    if (pattern.size() > kMaxPatternBytes)
        throw Error(where + ": regex of " + std::to_string(pattern.size()) + " bytes is larger than the " +
                    std::to_string(kMaxPatternBytes) + "-byte limit");
    if (!unicode::isValid(pattern)) throw Error(where + ": regex is not valid UTF-8");
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
    if (!code)
        throw Error(where + ": invalid regex at offset " + std::to_string(offset) + ": " + pcreMessage(err));
    // JIT is an optimisation only: where it is unavailable, the interpreter gives the same matches.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::findAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
    out.clear();
    auto* code = static_cast<pcre2_code*>(code_);
    MatchState& st = matchState();
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;
    size_t lastEnd = std::string_view::npos;
    while (pos <= text.size()) {
        int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            throw Error("pre-tokenizer regex failed on a piece of " + std::to_string(text.size()) +
                        " bytes: " + pcreMessage(rc) +
                        " (the text has a run the pattern cannot split within PCRE2's limits)");
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
        size_t s = ov[0], e = ov[1];
        if (s == e && e == lastEnd) {
            if (pos >= text.size()) break;
            pos += unicode::seqLength(static_cast<unsigned char>(text[pos]));
            continue;
        }
        out.emplace_back(s, e);
        lastEnd = e;
        pos = e;
    }
}

}  // namespace dpowb::text
