// The store commands of the real dpowb binary: init, import, export, list, stats, label, their
// exit codes and their error lines.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result dpowb(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(DPOWB_CLI), args);
    Result r;
    if (!p.waitForFinished(300000)) {
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

QByteArray readAll(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();
}

}  // namespace

class TestCliStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    QString path(const char* name) { return dir_.filePath(name); }

private Q_SLOTS:
    void initDemoAndStats();
    void initRefusesExistingAndCleansUp();
    void labelAndUndo();
    void importExportRoundTrip();
    void badInputIsExitOneWithFileLine();
    void usageErrorsAreExitTwo_data();
    void usageErrorsAreExitTwo();
    void helpForEveryCommand_data();
    void helpForEveryCommand();
};

void TestCliStore::initDemoAndStats() {
    QString db = path("demo.dpowb");
    Result init = dpowb({"init", db, "--demo"});
    QVERIFY2(init.code == 0, init.err.constData());
    QVERIFY(init.out.isEmpty());  // results only on stdout, and init has none

    Result stats = dpowb({"stats", db, "--json"});
    QCOMPARE(stats.code, 0);
    json s = json::parse(stats.out.toStdString());
    // The demo set as specified: 2,000 + 200 labelled, 300 unlabelled.
    QCOMPARE(s["pairs"].get<int>(), 2500);
    QCOMPARE(s["labelled"].get<int>(), 2200);
    QCOMPARE(s["unlabelled"].get<int>(), 300);
    QCOMPARE(s["skipped"].get<int>(), 0);
    QCOMPARE(s["by_split"]["train"].get<int>(), 2300);
    QCOMPARE(s["by_split"]["test"].get<int>(), 200);
    for (const char* k : {"a", "b", "tie", "both_bad", "skip"}) QVERIFY2(s["by_verdict"].contains(k), k);

    // The same counts, tallied here from `list --json`.
    Result list = dpowb({"list", db, "--json"});
    QCOMPARE(list.code, 0);
    std::map<std::string, int> verdicts, splits;
    int lines = 0;
    for (const QByteArray& line : list.out.split('\n')) {
        if (line.isEmpty()) continue;
        json j = json::parse(line.toStdString());
        ++lines;
        QCOMPARE(j["id"].get<int>(), lines);  // ids in import order from 1
        verdicts[j["label"].is_null() ? "none" : j["label"].get<std::string>()]++;
        splits[j["split"].get<std::string>()]++;
    }
    QCOMPARE(lines, s["pairs"].get<int>());
    QCOMPARE(verdicts["a"], s["by_verdict"]["a"].get<int>());
    QCOMPARE(verdicts["b"], s["by_verdict"]["b"].get<int>());
    QCOMPARE(verdicts["none"], s["unlabelled"].get<int>());
    QCOMPARE(splits["test"], s["by_split"]["test"].get<int>());

    Result filtered = dpowb({"list", db, "--verdict", "unlabelled", "--limit", "7"});
    QCOMPARE(filtered.code, 0);
    QCOMPARE(filtered.out.count('\n'), 7);
}

void TestCliStore::initRefusesExistingAndCleansUp() {
    QString db = path("existing.dpowb");
    {
        QFile f(db);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("precious bytes");
    }
    Result r = dpowb({"init", db});
    QCOMPARE(r.code, 1);
    QVERIFY(r.err.contains("already exists"));
    QCOMPARE(readAll(db), QByteArray("precious bytes"));

    QString nowhere = path("no/such/folder/p.dpowb");
    Result bad = dpowb({"init", nowhere, "--demo"});
    QCOMPARE(bad.code, 1);
    QVERIFY(!QFile::exists(nowhere));
    QVERIFY(!bad.err.isEmpty());
    QCOMPARE(bad.err.count('\n'), 1);  // one line
    QVERIFY2(bad.err.contains("does not exist; create it first"), bad.err.constData());
}

void TestCliStore::labelAndUndo() {
    QString db = path("label.dpowb");
    QCOMPARE(dpowb({"init", db}).code, 0);
    QCOMPARE(dpowb({"import", db, data("pairs.jsonl")}).code, 0);  // pair 3 arrives unlabelled
    Result l1 = dpowb({"label", db, "3", "b"});
    QCOMPARE(l1.code, 0);
    QCOMPARE(l1.out, QByteArray("3 b\n"));
    QCOMPARE(dpowb({"label", db, "3", "both-bad", "--strength", "2", "--rationale", "both miss"}).out,
             QByteArray("3 both_bad\n"));
    QCOMPARE(dpowb({"label", db, "3", "undo"}).out, QByteArray("3 b\n"));
    QCOMPARE(dpowb({"label", db, "3", "undo"}).out, QByteArray("3 unlabelled\n"));
    Result nothing = dpowb({"label", db, "3", "undo"});
    QCOMPARE(nothing.code, 1);
    QVERIFY(nothing.err.contains("no label to undo"));
    Result missing = dpowb({"label", db, "999", "a"});
    QCOMPARE(missing.code, 1);
    QVERIFY(missing.err.contains("no pair with id 999"));
    QCOMPARE(dpowb({"label", db, "3", "skip"}).code, 0);
    json s = json::parse(dpowb({"stats", db, "--json"}).out.toStdString());
    QCOMPARE(s["by_verdict"]["skip"].get<int>(), 2);  // the fixture's skip + this one
    QCOMPARE(s["unlabelled"].get<int>(), 0);
}

void TestCliStore::importExportRoundTrip() {
    QString db = path("rt.dpowb");
    QCOMPARE(dpowb({"init", db}).code, 0);
    Result imp = dpowb({"import", db, data("arena.jsonl"), "--json"});
    QCOMPARE(imp.code, 0);
    json r = json::parse(imp.out.toStdString());
    QCOMPARE(r["format"].get<std::string>(), std::string("arena"));
    QCOMPARE(r["records"].get<int>(), 4);
    QVERIFY(imp.err.contains("4 records"));  // the summary goes to stderr
    Result again = dpowb({"import", db, data("arena.jsonl"), "--split", "test", "--json"});
    QCOMPARE(json::parse(again.out.toStdString())["duplicates"].get<int>(), 4);

    QString first = path("first.jsonl"), second = path("second.jsonl"), db2 = path("rt2.dpowb");
    QCOMPARE(dpowb({"export", db, first, "--format", "pairs"}).code, 0);
    QCOMPARE(dpowb({"init", db2}).code, 0);
    QCOMPARE(dpowb({"import", db2, first}).code, 0);
    QCOMPARE(dpowb({"export", db2, second, "--format", "pairs"}).code, 0);
    QCOMPARE(readAll(second), readAll(first));

    QString trl = path("trl.jsonl");
    Result ex = dpowb({"export", db, trl, "--format", "trl-conversational"});
    QCOMPARE(ex.code, 0);
    QCOMPARE(readAll(trl).count('\n'), 2);  // the model_a and model_b wins; ties are not pairs to train on
}

void TestCliStore::badInputIsExitOneWithFileLine() {
    QString db = path("bad.dpowb");
    QCOMPARE(dpowb({"init", db}).code, 0);
    QString file = data("missing-field.jsonl");
    Result r = dpowb({"import", db, file});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.startsWith((file + ":3: field \"rejected\": missing").toUtf8()), r.err.constData());
    QVERIFY(r.out.isEmpty());
    json s = json::parse(dpowb({"stats", db, "--json"}).out.toStdString());
    QCOMPARE(s["pairs"].get<int>(), 0);  // all or nothing

    Result utf = dpowb({"import", db, data("invalid-utf8.jsonl")});
    QCOMPARE(utf.code, 1);
    QVERIFY(utf.err.startsWith((data("invalid-utf8.jsonl") + ":2: invalid UTF-8").toUtf8()));
    Result noDb = dpowb({"stats", path("absent.dpowb")});
    QCOMPARE(noDb.code, 1);
    QVERIFY(!QFile::exists(path("absent.dpowb")));  // reading never creates a project
}

void TestCliStore::usageErrorsAreExitTwo_data() {
    QTest::addColumn<QStringList>("args");
    QTest::newRow("no command") << QStringList{};
    QTest::newRow("unknown command") << QStringList{"frobnicate"};
    QTest::newRow("init without DB") << QStringList{"init"};
    QTest::newRow("unknown option") << QStringList{"stats", "x.dpowb", "--jsn"};
    QTest::newRow("bad verdict") << QStringList{"label", "x.dpowb", "1", "maybe"};
    QTest::newRow("bad pair id") << QStringList{"label", "x.dpowb", "one", "a"};
    QTest::newRow("bad import format") << QStringList{"import", "x.dpowb", "f.jsonl", "--format", "yaml"};
    QTest::newRow("bad export format") << QStringList{"export", "x.dpowb", "f.jsonl", "--format", "hh-rlhf"};
    QTest::newRow("bad list verdict") << QStringList{"list", "x.dpowb", "--verdict", "good"};
    QTest::newRow("limit not a number") << QStringList{"list", "x.dpowb", "--limit", "ten"};
}

void TestCliStore::usageErrorsAreExitTwo() {
    QFETCH(QStringList, args);
    Result r = dpowb(args);
    QCOMPARE(r.code, 2);
    QVERIFY(!r.err.isEmpty() || !r.out.isEmpty());
    QVERIFY(!QFile::exists("x.dpowb"));
}

void TestCliStore::helpForEveryCommand_data() {
    QTest::addColumn<QString>("command");
    for (const char* c : {"init", "import", "export", "list", "stats", "label"}) QTest::newRow(c) << QString(c);
}

void TestCliStore::helpForEveryCommand() {
    QFETCH(QString, command);
    Result r = dpowb({command, "--help"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.startsWith(("usage: dpowb " + command + " ").toUtf8()), r.out.constData());
}

QTEST_GUILESS_MAIN(TestCliStore)
#include "tst_cli_store.moc"
