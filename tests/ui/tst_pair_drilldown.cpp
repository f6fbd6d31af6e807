// The per-pair drill-down on the Train page, driven by keys into the focus widget, on a real
// run of the built-in tiny model that evaluated its test pairs at every step: the table lists
// the recorded pairs, each filter shows exactly the pairs (and order) its definition gives on
// the recorded rewards, Enter opens the pair in Compare scored under the run (the token heat
// map, with the margin the run recorded), and R sends the selected pairs to the Label page as a
// saved filter that shows exactly them, also after a restart. The models pass
// QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QComboBox>
#include <QSettings>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>

#include "chart_grid.h"
#include "compare_view.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_drilldown.h"
#include "pair_outcomes_model.h"
#include "pair_table_model.h"
#include "store/pair_outcomes.h"
#include "store/project.h"
#include "train/trainer.h"
#include "train_view.h"
#include "workbench_pages.h"

using namespace dpowb;

namespace {

// What the table should show for a filter, from the recorded rows and the filter's definition
// (not through store::filterOutcomes).
std::vector<qint64> expectedIds(const std::vector<store::DrillDownRow>& rows, store::OutcomeFilter f, int limit) {
    struct R {
        qint64 id;
        double margin;
        std::optional<double> change;
    };
    std::vector<R> v;
    for (const auto& r : rows) {
        const double m = r.outcome.chosenReward - r.outcome.rejectedReward;
        v.push_back({r.outcome.pairId, m, r.baseMargin ? std::optional<double>(m - *r.baseMargin) : std::nullopt});
    }
    auto byId = [](const R& a, const R& b) { return a.id < b.id; };
    std::sort(v.begin(), v.end(), byId);
    if (f == store::OutcomeFilter::Flipped) {
        v.erase(std::remove_if(v.begin(), v.end(), [](const R& r) { return r.margin >= 0; }), v.end());
        std::stable_sort(v.begin(), v.end(), [](const R& a, const R& b) { return a.margin < b.margin; });
    } else if (f == store::OutcomeFilter::Worst) {
        std::stable_sort(v.begin(), v.end(), [](const R& a, const R& b) { return a.margin < b.margin; });
        if (int(v.size()) > limit) v.resize(size_t(limit));
    } else if (f == store::OutcomeFilter::Changed) {
        v.erase(std::remove_if(v.begin(), v.end(), [](const R& r) { return !r.change; }), v.end());
        std::stable_sort(v.begin(), v.end(),
                         [](const R& a, const R& b) { return std::fabs(*a.change) > std::fabs(*b.change); });
        if (int(v.size()) > limit) v.resize(size_t(limit));
    }
    std::vector<qint64> ids;
    for (const auto& r : v) ids.push_back(r.id);
    return ids;
}

std::vector<qint64> shownIds(const QAbstractItemModel* m) {
    std::vector<qint64> ids;
    for (int r = 0; r < m->rowCount(); ++r) ids.push_back(m->index(r, 0).data(ui::PairOutcomesModel::PairIdRole).toLongLong());
    return ids;
}

void key(int k, Qt::KeyboardModifiers mods = Qt::NoModifier) {
    QWidget* w = QApplication::focusWidget();
    QVERIFY(w);
    QTest::keyClick(w, Qt::Key(k), mods);
}

}  // namespace

class TestPairDrillDown : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString path_, out_;
    qint64 runId_ = 0;
    std::vector<store::DrillDownRow> rows_;  // the run's last evaluation, as recorded

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_pair_drilldown"));
        QSettings().clear();
        QVERIFY(dir_.isValid());
        path_ = dir_.filePath("drill.dpowb");
        {
            auto p = store::Project::create(path_.toStdString());
            for (int i = 0; i < 20; ++i) {
                store::Pair pair;
                pair.prompt = "Review " + std::to_string(i) + ":";
                pair.responseA = "a fine film, " + std::to_string(i);
                pair.responseB = "a dull and long film, " + std::to_string(i);
                pair.split = i < 12 ? "train" : "test";
                const int64_t id = p.addPair(pair);
                p.label(id, i % 3 ? store::Verdict::A : store::Verdict::B, {});
            }
        }
        out_ = dir_.filePath("run");
        train::TrainConfig c = train::TrainConfig::demoPreset();
        c.db = path_.toStdString();
        c.out = out_.toStdString();
        c.maxSteps = 3;
        c.sftEpochs = 0;
        c.batchSize = 4;
        c.maxLength = 40;
        c.maxPromptLength = 16;
        c.loggingSteps = 1;
        c.evalSteps = 1;
        c.warmupSteps = 0;
        c.lr = 5e-3;
        c.name = "drill";
        train::TrainObserver quiet;
        train::TrainControl control;
        const train::TrainResult r = train::runTraining(c, quiet, control);
        QCOMPARE(r.status, store::RunStatus::Finished);
        runId_ = r.runId;
        auto p = store::Project::open(path_.toStdString());
        store::DrillDownQuery q;
        q.runId = runId_;
        q.limit = 0;
        const auto t = store::loadDrillDown(p, q);
        QCOMPARE(t.steps, (std::vector<int64_t>{0, 1, 2, 3}));  // step 0 and every step
        QCOMPARE(t.rows.size(), size_t(8));                      // the 8 test pairs
        rows_ = t.rows;
    }

    void modelsPassTheTester() {
        ui::PairOutcomesModel model;
        ui::PairOutcomesProxy proxy;
        QAbstractItemModelTester t1(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setSourceModel(&model);
        QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setRows(rows_);
        for (auto f : {store::OutcomeFilter::Flipped, store::OutcomeFilter::Worst, store::OutcomeFilter::Changed,
                       store::OutcomeFilter::All}) {
            proxy.setOutcomeFilter(f, 3);
            for (int c = 0; c < ui::PairOutcomesModel::ColumnCount; ++c) proxy.sort(c, Qt::DescendingOrder);
        }
        model.setRows({});
        QCOMPARE(proxy.rowCount(), 0);
        model.setRows(rows_);
        QCOMPARE(proxy.rowCount(), int(rows_.size()));
    }

    void filtersByKeys_data() {
        QTest::addColumn<int>("downs");  // Down presses in the filter box
        QTest::addColumn<int>("filter");
        QTest::newRow("all") << 0 << int(store::OutcomeFilter::All);
        QTest::newRow("flipped") << 1 << int(store::OutcomeFilter::Flipped);
        QTest::newRow("worst margins") << 2 << int(store::OutcomeFilter::Worst);
        QTest::newRow("largest change") << 3 << int(store::OutcomeFilter::Changed);
    }

    void filtersByKeys() {
        QFETCH(int, downs);
        QFETCH(int, filter);
        ui::TrainView view(path_);
        view.resize(1300, 800);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.showRuns({runId_});
        ui::PairDrillDown* drill = view.pairDrillDown();
        view.sideTabs()->setCurrentWidget(drill);
        QTRY_VERIFY(!drill->isLoading() && drill->shownTable() && drill->shownTable()->runId == runId_);
        QCOMPARE(drill->proxy()->rowCount(), int(rows_.size()));

        drill->filterCombo()->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(drill->filterCombo()));
        for (int i = 0; i < downs; ++i) key(Qt::Key_Down);
        QCOMPARE(drill->proxy()->outcomeFilter(), store::OutcomeFilter(filter));
        const auto want = expectedIds(rows_, store::OutcomeFilter(filter), drill->proxy()->limit());
        QCOMPARE(shownIds(drill->proxy()), want);
        if (want.empty()) return;

        // Enter on the first row opens it.
        drill->table()->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(drill->table()));
        QSignalSpy open(drill, &ui::PairDrillDown::openPairRequested);
        key(Qt::Key_Home, Qt::ControlModifier);  // the first row
        key(Qt::Key_Return);
        QCOMPARE(open.size(), 1);
        QCOMPARE(open[0][0].toLongLong(), runId_);
        QCOMPARE(open[0][1].toLongLong(), want[0]);

        // Shift+Down extends the selection; R sends it to relabel.
        const size_t n = std::min<size_t>(2, want.size());
        if (n == 2) key(Qt::Key_Down, Qt::ShiftModifier);
        QSignalSpy saved(drill, &ui::PairDrillDown::pairSetSaved);
        key(Qt::Key_R);
        QVERIFY(saved.wait(10000));
        auto p = store::Project::open(path_.toStdString());
        store::PairQuery q;
        q.pairSet = saved[0][0].toLongLong();
        std::vector<qint64> wantSet(want.begin(), want.begin() + long(n));
        std::sort(wantSet.begin(), wantSet.end());
        auto got = p.pairIds(q);
        QCOMPARE(std::vector<qint64>(got.begin(), got.end()), wantSet);
        QCOMPARE(saved[0][1].toString(), ui::PairDrillDown::relabelSetName(runId_));
    }

    // A run started from the page: the tab follows it and reads each evaluation as it comes
    // (nothing else reloads it), ending with every step's outcomes.
    void followsLiveRun() {
        ui::TrainView view(path_);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.sideTabs()->setCurrentWidget(view.pairDrillDown());
        QSignalSpy finished(&view, &ui::TrainView::runFinished);
        QSignalSpy loaded(view.pairDrillDown(), &ui::PairDrillDown::loaded);
        train::TrainConfig c = train::TrainConfig::demoPreset();
        c.db = path_.toStdString();
        c.out = dir_.filePath("live").toStdString();
        c.maxSteps = 2;
        c.sftEpochs = 0;
        c.batchSize = 4;
        c.maxLength = 40;
        c.maxPromptLength = 16;
        c.evalSteps = 1;
        c.name = "live";
        QVERIFY(view.startRun(c));
        QVERIFY(finished.wait(120000));
        const qint64 live = view.liveRunId();
        QVERIFY(live != runId_);
        QCOMPARE(view.pairDrillDown()->runId(), live);
        QTRY_VERIFY(view.pairDrillDown()->shownTable() && view.pairDrillDown()->shownTable()->steps.size() == 3);
        QCOMPARE(view.pairDrillDown()->shownTable()->steps, (std::vector<int64_t>{0, 1, 2}));
        QCOMPARE(view.pairDrillDown()->proxy()->rowCount(), int(rows_.size()));
        QVERIFY(loaded.size() >= 2);  // at the start (nothing yet) and at the evaluations
    }

    // Sorting by a header click orders by the number, not the rounded text.
    void sortsByColumn() {
        ui::TrainView view(path_);
        view.show();
        view.showRuns({runId_});
        ui::PairDrillDown* drill = view.pairDrillDown();
        QTRY_VERIFY(!drill->isLoading() && drill->shownTable() && drill->shownTable()->runId == runId_);
        QCOMPARE(drill->proxy()->rowCount(), int(rows_.size()));
        drill->table()->sortByColumn(ui::PairOutcomesModel::RejectedReward, Qt::DescendingOrder);
        double prev = INFINITY;
        for (int r = 0; r < drill->proxy()->rowCount(); ++r) {
            const double v = drill->proxy()->index(r, ui::PairOutcomesModel::RejectedReward).data(ui::PairOutcomesModel::SortRole).toDouble();
            QVERIFY(v <= prev);
            prev = v;
        }
    }

    void windowOpensPairAndRelabels() {
        const std::vector<qint64> worst = expectedIds(rows_, store::OutcomeFilter::Worst, 20);
        std::vector<qint64> sent(worst.begin(), worst.begin() + 3);
        std::sort(sent.begin(), sent.end());
        {
            ui::MainWindow window;
            const ui::WorkbenchPages pages = ui::addWorkbenchPages(window);
            window.resize(1400, 850);
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            QVERIFY(window.openProject(path_));
            window.showPage(QStringLiteral("Train"));
            pages.train->showRuns({runId_});
            ui::PairDrillDown* drill = pages.train->pairDrillDown();
            pages.train->sideTabs()->setCurrentWidget(drill);
            QTRY_VERIFY(!drill->isLoading() && drill->shownTable() && drill->shownTable()->runId == runId_);
            QCOMPARE(drill->proxy()->rowCount(), int(rows_.size()));
            drill->filterCombo()->setFocus();
            QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(drill->filterCombo()));
            key(Qt::Key_Down);
            key(Qt::Key_Down);  // worst margins
            drill->table()->setFocus();
            QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(drill->table()));
            key(Qt::Key_Home, Qt::ControlModifier);
            QSignalSpy scored(pages.compare, &ui::CompareView::pairScored);
            key(Qt::Key_Return);
            // The Compare page shows the pair, scored under the run: its token heat map, and the
            // margin the run's last evaluation recorded (the same policy; another batching).
            QCOMPARE(pages.compare->currentPairId(), worst[0]);
            QVERIFY(scored.wait(60000));
            const auto& s = pages.compare->pairScore();
            QVERIFY(s.has_value());
            QVERIFY(!s->a.pieces.empty() && s->a.policyPieceLogps.size() == s->a.pieces.size());
            const auto& rec = std::find_if(rows_.begin(), rows_.end(), [&](const store::DrillDownRow& r) {
                                  return r.outcome.pairId == worst[0];
                              })->outcome;
            const double beta = pages.compare->models().beta;
            const double ra = s->a.reward(beta), rb = s->b.reward(beta);
            const double margin = rec.chosen == "b" ? rb - ra : ra - rb;
            QVERIFY2(std::fabs(margin - rec.margin()) <= 1e-4 * (1 + std::fabs(rec.margin())),
                     qPrintable(QString("%1 vs %2").arg(margin).arg(rec.margin())));

            // Back on the Train page: the three worst, R; the Label page then shows exactly them.
            window.showPage(QStringLiteral("Train"));
            drill->table()->setFocus();
            QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(drill->table()));
            key(Qt::Key_Home, Qt::ControlModifier);
            key(Qt::Key_Down, Qt::ShiftModifier);
            key(Qt::Key_Down, Qt::ShiftModifier);
            QSignalSpy saved(drill, &ui::PairDrillDown::pairSetSaved);
            key(Qt::Key_R);
            QVERIFY(saved.wait(10000));
            ui::LabelView* label = window.labelView();
            QVERIFY(label->pairSetFilter()->isVisibleTo(label));
            QTRY_COMPARE(label->tableModel()->rowCount(), 3);
            std::vector<qint64> shown;
            for (int r = 0; r < 3; ++r) shown.push_back(label->tableModel()->pairIdAt(r));
            std::sort(shown.begin(), shown.end());
            QCOMPARE(shown, sent);
        }
        // After a restart the Label page still offers the filter; picked by keys it shows them.
        ui::MainWindow window;
        ui::addWorkbenchPages(window);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openProject(path_));
        window.showPage(QStringLiteral("Label"));
        ui::LabelView* label = window.labelView();
        QComboBox* sets = label->pairSetFilter();
        QVERIFY(sets->isVisibleTo(label));
        QCOMPARE(sets->count(), 2);
        QVERIFY(sets->itemText(1).startsWith(ui::PairDrillDown::relabelSetName(runId_)));
        QTRY_VERIFY(label->tableModel()->rowCount() == 20);
        // (The Label page's keys label and move between pairs whatever has the focus: the set
        // is picked as with the mouse.)
        sets->setCurrentIndex(1);
        Q_EMIT sets->activated(1);
        QTRY_COMPARE(label->tableModel()->rowCount(), 3);
        std::vector<qint64> shown;
        for (int r = 0; r < 3; ++r) shown.push_back(label->tableModel()->pairIdAt(r));
        std::sort(shown.begin(), shown.end());
        QCOMPARE(shown, sent);
    }

    // docs/screenshots/pair-drilldown.png: DPOWB_SCREENSHOTS=DIR, on this suite's run or on the
    // latest run of DPOWB_DRILL_SCREENSHOT_DB.
    void screenshot() {
        const QString dir = qEnvironmentVariable("DPOWB_SCREENSHOTS");
        if (dir.isEmpty()) QSKIP("set DPOWB_SCREENSHOTS to take it");
        QString db = qEnvironmentVariable("DPOWB_DRILL_SCREENSHOT_DB");
        qint64 run = runId_;
        if (!db.isEmpty()) {
            auto p = store::Project::open(db.toStdString());
            run = p.runs().front().id;  // newest first
        } else {
            db = path_;
        }
        ui::TrainView view(db);
        view.resize(1500, 820);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.showRuns({run});
        ui::PairDrillDown* drill = view.pairDrillDown();
        view.sideTabs()->setCurrentWidget(drill);
        QTRY_VERIFY(!drill->isLoading() && drill->shownTable() && drill->shownTable()->runId == run);
        if (auto* split = view.findChild<QSplitter*>()) split->setSizes({760, 740});
        drill->filterCombo()->setFocus();
        key(Qt::Key_Down);  // flipped
        if (drill->proxy()->rowCount() == 0) key(Qt::Key_Down);  // none flipped: worst margins
        drill->table()->setFocus();
        key(Qt::Key_Home, Qt::ControlModifier);
        key(Qt::Key_Down, Qt::ShiftModifier);
        drill->table()->resizeColumnsToContents();
        view.charts()->flush();
        QVERIFY(view.grab().save(dir + "/pair-drilldown.png"));
    }
};

QTEST_MAIN(TestPairDrillDown)
#include "tst_pair_drilldown.moc"
