// JSON from files the user did not write (model folders, tokenizers, safetensors headers):
// parsed with a bounded nesting depth and errors that stay one short line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dpowb {

// Deepest nesting of arrays and objects accepted in a model folder's JSON. Real files nest
// fewer than 10 levels; nlohmann::json copies, compares and prints values recursively, so a
// file nested 100,000 levels deep would exhaust the stack.
constexpr size_t kMaxJsonDepth = 128;

// Nesting depth of the JSON text (brackets outside strings; the text need not be valid).
// Stops counting and returns as soon as it exceeds `stopAbove`.
size_t jsonNestingDepth(std::string_view text, size_t stopAbove = SIZE_MAX, size_t* offset = nullptr);

// Parses `text`; throws dpowb::Error "WHERE: ..." (one line, the parser's excerpt of the input
// cut short) when it is not valid JSON or nests deeper than maxDepth.
nlohmann::json parseUntrustedJson(std::string_view text, const std::string& where, size_t maxDepth = kMaxJsonDepth);

// nlohmann's parse_error text without its "[json.exception...]" tag and with the excerpt of
// the input it quotes ("last read: '...'") cut to a few dozen printable characters.
std::string describeJsonError(const std::string& what);

}  // namespace dpowb
