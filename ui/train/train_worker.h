// Runs one DPO training run on a QThread and reports to the GUI through queued signals.
//
// The worker is moved to its own thread; it implements the trainer's observer interface
// (called on the training thread) and re-emits value structs, so the GUI never reads the
// worker's state. Pause and stop go through the atomics of train::TrainControl, which the
// trainer checks between steps; requestPause()/requestStop() may be called from any thread.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <memory>

#include "train_metatypes.h"

namespace dpowb::ui {

class TrainWorker : public QObject, public train::TrainObserver {
    Q_OBJECT
public:
    // `control` is shared with the GUI so that pause and stop stay valid whatever the
    // worker's lifetime; a fresh one is made when none is given.
    explicit TrainWorker(train::TrainConfig config, std::shared_ptr<train::TrainControl> control = {},
                         QObject* parent = nullptr);

    // Thread-safe: only flip the trainer's atomics.
    void requestPause(bool paused) { pause(*control_, paused); }
    void requestStop() { stop(*control_); }
    static void pause(train::TrainControl& control, bool paused);
    static void stop(train::TrainControl& control);
    const std::shared_ptr<train::TrainControl>& control() const { return control_; }

    // The cheap per-step summary is forwarded at most this often (the last step always).
    static constexpr int kStepIntervalMs = 50;

public Q_SLOTS:
    // Runs the whole training synchronously on the worker's thread, then emits finished().
    void run();

Q_SIGNALS:
    void runCreated(qint64 runId, const QString& outputDir);
    void phase(const QString& name, qint64 done, qint64 total);
    void step(const dpowb::train::MetricPoint& point);
    void metrics(const dpowb::train::MetricPoint& point);
    void log(int level, const QString& message);
    // The trainer holds for a pause after `step` steps (true), or goes on (false).
    void paused(qint64 step, bool holding);
    // A training-health warning fired (once per kind and run).
    void health(const dpowb::store::HealthRow& warning);
    void finished(const dpowb::train::TrainResult& result);

private:
    // train::TrainObserver, called on the training thread.
    void onRunCreated(int64_t runId, const std::string& outputDir) override;
    void onPhase(const std::string& phase, int64_t done, int64_t total) override;
    void onStep(const train::MetricPoint& point) override;
    void onMetrics(const train::MetricPoint& point) override;
    void onLog(train::LogLevel level, const std::string& message) override;
    void onPaused(int64_t step, bool holding) override;
    void onHealth(const train::HealthWarning& warning) override;

    train::TrainConfig config_;
    std::shared_ptr<train::TrainControl> control_;
    QElapsedTimer sinceStepEmit_;
    QElapsedTimer sincePhaseEmit_;
    std::string lastPhase_;
    int64_t runId_ = 0;
};

}  // namespace dpowb::ui
