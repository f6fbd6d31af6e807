#include "train_job.h"

#include <algorithm>

#include <signal.h>

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <QTemporaryFile>
#include <nlohmann/json.hpp>

#include "error_line.h"
#include "store/project.h"

namespace dpowb::ui {

TrainJob::TrainJob(train::TrainConfig config, int processes, QString cli, QObject* parent)
    : QObject(parent), config_(std::move(config)), processes_(processes), cli_(cli.isEmpty() ? defaultCli() : cli) {
    registerTrainMetaTypes();
    process_.setProcessChannelMode(QProcess::SeparateChannels);
    connect(&process_, &QProcess::readyReadStandardError, this, &TrainJob::readStderr);
    connect(&process_, &QProcess::finished, this, &TrainJob::onExit);
    connect(&process_, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
        if (e != QProcess::FailedToStart) return;
        train::TrainResult r;
        r.status = store::RunStatus::Failed;
        r.error = tr("cannot start %1 (%2)").arg(cli_, process_.errorString()).toStdString();
        Q_EMIT finished(r);
    });
    poller_.setInterval(kPollMs);
    connect(&poller_, &QTimer::timeout, this, &TrainJob::poll);
}

TrainJob::~TrainJob() {
    if (process_.state() != QProcess::NotRunning) {
        requestStop();
        process_.waitForFinished(60000);
    }
    if (!configFile_.isEmpty()) QFile::remove(configFile_);
}

QString TrainJob::defaultCli() {
    const QByteArray env = qgetenv("DPOWB_CLI");
    if (!env.isEmpty()) return QString::fromLocal8Bit(env);
    return QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("dpowb"));
}

void TrainJob::setCudaDevices(const QList<int>& devices) {
    if (devices.isEmpty()) return;
    QStringList ids;
    for (int d : devices) ids << QString::number(d);
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("CUDA_VISIBLE_DEVICES"), ids.join(','));
    process_.setProcessEnvironment(env);
}

void TrainJob::start() {
    // The whole configuration goes as one JSON file (dpowb train --config), so that nothing of
    // the form is lost in a translation to options.
    QTemporaryFile file(QDir::temp().filePath(QStringLiteral("dpowb-job-XXXXXX.json")));
    file.setAutoRemove(false);
    if (!file.open()) {
        train::TrainResult r;
        r.status = store::RunStatus::Failed;
        r.error = tr("cannot write the job's configuration in %1").arg(QDir::tempPath()).toStdString();
        Q_EMIT finished(r);
        return;
    }
    file.write(QByteArray::fromStdString(config_.toJson()));
    file.close();
    configFile_ = file.fileName();
    arguments_ = {QStringLiteral("train"), QStringLiteral("--config"), configFile_, QStringLiteral("--nproc"),
                  QString::number(processes_)};
    if (config_.resumeRunId > 0)
        arguments_ = {QStringLiteral("train"), QStringLiteral("--db"), QString::fromStdString(config_.db),
                      QStringLiteral("--resume"), QString::number(config_.resumeRunId), QStringLiteral("--nproc"),
                      QString::number(processes_)};
    Q_EMIT phase(QStringLiteral("load"), 0, 0);
    const QString gpus = process_.processEnvironment().value(QStringLiteral("CUDA_VISIBLE_DEVICES"));
    Q_EMIT log(int(train::LogLevel::Info), tr("Starting %1 processes: %2%3 %4")
                                               .arg(processes_)
                                               .arg(gpus.isEmpty() ? QString() : QStringLiteral("CUDA_VISIBLE_DEVICES=%1 ").arg(gpus),
                                                    cli_, arguments_.join(' ')));
    process_.start(cli_, arguments_);
}

void TrainJob::requestStop() {
    if (process_.state() == QProcess::NotRunning) return;
    ::kill(pid_t(process_.processId()), SIGINT);
}

void TrainJob::requestPause(bool paused) {
    if (process_.state() == QProcess::NotRunning || !canPause()) return;
    ::kill(pid_t(process_.processId()), paused ? SIGUSR1 : SIGUSR2);
}

void TrainJob::readStderr() {
    pendingErr_ += process_.readAllStandardError();
    int nl;
    static const QRegularExpression runLine(QStringLiteral("^run (\\d+), output (.+)$"));
    while ((nl = pendingErr_.indexOf('\n')) >= 0) {
        const QString line = QString::fromUtf8(pendingErr_.left(nl)).trimmed();
        pendingErr_.remove(0, nl + 1);
        if (line.isEmpty()) continue;
        const auto m = runLine.match(line);
        if (m.hasMatch() && runId_ == 0) {
            runId_ = m.captured(1).toLongLong();
            outputDir_ = m.captured(2);
            Q_EMIT runCreated(runId_, outputDir_);
            poller_.start();
            continue;
        }
        static const QRegularExpression pauseLine(QStringLiteral("^(paused|resumed) after step (\\d+)"));
        if (const auto p = pauseLine.match(line); p.hasMatch()) {
            Q_EMIT paused(p.captured(2).toLongLong(), p.captured(1) == QLatin1String("paused"));
            continue;
        }
        // The rank 0 lines of metrics reach the GUI through the project; the rest is the log.
        static const QRegularExpression metricLine(QStringLiteral("^(eval |sft )?step \\d+/"));
        if (metricLine.match(line).hasMatch()) continue;
        if (line.startsWith(QLatin1String("dpowb train"))) lastError_ = errorLine(line.section(QStringLiteral(": "), 1));
        const int level = line.startsWith(QLatin1String("warning: ")) ? int(train::LogLevel::Warning)
                          : line.startsWith(QLatin1String("dpowb train")) ? int(train::LogLevel::Error)
                                                                          : int(train::LogLevel::Info);
        Q_EMIT log(level, level == int(train::LogLevel::Info) ? line : errorLine(line));
    }
}

void TrainJob::poll() {
    if (runId_ <= 0 || config_.db.empty()) return;
    try {
        if (!project_) project_ = std::make_unique<store::Project>(store::Project::openReadOnly(config_.db));
        // Only the rows written since the last poll, in the order they were written (a long run
        // logged every step would otherwise be read whole every second).
        const auto rows = project_->metricsAfter(runId_, lastMetricId_);
        const auto run = project_->run(runId_);
        const int64_t total = run ? run->totalSteps : 0;
        for (size_t i = 0; i < rows.size(); ++i) {
            lastMetricId_ = std::max(lastMetricId_, rows[i].id);
            // A point written twice for one (split, step) is reported once.
            if (!metricsSeen_.insert({rows[i].split, rows[i].step}).second) continue;
            train::MetricPoint p;
            p.step = rows[i].step;
            p.totalSteps = total;
            p.epoch = rows[i].epoch;
            p.split = rows[i].split;
            const auto values = nlohmann::json::parse(rows[i].valuesJson);
            for (const auto& [k, v] : values.items())
                if (v.is_number()) p.values[k] = v.get<double>();
            Q_EMIT metrics(p);
            if (p.split == "train") Q_EMIT step(p);
        }
    } catch (const std::exception& e) {
        // The file is busy or not readable yet: the next poll tries again.
        project_.reset();
    }
}

void TrainJob::onExit(int code, QProcess::ExitStatus status) {
    poller_.stop();
    readStderr();
    poll();  // the last metrics
    train::TrainResult r;
    r.runId = runId_;
    r.outputDir = outputDir_.toStdString();
    if (status == QProcess::NormalExit && code == 0) {
        r.status = store::RunStatus::Finished;
        try {
            const auto j = nlohmann::json::parse(process_.readAllStandardOutput().trimmed().toStdString());
            r.steps = j.value("steps", int64_t(0));
            r.outputDir = j.value("output_dir", r.outputDir);
            r.referenceDir = j.value("reference_dir", std::string());
            for (const auto& [k, v] : j.items()) {
                if (!v.is_number() || k == "run_id" || k == "steps") continue;
                if (k.rfind("eval_", 0) == 0) r.finalEval[k.substr(5)] = v.get<double>();
                else r.finalTrain[k] = v.get<double>();
            }
        } catch (const std::exception&) {
        }
    } else if (status == QProcess::NormalExit && code == 130) {
        r.status = store::RunStatus::Cancelled;
    } else {
        r.status = store::RunStatus::Failed;
        r.error = lastError_.isEmpty() ? tr("the training processes ended with status %1").arg(code).toStdString()
                                       : lastError_.toStdString();
    }
    if (project_ && runId_ > 0) {
        try {
            if (auto run = project_->run(runId_)) r.steps = std::max(r.steps, run->step);
        } catch (const std::exception&) {
        }
    }
    project_.reset();
    Q_EMIT finished(r);
}

}  // namespace dpowb::ui
