// Training-health warnings on the Train page: the warnings model under
// QAbstractItemModelTester; a finished run's stored warnings as markers on their charts (at
// the step where they fired, on the drawn value, the explanation on hover) and as rows under
// the charts; a live run whose learning rate is too small to move the margins fires "no
// learning signal" while it trains, and the warning is stored with the run; the run history
// shows each run's data fingerprint and "Data changes…" lists what changed between two runs.
#include <QAbstractItemModelTester>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "../common/short_run.h"
#include "chart_grid.h"
#include "health_model.h"
#include "metric_chart.h"
#include "run_form.h"
#include "runs_model.h"
#include "store/provenance.h"
#include "store/formats.h"
#include "store/project.h"
#include "train/health.h"
#include "train/trainer.h"
#include "train_view.h"

using namespace dpowb;
using dpowb::ui::HealthModel;
using dpowb::ui::TrainView;

namespace {

constexpr int kWaitMs = 300000;  // a hang, not a speed requirement

store::HealthRow warning(int64_t run, int64_t step, const char* split, const char* code, const char* message) {
    return store::HealthRow{run, step, split, code, 1.0, message, 0};
}

}  // namespace

class TestHealthView : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void model();
    void finishedRunShowsWarnings();
    void liveRunFiresWarning();
    void dataChangesBetweenRuns();
    // With DPOWB_SCREENSHOTS and DPOWB_HEALTH_SCREENSHOT_DB (a project with a run that fired
    // warnings, e.g. the demo trained with --rpo-alpha 0): a screenshot of that run.
    void screenshotOfRealRun();

private:
    QString screenshotDir() const { return qEnvironmentVariable("DPOWB_SCREENSHOTS"); }
    QTemporaryDir dir_;
};

void TestHealthView::model() {
    HealthModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(m.rowCount(), 0);
    QVERIFY(m.add(warning(1, 30, "train", train::health::kDisplacement, "chosen fell")));
    QVERIFY(m.add(warning(1, 50, "eval", train::health::kLength, "r = 0.8")));
    QVERIFY(m.add(warning(2, 30, "train", train::health::kDisplacement, "chosen fell")));  // another run
    QVERIFY(!m.add(warning(1, 40, "train", train::health::kDisplacement, "again")));        // once per run and kind
    QCOMPARE(m.rowCount(), 3);
    QCOMPARE(m.columnCount(), int(HealthModel::ColumnCount));
    QCOMPARE(m.index(1, HealthModel::Step).data().toLongLong(), 50LL);
    QCOMPARE(m.index(1, HealthModel::Warning).data().toString(),
             QString::fromUtf8(train::healthInfo(train::health::kLength)->title));
    QCOMPARE(m.index(1, HealthModel::Details).data().toString(), QString("r = 0.8"));
    const QString tip = m.index(0, HealthModel::Warning).data(Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(QString::fromUtf8(train::healthInfo(train::health::kDisplacement)->why)), qPrintable(tip));
    QVERIFY(tip.contains("What to try"));
    m.clear();
    QCOMPARE(m.rowCount(), 0);
}

void TestHealthView::finishedRunShowsWarnings() {
    const QString path = dir_.filePath("finished.dpowb");
    int64_t run = 0;
    {
        auto p = store::Project::create(path.toStdString());
        store::RunRecord r;
        r.name = "displaced";
        run = p.createRun(r);
        std::vector<store::MetricRow> rows;
        for (int step = 10; step <= 50; step += 10) {
            store::MetricRow m;
            m.runId = run;
            m.step = step;
            m.split = "train";
            const double chosen = -0.1 * step / 10.0, margin = 0.4 * step / 10.0;
            m.valuesJson = "{\"loss\": 0.5, \"rewards/chosen\": " + std::to_string(chosen) +
                           ", \"rewards/rejected\": " + std::to_string(chosen - margin) +
                           ", \"rewards/margins\": " + std::to_string(margin) + ", \"rewards/accuracies\": 1.0}";
            rows.push_back(m);
        }
        store::MetricRow e;
        e.runId = run;
        e.step = 50;
        e.split = "eval";
        e.valuesJson = "{\"loss\": 0.6, \"rewards/margins\": 1.5, \"rewards/accuracies\": 0.9}";
        rows.push_back(e);
        p.addMetrics(rows);
        p.addHealthWarning(warning(run, 30, "train", train::health::kDisplacement,
                                   "the chosen reward fell to -0.3 while the margin grew to 1.2"));
        p.addHealthWarning(warning(run, 50, "eval", train::health::kLength, "r = 0.81 over 200 eval pairs"));
        p.setRunStatus(run, store::RunStatus::Finished);
    }
    TrainView view(path);
    view.resize(1500, 950);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.showRuns({run});
    view.charts()->flush();

    // The list under the charts.
    QCOMPARE(view.healthModel()->rowCount(), 2);
    QVERIFY(view.healthTable()->isVisible());
    QVERIFY2(view.healthLabel()->text().contains("2 warnings"), qPrintable(view.healthLabel()->text()));
    QAbstractItemModelTester tester(view.healthModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);

    // A marker on each warning's chart, at its step, on the value the chart draws there.
    QCOMPARE(view.charts()->markerCount(), 2);
    ui::MetricChart* rewards = view.charts()->chartFor("rewards/chosen");
    QCOMPARE(rewards->markerCount(), 1);
    QCOMPARE(rewards->markerPoint(0).x(), 30.0);
    QCOMPARE(rewards->markerPoint(0).y(), -0.3);  // rewards/chosen at step 30, as stored
    const QString hover = rewards->markerHoverText(QPointF(31, 0));
    QVERIFY2(hover.contains(QString::fromUtf8(train::healthInfo(train::health::kDisplacement)->title)), qPrintable(hover));
    QVERIFY(hover.contains("the chosen reward fell to -0.3"));
    QVERIFY(hover.contains("What to try"));
    ui::MetricChart* margins = view.charts()->chartFor("rewards/margins");
    QCOMPARE(margins->markerCount(), 1);
    QCOMPARE(margins->markerPoint(0).x(), 50.0);
    QCOMPARE(margins->markerPoint(0).y(), 1.5);  // on the eval line, where the warning fired

    // Another selection without warnings empties the list and the markers.
    view.showRuns({});
    QCOMPARE(view.healthModel()->rowCount(), 0);
    QCOMPARE(view.charts()->markerCount(), 0);
    QVERIFY(!view.healthTable()->isVisible());
}

void TestHealthView::liveRunFiresWarning() {
    const QString path = dir_.filePath("live.dpowb");
    {
        auto p = store::Project::create(path.toStdString());
        store::addDemoPairs(p);
    }
    train::TrainConfig c = test::shortDemoRun(4);
    c.db = path.toStdString();
    c.evalSteps = 100;  // only the final evaluation
    c.warmupSteps = 0;
    c.lr = 1e-12;  // far too small to move a margin: no learning signal
    c.name = "stuck";

    TrainView view(path);
    view.resize(1500, 950);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QSignalSpy finished(&view, &TrainView::runFinished);
    QVERIFY(view.startRun(c));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kWaitMs);
    const auto& result = *view.lastResult();
    QVERIFY2(result.status == store::RunStatus::Finished, result.error.c_str());
    QCOMPARE(result.healthWarnings, std::vector<std::string>{train::health::kNoSignal});

    QCOMPARE(view.healthModel()->rowCount(), 1);
    const store::HealthRow& w = view.healthModel()->rowAt(0);
    QCOMPARE(w.runId, int64_t(view.liveRunId()));
    QCOMPARE(w.code, std::string(train::health::kNoSignal));
    QCOMPARE(w.step, int64_t(3));  // the third logged point in a row without signal
    view.charts()->flush();
    QCOMPARE(view.charts()->chartFor("loss")->markerCount(), 1);
    QCOMPARE(view.charts()->chartFor("loss")->markerPoint(0).x(), 3.0);

    // Stored with the run: a fresh view shows it for the finished run.
    auto p = store::Project::open(path.toStdString());
    const auto stored = p.healthWarnings(view.liveRunId());
    QCOMPARE(stored.size(), size_t(1));
    QCOMPARE(stored[0].code, std::string(train::health::kNoSignal));
    QCOMPARE(stored[0].step, int64_t(3));
    TrainView again(path);
    again.showRuns({view.liveRunId()});
    QCOMPARE(again.healthModel()->rowCount(), 1);
}

void TestHealthView::dataChangesBetweenRuns() {
    // Two run records whose snapshots differ by one added and one relabelled pair; the history
    // shows their fingerprints, and "Data changes…" (two runs selected) lists the difference.
    const QString path = dir_.filePath("changes.dpowb");
    int64_t first = 0, second = 0;
    std::string fpFirst;
    {
        auto p = store::Project::create(path.toStdString());
        std::vector<int64_t> ids;
        for (int i = 0; i < 4; ++i) {
            store::Pair pair;
            pair.prompt = "p" + std::to_string(i);
            pair.responseA = "a" + std::to_string(i);
            pair.responseB = "b" + std::to_string(i);
            ids.push_back(p.addPair(pair));
        }
        auto record = [&](const std::vector<store::SnapshotEntry>& snap) {
            std::string json = "[";
            for (const auto& e : snap)
                json += (json.size() > 1 ? "," : "") + std::string("[") + std::to_string(e.pairId) + ",\"" + e.verdict + "\"," +
                        std::to_string(e.labelId) + "]";
            store::RunRecord r;
            r.snapshotJson = json + "]";
            r.dataFingerprint = store::dataFingerprint(p, snap);
            const int64_t id = p.createRun(r);
            p.setRunStatus(id, store::RunStatus::Finished);
            return id;
        };
        first = record({{ids[0], "a", 1}, {ids[1], "a", 2}});
        second = record({{ids[0], "a", 1}, {ids[1], "b", 3}, {ids[2], "a", 4}});
        fpFirst = p.run(first)->dataFingerprint;
    }
    TrainView view(path);
    view.showRuns({first, second});
    QVERIFY(view.dataChangesButton()->isEnabled());
    const QString text = view.dataChangesText(first, second);
    QVERIFY2(text.contains("1 added, 0 removed, 1 relabelled"), qPrintable(text));
    QVERIFY(text.contains("Relabelled: 2 (a→b)"));
    QVERIFY(text.contains(QString::fromStdString(fpFirst).left(19)));
    view.showRuns({first});
    QVERIFY(!view.dataChangesButton()->isEnabled());
    // The history's Data column shows the fingerprint, short.
    const int row = view.runsModel()->rowOf(first);
    QCOMPARE(view.runsModel()->index(row, ui::RunsModel::Data).data().toString(), QString::fromStdString(fpFirst).mid(7, 10));
}

void TestHealthView::screenshotOfRealRun() {
    const QString db = qEnvironmentVariable("DPOWB_HEALTH_SCREENSHOT_DB");
    if (screenshotDir().isEmpty() || db.isEmpty()) QSKIP("set DPOWB_SCREENSHOTS and DPOWB_HEALTH_SCREENSHOT_DB to take it");
    TrainView view(db);
    view.resize(1500, 950);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    auto p = store::Project::open(db.toStdString());
    QVERIFY(!p.runs().empty());
    const qint64 run = p.runs().front().id;
    view.showRuns({run});
    view.charts()->flush();
    QCOMPARE(view.healthModel()->rowCount(), int(p.healthWarnings(run).size()));
    QVERIFY(view.grab().save(screenshotDir() + "/train-health.png"));
}

QTEST_MAIN(TestHealthView)
#include "tst_health_view.moc"
