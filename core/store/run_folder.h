// Run output folders: where a run writes its models, and how a folder says whose it is.
//
// A run folder holds the trained policy, and depending on the run a reference/, checkpoint/
// and adapter/. Those parts belong together: a policy compared against another run's
// reference gives meaningless margins. So every folder a run writes carries a marker file
// (.dpowb-run.json) naming the project (its projectId()), the run, and a random token the
// run record keeps too; a folder whose marker is missing or names someone else is never
// written into without an explicit choice, and never read as this run's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dpowb::store {

class Project;

struct RunFolderMarker {
    std::string projectId;    // Project::projectId() of the project that owns the run ("" with --data)
    std::string projectPath;  // the project file's path when the folder was made (informative)
    int64_t runId = 0;        // 0 with --data
    std::string token;        // random; also stored in the run's configuration
    int64_t createdAt = 0;    // unix milliseconds
};

constexpr const char* kRunFolderMarkerName = ".dpowb-run.json";

// The marker in `dir`, nullopt when there is none; throws dpowb::Error when it is unreadable.
std::optional<RunFolderMarker> readRunFolderMarker(const std::string& dir);
// Writes the marker into `dir` (atomically).
void writeRunFolderMarker(const std::string& dir, const RunFolderMarker& marker);
// A new random token (32 hex digits).
std::string newRunFolderToken();

// Where a project's runs go by default: "<folder of file>/<file name without extension>.runs",
// e.g. experiments/demo.db -> experiments/demo.runs. Two project files side by side never
// share it; with --data, the data file plays the project's part.
std::string defaultRunsRoot(const std::string& projectOrDataFile);
// The default folder of run `runId` of `project`: <runs root>/<runId>, unless that folder
// exists and belongs to someone else (a project file of the same name that was deleted and
// made anew), then <runs root>/<runId>-<first 8 digits of the project id>.
std::string defaultRunFolder(const std::string& projectFile, const std::string& projectId, int64_t runId);

// Whether `out` may receive a new run (or the resumed run `resumingRunId` of `projectId`).
// Throws dpowb::Error saying what to do when it may not:
//  - it is the base model's or the reference's folder;
//  - it exists, is not empty, and holds no marker of this very run — unless `overwrite`
//    (--overwrite-output-dir) says to reuse it.
struct OutputFolderCheck {
    std::string out;
    std::string modelFolder;      // the base model ("builtin:tiny" or a folder)
    std::string referenceFolder;  // "" = the base model
    std::string projectId;        // "" with --data
    int64_t resumingRunId = 0;
    bool overwrite = false;
};
void checkOutputFolder(const OutputFolderCheck& check);

// Whether run `runId`'s folder still holds what that run wrote: its marker names the project
// and carries `token`. Returns "" when it does, else a sentence saying what is wrong.
// An empty token (a run recorded before markers existed) is not checked.
std::string runFolderProblem(const std::string& dir, const std::string& projectId, int64_t runId,
                             const std::string& token);

}  // namespace dpowb::store
