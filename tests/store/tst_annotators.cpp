// Several annotators (docs/ANALYTICS.md, "Several annotators"): the training verdict of a pair
// in consensus mode (strict majority, adjudication, undo per annotator), the same histories in
// single mode, switching modes, blind visibility, the per-annotator filters, and what training
// and analytics read from it. Real project files.
#include <QTemporaryDir>
#include <QtTest>

#include <SQLiteCpp/SQLiteCpp.h>

#include <sstream>

#include "common/error.h"
#include "store/analytics.h"
#include "store/formats.h"
#include "store/project.h"

using namespace dpowb;
using namespace dpowb::store;

namespace {

Pair textPair(const std::string& prompt, const std::string& split = "train") {
    Pair p;
    p.prompt = prompt;
    p.responseA = "first answer to " + prompt;
    p.responseB = "second answer to " + prompt;
    p.split = split;
    return p;
}

// Runs a script of labels on one pair: "alice:a" (alice labels a), "adj:b" (the adjudicator
// "judge" decides b), "undo:alice" (alice undoes her label), "undo:adj" (the adjudication is
// undone).
void play(Project& p, int64_t pair, const QString& script) {
    for (const QString& step : script.split(' ', Qt::SkipEmptyParts)) {
        const QStringList parts = step.split(':');
        QVERIFY2(parts.size() == 2, qPrintable(step));
        const std::string who = parts[0].toStdString(), what = parts[1].toStdString();
        if (who == "undo") {
            const bool adj = what == "adj";
            QVERIFY2(p.undo(pair, adj ? "judge" : what, adj), qPrintable("nothing to undo: " + step));
            continue;
        }
        LabelOptions o;
        o.adjudication = who == "adj";
        o.annotator = o.adjudication ? "judge" : who;
        auto v = parseVerdict(what);
        QVERIFY2(v, qPrintable(step));
        p.label(pair, *v, o);
    }
}

QString verdictText(const std::optional<Verdict>& v, bool unresolved) {
    if (v) return toString(*v);
    return unresolved ? "unresolved" : "none";
}

}  // namespace

class TestAnnotators : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    int files_ = 0;
    std::string freshFile() { return dir_.filePath(QString("p%1.dpowb").arg(++files_)).toStdString(); }

private Q_SLOTS:
    void verdictRules_data();
    void verdictRules();
    void adjudicationIsNeverSkip();
    void blindVisibility_data();
    void blindVisibility();
    void filtersPerAnnotator();
    void trainingAgreement();
    void analyticsShowAdjudication();
    void pairsFormatKeepsAdjudication();
    void unknownModeRefused();
};

void TestAnnotators::verdictRules_data() {
    QTest::addColumn<QString>("script");
    QTest::addColumn<QString>("consensus");  // the training verdict in consensus mode
    QTest::addColumn<int>("judges");
    QTest::addColumn<int>("agreeing");
    QTest::addColumn<QString>("single");     // the verdict in single mode (the latest label)
    QTest::newRow("one annotator") << "alice:a" << "a" << 1 << 1 << "a";
    QTest::newRow("two disagree") << "alice:a bob:b" << "unresolved" << 2 << 0 << "b";
    QTest::newRow("two of three") << "alice:a bob:a carol:b" << "a" << 3 << 2 << "b";
    QTest::newRow("three ways") << "alice:a bob:b carol:tie" << "unresolved" << 3 << 0 << "tie";
    QTest::newRow("two against two") << "alice:a bob:a carol:b dave:b" << "unresolved" << 4 << 0 << "b";
    QTest::newRow("three of four") << "alice:a bob:a carol:a dave:b" << "a" << 4 << 3 << "b";
    QTest::newRow("latest of one annotator counts once") << "alice:a alice:b bob:b" << "b" << 2 << 2 << "b";
    QTest::newRow("undo withdraws a vote") << "alice:a bob:b undo:bob" << "a" << 1 << 1 << "a";
    QTest::newRow("undo restores own earlier label") << "alice:a alice:b undo:alice" << "a" << 1 << 1 << "a";
    QTest::newRow("adjudication decides") << "alice:a bob:b adj:b" << "b" << 3 << 2 << "b";
    QTest::newRow("adjudication over a majority") << "alice:a bob:a carol:b adj:b" << "b" << 4 << 2 << "b";
    QTest::newRow("adjudication undone") << "alice:a bob:b adj:b undo:adj" << "unresolved" << 2 << 0 << "b";
    QTest::newRow("skip abstains") << "alice:a bob:skip" << "a" << 1 << 1 << "skip";
    QTest::newRow("only skips") << "alice:skip" << "skip" << 0 << 0 << "skip";
    QTest::newRow("all undone") << "alice:a undo:alice" << "none" << 0 << 0 << "none";
    QTest::newRow("relabel breaks a majority") << "alice:a bob:a alice:tie" << "unresolved" << 2 << 0 << "tie";
    QTest::newRow("both bad majority") << "alice:both_bad bob:both_bad carol:a" << "both_bad" << 3 << 2 << "a";
}

void TestAnnotators::verdictRules() {
    QFETCH(QString, script);
    QFETCH(QString, consensus);
    QFETCH(int, judges);
    QFETCH(int, agreeing);
    QFETCH(QString, single);
    auto stateOf = [](Project& p, int64_t id) {
        const PairVerdicts v = p.verdictsFor(id, "nobody");
        return verdictText(v.verdict, v.unresolved);
    };
    {  // consensus, then single, then consensus again: no label is lost on the way
        Project p = Project::create(freshFile());
        p.setAnnotationMode(AnnotationMode::Consensus);
        const int64_t id = p.addPair(textPair("q"));
        const int64_t other = p.addPair(textPair("untouched"));
        play(p, id, script);
        const PairVerdicts v = p.verdictsFor(id, "nobody");
        QCOMPARE(verdictText(v.verdict, v.unresolved), consensus);
        QCOMPARE(v.judges, judges);
        QCOMPARE(v.agreeing, agreeing);
        QCOMPARE(p.pair(id)->verdict, v.verdict);
        PairQuery q;
        q.verdict = VerdictFilter::Unresolved;
        QCOMPARE(p.countPairs(q), int64_t(v.unresolved ? 1 : 0));
        q.verdict = VerdictFilter::Unlabelled;
        QCOMPARE(p.pairIds(q), (consensus == "none" ? std::vector<int64_t>{id, other} : std::vector<int64_t>{other}));
        const Stats s = p.stats();
        QCOMPARE(s.unresolved, int64_t(v.unresolved ? 1 : 0));
        QCOMPARE(s.labelled + s.skipped + s.unlabelled + s.unresolved, s.pairs);
        const size_t rows = p.history(id).size();

        p.setAnnotationMode(AnnotationMode::Single);
        QCOMPARE(p.annotationMode(), AnnotationMode::Single);
        QCOMPARE(stateOf(p, id), single);
        QCOMPARE(p.verdictsFor(id, "nobody").judges, 0);
        p.setAnnotationMode(AnnotationMode::Consensus);
        QCOMPARE(stateOf(p, id), consensus);
        QCOMPARE(p.history(id).size(), rows);
        QCOMPARE(stateOf(p, other), QString("none"));
    }
    {  // the same history given in single mode (the default)
        Project p = Project::create(freshFile());
        QCOMPARE(p.annotationMode(), AnnotationMode::Single);
        const int64_t id = p.addPair(textPair("q"));
        play(p, id, script);
        QCOMPARE(stateOf(p, id), single);
    }
}

void TestAnnotators::adjudicationIsNeverSkip() {
    Project p = Project::create(freshFile());
    p.setAnnotationMode(AnnotationMode::Consensus);
    const int64_t id = p.addPair(textPair("q"));
    LabelOptions o;
    o.adjudication = true;
    QVERIFY_THROWS_EXCEPTION(Error, p.label(id, Verdict::Skip, o));
    QVERIFY(p.history(id).empty());
    QVERIFY(!p.undo(id, "judge", true));  // nothing to undo
    // Single mode: undoing an adjudication reverts only an adjudication.
    p.setAnnotationMode(AnnotationMode::Single);
    play(p, id, "alice:a");
    QVERIFY(!p.undo(id, "judge", true));
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>(Verdict::A));
    play(p, id, "adj:b");
    const auto u = p.undo(id, "judge", true);
    QVERIFY(u && u->adjudication);
    QCOMPARE(p.pair(id)->verdict, std::optional<Verdict>(Verdict::A));
}

void TestAnnotators::blindVisibility_data() {
    QTest::addColumn<QString>("mode");
    QTest::addColumn<bool>("hiddenBefore");
    QTest::newRow("blind") << "blind" << true;
    QTest::newRow("consensus") << "consensus" << false;
    QTest::newRow("single") << "single" << false;
}

void TestAnnotators::blindVisibility() {
    QFETCH(QString, mode);
    QFETCH(bool, hiddenBefore);
    Project p = Project::create(freshFile());
    p.setAnnotationMode(*parseAnnotationMode(mode.toStdString()));
    const int64_t id = p.addPair(textPair("q"));
    play(p, id, "alice:a carol:a");
    PairVerdicts before = p.verdictsFor(id, "bob");
    QCOMPARE(before.hidden, hiddenBefore);
    QVERIFY(!before.mine);
    if (hiddenBefore) {  // nothing of the others leaks: not their verdicts, not the pair's
        QVERIFY(before.others.empty());
        QVERIFY(!before.verdict);
        QVERIFY(!before.adjudicated);
        QCOMPARE(before.judges, 0);
    } else {
        QCOMPARE(before.others.size(), size_t(2));
        QCOMPARE(before.verdict, std::optional<Verdict>(Verdict::A));
    }
    // Alice sees her own verdict and, having labelled, Carol's.
    const PairVerdicts alice = p.verdictsFor(id, "alice");
    QVERIFY(!alice.hidden);
    QCOMPARE(alice.mine, std::optional<Verdict>(Verdict::A));
    QCOMPARE(alice.others.size(), size_t(1));

    play(p, id, "bob:b");
    const PairVerdicts after = p.verdictsFor(id, "bob");
    QVERIFY(!after.hidden);
    QCOMPARE(after.mine, std::optional<Verdict>(Verdict::B));
    QCOMPARE(after.others.size(), size_t(2));
    QCOMPARE(after.others[0].first, std::string("alice"));
    QCOMPARE(after.others[0].second, Verdict::A);
    if (mode != "single") {
        QCOMPARE(after.verdict, std::optional<Verdict>(Verdict::A));  // two of three
        QCOMPARE(after.judges, 3);
        QCOMPARE(after.agreeing, 2);
    }
    // A skip is a label of one's own: it opens the others' verdicts too.
    play(p, id, "dave:skip");
    QVERIFY(!p.verdictsFor(id, "dave").hidden);
    // Undoing one's label closes them again in blind mode.
    play(p, id, "undo:bob");
    QCOMPARE(p.verdictsFor(id, "bob").hidden, hiddenBefore);
}

void TestAnnotators::filtersPerAnnotator() {
    Project p = Project::create(freshFile());
    p.setAnnotationMode(AnnotationMode::Blind);
    std::vector<int64_t> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(p.addPair(textPair("q" + std::to_string(i))));
    play(p, ids[0], "alice:a bob:b");
    play(p, ids[1], "alice:b");
    play(p, ids[2], "bob:a");
    play(p, ids[3], "bob:skip");
    play(p, ids[4], "bob:tie undo:bob");
    PairQuery q;
    q.annotator = "bob";
    q.verdict = VerdictFilter::Unlabelled;  // not yet labelled by bob (a skip is his label)
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[1], ids[4]}));
    q.verdict = VerdictFilter::Labelled;
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[0], ids[2]}));
    q.verdict = VerdictFilter::A;
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[2]}));
    q.verdict = VerdictFilter::Skip;
    QCOMPARE(p.countPairs(q), int64_t(1));
    q.verdict = VerdictFilter::Unresolved;  // the pair's state, whoever asks
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[0]}));
    q.annotator = "alice";
    q.verdict = VerdictFilter::Unlabelled;
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[2], ids[3], ids[4]}));
    q.search = "q3";  // combined with the other conditions, binds in order
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[3]}));
    // Adjudications are no annotator's own label.
    LabelOptions o;
    o.annotator = "alice";
    o.adjudication = true;
    p.label(ids[2], Verdict::A, o);
    q.search.clear();
    QCOMPARE(p.pairIds(q), (std::vector<int64_t>{ids[2], ids[3], ids[4]}));
}

void TestAnnotators::trainingAgreement() {
    Project p = Project::create(freshFile());
    p.setAnnotationMode(AnnotationMode::Consensus);
    const int64_t full = p.addPair(textPair("full"));
    const int64_t twoOfThree = p.addPair(textPair("two of three"));
    const int64_t split = p.addPair(textPair("split"));
    const int64_t adjudicated = p.addPair(textPair("adjudicated"));
    const int64_t imported = p.addPair([] {
        Pair x = textPair("imported");
        x.verdict = Verdict::B;
        return x;
    }());
    play(p, full, "alice:a bob:a carol:a");
    play(p, twoOfThree, "alice:b bob:b carol:a");
    play(p, split, "alice:a bob:b");
    play(p, adjudicated, "alice:a bob:b adj:a");
    const auto train = p.trainingPairs("train");
    std::map<int64_t, TrainingPair> byId;
    for (const auto& t : train) byId[t.pairId] = t;
    QCOMPARE(byId.size(), size_t(4));  // the unresolved pair is left out
    QVERIFY(!byId.count(split));
    QCOMPARE(byId[full].disagreement(), 0.0);
    QCOMPARE(byId[twoOfThree].disagreement(), 1.0 - 2.0 / 3.0);
    QCOMPARE(byId[twoOfThree].chosen, std::string("second answer to two of three"));
    QCOMPARE(byId[adjudicated].judges, 3);  // alice, bob and the adjudicator
    QCOMPARE(byId[adjudicated].disagreement(), 1.0 - 2.0 / 3.0);
    QCOMPARE(byId[imported].disagreement(), 0.0);  // one label: full agreement
}

void TestAnnotators::analyticsShowAdjudication() {
    Project p = Project::create(freshFile());
    p.setAnnotationMode(AnnotationMode::Consensus);
    const int64_t x = p.addPair(textPair("x"));
    const int64_t y = p.addPair(textPair("y"));
    play(p, x, "alice:a bob:b adj:b");
    play(p, y, "alice:a bob:b");
    const LabelAnalytics a = labelAnalytics(p);
    QCOMPARE(a.raters, (std::vector<std::string>{"alice", "bob"}));  // the adjudicator is no rater
    QCOMPARE(a.disagreements.size(), size_t(2));
    QCOMPARE(a.disagreements[0].pairId, x);
    QCOMPARE(a.disagreements[0].adjudicated, std::string("b"));
    QCOMPARE(a.disagreements[0].verdict, std::string("b"));
    QCOMPARE(a.disagreements[1].adjudicated, std::string());
    QCOMPARE(a.disagreements[1].verdict, std::string());  // unresolved
    for (const auto& s : a.annotators) QVERIFY(s.annotator != "judge");
}

void TestAnnotators::pairsFormatKeepsAdjudication() {
    const std::string out = dir_.filePath("history.jsonl").toStdString();
    {
        Project p = Project::create(freshFile());
        p.setAnnotationMode(AnnotationMode::Consensus);
        const int64_t x = p.addPair(textPair("x"));
        play(p, x, "alice:a bob:b adj:b");
        ExportOptions e;
        e.format = "pairs";
        exportFile(p, out, e);
    }
    Project q = Project::create(freshFile());
    q.setAnnotationMode(AnnotationMode::Consensus);
    importFile(q, out, {});
    const auto rows = q.history(1);
    QCOMPARE(rows.size(), size_t(3));
    QVERIFY(!rows[0].adjudication && !rows[1].adjudication && rows[2].adjudication);
    const PairVerdicts v = q.verdictsFor(1, "alice");
    QCOMPARE(v.adjudicated, std::optional<Verdict>(Verdict::B));
    QCOMPARE(v.verdict, std::optional<Verdict>(Verdict::B));
    QCOMPARE(v.judges, 3);
}

void TestAnnotators::unknownModeRefused() {
    const std::string path = freshFile();
    Project::create(path);
    {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        db.exec("INSERT INTO meta(key, value) VALUES ('annotation_mode', 'council')");
    }
    Project p = Project::open(path);
    try {
        p.annotationMode();
        QFAIL("an unknown mode was accepted");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("council") != std::string::npos, e.what());
    }
}

QTEST_GUILESS_MAIN(TestAnnotators)
#include "tst_annotators.moc"
