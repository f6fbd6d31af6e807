// The Label page with several annotators, offscreen: in blind mode annotator bob does not see
// alice's verdict on a pair (not in the list, the chip, the history nor the title) until he has
// labelled it with a key typed into the focus widget; then he does. In consensus mode he sees it
// from the start. The list's "Unlabelled" is bob's own queue. The Adjudication tab lists the
// disagreement with each verdict, decides it with its buttons (undoable), and its model passes
// QAbstractItemModelTester. DPOWB_SCREENSHOT_DIR=folder saves adjudication.png of the page.
// Blind, neither the Labeling analytics tab, the "Unresolved" filter nor sorting by the verdict
// column tells bob what alice and carol said of pair 2 before he labels it.
#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QComboBox>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <memory>

#include "adjudication_panel.h"
#include "label_analytics.h"
#include "label_history_model.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "pair_view.h"
#include "project_context.h"
#include "store/project.h"

using namespace dpowb;
using ui::LabelView;

class TestAnnotatorView : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    int files_ = 0;
    std::unique_ptr<ui::MainWindow> window_;

    LabelView* view() { return window_->labelView(); }
    store::Project& project() { return window_->projectContext()->project(); }
    void waitLoaded() {
        QTRY_VERIFY_WITH_TIMEOUT(!view()->tableModel()->isLoading(), 10000);
        QCoreApplication::processEvents();
    }
    void press(int key) {
        QWidget* target = QApplication::focusWidget();
        QVERIFY(target);
        QTest::keyClick(target, Qt::Key(key));
    }
    // Alice and carol labelled pairs 1 and 2; pair 3 is nobody's yet. Opened as bob.
    void openAsBob(store::AnnotationMode mode) {
        const std::string path = dir_.filePath(QString("p%1.db").arg(++files_)).toStdString();
        {
            auto p = store::Project::create(path);
            for (int i = 1; i <= 3; ++i) {
                store::Pair pair;
                pair.prompt = "Prompt " + std::to_string(i);
                pair.responseA = "First answer " + std::to_string(i);
                pair.responseB = "Second answer " + std::to_string(i);
                p.addPair(pair);
            }
            p.setAnnotationMode(mode);
            store::LabelOptions alice;
            alice.annotator = "alice";
            p.label(1, store::Verdict::A, alice);
            p.label(2, store::Verdict::B, alice);
            store::LabelOptions carol;
            carol.annotator = "carol";
            p.label(2, store::Verdict::A, carol);
        }
        qputenv("DPOWB_ANNOTATOR", "bob");
        window_ = std::make_unique<ui::MainWindow>();
        window_->resize(1300, 860);
        window_->show();
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
        QVERIFY(window_->openProject(QString::fromStdString(path)));
        waitLoaded();
        QApplication::setActiveWindow(window_.get());
        QTRY_VERIFY(QApplication::focusWidget());
    }
    // What of alice's verdict on pair 1 bob's screen shows.
    bool aliceVisible() {
        bool inHistory = false;
        for (int r = 0; r < view()->historyModel()->rowCount(); ++r)
            inHistory |= view()->historyModel()
                             ->data(view()->historyModel()->index(r, ui::LabelHistoryModel::AnnotatorColumn))
                             .toString() == QStringLiteral("alice");
        return inHistory;
    }

    void choose(store::VerdictFilter f) {
        QComboBox* filter = view()->verdictFilter();
        filter->setCurrentIndex(filter->findData(int(f)));
        QMetaObject::invokeMethod(filter, "activated", Q_ARG(int, filter->currentIndex()));
        waitLoaded();
    }
    // Whether `surface` shows bob anything of alice's verdict on pair 2 (alice b, carol a).
    bool showsAlice(const QString& surface) {
        if (surface == QLatin1String("analytics")) {
            ui::LabelAnalyticsPanel* panel = view()->analyticsPanel();
            view()->lowerTabs()->setCurrentWidget(panel);
            panel->refresh();
            QTest::qWait(0);
            [&] { QTRY_VERIFY_WITH_TIMEOUT(!panel->isBusy() && panel->result(), 10000); }();
            QCoreApplication::processEvents();
            bool shown = panel->summaryText().contains(QStringLiteral("α"));
            ui::DisagreementModel* d = panel->disagreementModel();
            for (int r = 0; r < d->rowCount(); ++r)
                shown |= d->data(d->index(r, ui::DisagreementModel::Verdicts)).toString().contains(QStringLiteral("alice"));
            ui::AnnotatorModel* a = panel->annotatorModel();
            for (int r = 0; r < a->rowCount(); ++r)
                shown |= a->data(a->index(r, ui::AnnotatorModel::Annotator)).toString() == QStringLiteral("alice");
            return shown;
        }
        if (surface == QLatin1String("unresolved")) {
            choose(store::VerdictFilter::Unresolved);
            const bool shown = view()->tableModel()->rowOfPair(2) >= 0;
            choose(store::VerdictFilter::Any);
            return shown;
        }
        // "sort": the rows are in the order of bob's own verdicts (none first, then by id), or
        // of something bob may not see.
        Q_EMIT view()->table()->horizontalHeader()->sectionClicked(ui::PairTableModel::LabelColumn);
        waitLoaded();
        std::vector<std::pair<std::string, qint64>> keys, sorted;
        for (int r = 0; r < view()->tableModel()->rowCount(); ++r) {
            const qint64 id = view()->tableModel()->pairIdAt(r);
            const auto mine = project().verdictsFor(id, "bob").mine;
            keys.emplace_back(mine ? store::toString(*mine) : std::string(), id);
        }
        sorted = keys;
        std::sort(sorted.begin(), sorted.end());
        Q_EMIT view()->table()->horizontalHeader()->sectionClicked(ui::PairTableModel::IdColumn);
        waitLoaded();
        return keys != sorted || keys.size() != 3;
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_annotator_view"));
        QSettings().clear();
        QVERIFY(dir_.isValid());
    }
    void cleanup() { window_.reset(); }

    void seesOthersOnlyAfterLabelling_data() {
        QTest::addColumn<int>("mode");
        QTest::addColumn<bool>("visibleBefore");
        QTest::newRow("blind") << int(store::AnnotationMode::Blind) << false;
        QTest::newRow("consensus") << int(store::AnnotationMode::Consensus) << true;
    }

    void seesOthersOnlyAfterLabelling() {
        QFETCH(int, mode);
        QFETCH(bool, visibleBefore);
        openAsBob(store::AnnotationMode(mode));
        auto tester = std::make_unique<QAbstractItemModelTester>(view()->tableModel(),
                                                                 QAbstractItemModelTester::FailureReportingMode::QtTest);
        // Bob's list: nothing labelled by him, so the view opens at pair 1 and shows no verdict.
        QVERIFY(view()->selectPair(1));
        QCOMPARE(view()->currentPairId(), qint64(1));
        QVERIFY(!view()->tableModel()->verdictAt(0));
        QCOMPARE(view()->verdictChip()->text(), QStringLiteral("unlabelled"));
        QCOMPARE(aliceVisible(), visibleBefore);
        QCOMPARE(view()->pairTitle()->text().contains(QStringLiteral("hidden")), !visibleBefore);
        QCOMPARE(view()->pairTitle()->text().contains(QStringLiteral("training verdict A (1 of 1)")), visibleBefore);
        // "Unlabelled" is bob's queue: all three pairs.
        QComboBox* filter = view()->verdictFilter();
        filter->setCurrentIndex(filter->findData(int(store::VerdictFilter::Unlabelled)));
        QMetaObject::invokeMethod(filter, "activated", Q_ARG(int, filter->currentIndex()));
        waitLoaded();
        QCOMPARE(view()->tableModel()->rowCount(), 3);
        QVERIFY(view()->selectPair(1));

        // Bob labels pair 1 with the key for the right side.
        const char shownLeft = view()->pairView()->shownLeft();
        press(Qt::Key_2);
        const store::Verdict bobs = shownLeft == 'a' ? store::Verdict::B : store::Verdict::A;
        const auto own = project().verdictsFor(1, "bob");
        QCOMPARE(own.mine, std::optional<store::Verdict>(bobs));
        waitLoaded();
        filter->setCurrentIndex(filter->findData(int(store::VerdictFilter::Any)));
        QMetaObject::invokeMethod(filter, "activated", Q_ARG(int, filter->currentIndex()));
        waitLoaded();
        QVERIFY(view()->selectPair(1));
        QVERIFY(aliceVisible());  // now he sees alice's label
        QVERIFY(!view()->verdictChip()->text().contains(QStringLiteral("unlabelled")));
        const QString expectState = bobs == store::Verdict::A ? QStringLiteral("training verdict A (2 of 2)")
                                                              : QStringLiteral("unresolved: no majority of 2");
        QVERIFY2(view()->pairTitle()->text().contains(expectState), qPrintable(view()->pairTitle()->text()));
        // Undo (Ctrl+Z) takes his label back: in blind mode alice's is hidden again.
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(!project().verdictsFor(1, "bob").mine);
        QCOMPARE(aliceVisible(), visibleBefore);
    }

    // Blind, bob sees nothing of alice's verdict on pair 2 on these surfaces until he has
    // labelled it (a tie, so the pair stays unresolved); then the analytics and "Unresolved"
    // may show it, and the verdict column still sorts by his own verdicts. "I adjudicate"
    // shows the analytics' agreement and every unresolved pair.
    void blindSurfaces_data() {
        QTest::addColumn<QString>("surface");
        QTest::addColumn<bool>("shownAfter");
        QTest::addColumn<bool>("shownAdjudicating");
        QTest::newRow("analytics") << QStringLiteral("analytics") << true << true;
        QTest::newRow("unresolved") << QStringLiteral("unresolved") << true << true;
        QTest::newRow("sort") << QStringLiteral("sort") << false << false;
    }

    void blindSurfaces() {
        QFETCH(QString, surface);
        QFETCH(bool, shownAfter);
        QFETCH(bool, shownAdjudicating);
        openAsBob(store::AnnotationMode::Blind);
        QVERIFY(project().pair(2) && !project().pair(2)->verdict);  // alice b, carol a: unresolved
        auto tester = std::make_unique<QAbstractItemModelTester>(view()->tableModel(),
                                                                 QAbstractItemModelTester::FailureReportingMode::QtTest);
        auto disagreements = std::make_unique<QAbstractItemModelTester>(
            view()->analyticsPanel()->disagreementModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        auto annotators = std::make_unique<QAbstractItemModelTester>(
            view()->analyticsPanel()->annotatorModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(showsAlice(surface), false);
        if (QTest::currentTestFailed()) return;

        QVERIFY(view()->selectPair(2));
        press(Qt::Key_3);  // tie
        QCOMPARE(project().verdictsFor(2, "bob").mine, std::optional<store::Verdict>(store::Verdict::Tie));
        QVERIFY(!project().pair(2)->verdict);  // b, a, tie: still unresolved
        waitLoaded();
        QCOMPARE(showsAlice(surface), shownAfter);
        if (QTest::currentTestFailed()) return;

        // Bob takes his label back and adjudicates instead.
        QVERIFY(view()->selectPair(2));
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(!project().verdictsFor(2, "bob").mine);
        waitLoaded();
        QCOMPARE(showsAlice(surface), false);
        view()->adjudicationPanel()->revealBox()->setChecked(true);
        waitLoaded();
        QCOMPARE(showsAlice(surface), shownAdjudicating);
    }

    void adjudicationTab() {
        openAsBob(store::AnnotationMode::Blind);
        ui::AdjudicationPanel* panel = view()->adjudicationPanel();
        auto tester = std::make_unique<QAbstractItemModelTester>(panel->model(),
                                                                 QAbstractItemModelTester::FailureReportingMode::QtTest);
        view()->lowerTabs()->setCurrentWidget(panel);
        QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowCount(), 1, 10000);  // pair 2: alice b, carol a
        // Blind: covered until the user says they adjudicate.
        QVERIFY(!panel->table()->isVisible());
        panel->revealBox()->setChecked(true);
        QVERIFY(panel->table()->isVisible());
        ui::AdjudicationModel* m = panel->model();
        QCOMPARE(m->pairIdAt(0), qint64(2));
        QCOMPARE(m->annotatorCount(), 2);
        QCOMPARE(m->headerData(1, Qt::Horizontal).toString(), QStringLiteral("alice"));
        QCOMPARE(m->data(m->index(0, 1)).toString(), QStringLiteral("B"));
        QCOMPARE(m->data(m->index(0, 2)).toString(), QStringLiteral("A"));
        QCOMPARE(m->data(m->index(0, m->verdictColumn())).toString(), QStringLiteral("unresolved"));
        QVERIFY(panel->summary()->text().startsWith(QStringLiteral("1 disagreement(s), 1 not adjudicated")));

        panel->table()->selectRow(0);
        QCOMPARE(view()->currentPairId(), qint64(2));
        const char shownLeft = view()->pairView()->shownLeft();
        panel->findChild<QPushButton*>(QStringLiteral("adjudicate0"))->click();  // left better
        const store::Verdict decided = shownLeft == 'a' ? store::Verdict::A : store::Verdict::B;
        QCOMPARE(project().pair(2)->verdict, std::optional<store::Verdict>(decided));
        QCOMPARE(project().history(2).back().adjudication, true);
        QCOMPARE(project().history(2).back().annotator, std::string("bob"));
        QTRY_COMPARE_WITH_TIMEOUT(m->data(m->index(0, m->adjudicatedColumn())).toString(),
                                  QString::fromLatin1(store::toString(decided)).toUpper(), 10000);
        QCOMPARE(m->data(m->index(0, m->verdictColumn())).toString(), QString::fromLatin1(store::toString(decided)).toUpper());
        // Revealed for the adjudicator: the whole history and the pair's verdict on the page.
        QVERIFY2(view()->pairTitle()->text().contains(
                     QStringLiteral("adjudicating: training verdict ") + QString::fromLatin1(store::toString(decided)).toUpper()),
                 qPrintable(view()->pairTitle()->text()));
        QCOMPARE(view()->historyModel()->rowCount(), 3);
        if (!qEnvironmentVariableIsEmpty("DPOWB_SCREENSHOT_DIR")) {
            QCoreApplication::processEvents();
            QVERIFY(window_->grab().save(qEnvironmentVariable("DPOWB_SCREENSHOT_DIR") + "/adjudication.png"));
        }
        panel->findChild<QPushButton*>(QStringLiteral("undoAdjudication"))->click();
        QCOMPARE(project().pair(2)->verdict, std::optional<store::Verdict>());  // unresolved again
        QCOMPARE(project().history(2).size(), size_t(4));  // both labels, the adjudication and its undo
        QTRY_COMPARE_WITH_TIMEOUT(m->data(m->index(0, m->verdictColumn())).toString(), QStringLiteral("unresolved"), 10000);
    }
};

QTEST_MAIN(TestAnnotatorView)
#include "tst_annotator_view.moc"
