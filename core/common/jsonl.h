// Reading JSON Lines: one JSON value per line, blank lines skipped, errors with file:line.
#pragma once

#include <functional>
#include <istream>
#include <string>

#include <nlohmann/json.hpp>

namespace dpowb {

// Calls `row` with each non-blank line of `in`, parsed, and its 1-based line number. A line
// that is not JSON throws InputError(file, line, "not valid JSON (…)"); a read error throws
// Error naming `file`. `row` may throw to stop.
void forEachJsonLine(std::istream& in, const std::string& file,
                     const std::function<void(const nlohmann::json& value, long line)>& row);

}  // namespace dpowb
