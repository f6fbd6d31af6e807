// Closing the window never waits for a worker: during a training run or a generation the
// window goes at once, the work is told to stop, and the program ends (its event loop
// returns) when the work has stopped: the run recorded cancelled after at most one more
// step, the generation cut short. Real runs of the built-in tiny model.
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "../common/short_run.h"
#include "compare_view.h"
#include "main_window.h"
#include "store/formats.h"
#include "store/project.h"
#include "train/trainer.h"
#include "train_view.h"
#include "workbench_pages.h"

using namespace dpowb;

namespace {

// Runs the application's event loop until it quits by itself (as main() does after the last
// window closed); fails after `limitMs`. Returns how long it ran.
qint64 runUntilQuit(int limitMs, bool* timedOut) {
    QElapsedTimer t;
    t.start();
    *timedOut = false;
    QTimer guard;
    guard.setSingleShot(true);
    QObject::connect(&guard, &QTimer::timeout, [timedOut] {
        *timedOut = true;
        QCoreApplication::quit();
    });
    guard.start(limitMs);
    QCoreApplication::exec();
    return t.elapsed();
}

}  // namespace

class TestWindowClose : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QVERIFY(dir_.isValid()); }
    void closeDuringTraining();
    void closeDuringGeneration();

private:
    QTemporaryDir dir_;
};

void TestWindowClose::closeDuringTraining() {
    const QString path = dir_.filePath("close.dpowb");
    {
        auto p = store::Project::create(path.toStdString());
        store::addDemoPairs(p);
    }
    ui::MainWindow window;
    ui::WorkbenchPages pages = ui::addWorkbenchPages(window);
    window.show();
    QVERIFY(window.openProject(path));
    pages.train->setConfirmHandler([](const QString&) { return true; });  // "Stop it and close?" Yes

    train::TrainConfig c = test::shortDemoRun(100000);  // far longer than the test: only a stop ends it
    c.db = path.toStdString();
    c.out = dir_.filePath("close-run").toStdString();
    c.evalSteps = 0;
    c.name = "closed";
    QVERIFY(pages.train->startRun(c));
    auto watcher = store::Project::open(path.toStdString());  // what the trainer recorded
    const auto recordedStep = [&]() -> int64_t {
        const auto runs = watcher.runs();
        return runs.empty() ? 0 : runs.front().step;
    };
    QTRY_VERIFY_WITH_TIMEOUT(recordedStep() >= 3, 120000);
    const int64_t stepsAtClose = recordedStep();

    QElapsedTimer closing;
    closing.start();
    QVERIFY(window.close());
    const qint64 closeMs = closing.elapsed();
    QVERIFY(!window.isVisible());
    QVERIFY2(closeMs < 2000, qPrintable(QStringLiteral("close took %1 ms").arg(closeMs)));

    bool timedOut = false;
    const qint64 untilQuit = runUntilQuit(120000, &timedOut);
    QVERIFY2(!timedOut, "the program did not end after the run was stopped");
    const auto runs = watcher.runs();
    QCOMPARE(runs.size(), size_t(1));
    qInfo("window gone after %lld ms; the program ended %lld ms later, %lld steps after the close", closeMs, untilQuit,
          static_cast<long long>(runs.front().step - stepsAtClose));
    QCOMPARE(runs.front().status, store::RunStatus::Cancelled);
    // The step under way when the window closed, and the heartbeat that was not yet polled.
    QVERIFY(runs.front().step - stepsAtClose <= 2);
}

void TestWindowClose::closeDuringGeneration() {
    ui::MainWindow window;
    ui::WorkbenchPages pages = ui::addWorkbenchPages(window);
    window.show();
    window.showPage(QStringLiteral("Compare"));
    pages.compare->setModels(QStringLiteral("builtin:tiny"), QStringLiteral("builtin:tiny"));
    pages.compare->setPrompt(QStringLiteral("Once upon a time"));
    ui::SamplingSettings s;
    s.maxNewTokens = 100000;  // to the model's context length: longer than the test waits
    s.samples = 32;
    s.seed = 3;
    pages.compare->setSettings(s);
    QSignalSpy finished(pages.compare, &ui::CompareView::generationFinished);
    QVERIFY2(pages.compare->generate(), qPrintable(pages.compare->errorText()));
    QVERIFY(pages.compare->isBusy());
    QTest::qWait(200);  // loading the models or streaming tokens
    QVERIFY(pages.compare->isBusy());

    QElapsedTimer closing;
    closing.start();
    QVERIFY(window.close());
    const qint64 closeMs = closing.elapsed();
    QVERIFY(!window.isVisible());
    QVERIFY2(closeMs < 2000, qPrintable(QStringLiteral("close took %1 ms").arg(closeMs)));

    bool timedOut = false;
    const qint64 untilQuit = runUntilQuit(60000, &timedOut);
    QVERIFY2(!timedOut, "the program did not end after the generation was cancelled");
    qInfo("window gone after %lld ms; the program ended %lld ms later", closeMs, untilQuit);
    QCOMPARE(finished.count(), 1);
    QCOMPARE(finished.first().at(0).toBool(), true);  // cancelled
    QVERIFY(!pages.compare->isBusy());
}

QTEST_MAIN(TestWindowClose)
#include "tst_window_close.moc"
