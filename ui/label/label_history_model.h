// The history panel's model: every label row of one pair (the append-only history), newest
// first, with the verdict shown both as stored (A/B) and as the annotator saw it (left/right).
#pragma once

#include <QAbstractTableModel>

#include <vector>

#include "store/types.h"

namespace dpowb::ui {

class LabelHistoryModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { TimeColumn, AnnotatorColumn, VerdictColumn, RationaleColumn, ColumnCount };

    explicit LabelHistoryModel(QObject* parent = nullptr);
    // `history` oldest first, as Project::history returns it.
    void setHistory(std::vector<store::Label> history);
    const store::Label* labelAt(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // "A (shown left)", "undo → unlabelled", ...
    static QString describe(const store::Label& label);

private:
    std::vector<store::Label> rows_;  // newest first
};

}  // namespace dpowb::ui
