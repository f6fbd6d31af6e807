#include "label_history_model.h"

#include <QDateTime>

#include "theme.h"

namespace dpowb::ui {

LabelHistoryModel::LabelHistoryModel(QObject* parent) : QAbstractTableModel(parent) {}

void LabelHistoryModel::setHistory(std::vector<store::Label> history) {
    beginResetModel();
    rows_.assign(history.rbegin(), history.rend());
    endResetModel();
}

const store::Label* LabelHistoryModel::labelAt(int row) const {
    if (row < 0 || size_t(row) >= rows_.size()) return nullptr;
    return &rows_[size_t(row)];
}

int LabelHistoryModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(rows_.size());
}

int LabelHistoryModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QString LabelHistoryModel::describe(const store::Label& l) {
    if (l.isUndo()) {
        return l.verdict ? tr("undo → %1").arg(theme::verdictText(l.verdict))
                         : tr("undo → unlabelled");
    }
    // As it was given: the sides the annotator saw, with the stored letter alongside.
    return theme::screenVerdictWithStored(l.verdict, l.strength, l.shownLeft);
}

QVariant LabelHistoryModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const store::Label& l = rows_[size_t(index.row())];
    if (role == Qt::DisplayRole || role == Qt::ToolTipRole) {
        switch (index.column()) {
        case TimeColumn:
            return QDateTime::fromMSecsSinceEpoch(l.createdAt)
                .toString(role == Qt::ToolTipRole ? QStringLiteral("yyyy-MM-dd hh:mm:ss")
                                                  : QStringLiteral("MM-dd hh:mm"));
        case AnnotatorColumn: return QString::fromStdString(l.annotator);
        case VerdictColumn: return describe(l);
        case RationaleColumn: return QString::fromStdString(l.rationale);
        }
    }
    if (role == Qt::ForegroundRole) {
        if (index.column() == VerdictColumn)
            return l.isUndo() ? theme::mutedText() : theme::verdictColor(l.verdict);
        return theme::mutedText();
    }
    return {};
}

QVariant LabelHistoryModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case TimeColumn: return tr("When");
    case AnnotatorColumn: return tr("Who");
    case VerdictColumn: return tr("Verdict");
    case RationaleColumn: return tr("Rationale");
    }
    return {};
}

}  // namespace dpowb::ui
