// Outputs never destroy inputs: the check an export runs before it writes the file the user
// named. (Training output folders: store/run_folder.h.) Torch-free; the CLI and the GUI share it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dpowb::store {

class Project;

// Where an export to `target` may write, or an Error saying why not. "-" stays "-" (standard
// output). A symbolic link resolves to its target, so the link stays a link. Refused: the
// project file itself or its -wal/-shm/-journal (compared by device and inode, so a hard link
// or a symlink to them is caught too), any SQLite database, and anything that is not a regular
// file (a folder, a device such as /dev/stdout, a pipe).
std::string checkExportTarget(const std::string& target, const std::string& projectPath);

}  // namespace dpowb::store
