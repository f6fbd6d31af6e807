// Errors raised by the core. Every message says what is wrong, where, and (where it can)
// what to do about it. The CLI prints what() as one line on stderr.
#pragma once

#include <stdexcept>
#include <string>

namespace dpowb {

// Anything that went wrong and that the user can act on (bad file, bad option, I/O error).
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Malformed input at a known place: what() reads "FILE:LINE: message" (LINE omitted when 0).
class InputError : public Error {
public:
    InputError(std::string file, long line, const std::string& message);
    const std::string& file() const { return file_; }
    long line() const { return line_; }
    const std::string& message() const { return message_; }

private:
    std::string file_;
    long line_ = 0;
    std::string message_;
};

// The operation was stopped through its cancel flag; the CLI exits with 130.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

}  // namespace dpowb
