// A data-parallel run started from the GUI: `dpowb train --nproc N` as a child process (its
// ranks are processes of their own, so they cannot run on the GUI's training thread), followed
// through the project file, where rank 0 records the run and its metrics.
//
// It emits what TrainWorker emits (run created, steps, metrics, log lines, the result), so the
// Train page shows a job like an in-process run. Stop is SIGINT to the launcher, pause and
// resume SIGUSR1/SIGUSR2, which it passes to rank 0; the ranks agree on the step to hold
// after, and rank 0's "paused after step N" / "resumed" lines come back as paused().
#pragma once

#include <QObject>
#include <QProcess>
#include <QString>
#include <QTimer>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "train_metatypes.h"

namespace dpowb::store {
class Project;
}

namespace dpowb::ui {

class TrainJob : public QObject {
    Q_OBJECT
public:
    // `cli`: the dpowb program (by default beside this program).
    TrainJob(train::TrainConfig config, int processes, QString cli = {}, QObject* parent = nullptr);
    ~TrainJob() override;

    static QString defaultCli();
    // The command line the job runs (after start(): with its configuration file).
    QStringList arguments() const { return arguments_; }

    // The GPUs the job may use (CUDA indices): its ranks see only these (CUDA_VISIBLE_DEVICES),
    // rank i on the i-th. Empty: the environment's own. Before start().
    void setCudaDevices(const QList<int>& devices);
    QProcessEnvironment environment() const { return process_.processEnvironment(); }

    void start();
    // Ctrl-C for the whole job: every rank stops after its current step and checkpoints.
    void requestStop();
    // Hold after the current step (true) or go on (false). Only once the run exists (the
    // launcher has its signal handlers then).
    void requestPause(bool paused);
    bool canPause() const { return runId_ > 0; }
    qint64 processId() const { return process_.processId(); }

    // How often the project is read for new metrics.
    static constexpr int kPollMs = 500;

Q_SIGNALS:
    void runCreated(qint64 runId, const QString& outputDir);
    void phase(const QString& name, qint64 done, qint64 total);
    void step(const dpowb::train::MetricPoint& point);
    void metrics(const dpowb::train::MetricPoint& point);
    void log(int level, const QString& message);
    void paused(qint64 step, bool holding);
    void finished(const dpowb::train::TrainResult& result);

private:
    void readStderr();
    void poll();
    void onExit(int code, QProcess::ExitStatus status);

    train::TrainConfig config_;
    int processes_;
    QString cli_;
    QStringList arguments_;
    QString configFile_;
    QProcess process_;
    QTimer poller_;
    QByteArray pendingErr_;
    QString lastError_;
    qint64 runId_ = 0;
    QString outputDir_;
    std::unique_ptr<store::Project> project_;  // read-only, opened once the run exists
    std::set<std::pair<std::string, int64_t>> metricsSeen_;  // (split, step) already reported
    int64_t lastMetricId_ = 0;  // the newest metric row read
};

}  // namespace dpowb::ui
