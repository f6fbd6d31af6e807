// One progress figure for a whole training run, from the trainer's phase reports.
//
// The trainer reports each phase on its own scale ("sft 12 / 40", "train 3 / 50", "eval 0 /
// 64"); shown as they come, a bar restarts at every phase. Here the run is one span: setup
// (load, tokenize) at the start, the final save at the end, and between them the SFT warm-up,
// the reference pass and the DPO steps, sized by their estimated cost: an SFT step is one
// forward and backward pass per row, a DPO step two of them per pair plus the reference's two
// forward passes (none when the reference is precomputed). The DPO step count is known only
// when training starts; before that it is estimated from the SFT warm-up as the trainer
// computes it. The figure never goes back; evaluation keeps it where training left it.
#pragma once

#include <QString>

#include "train/trainer.h"

namespace dpowb::ui {

class RunProgress {
public:
    explicit RunProgress(const train::TrainConfig& config = {});

    // A phase report (phase, done, total) as TrainObserver::onPhase gives it. Returns the
    // run's fraction done, in [0, 1], never less than the last one.
    double report(const QString& phase, qint64 done, qint64 total);
    // The run ended well: 1.
    double finish();
    double fraction() const { return fraction_; }
    QString phase() const { return phase_; }

private:
    double costOfSft(qint64 steps) const;
    double costOfDpo(qint64 steps) const;
    double advance(double to);

    train::TrainConfig config_;
    QString phase_;
    double fraction_ = 0;
    // The middle span [kSetup, 1 - kSave], split once the SFT size is known.
    qint64 sftTotal_ = 0;
    qint64 dpoTotal_ = 0;
    double sftEnd_ = -1;       // where the SFT warm-up ends
    double referenceEnd_ = -1; // where the reference pass ends
    double trainStart_ = -1;   // where the DPO steps begin
};

}  // namespace dpowb::ui
