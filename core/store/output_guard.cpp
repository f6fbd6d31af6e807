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

std::string randomHex(size_t bytes) {
    std::string raw(bytes, '\0');
    std::ifstream in("/dev/urandom", std::ios::binary);
    if (!in.read(&raw[0], std::streamsize(bytes))) {
        std::random_device rd;
        for (auto& c : raw) c = char(rd());
    }
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) out += digits[c >> 4], out += digits[c & 15];
    return out;
}

}  // namespace

std::string projectId(Project& project) {
    auto& d = project.impl();
    auto read = [&]() -> std::string {
        SQLite::Statement st(d.db, "SELECT value FROM meta WHERE key = 'project_id'");
        return st.executeStep() ? st.getColumn(0).getString() : std::string();
    };
    if (auto id = read(); !id.empty()) return id;
    WriteScope tx(d);
    // INSERT OR IGNORE: when two processes race, both end with the id that was written first.
    SQLite::Statement st(d.db, "INSERT OR IGNORE INTO meta(key, value) VALUES ('project_id', ?)");
    st.bind(1, randomHex(16));
    st.exec();
    tx.commit();
    return read();
}

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

std::optional<RunMarker> readRunMarker(const std::string& dir) {
    std::ifstream in(fs::path(dir) / kRunMarkerFile, std::ios::binary);
    if (!in) return std::nullopt;
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_object() || !j.contains("project") || !j["project"].is_string()) return std::nullopt;
    RunMarker m;
    m.projectId = j["project"].get<std::string>();
    if (j.contains("run") && j["run"].is_number_integer()) m.runId = j["run"].get<int64_t>();
    return m;
}

void writeRunMarker(const std::string& dir, const RunMarker& marker) {
    nlohmann::ordered_json j;
    j["project"] = marker.projectId;
    j["run"] = marker.runId;
    writeFileAtomic(fs::path(dir) / kRunMarkerFile, j.dump() + "\n");
}

void checkRunOutputFolder(const std::string& out, const std::string& projectId,
                          const std::vector<std::pair<std::string, std::string>>& inputs) {
    struct stat st;
    if (::stat(out.c_str(), &st) != 0) return;  // a new folder
    if (!S_ISDIR(st.st_mode)) throw Error(out + ": exists and is not a folder; give --out a new or empty folder");
    for (const auto& [what, path] : inputs) {
        struct stat in;
        if (path.empty() || ::stat(path.c_str(), &in) != 0 || !S_ISDIR(in.st_mode)) continue;
        if (sameFile(st, in))
            throw Error(out + ": this is " + what + "'s folder; the run would overwrite it. Give --out a new or empty folder");
    }
    std::error_code ec;
    if (fs::directory_iterator(out, ec) == fs::directory_iterator()) {
        if (ec) throw Error(out + ": cannot read the folder (" + ec.message() + ")");
        return;  // empty
    }
    auto marker = readRunMarker(out);
    if (!marker)
        throw Error(out + ": not empty and not made by a run of DPO Workbench; the run would overwrite its files. "
                          "Give --out a new or empty folder");
    if (marker->projectId != projectId)
        throw Error(out + ": holds a run of another project (or data file); give --out a new or empty folder");
}

}  // namespace dpowb::store
