// Training-health diagnostics: a pure state machine over the metric stream a run produces
// (TrainObserver's onStep/onMetrics points) plus, at evaluations, the per-pair rewards and
// response lengths. It says, once per kind, when a run goes wrong in a way accuracy and loss
// alone do not show (docs/HEALTH.md: what each warning means and what to try).
//
// Torch-free and Qt-free: the trainer feeds it, the tests feed it synthetic streams, the GUI
// only reads its results (from the observer or from the project file).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/pair_outcomes.h"
#include "train/trainer.h"

namespace dpowb::train {

// Every threshold of every detector, in one place; docs/HEALTH.md explains each. "Nats" are
// differences of summed response log-probs (per-token for ipo, whose rewards are per token):
// a reward r = β·(log π_θ − log π_ref) is r/β nats.
struct HealthThresholds {
    // Likelihood displacement: the chosen reward is below -displacementNats·β, is at least
    // displacementShare of the rejected reward (the chosen responses lost at least that share of
    // what the rejected lost), and fell while the margin grew, for displacementPoints logged
    // points of one split in a row.
    double displacementNats = 1.0;
    double displacementShare = 1.0 / 3.0;
    int displacementPoints = 2;
    // The chosen responses' mean log-prob is more than refDropNats below the reference's.
    double refDropNats = 20.0;
    // Margin explained by length: |Pearson r| of per-pair margin against (chosen − rejected)
    // response tokens at an evaluation, over at least lengthMinPairs pairs whose length
    // difference is not constant, once the mean |margin| is above lengthMinMarginNats·β.
    double lengthCorrelation = 0.6;
    int lengthMinPairs = 16;
    double lengthMinMarginNats = 1.0;
    // Overfitting: train accuracy at least overfitTrainAccuracy while the latest eval accuracy
    // is more than overfitAccuracyGap below it.
    double overfitTrainAccuracy = 0.95;
    double overfitAccuracyGap = 0.15;
    // Eval margin falling: evalFallingPoints evaluations in a row below the previous one, and
    // the latest more than evalFallingFraction below the best so far.
    int evalFallingPoints = 2;
    double evalFallingFraction = 0.1;
    // No learning signal: noSignalPoints logged train points in a row whose mean |margin| is
    // below noSignalNats·β (loss stuck at its zero-margin value, log 2 for sigmoid), or whose
    // accuracy is exactly 0.
    int noSignalPoints = 3;
    double noSignalNats = 1e-3;
    // Gradient-norm spike: a step's norm above gradSpikeFactor × the median of the previous
    // gradSpikeWindow steps' norms, once gradSpikeWarmup steps have been seen.
    double gradSpikeFactor = 10.0;
    int gradSpikeWindow = 20;
    int gradSpikeWarmup = 10;
    // The "points" above are logged points of the run's --logging-steps when it sets one. With
    // the automatic logging interval (every step of a short run) the trainer judges train points
    // of windowSteps steps each instead, so that one noisy step is not a point of its own.
    int windowSteps = 10;
};

// What the detectors need to know about the run's loss.
struct HealthContext {
    std::string loss = "sigmoid";  // sigmoid | ipo | hinge | robust
    double beta = 0.1;
    bool referenceFree = false;    // no reference: the reward-level detectors stay off
    static HealthContext of(const TrainConfig& config);
};

// The warning kinds (stable strings: they are stored in project files and metrics files).
namespace health {
inline constexpr const char* kDisplacement = "likelihood_displacement";
inline constexpr const char* kBelowReference = "chosen_below_reference";
inline constexpr const char* kLength = "length_exploitation";
inline constexpr const char* kOverfitting = "overfitting";
inline constexpr const char* kEvalMarginFalling = "eval_margin_falling";
inline constexpr const char* kNoSignal = "no_learning_signal";
inline constexpr const char* kNonFinite = "non_finite";
inline constexpr const char* kGradSpike = "grad_norm_spike";
}  // namespace health

// The fixed text of a warning kind (the same words as docs/HEALTH.md).
struct HealthInfo {
    const char* code;
    const char* title;     // a few words
    const char* why;       // why it matters
    const char* tryThis;   // what to try
    const char* metric;    // the chart (docs/MATH.md metric name) the GUI marks it on
};
const std::vector<HealthInfo>& healthCatalogue();
const HealthInfo* healthInfo(const std::string& code);  // nullptr for an unknown code

// One fired warning: the step and split of the point that fired it, the figure that crossed
// its threshold, and a one-line message with the numbers.
struct HealthWarning {
    std::string code;
    int64_t step = 0;
    std::string split;  // "train" | "eval" | "step"
    double value = 0;
    std::string message;
};

// One evaluated pair, for the length detector and the per-pair views: the drill-down's record
// itself (summed response log-probs, reference 0 when reference-free; rewards; token counts),
// so that an evaluation stores its outcomes as they are. `chosen` is the run's side of the
// pair ("a"/"b"), set by the trainer when it stores them.
using PairOutcome = store::PairOutcomeRecord;

// Pearson's r of two equally long series; NaN when fewer than two points or either is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

class HealthMonitor {
public:
    explicit HealthMonitor(HealthContext context = {}, HealthThresholds thresholds = {});

    // Each returns the warnings that fired for the first time (each kind fires once per run).
    // A per-step point (onStep: loss, grad_norm).
    std::vector<HealthWarning> observeStep(const MetricPoint& point);
    // A logged point (onMetrics: split "train" or "eval"; "sft" points are ignored).
    std::vector<HealthWarning> observe(const MetricPoint& point);
    // The per-pair outcomes of one evaluation at `step`.
    std::vector<HealthWarning> observePairs(int64_t step, const std::string& split, const std::vector<PairOutcome>& pairs);

    // A kind that fired before (a resumed run): it does not fire again.
    void markFired(const std::string& code) { fired_.insert(code); }
    bool hasFired(const std::string& code) const { return fired_.count(code) > 0; }
    const std::vector<HealthWarning>& warnings() const { return warnings_; }
    const HealthThresholds& thresholds() const { return t_; }

private:
    struct SplitState {
        bool hasPrevChosen = false, hasPrevMargin = false;
        double prevChosen = 0, prevMargin = 0;
        int displacementStreak = 0;
        int noSignalStreak = 0;
        int fallingStreak = 0;
        bool hasBest = false;
        double bestMargin = 0;
    };
    void fire(std::vector<HealthWarning>& out, const char* code, int64_t step, const std::string& split, double value,
              const std::string& message);
    double nats(double reward) const;  // reward / β

    HealthContext c_;
    HealthThresholds t_;
    std::map<std::string, SplitState> splits_;
    std::deque<double> gradNorms_;
    int64_t gradSeen_ = 0;
    double lastTrainAccuracy_ = -1, lastEvalAccuracy_ = -1;
    int64_t lastEvalStep_ = -1;
    std::set<std::string> fired_;
    std::vector<HealthWarning> warnings_;
};

}  // namespace dpowb::train
