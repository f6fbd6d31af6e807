// Error text fit for one line of a terminal: every error the CLI prints goes through oneLine,
// so a message quoting binary or megabytes of input stays one short line of valid UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dpowb {

// Longest error line the CLI prints (bytes): a message longer than this keeps its start (the
// file, line and field) and its end (what to do), with the middle cut out.
constexpr size_t kMaxErrorLine = 480;

// `message` as one printable line of valid UTF-8, at most `maxBytes` long (at least 64):
// line breaks and other control characters become \n, \t, \xNN, \u0085; bytes that are not
// valid UTF-8 become \xNN; a longer message keeps its first and last parts around
// " [... N bytes cut ...] ".
std::string oneLine(std::string_view message, size_t maxBytes = kMaxErrorLine);

// A short, quoted excerpt of untrusted input for an error message: "abc" or "abc..." with at
// most `maxBytes` bytes of printable text (escaped as oneLine does).
std::string excerpt(std::string_view input, size_t maxBytes = 40);

}  // namespace dpowb
