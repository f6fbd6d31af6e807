#include "health_model.h"

#include "train/health.h"

namespace dpowb::ui {

HealthModel::HealthModel(QObject* parent) : QAbstractTableModel(parent) {}

int HealthModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }

int HealthModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QString HealthModel::title(const std::string& code) {
    const auto* info = train::healthInfo(code);
    return info ? tr(info->title) : QString::fromStdString(code);
}

QString HealthModel::explanation(const store::HealthRow& w) {
    const auto* info = train::healthInfo(w.code);
    QString text = tr("%1 (run %2, %3 step %4)")
                       .arg(title(w.code))
                       .arg(w.runId)
                       .arg(w.split == "eval" ? tr("eval at") : tr("at"))
                       .arg(w.step);
    text += QStringLiteral("\n") + QString::fromStdString(w.message);
    if (info) {
        text += QStringLiteral("\n\n") + tr("Why it matters: %1").arg(tr(info->why));
        text += QStringLiteral("\n") + tr("What to try: %1").arg(tr(info->tryThis));
    }
    return text;
}

QVariant HealthModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(rows_.size()) || index.column() >= ColumnCount) return {};
    const store::HealthRow& w = rows_[size_t(index.row())];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Run: return QVariant::fromValue<qlonglong>(w.runId);
        case Step: return QVariant::fromValue<qlonglong>(w.step);
        case Warning: return title(w.code);
        case Details: return QString::fromStdString(w.message);
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) return explanation(w);
    if (role == Qt::UserRole) return QString::fromStdString(w.code);
    if (role == Qt::TextAlignmentRole && (index.column() == Run || index.column() == Step))
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant HealthModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Run: return tr("Run");
    case Step: return tr("Step");
    case Warning: return tr("Health warning");
    case Details: return tr("Measured");
    default: return {};
    }
}

void HealthModel::clear() {
    if (rows_.empty()) return;
    beginResetModel();
    rows_.clear();
    endResetModel();
}

bool HealthModel::add(const store::HealthRow& w) {
    for (const auto& r : rows_)
        if (r.runId == w.runId && r.code == w.code) return false;
    const int row = int(rows_.size());
    beginInsertRows({}, row, row);
    rows_.push_back(w);
    endInsertRows();
    return true;
}

}  // namespace dpowb::ui
