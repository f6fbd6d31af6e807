// The training-health warnings of the runs on the Train page's charts, as a table under the
// charts: run, step, warning, what was measured; the tooltip says why it matters and what to
// try (train/health.h's catalogue, the same words as docs/HEALTH.md).
#pragma once

#include <QAbstractTableModel>
#include <vector>

#include "store/types.h"

namespace dpowb::ui {

class HealthModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Run, Step, Warning, Details, ColumnCount };
    explicit HealthModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    void clear();
    // Appends one warning; one per (run, kind): a repeat is ignored (a live warning may also
    // have been read back from the project file). Returns whether it was added.
    bool add(const store::HealthRow& warning);
    const store::HealthRow& rowAt(int row) const { return rows_.at(size_t(row)); }

    // The text a marker or a row's tooltip shows: title, step, the measured figures, why it
    // matters and what to try.
    static QString explanation(const store::HealthRow& warning);
    static QString title(const std::string& code);

private:
    std::vector<store::HealthRow> rows_;
};

}  // namespace dpowb::ui
