// A project of 1,000,000 pairs in the main window: time to open it, to the first paint with
// rows, to scroll to the end and the middle, 50 page-downs, the resident memory before and
// after, and how many rows and chunks the table read. One JSON line.
//
//   QT_QPA_PLATFORM=offscreen build/bench/bench_million_pairs [DB]
//
// DB (default: dpowb-ui-million-s<schema>.db in the temp folder) is generated on the first
// run through the public import, in one transaction, and reused afterwards.
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QScrollBar>
#include <QStandardPaths>
#include <QTableView>
#include <QTimer>

#include <algorithm>
#include <cstdio>

#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "store/formats.h"
#include "store/project.h"

using namespace dpowb;

namespace {

constexpr qint64 kPairs = 1'000'000;

qint64 residentKiB() {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly)) return -1;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (line.startsWith("VmRSS:")) return line.mid(6).trimmed().split(' ').front().toLongLong();
    return -1;
}

// Short, distinct texts; every seventh pair labelled so the label column varies.
bool generate(const QString& path) {
    QElapsedTimer t;
    t.start();
    const QString jsonl = path + QStringLiteral(".jsonl");
    {
        QFile f(jsonl);
        if (!f.open(QIODevice::WriteOnly)) return false;
        QByteArray buf;
        for (qint64 i = 0; i < kPairs; ++i) {
            buf += "{\"prompt\":\"Review " + QByteArray::number(i) + " of the film\",\"response_a\":\"good " +
                   QByteArray::number(i) + "\",\"response_b\":\"bad " + QByteArray::number(i) + "\"" +
                   (i % 7 == 0 ? ",\"label\":\"a\"" : "") + "}\n";
            if (buf.size() > (1 << 20)) {
                f.write(buf);
                buf.clear();
            }
        }
        f.write(buf);
    }
    const QString tmp = path + QStringLiteral(".part");
    QFile::remove(tmp);
    {
        auto p = store::Project::create(tmp.toStdString());
        store::ImportOptions o;
        o.format = "pairs";
        if (store::importFile(p, jsonl.toStdString(), o).inserted != kPairs) return false;
    }
    QFile::remove(jsonl);
    QFile::remove(tmp + QStringLiteral("-wal"));
    QFile::remove(tmp + QStringLiteral("-shm"));
    if (!QFile::rename(tmp, path)) return false;
    std::fprintf(stderr, "generated %lld pairs in %.1f s (import incl. search index)\n", kPairs, t.elapsed() / 1000.0);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);  // no settings of a real user read or written
    QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-bench"));
    QCoreApplication::setApplicationName(QStringLiteral("bench_million_pairs"));
    QString path = argc > 1 ? QString::fromLocal8Bit(argv[1]) : QString();
    if (path.isEmpty())
        path = QDir::temp().filePath(QStringLiteral("dpowb-ui-million-s%1.db").arg(store::Project::schemaVersion()));
    if (QFileInfo::exists(path)) {
        auto p = store::Project::open(path.toStdString());
        if (p.countPairs({}) != kPairs) {
            std::fprintf(stderr, "%s: not the %lld-pair benchmark project; remove it or name another file\n",
                         qPrintable(path), kPairs);
            return 1;
        }
    } else if (!generate(path)) {
        std::fprintf(stderr, "%s: could not generate the project (disk space?)\n", qPrintable(path));
        return 1;
    }

    const qint64 rssBefore = residentKiB();
    ui::MainWindow w;
    w.resize(1400, 900);
    w.show();
    ui::PairTableModel* model = w.labelView()->tableModel();
    QTableView* table = w.labelView()->table();

    QElapsedTimer t;
    t.start();
    if (!w.openProject(path)) return 1;
    const qint64 openMs = t.elapsed();
    // The longest gap between ticks of a 10 ms timer while the ids load: how long the GUI
    // thread was blocked.
    qint64 worstGap = 0;
    QElapsedTimer gap;
    gap.start();
    QTimer ticker;
    QObject::connect(&ticker, &QTimer::timeout, [&] { worstGap = std::max(worstGap, gap.restart()); });
    ticker.start(10);
    while (model->isLoading() || model->rowCount() == 0) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        if (t.elapsed() > 60000) {
            std::fprintf(stderr, "the ids did not load within 60 s\n");
            return 1;
        }
    }
    (void)w.grab();  // the first full paint with rows on screen
    const qint64 firstPaintMs = t.elapsed();
    ticker.stop();
    const int rowsAfterOpen = model->cachedRows();

    QElapsedTimer s;
    s.start();
    table->scrollToBottom();
    (void)w.grab();
    const qint64 toBottomMs = s.restart();
    table->verticalScrollBar()->setValue(table->verticalScrollBar()->maximum() / 2);
    (void)w.grab();
    const qint64 toMiddleMs = s.restart();
    for (int k = 0; k < 50; ++k) {
        table->verticalScrollBar()->triggerAction(QAbstractSlider::SliderPageStepAdd);
        table->viewport()->repaint();
    }
    const qint64 pagesMs = s.elapsed();
    const qint64 rssAfter = residentKiB();
    std::printf("{\"pairs\":%lld,\"open_ms\":%lld,\"first_paint_ms\":%lld,\"longest_gui_stall_ms\":%lld,"
                "\"scroll_to_end_ms\":%lld,\"scroll_to_middle_ms\":%lld,\"page_downs_50_ms\":%lld,"
                "\"rss_before_mib\":%lld,\"rss_after_mib\":%lld,\"cached_rows_after_open\":%d,"
                "\"cached_rows\":%d,\"chunks_read\":%d}\n",
                kPairs, openMs, firstPaintMs, worstGap, toBottomMs, toMiddleMs, pagesMs, rssBefore / 1024,
                rssAfter / 1024, rowsAfterOpen, model->cachedRows(), model->chunksFetched());
    return 0;
}
