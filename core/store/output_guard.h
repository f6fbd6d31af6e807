// Outputs never destroy inputs: the checks a command runs before it writes a file or a folder
// that the user named (export targets, training output folders), and the marker that tells a
// run folder of this project from any other folder. Torch-free; the CLI and the GUI share it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dpowb::store {

class Project;

// The project's identity, kept in the file (meta key project_id): random, made on first use,
// unchanged when the file is copied, moved or renamed.
std::string projectId(Project& project);

// Where an export to `target` may write, or an Error saying why not. "-" stays "-" (standard
// output). A symbolic link resolves to its target, so the link stays a link. Refused: the
// project file itself or its -wal/-shm/-journal (compared by device and inode, so a hard link
// or a symlink to them is caught too), any SQLite database, and anything that is not a regular
// file (a folder, a device such as /dev/stdout, a pipe).
std::string checkExportTarget(const std::string& target, const std::string& projectPath);

// The marker a run writes into its output folder as soon as the folder exists.
inline constexpr const char* kRunMarkerFile = ".dpowb-run.json";
struct RunMarker {
    std::string projectId;  // projectId() of the project, or "data:<path>" for a run on a file
    int64_t runId = 0;      // 0 for a run on a file
};
std::optional<RunMarker> readRunMarker(const std::string& dir);  // nullopt: none or unreadable
void writeRunMarker(const std::string& dir, const RunMarker& marker);

// Throws Error when `out` must not receive a run's output: it is the same folder as one of
// `inputs` (pairs of what/path, e.g. {"the base model", M}; paths that are not folders, such
// as builtin:tiny, are skipped), it exists and is not a folder, or it is a non-empty folder
// without a marker of `projectId` (a folder made by a run of this project may be reused).
void checkRunOutputFolder(const std::string& out, const std::string& projectId,
                          const std::vector<std::pair<std::string, std::string>>& inputs);

}  // namespace dpowb::store
