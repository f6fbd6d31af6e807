// `dpowb train` through the real binary: help with the demo preset, a short run on --data,
// Ctrl-C (exit 130, run cancelled, resumable) and kill -9 (run marked interrupted on the next open).
#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include "store/project.h"
#include "store/formats.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

// How long to wait for the CLI before calling it a hang. Not a speed requirement: its pace
// depends on the machine and on what else runs on it.
constexpr int kWaitMs = 300000;

QProcess* startTrain(const QStringList& args, QObject* parent) {
    auto* p = new QProcess(parent);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("DPOWB_NO_COLOR", "1");
    p->setProcessEnvironment(env);
    p->start(DPOWB_CLI, QStringList{"train"} + args);
    return p;
}

// Waits until stderr shows a training step, so the signal lands inside the loop.
bool waitForStep(QProcess* p, QByteArray& err, int timeoutMs) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs) {
        p->waitForReadyRead(200);
        err += p->readAllStandardError();
        if (err.contains("\nstep ")) return true;
        if (p->state() == QProcess::NotRunning) return false;
    }
    return false;
}

std::string writeData(const QTemporaryDir& dir, int n) {
    const std::string path = dir.filePath("pairs.jsonl").toStdString();
    std::ofstream out(path);
    for (int i = 0; i < n; ++i)
        out << json{{"prompt", "Review " + std::to_string(i) + ": it was"}, {"chosen", " great fun"}, {"rejected", " a dull mess"}}.dump()
            << "\n";
    return path;
}

std::string makeDemoProject(const QTemporaryDir& dir) {
    const std::string db = dir.filePath("demo.db").toStdString();
    auto p = store::Project::create(db);
    store::addDemoPairs(p);
    return db;
}

}  // namespace

class TestCliTrain : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void helpShowsDemoPreset();
    void shortRunOnData();
    void usageErrors();
    void ctrlCCancelsWithCheckpoint();
    void killMarksInterrupted();
};

void TestCliTrain::helpShowsDemoPreset() {
    QProcess p;
    p.start(DPOWB_CLI, {"train", "--help"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 0);
    const QString out = p.readAllStandardOutput();
    QVERIFY(out.contains("demo preset"));
    QVERIFY(out.contains("--sft-on both"));
    for (const char* opt : {"--loss", "--beta", "--label-smoothing", "--reference-free", "--rpo-alpha", "--ref", "--precompute-ref",
                            "--sft-epochs", "--lr", "--epochs", "--max-steps", "--batch-size", "--grad-accum", "--max-length",
                            "--max-prompt-length", "--truncation-mode", "--warmup-steps", "--weight-decay",
                            "--lr-scheduler-type", "--max-grad-norm", "--adam-beta1", "--adam-beta2", "--adam-epsilon",
                            "--lora-rank", "--lora-alpha", "--lora-dropout", "--lora-target-modules", "--dtype", "--device",
                            "--seed", "--logging-steps", "--eval-steps", "--metrics", "--resume"})
        QVERIFY2(out.contains(opt), opt);
}

void TestCliTrain::shortRunOnData() {
    QTemporaryDir dir;
    const std::string data = writeData(dir, 8);
    const QString out = dir.filePath("model"), metrics = dir.filePath("m.jsonl");
    QProcess p;
    p.start(DPOWB_CLI, {"train", "--data", QString::fromStdString(data), "--model", "builtin:tiny", "--out", out, "--max-steps",
                        "2", "--sft-epochs", "0", "--batch-size", "4", "--logging-steps", "1", "--metrics", metrics});
    QVERIFY(p.waitForFinished(kWaitMs));
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(p.exitCode() == 0, err.constData());
    json result = json::parse(p.readAllStandardOutput().toStdString());  // stdout: one JSON object
    QCOMPARE(result["steps"].get<int>(), 2);
    QVERIFY(result.contains("rewards/accuracies"));
    QVERIFY(QFile::exists(out + "/model.safetensors"));
    QVERIFY(QFile::exists(out + "/tokenizer.json"));
    std::ifstream in(metrics.toStdString());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        json j = json::parse(line);
        if (!j.contains("loss")) continue;
        ++n;
        QVERIFY(j.contains("rewards/margins") && j.contains("step") && j.contains("epoch"));
    }
    QCOMPARE(n, 2);
    QVERIFY(err.contains("step 2/2"));  // plain progress lines when stderr is not a terminal
}

void TestCliTrain::usageErrors() {
    QProcess p;
    p.start(DPOWB_CLI, {"train", "--model", "builtin:tiny"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 2);
    p.start(DPOWB_CLI, {"train", "--data", "x.jsonl", "--model", "builtin:tiny", "--betta", "0.1"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 2);
    QVERIFY(p.readAllStandardError().contains("--betta"));
    p.start(DPOWB_CLI, {"train", "--data", "x.jsonl", "--model", "builtin:tiny", "--loss", "kto"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 1);
    QVERIFY(p.readAllStandardError().contains("kto"));
}

void TestCliTrain::ctrlCCancelsWithCheckpoint() {
    QTemporaryDir dir;
    const std::string db = makeDemoProject(dir);
    QProcess* p = startTrain({"--db", QString::fromStdString(db), "--model", "builtin:tiny", "--sft-epochs", "0",
                              "--logging-steps", "1", "--eval-steps", "0", "--out", dir.filePath("run")},
                             this);
    QByteArray err;
    QVERIFY2(waitForStep(p, err, kWaitMs), err.constData());
    ::kill(pid_t(p->processId()), SIGINT);
    QVERIFY(p->waitForFinished(kWaitMs));
    err += p->readAllStandardError();
    QCOMPARE(p->exitCode(), 130);
    QVERIFY2(err.contains("--resume 1"), err.constData());
    QVERIFY(QFile::exists(dir.filePath("run/checkpoint/state.json")));
    auto project = store::Project::open(db);
    auto run = project.run(1);
    QVERIFY(run);
    QVERIFY(run->status == store::RunStatus::Cancelled);
}

void TestCliTrain::killMarksInterrupted() {
    QTemporaryDir dir;
    const std::string db = makeDemoProject(dir);
    QProcess* p = startTrain({"--db", QString::fromStdString(db), "--model", "builtin:tiny", "--sft-epochs", "0",
                              "--logging-steps", "1", "--out", dir.filePath("run")},
                             this);
    QByteArray err;
    QVERIFY2(waitForStep(p, err, kWaitMs), err.constData());
    p->kill();  // SIGKILL: no chance to clean up
    QVERIFY(p->waitForFinished(kWaitMs));
    {
        auto project = store::Project::open(db);
        auto run = project.run(1);
        QVERIFY(run->status == store::RunStatus::Running);  // heartbeat still fresh: not touched yet
        // Age the heartbeat past the 30 s limit instead of sleeping through it.
        run->heartbeatAt -= 60'000;
        project.updateRun(*run);
    }
    auto project = store::Project::open(db);
    QVERIFY(project.run(1)->status == store::RunStatus::Interrupted);
}

QTEST_MAIN(TestCliTrain)
#include "tst_cli_train.moc"
