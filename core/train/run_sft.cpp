// The SFT warm-up: supervised steps on the responses before DPO; the result is saved as the
// run's reference.
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "train/batching.h"
#include "train/run.h"
#include "train/schedule.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

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
    const int64_t logEvery = cfg_.loggingInterval(total);
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
            if (step % logEvery == 0 || step == total) {
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

}  // namespace dpowb::train::detail
