// Labeling analytics (store/analytics.h): the statistics against worked examples from the
// literature, and labelAnalytics() on a real project file with several annotators, screen
// sides, undone labels, skips and imported labels.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "store/analytics.h"
#include "store/project.h"

using namespace dpowb::store;

namespace {

bool near(double a, double b, double tol) { return std::fabs(a - b) <= tol; }

// Cohen's κ worked example (Wikipedia, "Cohen's kappa", the 50 grant proposals): both raters
// say yes on 20, rater A yes / B no on 5, A no / B yes on 10, both no on 15.
// p_o = 35/50 = 0.7; p_yes = 0.5·0.6 = 0.3, p_no = 0.5·0.4 = 0.2, p_e = 0.5; κ = 0.2/0.5 = 0.4.
std::vector<std::pair<int, int>> grantProposals() {
    std::vector<std::pair<int, int>> r;
    for (int i = 0; i < 20; ++i) r.push_back({1, 1});
    for (int i = 0; i < 5; ++i) r.push_back({1, 0});
    for (int i = 0; i < 10; ++i) r.push_back({0, 1});
    for (int i = 0; i < 15; ++i) r.push_back({0, 0});
    return r;
}

}  // namespace

class TestAnalytics : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void wilson_data();
    void wilson();
    void kappa();
    void alphaKrippendorffExample();
    void alphaEdgeCases();
    void projectAnalytics();
    void positionBiasWarning_data();
    void positionBiasWarning();

private:
    QTemporaryDir dir_;
};

void TestAnalytics::wilson_data() {
    // Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison
    // of seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (score interval
    // without continuity correction), to four places.
    QTest::addColumn<qint64>("k");
    QTest::addColumn<qint64>("n");
    QTest::addColumn<double>("low");
    QTest::addColumn<double>("high");
    QTest::newRow("81/263") << qint64(81) << qint64(263) << 0.2553 << 0.3662;
    QTest::newRow("15/148") << qint64(15) << qint64(148) << 0.0624 << 0.1605;
    QTest::newRow("0/20") << qint64(0) << qint64(20) << 0.0 << 0.1611;
    QTest::newRow("1/29") << qint64(1) << qint64(29) << 0.0061 << 0.1718;
}

void TestAnalytics::wilson() {
    QFETCH(qint64, k);
    QFETCH(qint64, n);
    QFETCH(double, low);
    QFETCH(double, high);
    const Proportion p = wilsonInterval(k, n);
    QCOMPARE(p.share, double(k) / double(n));
    QVERIFY2(near(p.low, low, 5e-5), qPrintable(QString::number(p.low, 'f', 6)));
    QVERIFY2(near(p.high, high, 5e-5), qPrintable(QString::number(p.high, 'f', 6)));
    QVERIFY(std::isnan(wilsonInterval(0, 0).share));
}

void TestAnalytics::kappa() {
    QVERIFY(near(cohenKappa(grantProposals()), 0.4, 1e-12));
    // Three categories, hand-computed: 10 items, (0,0)x4, (1,1)x3, (2,2)x1, (0,1)x1, (2,0)x1.
    // p_o = 8/10; rater 1: 0:5 1:3 2:2; rater 2: 0:5 1:4 2:1;
    // p_e = (5·5 + 3·4 + 2·1)/100 = 0.39; κ = (0.8 − 0.39)/(1 − 0.39) = 0.41/0.61.
    std::vector<std::pair<int, int>> r = {{0, 0}, {0, 0}, {0, 0}, {0, 0}, {1, 1}, {1, 1}, {1, 1}, {2, 2}, {0, 1}, {2, 0}};
    QVERIFY(near(cohenKappa(r), 0.41 / 0.61, 1e-12));
    // Perfect agreement is 1; systematic disagreement on a balanced set is −1.
    QVERIFY(near(cohenKappa({{0, 0}, {1, 1}, {0, 0}, {1, 1}}), 1.0, 1e-12));
    QVERIFY(near(cohenKappa({{0, 1}, {1, 0}, {0, 1}, {1, 0}}), -1.0, 1e-12));
    // Undefined: no items, or both raters always give one category.
    QVERIFY(std::isnan(cohenKappa({})));
    QVERIFY(std::isnan(cohenKappa({{2, 2}, {2, 2}})));
}

void TestAnalytics::alphaKrippendorffExample() {
    // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
    // observers, twelve units, values 1-5 with missing data; alpha (nominal) = 0.743.
    // (-1 = missing.)
    const int M = -1;
    const std::vector<std::vector<int>> observers = {
        {1, 2, 3, 3, 2, 1, 4, 1, 2, M, M, M},
        {1, 2, 3, 3, 2, 2, 4, 1, 2, 5, M, 3},
        {M, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, M},
        {1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, M},
    };
    std::vector<std::vector<int>> units(12);
    for (const auto& o : observers)
        for (size_t u = 0; u < 12; ++u) units[u].push_back(o[u]);
    const double alpha = krippendorffAlphaNominal(units);
    QVERIFY2(near(alpha, 0.743, 5e-4), qPrintable(QString::number(alpha, 'f', 6)));
}

void TestAnalytics::alphaEdgeCases() {
    // Two coders without missing data: α and κ differ only by the finite-sample correction;
    // hand-computed for the grant proposals: n = 100 values, n_yes = 55, n_no = 45,
    // D_o = 15 disagreeing units · 2 = 30 (o_yn + o_ny), Σ n_c n_k (c≠k) = 2·55·45 = 4950,
    // α = 1 − 99·30/4950 = 0.4.
    std::vector<std::vector<int>> units;
    for (const auto& [a, b] : grantProposals()) units.push_back({a, b});
    QVERIFY(near(krippendorffAlphaNominal(units), 1.0 - 99.0 * 30.0 / 4950.0, 1e-12));
    QVERIFY(std::isnan(krippendorffAlphaNominal({})));
    QVERIFY(std::isnan(krippendorffAlphaNominal({{1, -1}, {2, -1}})));  // nothing pairable
    QVERIFY(std::isnan(krippendorffAlphaNominal({{1, 1}, {1, 1, 1}})));  // one category only
    QVERIFY(near(krippendorffAlphaNominal({{1, 1}, {2, 2}, {1, 1, 1}}), 1.0, 1e-12));
}

void TestAnalytics::projectAnalytics() {
    auto p = Project::create(dir_.filePath("agree.dpowb").toStdString());
    std::vector<int64_t> ids;
    for (int i = 0; i < 52; ++i) {
        Pair pair;
        pair.prompt = "prompt " + std::to_string(i);
        pair.responseA = "answer A " + std::to_string(i);
        pair.responseB = "answer B " + std::to_string(i);
        if (i >= 50) pair.verdict = Verdict::A;  // imported labels (annotator "import")
        ids.push_back(p.addPair(pair));
    }
    // Two annotators on pairs 1-50 with the grant-proposal table (1 = a, 0 = b); ann shows
    // the left side as stored (a), bo shows it swapped (b on the left).
    const auto table = grantProposals();
    for (size_t i = 0; i < table.size(); ++i) {
        LabelOptions ann{1, "", "ann", 'a'}, bo{1, "", "bo", 'b'};
        p.label(ids[i], table[i].first ? Verdict::A : Verdict::B, ann);
        p.label(ids[i], table[i].second ? Verdict::A : Verdict::B, bo);
    }
    // Undone labels do not count: a third annotator labels and takes it back.
    LabelOptions cy{1, "", "cy", 'a'};
    p.label(ids[0], Verdict::Tie, cy);
    p.undo(ids[0], "cy");
    // A later skip by ann on the imported pair 51 is no judgement.
    p.label(ids[50], Verdict::Skip, LabelOptions{1, "", "ann", 'a'});

    const LabelAnalytics a = labelAnalytics(p);
    // Raters and agreement: exactly the two annotators, all 50 pairs shared.
    QCOMPARE(a.raters, (std::vector<std::string>{"ann", "bo"}));
    QCOMPARE(a.pairsWithSeveral, int64_t(50));
    QCOMPARE(a.kappaPairs, int64_t(50));
    QVERIFY(near(a.cohenKappa, cohenKappa(table), 1e-12));
    QVERIFY(near(a.cohenKappa, 0.4, 1e-12));
    QVERIFY(near(a.krippendorffAlpha, 0.4, 1e-12));
    // Disagreements: the 5 + 10 mixed rows, pairs 21-35.
    QCOMPARE(a.disagreements.size(), size_t(15));
    QCOMPARE(a.disagreements.front().pairId, ids[20]);
    QCOMPARE(a.disagreements.front().verdicts,
             (std::vector<std::pair<std::string, std::string>>{{"ann", "a"}, {"bo", "b"}}));

    // Verdict mix per annotator (the undone tie of cy is gone; the imports are "import").
    std::map<std::string, AnnotatorSummary> by;
    for (const auto& s : a.annotators) by[s.annotator] = s;
    QCOMPARE(by.count("cy"), size_t(0));
    QCOMPARE(by["ann"].a, int64_t(25));
    QCOMPARE(by["ann"].b, int64_t(25));
    QCOMPARE(by["ann"].skip, int64_t(1));
    QCOMPARE(by["bo"].a, int64_t(30));
    QCOMPARE(by["bo"].b, int64_t(20));
    QCOMPARE(by["import"].a, int64_t(2));
    QCOMPARE(a.labelsLastHour, int64_t(25 + 25 + 1 + 30 + 20 + 2));

    // Position bias: ann's a verdicts (left = a) and bo's b verdicts (left = b) chose the left
    // side: 25 + 20 of the 100 a/b verdicts given on screen; the imported ones do not count.
    QCOMPARE(a.leftBetter.n, int64_t(100));
    QCOMPARE(a.leftBetter.k, int64_t(45));
    QCOMPARE(by["ann"].leftBetter.k, int64_t(25));
    QCOMPARE(by["bo"].leftBetter.k, int64_t(20));
    QCOMPARE(by["bo"].leftBetter.n, int64_t(50));
    QVERIFY(!a.positionBias);
}

void TestAnalytics::positionBiasWarning_data() {
    QTest::addColumn<int>("left");
    QTest::addColumn<int>("right");
    QTest::addColumn<bool>("warn");
    QTest::newRow("balanced 15/15") << 15 << 15 << false;
    QTest::newRow("60/40 is the bound, not beyond") << 18 << 12 << false;
    QTest::newRow("70/30") << 21 << 9 << true;
    QTest::newRow("25/75") << 10 << 30 << true;
    QTest::newRow("too few labels (12/3)") << 12 << 3 << false;
}

void TestAnalytics::positionBiasWarning() {
    QFETCH(int, left);
    QFETCH(int, right);
    QFETCH(bool, warn);
    auto p = Project::create(dir_.filePath(QString("bias-%1-%2.dpowb").arg(left).arg(right)).toStdString());
    for (int i = 0; i < left + right; ++i) {
        Pair pair;
        pair.prompt = "p" + std::to_string(i);
        pair.responseA = "x";
        pair.responseB = "y";
        const int64_t id = p.addPair(pair);
        // Alternate the side shown on the left; the verdict picks the left or the right one.
        const char shown = i % 2 ? 'b' : 'a';
        const char other = shown == 'a' ? 'b' : 'a';
        const char pick = i < left ? shown : other;
        p.label(id, pick == 'a' ? Verdict::A : Verdict::B, LabelOptions{1, "", "ann", shown});
    }
    const LabelAnalytics a = labelAnalytics(p);
    QCOMPARE(a.leftBetter.k, int64_t(left));
    QCOMPARE(a.leftBetter.n, int64_t(left + right));
    QCOMPARE(a.positionBias, warn);
    QVERIFY(a.leftBetter.low <= a.leftBetter.share && a.leftBetter.share <= a.leftBetter.high);
}

QTEST_APPLESS_MAIN(TestAnalytics)
#include "tst_analytics.moc"
