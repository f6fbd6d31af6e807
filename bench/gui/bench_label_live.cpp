// The Label page while a run writes: the main window (all pages) on a project of PAIRS pairs,
// a pair selected deep in the list and the list scrolled to it, while another connection
// writes what a trainer logging every step writes (a heartbeat and a metrics row every
// 20 ms) for SECONDS seconds. Measures the GUI thread's longest stall (the longest gap
// between ticks of a 5 ms timer), how often the pair list was reset, and whether the
// selection and the scroll position survived. One JSON line.
//
//   QT_QPA_PLATFORM=offscreen build/bench/bench_label_live [PAIRS] [SECONDS] [--reload-on-any-change]
//
// --reload-on-any-change announces every change of the file as a change of the pairs (what
// the window did before the change counters), for a before/after in the same run.
#include <QApplication>
#include <QElapsedTimer>
#include <QScrollBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "project_context.h"
#include "store/project.h"
#include "workbench_pages.h"

using namespace dpowb;

namespace {

void waitFor(const std::function<bool()>& ready, int ms) {
    QElapsedTimer t;
    t.start();
    while (!ready() && t.elapsed() < ms) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    long pairs = 100000;
    double seconds = 15;
    bool anyChange = false;
    int positional = 0;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--reload-on-any-change") == 0) anyChange = true;
        else if (positional++ == 0) pairs = std::max(1000L, std::atol(argv[i]));
        else seconds = std::max(1.0, std::atof(argv[i]));
    }
    QTemporaryDir dir;
    const QString path = dir.filePath("live.dpowb");
    {
        auto p = store::Project::create(path.toStdString());
        store::Project::Transaction tx(p);
        for (long i = 0; i < pairs; ++i) {
            store::Pair pair;
            pair.prompt = "Question " + std::to_string(i) + ": which answer is better?";
            pair.responseA = "The first answer to question " + std::to_string(i) + ".";
            pair.responseB = "Another answer, number " + std::to_string(i) + ".";
            pair.source = "bench";
            p.addPair(pair);
        }
        tx.commit();
    }

    ui::MainWindow window;
    ui::addWorkbenchPages(window);
    window.resize(1600, 1000);
    window.show();
    if (!window.openProject(path)) return 1;
    ui::LabelView* label = window.labelView();
    waitFor([&] { return label->tableModel()->rowCount() == pairs; }, 60000);
    if (label->tableModel()->rowCount() != pairs) {
        std::fprintf(stderr, "the pair list did not load\n");
        return 1;
    }
    if (anyChange)
        QObject::connect(window.projectContext(), &ui::ProjectContext::runsChanged, window.projectContext(),
                         &ui::ProjectContext::externalChange);
    const qint64 chosen = pairs * 3 / 4;
    label->selectPair(chosen);
    waitFor([&] { return label->currentPairId() == chosen; }, 5000);
    QCoreApplication::processEvents();
    const int scroll = label->table()->verticalScrollBar()->value();

    int resets = 0;
    QObject::connect(label->tableModel(), &QAbstractItemModel::modelReset, [&] { ++resets; });

    // The trainer's writes: its own connection, a run, a heartbeat and a metrics row per step.
    std::atomic<bool> stop{false};
    std::atomic<long> written{0};
    std::string writerError;
    std::thread writer([&] {
        try {
            auto p = store::Project::open(path.toStdString());
            store::RunRecord r;
            r.name = "live";
            const int64_t run = p.createRun(r);
            for (int64_t step = 1; !stop; ++step) {
                p.heartbeat(run, step, 100000);
                p.addMetrics({{run, step, 0.0, "train", "{\"loss\":0.69,\"rewards/margins\":0.01}", 0}});
                ++written;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            p.setRunStatus(run, store::RunStatus::Finished);
        } catch (const std::exception& e) {
            writerError = e.what();
        }
    });

    qint64 worst = 0, ticks = 0;
    QElapsedTimer gap, wall;
    QTimer timer;
    timer.setInterval(5);
    timer.setTimerType(Qt::PreciseTimer);
    QObject::connect(&timer, &QTimer::timeout, [&] {
        worst = std::max(worst, gap.restart());
        ++ticks;
    });
    wall.start();
    gap.start();
    timer.start();
    while (wall.elapsed() < seconds * 1000) QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    timer.stop();
    stop = true;
    writer.join();
    if (!writerError.empty()) {
        std::fprintf(stderr, "the writer failed: %s\n", writerError.c_str());
        return 1;
    }
    const bool selectionKept = label->currentPairId() == chosen;
    const bool scrollKept = label->table()->verticalScrollBar()->value() == scroll;
    std::printf("{\"pairs\":%ld,\"seconds\":%.1f,\"mode\":\"%s\",\"metric_rows\":%ld,\"longest_gui_stall_ms\":%lld,"
                "\"timer_ticks\":%lld,\"pair_list_resets\":%d,\"selection_kept\":%s,\"scroll_kept\":%s}\n",
                pairs, wall.elapsed() / 1000.0, anyChange ? "reload-on-any-change" : "per-side counters",
                written.load(), worst, ticks, resets, selectionKept ? "true" : "false", scrollKept ? "true" : "false");
    return 0;
}
