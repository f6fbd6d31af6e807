#include "common/jsonl.h"

#include "common/error.h"

namespace dpowb {

void forEachJsonLine(std::istream& in, const std::string& file,
                     const std::function<void(const nlohmann::json& value, long line)>& row) {
    std::string text;
    long line = 0;
    while (std::getline(in, text)) {
        ++line;
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            throw InputError(file, line, std::string("not valid JSON (") + e.what() + ")");
        }
        row(value, line);
    }
    if (in.bad()) throw Error(file + ": read error");
}

}  // namespace dpowb
