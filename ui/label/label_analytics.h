// Labeling analytics on the Label page (store/analytics.h): position bias with its 95 %
// interval, each annotator's verdict mix and rate, and, where pairs carry several
// annotators' labels, their agreement (Cohen's κ, Krippendorff's α) and the disagreements
// to adjudicate (double-click one to open the pair).
//
// Blind mode (setBlindViewer): an annotator who does not adjudicate sees their own row of
// the verdict mix, the disagreements on pairs they labelled, and no agreement statistics.
//
// Computed on a worker thread with its own connection to the project file; the GUI thread
// only shows the result.
#pragma once

#include <QAbstractTableModel>
#include <QFutureWatcher>
#include <QWidget>
#include <memory>
#include <optional>

#include "store/analytics.h"

class QLabel;
class QPushButton;
class QTableView;

namespace dpowb::ui {

class AnnotatorModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Annotator, Labels, A, B, Tie, BothBad, Skip, PerHour, LeftShare, ColumnCount };
    using QAbstractTableModel::QAbstractTableModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    void setRows(std::vector<store::AnnotatorSummary> rows);

private:
    std::vector<store::AnnotatorSummary> rows_;
};

class DisagreementModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { PairId, Verdicts, ColumnCount };
    using QAbstractTableModel::QAbstractTableModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    void setRows(std::vector<store::Disagreement> rows);
    qint64 pairIdAt(int row) const { return rows_.at(size_t(row)).pairId; }

private:
    std::vector<store::Disagreement> rows_;
};

class LabelAnalyticsPanel : public QWidget {
    Q_OBJECT
public:
    explicit LabelAnalyticsPanel(QWidget* parent = nullptr);
    ~LabelAnalyticsPanel() override;

    void setProjectPath(const QString& path);
    // The annotator labelling blind without adjudicating; empty: show everything.
    void setBlindViewer(const QString& annotator);
    // Recomputes in the background (a request while one runs is served when it ends).
    void refresh();
    bool isBusy() const { return watcher_.isRunning(); }
    const std::optional<store::LabelAnalytics>& result() const { return result_; }
    QString summaryText() const;
    AnnotatorModel* annotatorModel() const { return annotators_; }
    DisagreementModel* disagreementModel() const { return disagreements_; }
    QTableView* disagreementTable() const { return disagreementTable_; }

Q_SIGNALS:
    void updated();
    void pairActivated(qint64 pairId);

private:
    struct Outcome {
        std::optional<store::LabelAnalytics> analytics;
        QString error;
    };
    void show(const Outcome& outcome);
    void render();

    QString path_;
    QLabel* summary_;
    QPushButton* refreshButton_;
    AnnotatorModel* annotators_;
    DisagreementModel* disagreements_;
    QTableView* annotatorTable_;
    QTableView* disagreementTable_;
    QFutureWatcher<Outcome> watcher_;
    bool again_ = false;
    std::optional<store::LabelAnalytics> result_;
    QString blindViewer_;
};

}  // namespace dpowb::ui
