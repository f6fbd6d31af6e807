// Checkpoints (model, optimizer, generators, loop state; swapped in by renames) and resuming a
// stopped run from its record and checkpoint.
#include <ATen/Context.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "store/run_folder.h"
#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

namespace {

// Bumped when the checkpoint layout changes; an old checkpoint is refused, not misread.
constexpr int kCheckpointVersion = 1;

}  // namespace

void writeJsonFile(const fs::path& path, const json& j) {
    std::ofstream o(path);
    o << j.dump(1) << "\n";
    if (!o) throw Error(path.string() + ": cannot write");
}

json readJsonFile(const fs::path& path) {
    std::ifstream i(path);
    if (!i) throw Error(path.string() + ": cannot read");
    try {
        return json::parse(i);
    } catch (const std::exception& e) {
        throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
    }
}

void Run::openProjectAndResume() {
    if (cfg_.resumeRunId > 0 && cfg_.db.empty())
        throw Error("--resume needs --db: runs and their checkpoints are recorded in a project");
    if (cfg_.db.empty()) return;
    project_.emplace(store::Project::open(cfg_.db));
    if (cfg_.resumeRunId <= 0) return;
    auto run = project_->run(cfg_.resumeRunId);
    if (!run) throw Error(cfg_.db + ": no run " + std::to_string(cfg_.resumeRunId) + " to resume");
    if (run->status == store::RunStatus::Running)
        throw Error("run " + std::to_string(run->id) + " is still running (pid " + std::to_string(run->pid) + " on " +
                    run->host + "); stop it first (Ctrl-C where it runs, or kill -INT " + std::to_string(run->pid) +
                    "), then resume it");
    if (run->status == store::RunStatus::Finished) throw Error("run " + std::to_string(run->id) + " already finished");
    // The run continues with its own configuration; only where it writes metrics may change.
    TrainConfig stored = TrainConfig::fromJson(run->configJson);
    stored.db = cfg_.db;
    stored.resumeRunId = run->id;
    if (!cfg_.metricsFile.empty()) stored.metricsFile = cfg_.metricsFile;
    stored.out = run->outputDir;
    cfg_ = stored;
    snapshotJson_ = run->snapshotJson;
    // Said before the run is touched (it stays resumable): the data order and the global batch
    // depend on the number of ranks.
    if (const fs::path state = fs::path(cfg_.out) / "checkpoint" / "state.json"; fs::exists(state)) {
        const int ranks = readJsonFile(state).value("world_size", 1);
        if (ranks != rankEnv_.worldSize)
            throw Error("run " + std::to_string(run->id) + " was trained with " + std::to_string(ranks) +
                        " process(es); resume it with " + std::to_string(ranks) +
                        " (--nproc, or torchrun's --nproc-per-node x nodes): the data order and the global batch "
                        "depend on it");
    }
    result_.runId = run->id;
    resuming_ = true;
    // A run killed between recording itself and recording its folder has no folder yet: it
    // is the default one, which createRunRecord would have made.
    if (cfg_.out.empty())
        cfg_.out = fs::absolute(store::defaultRunFolder(cfg_.db, project_->projectId(), run->id)).lexically_normal().string();
    const fs::path out(cfg_.out);
    // saveCheckpoint swaps checkpoint.tmp in by renaming checkpoint to checkpoint.old first: a
    // kill between the two renames leaves the previous checkpoint, whole, as checkpoint.old.
    std::error_code ec;
    if (!fs::exists(out / "checkpoint" / "state.json", ec) && fs::exists(out / "checkpoint.old" / "state.json", ec)) {
        fs::remove_all(out / "checkpoint", ec);
        fs::rename(out / "checkpoint.old", out / "checkpoint", ec);
        if (ec) throw Error(cfg_.out + ": cannot restore checkpoint.old as the checkpoint (" + ec.message() + ")");
    }
    fromCheckpoint_ = fs::exists(out / "checkpoint" / "state.json", ec);
    const std::string problem = store::runFolderProblem(cfg_.out, project_->projectId(), run->id, cfg_.outToken);
    if (!problem.empty()) {
        // Without a checkpoint nothing in the folder is needed: a missing or empty folder (killed
        // before it was set up) is made again; anything else is not ours to write over.
        const bool emptyFolder = !fs::exists(out, ec) || (fs::is_directory(out, ec) && fs::is_empty(out, ec));
        if (fromCheckpoint_ || !emptyFolder) throw Error("cannot resume run " + std::to_string(run->id) + ": " + problem);
        remakeFolder_ = true;
    }
    if (!fromCheckpoint_)
        info("run " + std::to_string(run->id) + " was stopped before its first checkpoint; it starts again from step 0");
}

void Run::saveCheckpoint() {
    obs_.onPhase("save", 0, 0);
    if (dist_) {
        // The half-finished logging interval goes into the checkpoint whole (all ranks' sums);
        // rank 0 carries it on, the others start afresh, so nothing is counted twice.
        reduceMetrics(interval_);
        if (!writer()) interval_.clear();
        if (ownHealthWindow()) {
            reduceMetrics(healthInterval_);
            if (!writer()) healthInterval_.clear();
        }
    }
    if (!writer()) return;
    const fs::path dir = fs::path(cfg_.out) / "checkpoint";
    const fs::path tmp = fs::path(cfg_.out) / "checkpoint.tmp";
    const fs::path old = fs::path(cfg_.out) / "checkpoint.old";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    {
        torch::serialize::OutputArchive a;
        policy_->net->save(a);
        a.save_to((tmp / "model.pt").string());
    }
    torch::save(*optimizer_, (tmp / "optimizer.pt").string());
    if (cfg_.syncRefModel && reference_) {
        // TR-DPO's reference has moved away from the files it was loaded from.
        torch::serialize::OutputArchive a;
        reference_->net->save(a);
        a.save_to((tmp / "reference.pt").string());
    }
    {
        torch::serialize::OutputArchive a;
        auto gen = at::detail::getDefaultCPUGenerator();
        torch::Tensor state;
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            state = gen.get_state();
        }
        a.write("cpu_rng", state);
        // Dropout on a GPU draws from that device's generator.
        if (policy_->device.is_cuda()) {
            auto cuda = at::globalContext().defaultGenerator(policy_->device);
            std::lock_guard<std::mutex> lock(cuda.mutex());
            a.write("cuda_rng", cuda.get_state());
        }
        a.save_to((tmp / "rng.pt").string());
    }
    json st;
    st["version"] = kCheckpointVersion;
    st["step"] = step_;
    st["total_steps"] = totalSteps_;
    st["num_tokens"] = numTokens_;
    st["world_size"] = world_;
    st["interval"] = interval_.state();
    if (ownHealthWindow()) st["health_interval"] = healthInterval_.state();
    st["last_train"] = lastTrain_;
    st["last_eval"] = lastEval_;
    st["config"] = json::parse(cfg_.toJson());
    writeJsonFile(tmp / "state.json", st);
    // Swap in with renames so that a crash leaves either the old or the new checkpoint whole.
    fs::remove_all(old);
    if (fs::exists(dir)) fs::rename(dir, old);
    fs::rename(tmp, dir);
    fs::remove_all(old);
}

bool Run::loadCheckpoint() {
    const fs::path dir = fs::path(cfg_.out) / "checkpoint";
    json st = readJsonFile(dir / "state.json");
    if (st.value("version", 0) != kCheckpointVersion)
        throw Error((dir / "state.json").string() + ": checkpoint version " + std::to_string(st.value("version", 0)) +
                    " is not the one this build writes (" + std::to_string(kCheckpointVersion) + ")");
    {
        torch::serialize::InputArchive a;
        a.load_from((dir / "model.pt").string());
        policy_->net->load(a);
    }
    torch::load(*optimizer_, (dir / "optimizer.pt").string());
    if (cfg_.syncRefModel && reference_) {
        if (!fs::exists(dir / "reference.pt"))
            throw Error((dir / "reference.pt").string() +
                        " is missing: a --sync-ref-model run resumes with the reference it had reached");
        torch::serialize::InputArchive a;
        a.load_from((dir / "reference.pt").string());
        reference_->net->load(a);
    }
    {
        torch::serialize::InputArchive a;
        a.load_from((dir / "rng.pt").string());
        torch::Tensor state;
        a.read("cpu_rng", state);
        auto gen = at::detail::getDefaultCPUGenerator();
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(state);
        }
        torch::Tensor cudaState;
        if (policy_->device.is_cuda() && a.try_read("cuda_rng", cudaState)) {
            auto cuda = at::globalContext().defaultGenerator(policy_->device);
            std::lock_guard<std::mutex> lock(cuda.mutex());
            cuda.set_state(cudaState);
        } else if (policy_->device.is_cuda()) {
            warn("the checkpoint has no CUDA generator state (written on the CPU): dropout after the resume differs "
                 "from an uninterrupted run");
        }
    }
    const int ranks = st.value("world_size", 1);
    if (ranks != world_)
        throw Error("run " + std::to_string(result_.runId) + " was trained with " + std::to_string(ranks) +
                    " process(es); resume it with " + std::to_string(ranks) +
                    " (--nproc, or torchrun's --nproc-per-node x nodes): the data order and the global batch depend on it");
    step_ = st.at("step").get<int64_t>();
    numTokens_ = st.value("num_tokens", int64_t(0));  // older checkpoints: counted from the resume
    interval_.restore(st.at("interval").get<std::map<std::string, double>>());
    if (ownHealthWindow())
        healthInterval_.restore(st.value("health_interval", std::map<std::string, double>{}));
    if (!writer()) interval_.clear(), healthInterval_.clear();  // rank 0 carries the saved intervals
    lastTrain_ = st.value("last_train", std::map<std::string, double>{});
    lastEval_ = st.value("last_eval", std::map<std::string, double>{});
    info("resuming run " + std::to_string(result_.runId) + " at step " + std::to_string(step_));
    return true;
}

}  // namespace dpowb::train::detail
