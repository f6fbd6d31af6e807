// `dpowb runs-diff DB A B` through the real binary: the pairs added, removed and relabelled
// between two runs' label snapshots (text and --json), the runs' data fingerprints in
// `dpowb runs --json`, and the errors for a run that does not exist or is not a number.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include "store/project.h"
#include "store/provenance.h"

#include "../common/cli_run.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

using Result = test::CliResult;

Result cli(const QStringList& args) { return test::runCli(args); }

// A run record whose snapshot is the project's current training data (as the trainer makes it).
int64_t recordRun(store::Project& p, const char* name) {
    json snap = json::array();
    std::vector<store::SnapshotEntry> entries;
    for (const char* split : {"train", "test"})
        for (const auto& t : p.trainingPairs(split)) {
            const std::string v = p.pair(t.pairId)->verdict == store::Verdict::A ? "a" : "b";
            snap.push_back({t.pairId, v, t.labelId});
            entries.push_back({t.pairId, v, t.labelId});
        }
    store::RunRecord r;
    r.name = name;
    r.snapshotJson = snap.dump();
    r.dataFingerprint = store::dataFingerprint(p, entries);
    const int64_t id = p.createRun(r);
    p.setRunStatus(id, store::RunStatus::Finished);
    return id;
}

}  // namespace

class TestCliRunsDiff : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void diffOfTwoRuns();
    void errors();

private:
    QTemporaryDir dir_;
};

void TestCliRunsDiff::diffOfTwoRuns() {
    const std::string db = dir_.filePath("runs.dpowb").toStdString();
    std::vector<int64_t> ids;
    int64_t first = 0, second = 0;
    {
        auto p = store::Project::create(db);
        for (int i = 0; i < 8; ++i) {
            store::Pair pair;
            pair.prompt = "prompt " + std::to_string(i);
            pair.responseA = "yes " + std::to_string(i);
            pair.responseB = "no " + std::to_string(i);
            pair.verdict = i < 6 ? std::optional(store::Verdict::A) : std::nullopt;
            ids.push_back(p.addPair(pair));
        }
        first = recordRun(p, "first");
        p.label(ids[1], store::Verdict::B);     // relabelled
        p.label(ids[2], store::Verdict::Tie);   // leaves training
        p.label(ids[6], store::Verdict::B);     // joins training
        second = recordRun(p, "second");
    }
    Result r = cli({"runs-diff", QString::fromStdString(db), QString::number(first), QString::number(second), "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const json j = json::parse(r.out.toStdString());
    QCOMPARE(j["added"].size(), size_t(1));
    QCOMPARE(j["added"][0]["pair_id"].get<int64_t>(), ids[6]);
    QCOMPARE(j["added"][0]["after"].get<std::string>(), std::string("b"));
    QCOMPARE(j["removed"].size(), size_t(1));
    QCOMPARE(j["removed"][0]["pair_id"].get<int64_t>(), ids[2]);
    QCOMPARE(j["relabelled"].size(), size_t(1));
    QCOMPARE(j["relabelled"][0]["pair_id"].get<int64_t>(), ids[1]);
    QCOMPARE(j["relabelled"][0]["before"].get<std::string>(), std::string("a"));
    QCOMPARE(j["unchanged"].get<int64_t>(), int64_t(4));
    QVERIFY(j["from"]["data_fingerprint"] != j["to"]["data_fingerprint"]);

    r = cli({"runs-diff", QString::fromStdString(db), QString::number(first), QString::number(second)});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(r.out.contains("1 added, 1 removed, 1 relabelled"), r.out.constData());
    QVERIFY(r.out.contains("~ pair " + QByteArray::number(qint64(ids[1])) + " a -> b"));

    // The fingerprints are listed with the runs.
    r = cli({"runs", QString::fromStdString(db), "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const QList<QByteArray> lines = r.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 2);
    QCOMPARE(json::parse(lines[0].toStdString())["data_fingerprint"], j["from"]["data_fingerprint"]);
    QCOMPARE(json::parse(lines[1].toStdString())["data_fingerprint"], j["to"]["data_fingerprint"]);
}

void TestCliRunsDiff::errors() {
    const std::string db = dir_.filePath("empty.dpowb").toStdString();
    store::Project::create(db);
    Result r = cli({"runs-diff", QString::fromStdString(db), "1", "2"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("no run 1") && r.err.contains("dpowb runs"), r.err.constData());
    r = cli({"runs-diff", QString::fromStdString(db), "one", "2"});
    QCOMPARE(r.code, 2);
    QVERIFY2(r.err.contains("RUN_A"), r.err.constData());
    r = cli({"runs-diff", QString::fromStdString(db), "1"});
    QCOMPARE(r.code, 2);  // a missing argument is a usage error
}

QTEST_APPLESS_MAIN(TestCliRunsDiff)
#include "tst_cli_runs_diff.moc"
