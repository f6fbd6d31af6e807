// What a run reports: evaluations (with per-pair outcomes for the drill-down), logged metric
// points (observer, project, --metrics file), health warnings and the run's heartbeat.
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "store/pair_outcomes.h"
#include "store/provenance.h"
#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

void Run::logMetrics(const MetricPoint& point, bool judge) {
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
    if (judge) reportHealth(health_.observe(point));
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
    ReferenceSource ref{reference_ ? reference_->net.get() : nullptr, refAdaptersOff_, !cfg_.usesReference()};
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
        for (auto& o : outcomes) {
            auto side = chosenSide_.find(o.pairId);
            o.chosen = side == chosenSide_.end() ? "" : side->second;
        }
        store::recordPairOutcomes(*project_, result_.runId, step, "eval", "eval", outcomes);
    }
    MetricPoint mp;
    mp.step = step;
    mp.totalSteps = totalSteps_;
    mp.epoch = epoch;
    mp.split = "eval";
    mp.values = acc.mean();
    mp.values["num_tokens"] = double(numTokens_);  // as TRL: the training tokens so far
    lastEval_ = mp.values;
    logMetrics(mp);
    reportHealth(health_.observePairs(step, "eval", outcomes));
}

}  // namespace dpowb::train::detail
