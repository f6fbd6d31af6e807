#include "common/json_input.h"

#include <cstring>

#include "common/error.h"
#include "common/error_text.h"
#include "common/json_fast.h"

namespace dpowb {

size_t jsonNestingDepth(std::string_view text, size_t stopAbove, size_t* offset) {
    size_t depth = 0, deepest = 0;
    bool inString = false;
    const char* const data = text.data();
    const size_t n = text.size();
    for (size_t i = 0; i < n; ++i) {
        if (inString) {
            // Jump to the string's closing quote with memchr (SIMD in glibc): preference
            // records are mostly long strings, and this scan runs before every parse.
            const void* q = std::memchr(data + i, '"', n - i);
            const size_t quote = q ? size_t(static_cast<const char*>(q) - data) : n;
            const void* b = std::memchr(data + i, '\\', quote - i);
            if (b) {
                i = size_t(static_cast<const char*>(b) - data) + 1;  // skip the escaped character
                continue;
            }
            i = quote;
            inString = false;
            continue;
        }
        const char c = data[i];
        if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > stopAbove) {
                    if (offset) *offset = i;
                    return deepest;
                }
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

std::string describeJsonError(const std::string& what) {
    std::string msg = what;
    if (msg.rfind("[json.exception.", 0) == 0) {
        if (auto p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    }
    // "...; last read: '<the token read so far>'": the token may be megabytes of junk.
    const std::string tag = "last read: '";
    if (auto p = msg.find(tag); p != std::string::npos) {
        const size_t start = p + tag.size();
        size_t end = msg.rfind('\'');
        if (end == std::string::npos || end < start) end = msg.size();
        msg = msg.substr(0, p) + "last read: " + excerpt(std::string_view(msg).substr(start, end - start)) +
              msg.substr(std::min(msg.size(), end + 1));
    }
    return oneLine(msg, 240);
}

nlohmann::json parseUntrustedJson(std::string_view text, const std::string& where, size_t maxDepth) {
    size_t at = 0;
    if (jsonNestingDepth(text, maxDepth, &at) > maxDepth)
        throw Error(where + ": JSON nested more than " + std::to_string(maxDepth) + " levels deep (at byte " +
                    std::to_string(at) + "): the file is damaged or not what its name says");
    nlohmann::json value;
    if (parseJsonFast(text, value)) return value;  // declines anything invalid: nlohmann then reports it
    // nlohmann would stop at a NUL byte and accept the text before it.
    if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
        throw Error(where + ": a NUL byte at byte " + std::to_string(nul) +
                    ": not a JSON text file (damaged, or a binary file under a .json name?)");
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
        throw Error(where + ": not valid JSON (truncated or corrupt?): " + describeJsonError(e.what()));
    }
}

}  // namespace dpowb
