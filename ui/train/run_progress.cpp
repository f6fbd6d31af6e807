#include "run_progress.h"

#include <algorithm>
#include <cmath>

namespace dpowb::ui {

namespace {

constexpr double kSetup = 0.03;  // load and tokenize
constexpr double kSave = 0.02;   // the final model written
constexpr double kReference = 0.10;  // share of the middle span of a precomputed reference pass

double ratio(qint64 done, qint64 total) {
    if (total <= 0) return 0;
    return std::clamp(double(done) / double(total), 0.0, 1.0);
}

}  // namespace

RunProgress::RunProgress(const train::TrainConfig& config) : config_(config) {}

double RunProgress::costOfSft(qint64 steps) const {
    // Rows per step: batchSize; one forward + backward pass (about 3 forward passes) each.
    return double(steps) * double(std::max<int64_t>(1, config_.batchSize)) * 3.0;
}

double RunProgress::costOfDpo(qint64 steps) const {
    const bool reference = !config_.referenceFree && !config_.precomputeRef;
    const double perPair = 2 * 3.0 + (reference ? 2.0 : 0.0);
    return double(steps) * double(std::max<int64_t>(1, config_.batchSize)) *
           double(std::max<int64_t>(1, config_.gradAccum)) * perPair;
}

double RunProgress::advance(double to) {
    fraction_ = std::max(fraction_, std::clamp(to, 0.0, 1.0));
    return fraction_;
}

double RunProgress::report(const QString& phase, qint64 done, qint64 total) {
    phase_ = phase;
    const double middleEnd = 1.0 - kSave;
    const bool precomputed = config_.precomputeRef && !config_.referenceFree;
    if (phase == QLatin1String("load")) return advance(0);
    if (phase == QLatin1String("tokenize")) return advance(kSetup * ratio(done, total));
    if (phase == QLatin1String("sft")) {
        if (sftEnd_ < 0 && total > 0) {
            // The DPO steps the trainer will run, from the same rows and batch size.
            sftTotal_ = total;
            qint64 dpo = config_.maxSteps;
            if (dpo <= 0) {
                const qint64 perEpoch = (total + std::max<int64_t>(1, config_.sftEpochs) - 1) /
                                        std::max<int64_t>(1, config_.sftEpochs);
                const qint64 pairBatches = config_.sftOn == "both" ? (perEpoch + 1) / 2 : perEpoch;
                const qint64 steps = (pairBatches + std::max<int64_t>(1, config_.gradAccum) - 1) /
                                     std::max<int64_t>(1, config_.gradAccum);
                dpo = std::max<qint64>(1, qint64(std::ceil(config_.epochs * double(steps))));
            }
            const double sft = costOfSft(total), rest = costOfDpo(dpo);
            const double span = middleEnd - kSetup;
            const double afterReference = precomputed ? span * (1 - kReference) : span;
            sftEnd_ = kSetup + afterReference * sft / (sft + rest);
        }
        if (sftEnd_ < 0) return advance(kSetup);
        return advance(kSetup + (sftEnd_ - kSetup) * ratio(done, total));
    }
    const double begin = sftEnd_ >= 0 ? sftEnd_ : kSetup;
    if (phase == QLatin1String("reference")) {
        if (!precomputed) return advance(begin);  // loading the reference model: a moment
        referenceEnd_ = begin + (middleEnd - kSetup) * kReference;
        return advance(begin + (referenceEnd_ - begin) * ratio(done, total));
    }
    if (phase == QLatin1String("train")) {
        if (trainStart_ < 0) trainStart_ = std::max({fraction_, begin, referenceEnd_});
        dpoTotal_ = total;
        return advance(trainStart_ + (middleEnd - trainStart_) * ratio(done, total));
    }
    // eval, save (a checkpoint or the final model), anything new: where the run is.
    return fraction_;
}

double RunProgress::finish() {
    phase_ = QStringLiteral("finished");
    return advance(1.0);
}

}  // namespace dpowb::ui
