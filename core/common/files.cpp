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
