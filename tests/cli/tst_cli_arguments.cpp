// The command line as a newcomer meets it: every argument counts (an extra one is exit 2, not
// ignored), `import` takes several files all-or-nothing, an error is one line plus a hint,
// a wrong project path gets a sentence, `list` cuts text by characters, `runs` lists runs,
// progress lines never go into a log, and the commands that need no tensors do not link
// LibTorch.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include <nlohmann/json.hpp>

#include "store/formats.h"
#include "store/project.h"

namespace store = dpowb::store;
using nlohmann::json;

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result runCli(const QStringList& args, const QByteArray& stdinData = {}) {
    QProcess p;
    p.start(QStringLiteral(DPOWB_CLI), args);
    if (!stdinData.isEmpty()) p.write(stdinData);
    p.closeWriteChannel();
    Result r;
    if (!p.waitForFinished(120000)) {
        p.kill();
        r.err = "timed out";
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QString data(const char* name) { return QStringLiteral(DPOWB_TEST_DATA "/store/") + name; }

json statsOf(const QString& db) { return json::parse(runCli({"stats", db, "--json"}).out.toStdString()); }

// The error lines a usage error prints: the message, then the pointer to the help.
void verifyOneLinePlusHint(const Result& r, const QString& command) {
    QCOMPARE(r.code, 2);
    const QList<QByteArray> lines = r.err.trimmed().split('\n');
    QVERIFY2(lines.size() == 2, r.err.constData());
    QVERIFY2(lines[0].startsWith(("dpowb " + command + ": ").toUtf8()), r.err.constData());
    QVERIFY2(lines[1].contains(("dpowb " + command + " --help").toUtf8()), r.err.constData());
    QVERIFY(!r.err.contains("usage:"));  // not the whole help text
    QVERIFY(r.out.isEmpty());
}

}  // namespace

class TestCliArguments : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    QString db_;
    QString path(const QString& name) { return dir_.filePath(name); }

private Q_SLOTS:
    void initTestCase();
    void extraArgumentsAreRejected_data();
    void extraArgumentsAreRejected();
    void missingArguments_data();
    void missingArguments();
    void valueErrorsAreOneLine_data();
    void valueErrorsAreOneLine();
    void importSeveralFiles();
    void importSeveralFilesAllOrNothing();
    void projectPathSentences_data();
    void projectPathSentences();
    void listCutsByCharacters();
    void runsListsStatus();
    void noCarriageReturnsInLogs();
    void storeCommandsDoNotLinkLibTorch();
    void tensorCommandsHelpWithoutLibTorch_data();
    void tensorCommandsHelpWithoutLibTorch();
};

void TestCliArguments::initTestCase() {
    QVERIFY(dir_.isValid());
    db_ = path("demo.db");
    auto p = store::Project::create(db_.toStdString());
    store::addDemoPairs(p);
    std::ofstream(path("prompts.jsonl").toStdString()) << "{\"prompt\": \"The film was\"}\n";
}

void TestCliArguments::extraArgumentsAreRejected_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("extra");
    const QString db = path("demo.db"), out = path("never-written.jsonl");
    QTest::newRow("stats") << QStringList{"stats", db, "x"} << "x";
    QTest::newRow("stats --json") << QStringList{"stats", db, "--json", "x"} << "x";
    QTest::newRow("export") << QStringList{"export", db, out, "b"} << "b";
    QTest::newRow("label") << QStringList{"label", db, "1", "b", "extra"} << "extra";
    QTest::newRow("label undo") << QStringList{"label", db, "1", "undo", "2"} << "2";
    QTest::newRow("list") << QStringList{"list", db, "--limit", "3", "x"} << "x";
    QTest::newRow("init") << QStringList{"init", path("new.db"), "--demo", "x"} << "x";
    QTest::newRow("runs") << QStringList{"runs", db, "x"} << "x";
    QTest::newRow("runs-pairs") << QStringList{"runs-pairs", db, "1", "x"} << "x";
    QTest::newRow("tokenize") << QStringList{"tokenize", "--tokenizer", "builtin:byte", "x"} << "x";
    QTest::newRow("train") << QStringList{"train", "--db", db, "--model", "builtin:tiny", "x"} << "x";
    QTest::newRow("generate") << QStringList{"generate", "--model", "builtin:tiny", "--prompt", "hi", "x"} << "x";
    QTest::newRow("score") << QStringList{"score", "--model", "builtin:tiny", "--data", "-", "x"} << "x";
    QTest::newRow("sample-pairs") << QStringList{"sample-pairs", db, "--model", "builtin:tiny", "--prompts",
                                                  path("prompts.jsonl"), "x"}
                                  << "x";
    QTest::newRow("score-pairs") << QStringList{"score-pairs", db, "--model", "builtin:tiny", "x"} << "x";
}

void TestCliArguments::extraArgumentsAreRejected() {
    QFETCH(QStringList, args);
    QFETCH(QString, extra);
    const json before = statsOf(db_);
    Result r = runCli(args);
    verifyOneLinePlusHint(r, args[0]);
    QVERIFY2(r.err.contains(("unexpected argument \"" + extra + "\"").toUtf8()), r.err.constData());
    // Nothing was done: no label, no pair, no file, no project, no run.
    QCOMPARE(statsOf(db_), before);
    QVERIFY(!QFile::exists(path("never-written.jsonl")));
    QVERIFY(!QFile::exists(path("new.db")));
    QVERIFY(store::Project::open(db_.toStdString()).runs().empty());
}

void TestCliArguments::missingArguments_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("missing");
    QTest::newRow("import without files") << QStringList{"import", path("demo.db")} << "FILE";
    QTest::newRow("export without file") << QStringList{"export", path("demo.db")} << "FILE";
    QTest::newRow("label without verdict") << QStringList{"label", path("demo.db"), "1"} << "VERDICT";
    QTest::newRow("stats without DB") << QStringList{"stats"} << "DB";
    QTest::newRow("runs-pairs without RUN") << QStringList{"runs-pairs", path("demo.db")} << "RUN";
    QTest::newRow("score-pairs without DB") << QStringList{"score-pairs", "--model", "builtin:tiny"} << "DB";
}

void TestCliArguments::missingArguments() {
    QFETCH(QStringList, args);
    QFETCH(QString, missing);
    Result r = runCli(args);
    verifyOneLinePlusHint(r, args[0]);
    QVERIFY2(r.err.contains(("missing argument " + missing).toUtf8()), r.err.constData());
}

void TestCliArguments::valueErrorsAreOneLine_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("says");
    const QString db = path("demo.db"), prompts = path("prompts.jsonl");
    QTest::newRow("label verdict") << QStringList{"label", db, "1", "maybe"} << "got \"maybe\"";
    QTest::newRow("list verdict") << QStringList{"list", db, "--verdict", "good"} << "got \"good\"";
    QTest::newRow("unknown option") << QStringList{"stats", db, "--jsn"} << "--jsn";
    QTest::newRow("train beta") << QStringList{"train", "--db", db, "--model", "builtin:tiny", "--beta", "-1"}
                                << "--beta must be positive";
    QTest::newRow("train loss") << QStringList{"train", "--db", db, "--model", "builtin:tiny", "--loss", "kto"} << "kto";
    QTest::newRow("train chat template") << QStringList{"train", "--db", db, "--model", "builtin:tiny", "--chat-template",
                                                         "nosuch"}
                                         << "chatml";
    // The presets are the run form's (train/presets.h): an unknown name lists them.
    QTest::newRow("train preset") << QStringList{"train", "--db", db, "--model", "builtin:tiny", "--preset", "huge"}
                                  << "lora-real-model";
    QTest::newRow("train preset and config") << QStringList{"train", "--db", db, "--model", "builtin:tiny", "--preset",
                                                            "demo", "--config", prompts}
                                             << "--preset or --config";
    // Numbers come back as they were typed, not as std::to_string writes doubles.
    QTest::newRow("temperature") << QStringList{"sample-pairs", db, "--model", "builtin:tiny", "--ref", "builtin:tiny",
                                                "--prompts", prompts, "--temperature", "-1"}
                                 << "got -1";
    QTest::newRow("top-p") << QStringList{"sample-pairs", db, "--model", "builtin:tiny", "--ref", "builtin:tiny",
                                          "--prompts", prompts, "--top-p", "1.5"}
                           << "got 1.5";
}

void TestCliArguments::valueErrorsAreOneLine() {
    QFETCH(QStringList, args);
    QFETCH(QString, says);
    Result r = runCli(args);
    verifyOneLinePlusHint(r, args[0]);
    QVERIFY2(r.err.contains(says.toUtf8()), r.err.constData());
    QVERIFY2(!r.err.contains(".000000"), r.err.constData());
    QVERIFY(store::Project::open(db_.toStdString()).runs().empty());  // nothing recorded
}

void TestCliArguments::importSeveralFiles() {
    const QString db = path("several.db");
    QCOMPARE(runCli({"init", db}).code, 0);
    Result r = runCli({"import", db, data("trl.jsonl"), data("arena.jsonl"), data("hh-rlhf.jsonl"), "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    // One summary per file, and the project holds the pairs of all three.
    int inserted = 0;
    QStringList files;
    for (const QByteArray& line : r.out.trimmed().split('\n')) {
        json j = json::parse(line.toStdString());
        inserted += j["inserted"].get<int>();
        files << QString::fromStdString(j["file"].get<std::string>());
    }
    QCOMPARE(files, (QStringList{data("trl.jsonl"), data("arena.jsonl"), data("hh-rlhf.jsonl")}));
    QVERIFY(inserted > 0);
    QCOMPARE(statsOf(db)["pairs"].get<int>(), inserted);
    // Each file alone gives the same pairs: nothing was skipped.
    const QString one = path("one-by-one.db");
    QCOMPARE(runCli({"init", one}).code, 0);
    for (const char* f : {"trl.jsonl", "arena.jsonl", "hh-rlhf.jsonl"}) QCOMPARE(runCli({"import", one, data(f)}).code, 0);
    QCOMPARE(statsOf(one)["pairs"], statsOf(db)["pairs"]);
}

void TestCliArguments::importSeveralFilesAllOrNothing() {
    const QString db = path("atomic.db");
    QCOMPARE(runCli({"init", db}).code, 0);
    // The bad file last: the good ones before it were already parsed, and must not stay.
    Result r = runCli({"import", db, data("trl.jsonl"), data("arena.jsonl"), data("missing-field.jsonl")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.startsWith((data("missing-field.jsonl") + ":3: ").toUtf8()), r.err.constData());
    QVERIFY2(r.err.contains("nothing imported"), r.err.constData());
    QCOMPARE(statsOf(db)["pairs"].get<int>(), 0);
    Result missing = runCli({"import", db, data("trl.jsonl"), path("no-such-file.jsonl")});
    QCOMPARE(missing.code, 1);
    QCOMPARE(statsOf(db)["pairs"].get<int>(), 0);
}

void TestCliArguments::projectPathSentences_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("says");
    const QString folder = path("a-folder"), absent = path("absent.db");
    QDir().mkpath(folder);
    QTest::newRow("stats folder") << QStringList{"stats", folder} << "a folder, not a project file";
    QTest::newRow("list folder") << QStringList{"list", folder} << "a folder, not a project file";
    QTest::newRow("label folder") << QStringList{"label", folder, "1", "a"} << "a folder, not a project file";
    QTest::newRow("export folder") << QStringList{"export", folder, path("x.jsonl")} << "a folder, not a project file";
    QTest::newRow("import folder") << QStringList{"import", folder, data("trl.jsonl")} << "a folder, not a project file";
    QTest::newRow("runs folder") << QStringList{"runs", folder} << "a folder, not a project file";
    QTest::newRow("train folder") << QStringList{"train", "--db", folder, "--model", "builtin:tiny"}
                                  << "a folder, not a project file";
    QTest::newRow("score-pairs folder") << QStringList{"score-pairs", folder, "--model", "builtin:tiny"}
                                        << "a folder, not a project file";
    QTest::newRow("train model absent") << QStringList{"train", "--db", path("demo.db"), "--model", path("no-model")}
                                        << "not a model folder";
    QTest::newRow("train ref absent") << QStringList{"train", "--db", path("demo.db"), "--model", "builtin:tiny", "--ref",
                                                      folder}
                                      << "not a model folder";
    QTest::newRow("stats absent") << QStringList{"stats", absent} << "no such project file";
    QTest::newRow("train absent") << QStringList{"train", "--db", absent, "--model", "builtin:tiny"}
                                  << "no such project file";
}

void TestCliArguments::projectPathSentences() {
    QFETCH(QStringList, args);
    QFETCH(QString, says);
    Result r = runCli(args);
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(says.toUtf8()), r.err.constData());
    QVERIFY2(!r.err.contains("unable to open database file"), r.err.constData());
    QCOMPARE(r.err.count('\n'), 1);
    QVERIFY(!QFile::exists(path("absent.db")));
    QVERIFY(QDir(path("a-folder")).isEmpty());
    QVERIFY(store::Project::open(db_.toStdString()).runs().empty());  // no failed run recorded
}

void TestCliArguments::listCutsByCharacters() {
    const QString db = path("utf8.db");
    const std::string e = "\xC3\xA9";               // é, two bytes
    const std::string combining = "e\xCC\x81";      // e + combining acute: one character, three bytes
    const std::string smile = "\xF0\x9F\x98\x80";   // 😀, four bytes
    const std::string family = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";  // one grapheme
    std::string long60, long61;
    for (int i = 0; i < 60; ++i) long60 += combining;
    long61 = long60 + combining;
    struct Row {
        std::string prompt, a, b;
    };
    const std::vector<Row> rows = {
        {"end " + e, smile, "x" + family},
        {long61, std::string(40, 'a'), std::string(41, 'b')},
        {std::string(59, 'p') + family, e + e, smile + smile},
    };
    {
        auto p = store::Project::create(db.toStdString());
        for (const auto& r : rows) {
            store::Pair pair;
            pair.prompt = r.prompt;
            pair.responseA = r.a;
            pair.responseB = r.b;
            p.addPair(pair);
        }
    }
    Result r = runCli({"list", db});
    QVERIFY2(r.code == 0, r.err.constData());
    const QList<QByteArray> lines = r.out.split('\n');
    QCOMPARE(lines.size(), 4);  // three pairs and the final newline
    auto fields = [&](int i) { return lines[i].split('\t'); };
    // Whole fields come back whole, multibyte characters included.
    QCOMPARE(fields(0)[3].toStdString(), "end " + e);
    QCOMPARE(fields(0)[4].toStdString(), smile);
    QCOMPARE(fields(0)[5].toStdString(), "x" + family);
    // 61 characters of 3 bytes each: cut after 60 characters, never inside one.
    QCOMPARE(fields(1)[3].toStdString(), long60 + "...");
    QCOMPARE(fields(1)[4].toStdString(), std::string(40, 'a'));
    QCOMPARE(fields(1)[5].toStdString(), std::string(40, 'b') + "...");
    // 60 characters exactly (the last one of 18 bytes) are not cut.
    QCOMPARE(fields(2)[3].toStdString(), std::string(59, 'p') + family);
    QCOMPARE(fields(2)[4].toStdString(), e + e);
    QCOMPARE(fields(2)[5].toStdString(), smile + smile);
}

void TestCliArguments::runsListsStatus() {
    const QString db = path("runs.db");
    int64_t finished = 0, failed = 0, killed = 0, alive = 0;
    // A process that is gone: a child that has exited and been reaped.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    QVERIFY(child > 0);
    ::waitpid(child, nullptr, 0);
    {
        auto p = store::Project::create(db.toStdString());
        store::RunRecord r;
        r.name = "first";
        r.outputDir = "runs/1";
        finished = p.createRun(r);
        auto f = *p.run(finished);
        f.status = store::RunStatus::Finished;
        f.step = f.totalSteps = 10;
        f.summaryJson = R"({"eval":{"rewards/accuracies":1.0}})";
        p.updateRun(f);
        r.name = "second";
        failed = p.createRun(r);
        p.setRunStatus(failed, store::RunStatus::Failed, "out of memory: lower --batch-size");
        r.name = "killed";
        killed = p.createRun(r);  // heartbeat now, process gone (kill -9)
        auto k = *p.run(killed);
        k.pid = child;
        p.updateRun(k);
        r.name = "running";
        alive = p.createRun(r);  // this test process: alive
    }
    Result text = runCli({"runs", db});
    QVERIFY2(text.code == 0, text.err.constData());
    const QList<QByteArray> lines = text.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 4);
    QVERIFY(lines[0].startsWith(QByteArray::number(qlonglong(finished)) + "\tfinished\t10/10\t"));
    QVERIFY(lines[1].startsWith(QByteArray::number(qlonglong(failed)) + "\tfailed\t"));
    QVERIFY(lines[1].contains("out of memory"));
    // Gone from this host: interrupted at once (no 30 s wait for the heartbeat) and resumable.
    QVERIFY2(lines[2].startsWith(QByteArray::number(qlonglong(killed)) + "\tinterrupted\t"), lines[2].constData());
    QVERIFY(lines[2].contains("--resume " + QByteArray::number(qlonglong(killed))));
    QVERIFY(lines[3].startsWith(QByteArray::number(qlonglong(alive)) + "\trunning\t"));
    QVERIFY(lines[3].contains("pid " + QByteArray::number(qlonglong(::getpid()))));

    Result js = runCli({"runs", db, "--json"});
    QCOMPARE(js.code, 0);
    std::vector<json> runs;
    for (const QByteArray& line : js.out.trimmed().split('\n')) runs.push_back(json::parse(line.toStdString()));
    QCOMPARE(runs.size(), size_t(4));
    QCOMPARE(runs[0]["status"].get<std::string>(), std::string("finished"));
    QCOMPARE(runs[0]["summary"]["eval"]["rewards/accuracies"].get<double>(), 1.0);
    QCOMPARE(runs[1]["error"].get<std::string>(), std::string("out of memory: lower --batch-size"));
    QCOMPARE(runs[2]["status"].get<std::string>(), std::string("interrupted"));
    QCOMPARE(runs[2]["resumable"].get<bool>(), true);
    QCOMPARE(runs[3]["status"].get<std::string>(), std::string("running"));
    QCOMPARE(runs[3]["resumable"].get<bool>(), false);
    QVERIFY(runs[3]["finished_at"].is_null());
}

void TestCliArguments::noCarriageReturnsInLogs() {
    // stderr is a pipe here, as in a log: progress comes as whole lines, never "\r".
    const QString db = path("sample.db");
    QVERIFY(QFile::copy(db_, db));
    Result r = runCli({"sample-pairs", db, "--model", "builtin:tiny", "--ref", "builtin:tiny", "--prompts",
                      path("prompts.jsonl"), "--n", "3", "--max-new-tokens", "4"});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(!r.err.contains('\r'), r.err.constData());
    QVERIFY(r.err.contains("3/3 pairs generated\n"));
    QCOMPARE(r.out.count('\n'), 3);
    Result imp = runCli({"import", db, data("trl.jsonl")});
    QCOMPARE(imp.code, 0);
    QVERIFY(!imp.err.contains('\r'));
}

void TestCliArguments::storeCommandsDoNotLinkLibTorch() {
    // `dpowb` itself never loads LibTorch (it costs ~0.5 s per start); the tensor commands are
    // in dpowb-torch, which it execs.
    QProcess ldd;
    ldd.start("ldd", {QStringLiteral(DPOWB_CLI)});
    if (!ldd.waitForFinished(20000) || ldd.exitCode() != 0) QSKIP("ldd is not available");
    const QByteArray libs = ldd.readAllStandardOutput();
    QVERIFY2(libs.contains("libsqlite3"), libs.constData());  // the listing is real
    QVERIFY2(!libs.contains("libtorch") && !libs.contains("libc10"), libs.constData());
    const QString torchCli = QFileInfo(QStringLiteral(DPOWB_CLI)).dir().filePath("dpowb-torch");
    QVERIFY(QFileInfo(torchCli).isExecutable());
    ldd.start("ldd", {torchCli});
    QVERIFY(ldd.waitForFinished(20000));
    QVERIFY(ldd.readAllStandardOutput().contains("libtorch"));
    // The overview lists both kinds of command.
    Result help = runCli({"--help"});
    QCOMPARE(help.code, 0);
    for (const char* c : {"init", "import", "export", "list", "stats", "label", "runs", "runs-pairs", "tokenize", "train",
                          "score", "generate", "sample-pairs", "score-pairs"})
        QVERIFY2(help.out.contains(QByteArray("\n  ") + c + " "), c);
}

void TestCliArguments::tensorCommandsHelpWithoutLibTorch_data() {
    QTest::addColumn<QString>("command");
    for (const char* c : {"train", "score", "generate", "sample-pairs", "score-pairs"}) QTest::newRow(c) << QString(c);
}

void TestCliArguments::tensorCommandsHelpWithoutLibTorch() {
    QFETCH(QString, command);
    // With the tensor program out of reach, --help still works (dpowb prints it itself) and
    // running the command says what is missing.
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("DPOWB_TORCH_CLI", path("no-such-program"));
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(DPOWB_CLI), {command, "--help"});
    QVERIFY(p.waitForFinished(20000));
    QCOMPARE(p.exitCode(), 0);
    const QByteArray help = p.readAllStandardOutput();
    QVERIFY2(help.startsWith(("usage: dpowb " + command + " ").toUtf8()), help.constData());
    // The same text as the tensor program's own.
    QProcess own;
    own.start(QFileInfo(QStringLiteral(DPOWB_CLI)).dir().filePath("dpowb-torch"), {command, "--help"});
    QVERIFY(own.waitForFinished(30000));
    QCOMPARE(own.exitCode(), 0);
    QCOMPARE(own.readAllStandardOutput(), help);
    QProcess missing;
    missing.setProcessEnvironment(env);
    missing.start(QStringLiteral(DPOWB_CLI), {command, "--model", "builtin:tiny"});
    QVERIFY(missing.waitForFinished(20000));
    QCOMPARE(missing.exitCode(), 1);
    QVERIFY(missing.readAllStandardError().contains("no-such-program"));
}

QTEST_GUILESS_MAIN(TestCliArguments)
#include "tst_cli_arguments.moc"
