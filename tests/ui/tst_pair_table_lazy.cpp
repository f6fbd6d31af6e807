// The pair table reads lazily: on a project far larger than its cache, opening reads only the
// chunks on screen, scrolling anywhere reads only the chunks it shows, and the cache stays
// bounded however far one scrolls. Behaviour only; the times and memory of the same walk on a
// million pairs are measured by bench/gui/bench_million_pairs.
#include <QAbstractItemModelTester>
#include <QScrollBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include "pair_table_model.h"
#include "project_context.h"
#include "store/formats.h"
#include "store/project.h"

using namespace dpowb;
using ui::PairTableModel;

namespace {

// Well above the cache (kCachedChunks × kChunkRows rows), small enough to import in a moment.
constexpr int kPairs = 8 * PairTableModel::kCachedChunks * PairTableModel::kChunkRows;

}  // namespace

class TestPairTableLazy : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString path_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        const std::string jsonl = dir_.filePath("pairs.jsonl").toStdString();
        {
            std::ofstream out(jsonl);
            for (int i = 0; i < kPairs; ++i)
                out << "{\"prompt\":\"Review " << i << " of the film\",\"response_a\":\"good " << i
                    << "\",\"response_b\":\"bad " << i << "\"}\n";
        }
        path_ = dir_.filePath("big.dpowb");
        auto p = store::Project::create(path_.toStdString());
        store::ImportOptions o;
        o.format = "pairs";
        QCOMPARE(store::importFile(p, jsonl, o).inserted, int64_t(kPairs));
    }

    void readsOnlyWhatIsShown() {
        ui::ProjectContext context;
        context.open(path_);
        PairTableModel model(&context);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QTableView table;
        table.setModel(&model);
        table.resize(900, 600);
        table.show();
        QVERIFY(QTest::qWaitForWindowExposed(&table));
        QSignalSpy loaded(&model, &PairTableModel::loaded);
        model.sort(PairTableModel::IdColumn, Qt::AscendingOrder);
        QTRY_VERIFY_WITH_TIMEOUT(loaded.count() >= 1 && !model.isLoading(), 300000);  // a hang guard, not a speed requirement
        QCOMPARE(model.rowCount(), kPairs);
        (void)table.grab();  // a full paint with rows on screen

        const int visible = table.rowAt(table.viewport()->height() - 2) - table.rowAt(0) + 1;
        QVERIFY(visible > 0);
        const int chunksOnScreen = visible / PairTableModel::kChunkRows + 2;
        QVERIFY2(model.chunksFetched() <= chunksOnScreen,
                 qPrintable(QString("%1 chunks read for %2 rows on screen").arg(model.chunksFetched()).arg(visible)));
        QCOMPARE(model.index(0, PairTableModel::PromptColumn).data().toString(), QString("Review 0 of the film"));

        // The end: the last pair, read by itself.
        table.scrollToBottom();
        (void)table.grab();
        QCOMPARE(table.rowAt(table.viewport()->height() - 2), kPairs - 1);
        QCOMPARE(model.index(kPairs - 1, PairTableModel::PromptColumn).data().toString(),
                 QString("Review %1 of the film").arg(kPairs - 1));

        // Jumps all over the table read more chunks than the cache holds: it evicts and stays bounded.
        QScrollBar* bar = table.verticalScrollBar();
        const int jumps = 2 * PairTableModel::kCachedChunks;
        const int before = model.chunksFetched();
        for (int k = 0; k < jumps; ++k) {
            bar->setValue(int(qint64(bar->maximum()) * k / jumps));
            table.viewport()->repaint();
        }
        // Each jump but the first (back at the top, still cached) lands on unread rows.
        QVERIFY(model.chunksFetched() - before >= jumps - 1);
        QVERIFY2(model.chunksFetched() - before <= jumps * chunksOnScreen,
                 qPrintable(QString::number(model.chunksFetched() - before)));
        QVERIFY2(model.cachedRows() <= PairTableModel::kCachedChunks * PairTableModel::kChunkRows,
                 qPrintable(QString::number(model.cachedRows())));
        const int row = table.rowAt(0);
        QCOMPARE(model.index(row, PairTableModel::PromptColumn).data().toString(), QString("Review %1 of the film").arg(row));
    }
};

QTEST_MAIN(TestPairTableLazy)
#include "tst_pair_table_lazy.moc"
