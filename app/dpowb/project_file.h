// Opening the project file named on the command line, with a sentence for each way the path
// can be wrong (SQLite would only say "unable to open database file").
#pragma once

#include <string>

#include "store/project.h"

namespace dpowb::cli {

// Throws dpowb::Error when `db` is missing, a folder or not a regular file.
void checkProjectPath(const std::string& db);
store::Project openProject(const std::string& db);

}  // namespace dpowb::cli
