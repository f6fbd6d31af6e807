#include "store/output_guard.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/error.h"
#include "common/files.h"
#include "store/project.h"
#include "store/project_impl.h"

namespace dpowb::store {

namespace fs = std::filesystem;

namespace {

bool sameFile(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

bool isSqliteFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char head[16] = {0};
    if (!in.read(head, sizeof head)) return false;
    return std::memcmp(head, "SQLite format 3\0", 16) == 0;
}

}  // namespace

std::string checkExportTarget(const std::string& target, const std::string& projectPath) {
    if (target == "-") return target;
    if (target.empty()) throw Error("the export file name is empty; give a file name, or - for standard output");
    std::string path = target;
    struct stat lst;
    if (::lstat(target.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char resolved[PATH_MAX];
        if (!::realpath(target.c_str(), resolved))
            throw Error(target + ": a symbolic link to a file that does not exist (" + std::strerror(errno) +
                        "); export to the link's target or to another name");
        path = resolved;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return path;  // a new file
    if (!S_ISREG(st.st_mode)) {
        const char* what = S_ISDIR(st.st_mode)                           ? "a folder"
                           : (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ? "a device"
                           : S_ISFIFO(st.st_mode)                        ? "a pipe"
                                                                         : "not a regular file";
        throw Error(target + ": " + what + ", not a file; export to a file name, or to - for standard output");
    }
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        struct stat p;
        if (::stat((projectPath + suffix).c_str(), &p) == 0 && sameFile(st, p))
            throw Error(target + ": this is the project file" + (*suffix ? std::string(" (its ") + (suffix + 1) + ")" : "") +
                        " being exported; writing onto it would destroy the project. Export to another file name");
    }
    if (isSqliteFile(path))
        throw Error(target + ": an SQLite database (a project file?); not overwriting it. Export to another file name");
    return path;
}

}  // namespace dpowb::store
