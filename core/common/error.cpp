#include "common/error.h"

namespace dpowb {

namespace {
std::string locate(const std::string& file, long line, const std::string& message) {
    std::string where = file;
    if (line > 0) where += ":" + std::to_string(line);
    return where.empty() ? message : where + ": " + message;
}
}  // namespace

InputError::InputError(std::string file, long line, const std::string& message)
    : Error(locate(file, line, message)), file_(std::move(file)), line_(line), message_(message) {}

}  // namespace dpowb
