// runTraining: one DPO run from data to a saved model, as a record in the project file.
//
// Order of a run: data (project pairs or JSONL) -> run record -> policy -> tokenize -> SFT
// warm-up (becomes the reference) -> reference (live, or precomputed and released) -> the
// loop (steps, logging, evaluation, checkpoints) -> final model. Everything that can fail
// for a user reason is reported as a failed run with the reason, never a crash.
//
// Reproducibility: on the CPU a seed fixes everything: the LoRA initialisation and dropout
// (torch's default generator, saved in checkpoints) and the data order (our own generator,
// derived from seed and epoch, so a resumed run only needs the step number).
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/allocator.h"
#include "common/error.h"
#include "model/lora.h"
#include "store/output_guard.h"
#include "store/pair_outcomes.h"
#include "store/formats.h"
#include "store/project.h"
#include "store/provenance.h"
#include "store/run_folder.h"
#include "train/batching.h"
#include "train/distributed.h"
#include "train/dpo_step.h"
#include "train/health.h"
#include "train/mixed_precision.h"
#include "train/schedule.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train {

namespace {

using Clock = std::chrono::steady_clock;

int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string hostName() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

// ---------------------------------------------------------------- data

struct RawPair {
    int64_t pairId = 0;  // project id, or the 1-based line number of a data file
    std::string prompt;
    std::vector<Message> messages;
    std::string chosen, rejected;
    bool tokenized = false;
    std::vector<text::TokenId> promptIds, chosenIds, rejectedIds;
    double disagreement = 0;  // store::TrainingPair::disagreement()
};

struct Example {
    int64_t pairId = 0;
    double disagreement = 0;
    model::EncodedPair enc;
    int64_t length = 0;
    store::RefLogps ref;
};

// A data file through the importers' reader (store::readPairs): every format `dpowb import`
// reads, plus pre-tokenized pairs. A record's preferred response is the chosen one; records
// without a preference (ties, "both bad", unlabelled `pairs` records) are left out, as a
// project's training set leaves them out. `skipped` counts them.
std::vector<RawPair> readPairsFile(const std::string& path, const TrainConfig& cfg, size_t* skipped) {
    store::ReadOptions ro;
    ro.format = cfg.dataFormat.empty() ? "auto" : cfg.dataFormat;
    if (!cfg.dataMap.empty()) ro.map = store::parseColumnMap(cfg.dataMap);
    ro.allowTokenIds = true;
    std::vector<RawPair> out;
    store::readPairs(path, ro, [&](store::ReadRecord& r) {
        if (!r.verdict || (*r.verdict != store::Verdict::A && *r.verdict != store::Verdict::B)) {
            if (skipped) ++*skipped;
            return true;
        }
        const bool aChosen = *r.verdict == store::Verdict::A;
        RawPair p;
        p.pairId = r.line;
        if (r.tokenized) {
            p.tokenized = true;
            auto ids = [](const std::vector<int64_t>& v) { return std::vector<text::TokenId>(v.begin(), v.end()); };
            p.promptIds = ids(r.promptIds);
            p.chosenIds = ids(r.chosenIds);
            p.rejectedIds = ids(r.rejectedIds);
        } else {
            p.prompt = std::move(r.pair.prompt);
            p.messages = std::move(r.pair.promptMessages);
            p.chosen = aChosen ? std::move(r.pair.responseA) : std::move(r.pair.responseB);
            p.rejected = aChosen ? std::move(r.pair.responseB) : std::move(r.pair.responseA);
        }
        out.push_back(std::move(p));
        return true;
    });
    return out;
}

// Distinct evaluation prompts (text, chat messages or token ids) that training pairs have too.
size_t sharedPrompts(const std::vector<RawPair>& train, const std::vector<RawPair>& eval) {
    auto key = [](const RawPair& p) {
        std::string k = p.tokenized ? "ids:" : p.messages.empty() ? "text:" + p.prompt : "chat:";
        if (p.tokenized)
            for (auto id : p.promptIds) k += std::to_string(id) + ",";
        for (const auto& m : p.messages) k += m.role + '\x1f' + m.content + '\x1e';
        return k;
    };
    std::set<std::string> seen, shared;
    for (const auto& p : train) seen.insert(key(p));
    for (const auto& p : eval)
        if (seen.count(key(p))) shared.insert(key(p));
    return shared.size();
}

std::vector<RawPair> fromProject(const std::vector<store::TrainingPair>& pairs) {
    std::vector<RawPair> out;
    for (const auto& t : pairs) {
        RawPair p;
        p.pairId = t.pairId;
        p.prompt = t.prompt;
        p.messages = t.promptMessages;
        p.chosen = t.chosen;
        p.rejected = t.rejected;
        p.disagreement = t.disagreement();
        out.push_back(std::move(p));
    }
    return out;
}

// ---------------------------------------------------------------- checkpoints

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

// Bumped when the checkpoint layout changes; an old checkpoint is refused, not misread.
constexpr int kCheckpointVersion = 1;

std::vector<std::string> splitList(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        auto b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
        if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    }
    return out;
}

// The run's error for an out-of-memory failure: what ran out, and what lowers the need.
std::string outOfMemoryMessage(const c10::OutOfMemoryError& e, const std::string& device) {
    return "out of memory on " + device +
           ": use LoRA (--lora-rank 16), a smaller --batch-size (--grad-accum keeps the effective batch) or "
           "--max-length, or --precompute-ref (no reference model in memory while training) (" +
           e.what_without_backtrace() + ")";
}

class Run {
public:
    Run(TrainConfig config, TrainObserver& observer, TrainControl& control)
        : cfg_(std::move(config)), obs_(observer), control_(control) {}

    TrainResult execute();

private:
    void info(const std::string& m) { obs_.onLog(LogLevel::Info, m); }
    void warn(const std::string& m) { obs_.onLog(LogLevel::Warning, m); }

    void openProjectAndResume();
    void loadData();
    // Data parallelism (distributed.h): hooks that do nothing in a single-process run.
    void setupRanks();
    void publishRun();
    void joinRun();
    void startProcessGroup();
    void reduceMetrics(MetricAccumulator& acc);
    std::vector<int64_t> shardOf(const std::vector<int64_t>& batch) const;
    bool writer() const { return rank_ == 0; }
    std::string stopReason(const std::string& own);
    void createRunRecord();
    void loadPolicy();
    std::vector<Example> tokenize(const std::vector<RawPair>& raw, const char* what);
    void sftWarmup();
    void prepareReference();
    void trainLoop();
    void evaluate(int64_t step, double epoch);
    void logMetrics(const MetricPoint& point);
    void reportHealth(const std::vector<HealthWarning>& fired);
    void heartbeat(bool force = false);
    void saveCheckpoint();
    bool loadCheckpoint();
    void saveFinalModel();
    Collective::HoldEnd holdPaused();
    Progress progress(const char* phase);
    std::vector<MicroBatch> microBatchesOf(const std::vector<std::vector<int64_t>>& batches,
                                           const std::vector<Example>& pool) const;
    void computeSchedule();
    std::vector<std::vector<int64_t>> epochBatches(int64_t epoch) const;

    TrainConfig cfg_;
    TrainObserver& obs_;
    TrainControl& control_;
    TrainResult result_;

    std::optional<store::Project> project_;
    bool resuming_ = false;
    // Resuming a run that has a checkpoint (else it starts again from step 0: it was killed
    // before its first checkpoint), and whether its folder must be made again (killed before
    // the folder and its marker were written).
    bool fromCheckpoint_ = false;
    bool remakeFolder_ = false;
    std::unique_ptr<Collective> dist_;  // null: one process
    int rank_ = 0, world_ = 1;
    int64_t pauses_ = 0;  // holds agreed so far (the same on every rank)
    RankEnv rankEnv_;
    std::vector<RawPair> rawTrain_, rawEval_;
    std::string snapshotJson_ = "[]";
    std::map<int64_t, std::string> chosenSide_;  // pair id -> "a"/"b" of the snapshot (evaluations)
    std::vector<Example> train_, eval_;

    std::shared_ptr<model::Model> policy_;
    std::shared_ptr<model::Model> reference_;  // separate reference network, when live
    bool refAdaptersOff_ = false;              // LoRA: the policy with adapters off
    bool refPrecomputed_ = false;
    std::string referenceDir_;
    model::LoraConfig lora_;
    text::TokenId padId_ = 0;
    model::EncodeOptions encode_;
    MixedPrecision amp_;  // bfloat16: autocast forwards over float32 weights (CPU and CUDA)

    std::unique_ptr<torch::optim::AdamW> optimizer_;
    std::vector<torch::Tensor> params_;
    LossOptions lossOptions_;
    MetricAccumulator interval_;
    int64_t step_ = 0, totalSteps_ = 0, stepsPerEpoch_ = 0, microPerEpoch_ = 0;
    std::ofstream metricsOut_;
    Clock::time_point lastHeartbeat_{};
    std::map<std::string, double> lastTrain_, lastEval_;
    HealthMonitor health_;
};

Progress Run::progress(const char* phase) {
    Progress p;
    std::string name = phase;
    p.report = [this, name](int64_t done, int64_t total, const std::string&) { obs_.onPhase(name, done, total); };
    p.cancel = &control_.cancel;
    return p;
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

// ---------------------------------------------------------------- data parallelism
//
// Rank 0 alone opens the project read-write, records the run, writes metrics, checkpoints and
// the model. The other ranks open the project read-only and take rank 0's configuration and
// label snapshot through the store, so every rank trains on the same data whatever changes in
// the project meanwhile. Each global micro-batch (batch size x ranks pairs, in the order a
// single process with that batch size would use) is cut into one contiguous shard per rank;
// gradients are averaged by all-reduce before clipping, so every rank steps identically.

void Run::setupRanks() {
    rankEnv_ = rankEnvFromEnvironment();
    if (!rankEnv_.distributed()) return;
    if (cfg_.resumeRunId <= 0 && cfg_.device.rfind("cuda:", 0) == 0)
        throw Error("--device " + cfg_.device + " with " + std::to_string(rankEnv_.worldSize) +
                    " processes: each rank trains on cuda:LOCAL_RANK; give --device cuda (or auto) and choose the GPUs "
                    "with CUDA_VISIBLE_DEVICES");
    rank_ = rankEnv_.rank;
    world_ = rankEnv_.worldSize;
    dist_ = Collective::connect(rankEnv_, collectiveTimeout());
}

void Run::publishRun() {
    if (!dist_) return;
    json j;
    j["config"] = json::parse(cfg_.toJson());
    j["snapshot"] = snapshotJson_;
    j["run_id"] = result_.runId;
    j["resuming"] = resuming_;
    j["world_size"] = world_;
    dist_->publish("run", j.dump());
}

void Run::joinRun() {
    const json j = json::parse(dist_->await("run"));
    if (j.at("world_size").get<int>() != world_)
        throw Error("rank 0 runs with WORLD_SIZE " + std::to_string(j.at("world_size").get<int>()) + ", this rank with " +
                    std::to_string(world_));
    // Rank 0's configuration; the data paths stay this rank's own (another node may mount them
    // elsewhere), and the metrics file is rank 0's alone.
    TrainConfig mine = cfg_;
    cfg_ = TrainConfig::fromJson(j.at("config").dump());
    cfg_.db = mine.db;
    cfg_.data = mine.data;
    cfg_.evalData = mine.evalData;
    cfg_.metricsFile.clear();
    snapshotJson_ = j.at("snapshot").get<std::string>();
    result_.runId = j.at("run_id").get<int64_t>();
    resuming_ = j.at("resuming").get<bool>();
    if (!cfg_.db.empty()) project_.emplace(store::Project::openReadOnly(cfg_.db));
    loadData();
    result_.outputDir = cfg_.out;
    obs_.onRunCreated(result_.runId, cfg_.out);
}

void Run::startProcessGroup() {
    if (!dist_) return;
    torch::Device device = model::resolveDevice(cfg_.device);
    if (device.is_cuda()) {
        // One GPU per rank of a node: cuda:LOCAL_RANK (the record keeps the run's own setting).
        cfg_.device = "cuda:" + std::to_string(rankEnv_.localRank);
        device = model::resolveDevice(cfg_.device);
    }
    dist_->startGroup(device);
    info("data parallel: rank " + std::to_string(rank_) + " of " + std::to_string(world_) + " (" +
         dist_->backendName() + ", " + device.str() + "); global batch " + std::to_string(cfg_.batchSize) + " x " +
         std::to_string(world_) + " ranks x " + std::to_string(cfg_.gradAccum) + " accumulation");
}

std::vector<int64_t> Run::shardOf(const std::vector<int64_t>& batch) const {
    if (world_ == 1) return batch;
    const auto [b, e] = shardRange(batch.size(), rank_, world_);
    return std::vector<int64_t>(batch.begin() + std::ptrdiff_t(b), batch.begin() + std::ptrdiff_t(e));
}

// Sums a metric accumulator's raw state (pair counts, pair-weighted sums, scalar sums and
// counts) over the ranks: the means are then those of all the ranks' pairs together, never a
// mean of per-rank means. Every rank ends with the same, global state.
void Run::reduceMetrics(MetricAccumulator& acc) {
    if (!dist_) return;
    static const std::vector<std::string> kKeys = {
        ".pairs", ".chosen_tokens", ".rejected_tokens", "sum:loss", "sum:rewards/chosen", "sum:rewards/rejected",
        "sum:rewards/margins", "sum:rewards/accuracies", "sum:logps/chosen", "sum:logps/rejected",
        "sum:logits/chosen", "sum:logits/rejected", "sum:nll_loss", "scalar_sum:grad_norm", "scalar_count:grad_norm",
        "scalar_sum:tokens_per_second", "scalar_count:tokens_per_second"};
    std::vector<double> v(2 * kKeys.size(), 0.0);
    for (const auto& [k, x] : acc.state()) {
        auto it = std::find(kKeys.begin(), kKeys.end(), k);
        if (it == kKeys.end()) throw Error("internal: metric state \"" + k + "\" has no reduction across ranks");
        const size_t i = size_t(it - kKeys.begin());
        v[2 * i] = x;
        v[2 * i + 1] = 1;  // present on this rank
    }
    v = dist_->sum(v);
    std::map<std::string, double> global;
    for (size_t i = 0; i < kKeys.size(); ++i)
        if (v[2 * i + 1] > 0) global[kKeys[i]] = v[2 * i];
    acc.restore(global);
}

// The run's error when this rank failed: another rank's reason when one stopped first (this
// rank's error is then only the broken collective), else this rank's own.
std::string Run::stopReason(const std::string& own) {
    if (!dist_) return own;
    dist_->reportStop(own);
    const std::string first = dist_->stopReport();
    return first.empty() ? own : first;
}

void Run::loadData() {
    obs_.onPhase("load", 0, 0);
    if (project_) {
        if (resuming_ || rank_ > 0) {
            // The label snapshot decides the data, not the labels as they are now (and every
            // rank of a data-parallel run reads rank 0's).
            json snap = json::parse(snapshotJson_);
            auto trainPairs = project_->trainingPairs("train");
            auto testPairs = project_->trainingPairs("test");
            std::map<int64_t, store::TrainingPair> byId;
            for (auto& t : trainPairs) byId[t.pairId] = t;
            std::set<int64_t> testIds;
            for (auto& t : testPairs) testIds.insert(t.pairId), byId[t.pairId] = t;
            std::vector<store::TrainingPair> tr, te;
            for (const auto& row : snap) {
                const int64_t id = row.at(0).get<int64_t>();
                const std::string verdict = row.at(1).get<std::string>();
                auto pair = project_->pair(id);
                if (!pair) throw Error("run snapshot names pair " + std::to_string(id) + ", which is no longer in the project");
                store::TrainingPair t;
                t.pairId = id;
                t.prompt = pair->prompt;
                t.promptMessages = pair->promptMessages;
                t.chosen = verdict == "a" ? pair->responseA : pair->responseB;
                t.rejected = verdict == "a" ? pair->responseB : pair->responseA;
                if (row.size() > 4) t.judges = row.at(3).get<int>(), t.agreeing = row.at(4).get<int>();
                (pair->split == "test" ? te : tr).push_back(std::move(t));
            }
            rawTrain_ = fromProject(tr);
            rawEval_ = fromProject(te);
        } else {
            auto tr = project_->trainingPairs("train");
            auto te = project_->trainingPairs("test");
            store::PairQuery q;
            q.verdict = store::VerdictFilter::A;
            auto aIds = project_->pairIds(q);
            std::set<int64_t> chosenA(aIds.begin(), aIds.end());
            json snap = json::array();
            for (const auto* set : {&tr, &te})
                for (const auto& t : *set) {
                    json row = {t.pairId, chosenA.count(t.pairId) ? "a" : "b", t.labelId};
                    if (t.judges > 0) row.push_back(t.judges), row.push_back(t.agreeing);  // consensus mode
                    snap.push_back(std::move(row));
                }
            snapshotJson_ = snap.dump();
            rawTrain_ = fromProject(tr);
            rawEval_ = fromProject(te);
        }
        if (rawTrain_.empty())
            throw Error(cfg_.db + ": no training pairs: label some pairs of split \"train\" a or b first");
    } else {
        size_t skipped = 0, evalSkipped = 0;
        rawTrain_ = readPairsFile(cfg_.data, cfg_, &skipped);
        if (!cfg_.evalData.empty()) rawEval_ = readPairsFile(cfg_.evalData, cfg_, &evalSkipped);
        if (skipped + evalSkipped > 0)
            info(std::to_string(skipped + evalSkipped) +
                 " records without a preference (tie, both bad or unlabelled) left out");
        if (rawTrain_.empty()) throw Error(cfg_.data + ": no pairs with a preference (a or b) in the file");
        json snap = json::array();
        for (const auto& p : rawTrain_) snap.push_back({p.pairId, "a", 0});
        snapshotJson_ = snap.dump();
    }
    info("data: " + std::to_string(rawTrain_.size()) + " training pairs, " + std::to_string(rawEval_.size()) +
         " evaluation pairs");
    if (cfg_.agreement != "off") {
        size_t split = 0;
        for (const auto& p : rawTrain_) split += p.disagreement > 0;
        if (split == 0)
            warn("--agreement " + cfg_.agreement + ": every training pair is unanimous, so it changes nothing "
                 "(annotators' votes count in consensus mode: dpowb annotation-mode DB consensus)");
        else
            info("agreement (" + cfg_.agreement + "): " + std::to_string(split) + " of " +
                 std::to_string(rawTrain_.size()) + " training pairs have a dissenting annotator");
    }
    const size_t shared = sharedPrompts(rawTrain_, rawEval_);
    if (shared > 0)
        warn(std::to_string(shared) + " of the evaluation prompts also appear in training pairs: the eval metrics on "
             "them measure memorisation, not generalisation (move those pairs to one split)");
}

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

void Run::loadPolicy() {
    obs_.onPhase("load", 0, 0);
    model::LoadOptions lo;
    lo.device = cfg_.device;
    lo.chatTemplate = cfg_.chatTemplate;
    const torch::Device device = model::resolveDevice(cfg_.device);
    // Training keeps float32 weights and AdamW state; bfloat16 means autocast forwards (pure
    // bfloat16 weights would drop AdamW updates below bfloat16's resolution); float16 is refused.
    amp_ = trainingPrecision(cfg_.dtype, device);
    lo.dtype = "float32";
    if (amp_.enabled) info("mixed precision: bfloat16 autocast forwards, float32 weights and optimizer state");
    policy_ = model::loadModel(cfg_.model, lo);
    for (const auto& w : policy_->warnings) warn(w);
    if (!policy_->tokenizer && !rawTrain_.empty() && !rawTrain_.front().tokenized)
        throw Error(cfg_.model + " has no tokenizer.json: give pre-tokenized pairs (prompt_ids, chosen_ids, rejected_ids)");
    if (policy_->tokenizer) {
        if (auto p = policy_->tokenizer->padId()) padId_ = *p;
        else if (auto e = policy_->tokenizer->eosId()) padId_ = *e;
    } else if (policy_->config.padTokenId) {
        padId_ = text::TokenId(*policy_->config.padTokenId);
    }
    torch::manual_seed(cfg_.seed);
    info("policy: " + cfg_.model + " (" + std::to_string(policy_->config.parameterCount()) + " parameters) on " +
         policy_->device.str());
}

std::vector<Example> Run::tokenize(const std::vector<RawPair>& raw, const char* what) {
    std::vector<Example> out;
    int64_t truncated = 0, dropped = 0, notPrefix = 0, done = 0;
    for (const auto& r : raw) {
        Example e;
        e.pairId = r.pairId;
        e.disagreement = r.disagreement;
        e.enc = r.tokenized ? model::encodePairIds(r.promptIds, r.chosenIds, r.rejectedIds, encode_)
                            : model::encodePair(*policy_, r.prompt, r.messages, r.chosen, r.rejected, encode_);
        if (++done % 256 == 0) obs_.onPhase("tokenize", done, int64_t(raw.size()));
        if (e.enc.responseTruncated) ++truncated;
        if (e.enc.promptNotPrefix) ++notPrefix;
        if (e.enc.emptyResponse) {
            ++dropped;
            continue;
        }
        for (auto id : e.enc.prompt)
            if (id >= policy_->config.vocabSize)
                throw Error(std::string(what) + " pair " + std::to_string(r.pairId) + ": token id " + std::to_string(id) +
                            " is outside the model's vocabulary (" + std::to_string(policy_->config.vocabSize) + ")");
        e.length = int64_t(e.enc.prompt.size() + std::max(e.enc.chosen.size(), e.enc.rejected.size()));
        out.push_back(std::move(e));
    }
    if (truncated > 0)
        warn(std::string(what) + ": " + std::to_string(truncated) + " of " + std::to_string(raw.size()) +
             " pairs had responses cut to --max-length " + std::to_string(cfg_.maxLength));
    if (notPrefix > 0)
        warn(std::string(what) + ": in " + std::to_string(notPrefix) +
             " pairs the tokenized prompt is not a prefix of prompt + response; the responses were tokenized alone");
    if (dropped > 0)
        warn(std::string(what) + ": dropped " + std::to_string(dropped) +
             " pairs whose response was truncated away entirely (prompt longer than --max-length allows)");
    if (!raw.empty() && out.empty())
        throw Error(std::string(what) + ": every pair lost its response to truncation (--max-length " +
                    std::to_string(cfg_.maxLength) + ", --max-prompt-length " + std::to_string(cfg_.maxPromptLength) +
                    "); the loss would sit at log 2. Raise --max-length or lower --max-prompt-length");
    return out;
}

// Supervised warm-up on the responses (chosen, or both): the DPO paper's recipe when no SFT
// model exists. The result is saved to --out/reference and becomes the reference.
// Data parallel like the DPO steps: each global batch (batch size x ranks rows, in the order
// one process with that batch size would use) is cut into one shard per rank; each rank's loss
// is its shard's NLL over the global batch's token count, so the summed gradients (all-reduce
// with scale = ranks) are those of the global batch, and every rank takes the same step.
void Run::sftWarmup() {
    referenceDir_ = (fs::path(cfg_.out) / "reference").string();
    if (fromCheckpoint_) return;  // the checkpoint holds the policy; the reference is on disk
    std::vector<SftRow> rows;
    for (const auto& e : train_) {
        rows.emplace_back(e.enc.prompt, e.enc.chosen);
        if (cfg_.sftOn == "both") rows.emplace_back(e.enc.prompt, e.enc.rejected);
    }
    auto net = policy_->net;
    net->train();
    auto optimizer = makeOptimizer(*net, cfg_);
    auto params = trainableParameters(*net);
    if (dist_) dist_->broadcast(params, 0);
    const int64_t global = cfg_.batchSize * world_;
    const int64_t batches = (int64_t(rows.size()) + global - 1) / global;
    const int64_t total = batches * cfg_.sftEpochs;
    const int64_t warmup = std::min<int64_t>(cfg_.warmupSteps, total / 10);
    info("SFT warm-up: " + std::to_string(cfg_.sftEpochs) + " epoch(s) on the " + cfg_.sftOn + " responses, " +
         std::to_string(total) + " steps");
    MetricAccumulator acc;
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < cfg_.sftEpochs; ++epoch) {
        std::vector<int64_t> lengths;
        for (const auto& r : rows) lengths.push_back(int64_t(r.first.size() + r.second.size()));
        auto order = lengthGroupedBatches(lengths, global, cfg_.seed ^ 0x5f7ULL, epoch);
        for (const auto& b : order) {
            if (!dist_ && control_.cancel.load()) throw Cancelled();
            std::vector<const SftRow*> all, mine;
            for (auto i : b) all.push_back(&rows[size_t(i)]);
            const auto shard = shardOf(b);
            for (auto i : shard) mine.push_back(&rows[size_t(i)]);
            const double lr = cfg_.lr * lrMultiplier(cfg_.lrSchedulerType, step, warmup, total);
            setLearningRate(*optimizer, lr);
            optimizer->zero_grad();
            double value = sftStep(*net, mine, sftScoredTokens(all), padId_, amp_);
            bool stopAll = false;
            if (dist_) {
                // Each rank's gradient is its share of the global batch's: sum, not mean.
                dist_->averageGradients(params, double(world_));
                const auto sums = dist_->sum({value, std::isfinite(value) ? 0.0 : 1.0, control_.cancel.load() ? 1.0 : 0.0});
                value = sums[1] > 0 ? std::nan("") : sums[0];
                stopAll = sums[2] > 0;
            }
            const double norm = clipGradients(params, cfg_.maxGradNorm);
            optimizer->step();
            ++step;
            if (!std::isfinite(value)) throw Error("SFT warm-up: the loss became " + std::to_string(value) + " at step " + std::to_string(step) + "; lower --lr");
            acc.addScalar("loss", value);
            acc.addScalar("grad_norm", norm);
            obs_.onPhase("sft", step, total);
            if (step % cfg_.loggingSteps == 0 || step == total) {
                MetricPoint mp;
                mp.step = step;
                mp.totalSteps = total;
                mp.epoch = double(step) / double(batches);
                mp.split = "sft";
                mp.values = acc.mean();
                mp.values["learning_rate"] = lr;
                acc.clear();
                logMetrics(mp);
            }
            heartbeat();
            if (stopAll) throw Cancelled();  // agreed on by all ranks after the same step
        }
    }
    net->eval();
    optimizer_.reset();
    // Saved and loaded back, so that a resumed run and this one use the very same reference.
    // With several ranks all hold the same weights; all of them load rank 0's copy.
    obs_.onPhase("save", 0, 0);
    if (writer()) {
        fs::remove_all(referenceDir_);
        model::saveModel(*policy_, referenceDir_);
        info("SFT reference saved to " + referenceDir_);
    }
    if (dist_) dist_->barrier();
}

void Run::prepareReference() {
    if (cfg_.referenceFree) return;
    obs_.onPhase("reference", 0, 0);
    model::LoadOptions lo;
    lo.device = cfg_.device;
    lo.chatTemplate = cfg_.chatTemplate;
    lo.dtype = "float32";
    std::string fingerprint;
    if (cfg_.sftEpochs > 0) {
        reference_ = model::loadModel(referenceDir_, lo);
        fingerprint = reference_->fingerprint;
        result_.referenceDir = referenceDir_;
    } else if (!cfg_.ref.empty()) {
        reference_ = model::loadModel(cfg_.ref, lo);
        fingerprint = reference_->fingerprint;
        result_.referenceDir = cfg_.ref;
    } else if (cfg_.loraRank > 0) {
        refAdaptersOff_ = true;  // the base network, adapters off: no second copy
        fingerprint = policy_->fingerprint;
        result_.referenceDir = cfg_.model;
    } else {
        reference_ = model::loadModel(cfg_.model, lo);
        fingerprint = reference_->fingerprint;
        result_.referenceDir = cfg_.model;
    }
    if (reference_) {
        reference_->net->eval();
        for (auto& p : reference_->net->parameters()) p.set_requires_grad(false);
    }
    if (project_ && writer()) {
        auto run = project_->run(result_.runId);
        run->referencePath = result_.referenceDir;
        project_->updateRun(*run);
    }
    if (!cfg_.precomputeRef) return;

    // Cached per response sequence, keyed by the reference's weights, the settings and the
    // exact prompt + response token ids (store::refSequenceHash): a relabelled pair (chosen and
    // rejected swapped), an edited or a re-imported one finds only values of the very same ids.
    // The settings are in the key too (the ids already carry template and truncation; dtype,
    // autocast and the kind of device change the values), so a change never mixes entries.
    const std::string settings = "max_length=" + std::to_string(cfg_.maxLength) +
                                 ";max_prompt_length=" + std::to_string(cfg_.maxPromptLength) +
                                 ";truncation=" + cfg_.truncationMode + ";template=" +
                                 (policy_->chatTemplate ? policy_->chatTemplate->name() : std::string("none")) +
                                 ";dtype=" + cfg_.dtype + (amp_.enabled ? " autocast" : "") + ";device=" +
                                 (model::resolveDevice(cfg_.device).is_cuda() ? "cuda" : "cpu") + ";sequence-v2";
    std::vector<Example*> all;
    for (auto* set : {&train_, &eval_})
        for (auto& e : *set) all.push_back(&e);
    // A response is scored from its first token when there is a prompt, from its second otherwise.
    auto scored = [](const model::EncodedPair& enc, const std::vector<text::TokenId>& response) {
        return int64_t(response.size()) - (enc.prompt.empty() ? 1 : 0);
    };
    std::vector<std::string> hashes;  // chosen, rejected of each example
    hashes.reserve(2 * all.size());
    for (auto* e : all) {
        hashes.push_back(store::refSequenceHash(e->enc.prompt, e->enc.chosen));
        hashes.push_back(store::refSequenceHash(e->enc.prompt, e->enc.rejected));
    }
    std::vector<std::optional<store::RefSeqLogp>> hits(hashes.size());
    if (project_) hits = project_->refSeqLogps(fingerprint, settings, hashes);
    if (dist_) {
        // A value counts as cached only when every rank found it, so all agree on what to compute.
        std::vector<double> found(hits.size());
        for (size_t i = 0; i < hits.size(); ++i) found[i] = hits[i] ? 1.0 : 0.0;
        found = dist_->sum(found);
        for (size_t i = 0; i < hits.size(); ++i)
            if (found[i] < double(world_)) hits[i].reset();
    }
    for (size_t k = 0; k < all.size(); ++k) {  // a count that disagrees is not a hit
        auto& c = hits[2 * k];
        auto& r = hits[2 * k + 1];
        if (c && c->tokens != scored(all[k]->enc, all[k]->enc.chosen)) c.reset();
        if (r && r->tokens != scored(all[k]->enc, all[k]->enc.rejected)) r.reset();
    }
    int64_t reused = 0, computed = 0;
    std::vector<size_t> missing;  // examples with at least one sequence to compute
    for (size_t k = 0; k < all.size(); ++k) {
        auto& c = hits[2 * k];
        auto& r = hits[2 * k + 1];
        if (c && r) {
            all[k]->ref = {c->logp, r->logp, c->tokens, r->tokens};
            reused += 2;
        } else {
            missing.push_back(k);
        }
    }
    if (!missing.empty()) {
        std::vector<const model::EncodedPair*> pairs;
        for (auto k : missing) pairs.push_back(&all[k]->enc);
        model::CausalLM& net = refAdaptersOff_ ? *policy_->net : *reference_->net;
        std::vector<store::RefLogps> values;
        if (!dist_) {
            AutocastScope ac(amp_);
            values = referenceLogps(net, refAdaptersOff_, pairs, std::max<int64_t>(cfg_.batchSize, 16), padId_,
                                    progress("reference"));
        } else {
            // Each rank computes one contiguous slice; a sum over the ranks (the other slices
            // are zeros) gives every rank every value.
            const size_t n = pairs.size();
            const auto [b, e] = shardRange(n, rank_, world_);
            std::vector<const model::EncodedPair*> mine(pairs.begin() + std::ptrdiff_t(b), pairs.begin() + std::ptrdiff_t(e));
            std::vector<store::RefLogps> part;
            {
                AutocastScope ac(amp_);
                part = referenceLogps(net, refAdaptersOff_, mine, std::max<int64_t>(cfg_.batchSize, 16), padId_,
                                      progress("reference"));
            }
            std::vector<double> flat(4 * n, 0.0);
            for (size_t i = 0; i < part.size(); ++i) {
                flat[4 * (b + i)] = part[i].chosen;
                flat[4 * (b + i) + 1] = part[i].rejected;
                flat[4 * (b + i) + 2] = double(part[i].chosenTokens);
                flat[4 * (b + i) + 3] = double(part[i].rejectedTokens);
            }
            flat = dist_->sum(flat);
            for (size_t i = 0; i < n; ++i)
                values.push_back({flat[4 * i], flat[4 * i + 1], int64_t(flat[4 * i + 2]), int64_t(flat[4 * i + 3])});
        }
        std::vector<std::pair<std::string, store::RefSeqLogp>> rows;
        for (size_t i = 0; i < missing.size(); ++i) {
            const size_t k = missing[i];
            store::RefLogps v = values[i];
            // A sequence found in the cache keeps the cached value (one key, one value); only
            // the other one is new.
            if (hits[2 * k]) {
                v.chosen = hits[2 * k]->logp;
                ++reused;
            } else {
                rows.emplace_back(hashes[2 * k], store::RefSeqLogp{v.chosen, v.chosenTokens});
                ++computed;
            }
            if (hits[2 * k + 1]) {
                v.rejected = hits[2 * k + 1]->logp;
                ++reused;
            } else {
                rows.emplace_back(hashes[2 * k + 1], store::RefSeqLogp{v.rejected, v.rejectedTokens});
                ++computed;
            }
            all[k]->ref = v;
        }
        if (project_ && writer()) project_->putRefSeqLogps(fingerprint, settings, rows);
    }
    result_.refSequencesComputed = computed;
    result_.refSequencesReused = reused;
    info("reference log-probs precomputed: " + std::to_string(computed) + " sequences computed, " +
         std::to_string(reused) + " from the project's cache");
    refPrecomputed_ = true;
    reference_.reset();  // released: training needs only the cached values
}

std::vector<std::vector<int64_t>> Run::epochBatches(int64_t epoch) const {
    std::vector<int64_t> lengths;
    for (const auto& e : train_) lengths.push_back(e.length);
    // The global micro-batches (batch size x ranks); each rank trains on its shard of each.
    return lengthGroupedBatches(lengths, cfg_.batchSize * world_, cfg_.seed, epoch);
}

void Run::computeSchedule() {
    const int64_t global = cfg_.batchSize * world_;
    microPerEpoch_ = (int64_t(train_.size()) + global - 1) / global;
    stepsPerEpoch_ = (microPerEpoch_ + cfg_.gradAccum - 1) / cfg_.gradAccum;
    totalSteps_ = cfg_.maxSteps > 0 ? cfg_.maxSteps : std::max<int64_t>(1, int64_t(std::ceil(cfg_.epochs * double(stepsPerEpoch_))));
}

std::vector<MicroBatch> Run::microBatchesOf(const std::vector<std::vector<int64_t>>& batches,
                                            const std::vector<Example>& pool) const {
    std::vector<MicroBatch> out;
    for (const auto& b : batches) {
        MicroBatch mb;
        for (auto i : b) {
            mb.pairs.push_back(&pool[size_t(i)].enc);
            if (refPrecomputed_) mb.cached.push_back(pool[size_t(i)].ref);
            if (lossOptions_.agreement != AgreementUse::Off) mb.disagreement.push_back(pool[size_t(i)].disagreement);
        }
        out.push_back(std::move(mb));
    }
    return out;
}

void Run::logMetrics(const MetricPoint& point) {
    obs_.onMetrics(point);
    if (!writer()) return;  // rank 0 records the job's (already reduced) metrics
    json values(point.values);
    if (project_ && result_.runId > 0) {
        store::MetricRow row;
        row.runId = result_.runId;
        row.step = point.step;
        row.epoch = point.epoch;
        row.split = point.split;
        row.valuesJson = values.dump();
        row.createdAt = nowMs();
        project_->addMetrics({row});
    }
    if (metricsOut_.is_open()) {
        json line = json::object();
        line["step"] = point.step;
        line["epoch"] = point.epoch;
        const std::string prefix = point.split == "eval" ? "eval_" : point.split == "sft" ? "sft_" : "";
        for (const auto& [k, v] : point.values) line[prefix + k] = v;
        metricsOut_ << line.dump() << "\n";
        metricsOut_.flush();
    }
    reportHealth(health_.observe(point));
}

void Run::reportHealth(const std::vector<HealthWarning>& fired) {
    if (!writer()) return;  // rank 0 reports for the job
    for (const auto& w : fired) {
        result_.healthWarnings.push_back(w.code);
        obs_.onHealth(w);
        if (project_ && result_.runId > 0)
            project_->addHealthWarning({result_.runId, w.step, w.split, w.code, w.value, w.message, nowMs()});
        if (metricsOut_.is_open()) {
            json line = {{"step", w.step}, {"health_warning", w.code}, {"split", w.split}, {"message", w.message}};
            if (std::isfinite(w.value)) line["value"] = w.value;
            metricsOut_ << line.dump() << "\n";
            metricsOut_.flush();
        }
    }
}

void Run::heartbeat(bool force) {
    if (!project_ || result_.runId <= 0 || !writer()) return;
    auto now = Clock::now();
    if (!force && now - lastHeartbeat_ < std::chrono::seconds(3)) return;
    lastHeartbeat_ = now;
    project_->heartbeat(result_.runId, step_, totalSteps_);
}

void Run::evaluate(int64_t step, double epoch) {
    if (eval_.empty()) return;
    obs_.onPhase("eval", 0, int64_t(eval_.size()));
    torch::NoGradGuard noGrad;
    auto& net = *policy_->net;
    net.eval();
    MetricAccumulator acc;
    acc.keepPairs(true);
    std::vector<std::vector<int64_t>> chunks;
    const int64_t bs = std::max<int64_t>(cfg_.batchSize, 16);
    for (int64_t s = 0; s < int64_t(eval_.size()); s += bs) {
        std::vector<int64_t> c;
        for (int64_t i = s; i < std::min<int64_t>(s + bs, int64_t(eval_.size())); ++i) c.push_back(i);
        chunks.push_back(std::move(c));
    }
    ReferenceSource ref{reference_ ? reference_->net.get() : nullptr, refAdaptersOff_, cfg_.referenceFree};
    if (refAdaptersOff_ && !refPrecomputed_) ref.net = policy_->net.get();
    if (refPrecomputed_) ref.net = nullptr;
    if (world_ > 1) {  // chunk i on rank i mod ranks; the sums are reduced below
        std::vector<std::vector<int64_t>> mine;
        for (size_t i = size_t(rank_); i < chunks.size(); i += size_t(world_)) mine.push_back(chunks[i]);
        chunks = std::move(mine);
    }
    for (const auto& mb : microBatchesOf(chunks, eval_)) {
        if (control_.cancel.load()) break;
        accumulateStep(net, ref, {mb}, lossOptions_, padId_, &acc, /*backward=*/false, amp_);
    }
    net.train();
    // Outcomes come in the order of the chunks' rows: give each its pair id.
    std::vector<PairOutcome> outcomes = acc.pairOutcomes();
    {
        size_t k = 0;
        for (const auto& c : chunks)
            for (auto i : c)
                if (k < outcomes.size()) outcomes[k++].pairId = eval_[size_t(i)].pairId;
    }
    const bool complete = !control_.cancel.load() && outcomes.size() == eval_.size();
    reduceMetrics(acc);
    if (acc.pairs() == 0) return;
    // The drill-down's per-pair outcomes (one process only: with several, each rank holds a
    // shard of them and only the sums are reduced).
    if (complete && world_ <= 1 && writer() && project_ && result_.runId > 0) {
        if (chosenSide_.empty())
            for (const auto& e : store::parseSnapshot(snapshotJson_)) chosenSide_[e.pairId] = e.verdict;
        std::vector<store::PairOutcomeRecord> records;
        records.reserve(outcomes.size());
        for (const auto& o : outcomes) {
            store::PairOutcomeRecord r;
            r.pairId = o.pairId;
            auto side = chosenSide_.find(o.pairId);
            r.chosen = side == chosenSide_.end() ? "" : side->second;
            r.policyChosen = o.policyChosen;
            r.referenceChosen = o.referenceChosen;
            r.policyRejected = o.policyRejected;
            r.referenceRejected = o.referenceRejected;
            r.chosenTokens = o.chosenTokens;
            r.rejectedTokens = o.rejectedTokens;
            r.chosenReward = o.chosenReward;
            r.rejectedReward = o.rejectedReward;
            records.push_back(std::move(r));
        }
        store::recordPairOutcomes(*project_, result_.runId, step, "eval", "eval", records);
    }
    MetricPoint mp;
    mp.step = step;
    mp.totalSteps = totalSteps_;
    mp.epoch = epoch;
    mp.split = "eval";
    mp.values = acc.mean();
    lastEval_ = mp.values;
    logMetrics(mp);
    reportHealth(health_.observePairs(step, "eval", outcomes));
}

void Run::saveCheckpoint() {
    obs_.onPhase("save", 0, 0);
    if (dist_) {
        // The half-finished logging interval goes into the checkpoint whole (all ranks' sums);
        // rank 0 carries it on, the others start afresh, so nothing is counted twice.
        reduceMetrics(interval_);
        if (!writer()) interval_.clear();
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
    st["world_size"] = world_;
    st["interval"] = interval_.state();
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
    interval_.restore(st.at("interval").get<std::map<std::string, double>>());
    if (!writer()) interval_.clear();  // rank 0 carries the saved interval
    lastTrain_ = st.value("last_train", std::map<std::string, double>{});
    lastEval_ = st.value("last_eval", std::map<std::string, double>{});
    info("resuming run " + std::to_string(result_.runId) + " at step " + std::to_string(step_));
    return true;
}

void Run::trainLoop() {
    auto& net = *policy_->net;
    net.train();
    params_ = trainableParameters(net);
    optimizer_ = makeOptimizer(net, cfg_);
    lossOptions_ = lossOptionsOf(cfg_);
    computeSchedule();
    health_ = HealthMonitor(HealthContext::of(cfg_));
    // Every rank starts from rank 0's weights (they are equal already: same files, same seed;
    // this makes it so whatever a device's initialisation did).
    if (dist_) dist_->broadcast(params_, 0);
    if (fromCheckpoint_) loadCheckpoint();
    if (resuming_ && project_)
        for (const auto& w : project_->healthWarnings(result_.runId)) health_.markFired(w.code);
    if (!cfg_.metricsFile.empty() && writer()) {
        metricsOut_.open(cfg_.metricsFile, resuming_ ? std::ios::app : std::ios::trunc);
        if (!metricsOut_) throw Error(cfg_.metricsFile + ": cannot write the metrics file");
    }
    ReferenceSource ref{reference_ ? reference_->net.get() : nullptr, refAdaptersOff_, cfg_.referenceFree};
    if (refAdaptersOff_ && !refPrecomputed_) ref.net = &net;
    if (refPrecomputed_) ref.net = nullptr;

    info("training: " + std::to_string(train_.size()) + " pairs, " + std::to_string(totalSteps_) + " steps (" +
         std::to_string(stepsPerEpoch_) + " per epoch), batch " + std::to_string(cfg_.batchSize) + " x " +
         std::to_string(cfg_.gradAccum));
    if (step_ == 0 && cfg_.evalSteps > 0) evaluate(0, 0.0);

    int64_t cachedEpoch = -1;
    std::vector<std::vector<int64_t>> epochOrder;
    bool cancelled = false;
    while (step_ < totalSteps_) {
        // With several ranks, pause and cancel are agreed on with the step's sums below, so
        // that all ranks hold, or stop, after the same step.
        if (!dist_ && control_.pause.load() && !control_.cancel.load()) {
            obs_.onPaused(step_, true);
            while (control_.pause.load() && !control_.cancel.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            obs_.onPaused(step_, false);
        }
        if (!dist_ && control_.cancel.load()) {
            cancelled = true;
            break;
        }
        const auto t0 = Clock::now();
        // The micro-batches of this step: position in the epoch follows from the step alone.
        const int64_t epoch = step_ / stepsPerEpoch_;
        const int64_t inEpoch = step_ % stepsPerEpoch_;
        if (epoch != cachedEpoch) {
            epochOrder = epochBatches(epoch);
            cachedEpoch = epoch;
        }
        const int64_t first = inEpoch * cfg_.gradAccum;
        const int64_t last = std::min<int64_t>(first + cfg_.gradAccum, microPerEpoch_);
        std::vector<std::vector<int64_t>> batches(epochOrder.begin() + first, epochOrder.begin() + last);
        int64_t globalPairs = 0;
        std::vector<double> nllTokens;  // per micro-batch (data parallel): see LossInputs::nllTokens
        for (auto& b : batches) {
            globalPairs += int64_t(b.size());
            if (world_ > 1) {
                double tokens = 0;
                for (auto i : b) {
                    const auto& enc = train_[size_t(i)].enc;
                    tokens += double(enc.chosen.size()) - (enc.prompt.empty() ? 1.0 : 0.0);
                }
                const auto shard = shardOf(b);
                nllTokens.push_back(shardNllTokens(tokens, b.size(), shard.size()));
                b = shard;
            }
        }

        const double lr = cfg_.lr * lrMultiplier(cfg_.lrSchedulerType, step_, cfg_.warmupSteps, totalSteps_);
        setLearningRate(*optimizer_, lr);
        optimizer_->zero_grad();
        StepOutcome outcome;
        std::vector<MicroBatch> micro = microBatchesOf(batches, train_);
        for (size_t m = 0; m < nllTokens.size(); ++m) micro[m].nllTokens = nllTokens[m];
        outcome = accumulateStep(net, ref, micro, lossOptions_, padId_, &interval_, /*backward=*/true, amp_);
        bool stopAll = false, pauseAll = false;
        if (dist_) {
            // This rank's pairs weigh pairs/globalPairs of the step (accumulateStep weighed
            // them by its own count): scale, then average over the ranks.
            dist_->averageGradients(params_, double(outcome.pairs) * double(world_) / double(globalPairs));
            // The job's pause request is in the store (any rank may have been asked); rank 0
            // reads it into the sum, so that all ranks see the same answer.
            dist_->setPauseRequest(control_.pause.load());
            const bool pauseAsked = writer() && dist_->pauseRequested();
            const auto sums = dist_->sum({outcome.loss * double(outcome.pairs), double(outcome.pairs),
                                          double(outcome.realTokens), outcome.finite ? 0.0 : 1.0,
                                          control_.cancel.load() ? 1.0 : 0.0, pauseAsked ? 1.0 : 0.0});
            outcome.loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
            outcome.pairs = int64_t(sums[1]);
            outcome.realTokens = int64_t(sums[2]);
            outcome.finite = sums[3] == 0;
            stopAll = sums[4] > 0;
            pauseAll = sums[5] > 0;
        }
        if (!outcome.finite) {
            MetricPoint bad;
            bad.step = step_ + 1;
            bad.totalSteps = totalSteps_;
            bad.values = {{"loss", std::isfinite(outcome.loss) ? std::nan("") : outcome.loss}};
            reportHealth(health_.observeStep(bad));
            throw Error("the loss became NaN/inf at step " + std::to_string(step_ + 1) +
                        "; lower --lr or --beta, or use float32");
        }
        const double gradNorm = clipGradients(params_, cfg_.maxGradNorm);
        optimizer_->step();
        ++step_;
        const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        const double tps = seconds > 0 ? double(outcome.realTokens) / seconds : 0.0;
        interval_.addScalar("grad_norm", gradNorm);
        interval_.addScalar("tokens_per_second", tps);
        const double epochPos = double(step_) / double(stepsPerEpoch_);

        MetricPoint sp;
        sp.step = step_;
        sp.totalSteps = totalSteps_;
        sp.epoch = epochPos;
        sp.values = {{"loss", outcome.loss}, {"learning_rate", lr}, {"tokens_per_second", tps}, {"grad_norm", gradNorm}};
        obs_.onStep(sp);
        reportHealth(health_.observeStep(sp));

        if (step_ % cfg_.loggingSteps == 0 || step_ == totalSteps_) {
            reduceMetrics(interval_);
            MetricPoint mp = sp;
            mp.values = interval_.mean();
            mp.values["learning_rate"] = lr;
            mp.values["epoch"] = epochPos;
            interval_.clear();
            lastTrain_ = mp.values;
            logMetrics(mp);
        }
        const bool epochEnd = step_ % stepsPerEpoch_ == 0;
        if ((cfg_.evalSteps > 0 && step_ % cfg_.evalSteps == 0) || (cfg_.evalSteps == 0 && epochEnd) ||
            step_ == totalSteps_)
            evaluate(step_, epochPos);
        if (cfg_.saveSteps > 0 && step_ % cfg_.saveSteps == 0 && step_ < totalSteps_) saveCheckpoint();
        heartbeat();
        obs_.onPhase("train", step_, totalSteps_);
        if (stopAll && step_ < totalSteps_) {
            cancelled = true;
            break;
        }
        if (pauseAll && step_ < totalSteps_ && holdPaused() == Collective::HoldEnd::Cancel) {
            cancelled = true;
            break;
        }
    }
    result_.steps = step_;
    saveCheckpoint();
    if (cancelled) throw Cancelled();
}

// All ranks hold after the same step (no collective runs meanwhile, so the collective timeout
// does not bound a pause); rank 0 keeps the run's heartbeat going.
Collective::HoldEnd Run::holdPaused() {
    obs_.onPaused(step_, true);
    const auto end = dist_->hold(
        pauses_++, [this] { return control_.pause.load(); }, [this] { return control_.cancel.load(); },
        [this] { heartbeat(); });
    obs_.onPaused(step_, false);
    return end;
}

void Run::saveFinalModel() {
    if (!writer()) return;
    obs_.onPhase("save", 0, 0);
    auto& net = *policy_->net;
    net.eval();
    if (cfg_.loraRank > 0) {
        model::saveLoraAdapter(*policy_, lora_, (fs::path(cfg_.out) / "adapter").string());
        model::mergeLora(net);
    }
    model::saveModel(*policy_, cfg_.out);
}

TrainResult Run::execute() {
    try {
        setupRanks();
        if (writer()) {
            openProjectAndResume();
            loadData();
            createRunRecord();
            publishRun();
        } else {
            joinRun();
        }
    } catch (const Cancelled&) {
        if (dist_) dist_->reportStop("cancelled");
        result_.status = store::RunStatus::Cancelled;
        return result_;
    } catch (const std::exception& e) {
        // Nothing recorded yet (or the record could not be made): report, leave the file alone.
        result_.status = store::RunStatus::Failed;
        result_.error = e.what();
        if (dist_) dist_->reportStop(result_.error);
        if (project_ && result_.runId > 0 && writer())
            project_->setRunStatus(result_.runId, store::RunStatus::Failed, result_.error);
        obs_.onLog(LogLevel::Error, result_.error);
        return result_;
    }
    try {
        heartbeat(true);
        startProcessGroup();
        loadPolicy();
        encode_.maxLength = cfg_.maxLength;
        encode_.maxPromptLength = cfg_.maxPromptLength;
        encode_.keepEnd = cfg_.truncationMode == "keep_end";
        obs_.onPhase("tokenize", 0, int64_t(rawTrain_.size() + rawEval_.size()));
        train_ = tokenize(rawTrain_, "train");
        eval_ = tokenize(rawEval_, "eval");
        rawTrain_.clear();
        rawEval_.clear();

        if (cfg_.sftEpochs > 0) {
            sftWarmup();
            if (!fromCheckpoint_) {
                // Continue DPO from the reference saved on disk (bit-identical to a resumed run).
                model::LoadOptions lo;
                lo.device = cfg_.device;
                lo.chatTemplate = cfg_.chatTemplate;
                lo.dtype = "float32";
                policy_ = model::loadModel(referenceDir_, lo);
            }
        }
        if (cfg_.loraRank > 0) {
            lora_.rank = cfg_.loraRank;
            lora_.alpha = cfg_.loraAlpha;
            lora_.dropout = cfg_.loraDropout;
            lora_.targetModules = splitList(cfg_.loraTargetModules);
            lora_.seed = cfg_.seed;
            torch::manual_seed(cfg_.seed);
            const int n = model::applyLora(*policy_->net, lora_);
            info("LoRA: " + std::to_string(n) + " adapted projections, rank " + std::to_string(cfg_.loraRank));
        }
        torch::manual_seed(cfg_.seed);
        prepareReference();
        trainLoop();
        saveFinalModel();
        // Every rank waits for rank 0's model on disk: a job ends together, or fails together.
        if (dist_) dist_->barrier();
        result_.status = store::RunStatus::Finished;
        result_.finalTrain = lastTrain_;
        result_.finalEval = lastEval_;
        if (project_ && writer()) {
            auto run = project_->run(result_.runId);
            json summary;
            summary["train"] = lastTrain_;
            summary["eval"] = lastEval_;
            summary["steps"] = step_;
            run->summaryJson = summary.dump();
            run->step = step_;
            run->totalSteps = totalSteps_;
            run->finishedAt = nowMs();
            run->status = store::RunStatus::Finished;
            project_->updateRun(*run);
        }
        info("finished: " + std::to_string(step_) + " steps; model saved to " + cfg_.out);
    } catch (const Cancelled&) {
        if (dist_) dist_->reportStop("cancelled");
        result_.status = store::RunStatus::Cancelled;
        result_.steps = step_;
        result_.finalTrain = lastTrain_;
        result_.finalEval = lastEval_;
        if (project_ && writer()) {
            heartbeat(true);
            project_->setRunStatus(result_.runId, store::RunStatus::Cancelled);
        }
        info("cancelled at step " + std::to_string(step_) + (optimizer_ ? "; checkpoint in " + cfg_.out + "/checkpoint" : ""));
    } catch (const std::exception& e) {
        result_.status = store::RunStatus::Failed;
        result_.steps = step_;
        // Out of memory is known by its type (CUDA's caching allocator and the CPU allocator both
        // throw c10::OutOfMemoryError), not by its wording.
        if (const auto* oom = dynamic_cast<const c10::OutOfMemoryError*>(&e))
            result_.error = outOfMemoryMessage(*oom, policy_ ? policy_->device.str() : cfg_.device);
        else
            result_.error = e.what();
        // c10 errors carry a C++ backtrace after the first line; the record needs the reason.
        if (auto nl = result_.error.find('\n'); nl != std::string::npos) result_.error.resize(nl);
        if (dist_) {
            // A broken collective is usually another rank's stop: say that rank's reason; a
            // cancel on any rank (Ctrl-C there) makes this a cancelled run, not a failure.
            result_.error = stopReason(result_.error);
            const std::string suffix = ": cancelled";
            if (result_.error.size() > suffix.size() &&
                result_.error.compare(result_.error.size() - suffix.size(), suffix.size(), suffix) == 0) {
                result_.status = store::RunStatus::Cancelled;
                if (project_ && writer()) project_->setRunStatus(result_.runId, store::RunStatus::Cancelled);
                info("cancelled (" + result_.error + ") at step " + std::to_string(step_));
                return result_;
            }
        }
        if (project_ && writer()) {
            try {
                project_->setRunStatus(result_.runId, store::RunStatus::Failed, result_.error);
            } catch (const std::exception&) {
            }
        }
        obs_.onLog(LogLevel::Error, result_.error);
    }
    return result_;
}

}  // namespace

TrainResult runTraining(const TrainConfig& config, TrainObserver& observer, TrainControl& control) {
    retainFreedMemory();
    TrainConfig c = config;
    if (c.resumeRunId <= 0) {
        c.validate();
    } else if (c.db.empty()) {
        throw Error("train: --resume needs --db: runs and their checkpoints are recorded in a project");
    }
    Run run(c, observer, control);
    return run.execute();
}

}  // namespace dpowb::train
