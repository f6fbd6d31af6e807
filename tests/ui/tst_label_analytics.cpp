// Labeling analytics on the Label page: the two models under QAbstractItemModelTester, and the
// panel in the main window on a project where two annotators disagree: it computes in the
// background when its tab is shown, reports the figures of store::labelAnalytics(), follows a
// new label, and a double-click on a disagreement opens that pair.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "label_analytics.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "project_context.h"
#include "store/analytics.h"
#include "store/project.h"

using namespace dpowb;
using ui::AnnotatorModel;
using ui::DisagreementModel;
using ui::LabelAnalyticsPanel;

class TestLabelAnalytics : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void models();
    void panelInWindow();

private:
    QString screenshotDir() const { return qEnvironmentVariable("DPOWB_SCREENSHOTS"); }
    QTemporaryDir dir_;
};

void TestLabelAnalytics::models() {
    AnnotatorModel annotators;
    QAbstractItemModelTester t1(&annotators, QAbstractItemModelTester::FailureReportingMode::QtTest);
    store::AnnotatorSummary s;
    s.annotator = "ann";
    s.a = 3;
    s.b = 1;
    s.leftBetter = store::wilsonInterval(3, 4);
    s.labelsPerHour = 120;
    annotators.setRows({s, store::AnnotatorSummary{}});
    QCOMPARE(annotators.rowCount(), 2);
    QCOMPARE(annotators.index(0, AnnotatorModel::Labels).data().toLongLong(), 4LL);
    QCOMPARE(annotators.index(0, AnnotatorModel::LeftShare).data().toString(), QString("75.0%"));
    QVERIFY(annotators.index(0, AnnotatorModel::LeftShare).data(Qt::ToolTipRole).toString().contains("95% CI"));
    annotators.setRows({});
    QCOMPARE(annotators.rowCount(), 0);

    DisagreementModel disagreements;
    QAbstractItemModelTester t2(&disagreements, QAbstractItemModelTester::FailureReportingMode::QtTest);
    disagreements.setRows({store::Disagreement{7, {{"ann", "a"}, {"bo", "tie"}}}});
    QCOMPARE(disagreements.rowCount(), 1);
    QCOMPARE(disagreements.pairIdAt(0), qint64(7));
    QCOMPARE(disagreements.index(0, DisagreementModel::Verdicts).data().toString(), QString("ann: a · bo: tie"));
}

void TestLabelAnalytics::panelInWindow() {
    const QString path = dir_.filePath("agree.dpowb");
    std::vector<int64_t> ids;
    {
        auto p = store::Project::create(path.toStdString());
        for (int i = 0; i < 30; ++i) {
            store::Pair pair;
            pair.prompt = "Describe the film number " + std::to_string(i) + ".";
            pair.responseA = "A warm, funny film " + std::to_string(i) + ".";
            pair.responseB = "A dull, long film " + std::to_string(i) + ".";
            ids.push_back(p.addPair(pair));
        }
        // Two annotators on 24 pairs; they disagree on every fourth. ann always chose the
        // left side (a shown left, verdict a), so position bias shows.
        for (int i = 0; i < 24; ++i) {
            p.label(ids[i], store::Verdict::A, store::LabelOptions{1, "", "ann", 'a'});
            p.label(ids[i], i % 4 == 0 ? store::Verdict::B : store::Verdict::A, store::LabelOptions{1, "", "bo", 'b'});
        }
    }
    auto window = std::make_unique<ui::MainWindow>();
    window->resize(1500, 950);
    window->show();
    QVERIFY(window->openProject(path));
    ui::LabelView* view = window->labelView();
    LabelAnalyticsPanel* panel = view->analyticsPanel();
    QAbstractItemModelTester t1(panel->annotatorModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(panel->disagreementModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy updated(panel, &LabelAnalyticsPanel::updated);
    view->lowerTabs()->setCurrentWidget(panel);  // showing the tab computes
    QTRY_VERIFY_WITH_TIMEOUT(updated.count() >= 1, 30000);

    // The panel shows what the core computes on the same file.
    auto p = store::Project::open(path.toStdString());
    const store::LabelAnalytics expected = store::labelAnalytics(p);
    const auto& got = *panel->result();
    QCOMPARE(got.disagreements.size(), size_t(6));
    QCOMPARE(got.cohenKappa, expected.cohenKappa);
    QCOMPARE(panel->disagreementModel()->rowCount(), 6);
    QCOMPARE(panel->annotatorModel()->rowCount(), 2);
    const QString summary = panel->summaryText();
    QVERIFY2(summary.contains("Cohen's κ " + QString::number(expected.cohenKappa, 'f', 3)), qPrintable(summary));
    QVERIFY2(summary.contains("Warning"), qPrintable(summary));  // 24 + 6 of 48 on the left: 62.5 %
    QVERIFY(summary.contains("6 disagreements"));
    if (!screenshotDir().isEmpty()) {
        view->rightSplitter()->setSizes({420, 420});
        QCoreApplication::processEvents();
        QVERIFY(window->grab().save(screenshotDir() + "/label-analytics.png"));
    }

    // A double-click on a disagreement opens that pair (once the pair list has loaded).
    QTRY_VERIFY_WITH_TIMEOUT(!view->tableModel()->isLoading() && view->tableModel()->rowCount() == 30, 10000);
    QCoreApplication::processEvents();
    const QModelIndex second = panel->disagreementModel()->index(1, 0);
    const qint64 pairId = panel->disagreementModel()->pairIdAt(1);
    QTableView* table = panel->disagreementTable();
    QVERIFY(table->isVisible());
    Q_EMIT table->doubleClicked(second);  // the table's own double-click signal
    QTRY_COMPARE_WITH_TIMEOUT(view->currentPairId(), pairId, 10000);

    // A third annotator's label on a disagreement pair: the analytics follow.
    p.label(ids[0], store::Verdict::Tie, store::LabelOptions{1, "", "cy", 'a'});
    window->projectContext()->checkExternalChanges();
    QTRY_VERIFY_WITH_TIMEOUT(panel->result() && panel->result()->raters.size() == 3, 30000);
    QVERIFY(std::isnan(panel->result()->cohenKappa));  // κ is for two raters; α covers three
    QVERIFY(std::isfinite(panel->result()->krippendorffAlpha));
}

QTEST_MAIN(TestLabelAnalytics)
#include "tst_label_analytics.moc"
