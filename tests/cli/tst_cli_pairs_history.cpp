// Label details through the real dpowb binary: what `dpowb label` records (strength, rationale,
// annotator, undo) survives a `pairs` export and import, and a teammate's file merges in.
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
    if (!p.waitForFinished(60000)) {
        p.kill();
        r.err = "timed out";
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QByteArray readAll(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();
}

std::vector<json> records(const QString& path) {
    std::vector<json> out;
    for (const auto& line : readAll(path).split('\n'))
        if (!line.isEmpty()) out.push_back(json::parse(line.toStdString()));
    return out;
}

size_t labelRows(const QString& path) {
    size_t n = 0;
    for (const auto& r : records(path)) n += r.at("labels").size();
    return n;
}

}  // namespace

class TestCliPairsHistory : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    QString path(const char* name) { return dir_.filePath(name); }
    void run(const QStringList& args) {
        Result r = dpowb(args);
        QVERIFY2(r.code == 0, qPrintable(args.join(' ') + ": " + QString::fromUtf8(r.err)));
    }

private Q_SLOTS:
    void labelDetailsSurviveRoundTripAndMerge();
};

void TestCliPairsHistory::labelDetailsSurviveRoundTripAndMerge() {
    const QString ours = path("ours.db"), theirs = path("theirs.db");
    const QString rationale = QStringLiteral("names the \"opening\"; keeps, tabs\tand ünïcode");
    run({"init", ours});
    run({"import", ours, QStringLiteral(DPOWB_TEST_DATA "/store/pairs.jsonl")});
    run({"label", ours, "1", "b", "--strength", "2", "--rationale", rationale, "--annotator", "alice"});
    run({"label", ours, "3", "a", "--annotator", "bob"});
    run({"label", ours, "3", "undo", "--annotator", "bob"});

    // Round trip: export, import into a new project, export again: the same bytes.
    const QString first = path("first.jsonl"), second = path("second.jsonl");
    run({"export", ours, first, "--format", "pairs"});
    run({"init", theirs});
    run({"import", theirs, first});
    run({"export", theirs, second, "--format", "pairs"});
    QCOMPARE(readAll(second), readAll(first));
    auto recs = records(second);
    QCOMPARE(recs.size(), size_t(6));
    const json& alice = recs[0]["labels"].back();
    QCOMPARE(alice["verdict"].get<std::string>(), std::string("b"));
    QCOMPARE(alice["strength"].get<int>(), 2);
    QCOMPARE(QString::fromStdString(alice["rationale"].get<std::string>()), rationale);
    QCOMPARE(alice["annotator"].get<std::string>(), std::string("alice"));
    QCOMPARE(recs[0]["label"].get<std::string>(), std::string("b"));
    // Pair 3: bob's label and its undo, back to unlabelled.
    QCOMPARE(recs[2]["labels"].size(), size_t(2));
    QCOMPARE(recs[2]["labels"][1]["reverts"].get<int>(), 0);
    QVERIFY(recs[2]["label"].is_null());

    // The copy's undo walks the restored stack: alice's b undone gives the imported a back.
    Result undo = dpowb({"label", theirs, "1", "undo"});
    QCOMPARE(undo.code, 0);
    QCOMPARE(undo.out.trimmed(), QByteArray("1 a"));
    run({"label", theirs, "1", "b", "--strength", "2", "--annotator", "carol"});
    run({"label", theirs, "5", "tie", "--rationale", "same", "--annotator", "carol"});

    // Their file merges into our project, whose pairs all exist: their rows arrive, ours stay.
    const QString back = path("back.jsonl"), merged = path("merged.jsonl"), again = path("again.jsonl");
    run({"export", theirs, back, "--format", "pairs"});
    const size_t before = labelRows(first);
    run({"import", ours, back});
    run({"export", ours, merged, "--format", "pairs"});
    QCOMPARE(labelRows(merged), before + 3);  // the undo of alice's b, carol's b, carol's tie
    auto m = records(merged);
    QCOMPARE(m[4]["label"].get<std::string>(), std::string("tie"));
    QCOMPARE(m[4]["labels"].back()["annotator"].get<std::string>(), std::string("carol"));
    QCOMPARE(m[0]["labels"].back()["annotator"].get<std::string>(), std::string("carol"));
    QCOMPARE(m[0]["labels"].back()["strength"].get<int>(), 2);
    // The same file again adds nothing.
    run({"import", ours, back});
    run({"export", ours, again, "--format", "pairs"});
    QCOMPARE(readAll(again), readAll(merged));
}

QTEST_GUILESS_MAIN(TestCliPairsHistory)
#include "tst_cli_pairs_history.moc"
