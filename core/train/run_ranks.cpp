// Data parallelism (train/distributed.h): the hooks the run calls, which do nothing in a
// single-process run.
#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

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
        "sum:logits/chosen", "sum:logits/rejected", "sum:entropy", "sum:mean_token_accuracy", "sum:nll_loss", "scalar_sum:grad_norm", "scalar_count:grad_norm",
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

}  // namespace dpowb::train::detail
