#include "project_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace dpowb::cli {

void checkProjectPath(const std::string& db) {
    struct stat st;
    if (db.empty()) throw Error("the project file name is empty; give the path of a .db file");
    if (::stat(db.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            throw Error(db + ": no such project file; check the path, or create one with: dpowb init " + db);
        throw Error(db + ": cannot open it (" + std::strerror(errno) + ")");
    }
    if (S_ISDIR(st.st_mode))
        throw Error(db + ": a folder, not a project file; give the path of the project's .db file");
    if (!S_ISREG(st.st_mode)) throw Error(db + ": not a regular file; give the path of the project's .db file");
    if (::access(db.c_str(), R_OK | W_OK) != 0)
        throw Error(db + ": cannot open it for reading and writing (" + std::strerror(errno) +
                    "); check the file's permissions");
}

store::Project openProject(const std::string& db) {
    checkProjectPath(db);
    return store::Project::open(db);
}

}  // namespace dpowb::cli
