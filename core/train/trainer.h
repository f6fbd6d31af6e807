// The DPO trainer's public face. Torch-free: the GUI includes this header; everything with
// tensors stays in the .cpp files of core/train.
//
// A run: load policy (and reference), tokenize the pairs, optional SFT warm-up (the
// reference), optional precomputed reference log-probs (cached in the project file), then
// the DPO loop with evaluation, checkpoints and metrics; progress through TrainObserver;
// cancellation through an atomic flag checked between steps.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/types.h"

namespace dpowb::train {

// Every option of `dpowb train`, named as in TRL where TRL has the knob.
struct TrainConfig {
    // data: exactly one of db / data
    std::string db;    // project file: trains on verdict a/b pairs of split train, evals split test
    std::string data;  // a file in any import format (store::readPairs), or pre-tokenized ids
    std::string evalData;  // with --data: a file evaluated every evalSteps (none by default)
    std::string dataFormat;  // --data-format (empty = detect), as `import --format`
    std::string dataMap;     // --map FIELD=COLUMN,... for --data and --eval-data
    std::string model = "builtin:tiny";
    std::string ref;   // reference folder; "" = the initial policy
    std::string out;   // "" = <project>.runs/<run-id>/ beside the project (or data) file
    bool overwriteOutputDir = false;  // write into a non-empty --out that no run of this project made
    std::string outToken;  // set by the trainer: the token of the run folder's marker (store/run_folder.h)
    std::string metricsFile;  // --metrics FILE.jsonl
    int64_t resumeRunId = 0;  // --resume RUN_ID

    // Names of train/loss_types.h (TRL's loss_type), comma-separated to combine several, each
    // weighted by lossWeights (TRL's loss_weights; empty = 1 each): MPO is
    // "sigmoid,bco_pair,sft" with {0.8, 0.2, 1.0}.
    std::string loss = "sigmoid";
    std::vector<double> lossWeights;
    double beta = 0.1;
    double labelSmoothing = 0.0;
    double discopopTau = 0.05;  // discopop's τ (TRL's discopop_tau)
    double simpoGamma = 0.5;    // SimPO's target margin γ (TRL's simpo_gamma)
    bool referenceFree = false;
    double rpoAlpha = 0.0;  // adds the sft term with this weight (TRL's old rpo_alpha); 0 = none
    double ldAlpha = 1.0;   // LD-DPO's α (TRL's ld_alpha): weight of tokens past the shorter response; 1 = off
    bool useWeighting = false;  // WPO (TRL's use_weighting)
    std::string fDivergenceType = "reverse_kl";  // TRL's f_divergence_type
    double fAlphaDivergenceCoef = 0.5;           // TRL's f_alpha_divergence_coef
    // TR-DPO (TRL's sync_ref_model): every refModelSyncSteps optimizer steps the reference
    // becomes refModelMixupAlpha·policy + (1 − α)·reference. Needs a live second network.
    bool syncRefModel = false;
    double refModelMixupAlpha = 0.6;
    int64_t refModelSyncSteps = 512;
    // How annotator agreement enters the loss (train/losses.h AgreementUse): off | smoothing |
    // weights. Needs --db (a project's consensus-mode agreement, docs/ANALYTICS.md).
    std::string agreement = "off";
    bool precomputeRef = false;
    int64_t sftEpochs = 0;
    std::string sftOn = "chosen";  // chosen | both

    double lr = 1e-6;
    double epochs = 1;
    int64_t maxSteps = -1;  // -1 = from epochs
    int64_t batchSize = 8;
    int64_t gradAccum = 1;
    int64_t maxLength = 1024;
    int64_t maxPromptLength = 512;
    std::string truncationMode = "keep_start";  // keep_start | keep_end
    int64_t warmupSteps = 0;
    double weightDecay = 0.0;
    std::string lrSchedulerType = "linear";  // constant | linear | cosine
    double maxGradNorm = 1.0;  // 0 = off
    double adamBeta1 = 0.9, adamBeta2 = 0.999, adamEpsilon = 1e-8;

    int64_t loraRank = 0;  // 0 = full fine-tuning
    double loraAlpha = 16;
    double loraDropout = 0.0;
    std::string loraTargetModules = "q_proj,k_proj,v_proj,o_proj";

    std::string dtype = "float32";  // float32 | bfloat16 | float16
    std::string device = "auto";    // auto | cpu | cuda[:N]
    uint64_t seed = 42;
    // Steps per logged point (their metrics averaged); 0 = automatic: loggingInterval().
    int64_t loggingSteps = 0;
    int64_t evalSteps = 0;       // 0 = at the end of each epoch only
    int64_t saveSteps = 0;       // checkpoint every N steps (0 = at the end and on cancel)
    std::string name;            // run name shown in the GUI
    std::string chatTemplate;    // "" = the model's own; else a name (text/chat_template.h)

    // The logging interval of a phase of `totalSteps` optimizer steps (the DPO loop, or the SFT
    // warm-up on its own steps): loggingSteps when set; when automatic (0), every step for up to
    // kAutoLoggedPoints steps, ceil(totalSteps / kAutoLoggedPoints) beyond, so that a longer run
    // logs between kAutoLoggedPoints / 2 and kAutoLoggedPoints points.
    int64_t loggingInterval(int64_t totalSteps) const;
    static constexpr int64_t kAutoLoggedPoints = 500;

    std::string toJson() const;
    static TrainConfig fromJson(const std::string& json);  // missing keys keep defaults
    // The demo preset used for builtin:tiny when options are left unset.
    static TrainConfig demoPreset();
    // True when the run needs a reference model (not --reference-free, and a loss uses one).
    bool usesReference() const;
    // Throws dpowb::Error on an invalid combination, saying what to change.
    void validate() const;
};

// One logged point. `values` uses docs/MATH.md's metric names (no eval_ prefix; split says which).
// split "train" and "eval": the DPO loop; step counts DPO optimizer steps (eval at step 0 is the
// policy before training), totalSteps the DPO steps, epoch the DPO epoch.
// split "sft": the SFT warm-up before DPO (TrainConfig::sftEpochs), on its own axis: step counts
// warm-up steps (1..totalSteps, totalSteps = the warm-up's steps), epoch the warm-up's epoch;
// values "loss" (the supervised NLL per token, not a DPO loss), "grad_norm" and
// "learning_rate", averaged over the logging interval like train points. The project's metrics
// table stores these points with split "sft" and the --metrics file with the prefix "sft_".
struct MetricPoint {
    int64_t step = 0;
    int64_t totalSteps = 0;
    double epoch = 0;
    std::string split = "train";  // "train" | "eval" | "sft"
    std::map<std::string, double> values;
};

enum class LogLevel { Info, Warning, Error };

struct HealthWarning;  // train/health.h

// Observer of a run. Called on the training thread; implementations must be cheap and
// thread-safe with respect to their own consumers (the GUI queues to its thread).
class TrainObserver {
public:
    virtual ~TrainObserver() = default;
    virtual void onRunCreated(int64_t runId, const std::string& outputDir) {}
    // Phases: "load", "tokenize", "sft", "reference", "train", "eval", "save".
    virtual void onPhase(const std::string& phase, int64_t done, int64_t total) {}
    // Every optimizer step (cheap summary: step, loss, accuracy, tokens/s, lr).
    virtual void onStep(const MetricPoint& point) {}
    // Every logging step (averaged over the interval) and every evaluation; before them, the
    // SFT warm-up's logging steps (split "sft", see MetricPoint).
    virtual void onMetrics(const MetricPoint& point) {}
    virtual void onLog(LogLevel level, const std::string& message) {}
    // The loop holds for TrainControl::pause after `step` finished steps (paused = true), and
    // goes on again (false). Nothing trains between the two calls.
    virtual void onPaused(int64_t step, bool paused) {}
    // A training-health warning fired (train/health.h), once per kind and run, right after the
    // point that fired it; it is also stored with the run and written to --metrics.
    virtual void onHealth(const HealthWarning& warning) {}
};

struct TrainResult {
    int64_t runId = 0;
    store::RunStatus status = store::RunStatus::Running;
    std::string outputDir;
    std::string referenceDir;  // where the reference model can be loaded from
    std::string error;
    int64_t steps = 0;
    std::map<std::string, double> finalTrain, finalEval;
    // --precompute-ref: response sequences (two per pair, train and eval) whose reference
    // log-prob was computed by this run, and those taken from the project's cache.
    int64_t refSequencesComputed = 0, refSequencesReused = 0;
    std::vector<std::string> healthWarnings;  // kinds that fired in this session (train/health.h)
};

struct TrainControl {
    std::atomic<bool> cancel{false};  // stop after the current step, write a checkpoint
    std::atomic<bool> pause{false};   // hold between steps until cleared (or cancelled)
};

// Runs a whole training run synchronously on the calling thread. Never throws for run
// failures: they come back as status Failed with the reason (and are recorded in the
// project when there is one). Throws dpowb::Error only for invalid configuration.
TrainResult runTraining(const TrainConfig& config, TrainObserver& observer, TrainControl& control);

}  // namespace dpowb::train
