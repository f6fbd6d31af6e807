// Per-pair outcomes (store/pair_outcomes.h): records built from log-probs follow
// reward = β·(policy − reference) and margin = chosen − rejected for either label; the
// drill-down returns the recorded values with the change since the first recorded step, and
// each filter keeps exactly the rows the definition selects (recomputed here from the inputs);
// saved pair sets list exactly their pairs, survive reopening, and a bad id saves nothing.
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "common/error.h"
#include "store/pair_outcomes.h"
#include "store/project.h"

using namespace dpowb::store;

namespace {

struct Logps {
    double pc, rc, pr, rr;
};

// Deterministic pseudo-random log-probs: some pairs end with a negative margin.
std::map<int64_t, Logps> logpsFor(const std::vector<int64_t>& ids, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> u(-40.0, -5.0);
    std::map<int64_t, Logps> out;
    for (auto id : ids) out[id] = {u(gen), u(gen), u(gen), u(gen)};
    return out;
}

}  // namespace

class TestPairOutcomes : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void recordFromLogps_data();
    void recordFromLogps();
    void drillDown_data();
    void drillDown();
    void errors();
    void pairSets();

private:
    QTemporaryDir dir_;
};

void TestPairOutcomes::recordFromLogps_data() {
    QTest::addColumn<QString>("verdict");
    QTest::addColumn<double>("beta");
    QTest::newRow("a chosen") << "a" << 0.1;
    QTest::newRow("b chosen") << "b" << 0.1;
    QTest::newRow("unlabelled: A - B") << "" << 0.5;
    QTest::newRow("tie: A - B") << "tie" << 2.0;
}

void TestPairOutcomes::recordFromLogps() {
    QFETCH(QString, verdict);
    QFETCH(double, beta);
    const double pa = -12.5, ra = -14.0, pb = -20.25, rb = -18.0;
    const auto v = parseVerdict(verdict.toStdString());
    const auto r = outcomeFromLogps(7, v, beta, pa, ra, pb, rb, 11, 13);
    const bool b = verdict == "b";
    const double rewardA = beta * (pa - ra), rewardB = beta * (pb - rb);
    QCOMPARE(r.pairId, int64_t(7));
    QCOMPARE(QString::fromStdString(r.chosen), verdict == "a" || b ? verdict : QString());
    QCOMPARE(r.chosenReward, b ? rewardB : rewardA);
    QCOMPARE(r.rejectedReward, b ? rewardA : rewardB);
    QCOMPARE(r.margin(), b ? rewardB - rewardA : rewardA - rewardB);
    QCOMPARE(r.chosenTokens, int64_t(b ? 13 : 11));
    QCOMPARE(r.rejectedTokens, int64_t(b ? 11 : 13));
    QCOMPARE(r.policyChosen, b ? pb : pa);
    QCOMPARE(r.referenceRejected, b ? ra : rb);
}

void TestPairOutcomes::drillDown_data() {
    QTest::addColumn<QString>("filter");
    QTest::addColumn<int>("limit");
    QTest::addColumn<int>("step");  // -1 = latest
    QTest::newRow("all") << "all" << 0 << -1;
    QTest::newRow("flipped") << "flipped" << 0 << -1;
    QTest::newRow("worst 5") << "worst" << 5 << -1;
    QTest::newRow("worst all") << "worst" << 0 << -1;
    QTest::newRow("changed 4") << "changed" << 4 << -1;
    QTest::newRow("flipped at step 10") << "flipped" << 0 << 10;
    QTest::newRow("changed at step 0 (none)") << "changed" << 3 << 0;
}

void TestPairOutcomes::drillDown() {
    QFETCH(QString, filter);
    QFETCH(int, limit);
    QFETCH(int, step);
    const std::string path = dir_.filePath(QStringLiteral("drill-%1.dpowb").arg(QTest::currentDataTag()).replace(' ', '_')).toStdString();
    auto p = Project::create(path);
    std::vector<int64_t> ids;
    for (int i = 0; i < 24; ++i) {
        Pair pair;
        pair.prompt = "prompt " + std::to_string(i) + "\nsecond line";
        pair.responseA = "answer a " + std::to_string(i);
        pair.responseB = "answer b " + std::to_string(i);
        pair.split = "test";
        const int64_t id = p.addPair(pair);
        p.label(id, i % 3 ? Verdict::A : Verdict::B);
        ids.push_back(id);
    }
    RunRecord run;
    run.name = "r";
    const int64_t runId = p.createRun(run);
    const double beta = 0.2;
    // Steps 0, 10 and 20; pair ids[5] is missing at step 0 (no base: no change).
    const std::map<int, std::map<int64_t, Logps>> at = {{0, logpsFor(ids, 1)}, {10, logpsFor(ids, 2)}, {20, logpsFor(ids, 3)}};
    for (const auto& [s, byPair] : at) {
        std::vector<PairOutcomeRecord> recs;
        for (const auto& [id, l] : byPair) {
            if (s == 0 && id == ids[5]) continue;
            const auto v = p.pair(id)->verdict;
            const bool b = v == Verdict::B;
            // As the trainer records them: chosen/rejected already oriented.
            PairOutcomeRecord r;
            r.pairId = id;
            r.chosen = b ? "b" : "a";
            r.policyChosen = l.pc;
            r.referenceChosen = l.rc;
            r.policyRejected = l.pr;
            r.referenceRejected = l.rr;
            r.chosenTokens = 3;
            r.rejectedTokens = 4;
            r.chosenReward = implicitReward(beta, l.pc, l.rc);
            r.rejectedReward = implicitReward(beta, l.pr, l.rr);
            recs.push_back(r);
        }
        recordPairOutcomes(p, runId, s, "eval", "eval", recs);
    }
    // Recording the same step again replaces it (no duplicates).
    {
        std::vector<PairOutcomeRecord> recs;
        for (const auto& [id, l] : at.at(20)) {
            PairOutcomeRecord r;
            r.pairId = id;
            r.chosen = p.pair(id)->verdict == Verdict::B ? "b" : "a";
            r.policyChosen = l.pc, r.referenceChosen = l.rc, r.policyRejected = l.pr, r.referenceRejected = l.rr;
            r.chosenReward = beta * (l.pc - l.rc);
            r.rejectedReward = beta * (l.pr - l.rr);
            recs.push_back(r);
        }
        recordPairOutcomes(p, runId, 20, "eval", "eval", recs);
    }
    const auto snaps = outcomeSnapshots(p, runId);
    QCOMPARE(int(snaps.size()), 3);
    QCOMPARE(snaps[0].pairs, int64_t(ids.size() - 1));
    QCOMPARE(snaps[2].pairs, int64_t(ids.size()));

    DrillDownQuery q;
    q.runId = runId;
    q.split = "eval";
    q.step = step;
    q.filter = *parseOutcomeFilter(filter.toStdString());
    q.limit = limit;
    const auto t = loadDrillDown(p, q);
    const int shownStep = step < 0 ? 20 : step;
    QCOMPARE(t.step, int64_t(shownStep));
    QCOMPARE(t.baseStep, int64_t(0));
    QCOMPARE(t.steps, (std::vector<int64_t>{0, 10, 20}));
    QCOMPARE(t.source, std::string("eval"));

    // Expected rows, from the log-probs and the definitions alone.
    struct Want {
        int64_t id;
        double margin;
        std::optional<double> change;
    };
    std::vector<Want> want;
    for (auto id : ids) {
        if (shownStep == 0 && id == ids[5]) continue;
        const auto& l = at.at(shownStep).at(id);
        const double m = beta * (l.pc - l.rc) - beta * (l.pr - l.rr);
        std::optional<double> ch;
        if (id != ids[5]) {
            const auto& b0 = at.at(0).at(id);
            ch = m - (beta * (b0.pc - b0.rc) - beta * (b0.pr - b0.rr));
        }
        want.push_back({id, m, ch});
    }
    QCOMPARE(t.pairsAtStep, int64_t(want.size()));
    if (filter == "flipped") {
        want.erase(std::remove_if(want.begin(), want.end(), [](const Want& w) { return w.margin >= 0; }), want.end());
        std::sort(want.begin(), want.end(), [](const Want& a, const Want& b) { return a.margin < b.margin; });
        QVERIFY(!want.empty());  // the data has flipped pairs
    } else if (filter == "worst") {
        std::sort(want.begin(), want.end(), [](const Want& a, const Want& b) { return a.margin < b.margin; });
        if (limit > 0) want.resize(size_t(limit));
    } else if (filter == "changed") {
        want.erase(std::remove_if(want.begin(), want.end(), [](const Want& w) { return !w.change; }), want.end());
        std::sort(want.begin(), want.end(),
                  [](const Want& a, const Want& b) { return std::fabs(*a.change) > std::fabs(*b.change); });
        if (shownStep == 0) {
            // At the base step every change is 0: all tie, in pair id order.
            std::sort(want.begin(), want.end(), [](const Want& a, const Want& b) { return a.id < b.id; });
        }
        if (limit > 0 && int(want.size()) > limit) want.resize(size_t(limit));
    }
    QCOMPARE(int(t.rows.size()), int(want.size()));
    const double tol = 1e-12;  // the same two subtractions, possibly in another order
    for (size_t i = 0; i < want.size(); ++i) {
        const auto& r = t.rows[i];
        QCOMPARE(r.outcome.pairId, want[i].id);
        QVERIFY(std::fabs(r.outcome.margin() - want[i].margin) <= tol);
        QCOMPARE(bool(r.change()), bool(want[i].change));
        if (want[i].change) QVERIFY(std::fabs(*r.change() - *want[i].change) <= tol);
        QCOMPARE(r.prompt, "prompt " + std::to_string(r.outcome.pairId - ids[0]));  // first line only
        QCOMPARE(r.projectSplit, std::string("test"));
        QVERIFY(r.verdictNow.has_value());
        QCOMPARE(r.outcome.chosen, std::string(*r.verdictNow == Verdict::B ? "b" : "a"));
    }
}

void TestPairOutcomes::errors() {
    auto p = Project::create(dir_.filePath("errors.dpowb").toStdString());
    Pair pair;
    pair.prompt = "x";
    pair.responseA = "a";
    pair.responseB = "b";
    const int64_t id = p.addPair(pair);
    RunRecord run;
    const int64_t runId = p.createRun(run);
    DrillDownQuery q;
    q.runId = runId;
    // No outcomes: an empty table, not an error.
    auto t = loadDrillDown(p, q);
    QCOMPARE(t.step, int64_t(-1));
    QVERIFY(t.rows.empty());
    PairOutcomeRecord r;
    r.pairId = id;
    recordPairOutcomes(p, runId, 4, "train", "score", {r});
    q.split = "train";
    q.step = 5;
    try {
        loadDrillDown(p, q);
        QFAIL("a step that was not recorded must fail");
    } catch (const dpowb::Error& e) {
        QVERIFY2(QString(e.what()).contains("recorded at step 4"), e.what());
    }
    q.runId = runId + 1;
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, loadDrillDown(p, q));
    q.runId = runId;
    q.split = "test";  // the project's name, not the run's
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, loadDrillDown(p, q));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, recordPairOutcomes(p, runId + 1, 0, "eval", "eval", {r}));
    QVERIFY(!parseOutcomeFilter("worse"));
}

void TestPairOutcomes::pairSets() {
    const std::string path = dir_.filePath("sets.dpowb").toStdString();
    std::vector<int64_t> ids;
    int64_t setId = 0;
    {
        auto p = Project::create(path);
        for (int i = 0; i < 10; ++i) {
            Pair pair;
            pair.prompt = "p" + std::to_string(i);
            pair.responseA = "a";
            pair.responseB = "b" + std::to_string(i);
            ids.push_back(p.addPair(pair));
        }
        const std::vector<int64_t> chosen = {ids[7], ids[2], ids[4]};
        setId = savePairSet(p, "To relabel (run 1)", 0, chosen);
        // A bad id: an error, and the set keeps its members.
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, savePairSet(p, "To relabel (run 1)", 0, {ids[1], 9999}));
    }
    auto p = Project::open(path);  // survives closing and reopening
    const auto sets = dpowb::store::pairSets(p);
    QCOMPARE(int(sets.size()), 1);
    QCOMPARE(sets[0].id, setId);
    QCOMPARE(sets[0].name, std::string("To relabel (run 1)"));
    QCOMPARE(sets[0].pairs, int64_t(3));
    PairQuery q;
    q.pairSet = setId;
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[2], ids[4], ids[7]}));
    QCOMPARE(p.countPairs(q), int64_t(3));
    // Combined with the other filters.
    q.search = "p4";
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[4]}));
    // Saving under the same name replaces the members.
    QCOMPARE(savePairSet(p, "To relabel (run 1)", 0, {ids[0]}), setId);
    q.search.clear();
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[0]}));
    deletePairSet(p, setId);
    QVERIFY(dpowb::store::pairSets(p).empty());
    QVERIFY(p.pairIds(q).empty());
}

QTEST_GUILESS_MAIN(TestPairOutcomes)
#include "tst_pair_outcomes.moc"
