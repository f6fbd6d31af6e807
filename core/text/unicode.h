// UTF-8 and Unicode helpers for the tokenizers: decoding, the character classes that the
// Hugging Face library takes from Rust's `char` methods, normalization forms (utf8proc) and
// the GPT-2 byte <-> character alphabet. Internal to core/text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace dpowb::text::unicode {

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for a stray byte).
inline size_t seqLength(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead >> 5) == 0x6) return 2;
    if ((lead >> 4) == 0xE) return 3;
    if ((lead >> 3) == 0x1E) return 4;
    return 1;
}

// Decodes the code point at s[i] (s must be valid UTF-8) and advances i.
char32_t next(std::string_view s, size_t& i);
void append(std::string& out, char32_t cp);

// True when s is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool isValid(std::string_view s);
// Replaces every ill-formed sequence by U+FFFD, as Rust's String::from_utf8_lossy does.
std::string toValidLossy(std::string_view s);

// Rust's char::is_whitespace (the White_Space property).
bool isWhitespace(char32_t c);
// Rust's char::is_numeric (general categories Nd, Nl, No).
bool isNumeric(char32_t c);
// Rust's char::is_alphanumeric, approximated with general categories (L*, N*, Mc): utf8proc
// does not expose the Other_Alphabetic property.
bool isAlphanumeric(char32_t c);

// Regex `\w` as Rust's regex crate defines it (alphanumerics, marks, connector punctuation),
// approximated through general categories.
bool isWordChar(char32_t c);

enum class Form { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, Form form);
// Per-character lower-casing as Rust's char::to_lowercase (utf8proc's simple mappings plus
// the one multi-character mapping, U+0130).
std::string lowercase(std::string_view s);

// GPT-2's reversible byte -> printable character map used by the ByteLevel pre-tokenizer and
// decoder: each byte's character as UTF-8, and the inverse (code point -> byte, -1 if none).
const std::array<std::string, 256>& byteToChar();
int charToByte(char32_t c);

}  // namespace dpowb::text::unicode
