#include "margin_model.h"

#include <QBrush>
#include <QColor>

#include <cmath>

#include "theme.h"

namespace dpowb::ui {

MarginModel::MarginModel(QObject* parent) : QAbstractTableModel(parent) {}

void MarginModel::setRows(std::vector<MarginRow> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

void MarginModel::clear() { setRows({}); }

const MarginRow* MarginModel::rowAt(int row) const {
    return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

int MarginModel::rowOfPair(qint64 pairId) const {
    for (size_t i = 0; i < rows_.size(); ++i)
        if (rows_[i].pairId == pairId) return int(i);
    return -1;
}

int MarginModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }

int MarginModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant MarginModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(rows_.size()) || index.column() >= ColumnCount) return {};
    const MarginRow& r = rows_[size_t(index.row())];
    const auto signedText = [](double v) { return (v >= 0 ? QStringLiteral("+") : QString()) + QString::number(v, 'f', 4); };
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case PairId: return r.pairId;
        case Split: return r.split;
        case Verdict: return theme::verdictText(r.verdict);
        case RewardA: return signedText(r.rewardA);
        case RewardB: return signedText(r.rewardB);
        case Margin: return signedText(r.margin());
        case AbsMargin: return QString::number(std::abs(r.margin()), 'f', 4);
        case Prompt: return r.prompt;
        }
        break;
    case SortRole:
        switch (index.column()) {
        case PairId: return r.pairId;
        case Split: return r.split;
        case Verdict: return r.verdict ? int(*r.verdict) : -1;
        case RewardA: return r.rewardA;
        case RewardB: return r.rewardB;
        case Margin: return r.margin();
        case AbsMargin: return std::abs(r.margin());
        case Prompt: return r.prompt;
        }
        break;
    case PairIdRole: return r.pairId;
    case Qt::TextAlignmentRole:
        if (index.column() == Prompt || index.column() == Split || index.column() == Verdict)
            return int(Qt::AlignLeft | Qt::AlignVCenter);
        return int(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ForegroundRole:
        if (index.column() == Margin && r.oriented())
            return QBrush(r.margin() < 0 ? QColor(0xb4, 0x2b, 0x2b) : QColor(0x23, 0x7a, 0x3b));
        if (index.column() == Verdict) return QBrush(theme::verdictColor(r.verdict));
        break;
    case Qt::ToolTipRole:
        if (index.column() == Margin)
            return r.oriented() ? tr("reward(chosen) − reward(rejected); negative: the policy prefers the rejected response")
                                : tr("reward(A) − reward(B): the pair has no a/b label");
        if (index.column() == Prompt) return r.prompt;
        break;
    default: break;
    }
    return {};
}

QVariant MarginModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case PairId: return tr("Pair");
        case Split: return tr("Split");
        case Verdict: return tr("Label");
        case RewardA: return tr("Reward A");
        case RewardB: return tr("Reward B");
        case Margin: return tr("Margin");
        case AbsMargin: return tr("|Margin|");
        case Prompt: return tr("Prompt");
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case RewardA: return tr("β·(log π_θ(A) − log π_ref(A))");
        case RewardB: return tr("β·(log π_θ(B) − log π_ref(B))");
        case Margin: return tr("chosen − rejected for a/b labels, else A − B; most negative first = candidate mislabels");
        case AbsMargin: return tr("near zero: the model cannot tell the responses apart; informative to label");
        default: break;
        }
    }
    return {};
}

MarginProxyModel::MarginProxyModel(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(MarginModel::SortRole);
    setDynamicSortFilter(true);
}

void MarginProxyModel::setLabelledOnly(bool on) {
    if (on == labelledOnly_) return;
    labelledOnly_ = on;
    invalidateFilter();
}

bool MarginProxyModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (!labelledOnly_) return true;
    const auto* m = qobject_cast<const MarginModel*>(sourceModel());
    if (!m || sourceParent.isValid()) return true;
    const MarginRow* r = m->rowAt(sourceRow);
    return r && r->oriented();
}

}  // namespace dpowb::ui
