// What the trained model thinks of the labels: one row per pair with its implicit rewards
// under a run's policy and reference, and the margin. Sorted by margin (most negative first)
// it lists the pairs the model disagrees with most — candidate mislabels; sorted by |margin|
// it lists the pairs the model cannot tell apart — informative to label next.
#pragma once

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

#include <vector>

#include "compare_worker.h"

namespace dpowb::ui {

class MarginModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { PairId, Split, Verdict, RewardA, RewardB, Margin, AbsMargin, Prompt, ColumnCount };
    // Numbers for sorting (display text is rounded); the pair id for every column.
    enum Role { SortRole = Qt::UserRole + 1, PairIdRole };

    explicit MarginModel(QObject* parent = nullptr);

    void setRows(std::vector<MarginRow> rows);
    void clear();
    const MarginRow* rowAt(int row) const;
    int rowOfPair(qint64 pairId) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<MarginRow> rows_;
};

// Sorts by SortRole, numerically; an optional verdict filter: only pairs labelled a/b.
class MarginProxyModel : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit MarginProxyModel(QObject* parent = nullptr);
    void setLabelledOnly(bool on);
    bool labelledOnly() const { return labelledOnly_; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    bool labelledOnly_ = false;
};

}  // namespace dpowb::ui
