#include "common/text_list.h"

namespace dpowb {

std::vector<std::string> splitCommaList(const std::string& list) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        const size_t comma = list.find(',', start);
        std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const size_t b = item.find_first_not_of(" \t");
        out.push_back(b == std::string::npos ? std::string() : item.substr(b, item.find_last_not_of(" \t") - b + 1));
        if (comma == std::string::npos) return out;
        start = comma + 1;
    }
}

std::vector<std::string> commaListItems(const std::string& list) {
    std::vector<std::string> out;
    for (auto& item : splitCommaList(list))
        if (!item.empty()) out.push_back(std::move(item));
    return out;
}

}  // namespace dpowb
