#include "common/json_fast.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "common/json_input.h"
#include "common/utf8.h"

namespace dpowb {

namespace {

using nlohmann::json;

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHigh = 0x8080808080808080ull;

// Nonzero when some byte of v is zero / below n (n <= 128). Exact as a yes/no answer.
inline uint64_t anyZero(uint64_t v) { return (v - kOnes) & ~v & kHigh; }
inline uint64_t anyBelow(uint64_t v, unsigned n) { return (v - kOnes * n) & ~v & kHigh; }

inline bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

class Parser {
public:
    explicit Parser(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

    bool document(json& out) {
        skipSpace();
        if (!value(out)) return false;
        skipSpace();
        return p_ == end_;
    }

private:
    const char* p_;
    const char* const end_;
    size_t depth_ = 0;

    void skipSpace() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }

    bool value(json& out) {
        if (p_ == end_) return false;
        switch (*p_) {
            case '{': return object(out);
            case '[': return array(out);
            case '"': {
                ++p_;
                std::string s;
                if (!string(s)) return false;
                out = json(std::move(s));
                return true;
            }
            case 't': return literal("true", 4) && (out = true, true);
            case 'f': return literal("false", 5) && (out = false, true);
            case 'n': return literal("null", 4) && (out = nullptr, true);
            default: return number(out);
        }
    }

    bool literal(const char* word, size_t n) {
        if (size_t(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
        p_ += n;
        return true;
    }

    // The body of an object or an array after its opening bracket: `item` reads one element,
    // elements are separated by commas, `close` ends it.
    template <class Item>
    bool container(char close, Item item) {
        if (++depth_ > kMaxJsonDepth) return false;
        ++p_;  // '{' or '['
        skipSpace();
        if (p_ < end_ && *p_ == close) {
            ++p_;
            --depth_;
            return true;
        }
        for (;;) {
            if (!item()) return false;
            skipSpace();
            if (p_ == end_) return false;
            if (*p_ == ',') {
                ++p_;
                skipSpace();
                continue;
            }
            if (*p_ != close) return false;
            ++p_;
            --depth_;
            return true;
        }
    }

    bool object(json& out) {
        out = json::object();
        auto& members = out.get_ref<json::object_t&>();
        std::string key;
        return container('}', [&] {
            if (p_ == end_ || *p_ != '"') return false;
            ++p_;
            if (!string(key)) return false;
            skipSpace();
            if (p_ == end_ || *p_ != ':') return false;
            ++p_;
            skipSpace();
            json member;
            if (!value(member)) return false;
            members.insert_or_assign(std::move(key), std::move(member));  // the last duplicate wins
            return true;
        });
    }

    bool array(json& out) {
        out = json::array();
        auto& items = out.get_ref<json::array_t&>();
        return container(']', [&] {
            items.emplace_back();
            return value(items.back());
        });
    }

    // After the opening quote. Runs of plain bytes are found eight at a time and appended whole.
    bool string(std::string& out) {
        out.clear();
        uint64_t high = 0;  // OR of the raw bytes: whether any needs UTF-8 validation
        const char* run = p_;
        for (;;) {
            while (end_ - p_ >= 8) {
                uint64_t w;
                std::memcpy(&w, p_, 8);
                if (anyZero(w ^ (kOnes * '"')) | anyZero(w ^ (kOnes * '\\')) | anyBelow(w, 0x20)) break;
                high |= w;
                p_ += 8;
            }
            if (p_ == end_) return false;  // not closed
            const unsigned char c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                out.append(run, p_);
                ++p_;
                break;
            }
            if (c < 0x20) return false;  // control characters must be escaped
            if (c == '\\') {
                out.append(run, p_);
                ++p_;
                if (!escape(out)) return false;
                run = p_;
                continue;
            }
            high |= c;
            ++p_;
        }
        // Escapes only ever add complete, valid sequences that start with a lead byte, so a bad
        // raw sequence stays bad in `out` and a good one stays good.
        if ((high & kHigh) && invalidUtf8At(out) != std::string_view::npos) return false;
        return true;
    }

    bool hex4(uint32_t& cp) {
        if (end_ - p_ < 4) return false;
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hexValue(p_[i]);
            if (h < 0) return false;
            cp = (cp << 4) | uint32_t(h);
        }
        p_ += 4;
        return true;
    }

    bool escape(std::string& out) {
        if (p_ == end_) return false;
        const char c = *p_++;
        switch (c) {
            case '"': out += '"'; return true;
            case '\\': out += '\\'; return true;
            case '/': out += '/'; return true;
            case 'b': out += '\b'; return true;
            case 'f': out += '\f'; return true;
            case 'n': out += '\n'; return true;
            case 'r': out += '\r'; return true;
            case 't': out += '\t'; return true;
            case 'u': {
                uint32_t cp;
                if (!hex4(cp)) return false;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
                if (cp >= 0xD800 && cp <= 0xDBFF) {               // must pair with a low one
                    if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
                    p_ += 2;
                    uint32_t low;
                    if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                appendUtf8(out, cp);
                return true;
            }
            default: return false;
        }
    }

    // JSON's number grammar; integers become int64 (negative) or uint64 values as in nlohmann,
    // and fall back to double beyond those ranges, as nlohmann does.
    bool number(json& out) {
        const char* start = p_;
        const bool negative = *p_ == '-';
        if (negative) ++p_;
        if (p_ == end_) return false;
        if (*p_ == '0') {
            ++p_;
        } else if (*p_ >= '1' && *p_ <= '9') {
            while (p_ < end_ && isDigit(*p_)) ++p_;
        } else {
            return false;
        }
        bool integral = true;
        if (p_ < end_ && *p_ == '.') {
            ++p_;
            if (p_ == end_ || !isDigit(*p_)) return false;
            while (p_ < end_ && isDigit(*p_)) ++p_;
            integral = false;
        }
        if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (p_ == end_ || !isDigit(*p_)) return false;
            while (p_ < end_ && isDigit(*p_)) ++p_;
            integral = false;
        }
        if (integral) {
            if (negative) {
                json::number_integer_t v = 0;
                auto r = std::from_chars(start, p_, v);
                if (r.ec == std::errc() && r.ptr == p_) {
                    out = v;
                    return true;
                }
            } else {
                json::number_unsigned_t v = 0;
                auto r = std::from_chars(start, p_, v);
                if (r.ec == std::errc() && r.ptr == p_) {
                    out = v;
                    return true;
                }
            }
        }
        // Locale-independent and correctly rounded, as strtod is in the C locale (nlohmann
        // adapts the decimal point to the locale itself). Out of range (overflow, and
        // underflow, which nlohmann accepts as 0) declines: the fallback decides.
        double d = 0;
        auto r = std::from_chars(start, p_, d);
        if (r.ec != std::errc() || r.ptr != p_) return false;
        out = d;
        return true;
    }
};

}  // namespace

bool parseJsonFast(std::string_view text, nlohmann::json& out) {
    Parser parser(text);
    json value;
    if (!parser.document(value)) return false;
    out = std::move(value);
    return true;
}

bool sameJson(const nlohmann::json& a, const nlohmann::json& b) {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case json::value_t::object: {
            if (a.size() != b.size()) return false;
            for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j)
                if (i.key() != j.key() || !sameJson(*i, *j)) return false;
            return true;
        }
        case json::value_t::array:
            if (a.size() != b.size()) return false;
            for (size_t k = 0; k < a.size(); ++k)
                if (!sameJson(a[k], b[k])) return false;
            return true;
        case json::value_t::number_float: {
            const double x = a.get<double>(), y = b.get<double>();
            return std::memcmp(&x, &y, sizeof x) == 0;  // bit for bit: -0.0 and 0.0 differ
        }
        default: return a == b;
    }
}

nlohmann::json parseJsonText(std::string_view text) {
    json value;
    if (parseJsonFast(text, value)) return value;
    return json::parse(text.begin(), text.end());
}

}  // namespace dpowb
