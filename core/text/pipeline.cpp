#include "text/pipeline.h"

#include <algorithm>
#include <map>
#include <utility>

#include "common/error.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace dpowb::text {

using nlohmann::json;

namespace {

using Matches = std::vector<std::pair<size_t, size_t>>;

// ---- JSON access with errors that name the path ---------------------------------------------

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

std::string typeOf(const json& j, const std::string& path) {
    if (!j.is_object()) fail(path, "expected an object");
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) fail(path, "missing string field \"type\"");
    return it->get<std::string>();
}

bool getBool(const json& j, const char* key, bool fallback, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(path + "." + key, "expected true or false");
    return it->get<bool>();
}

std::string getString(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) fail(path + "." + key, "expected a string");
    return it->get<std::string>();
}

size_t getCount(const json& j, const char* key, size_t fallback, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_unsigned() || it->get<uint64_t>() > (1u << 20)) fail(path + "." + key, "expected a small non-negative integer");
    return it->get<size_t>();
}

const json& getArray(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) fail(path + "." + key, "expected an array");
    return *it;
}

char32_t getChar(const json& j, const char* key, const std::string& path) {
    std::string s = getString(j, key, path);
    if (s.empty() || !unicode::isValid(s)) fail(path + "." + key, "expected exactly one character");
    size_t i = 0;
    char32_t c = unicode::next(s, i);
    if (i != s.size()) fail(path + "." + key, "expected exactly one character, got \"" + s + "\"");
    return c;
}

// Sequences may nest; a hostile file nesting them without end must not exhaust the stack.
class DepthGuard {
public:
    explicit DepthGuard(const std::string& path) {
        if (++depth() > 32) {
            --depth();
            fail(path, "nested more than 32 levels deep");
        }
    }
    ~DepthGuard() { --depth(); }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

private:
    static int& depth() {
        thread_local int d = 0;
        return d;
    }
};

[[noreturn]] void unsupported(const std::string& path, const std::string& kind, const std::string& type) {
    fail(path, kind + " type \"" + type + "\" is not supported");
}

// ---- Patterns (Split, Replace) ----------------------------------------------------------------

// A Split/Replace pattern: {"String": s} (a literal) or {"Regex": r}.
class Pattern {
public:
    Pattern(const json& j, const std::string& path) {
        if (!j.is_object() || j.size() != 1) fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
        if (auto it = j.find("String"); it != j.end()) {
            if (!it->is_string()) fail(path + ".String", "expected a string");
            literal_ = it->get<std::string>();
            if (literal_.empty()) fail(path + ".String", "an empty pattern is not supported");
            if (!unicode::isValid(literal_)) fail(path + ".String", "not valid UTF-8");
        } else if (auto it = j.find("Regex"); it != j.end()) {
            if (!it->is_string()) fail(path + ".Regex", "expected a string");
            regex_ = std::make_unique<Regex>(it->get<std::string>(), path + ".Regex");
        } else {
            fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
        }
    }
    void find(std::string_view text, Matches& out) const {
        if (regex_) return regex_->findAll(text, out);
        out.clear();
        size_t pos = 0;
        while ((pos = text.find(literal_, pos)) != std::string_view::npos) {
            out.emplace_back(pos, pos + literal_.size());
            pos += literal_.size();
        }
    }

private:
    std::string literal_;
    std::unique_ptr<Regex> regex_;
};

std::string replaceAll(std::string_view text, const Matches& matches, const std::string& content) {
    std::string out;
    out.reserve(text.size());
    size_t prev = 0;
    for (auto [s, e] : matches) {
        out.append(text.substr(prev, s - prev));
        out += content;
        prev = e;
    }
    out.append(text.substr(prev));
    return out;
}

// ---- Splitting with a delimiter behaviour --------------------------------------------------

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parseBehavior(const json& j, const char* key, const std::string& path) {
    std::string b = getString(j, key, path);
    if (b == "Removed") return Behavior::Removed;
    if (b == "Isolated") return Behavior::Isolated;
    if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
    if (b == "MergedWithNext") return Behavior::MergedWithNext;
    if (b == "Contiguous") return Behavior::Contiguous;
    fail(path + "." + key, "split behavior \"" + b + "\" is not supported");
}

struct Span {
    size_t start, end;
    bool flag;  // is-a-match on input, remove on output
};

// Splits `piece` at `matches` the way the Hugging Face NormalizedString::split does and
// appends the non-empty, non-removed parts to `out`.
void splitPiece(const Piece& piece, const Matches& matches, Behavior behavior, bool invert,
                std::vector<Piece>& out) {
    const std::string& text = piece.text;
    std::vector<Span> spans;
    spans.reserve(matches.size() * 2 + 1);
    if (text.empty()) {
        spans.push_back({0, 0, false});
    } else {
        size_t prev = 0;
        for (auto [s, e] : matches) {
            if (prev != s) spans.push_back({prev, s, false});
            spans.push_back({s, e, true});
            prev = e;
        }
        if (prev != text.size()) spans.push_back({prev, text.size(), false});
    }
    if (invert)
        for (auto& sp : spans) sp.flag = !sp.flag;

    std::vector<Span> parts;
    parts.reserve(spans.size());
    bool previousMatch = false;
    switch (behavior) {
    case Behavior::Isolated:
        for (auto sp : spans) parts.push_back({sp.start, sp.end, false});
        break;
    case Behavior::Removed:
        parts = spans;
        break;
    case Behavior::Contiguous:
        for (auto sp : spans) {
            if (sp.flag == previousMatch && !parts.empty()) parts.back().end = sp.end;
            else parts.push_back({sp.start, sp.end, false});
            previousMatch = sp.flag;
        }
        break;
    case Behavior::MergedWithPrevious:
        for (auto sp : spans) {
            if (sp.flag && !previousMatch && !parts.empty()) parts.back().end = sp.end;
            else parts.push_back({sp.start, sp.end, false});
            previousMatch = sp.flag;
        }
        break;
    case Behavior::MergedWithNext:
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->flag && !previousMatch && !parts.empty()) parts.back().start = it->start;
            else parts.push_back({it->start, it->end, false});
            previousMatch = it->flag;
        }
        std::reverse(parts.begin(), parts.end());
        break;
    }
    for (const auto& p : parts) {
        if (p.flag || p.end == p.start) continue;
        out.push_back(Piece{text.substr(p.start, p.end - p.start), piece.atStart && p.start == 0});
    }
}

// Matches every single character for which `pred` holds (the library's char-predicate pattern).
template <typename Pred>
void findChars(std::string_view text, Pred pred, Matches& out) {
    out.clear();
    size_t i = 0;
    while (i < text.size()) {
        size_t start = i;
        char32_t c = unicode::next(text, i);
        if (pred(c)) out.emplace_back(start, i);
    }
}

// ---- Normalizers -------------------------------------------------------------------------------

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(unicode::Form f) : form_(f) {}
    void apply(std::string& text) const override { text = unicode::normalize(text, form_); }

private:
    unicode::Form form_;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void apply(std::string& text) const override { text = unicode::lowercase(text); }
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string p) : prefix_(std::move(p)) {}
    void apply(std::string& text) const override {
        if (!text.empty()) text.insert(0, prefix_);
    }

private:
    std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(const json& j, const std::string& path)
        : pattern_(j.contains("pattern") ? j.at("pattern") : json(), path + ".pattern"),
          content_(getString(j, "content", path)) {}
    void apply(std::string& text) const override {
        Matches m;
        pattern_.find(text, m);
        if (!m.empty()) text = replaceAll(text, m, content_);
    }

private:
    Pattern pattern_;
    std::string content_;
};

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
    void apply(std::string& text) const override {
        size_t begin = 0, end = text.size();
        if (left_) {
            size_t i = 0;
            while (i < text.size()) {
                size_t at = i;
                if (!unicode::isWhitespace(unicode::next(text, i))) {
                    begin = at;
                    break;
                }
                begin = i;
            }
        }
        if (right_) {
            // Scan forward, remembering where the last non-whitespace character ended.
            size_t i = begin, lastEnd = begin;
            while (i < text.size()) {
                if (!unicode::isWhitespace(unicode::next(text, i))) lastEnd = i;
            }
            end = lastEnd;
        }
        text = text.substr(begin, end - begin);
    }

private:
    bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
public:
    std::vector<std::unique_ptr<Normalizer>> parts;
    void apply(std::string& text) const override {
        for (const auto& n : parts) n->apply(text);
    }
};

// ---- Pre-tokenizers ---------------------------------------------------------------------------

// GPT-2's pattern, implied by ByteLevel's use_regex.
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(const json& j, const std::string& path)
        : pattern_(j.contains("pattern") ? j.at("pattern") : json(), path + ".pattern"),
          behavior_(parseBehavior(j, "behavior", path)),
          invert_(getBool(j, "invert", false, path)) {}
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        out.reserve(pieces.size() * 4);
        Matches m;
        for (const auto& p : pieces) {
            pattern_.find(p.text, m);
            splitPiece(p, m, behavior_, invert_, out);
        }
        pieces.swap(out);
    }

private:
    Pattern pattern_;
    Behavior behavior_;
    bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(const json& j, const std::string& path)
        : addPrefixSpace_(getBool(j, "add_prefix_space", true, path)),
          regex_(getBool(j, "use_regex", true, path) ? std::make_unique<Regex>(kGpt2Pattern, path) : nullptr) {}
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> split;
        split.reserve(pieces.size() * 4);
        Matches m;
        for (auto& p : pieces) {
            if (addPrefixSpace_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
            if (regex_) {
                regex_->findAll(p.text, m);
                splitPiece(p, m, Behavior::Isolated, false, split);
            } else if (!p.text.empty()) {
                split.push_back(std::move(p));
            }
        }
        const auto& table = unicode::byteToChar();
        for (auto& p : split) {
            std::string mapped;
            mapped.reserve(p.text.size() * 2);
            for (char c : p.text) mapped += table[static_cast<unsigned char>(c)];
            p.text.swap(mapped);
        }
        pieces.swap(split);
    }

private:
    bool addPrefixSpace_;
    std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { Always, First, Never };

PrependScheme parsePrependScheme(const json& j, const std::string& path) {
    auto it = j.find("prepend_scheme");
    if (it != j.end() && !it->is_null()) {
        std::string s = getString(j, "prepend_scheme", path);
        if (s == "always") return PrependScheme::Always;
        if (s == "first") return PrependScheme::First;
        if (s == "never") return PrependScheme::Never;
        fail(path + ".prepend_scheme", "value \"" + s + "\" is not supported");
    }
    return getBool(j, "add_prefix_space", true, path) ? PrependScheme::Always : PrependScheme::Never;
}

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    MetaspacePreTokenizer(const json& j, const std::string& path)
        : scheme_(parsePrependScheme(j, path)), split_(getBool(j, "split", true, path)) {
        unicode::append(replacement_, getChar(j, "replacement", path));
    }
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        Matches m;
        for (auto& p : pieces) {
            std::string replaced;
            replaced.reserve(p.text.size() + 3);
            for (char c : p.text) {
                if (c == ' ') replaced += replacement_;
                else replaced += c;
            }
            bool startsWithRep = replaced.compare(0, replacement_.size(), replacement_) == 0;
            if (!startsWithRep && (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.atStart)))
                replaced.insert(0, replacement_);
            Piece np{std::move(replaced), p.atStart};
            if (!split_) {
                if (!np.text.empty()) out.push_back(std::move(np));
                continue;
            }
            m.clear();
            size_t pos = 0;
            while ((pos = np.text.find(replacement_, pos)) != std::string::npos) {
                m.emplace_back(pos, pos + replacement_.size());
                pos += replacement_.size();
            }
            splitPiece(np, m, Behavior::MergedWithNext, false, out);
        }
        pieces.swap(out);
    }

private:
    std::string replacement_;
    PrependScheme scheme_;
    bool split_;
};

class DigitsPreTokenizer final : public PreTokenizer {
public:
    explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        Matches m;
        for (const auto& p : pieces) {
            findChars(p.text, unicode::isNumeric, m);
            splitPiece(p, m, individual_ ? Behavior::Isolated : Behavior::Contiguous, false, out);
        }
        pieces.swap(out);
    }

private:
    bool individual_;
};

class WhitespaceSplitPreTokenizer final : public PreTokenizer {
public:
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        Matches m;
        for (const auto& p : pieces) {
            findChars(p.text, unicode::isWhitespace, m);
            splitPiece(p, m, Behavior::Removed, false, out);
        }
        pieces.swap(out);
    }
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    void apply(std::vector<Piece>& pieces) const override {
        for (const auto& p : parts) p->apply(pieces);
    }
};

// ---- Decoders ------------------------------------------------------------------------------

class ByteLevelDecoder final : public Decoder {
public:
    void apply(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const auto& t : tokens) {
            // A token with a character outside the byte alphabet is kept as its own UTF-8.
            size_t mark = bytes.size();
            bool ok = true;
            size_t i = 0;
            while (i < t.size()) {
                int b = unicode::charToByte(unicode::next(t, i));
                if (b < 0) {
                    ok = false;
                    break;
                }
                bytes.push_back(static_cast<char>(b));
            }
            if (!ok) {
                bytes.resize(mark);
                bytes += t;
            }
        }
        tokens.assign(1, unicode::toValidLossy(bytes));
    }
};

class ByteFallbackDecoder final : public Decoder {
public:
    void apply(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string pending;
        auto flush = [&] {
            if (pending.empty()) return;
            if (unicode::isValid(pending)) out.push_back(pending);
            else
                for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
            pending.clear();
        };
        for (auto& t : tokens) {
            int byte = -1;
            if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = hexByte(t[3], t[4]);
            if (byte >= 0) {
                pending.push_back(static_cast<char>(byte));
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens.swap(out);
    }

private:
    static int hexDigit(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    static int hexByte(char hi, char lo) {
        int h = hexDigit(hi), l = hexDigit(lo);
        return h < 0 || l < 0 ? -1 : h * 16 + l;
    }
};

class FuseDecoder final : public Decoder {
public:
    void apply(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(const json& j, const std::string& path)
        : replacement_(getChar(j, "replacement", path)), scheme_(parsePrependScheme(j, path)) {}
    void apply(std::vector<std::string>& tokens) const override {
        for (size_t k = 0; k < tokens.size(); ++k) {
            const std::string& t = tokens[k];
            std::string out;
            out.reserve(t.size());
            size_t i = 0;
            while (i < t.size()) {
                size_t start = i;
                char32_t c = unicode::next(t, i);
                if (c != replacement_) out.append(t, start, i - start);
                else if (!(k == 0 && scheme_ != PrependScheme::Never)) out.push_back(' ');
            }
            tokens[k] = std::move(out);
        }
    }

private:
    char32_t replacement_;
    PrependScheme scheme_;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(const json& j, const std::string& path)
        : pattern_(j.contains("pattern") ? j.at("pattern") : json(), path + ".pattern"),
          content_(getString(j, "content", path)) {}
    void apply(std::vector<std::string>& tokens) const override {
        Matches m;
        for (auto& t : tokens) {
            pattern_.find(t, m);
            if (!m.empty()) t = replaceAll(t, m, content_);
        }
    }

private:
    Pattern pattern_;
    std::string content_;
};

class StripDecoder final : public Decoder {
public:
    StripDecoder(const json& j, const std::string& path)
        : content_(getChar(j, "content", path)),
          start_(getCount(j, "start", 0, path)),
          stop_(getCount(j, "stop", 0, path)) {}
    void apply(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) {
            std::vector<char32_t> chars;
            size_t i = 0;
            while (i < t.size()) chars.push_back(unicode::next(t, i));
            size_t begin = 0;
            for (size_t k = 0; k < start_ && k < chars.size() && chars[k] == content_; ++k) begin = k + 1;
            size_t end = chars.size();
            for (size_t k = 0; k < stop_ && k < chars.size(); ++k) {
                size_t idx = chars.size() - k - 1;
                if (chars[idx] != content_) break;
                end = idx;
            }
            std::string out;
            for (size_t k = begin; k < end; ++k) unicode::append(out, chars[k]);
            t = std::move(out);
        }
    }

private:
    char32_t content_;
    size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
public:
    std::vector<std::unique_ptr<Decoder>> parts;
    void apply(std::vector<std::string>& tokens) const override {
        for (const auto& d : parts) d->apply(tokens);
    }
};

// ---- Post-processors -------------------------------------------------------------------------

class TemplateProcessor final : public PostProcessor {
public:
    TemplateProcessor(const json& j, const std::string& path) {
        const json& single = getArray(j, "single", path);
        std::map<std::string, std::vector<TokenId>> specials;
        if (auto it = j.find("special_tokens"); it != j.end() && !it->is_null()) {
            if (!it->is_object()) fail(path + ".special_tokens", "expected an object");
            for (const auto& [name, tok] : it->items()) {
                std::string p = path + ".special_tokens." + name;
                const json& ids = getArray(tok, "ids", p);
                std::vector<TokenId> v;
                for (const auto& id : ids) {
                    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
                        fail(p + ".ids", "expected non-negative token ids");
                    v.push_back(id.get<TokenId>());
                }
                specials[name] = std::move(v);
            }
        }
        for (size_t k = 0; k < single.size(); ++k) {
            const json& item = single[k];
            std::string p = path + ".single[" + std::to_string(k) + "]";
            if (item.is_object() && item.contains("SpecialToken")) {
                std::string name = getString(item.at("SpecialToken"), "id", p + ".SpecialToken");
                auto it = specials.find(name);
                if (it == specials.end()) fail(p, "special token \"" + name + "\" is not in special_tokens");
                steps_.push_back(Step{false, it->second});
            } else if (item.is_object() && item.contains("Sequence")) {
                std::string id = getString(item.at("Sequence"), "id", p + ".Sequence");
                if (id != "A") fail(p, "a single-sequence template may only use sequence \"A\", not \"" + id + "\"");
                steps_.push_back(Step{true, {}});
            } else {
                fail(p, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
            }
        }
    }
    void apply(std::vector<TokenId>& ids) const override {
        std::vector<TokenId> out;
        out.reserve(ids.size() + 4);
        for (const auto& s : steps_) {
            if (s.isSequence) out.insert(out.end(), ids.begin(), ids.end());
            else out.insert(out.end(), s.ids.begin(), s.ids.end());
        }
        ids.swap(out);
    }

private:
    struct Step {
        bool isSequence;
        std::vector<TokenId> ids;
    };
    std::vector<Step> steps_;
};

// RobertaProcessing / BertProcessing: <cls> A <sep>.
class ClsSepProcessor final : public PostProcessor {
public:
    ClsSepProcessor(const json& j, const std::string& path) : cls_(tokenPair(j, "cls", path)), sep_(tokenPair(j, "sep", path)) {}
    void apply(std::vector<TokenId>& ids) const override {
        ids.insert(ids.begin(), cls_);
        ids.push_back(sep_);
    }

private:
    static TokenId tokenPair(const json& j, const char* key, const std::string& path) {
        auto it = j.find(key);
        if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer())
            fail(path + "." + key, "expected [token, id]");
        return (*it)[1].get<TokenId>();
    }
    TokenId cls_, sep_;
};

class NoOpProcessor final : public PostProcessor {
public:
    void apply(std::vector<TokenId>&) const override {}
};

class SequenceProcessor final : public PostProcessor {
public:
    std::vector<std::unique_ptr<PostProcessor>> parts;
    void apply(std::vector<TokenId>& ids) const override {
        for (const auto& p : parts) p->apply(ids);
    }
};

std::string at(const std::string& path, const char* key, size_t k) {
    return path + "." + key + "[" + std::to_string(k) + "]";
}

}  // namespace

std::unique_ptr<Normalizer> parseNormalizer(const json& j, const std::string& path) {
    if (j.is_null()) return nullptr;
    DepthGuard guard(path);
    std::string type = typeOf(j, path);
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFC);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFD);
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKC);
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKD);
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "Prepend") return std::make_unique<PrependNormalizer>(getString(j, "prepend", path));
    if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j, path);
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(getBool(j, "strip_left", true, path), getBool(j, "strip_right", true, path));
    if (type == "Sequence") {
        auto seq = std::make_unique<SequenceNormalizer>();
        const json& arr = getArray(j, "normalizers", path);
        for (size_t k = 0; k < arr.size(); ++k) {
            auto n = parseNormalizer(arr[k], at(path, "normalizers", k));
            if (n) seq->parts.push_back(std::move(n));
        }
        return seq;
    }
    unsupported(path, "normalizer", type);
}

std::unique_ptr<PreTokenizer> parsePreTokenizer(const json& j, const std::string& path) {
    if (j.is_null()) return nullptr;
    DepthGuard guard(path);
    std::string type = typeOf(j, path);
    if (type == "ByteLevel") return std::make_unique<ByteLevelPreTokenizer>(j, path);
    if (type == "Split") return std::make_unique<SplitPreTokenizer>(j, path);
    if (type == "Metaspace") return std::make_unique<MetaspacePreTokenizer>(j, path);
    if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(getBool(j, "individual_digits", false, path));
    if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
    if (type == "Sequence") {
        auto seq = std::make_unique<SequencePreTokenizer>();
        const json& arr = getArray(j, "pretokenizers", path);
        for (size_t k = 0; k < arr.size(); ++k) {
            auto p = parsePreTokenizer(arr[k], at(path, "pretokenizers", k));
            if (p) seq->parts.push_back(std::move(p));
        }
        return seq;
    }
    unsupported(path, "pre-tokenizer", type);
}

std::unique_ptr<Decoder> parseDecoder(const json& j, const std::string& path) {
    if (j.is_null()) return nullptr;
    DepthGuard guard(path);
    std::string type = typeOf(j, path);
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j, path);
    if (type == "Replace") return std::make_unique<ReplaceDecoder>(j, path);
    if (type == "Strip") return std::make_unique<StripDecoder>(j, path);
    if (type == "Sequence") {
        auto seq = std::make_unique<SequenceDecoder>();
        const json& arr = getArray(j, "decoders", path);
        for (size_t k = 0; k < arr.size(); ++k) {
            auto d = parseDecoder(arr[k], at(path, "decoders", k));
            if (d) seq->parts.push_back(std::move(d));
        }
        return seq;
    }
    unsupported(path, "decoder", type);
}

std::unique_ptr<PostProcessor> parsePostProcessor(const json& j, const std::string& path) {
    if (j.is_null()) return nullptr;
    DepthGuard guard(path);
    std::string type = typeOf(j, path);
    if (type == "TemplateProcessing") return std::make_unique<TemplateProcessor>(j, path);
    if (type == "ByteLevel") return std::make_unique<NoOpProcessor>();  // only trims offsets
    if (type == "RobertaProcessing" || type == "BertProcessing") return std::make_unique<ClsSepProcessor>(j, path);
    if (type == "Sequence") {
        auto seq = std::make_unique<SequenceProcessor>();
        const json& arr = getArray(j, "processors", path);
        for (size_t k = 0; k < arr.size(); ++k) {
            auto p = parsePostProcessor(arr[k], at(path, "processors", k));
            if (p) seq->parts.push_back(std::move(p));
        }
        return seq;
    }
    unsupported(path, "post-processor", type);
}

}  // namespace dpowb::text
