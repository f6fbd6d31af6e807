// What the window shows is current: one progress bar for a whole run (never going back, the
// phase named beside it), the Train page of a reopened project showing its latest run, and
// the Compare page picking up a run that finished while the window was open (trained from the
// window or by another program). Real runs of the built-in tiny model on small projects.
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QProgressBar>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include <memory>
#include <set>

#include "chart_grid.h"
#include "metric_chart.h"
#include "compare_view.h"
#include "main_window.h"
#include "project_context.h"
#include "run_progress.h"
#include "store/project.h"
#include "train/trainer.h"
#include "train_view.h"
#include "workbench_pages.h"

using namespace dpowb;
using ui::RunProgress;

namespace {

// A project of `n` labelled training pairs and a few test pairs, small enough to train in seconds.
void makeProject(const QString& path, int n = 16) {
    auto p = store::Project::create(path.toStdString());
    for (int i = 0; i < n + 4; ++i) {
        store::Pair pair;
        pair.prompt = "Review " + std::to_string(i) + ":";
        pair.responseA = "a fine film, " + std::to_string(i);
        pair.responseB = "a dull film, " + std::to_string(i);
        pair.split = i < n ? "train" : "test";
        const int64_t id = p.addPair(pair);
        p.label(id, store::Verdict::A, {});
    }
}

train::TrainConfig smallRun(const QString& db, const QString& out, int64_t sftEpochs) {
    train::TrainConfig c = train::TrainConfig::demoPreset();
    c.db = db.toStdString();
    c.out = out.toStdString();
    c.maxSteps = -1;
    c.epochs = 2;
    c.sftEpochs = sftEpochs;
    c.batchSize = 4;
    c.maxLength = 40;
    c.maxPromptLength = 16;
    c.loggingSteps = 1;
    c.evalSteps = 3;
    c.warmupSteps = 1;
    c.name = "small";
    return c;
}

// Phase reports as the trainer sends them, for a run with these sizes.
struct Report {
    QString phase;
    qint64 done, total;
};
std::vector<Report> trainerReports(qint64 tokenize, qint64 sft, bool precomputed, qint64 steps, qint64 evalEvery,
                                   qint64 resumeAt = 0) {
    std::vector<Report> r;
    r.push_back({"load", 0, 0});
    for (qint64 k = 0; k <= tokenize; k += 4) r.push_back({"tokenize", k, tokenize});
    for (qint64 k = 1; k <= sft; ++k) r.push_back({"sft", k, sft});
    if (sft > 0) r.push_back({"save", 0, 0});
    r.push_back({"reference", 0, 0});
    if (precomputed)
        for (qint64 k = 1; k <= 10; ++k) r.push_back({"reference", k, 10});
    for (qint64 k = resumeAt + 1; k <= steps; ++k) {
        if (k % evalEvery == 0) r.push_back({"eval", 0, 8});
        r.push_back({"train", k, steps});
    }
    r.push_back({"save", 0, 0});
    return r;
}

QString canonical(const QString& path) { return QFileInfo(path).canonicalFilePath(); }
QString canonical(const std::string& path) { return canonical(QString::fromStdString(path)); }

}  // namespace

class TestWindowCurrent : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    int serial_ = 0;

    QString freshProject(int pairs = 16) {
        const QString path = dir_.filePath(QStringLiteral("p%1.db").arg(++serial_));
        makeProject(path, pairs);
        return path;
    }
    QString outDir() { return dir_.filePath(QStringLiteral("run%1").arg(++serial_)); }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_window_current"));
        QSettings().clear();
        QVERIFY(dir_.isValid());
    }

    void oneBarForTheRun_data() {
        QTest::addColumn<qint64>("sft");
        QTest::addColumn<bool>("precomputed");
        QTest::addColumn<qint64>("steps");
        QTest::addColumn<qint64>("resumeAt");
        QTest::newRow("SFT warm-up, then DPO") << qint64(40) << false << qint64(20) << qint64(0);
        QTest::newRow("no warm-up") << qint64(0) << false << qint64(30) << qint64(0);
        QTest::newRow("precomputed reference") << qint64(0) << true << qint64(12) << qint64(0);
        QTest::newRow("warm-up, precomputed") << qint64(8) << true << qint64(50) << qint64(0);
        QTest::newRow("resumed at step 9") << qint64(0) << false << qint64(20) << qint64(9);
    }
    void oneBarForTheRun() {
        QFETCH(qint64, sft);
        QFETCH(bool, precomputed);
        QFETCH(qint64, steps);
        QFETCH(qint64, resumeAt);
        train::TrainConfig c;
        c.sftEpochs = sft > 0 ? 2 : 0;
        c.precomputeRef = precomputed;
        c.batchSize = 4;
        c.maxSteps = steps;
        RunProgress progress(c);
        double last = 0, lastSft = -1, firstTrain = -1;
        for (const Report& r : trainerReports(24, sft, precomputed, steps, 5, resumeAt)) {
            const double f = progress.report(r.phase, r.done, r.total);
            QVERIFY2(f >= last, qPrintable(QStringLiteral("went back from %1 to %2 at %3 %4/%5")
                                               .arg(last).arg(f).arg(r.phase).arg(r.done).arg(r.total)));
            QVERIFY(f >= 0 && f < 1);  // 1 only once the run has finished
            // Work done moves the bar; an evaluation or a save holds it.
            if ((r.phase == "sft" || r.phase == "train") && r.done > 0) QVERIFY2(f > last, qPrintable(r.phase));
            if (r.phase == "eval" || r.phase == "save") QCOMPARE(f, last);
            if (r.phase == "sft") lastSft = f;
            if (r.phase == "train" && firstTrain < 0) firstTrain = f;
            QCOMPARE(progress.phase(), r.phase);
            last = f;
        }
        QVERIFY(firstTrain > 0);
        if (sft > 0) QVERIFY(lastSft < firstTrain);
        // The last training step leaves only the final save.
        QVERIFY(last > 0.9);
        QCOMPARE(progress.finish(), 1.0);
    }

    void realRunShowsOneBar() {
        const QString path = freshProject();
        ui::TrainView view(path);
        view.resize(1400, 850);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCOMPARE(view.phaseText(), QStringLiteral("No run"));
        QList<int> values;
        connect(view.progressBar(), &QProgressBar::valueChanged, this, [&values](int v) { values << v; });
        std::set<QString> phases;
        QTimer sampler;
        sampler.setInterval(5);
        bool warmUpCharted = false;  // SFT loss points while no DPO point exists yet
        connect(&sampler, &QTimer::timeout, this, [&] {
            phases.insert(view.phaseText().section(' ', 0, 0));
            const qint64 live = view.liveRunId();
            if (live > 0 && view.charts()->rawPointCount(live, "sft/loss", "sft") > 0 &&
                view.charts()->rawPointCount(live, "loss", "train") == 0)
                warmUpCharted = true;
        });
        sampler.start();
        QSignalSpy finished(&view, &ui::TrainView::runFinished);
        QVERIFY(view.startRun(smallRun(path, outDir(), 1)));
        QVERIFY(finished.wait(120000));
        sampler.stop();
        QCOMPARE(view.lastResult()->status, store::RunStatus::Finished);
        QVERIFY(values.size() > 5);
        for (int i = 1; i < values.size(); ++i)
            QVERIFY2(values[i] >= values[i - 1], qPrintable(QStringLiteral("bar went back: %1 → %2").arg(values[i - 1]).arg(values[i])));
        QCOMPARE(view.progressBar()->value(), view.progressBar()->maximum());
        QCOMPARE(view.progressBar()->minimum(), 0);
        // The phases were named beside the bar as they came.
        QVERIFY2(phases.count(QStringLiteral("SFT")) && phases.count(QStringLiteral("Training")),
                 qPrintable(QStringList(phases.begin(), phases.end()).join(", ")));
        QCOMPARE(view.phaseText(), QStringLiteral("Finished"));
        // The warm-up was plotted while it ran, on a chart of its own, and only there.
        QVERIFY(warmUpCharted);
        view.charts()->flush();
        const qint64 run = view.lastResult()->runId;
        int sftRows = 0, trainRows = 0;
        auto p = store::Project::open(path.toStdString());
        for (const auto& m : p.metrics(run)) (m.split == "sft" ? sftRows : trainRows) += m.split == "sft" || m.split == "train";
        QVERIFY(sftRows > 0);
        QCOMPARE(view.charts()->shownPointCount(run, "sft/loss", "sft"), sftRows);
        QCOMPARE(view.charts()->shownPointCount(run, "loss", "train"), trainRows);
        QVERIFY(view.charts()->chartFor("sft/loss")->isVisible());
    }

    void reopenedProjectShowsLatestRun() {
        const QString path = freshProject();
        qint64 older = 0, latest = 0;
        for (int k = 0; k < 2; ++k) {
            train::TrainObserver quiet;
            train::TrainControl control;
            train::TrainConfig c = smallRun(path, outDir(), 0);
            c.maxSteps = 3 + k;
            const train::TrainResult r = train::runTraining(c, quiet, control);
            QCOMPARE(r.status, store::RunStatus::Finished);
            (k == 0 ? older : latest) = r.runId;
        }
        QVERIFY(latest > older);
        // The program's window, opened on the project as after a restart.
        ui::MainWindow window;
        const ui::WorkbenchPages pages = ui::addWorkbenchPages(window);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openProject(path));
        window.showPage(QStringLiteral("Train"));
        ui::TrainView* view = pages.train;
        QVERIFY2(view->phaseText().startsWith(QStringLiteral("Last run #%1").arg(latest)), qPrintable(view->phaseText()));
        view->charts()->flush();
        QCOMPARE(view->charts()->runIds(), QList<qint64>{latest});
        auto p = store::Project::open(path.toStdString());
        int trainRows = 0;
        for (const auto& m : p.metrics(latest)) trainRows += m.split == "train";
        QVERIFY(trainRows > 0);
        QCOMPARE(view->charts()->shownPointCount(latest, "loss", "train"), trainRows);
        QCOMPARE(view->progressBar()->value(), view->progressBar()->maximum());  // it finished
        // A new run takes the charts from the automatic choice.
        QSignalSpy finished(view, &ui::TrainView::runFinished);
        train::TrainConfig c = smallRun(path, outDir(), 0);
        c.maxSteps = 2;
        QVERIFY(view->startRun(c));
        QVERIFY(finished.wait(120000));
        view->charts()->flush();
        QCOMPARE(view->charts()->runIds(), QList<qint64>{view->liveRunId()});
    }

    void compareFollowsNewRuns() {
        const QString path = freshProject();
        ui::MainWindow window;
        const ui::WorkbenchPages pages = ui::addWorkbenchPages(window);
        window.resize(1400, 850);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openProject(path));
        window.showPage(QStringLiteral("Compare"));
        QComboBox* runs = pages.compare->runCombo();
        QCOMPARE(runs->currentData().toLongLong(), qint64(0));  // no run yet: "Folders below"

        // A run trained from the Train page: Compare offers it as soon as it finished.
        window.showPage(QStringLiteral("Train"));
        QSignalSpy finished(pages.train, &ui::TrainView::runFinished);
        train::TrainConfig c = smallRun(path, outDir(), 0);
        c.maxSteps = 2;
        QVERIFY(pages.train->startRun(c));
        QVERIFY(finished.wait(120000));
        const qint64 first = pages.train->liveRunId();
        QCOMPARE(runs->currentData().toLongLong(), first);
        QCOMPARE(canonical(pages.compare->models().policyPath), canonical(c.out));

        // A run trained by another program while the Compare page is open: picked up by polling.
        window.showPage(QStringLiteral("Compare"));
        train::TrainObserver quiet;
        train::TrainControl control;
        train::TrainConfig other = smallRun(path, outDir(), 0);
        other.maxSteps = 2;
        const train::TrainResult r = train::runTraining(other, quiet, control);
        QCOMPARE(r.status, store::RunStatus::Finished);
        QTRY_COMPARE_WITH_TIMEOUT(runs->currentData().toLongLong(), r.runId, 10000);
        QCOMPARE(canonical(pages.compare->models().policyPath), canonical(other.out));

        // Models chosen by hand stay chosen when another run arrives.
        pages.compare->setModels(QString::fromStdString(c.out), QStringLiteral("builtin:tiny"));
        const train::TrainResult third = train::runTraining(smallRun(path, outDir(), 0), quiet, control);
        QCOMPARE(third.status, store::RunStatus::Finished);
        pages.compare->refreshRuns();
        QCOMPARE(runs->currentData().toLongLong(), qint64(0));
        QCOMPARE(pages.compare->models().policyPath, QString::fromStdString(c.out));
        QVERIFY(runs->findData(qint64(third.runId)) > 0);  // offered, not imposed
    }
};

QTEST_MAIN(TestWindowCurrent)
#include "tst_window_current.moc"
