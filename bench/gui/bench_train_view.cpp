// How long the GUI thread stalls while the train view runs a training: the longest gap
// between ticks of a 5 ms timer on the GUI thread from Start to the end of the run (the
// target is below 100 ms), with the run's steps and wall time. One JSON line.
//
//   QT_QPA_PLATFORM=offscreen build/bench/bench_train_view [STEPS]
//
// The run is the built-in tiny model on the demo pairs in a temporary project (no SFT
// warm-up, live reference, logged every step, evaluated every 5 steps).
#include <QApplication>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "store/formats.h"
#include "store/project.h"
#include "train/trainer.h"
#include "train_view.h"

using namespace dpowb;

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    const int64_t steps = argc > 1 ? std::max(1LL, std::atoll(argv[1])) : 40;
    QTemporaryDir dir;
    const QString path = dir.filePath("demo.dpowb");
    {
        auto p = store::Project::create(path.toStdString());
        store::addDemoPairs(p);
    }
    train::TrainConfig c = train::TrainConfig::demoPreset();
    c.maxSteps = steps;
    c.sftEpochs = 0;
    c.precomputeRef = false;
    c.maxLength = 48;
    c.maxPromptLength = 24;
    c.batchSize = 4;
    c.loggingSteps = 1;
    c.evalSteps = 5;
    c.warmupSteps = 2;
    c.name = "bench";

    ui::TrainView view(path);
    view.resize(1500, 900);
    view.show();

    qint64 worst = 0, ticks = 0;
    QElapsedTimer gap, wall;
    QTimer timer;
    timer.setInterval(5);
    timer.setTimerType(Qt::PreciseTimer);
    QObject::connect(&timer, &QTimer::timeout, [&] {
        worst = std::max(worst, gap.restart());
        ++ticks;
    });
    bool done = false;
    QObject::connect(&view, &ui::TrainView::runFinished, [&] { done = true; });
    wall.start();
    gap.start();
    timer.start();
    if (!view.startRun(c)) {
        std::fprintf(stderr, "the run did not start\n");
        return 1;
    }
    while (!done) QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    timer.stop();
    const auto& result = *view.lastResult();
    if (result.status != store::RunStatus::Finished) {
        std::fprintf(stderr, "the run failed: %s\n", result.error.c_str());
        return 1;
    }
    std::printf("{\"steps\":%lld,\"seconds\":%.2f,\"longest_gui_stall_ms\":%lld,\"timer_ticks\":%lld}\n",
                static_cast<long long>(result.steps), wall.elapsed() / 1000.0, worst, ticks);
    return 0;
}
