// The per-pair drill-down's table (store/pair_outcomes.h): one row per evaluated pair of a run
// with its chosen/rejected implicit rewards, the margin and its change since the first
// recorded step. The proxy applies the drill-down's filters (flipped, worst, changed) with
// store::filterOutcomes, so the GUI and `dpowb runs-pairs` select the same pairs, and sorts
// by any column numerically.
#pragma once

#include <QAbstractTableModel>
#include <QSet>
#include <QSortFilterProxyModel>

#include <vector>

#include "store/pair_outcomes.h"

namespace dpowb::ui {

class PairOutcomesModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { PairId, Chosen, VerdictNow, ChosenReward, RejectedReward, Margin, Change, Prompt, ColumnCount };
    // SortRole: numbers for sorting (display text is rounded); PairIdRole on every column.
    enum Role { SortRole = Qt::UserRole + 1, PairIdRole };

    explicit PairOutcomesModel(QObject* parent = nullptr);

    void setRows(std::vector<store::DrillDownRow> rows);
    const std::vector<store::DrillDownRow>& rows() const { return rows_; }
    const store::DrillDownRow* rowAt(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<store::DrillDownRow> rows_;
};

class PairOutcomesProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit PairOutcomesProxy(QObject* parent = nullptr);
    // The filter and, for worst/changed, how many rows; also sorts as the filter orders
    // (flipped/worst: margin ascending; changed: |change| descending; all: pair id).
    void setOutcomeFilter(store::OutcomeFilter filter, int limit = 20);
    store::OutcomeFilter outcomeFilter() const { return filter_; }
    int limit() const { return limit_; }
    // Re-applies the filter to the source's rows (done on the source's reset).
    void refilter();
    void setSourceModel(QAbstractItemModel* source) override;

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    store::OutcomeFilter filter_ = store::OutcomeFilter::All;
    int limit_ = 20;
    QSet<qint64> accepted_;
    QMetaObject::Connection resetConnection_;
};

}  // namespace dpowb::ui
