// What a run logs and when: the automatic logging interval (every step of a short run, a few
// hundred points of a long one) against an explicit --logging-steps, and the SFT warm-up's
// points (split "sft", on the warm-up's own steps) reported and stored apart from the DPO series.
#include <QtTest>

#include <QTemporaryDir>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "store/project.h"
#include "train/trainer.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

struct Recorder : train::TrainObserver {
    std::vector<train::MetricPoint> points;  // onMetrics, in order
    std::vector<train::MetricPoint> steps;   // onStep, in order
    void onStep(const train::MetricPoint& p) override { steps.push_back(p); }
    void onMetrics(const train::MetricPoint& p) override { points.push_back(p); }
    std::vector<train::MetricPoint> of(const std::string& split) const {
        std::vector<train::MetricPoint> out;
        for (const auto& p : points)
            if (p.split == split) out.push_back(p);
        return out;
    }
};

// A project of nTrain train pairs and nTest test pairs whose good side is labelled.
std::string makeProject(const QTemporaryDir& dir, int nTrain, int nTest) {
    const std::string path = dir.filePath("p.db").toStdString();
    auto project = store::Project::create(path);
    const char* subjects[] = {"The film", "This movie", "The plot", "The cast"};
    int k = 0;
    for (const auto& [split, n] : std::vector<std::pair<std::string, int>>{{"train", nTrain}, {"test", nTest}}) {
        for (int i = 0; i < n; ++i, ++k) {
            store::Pair pair;
            pair.prompt = std::string(subjects[k % 4]) + " number " + std::to_string(k) + " was";
            const std::string good = " really good" + std::string(size_t(k % 3), '!');
            const std::string bad = " rather bad" + std::string(size_t(k % 2), '.');
            const bool aGood = k % 2 == 0;
            pair.responseA = aGood ? good : bad;
            pair.responseB = aGood ? bad : good;
            pair.split = split;
            pair.source = "test";
            const int64_t id = project.addPair(pair);
            project.label(id, aGood ? store::Verdict::A : store::Verdict::B);
        }
    }
    return path;
}

train::TrainConfig smallConfig(const std::string& db, const QTemporaryDir& dir, const char* out) {
    train::TrainConfig c;
    c.db = db;
    c.out = dir.filePath(out).toStdString();
    c.model = "builtin:tiny";
    c.device = "cpu";
    c.lr = 2e-3;
    c.batchSize = 4;
    c.maxLength = 64;
    c.maxPromptLength = 32;
    c.evalSteps = 0;
    c.seed = 7;
    return c;
}

train::TrainResult run(const train::TrainConfig& c, Recorder& rec) {
    train::TrainControl control;
    return train::runTraining(c, rec, control);
}

std::map<std::string, double> valuesOf(const store::MetricRow& row) {
    std::map<std::string, double> out;
    const json values = json::parse(row.valuesJson);
    for (const auto& [k, v] : values.items()) out[k] = v.get<double>();
    return out;
}

// The stored rows of a run's split, in step order.
std::vector<store::MetricRow> storedRows(const std::string& db, int64_t runId, const std::string& split) {
    auto project = store::Project::open(db);
    std::vector<store::MetricRow> out;
    for (auto& r : project.metrics(runId))
        if (r.split == split) out.push_back(std::move(r));
    return out;
}

std::vector<int64_t> stepsOf(const std::vector<train::MetricPoint>& points) {
    std::vector<int64_t> out;
    for (const auto& p : points) out.push_back(p.step);
    return out;
}

// The steps at which a phase of `total` steps logs with interval `every` (and at its end).
std::vector<int64_t> expectedSteps(int64_t total, int64_t every) {
    std::vector<int64_t> out;
    for (int64_t s = 1; s <= total; ++s)
        if (s % every == 0 || s == total) out.push_back(s);
    return out;
}

}  // namespace

class TestLogging : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void automaticInterval_data();
    void automaticInterval();
    void explicitIntervalWins_data();
    void explicitIntervalWins();
    void runLogsAtItsInterval_data();
    void runLogsAtItsInterval();
    void sftWarmupIsReportedAndStoredApart();
};

// Steps of a phase -> its automatic interval: every step up to kAutoLoggedPoints steps, then
// the smallest interval that keeps the points at most kAutoLoggedPoints.
void TestLogging::automaticInterval_data() {
    QTest::addColumn<qint64>("steps");
    QTest::addColumn<qint64>("interval");
    QTest::newRow("1 step") << qint64(1) << qint64(1);
    QTest::newRow("the demo's 125") << qint64(125) << qint64(1);
    QTest::newRow("500") << qint64(500) << qint64(1);
    QTest::newRow("501") << qint64(501) << qint64(2);
    QTest::newRow("1000") << qint64(1000) << qint64(2);
    QTest::newRow("1001") << qint64(1001) << qint64(3);
    QTest::newRow("4999") << qint64(4999) << qint64(10);
    QTest::newRow("100000") << qint64(100000) << qint64(200);
    QTest::newRow("100001") << qint64(100001) << qint64(201);
}

void TestLogging::automaticInterval() {
    QFETCH(qint64, steps);
    QFETCH(qint64, interval);
    train::TrainConfig c;
    QCOMPARE(c.loggingSteps, int64_t(0));  // automatic unless set
    QCOMPARE(train::TrainConfig::demoPreset().loggingSteps, int64_t(0));
    QCOMPARE(c.loggingInterval(steps), interval);
    // A run longer than the limit logs between half the limit and the limit (its last step is
    // logged whatever the interval).
    const int64_t points = int64_t(expectedSteps(steps, interval).size());
    const int64_t limit = train::TrainConfig::kAutoLoggedPoints;
    if (steps <= limit) QCOMPARE(points, steps);
    else QVERIFY2(points >= limit / 2 && points <= limit, qPrintable(QString::number(points)));
}

void TestLogging::explicitIntervalWins_data() {
    QTest::addColumn<qint64>("loggingSteps");
    QTest::addColumn<qint64>("steps");
    QTest::newRow("10 on a short run") << qint64(10) << qint64(125);
    QTest::newRow("1 on a long run") << qint64(1) << qint64(100000);
    QTest::newRow("longer than the run") << qint64(7) << qint64(3);
}

void TestLogging::explicitIntervalWins() {
    QFETCH(qint64, loggingSteps);
    QFETCH(qint64, steps);
    train::TrainConfig c;
    c.loggingSteps = loggingSteps;
    QCOMPARE(c.loggingInterval(steps), loggingSteps);
    // It survives the configuration's round trip (a recorded run, the GUI's form).
    QCOMPARE(train::TrainConfig::fromJson(c.toJson()).loggingInterval(steps), loggingSteps);
    c.loggingSteps = 0;
    QCOMPARE(train::TrainConfig::fromJson(c.toJson()).loggingSteps, int64_t(0));
    c.loggingSteps = -1;
    c.db = "p.db";
    QVERIFY_THROWS_EXCEPTION(Error, c.validate());
}

// A short run logs the train points its interval says, and stores the same points.
void TestLogging::runLogsAtItsInterval_data() {
    QTest::addColumn<qint64>("loggingSteps");
    QTest::newRow("automatic") << qint64(0);
    QTest::newRow("explicit 4") << qint64(4);
}

void TestLogging::runLogsAtItsInterval() {
    QFETCH(qint64, loggingSteps);
    QTemporaryDir dir;
    const std::string db = makeProject(dir, 8, 0);
    train::TrainConfig c = smallConfig(db, dir, "run");
    c.sftEpochs = 0;
    c.maxSteps = 6;
    c.loggingSteps = loggingSteps;
    Recorder rec;
    const auto r = run(c, rec);
    QVERIFY2(r.status == store::RunStatus::Finished, r.error.c_str());
    const auto expected = expectedSteps(c.maxSteps, c.loggingInterval(c.maxSteps));
    QCOMPARE(stepsOf(rec.of("train")), expected);
    const auto rows = storedRows(db, r.runId, "train");
    QCOMPARE(int64_t(rows.size()), int64_t(expected.size()));
    for (size_t i = 0; i < rows.size(); ++i) QCOMPARE(rows[i].step, expected[i]);
}

// The SFT warm-up reports its points (split "sft", steps 1..its own total) before the DPO
// loop's, the project stores them with that split, and the DPO series is the one a run logging
// every step has: no warm-up point in it, DPO steps numbered from 1.
void TestLogging::sftWarmupIsReportedAndStoredApart() {
    QTemporaryDir dir;
    const std::string db = makeProject(dir, 8, 4);
    train::TrainConfig c = smallConfig(db, dir, "auto");
    c.sftEpochs = 2;
    c.sftOn = "both";
    c.maxSteps = 5;
    c.loggingSteps = 0;
    Recorder rec;
    const auto r = run(c, rec);
    QVERIFY2(r.status == store::RunStatus::Finished, r.error.c_str());

    // 8 pairs, both responses: 16 rows in batches of 4 per epoch.
    const int64_t sftTotal = c.sftEpochs * ((8 * 2 + c.batchSize - 1) / c.batchSize);
    const auto sft = rec.of("sft");
    QCOMPARE(stepsOf(sft), expectedSteps(sftTotal, c.loggingInterval(sftTotal)));
    QCOMPARE(int64_t(sft.size()), sftTotal);  // a short warm-up: every step
    const int64_t perEpoch = sftTotal / c.sftEpochs;
    for (const auto& p : sft) {
        QCOMPARE(p.totalSteps, sftTotal);
        QCOMPARE(p.epoch, double(p.step) / double(perEpoch));
        for (const char* k : {"loss", "learning_rate", "grad_norm"}) {
            QVERIFY2(p.values.count(k), k);
            QVERIFY2(std::isfinite(p.values.at(k)), k);
        }
        QVERIFY(p.values.at("loss") > 0);
    }
    // Every warm-up point comes before the first DPO point.
    size_t lastSft = 0, firstDpo = rec.points.size();
    for (size_t i = 0; i < rec.points.size(); ++i) {
        if (rec.points[i].split == "sft") lastSft = i;
        else firstDpo = std::min(firstDpo, i);
    }
    QVERIFY(lastSft < firstDpo);

    // Stored as reported, split "sft".
    const auto sftRows = storedRows(db, r.runId, "sft");
    QCOMPARE(sftRows.size(), sft.size());
    for (size_t i = 0; i < sft.size(); ++i) {
        QCOMPARE(sftRows[i].step, sft[i].step);
        QCOMPARE(sftRows[i].epoch, sft[i].epoch);
        QCOMPARE(valuesOf(sftRows[i]), sft[i].values);
    }

    // The DPO series: steps 1..maxSteps, the same values as a run that sets --logging-steps 1;
    // only the wall-clock figure differs.
    const auto train = rec.of("train");
    QCOMPARE(stepsOf(train), expectedSteps(c.maxSteps, 1));
    for (const auto& p : train) QCOMPARE(p.totalSteps, c.maxSteps);
    train::TrainConfig every = smallConfig(db, dir, "explicit");
    every.sftEpochs = c.sftEpochs;
    every.sftOn = c.sftOn;
    every.maxSteps = c.maxSteps;
    every.loggingSteps = 1;
    Recorder rec1;
    const auto r1 = run(every, rec1);
    QVERIFY2(r1.status == store::RunStatus::Finished, r1.error.c_str());
    const auto train1 = rec1.of("train");
    QCOMPARE(train1.size(), train.size());
    for (size_t i = 0; i < train.size(); ++i) {
        auto a = train[i].values, b = train1[i].values;
        a.erase("tokens_per_second");
        b.erase("tokens_per_second");
        QCOMPARE(a, b);
    }
    const auto trainRows = storedRows(db, r.runId, "train");
    QCOMPARE(trainRows.size(), train.size());
    for (size_t i = 0; i < train.size(); ++i) {
        QCOMPARE(trainRows[i].step, train[i].step);
        QCOMPARE(valuesOf(trainRows[i]), train[i].values);
    }
    // The per-step loss does not depend on how often the run logs.
    QCOMPARE(rec.steps.size(), rec1.steps.size());
    for (size_t i = 0; i < rec.steps.size(); ++i) QCOMPARE(rec.steps[i].values.at("loss"), rec1.steps[i].values.at("loss"));
}

QTEST_GUILESS_MAIN(TestLogging)
#include "tst_logging.moc"
