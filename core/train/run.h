// The trainer's internals: one training run (`Run`) and the types its parts share. Internal to
// core/train: it exposes LibTorch types, so only the .cpp files of the run include it
// (train/trainer.h is the public, torch-free face). The run is split by responsibility:
//   trainer.cpp         runTraining, Run::execute (the order of a run) and the DPO loop
//   run_data.cpp        pairs from the project or a file, tokenizing, the epoch's batches
//   run_precision.cpp   the policy: float32 master weights, bfloat16 autocast, LoRA
//   run_sft.cpp         the SFT warm-up that becomes the reference
//   run_reference.cpp   the reference model, or its log-probs precomputed and cached
//   run_checkpoint.cpp  checkpoints, and resuming a stopped run
//   run_record.cpp      the run's record in the project and its output folder
//   run_ranks.cpp       data-parallel hooks (no-ops in a single process)
//   run_metrics.cpp     evaluation, logged metrics, health warnings, heartbeat
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "model/lora.h"
#include "store/project.h"
#include "train/distributed.h"
#include "train/dpo_step.h"
#include "train/health.h"
#include "train/losses.h"
#include "train/mixed_precision.h"
#include "train/trainer.h"

namespace dpowb::train::detail {

using Clock = std::chrono::steady_clock;

// Milliseconds since the epoch (the project's timestamps).
int64_t nowMs();

// A training pair as read, before tokenizing.
struct RawPair {
    int64_t pairId = 0;  // project id, or the 1-based line number of a data file
    std::string prompt;
    std::vector<Message> messages;
    std::string chosen, rejected;
    bool tokenized = false;
    std::vector<text::TokenId> promptIds, chosenIds, rejectedIds;
    double disagreement = 0;  // store::TrainingPair::disagreement()
};

// A tokenized pair (and, with --precompute-ref, its reference log-probs).
struct Example {
    int64_t pairId = 0;
    double disagreement = 0;
    model::EncodedPair enc;
    int64_t length = 0;
    store::RefLogps ref;
};

// The JSON files of a checkpoint (state.json).
void writeJsonFile(const std::filesystem::path& path, const nlohmann::json& j);
nlohmann::json readJsonFile(const std::filesystem::path& path);

// One training run from data to a saved model (train/trainer.h's runTraining). Its member
// functions live in the .cpp files listed at the top of this header.
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
    // Load options of every network the run trains or compares against: float32 weights on the
    // run's device (bfloat16 is autocast over them, amp_).
    model::LoadOptions weightOptions() const;
    void applyLoraAdapters();
    void setAdapterBase();  // lora_.baseModelPath/baseRevision (adapter_config.json)
    std::vector<Example> tokenize(const std::vector<RawPair>& raw, const char* what);
    void sftWarmup();
    void prepareReference();
    void trainLoop();
    void evaluate(int64_t step, double epoch);
    // To the observer, the project and --metrics; `judge`: to the health detectors too.
    void logMetrics(const MetricPoint& point, bool judge = true);
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
    int64_t logEvery_ = 1;  // DPO steps per logged point (TrainConfig::loggingInterval)
    // DPO steps per train point the health detectors judge: the logging interval when the run
    // set one, else HealthThresholds::windowSteps, averaged apart from the logged points in
    // healthInterval_ (ownHealthWindow()).
    int64_t healthEvery_ = 1;
    MetricAccumulator healthInterval_;
    bool ownHealthWindow() const { return healthEvery_ != logEvery_; }
    int64_t step_ = 0, totalSteps_ = 0, stepsPerEpoch_ = 0, microPerEpoch_ = 0;
    // Tokens of the rows trained on so far (prompt + response of every row, both rows of a
    // pair, every rank): TRL's num_tokens, a running total logged with every point.
    int64_t numTokens_ = 0;
    std::ofstream metricsOut_;
    Clock::time_point lastHeartbeat_{};
    std::map<std::string, double> lastTrain_, lastEval_;
    HealthMonitor health_;
};

}  // namespace dpowb::train::detail
