#include "train/health.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dpowb::train {

namespace {

std::string num(double v) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

bool get(const MetricPoint& p, const char* key, double& out) {
    auto it = p.values.find(key);
    if (it == p.values.end()) return false;
    out = it->second;
    return true;
}

}  // namespace

HealthContext HealthContext::of(const TrainConfig& config) {
    HealthContext c;
    c.loss = config.loss;
    c.beta = config.beta;
    c.referenceFree = !config.usesReference();
    return c;
}

const std::vector<HealthInfo>& healthCatalogue() {
    using namespace health;
    static const std::vector<HealthInfo> all = {
        {kDisplacement, "Likelihood displacement",
         "The margin grows because the rejected responses fall faster than the chosen ones, while the chosen "
         "responses become less likely too: the policy wins the preference by making both answers unlikely, "
         "and its own samples drift to text neither response resembles.",
         "Add the NLL term on the chosen responses (--rpo-alpha 1), lower --lr, or raise --beta; check the "
         "samples in the compare view.",
         "rewards/chosen"},
        {kBelowReference, "Chosen responses far below the reference",
         "The policy gives the responses you preferred much less probability than the reference did: it has "
         "moved far from the model it started from, in a direction the labels did not ask for.",
         "Lower --lr or the number of epochs, raise --beta, or add --rpo-alpha; compare samples of policy and "
         "reference.",
         "logps/chosen"},
        {kLength, "Margin explained by response length",
         "Across the evaluated pairs the margin follows the length difference of the two responses: the "
         "policy may be learning 'longer (or shorter) wins' rather than what the labels judge.",
         "Check whether the chosen responses are systematically longer (stats, label view); balance lengths in "
         "the data, or use --loss ipo, whose log-probs are averaged per token.",
         "rewards/margins"},
        {kOverfitting, "Train accuracy saturated, eval lags",
         "The policy separates its training pairs almost perfectly but not the held-out ones: it memorises the "
         "training pairs instead of learning the preference.",
         "Train fewer steps or epochs, lower --lr, raise --beta or --label-smoothing, or add data; use the "
         "checkpoint from before the gap opened.",
         "rewards/accuracies"},
        {kEvalMarginFalling, "Eval margin falling",
         "The held-out margin peaked and is now shrinking: further steps make the policy worse on pairs it has "
         "not seen.",
         "Stop earlier (the best evaluation's checkpoint), lower --lr, or use a cosine schedule with warm-up.",
         "rewards/margins"},
        {kNoSignal, "No learning signal",
         "The policy's margins do not move (the loss stays at its zero-margin value, log 2 for sigmoid) or no "
         "pair is ranked the right way: the run spends its time without learning the preference.",
         "Check the learning rate (not 0, not tiny for this model), that --max-length / --max-prompt-length "
         "keep the responses (truncation can leave them empty or identical), that chosen and rejected differ, "
         "and that the labels are not swapped.",
         "loss"},
        {kNonFinite, "Non-finite loss or gradient",
         "A loss or gradient norm became NaN or infinite: the weights are being destroyed and nothing after "
         "this point is meaningful.",
         "Lower --lr, keep --max-grad-norm on, raise --beta for ipo, or train in float32 instead of bfloat16.",
         "loss"},
        {kGradSpike, "Gradient-norm spike",
         "One step's gradient norm was many times the recent ones: a bad batch or an unstable step, which can "
         "undo what the run learned.",
         "Keep --max-grad-norm on (1.0), lower --lr or use warm-up steps, and look at the pairs of that step "
         "(very long or empty responses).",
         "grad_norm"},
    };
    return all;
}

const HealthInfo* healthInfo(const std::string& code) {
    for (const auto& i : healthCatalogue())
        if (code == i.code) return &i;
    return nullptr;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    const size_t n = std::min(x.size(), y.size());
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
    mx /= double(n);
    my /= double(n);
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; ++i) {
        const double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    return sxy / std::sqrt(sxx * syy);
}

HealthMonitor::HealthMonitor(HealthContext context, HealthThresholds thresholds)
    : c_(std::move(context)), t_(thresholds) {}

double HealthMonitor::nats(double reward) const { return c_.beta > 0 ? reward / c_.beta : reward; }

void HealthMonitor::fire(std::vector<HealthWarning>& out, const char* code, int64_t step, const std::string& split,
                         double value, const std::string& message) {
    if (fired_.count(code)) return;
    fired_.insert(code);
    HealthWarning w{code, step, split, value, message};
    warnings_.push_back(w);
    out.push_back(std::move(w));
}

std::vector<HealthWarning> HealthMonitor::observeStep(const MetricPoint& p) {
    std::vector<HealthWarning> out;
    double loss = 0, grad = 0;
    const bool hasLoss = get(p, "loss", loss), hasGrad = get(p, "grad_norm", grad);
    if (hasLoss && !std::isfinite(loss))
        fire(out, health::kNonFinite, p.step, "step", loss, "the loss is " + num(loss) + " at step " + std::to_string(p.step));
    if (hasGrad && !std::isfinite(grad))
        fire(out, health::kNonFinite, p.step, "step", grad,
             "the gradient norm is " + num(grad) + " at step " + std::to_string(p.step));
    if (hasGrad && std::isfinite(grad)) {
        if (gradSeen_ >= t_.gradSpikeWarmup && !gradNorms_.empty()) {
            std::vector<double> w(gradNorms_.begin(), gradNorms_.end());
            std::nth_element(w.begin(), w.begin() + w.size() / 2, w.end());
            const double median = w[w.size() / 2];
            if (median > 0 && grad > t_.gradSpikeFactor * median)
                fire(out, health::kGradSpike, p.step, "step", grad / median,
                     "gradient norm " + num(grad) + " at step " + std::to_string(p.step) + ", " + num(grad / median) +
                         "x the median of the previous " + std::to_string(gradNorms_.size()) + " steps (" + num(median) +
                         ")");
        }
        gradNorms_.push_back(grad);
        while (int(gradNorms_.size()) > std::max(1, t_.gradSpikeWindow)) gradNorms_.pop_front();
        ++gradSeen_;
    }
    return out;
}

std::vector<HealthWarning> HealthMonitor::observe(const MetricPoint& p) {
    std::vector<HealthWarning> out;
    if (p.split != "train" && p.split != "eval") return out;
    const std::string where = (p.split == "eval" ? "eval at step " : "step ") + std::to_string(p.step);
    for (const char* key : {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "grad_norm"}) {
        double v = 0;
        if (get(p, key, v) && !std::isfinite(v))
            fire(out, health::kNonFinite, p.step, p.split, v, std::string(key) + " is " + num(v) + " (" + where + ")");
    }
    double chosen = 0, margin = 0, accuracy = 0, loss = 0;
    const bool hasChosen = get(p, "rewards/chosen", chosen), hasMargin = get(p, "rewards/margins", margin);
    const bool hasAccuracy = get(p, "rewards/accuracies", accuracy), hasLoss = get(p, "loss", loss);
    SplitState& s = splits_[p.split];
    // Step 0 is the policy before any update (margins exactly 0): nothing to judge yet, but it
    // is the baseline the next point is compared with.
    const bool judged = p.step > 0;

    if (judged && hasChosen && hasMargin && !c_.referenceFree && std::isfinite(chosen) && std::isfinite(margin)) {
        // rejected = chosen − margin; both below 0 when the chosen share is positive.
        const double rejected = chosen - margin;
        const bool bothDown = rejected < 0 && chosen / rejected >= t_.displacementShare;
        if (s.hasPrevChosen && s.hasPrevMargin && nats(chosen) < -t_.displacementNats && bothDown && chosen < s.prevChosen &&
            margin > s.prevMargin)
            ++s.displacementStreak;
        else
            s.displacementStreak = 0;
        if (s.displacementStreak >= std::max(1, t_.displacementPoints))
            fire(out, health::kDisplacement, p.step, p.split, chosen,
                 "the chosen reward fell to " + num(chosen) + " (" + num(nats(chosen)) +
                     " nats vs the reference; rejected " + num(rejected) + ") while the margin grew to " + num(margin) +
                     " (" + where + "): both responses are being pushed down");
        if (nats(chosen) < -t_.refDropNats)
            fire(out, health::kBelowReference, p.step, p.split, nats(chosen),
                 "the chosen responses are " + num(-nats(chosen)) + " nats less likely under the policy than under the reference (" +
                     where + "; threshold " + num(t_.refDropNats) + ")");
    }

    if (p.split == "train" && judged) {
        if (hasAccuracy) lastTrainAccuracy_ = accuracy;
        const bool flat = hasMargin && std::fabs(nats(margin)) < t_.noSignalNats;
        const bool noneRight = hasAccuracy && accuracy == 0.0;
        if (flat || noneRight)
            ++s.noSignalStreak;
        else
            s.noSignalStreak = 0;
        if (s.noSignalStreak >= std::max(1, t_.noSignalPoints)) {
            std::string m = flat ? "the margin stayed at " + num(margin) + " for " + std::to_string(s.noSignalStreak) +
                                       " logged points (loss " + (hasLoss ? num(loss) : std::string("?")) + ")"
                                 : "no training pair ranked the right way for " + std::to_string(s.noSignalStreak) +
                                       " logged points (margin " + num(margin) + ")";
            fire(out, health::kNoSignal, p.step, p.split, flat ? margin : accuracy, m + ", up to step " + std::to_string(p.step));
        }
    }

    if (p.split == "eval" && judged) {
        if (hasAccuracy) {
            lastEvalAccuracy_ = accuracy;
            lastEvalStep_ = p.step;
            if (lastTrainAccuracy_ >= t_.overfitTrainAccuracy && accuracy < lastTrainAccuracy_ - t_.overfitAccuracyGap)
                fire(out, health::kOverfitting, p.step, p.split, lastTrainAccuracy_ - accuracy,
                     "train accuracy " + num(lastTrainAccuracy_) + " but eval accuracy " + num(accuracy) + " (" + where + ")");
        }
        if (hasMargin && std::isfinite(margin)) {
            if (s.hasPrevMargin && margin < s.prevMargin)
                ++s.fallingStreak;
            else
                s.fallingStreak = 0;
            if (!s.hasBest || margin > s.bestMargin) s.bestMargin = margin, s.hasBest = true;
            if (s.fallingStreak >= std::max(1, t_.evalFallingPoints) && s.bestMargin > 0 &&
                margin < s.bestMargin - t_.evalFallingFraction * s.bestMargin)
                fire(out, health::kEvalMarginFalling, p.step, p.split, margin,
                     "the eval margin fell for " + std::to_string(s.fallingStreak) + " evaluations in a row, to " + num(margin) +
                         " from its best " + num(s.bestMargin) + " (" + where + ")");
        }
    }

    if (hasChosen && std::isfinite(chosen)) s.hasPrevChosen = true, s.prevChosen = chosen;
    if (hasMargin && std::isfinite(margin)) s.hasPrevMargin = true, s.prevMargin = margin;
    return out;
}

std::vector<HealthWarning> HealthMonitor::observePairs(int64_t step, const std::string& split,
                                                       const std::vector<PairOutcome>& pairs) {
    std::vector<HealthWarning> out;
    if (int(pairs.size()) < std::max(2, t_.lengthMinPairs)) return out;
    std::vector<double> lengthDiff, margins;
    double meanAbs = 0;
    for (const auto& q : pairs) {
        if (!std::isfinite(q.margin())) return out;
        lengthDiff.push_back(double(q.chosenTokens - q.rejectedTokens));
        margins.push_back(q.margin());
        meanAbs += std::fabs(q.margin());
    }
    meanAbs /= double(pairs.size());
    const double r = pearson(lengthDiff, margins);
    if (std::fabs(nats(meanAbs)) < t_.lengthMinMarginNats) return out;
    if (std::isfinite(r) && std::fabs(r) > t_.lengthCorrelation)
        fire(out, health::kLength, step, split, r,
             "the per-pair margin correlates with the length difference (chosen - rejected tokens): r = " + num(r) +
                 " over " + std::to_string(pairs.size()) + " " + split + " pairs at step " + std::to_string(step) +
                 (r > 0 ? " (longer chosen responses win more)" : " (shorter chosen responses win more)"));
    return out;
}

}  // namespace dpowb::train
