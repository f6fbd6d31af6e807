// Past and current training runs of a project, one row per run (newest first), for the
// runs history of the train view.
#pragma once

#include <QAbstractTableModel>
#include <vector>

#include "store/types.h"

namespace dpowb::ui {

class RunsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Id, Status, Name, Started, Steps, FinalLoss, FinalAccuracy, Data, Config, ColumnCount };
    enum Role { RunIdRole = Qt::UserRole + 1, StatusRole, OutputDirRole, ErrorRole };

    explicit RunsModel(QObject* parent = nullptr);

    // Replaces the rows. Keeps the model's identity so views keep their selection by id.
    void setRuns(std::vector<store::RunRecord> runs);
    const store::RunRecord* runAt(int row) const;
    int rowOf(qint64 runId) const;

    // The final train loss and accuracy recorded in a run's summary (nan when absent).
    static double summaryValue(const store::RunRecord& run, const char* metric);
    // One line saying what a run trained: model, loss, beta, lr, steps, LoRA.
    static QString configSummary(const std::string& configJson);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<store::RunRecord> runs_;
};

}  // namespace dpowb::ui
