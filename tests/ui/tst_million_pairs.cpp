// A project with 1,000,000 pairs opens at once and scrolls without loading its rows: the
// table reads only what is on screen. Prints the time to first paint, the scroll times and
// the resident memory, so the figures can be quoted.
//
// The project is generated once (through the public import, in one transaction) into the
// temp directory and reused by later runs; DPOWB_MILLION_DB names another file to use.
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QScrollBar>
#include <QStandardPaths>
#include <QTableView>
#include <QtTest>

#include <cstdio>

#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "project_context.h"
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

}  // namespace

class TestMillionPairs : public QObject {
    Q_OBJECT
    QString path_;

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_million_pairs"));
        QSettings().clear();
        path_ = qEnvironmentVariable("DPOWB_MILLION_DB");
        if (path_.isEmpty())
            path_ = QDir::temp().filePath(QStringLiteral("dpowb-ui-million-s%1.db").arg(store::Project::schemaVersion()));
        if (QFileInfo::exists(path_)) {
            auto p = store::Project::open(path_.toStdString());
            if (p.countPairs({}) == kPairs) return;
            QFile::remove(path_);
        }
        // Short, distinct texts; every seventh pair labelled so the label column varies.
        QElapsedTimer t;
        t.start();
        const QString jsonl = path_ + QStringLiteral(".jsonl");
        {
            QFile f(jsonl);
            QVERIFY(f.open(QIODevice::WriteOnly));
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
        const QString tmp = path_ + QStringLiteral(".part");
        QFile::remove(tmp);
        {
            auto p = store::Project::create(tmp.toStdString());
            store::ImportOptions o;
            o.format = "pairs";
            const auto r = store::importFile(p, jsonl.toStdString(), o);
            QCOMPARE(r.inserted, kPairs);
        }
        QFile::remove(jsonl);
        QFile::remove(tmp + QStringLiteral("-wal"));
        QFile::remove(tmp + QStringLiteral("-shm"));
        QVERIFY(QFile::rename(tmp, path_));
        std::fprintf(stderr, "generated %lld pairs in %.1f s (import incl. search index)\n", kPairs,
                     t.elapsed() / 1000.0);
    }

    void opensAndScrollsLazily() {
        const qint64 rssBefore = residentKiB();
        ui::MainWindow w;
        w.resize(1400, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        ui::PairTableModel* model = w.labelView()->tableModel();
        QTableView* table = w.labelView()->table();

        QElapsedTimer t;
        t.start();
        QVERIFY(w.openProject(path_));
        const qint64 openMs = t.elapsed();
        // The GUI thread stays free while the ids load: events keep flowing.
        int ticks = 0;
        QTimer ticker;
        connect(&ticker, &QTimer::timeout, [&] { ++ticks; });
        ticker.start(10);
        QTRY_VERIFY_WITH_TIMEOUT(!model->isLoading() && model->rowCount() > 0, 30000);
        QCoreApplication::processEvents();
        (void)w.grab();  // the first full paint with rows on screen
        const qint64 firstPaintMs = t.elapsed();
        ticker.stop();
        QCOMPARE(model->rowCount(), int(kPairs));
        QVERIFY2(ticks > 0 || firstPaintMs < 50, "the event loop was blocked while loading");

        // Only the visible rows (a few chunks) were read.
        QVERIFY2(model->cachedRows() <= 8 * ui::PairTableModel::kChunkRows,
                 qPrintable(QString::number(model->cachedRows())));

        // Scroll: end, middle, a run of page-downs. Each jump reads a chunk or two.
        QElapsedTimer s;
        s.start();
        table->scrollToBottom();
        (void)w.grab();
        const qint64 toBottomMs = s.restart();
        QCOMPARE(table->rowAt(table->viewport()->height() - 2), int(kPairs) - 1);
        table->verticalScrollBar()->setValue(table->verticalScrollBar()->maximum() / 2);
        (void)w.grab();
        const qint64 toMiddleMs = s.restart();
        for (int k = 0; k < 50; ++k) {
            table->verticalScrollBar()->triggerAction(QAbstractSlider::SliderPageStepAdd);
            table->viewport()->repaint();
        }
        const qint64 pagesMs = s.elapsed();
        QVERIFY2(model->cachedRows() <= ui::PairTableModel::kCachedChunks * ui::PairTableModel::kChunkRows,
                 qPrintable(QString::number(model->cachedRows())));
        QVERIFY(model->chunksFetched() < 200);

        // The last row shows the last pair's data.
        const int last = int(kPairs) - 1;
        QCOMPARE(model->index(last, ui::PairTableModel::PromptColumn).data().toString(),
                 QStringLiteral("Review %1 of the film").arg(kPairs - 1));
        const qint64 rssAfter = residentKiB();
        std::fprintf(stderr,
                     "1M pairs: openProject %lld ms, first paint with rows %lld ms, scroll to end %lld ms, "
                     "to middle %lld ms, 50 page-downs %lld ms; RSS %lld MiB before open, %lld MiB after "
                     "(cached rows %d, chunks read %d)\n",
                     openMs, firstPaintMs, toBottomMs, toMiddleMs, pagesMs, rssBefore / 1024, rssAfter / 1024,
                     model->cachedRows(), model->chunksFetched());
        // 8 MB of ids plus caches: far below what a million loaded rows would take (~0.5 GB).
        QVERIFY2(rssAfter - rssBefore < 200 * 1024, qPrintable(QString::number(rssAfter - rssBefore)));
    }
};

QTEST_MAIN(TestMillionPairs)
#include "tst_million_pairs.moc"
