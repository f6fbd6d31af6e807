// A compiled PCRE2 pattern (UTF + UCP, JIT when available) with the match iteration that the
// Hugging Face library gets from Rust's regex/onig crates. Internal to core/text.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dpowb::text {

class Regex {
public:
    // Throws dpowb::Error naming `where` when the pattern does not compile or is too large.
    Regex(const std::string& pattern, const std::string& where);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Every non-overlapping match in `text` (valid UTF-8) as [start, end) byte offsets. An empty
    // match right where the previous match ended is skipped, as Rust's find_iter does. Throws
    // dpowb::Error when PCRE2 gives up (match or depth limit, JIT stack).
    void findAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace dpowb::text
