#include "pair_outcomes_model.h"

#include <QBrush>
#include <QColor>

#include <cmath>

#include "theme.h"

namespace dpowb::ui {

namespace {

QString signedText(double v) { return (v >= 0 ? QStringLiteral("+") : QString()) + QString::number(v, 'f', 4); }

QString chosenText(const std::string& chosen) {
    if (chosen.empty()) return QObject::tr("A − B");
    return chosen == "a" ? QObject::tr("A chosen") : QObject::tr("B chosen");
}

}  // namespace

PairOutcomesModel::PairOutcomesModel(QObject* parent) : QAbstractTableModel(parent) {}

void PairOutcomesModel::setRows(std::vector<store::DrillDownRow> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

const store::DrillDownRow* PairOutcomesModel::rowAt(int row) const {
    return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

int PairOutcomesModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }

int PairOutcomesModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant PairOutcomesModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.parent().isValid() || index.row() >= int(rows_.size()) || index.column() >= ColumnCount)
        return {};
    const store::DrillDownRow& r = rows_[size_t(index.row())];
    const auto& o = r.outcome;
    const auto change = r.change();
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case PairId: return qint64(o.pairId);
        case Chosen: return chosenText(o.chosen);
        case VerdictNow: return theme::verdictText(r.verdictNow);
        case ChosenReward: return signedText(o.chosenReward);
        case RejectedReward: return signedText(o.rejectedReward);
        case Margin: return signedText(o.margin());
        case Change: return change ? signedText(*change) : QStringLiteral("—");
        case Prompt: return QString::fromStdString(r.prompt);
        }
        break;
    case SortRole:
        switch (index.column()) {
        case PairId: return qint64(o.pairId);
        case Chosen: return QString::fromStdString(o.chosen);
        case VerdictNow: return r.verdictNow ? int(*r.verdictNow) : -1;
        case ChosenReward: return o.chosenReward;
        case RejectedReward: return o.rejectedReward;
        case Margin: return o.margin();
        case Change: return change ? *change : 0.0;
        case Prompt: return QString::fromStdString(r.prompt);
        }
        break;
    case PairIdRole: return qint64(o.pairId);
    case Qt::TextAlignmentRole:
        if (index.column() == Prompt || index.column() == Chosen || index.column() == VerdictNow)
            return int(Qt::AlignLeft | Qt::AlignVCenter);
        return int(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ForegroundRole:
        if (index.column() == Margin) return QBrush(o.margin() < 0 ? QColor(0xb4, 0x2b, 0x2b) : QColor(0x23, 0x7a, 0x3b));
        if (index.column() == VerdictNow) return QBrush(theme::verdictColor(r.verdictNow));
        break;
    case Qt::ToolTipRole:
        switch (index.column()) {
        case Margin:
            return o.chosen.empty() ? tr("reward(A) − reward(B): the pair had no a/b label")
                                    : tr("reward(chosen) − reward(rejected); negative: the policy prefers the rejected response");
        case VerdictNow:
            return tr("The pair's label in the project now (the run trained with the Label column's side)");
        case Change: return change ? tr("margin now − margin at the first evaluation") : tr("not evaluated at the first step");
        case Prompt: return QString::fromStdString(r.prompt);
        default: break;
        }
        break;
    default: break;
    }
    return {};
}

QVariant PairOutcomesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case PairId: return tr("Pair");
        case Chosen: return tr("Label");
        case VerdictNow: return tr("Now");
        case ChosenReward: return tr("Reward chosen");
        case RejectedReward: return tr("Reward rejected");
        case Margin: return tr("Margin");
        case Change: return tr("Change");
        case Prompt: return tr("Prompt");
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case ChosenReward: return tr("β·(log π_θ(chosen) − log π_ref(chosen))");
        case RejectedReward: return tr("β·(log π_θ(rejected) − log π_ref(rejected))");
        case Margin: return tr("reward(chosen) − reward(rejected)");
        case Change: return tr("margin change since the first evaluation (step 0)");
        default: break;
        }
    }
    return {};
}

PairOutcomesProxy::PairOutcomesProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(PairOutcomesModel::SortRole);
    setDynamicSortFilter(true);
}

void PairOutcomesProxy::setOutcomeFilter(store::OutcomeFilter filter, int limit) {
    filter_ = filter;
    limit_ = limit;
    refilter();
    switch (filter_) {
    case store::OutcomeFilter::All: sort(PairOutcomesModel::PairId, Qt::AscendingOrder); break;
    case store::OutcomeFilter::Flipped:
    case store::OutcomeFilter::Worst: sort(PairOutcomesModel::Margin, Qt::AscendingOrder); break;
    case store::OutcomeFilter::Changed: sort(PairOutcomesModel::Change, Qt::AscendingOrder); break;
    }
}

void PairOutcomesProxy::setSourceModel(QAbstractItemModel* source) {
    disconnect(resetConnection_);
    QSortFilterProxyModel::setSourceModel(source);
    if (source) resetConnection_ = connect(source, &QAbstractItemModel::modelReset, this, &PairOutcomesProxy::refilter);
    refilter();
}

void PairOutcomesProxy::refilter() {
    accepted_.clear();
    if (const auto* m = qobject_cast<const PairOutcomesModel*>(sourceModel()))
        for (const auto& r : store::filterOutcomes(m->rows(), filter_, limit_)) accepted_.insert(r.outcome.pairId);
    invalidateFilter();
}

bool PairOutcomesProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (sourceParent.isValid()) return false;
    const auto* m = qobject_cast<const PairOutcomesModel*>(sourceModel());
    const store::DrillDownRow* r = m ? m->rowAt(sourceRow) : nullptr;
    return r && accepted_.contains(r->outcome.pairId);
}

bool PairOutcomesProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    // "Changed" sorts the Change column by size, largest first, whatever its sign.
    if (filter_ == store::OutcomeFilter::Changed && left.column() == PairOutcomesModel::Change &&
        sortColumn() == PairOutcomesModel::Change) {
        const double a = std::fabs(left.data(sortRole()).toDouble()), b = std::fabs(right.data(sortRole()).toDouble());
        if (a != b) return a > b;
    } else {
        const QVariant a = left.data(sortRole()), b = right.data(sortRole());
        if (a != b) return QSortFilterProxyModel::lessThan(left, right);
    }
    return left.data(PairOutcomesModel::PairIdRole).toLongLong() < right.data(PairOutcomesModel::PairIdRole).toLongLong();
}

}  // namespace dpowb::ui
