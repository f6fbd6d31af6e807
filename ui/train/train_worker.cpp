#include "train_worker.h"

#include <exception>

#include "common/error.h"
#include "error_line.h"
#include "train/health.h"

namespace dpowb::ui {

void registerTrainMetaTypes() {
    qRegisterMetaType<train::MetricPoint>("dpowb::train::MetricPoint");
    qRegisterMetaType<train::TrainResult>("dpowb::train::TrainResult");
    qRegisterMetaType<train::TrainConfig>("dpowb::train::TrainConfig");
    qRegisterMetaType<store::HealthRow>("dpowb::store::HealthRow");
}

TrainWorker::TrainWorker(train::TrainConfig config, std::shared_ptr<train::TrainControl> control, QObject* parent)
    : QObject(parent),
      config_(std::move(config)),
      control_(control ? std::move(control) : std::make_shared<train::TrainControl>()) {
    registerTrainMetaTypes();
}

void TrainWorker::pause(train::TrainControl& control, bool paused) { control.pause.store(paused); }

void TrainWorker::stop(train::TrainControl& control) {
    control.cancel.store(true);
    // A paused trainer must wake up to see the cancel flag and write its checkpoint.
    control.pause.store(false);
}

void TrainWorker::run() {
    sinceStepEmit_.invalidate();
    sincePhaseEmit_.invalidate();
    train::TrainResult result;
    try {
        result = train::runTraining(config_, *this, *control_);
    } catch (const std::exception& e) {
        // runTraining throws only for an invalid configuration; the GUI shows it like any
        // other failure.
        result.status = store::RunStatus::Failed;
        result.error = e.what();
    } catch (...) {
        result.status = store::RunStatus::Failed;
        result.error = "training stopped with an unknown error";
    }
    Q_EMIT finished(result);
}

void TrainWorker::onRunCreated(int64_t runId, const std::string& outputDir) {
    runId_ = runId;
    Q_EMIT runCreated(runId, QString::fromStdString(outputDir));
}

void TrainWorker::onPhase(const std::string& name, int64_t done, int64_t total) {
    // Phases like tokenization can report thousands of times a second; a new phase, the
    // end of one and a few updates a second are what a person can see.
    const bool changed = name != lastPhase_;
    const bool last = total > 0 && done >= total;
    if (!changed && !last && sincePhaseEmit_.isValid() && sincePhaseEmit_.elapsed() < kStepIntervalMs)
        return;
    lastPhase_ = name;
    sincePhaseEmit_.start();
    Q_EMIT phase(QString::fromStdString(name), done, total);
}

void TrainWorker::onStep(const train::MetricPoint& point) {
    const bool last = point.totalSteps > 0 && point.step >= point.totalSteps;
    if (!last && sinceStepEmit_.isValid() && sinceStepEmit_.elapsed() < kStepIntervalMs) return;
    sinceStepEmit_.start();
    Q_EMIT step(point);
}

void TrainWorker::onMetrics(const train::MetricPoint& point) {
    // Every logged point goes to the charts; they batch on their own timer.
    Q_EMIT metrics(point);
}

void TrainWorker::onLog(train::LogLevel level, const std::string& message) {
    // Warnings and errors can quote the data or a model file: one bounded line, as in the CLI.
    Q_EMIT log(static_cast<int>(level),
               level == train::LogLevel::Info ? QString::fromStdString(message) : errorLine(message));
}

void TrainWorker::onHealth(const train::HealthWarning& w) {
    Q_EMIT health(store::HealthRow{runId_, w.step, w.split, w.code, w.value, w.message, 0});
}

void TrainWorker::onPaused(int64_t step, bool holding) { Q_EMIT paused(step, holding); }

}  // namespace dpowb::ui
