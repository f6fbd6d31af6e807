// The run's record in the project (configuration, label snapshot, data fingerprint, pid and
// host) and its output folder with the folder's marker (store/run_folder.h).
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "store/output_guard.h"
#include "store/provenance.h"
#include "store/run_folder.h"
#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

namespace {

std::string hostName() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

}  // namespace

void Run::createRunRecord() {
    if (resuming_) {
        auto run = project_->run(result_.runId);
        run->status = store::RunStatus::Running;
        run->pid = int64_t(getpid());
        run->host = hostName();
        run->heartbeatAt = nowMs();
        run->error.clear();
        if (remakeFolder_) {
            run->outputDir = cfg_.out;
            project_->updateRun(*run);
            std::error_code ec;
            fs::create_directories(cfg_.out, ec);
            if (ec) throw Error(cfg_.out + ": cannot create the output folder (" + ec.message() + ")");
            store::RunFolderMarker marker;
            marker.projectId = project_->projectId();
            marker.projectPath = fs::absolute(cfg_.db).string();
            marker.runId = result_.runId;
            marker.token = cfg_.outToken;
            marker.createdAt = nowMs();
            store::writeRunFolderMarker(cfg_.out, marker);
        } else {
            project_->updateRun(*run);
        }
        result_.outputDir = cfg_.out;
        obs_.onRunCreated(result_.runId, cfg_.out);
        return;
    }
    const std::string projectId = project_ ? project_->projectId() : std::string();
    // An explicit --out is checked before anything is recorded: never the base model's or the
    // reference's folder, never a non-empty folder that no run of this project made.
    if (!cfg_.out.empty()) {
        store::OutputFolderCheck check;
        check.out = cfg_.out;
        check.modelFolder = cfg_.model;
        check.referenceFolder = cfg_.ref;
        check.projectId = projectId;
        check.overwrite = cfg_.overwriteOutputDir;
        store::checkOutputFolder(check);
    }
    cfg_.outToken = store::newRunFolderToken();
    if (project_) {
        store::RunRecord r;
        r.name = cfg_.name.empty() ? "run" : cfg_.name;
        r.configJson = cfg_.toJson();
        r.snapshotJson = snapshotJson_;
        r.dataFingerprint = store::dataFingerprint(*project_, store::parseSnapshot(snapshotJson_));
        r.modelPath = cfg_.model;
        r.referencePath = cfg_.ref.empty() ? cfg_.model : cfg_.ref;
        r.outputDir = cfg_.out;
        r.startedAt = nowMs();
        r.pid = int64_t(getpid());
        r.host = hostName();
        result_.runId = project_->createRun(r);
        // The default folder is the project's own (<project>.runs/<id>), so two project files
        // in one folder never share run folders.
        if (cfg_.out.empty()) cfg_.out = store::defaultRunFolder(cfg_.db, projectId, result_.runId);
    } else if (cfg_.out.empty()) {
        char stamp[32];
        std::time_t t = std::time(nullptr);
        std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::gmtime(&t));
        fs::path folder = fs::path(store::defaultRunsRoot(cfg_.data)) / stamp;
        for (int i = 2; fs::exists(folder); ++i) folder = fs::path(store::defaultRunsRoot(cfg_.data)) / (std::string(stamp) + "-" + std::to_string(i));
        cfg_.out = folder.string();
    }
    // Recorded absolute: the GUI and later commands may run from another working directory.
    cfg_.out = fs::absolute(cfg_.out).lexically_normal().string();
    if (project_) {
        auto stored = project_->run(result_.runId);
        stored->outputDir = cfg_.out;
        stored->configJson = cfg_.toJson();
        project_->updateRun(*stored);
    }
    std::error_code ec;
    fs::create_directories(cfg_.out, ec);
    if (ec) throw Error(cfg_.out + ": cannot create the output folder (" + ec.message() + ")");
    store::RunFolderMarker marker;
    marker.projectId = projectId;
    marker.projectPath = project_ ? fs::absolute(cfg_.db).string() : std::string();
    marker.runId = result_.runId;
    marker.token = cfg_.outToken;
    marker.createdAt = nowMs();
    store::writeRunFolderMarker(cfg_.out, marker);
    result_.outputDir = cfg_.out;
    obs_.onRunCreated(result_.runId, cfg_.out);
}

}  // namespace dpowb::train::detail
