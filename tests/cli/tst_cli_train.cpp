// `dpowb train` through the real binary: help with the demo preset, a short run on --data,
// Ctrl-C (exit 130, run cancelled, resumable), kill -9 (run interrupted at once, resumable at
// once), --out that would destroy an input, --max-length against the model's context,
// --chat-template, and an error said once.
#include <QtTest>

#include <QCryptographicHash>
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

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result train(const QStringList& args, int timeoutMs = 120000) {
    QProcess p;
    p.start(DPOWB_CLI, QStringList{"train"} + args);
    Result r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = "timed out";
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QByteArray digest(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256);
}

// A small project: n labelled train pairs and two test pairs.
std::string makeSmallProject(const QTemporaryDir& dir, const char* name, int n) {
    const std::string db = dir.filePath(name).toStdString();
    auto p = store::Project::create(db);
    for (int i = 0; i < n + 2; ++i) {
        store::Pair pair;
        pair.prompt = "Review " + std::to_string(i) + ": it was";
        pair.responseA = " great fun";
        pair.responseB = " a dull mess";
        pair.split = i < n ? "train" : "test";
        pair.verdict = store::Verdict::A;
        p.addPair(pair);
    }
    return db;
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
    void combinedLossRun();
    void ctrlCCancelsWithCheckpoint();
    void killMarksInterrupted();
    void resumeAfterKillWindows_data();
    void resumeAfterKillWindows();
    void outRefusesInputs_data();
    void outRefusesInputs();
    void outReusesOwnRunFolder();
    void maxLengthFollowsTheModel();
    void chatTemplateByName();
    void errorIsPrintedOnce();
    void dataMatchesImport_data();
    void dataMatchesImport();

private:
    QTemporaryDir models_;
    // A real model folder (builtin:tiny after one step, as any run writes it); made once.
    QString modelFolder();
    QString model_;
};

QString TestCliTrain::modelFolder() {
    if (!model_.isEmpty()) return model_;
    const std::string data = writeData(models_, 8);
    const QString out = models_.filePath("model");
    Result r = train({"--data", QString::fromStdString(data), "--model", "builtin:tiny", "--out", out, "--max-steps", "1",
                      "--sft-epochs", "0", "--batch-size", "4"});
    if (r.code != 0) qWarning("%s", r.err.constData());
    if (r.code == 0) model_ = out;
    return model_;
}

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
                            "--seed", "--logging-steps", "--eval-steps", "--metrics", "--resume", "--loss-weights",
                            "--simpo-gamma", "--ld-alpha", "--use-weighting", "--f-divergence-type",
                            "--f-alpha-divergence-coef", "--sync-ref-model", "--ref-model-mixup-alpha",
                            "--ref-model-sync-steps", "simpo", "orpo", "sft"})
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

// MPO through the command line: the run records TRL's loss_type list and weights, and its metrics
// carry the sft term's nll_loss.
void TestCliTrain::combinedLossRun() {
    QTemporaryDir dir;
    const std::string data = writeData(dir, 8);
    QProcess p;
    p.start(DPOWB_CLI, {"train", "--data", QString::fromStdString(data), "--model", "builtin:tiny", "--out",
                        dir.filePath("model"), "--max-steps", "2", "--sft-epochs", "0", "--rpo-alpha", "0", "--batch-size", "4",
                        "--logging-steps", "1", "--loss", "sigmoid,bco_pair,sft", "--loss-weights", "0.8,0.2,1"});
    QVERIFY(p.waitForFinished(kWaitMs));
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(p.exitCode() == 0, err.constData());
    json result = json::parse(p.readAllStandardOutput().toStdString());
    QCOMPARE(result["steps"].get<int>(), 2);
    QVERIFY(result.contains("nll_loss"));

    // A file whose format cannot be told: the message names train's own option.
    const QString unknown = dir.filePath("unknown.jsonl");
    std::ofstream(unknown.toStdString()) << R"({"question": "q", "answer": "a"})" << "\n";
    p.start(DPOWB_CLI, {"train", "--data", unknown, "--model", "builtin:tiny", "--out", dir.filePath("model3")});
    QVERIFY(p.waitForFinished(kWaitMs));
    const QByteArray err3 = p.readAllStandardError();
    QVERIFY2(p.exitCode() == 1 && err3.contains("unknown.jsonl:1") && err3.contains("pass --data-format"),
             err3.constData());

    // builtin:tiny's preset adds RPO α 1 (an sft term); a --loss naming sft replaces it rather
    // than being refused for an option the user did not give.
    p.start(DPOWB_CLI, {"train", "--data", QString::fromStdString(data), "--model", "builtin:tiny", "--out",
                        dir.filePath("model2"), "--max-steps", "1", "--sft-epochs", "0", "--batch-size", "4",
                        "--loss", "sigmoid,sft"});
    QVERIFY(p.waitForFinished(kWaitMs));
    const QByteArray err2 = p.readAllStandardError();
    QVERIFY2(p.exitCode() == 0, err2.constData());
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
    QCOMPARE(p.exitCode(), 2);  // a bad value is a usage error, found before anything runs
    QVERIFY(p.readAllStandardError().contains("kto"));
    // TRL's loss list: a weight count that does not match, a weight that is not a number, a
    // reference option beside a loss that trains without one, each named.
    const std::vector<std::pair<QStringList, QString>> bad = {
        {{"--loss", "sigmoid,bco_pair", "--loss-weights", "0.8"}, "1 weights for 2 losses"},
        {{"--loss", "sigmoid,sft", "--loss-weights", "0.8,x"}, "--loss-weights"},
        {{"--loss", "orpo", "--ref", "builtin:tiny"}, "drop --ref"},
        {{"--sync-ref-model", "--lora-rank", "4"}, "--sync-ref-model"},
        {{"--f-divergence-type", "forward_kl", "--loss", "bco_pair"}, "bco_pair has no f-divergence form"},
    };
    for (const auto& [args, message] : bad) {
        p.start(DPOWB_CLI, QStringList{"train", "--data", "x.jsonl", "--model", "builtin:tiny"} + args);
        QVERIFY(p.waitForFinished(kWaitMs));
        const QByteArray err = p.readAllStandardError();
        QVERIFY2(p.exitCode() == 2 && err.contains(message.toUtf8()), qPrintable(args.join(' ') + ": " + err));
    }
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
                              "--logging-steps", "1", "--save-steps", "1", "--out", dir.filePath("run")},
                             this);
    QByteArray err;
    QVERIFY2(waitForStep(p, err, kWaitMs), err.constData());
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(dir.filePath("run/checkpoint/state.json")), kWaitMs);
    p->kill();  // SIGKILL: no chance to clean up
    QVERIFY(p->waitForFinished(kWaitMs));
    {
        // The process is gone from this host: interrupted at once, although its heartbeat is
        // fresh (no 30 s wait, no cancel command needed).
        auto project = store::Project::open(db);
        auto run = project.run(1);
        QVERIFY(run->status == store::RunStatus::Interrupted);
        QVERIFY(run->heartbeatAt > 0);
    }
    // ... and resumable at once, from the checkpoint of step 1.
    QProcess* again = startTrain({"--db", QString::fromStdString(db), "--resume", "1"}, this);
    QByteArray err2;
    QVERIFY2(waitForStep(again, err2, 60000), err2.constData());
    ::kill(pid_t(again->processId()), SIGINT);
    QVERIFY(again->waitForFinished(30000));
    QCOMPARE(again->exitCode(), 130);
    auto project = store::Project::open(db);
    QVERIFY(project.run(1)->status == store::RunStatus::Cancelled);
}

// A SIGKILL can land anywhere: before the run's first checkpoint, between the two renames that
// swap a new checkpoint in, before the run folder (or its path) was recorded. Each state is made
// here from a finished run (no timing), and `--resume` must finish the run from it.
void TestCliTrain::resumeAfterKillWindows_data() {
    QTest::addColumn<QString>("window");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("says");
    QTest::newRow("before the first checkpoint") << "no checkpoint" << 0 << "starts again from step 0";
    QTest::newRow("between the checkpoint renames") << "swap" << 0 << "resuming run 1 at step 4";
    QTest::newRow("before the folder was made") << "no folder" << 0 << "starts again from step 0";
    QTest::newRow("before the folder was recorded") << "no path" << 0 << "starts again from step 0";
    QTest::newRow("folder taken by other files") << "foreign" << 1 << "cannot resume run 1";
}

void TestCliTrain::resumeAfterKillWindows() {
    QFETCH(QString, window);
    QFETCH(int, exitCode);
    QFETCH(QString, says);
    QTemporaryDir dir;
    const std::string db = makeSmallProject(dir, "p.db", 8);
    Result first = train({"--db", QString::fromStdString(db), "--model", "builtin:tiny", "--sft-epochs", "0", "--max-steps",
                          "4", "--save-steps", "2", "--batch-size", "2", "--eval-steps", "0"});
    QVERIFY2(first.code == 0, first.err.constData());
    QString out;
    {
        auto project = store::Project::open(db);
        auto run = project.run(1);
        QVERIFY(run);
        out = QString::fromStdString(run->outputDir);  // the default folder, <project>.runs/1
        QVERIFY2(QFile::exists(out + "/checkpoint/state.json"), qPrintable(out));
        if (window == "no path") run->outputDir.clear();
        run->status = store::RunStatus::Interrupted;
        project.updateRun(*run);
    }
    if (window == "no checkpoint") QVERIFY(QDir(out + "/checkpoint").removeRecursively());
    if (window == "swap") QVERIFY(QDir().rename(out + "/checkpoint", out + "/checkpoint.old"));
    if (window == "no folder" || window == "no path" || window == "foreign") QVERIFY(QDir(out).removeRecursively());
    if (window == "foreign") {
        QVERIFY(QDir().mkpath(out));
        QFile f(out + "/notes.txt");
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("not the run's");
    }
    Result again = train({"--db", QString::fromStdString(db), "--resume", "1"});
    QVERIFY2(again.code == exitCode, again.err.constData());
    QVERIFY2(again.err.contains(says.toUtf8()), again.err.constData());
    auto project = store::Project::open(db);
    auto run = project.run(1);
    if (exitCode != 0) {
        QCOMPARE(QFile(out + "/notes.txt").exists(), true);  // nothing of theirs written over
        QVERIFY(run->status != store::RunStatus::Finished);
        return;
    }
    QVERIFY(run->status == store::RunStatus::Finished);
    QCOMPARE(run->step, int64_t(4));
    QCOMPARE(QString::fromStdString(run->outputDir), out);
    QVERIFY(QFile::exists(out + "/model.safetensors"));
    QVERIFY(QFile::exists(out + "/.dpowb-run.json"));
    QVERIFY(!QFile::exists(out + "/checkpoint.old"));
}

void TestCliTrain::outRefusesInputs_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("says");
    QTest::newRow("--out is the model") << "model" << "the base model's folder";
    QTest::newRow("--out is the reference") << "reference" << "the reference's folder";
    QTest::newRow("--out holds other files") << "foreign" << "not empty and not made by a run";
    QTest::newRow("--out is a run of another project") << "other project" << "another project";
    QTest::newRow("--out is a file") << "file" << "not a folder";
}

void TestCliTrain::outRefusesInputs() {
    QFETCH(QString, kind);
    QFETCH(QString, says);
    const QString model = modelFolder();
    QVERIFY(!model.isEmpty());
    QTemporaryDir dir;
    const std::string db = makeSmallProject(dir, "p.db", 8);
    QString out;
    QStringList args{"--db", QString::fromStdString(db), "--max-steps", "1", "--sft-epochs", "0", "--batch-size", "4"};
    if (kind == "model") {
        out = model;
        args << "--model" << model;
    } else if (kind == "reference") {
        out = model;
        args << "--model" << "builtin:tiny" << "--ref" << model;
    } else if (kind == "foreign") {
        out = dir.filePath("mine");
        QDir().mkpath(out);
        QFile f(out + "/notes.txt");
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("keep me");
        args << "--model" << "builtin:tiny";
    } else if (kind == "other project") {
        // A run folder made by a run of another project.
        const std::string other = makeSmallProject(dir, "other.db", 8);
        out = dir.filePath("other-run");
        Result first = train({"--db", QString::fromStdString(other), "--model", "builtin:tiny", "--out", out, "--max-steps",
                              "1", "--sft-epochs", "0", "--batch-size", "4"});
        QVERIFY2(first.code == 0, first.err.constData());
        QVERIFY(QFile::exists(out + "/.dpowb-run.json"));
        args << "--model" << "builtin:tiny";
    } else if (kind == "file") {
        out = dir.filePath("a-file");
        QFile f(out);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("keep me");
        args << "--model" << "builtin:tiny";
    }
    args << "--out" << out;
    QMap<QString, QByteArray> before;
    const QFileInfo outInfo(out);
    if (outInfo.isDir()) {
        for (const QString& name : QDir(out).entryList(QDir::Files | QDir::Hidden)) before[name] = digest(out + "/" + name);
    } else {
        before[""] = digest(out);
    }
    Result r = train(args);
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(says.toUtf8()), r.err.constData());
    QVERIFY2(r.err.contains("--out"), r.err.constData());  // says what to do
    QCOMPARE(r.err.count('\n'), 1);
    // Nothing written there, nothing recorded.
    for (auto it = before.begin(); it != before.end(); ++it)
        QCOMPARE(digest(it.key().isEmpty() ? out : out + "/" + it.key()), it.value());
    if (outInfo.isDir()) QCOMPARE(QDir(out).entryList(QDir::Files | QDir::Hidden).size(), before.size());
    QVERIFY(store::Project::open(db).runs().empty());
}

void TestCliTrain::outReusesOwnRunFolder() {
    QTemporaryDir dir;
    const std::string db = makeSmallProject(dir, "p.db", 8);
    const QString out = dir.filePath("again");
    const QStringList args{"--db", QString::fromStdString(db), "--model", "builtin:tiny", "--out", out, "--max-steps", "1",
                           "--sft-epochs", "0", "--batch-size", "4"};
    Result first = train(args);
    QVERIFY2(first.code == 0, first.err.constData());
    json marker;
    {
        std::ifstream in((out + "/.dpowb-run.json").toStdString());
        marker = json::parse(in);
    }
    QCOMPARE(marker["run_id"].get<int>(), 1);
    // Run 1's folder holds run 1's models: a second run does not write over them unasked.
    Result refused = train(args);
    QCOMPARE(refused.code, 1);
    QVERIFY2(refused.err.contains("run 1 of this project"), refused.err.constData());
    QCOMPARE(store::Project::open(db).runs().size(), size_t(1));
    Result second = train(args + QStringList{"--overwrite-output-dir"});  // the explicit choice
    QVERIFY2(second.code == 0, second.err.constData());
    std::ifstream in((out + "/.dpowb-run.json").toStdString());
    json marker2 = json::parse(in);
    QCOMPARE(marker2["run_id"].get<int>(), 2);
    QCOMPARE(marker2["project_id"], marker["project_id"]);
}

void TestCliTrain::maxLengthFollowsTheModel() {
    const QString model = modelFolder();
    QVERIFY(!model.isEmpty());
    // The model's own context, from its config.json.
    QFile cfg(model + "/config.json");
    QVERIFY(cfg.open(QIODevice::ReadOnly));
    const int64_t context = json::parse(cfg.readAll().toStdString())["max_position_embeddings"].get<int64_t>();
    QVERIFY(context > 16);
    QTemporaryDir dir;
    const std::string db = makeSmallProject(dir, "p.db", 8);
    Result tooLong = train({"--db", QString::fromStdString(db), "--model", model, "--max-length",
                            QString::number(context + 1)});
    QCOMPARE(tooLong.code, 2);
    QVERIFY2(tooLong.err.contains(("model's context (" + std::to_string(context) + " positions)").c_str()),
             tooLong.err.constData());
    QVERIFY(store::Project::open(db).runs().empty());  // checked before the run is recorded

    Result r = train({"--db", QString::fromStdString(db), "--model", model, "--max-steps", "1", "--sft-epochs", "0",
                      "--batch-size", "4", "--out", dir.filePath("run")});
    QVERIFY2(r.code == 0, r.err.constData());
    auto runs = store::Project::open(db).runs();
    QCOMPARE(runs.size(), size_t(1));
    const json config = json::parse(runs[0].configJson);
    QCOMPARE(config["max_length"].get<int64_t>(), context);  // the default is what the model takes
    QVERIFY(config["max_prompt_length"].get<int64_t>() < context);
}

void TestCliTrain::chatTemplateByName() {
    QTemporaryDir dir;
    const std::string data = dir.filePath("chat.jsonl").toStdString();
    {
        std::ofstream out(data);
        for (int i = 0; i < 4; ++i)
            out << json{{"prompt", json::array({{{"role", "user"}, {"content", "Review " + std::to_string(i)}}})},
                        {"chosen", json::array({{{"role", "assistant"}, {"content", "great fun"}}})},
                        {"rejected", json::array({{{"role", "assistant"}, {"content", "a dull mess"}}})}}
                       .dump()
                << "\n";
    }
    // The model folder without the chat template in its tokenizer_config.json.
    const QString source = modelFolder();
    QVERIFY(!source.isEmpty());
    const QString model = dir.filePath("no-template");
    QVERIFY(QDir().mkpath(model));
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
        QVERIFY(QFile::copy(source + "/" + f, model + "/" + f));
    {
        std::ifstream in((model + "/tokenizer_config.json").toStdString());
        json cfg = json::parse(in);
        QVERIFY(cfg.erase("chat_template") == 1);
        std::ofstream((model + "/tokenizer_config.json").toStdString(), std::ios::trunc) << cfg.dump();
    }
    const QStringList base{"--data", QString::fromStdString(data), "--model", model, "--max-steps", "1",
                           "--sft-epochs", "0", "--batch-size", "2"};
    // A model folder whose tokenizer_config.json has no chat template: the error names the option ...
    Result without = train(base + QStringList{"--out", dir.filePath("a")});
    QCOMPARE(without.code, 1);
    QVERIFY2(without.err.contains("chat template"), without.err.constData());
    // ... and the option exists.
    Result with = train(base + QStringList{"--out", dir.filePath("b"), "--chat-template", "chatml"});
    QVERIFY2(with.code == 0, with.err.constData());
    QCOMPARE(json::parse(with.out.toStdString())["steps"].get<int>(), 1);
    // A template that is not one of the known ones is refused too, naming the ones there are.
    {
        std::ifstream in((model + "/tokenizer_config.json").toStdString());
        json cfg = json::parse(in);
        cfg["chat_template"] = "{% for m in messages %}<<{{ m['role'] }}>>{{ m['content'] }}{% endfor %}";
        std::ofstream((model + "/tokenizer_config.json").toStdString(), std::ios::trunc) << cfg.dump();
    }
    Result unknown = train(base + QStringList{"--out", dir.filePath("c")});
    QCOMPARE(unknown.code, 1);
    for (const char* name : {"chatml", "llama3", "qwen3"})
        QVERIFY2(unknown.err.contains(name), unknown.err.constData());
}

// One parser: `train --data FILE` and `import FILE` + `train --db` train on the same pairs in
// the same order, so the first step's metrics (summed log-probs of every chosen and rejected
// sequence: a different token anywhere changes them) are equal to the last bit.
void TestCliTrain::dataMatchesImport_data() {
    QTest::addColumn<QString>("file");
    for (const char* f : {"trl.jsonl", "trl-implicit.jsonl", "trl-conversational.jsonl", "hh-rlhf.jsonl",
                          "ultrafeedback.jsonl", "openai.jsonl", "arena.jsonl", "llamafactory-sharegpt.json",
                          "llamafactory-alpaca.json", "llamafactory-v1.json", "stack-exchange-paired.jsonl", "trl.csv",
                          "ultrafeedback.parquet"})
        QTest::newRow(f) << QString(f);
}

void TestCliTrain::dataMatchesImport() {
    QFETCH(QString, file);
    const QString model = modelFolder();
    QVERIFY(!model.isEmpty());
    QTemporaryDir dir;
    const QString data = QString(DPOWB_TEST_DATA) + "/store/" + file;
    const QStringList common{"--model", model, "--max-steps", "1", "--sft-epochs", "0", "--batch-size", "2",
                             "--logging-steps", "1", "--seed", "7"};
    auto firstStep = [](const QString& metrics) {
        std::ifstream in(metrics.toStdString());
        std::string line;
        while (std::getline(in, line)) {
            json j = json::parse(line);
            if (!j.contains("loss")) continue;
            json kept = json::object();
            for (auto& [k, v] : j.items())
                if (k == "loss" || k == "grad_norm" || k.rfind("rewards/", 0) == 0 || k.rfind("logps/", 0) == 0 ||
                    k.rfind("logits/", 0) == 0 || k == "num_tokens")
                    kept[k] = v;
            return kept;
        }
        return json();
    };
    Result direct = train(common + QStringList{"--data", data, "--out", dir.filePath("a"), "--metrics", dir.filePath("a.jsonl")});
    QVERIFY2(direct.code == 0, direct.err.constData());

    const QString db = dir.filePath("p.db");
    store::Project::create(db.toStdString());
    QProcess imp;
    imp.start(DPOWB_CLI, {"import", db, data});
    QVERIFY(imp.waitForFinished(kWaitMs));
    QVERIFY2(imp.exitCode() == 0, imp.readAllStandardError().constData());
    Result viaProject = train(common + QStringList{"--db", db, "--out", dir.filePath("b"), "--metrics", dir.filePath("b.jsonl")});
    QVERIFY2(viaProject.code == 0, viaProject.err.constData());

    const json a = firstStep(dir.filePath("a.jsonl")), b = firstStep(dir.filePath("b.jsonl"));
    QVERIFY2(a.contains("logps/chosen") && a.contains("loss"), a.dump().c_str());
    QCOMPARE(QString::fromStdString(a.dump()), QString::fromStdString(b.dump()));
}

void TestCliTrain::errorIsPrintedOnce() {
    QTemporaryDir dir;
    const std::string db = dir.filePath("empty.db").toStdString();
    store::Project::create(db);
    Result r = train({"--db", QString::fromStdString(db), "--model", "builtin:tiny"});
    QCOMPARE(r.code, 1);
    QCOMPARE(r.err.count("no training pairs"), 1);
    QVERIFY2(!r.err.contains("error: "), r.err.constData());
    QVERIFY(r.err.contains("dpowb train: "));
}

QTEST_MAIN(TestCliTrain)
#include "tst_cli_train.moc"
