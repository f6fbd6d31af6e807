// The training-health detectors (train/health.h) on synthetic metric streams: for each
// warning, streams that must fire it (at the point where its condition first holds) and
// streams that must not fire anything. A stream is written as a small script:
//   "train 10 rewards/chosen=-0.2 rewards/margins=1; eval 50 rewards/accuracies=0.7"
//   "step 1..15 grad_norm=1"             (one per-step point for each step of the range)
//   "train 10..30/10 loss=0.69"          (steps 10, 20, 30)
//   "pairs 50 n=40 slope=0.1 offset=0.5 noise=0"   (per-pair outcomes of an evaluation)
// For "pairs": pair i has length difference d_i = (i mod 21) − 10 tokens and margin
// offset + slope·d_i + noise·u_i, where u_i = ((i·7) mod 11 − 5)/5 is a fixed pattern that
// does not follow d_i.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <sstream>

#include "train/health.h"

using namespace dpowb::train;

namespace {

struct Fired {
    std::vector<HealthWarning> all;
};

std::vector<PairOutcome> makePairs(const std::map<std::string, double>& kv) {
    auto get = [&](const char* k, double d) { return kv.count(k) ? kv.at(k) : d; };
    const int n = int(get("n", 40));
    const double slope = get("slope", 0), offset = get("offset", 0), noise = get("noise", 0);
    std::vector<PairOutcome> out;
    for (int i = 0; i < n; ++i) {
        const int d = i % 21 - 10;
        const double u = double((i * 7) % 11 - 5) / 5.0;
        PairOutcome p;
        p.pairId = i + 1;
        p.rejectedTokens = 30;
        p.chosenTokens = 30 + d;
        p.rejectedReward = -0.5;
        p.chosenReward = p.rejectedReward + offset + slope * d + noise * u;
        out.push_back(p);
    }
    return out;
}

QString at(const char* code, int64_t step) { return QString::fromLatin1(code) + "@" + QString::number(step); }

double parseValue(const std::string& s) {
    if (s == "nan") return std::nan("");
    if (s == "inf") return INFINITY;
    return std::stod(s);
}

// Runs the script through a monitor; returns every warning fired, in order.
std::vector<HealthWarning> runScript(HealthMonitor& m, const QString& script) {
    std::vector<HealthWarning> fired;
    for (const QString& part : script.split(';', Qt::SkipEmptyParts)) {
        std::istringstream in(part.trimmed().toStdString());
        std::string kind, steps;
        in >> kind >> steps;
        int64_t first = 0, last = 0, stride = 1;
        if (auto slash = steps.find('/'); slash != std::string::npos) {
            stride = std::stoll(steps.substr(slash + 1));
            steps.erase(slash);
        }
        if (auto dots = steps.find(".."); dots != std::string::npos) {
            first = std::stoll(steps.substr(0, dots));
            last = std::stoll(steps.substr(dots + 2));
        } else {
            first = last = std::stoll(steps);
        }
        std::map<std::string, double> kv;
        std::string item;
        while (in >> item) {
            const auto eq = item.find('=');
            kv[item.substr(0, eq)] = parseValue(item.substr(eq + 1));
        }
        for (int64_t step = first; step <= last; step += stride) {
            std::vector<HealthWarning> w;
            if (kind == "pairs") {
                w = m.observePairs(step, "eval", makePairs(kv));
            } else {
                MetricPoint p;
                p.step = step;
                p.split = kind == "step" ? "train" : kind;
                p.values = kv;
                w = kind == "step" ? m.observeStep(p) : m.observe(p);
            }
            fired.insert(fired.end(), w.begin(), w.end());
        }
    }
    return fired;
}

}  // namespace

class TestHealth : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void detectors_data();
    void detectors();
    void eachKindFiresOnce();
    void resumedRunDoesNotRepeat();
    void pearsonWorkedExample();
    void everyKindIsDocumented();
};

void TestHealth::detectors_data() {
    QTest::addColumn<QString>("script");
    // Every warning that must fire, in order, as kind@step ("" = none may fire).
    QTest::addColumn<QString>("expected");
    QTest::addColumn<double>("beta");
    QTest::addColumn<bool>("referenceFree");
    using health::kBelowReference, health::kDisplacement, health::kEvalMarginFalling, health::kGradSpike,
        health::kLength, health::kNoSignal, health::kNonFinite, health::kOverfitting;

    // ---- likelihood displacement (β 0.1: 1 nat = reward 0.1)
    QTest::newRow("displacement: both fall, chosen below -1 nat, margin grows, twice")
        << "train 10 rewards/chosen=-0.05 rewards/margins=0.05; train 20 rewards/chosen=-0.15 rewards/margins=0.15;"
           "train 30 rewards/chosen=-0.25 rewards/margins=0.25"
        << at(kDisplacement, 30) << 0.1 << false;
    QTest::newRow("displacement: on the eval split too")
        << "eval 0 rewards/chosen=0 rewards/margins=0; eval 50 rewards/chosen=-0.3 rewards/margins=0.3;"
           "eval 100 rewards/chosen=-0.9 rewards/margins=0.9"
        << at(kDisplacement, 100) << 0.1 << false;
    QTest::newRow("displacement: the demo with --rpo-alpha 0 (its logged train points)")
        << "train 10 rewards/chosen=-1.7185 rewards/margins=1.1014; train 20 rewards/chosen=-8.0517 rewards/margins=5.197;"
           "train 30 rewards/chosen=-8.6968 rewards/margins=6.9481; train 40 rewards/chosen=-8.7108 rewards/margins=8.6778"
        << at(kBelowReference, 20) + "," + at(kDisplacement, 30) << 0.1 << false;
    QTest::newRow("no displacement: chosen dips while the rejected falls far (the default demo's first points)")
        << "train 10 rewards/chosen=-0.3838 rewards/margins=0.9718; train 20 rewards/chosen=-0.6069 rewards/margins=4.724;"
           "train 30 rewards/chosen=-0.7 rewards/margins=6"
        << QString() << 0.1 << false;
    QTest::newRow("no displacement: chosen rises with the margin (RPO)")
        << "train 10 rewards/chosen=0.05 rewards/margins=0.5; train 20 rewards/chosen=0.1 rewards/margins=1;"
           "train 30 rewards/chosen=0.2 rewards/margins=1.8"
        << QString() << 0.1 << false;
    QTest::newRow("no displacement: chosen falls but so does the margin")
        << "train 10 rewards/chosen=-0.2 rewards/margins=1.5; train 20 rewards/chosen=-0.3 rewards/margins=1.2;"
           "train 30 rewards/chosen=-0.4 rewards/margins=1"
        << QString() << 0.1 << false;
    QTest::newRow("no displacement: chosen within 1 nat of the reference")
        << "train 10 rewards/chosen=-0.05 rewards/margins=0.5; train 20 rewards/chosen=-0.07 rewards/margins=1;"
           "train 30 rewards/chosen=-0.09 rewards/margins=1.8"
        << QString() << 0.1 << false;
    QTest::newRow("no displacement: one falling point, then recovery")
        << "train 10 rewards/chosen=-0.1 rewards/margins=0.5; train 20 rewards/chosen=-0.3 rewards/margins=1;"
           "train 30 rewards/chosen=-0.2 rewards/margins=1.5; train 40 rewards/chosen=-0.15 rewards/margins=2"
        << QString() << 0.1 << false;
    QTest::newRow("no displacement: reference-free (rewards are the policy's own log-probs)")
        << "train 10 rewards/chosen=-5 rewards/margins=0.5; train 20 rewards/chosen=-6 rewards/margins=1;"
           "train 30 rewards/chosen=-7 rewards/margins=1.8"
        << QString() << 0.1 << true;

    // ---- chosen log-prob far below the reference (20 nats)
    QTest::newRow("below reference: 25 nats at beta 0.1")
        << "train 10 rewards/chosen=-1 rewards/margins=3; train 20 rewards/chosen=-2.5 rewards/margins=2"
        << at(kBelowReference, 20) << 0.1 << false;
    QTest::newRow("not below reference: 15 nats at beta 0.1")
        << "train 10 rewards/chosen=-1 rewards/margins=3; train 20 rewards/chosen=-1.5 rewards/margins=2"
        << QString() << 0.1 << false;
    QTest::newRow("not below reference: reward -2.5 is 5 nats at beta 0.5")
        << "train 10 rewards/chosen=-1 rewards/margins=3; train 20 rewards/chosen=-2.5 rewards/margins=2"
        << QString() << 0.5 << false;

    // ---- margin explained by length (|r| > 0.6, ≥ 16 pairs, mean |margin| ≥ 1 nat)
    QTest::newRow("length: margin follows the length difference")
        << "pairs 50 n=40 slope=0.1 offset=0.5 noise=0.1" << at(kLength, 50) << 0.1 << false;
    QTest::newRow("length: shorter chosen responses win (negative r)")
        << "pairs 50 n=40 slope=-0.1 offset=0.5 noise=0.1" << at(kLength, 50) << 0.1 << false;
    QTest::newRow("no length warning: margin does not follow length")
        << "pairs 50 n=40 slope=0 offset=1 noise=0.5" << QString() << 0.1 << false;
    QTest::newRow("no length warning: weak dependence under noise")
        << "pairs 50 n=42 slope=0.02 offset=1 noise=0.5" << QString() << 0.1 << false;
    QTest::newRow("no length warning: too few pairs")
        << "pairs 50 n=10 slope=0.1 offset=0.5 noise=0" << QString() << 0.1 << false;
    QTest::newRow("no length warning: margins still below 1 nat")
        << "pairs 50 n=40 slope=0.001 offset=0.01 noise=0" << QString() << 0.1 << false;

    // ---- overfitting (train accuracy ≥ 0.95, eval more than 0.15 below)
    QTest::newRow("overfitting: train 1.0, eval 0.7")
        << "eval 0 rewards/accuracies=0; train 40 rewards/accuracies=1; eval 50 rewards/accuracies=0.7"
        << at(kOverfitting, 50) << 0.1 << false;
    QTest::newRow("no overfitting: eval 0.9 follows train 1.0")
        << "eval 0 rewards/accuracies=0; train 40 rewards/accuracies=1; eval 50 rewards/accuracies=0.9"
        << QString() << 0.1 << false;
    QTest::newRow("no overfitting: the step-0 evaluation does not count")
        << "eval 0 rewards/accuracies=0; train 10 rewards/accuracies=1; train 20 rewards/accuracies=1"
        << QString() << 0.1 << false;
    QTest::newRow("no overfitting: train accuracy not saturated")
        << "train 40 rewards/accuracies=0.9; eval 50 rewards/accuracies=0.6" << QString() << 0.1 << false;

    // ---- eval margin falling (2 evaluations in a row, 10 % below the best)
    QTest::newRow("eval margin falling: 5, 4.5, 4")
        << "eval 0 rewards/margins=0; eval 50 rewards/margins=5; eval 100 rewards/margins=4.5; eval 150 rewards/margins=4"
        << at(kEvalMarginFalling, 150) << 0.1 << false;
    QTest::newRow("eval margin not falling: one dip, then up")
        << "eval 0 rewards/margins=0; eval 50 rewards/margins=5; eval 100 rewards/margins=4; eval 150 rewards/margins=6"
        << QString() << 0.1 << false;
    QTest::newRow("eval margin not falling: two small dips (within 10 %)")
        << "eval 0 rewards/margins=0; eval 50 rewards/margins=5; eval 100 rewards/margins=4.9; eval 150 rewards/margins=4.8"
        << QString() << 0.1 << false;

    // ---- no learning signal (3 logged train points: |margin| < 0.001 nats, or accuracy 0)
    QTest::newRow("no signal: loss stuck at log 2")
        << "train 10..30/10 loss=0.693147 rewards/margins=0 rewards/accuracies=0" << at(kNoSignal, 30) << 0.1 << false;
    QTest::newRow("no signal: no pair ranked the right way (labels swapped)")
        << "train 10 rewards/margins=-0.5 rewards/accuracies=0; train 20 rewards/margins=-1 rewards/accuracies=0;"
           "train 30 rewards/margins=-2 rewards/accuracies=0"
        << at(kNoSignal, 30) << 0.1 << false;
    QTest::newRow("signal: the margin starts to move")
        << "train 10 rewards/margins=0.00005 rewards/accuracies=0.5; train 20 rewards/margins=0.001 rewards/accuracies=0.6;"
           "train 30 rewards/margins=0.01 rewards/accuracies=0.7; train 40 rewards/margins=0.02 rewards/accuracies=0.8"
        << QString() << 0.1 << false;
    QTest::newRow("signal: only two flat points") << "train 10..20/10 loss=0.693147 rewards/margins=0 rewards/accuracies=0"
                                                  << QString() << 0.1 << false;

    // ---- non-finite values
    QTest::newRow("non-finite: NaN loss at a step")
        << "step 1..2 loss=0.69 grad_norm=1; step 3 loss=nan grad_norm=1" << at(kNonFinite, 3) << 0.1 << false;
    QTest::newRow("non-finite: infinite gradient norm")
        << "step 1..3 loss=0.69 grad_norm=1; step 4 loss=0.6 grad_norm=inf" << at(kNonFinite, 4) << 0.1 << false;
    QTest::newRow("non-finite: NaN margin in an evaluation")
        << "eval 50 loss=0.5 rewards/margins=nan" << at(kNonFinite, 50) << 0.1 << false;

    // ---- gradient-norm spikes (10× the median of the last 20 steps, after 10 steps)
    QTest::newRow("grad spike: 15x after 15 calm steps")
        << "step 1..7 loss=0.6 grad_norm=1; step 8..15 loss=0.6 grad_norm=1.2; step 16 loss=0.6 grad_norm=15"
        << at(kGradSpike, 16) << 0.1 << false;
    QTest::newRow("no grad spike: inside the warm-up")
        << "step 1..4 loss=0.6 grad_norm=1; step 5 loss=0.6 grad_norm=15; step 6..12 loss=0.6 grad_norm=1"
        << QString() << 0.1 << false;
    QTest::newRow("no grad spike: steady growth")
        << "step 1..5 grad_norm=1; step 6..10 grad_norm=2; step 11..15 grad_norm=4; step 16..20 grad_norm=8"
        << QString() << 0.1 << false;
    QTest::newRow("no grad spike: 8x is below the factor")
        << "step 1..15 loss=0.6 grad_norm=1; step 16 loss=0.6 grad_norm=8" << QString() << 0.1 << false;
}

void TestHealth::detectors() {
    QFETCH(QString, script);
    QFETCH(QString, expected);
    QFETCH(double, beta);
    QFETCH(bool, referenceFree);
    HealthContext c;
    c.beta = beta;
    c.referenceFree = referenceFree;
    HealthMonitor m(c);
    const auto fired = runScript(m, script);
    QStringList codes;
    for (const auto& w : fired) {
        codes << at(w.code.c_str(), w.step);
        QVERIFY(!w.message.empty());
    }
    QCOMPARE(codes.join(","), expected);
    QCOMPARE(m.warnings().size(), fired.size());
}

void TestHealth::eachKindFiresOnce() {
    HealthMonitor m;
    const QString nan = "step 1 loss=nan; step 2 loss=nan; train 10 loss=nan; eval 20 rewards/margins=nan";
    const auto fired = runScript(m, nan);
    QCOMPARE(fired.size(), size_t(1));
    QCOMPARE(fired[0].step, int64_t(1));
    QVERIFY(m.hasFired(health::kNonFinite));
}

void TestHealth::resumedRunDoesNotRepeat() {
    HealthMonitor m;
    m.markFired(health::kNoSignal);
    QVERIFY(runScript(m, "train 10..50/10 rewards/margins=0 rewards/accuracies=0").empty());
    // Other kinds still fire.
    QCOMPARE(runScript(m, "step 1 loss=nan").size(), size_t(1));
}

void TestHealth::pearsonWorkedExample() {
    // Hand-computed: x = 1..5, y = 2,4,5,4,5: means 3 and 4, Sxy = 6, Sxx = 10, Syy = 6,
    // r = 6 / sqrt(60) = 0.774597 (to 6 places).
    const double r = pearson({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5});
    QVERIFY(std::fabs(r - 0.774597) < 5e-7);
    QVERIFY(std::isnan(pearson({1, 2, 3}, {7, 7, 7})));  // constant series: undefined
    QVERIFY(std::isnan(pearson({1}, {2})));
}

void TestHealth::everyKindIsDocumented() {
    // docs/HEALTH.md names every kind, and the catalogue has the texts the GUI shows.
    std::ifstream in(std::string(DPOWB_TEST_DATA) + "/../../docs/HEALTH.md");
    QVERIFY2(in, "docs/HEALTH.md is missing");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string doc = ss.str();
    QCOMPARE(healthCatalogue().size(), size_t(8));
    for (const auto& i : healthCatalogue()) {
        QVERIFY2(doc.find(std::string("`") + i.code + "`") != std::string::npos, i.code);
        QVERIFY(std::string(i.why).size() > 20 && std::string(i.tryThis).size() > 20);
        QCOMPARE(healthInfo(i.code), &i);
    }
    QVERIFY(healthInfo("no_such_kind") == nullptr);
}

QTEST_APPLESS_MAIN(TestHealth)
#include "tst_health.moc"
