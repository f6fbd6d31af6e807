#include "common/files.h"

#include <fstream>
#include <sstream>
#include <system_error>

#include "common/error.h"

namespace dpowb {

namespace fs = std::filesystem;

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) throw Error(path.string() + ": cannot read");
    return s.str();
}

std::string readFile(const fs::path& path, uintmax_t maxBytes) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(path, ec);
    if (!ec && size > maxBytes)
        throw Error(path.string() + ": " + std::to_string(size) + " bytes, more than the " + std::to_string(maxBytes) +
                    " bytes such a file may have; check that it is the right file");
    std::string text = readFile(path);
    if (text.size() > maxBytes)
        throw Error(path.string() + ": more than the " + std::to_string(maxBytes) +
                    " bytes such a file may have; check that it is the right file");
    return text;
}

void writeFileAtomic(const fs::path& path, const std::string& content) {
    fs::path tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(path.string() + ": cannot write");
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        out.close();
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            throw Error(path.string() + ": cannot write (disk full?)");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw Error(path.string() + ": cannot write: " + ec.message());
    }
}

}  // namespace dpowb
