// The Label page's "Adjudication" tab: the pairs whose annotators disagree (the labeling
// analytics' disagreements), each annotator's verdict, the adjudication and the verdict
// training uses (docs/ANALYTICS.md, "Several annotators"). Selecting a row opens the pair;
// the buttons record an adjudication of it as seen on screen (left/right), or undo one.
//
// In blind mode the verdicts stay covered until the user says they adjudicate: annotators
// labelling blind should not read them here.
#pragma once

#include <QAbstractTableModel>
#include <QWidget>

#include <string>
#include <vector>

#include "store/analytics.h"
#include "store/types.h"

class QCheckBox;
class QLabel;
class QPushButton;
class QTableView;

namespace dpowb::ui {

class AdjudicationModel : public QAbstractTableModel {
    Q_OBJECT
public:
    // Columns: the pair, one per annotator (by name), the adjudication, the training verdict.
    using QAbstractTableModel::QAbstractTableModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    void setRows(std::vector<store::Disagreement> rows);
    qint64 pairIdAt(int row) const;
    int annotatorCount() const { return int(annotators_.size()); }
    int adjudicatedColumn() const { return 1 + annotatorCount(); }
    int verdictColumn() const { return 2 + annotatorCount(); }

private:
    std::vector<store::Disagreement> rows_;
    std::vector<std::string> annotators_;  // every annotator of the rows, by name
};

class AdjudicationPanel : public QWidget {
    Q_OBJECT
public:
    explicit AdjudicationPanel(QWidget* parent = nullptr);

    void setMode(store::AnnotationMode mode);
    void setRows(std::vector<store::Disagreement> rows);
    AdjudicationModel* model() const { return model_; }
    QTableView* table() const { return table_; }
    QCheckBox* revealBox() const { return reveal_; }
    QLabel* summary() const { return summary_; }

Q_SIGNALS:
    void pairActivated(qint64 pairId);
    // `choice`: LabelView::Choice as on screen (left, right, tie, both bad); `undo`: revert
    // the pair's adjudication instead.
    void decide(qint64 pairId, int choice, bool undo);

private:
    void updateVisibility();
    qint64 selectedPair() const;

    store::AnnotationMode mode_ = store::AnnotationMode::Single;
    AdjudicationModel* model_;
    QTableView* table_;
    QLabel* summary_;
    QLabel* covered_;
    QCheckBox* reveal_;
    QWidget* buttons_;
};

}  // namespace dpowb::ui
