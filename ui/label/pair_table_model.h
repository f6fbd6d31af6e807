// The pair browser's model: a table over the project's pairs that reads lazily.
//
// The ids of the rows (for the current filter and order, sorted by SQL) are loaded in a
// worker thread on its own connection; a million ids are 8 MB and arrive in a fraction of a
// second while the GUI stays responsive. Row contents are read on demand, in chunks of
// kChunkRows, and kept in a small LRU cache, so only what is on screen (plus a margin) is
// ever in memory.
//
// The id list is a snapshot: labelling a pair updates its row in place (it does not vanish
// from an "unlabelled" filter under the annotator's cursor); reload() re-runs the query.
#pragma once

#include <QAbstractTableModel>
#include <QFutureWatcher>
#include <QHash>
#include <QList>

#include <optional>
#include <vector>

#include "store/types.h"

namespace dpowb::ui {

class ProjectContext;

class PairTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { IdColumn, PromptColumn, LabelColumn, SplitColumn, SourceColumn, LengthColumn,
                  TimeColumn, ColumnCount };
    enum Role { PairIdRole = Qt::UserRole + 1, VerdictRole };
    static constexpr int kChunkRows = 64;
    static constexpr int kCachedChunks = 48;

    explicit PairTableModel(ProjectContext* context, QObject* parent = nullptr);
    ~PairTableModel() override;

    // Filter fields of `filter` are used (split, source, verdict, search); order comes from
    // sort(). Starts a reload. `blind` (blind mode, not adjudicating): "Unresolved" lists only
    // the pairs filter.annotator may see the others' verdicts of (has a label of their own on).
    void setFilter(const store::PairQuery& filter, bool blind = false);
    store::PairQuery query() const { return query_; }
    // Re-runs the query in the background; the old rows stay until the new ids arrive.
    void reload();
    bool isLoading() const { return loading_; }
    // Drops the cached row of a pair (after labelling it) and repaints it.
    void refreshPair(qint64 pairId);
    void clearCache();

    qint64 pairIdAt(int row) const;
    int rowOfPair(qint64 pairId) const;  // -1 when not in the current rows
    std::optional<store::Verdict> verdictAt(int row) const;
    // How many chunks were read from the store since the last reset (tests check laziness).
    int chunksFetched() const { return chunksFetched_; }
    int cachedRows() const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;
    static bool isSortable(int column);

Q_SIGNALS:
    void loaded();                          // a new id list is in place
    void loadFailed(const QString& message);

private:
    struct Row {
        qint64 id = 0;
        QString prompt;  // one line, cut
        std::optional<store::Verdict> verdict;
        int strength = 1;
        QString split, source;
        qint64 length = 0;
        qint64 createdAt = 0;
        bool missing = false;
    };
public:
    struct IdsResult {
        std::vector<qint64> ids;
        QString error;
    };

private:
    struct Chunk {
        std::vector<Row> rows;
    };
    const Row* rowAt(int row) const;
    void onIdsReady();

    ProjectContext* context_;
    store::PairQuery query_;
    bool blind_ = false;
    std::vector<qint64> ids_;
    bool loading_ = false;
    quint64 generation_ = 0;
    mutable QHash<int, Chunk> chunks_;
    mutable QList<int> lru_;  // most recent first
    mutable int chunksFetched_ = 0;
};

}  // namespace dpowb::ui
