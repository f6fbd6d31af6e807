// One ProjectContext for the whole window: every page reads through it, and a change made by
// another connection reloads only the pages that show that side of the data. A trainer's
// heartbeats and metrics never reset the Label page's pair list (its selection and scroll
// stay); a label made elsewhere reloads the list and keeps the selected pair.
#include <QScrollBar>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include "compare_view.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "project_context.h"
#include "store/project.h"
#include "train_view.h"
#include "workbench_pages.h"

using namespace dpowb;

class TestProjectContext : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QVERIFY(dir_.isValid()); }
    void pagesShareOneContext();
    void reloadsOnlyTheSideThatChanged_data();
    void reloadsOnlyTheSideThatChanged();

private:
    QTemporaryDir dir_;
    QString makeProject(const QString& name, int pairs) {
        const QString path = dir_.filePath(name);
        auto p = store::Project::create(path.toStdString());
        store::Project::Transaction tx(p);
        for (int i = 0; i < pairs; ++i) {
            store::Pair pair;
            pair.prompt = "Prompt " + std::to_string(i);
            pair.responseA = "first " + std::to_string(i);
            pair.responseB = "second " + std::to_string(i);
            pair.source = "test";
            p.addPair(pair);
        }
        tx.commit();
        return path;
    }
};

void TestProjectContext::pagesShareOneContext() {
    const QString path = makeProject("shared.dpowb", 30);
    ui::MainWindow window;
    ui::WorkbenchPages pages = ui::addWorkbenchPages(window);
    QVERIFY(window.openProject(path));
    // The pages hold no connection of their own: they follow the window's context.
    QCOMPARE(pages.train->projectPath(), path);
    QCOMPARE(pages.compare->projectPath(), path);
    QCOMPARE(window.findChildren<ui::ProjectContext*>().size(), 1);
    // Another project opened in the window is the project of every page.
    const QString other = makeProject("other.dpowb", 5);
    QVERIFY(window.openProject(other));
    QCOMPARE(pages.train->projectPath(), other);
    QCOMPARE(pages.compare->projectPath(), other);
}

void TestProjectContext::reloadsOnlyTheSideThatChanged_data() {
    QTest::addColumn<QString>("write");
    QTest::addColumn<bool>("pairsSide");
    QTest::addColumn<bool>("runsSide");
    QTest::newRow("a trainer's heartbeat and metrics") << "metrics" << false << true;
    QTest::newRow("a run finishing") << "status" << false << true;
    QTest::newRow("a label from another program") << "label" << true << false;
    QTest::newRow("a pair added elsewhere") << "pair" << true << false;
}

void TestProjectContext::reloadsOnlyTheSideThatChanged() {
    QFETCH(QString, write);
    QFETCH(bool, pairsSide);
    QFETCH(bool, runsSide);
    const int n = 3000;
    const QString path = makeProject("side-" + write + ".dpowb", n);
    int64_t run = 0;
    {
        auto p = store::Project::open(path.toStdString());
        store::RunRecord r;
        r.name = "live";
        run = p.createRun(r);
    }
    ui::MainWindow window;
    ui::addWorkbenchPages(window);
    window.resize(1280, 800);
    window.show();
    QVERIFY(window.openProject(path));
    ui::LabelView* label = window.labelView();
    QTRY_COMPARE_WITH_TIMEOUT(label->tableModel()->rowCount(), n, 20000);
    const qint64 chosen = 2000;
    QVERIFY(label->selectPair(chosen));
    QTRY_COMPARE(label->currentPairId(), chosen);
    QCoreApplication::processEvents();
    const int scroll = label->table()->verticalScrollBar()->value();
    QVERIFY(scroll > 0);

    ui::ProjectContext* context = window.projectContext();
    QSignalSpy pairsSpy(context, &ui::ProjectContext::externalChange);
    QSignalSpy runsSpy(context, &ui::ProjectContext::runsChanged);
    QSignalSpy resets(label->tableModel(), &QAbstractItemModel::modelReset);
    {
        auto other = store::Project::open(path.toStdString());  // as the trainer or the CLI does
        if (write == "metrics") {
            for (int64_t step = 1; step <= 5; ++step) {
                other.heartbeat(run, step, 100);
                other.addMetrics({{run, step, 0.0, "train", "{\"loss\":0.69}", 0}});
            }
        } else if (write == "status") {
            other.setRunStatus(run, store::RunStatus::Finished);
        } else if (write == "label") {
            other.label(10, store::Verdict::B, {});
        } else {
            store::Pair pair;
            pair.prompt = "added elsewhere";
            pair.responseA = "x";
            pair.responseB = "y";
            other.addPair(pair);
        }
    }
    context->checkExternalChanges();
    QCOMPARE(pairsSpy.count(), pairsSide ? 1 : 0);
    QCOMPARE(runsSpy.count(), runsSide ? 1 : 0);
    if (pairsSide) {
        // The list is read again (in the background) and the selected pair stays selected.
        QTRY_VERIFY_WITH_TIMEOUT(resets.count() >= 1, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(label->tableModel()->rowCount(), write == "pair" ? n + 1 : n, 20000);
        QTRY_COMPARE(label->currentPairId(), chosen);
    } else {
        // Nothing about the pairs changed: the list is not touched at all.
        QTest::qWait(300);
        QCOMPARE(resets.count(), 0);
        QCOMPARE(label->currentPairId(), chosen);
        QCOMPARE(label->table()->verticalScrollBar()->value(), scroll);
    }
    // Nothing more to announce: the same counters on the next poll.
    context->checkExternalChanges();
    QCOMPARE(pairsSpy.count(), pairsSide ? 1 : 0);
    QCOMPARE(runsSpy.count(), runsSide ? 1 : 0);
}

QTEST_MAIN(TestProjectContext)
#include "tst_project_context.moc"
