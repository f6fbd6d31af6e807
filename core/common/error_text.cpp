#include "common/error_text.h"

#include <algorithm>
#include <cstdint>

namespace dpowb {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one.
size_t utf8Length(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF are not valid UTF-8.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    return n;
}

const char* const kHex = "0123456789abcdef";

void appendByte(std::string& out, unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
}

// Appends the printable form of the character at s[i]; returns how many input bytes it used.
size_t appendPrintable(std::string& out, std::string_view s, size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') return out += "\\n", 1;
    if (c == '\r') return out += "\\r", 1;
    if (c == '\t') return out += "\\t", 1;
    if (c < 0x20 || c == 0x7F) return appendByte(out, c), 1;
    const size_t n = utf8Length(s, i);
    if (n == 0) return appendByte(out, c), 1;
    // C1 controls (U+0080..U+009F) and the line and paragraph separators break lines too.
    uint32_t cp = 0;
    if (n == 2) cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    if (n == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80) {
        const unsigned char last = static_cast<unsigned char>(s[i + 2]);
        if (last == 0xA8 || last == 0xA9) cp = 0x2000u | (last == 0xA8 ? 0x28u : 0x29u);
    }
    if ((n == 2 && cp < 0xA0) || cp == 0x2028 || cp == 0x2029) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 15];
        return n;
    }
    out.append(s.substr(i, n));
    return n;
}

// The printable form of s, stopping before `limit` output bytes would be passed; `used` is
// how many input bytes went in.
std::string printable(std::string_view s, size_t limit, size_t& used) {
    std::string out;
    std::string piece;
    size_t i = 0;
    while (i < s.size()) {
        piece.clear();
        const size_t n = appendPrintable(piece, s, i);
        if (out.size() + piece.size() > limit) break;
        out += piece;
        i += n;
    }
    used = i;
    return out;
}

}  // namespace

std::string oneLine(std::string_view message, size_t maxBytes) {
    maxBytes = std::max<size_t>(maxBytes, 64);
    size_t used = 0;
    std::string all = printable(message, maxBytes, used);
    if (used == message.size()) return all;
    // Too long: a head and a tail around a marker saying how much was left out.
    const size_t tailBudget = maxBytes / 3;
    const size_t headBudget = maxBytes - tailBudget - 32;
    std::string head = printable(message, headBudget, used);
    const size_t headUsed = used;
    // The tail: the last bytes whose printable form fits tailBudget, from a character boundary.
    size_t tailStart = message.size() > tailBudget ? message.size() - tailBudget : 0;
    std::string tail;
    for (;;) {
        tailStart = std::max(tailStart, headUsed);
        while (tailStart < message.size() && (static_cast<unsigned char>(message[tailStart]) & 0xC0) == 0x80)
            ++tailStart;
        tail = printable(message.substr(tailStart), std::string::npos, used);
        if (tail.size() <= tailBudget) break;
        // Each input byte prints as at most 6 bytes: dropping excess / 6 more never overshoots.
        tailStart = std::min(message.size(), tailStart + std::max<size_t>(1, (tail.size() - tailBudget) / 6));
    }
    return head + " [... " + std::to_string(tailStart - headUsed) + " bytes cut ...] " + tail;
}

std::string excerpt(std::string_view input, size_t maxBytes) {
    size_t used = 0;
    std::string out = "\"" + printable(input, maxBytes, used) + "\"";
    if (used < input.size()) out += "...";
    return out;
}

}  // namespace dpowb
