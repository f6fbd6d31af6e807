#include "common/jsonl.h"

#include "common/error.h"
#include "common/json_input.h"

namespace dpowb {

void forEachJsonLine(std::istream& in, const std::string& file,
                     const std::function<void(const nlohmann::json& value, long line)>& row) {
    std::string text;
    long line = 0;
    while (std::getline(in, text)) {
        ++line;
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        if (jsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
            throw InputError(file, line, "JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
            throw InputError(file, line, "not valid JSON (" + describeJsonError(e.what()) + ")");
        }
        row(value, line);
    }
    if (in.bad()) throw Error(file + ": read error");
}

}  // namespace dpowb
