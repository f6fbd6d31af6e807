// The Train page's "Pairs" tab: the per-pair drill-down of one run (store/pair_outcomes.h).
// A table of the evaluated pairs with their implicit rewards, margin and change since step 0,
// sortable by any column, with the filters flipped / worst margins / largest change. Enter (or
// a double click) opens the pair in the Compare page with its token log-ratio heat map;
// "Send to relabel" (R) saves the selected pairs — or, with none selected, the pairs the
// filter shows — as a saved filter "To relabel (run N)" that the Label page offers.
//
// Loads and saves run on a worker thread with their own connection to the project file; the
// GUI thread only shows the result. A live run reloads at each of its evaluations.
#pragma once

#include <QFutureWatcher>
#include <QWidget>

#include <optional>

#include "store/pair_outcomes.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTableView;

namespace dpowb::ui {

class PairOutcomesModel;
class PairOutcomesProxy;

class PairDrillDown : public QWidget {
    Q_OBJECT
public:
    explicit PairDrillDown(QWidget* parent = nullptr);
    ~PairDrillDown() override;

    void setProjectPath(const QString& path);
    // Shows run `runId` (0: none), its latest recorded step; loads in the background.
    void setRun(qint64 runId);
    qint64 runId() const { return runId_; }
    // Reads the run again (a live run's new evaluation): stays on the chosen step unless it
    // was the latest.
    void reload();
    bool isLoading() const;

    void setSplit(const QString& split);  // "eval" | "train"
    void setFilter(store::OutcomeFilter filter);
    // The pairs selected in the table, in table order.
    QList<qint64> selectedPairIds() const;
    // Saves the selected pairs (none selected: every pair shown) as "To relabel (run N)";
    // false (with a message) when there is nothing to save or a save is under way.
    bool sendToRelabel();
    static QString relabelSetName(qint64 runId);

    QTableView* table() const { return table_; }
    PairOutcomesModel* model() const { return model_; }
    PairOutcomesProxy* proxy() const { return proxy_; }
    QComboBox* splitCombo() const { return split_; }
    QComboBox* filterCombo() const { return filter_; }
    QComboBox* stepCombo() const { return step_; }
    QPushButton* relabelButton() const { return relabel_; }
    QPushButton* openButton() const { return open_; }
    QString summaryText() const;
    const std::optional<store::DrillDownTable>& shownTable() const { return shown_; }

Q_SIGNALS:
    void loaded();
    void openPairRequested(qint64 runId, qint64 pairId);
    void pairSetSaved(qint64 setId, const QString& name, int pairs);
    void statusMessage(const QString& text);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct Loaded {
        std::optional<store::DrillDownTable> table;
        QString error;
        quint64 generation = 0;
    };
    struct Saved {
        qint64 setId = 0;
        QString name;
        int pairs = 0;
        QString error;
    };
    void load(qint64 step);
    void onLoaded();
    void openCurrent();
    void updateSummary();
    void updateButtons();

    QString path_;
    qint64 runId_ = 0;
    quint64 generation_ = 0;
    bool again_ = false;
    qint64 againStep_ = -1;
    std::optional<store::DrillDownTable> shown_;
    QString error_;

    QComboBox* split_;
    QComboBox* step_;
    QComboBox* filter_;
    QPushButton* open_;
    QPushButton* relabel_;
    QLabel* summary_;
    QTableView* table_;
    PairOutcomesModel* model_;
    PairOutcomesProxy* proxy_;
    QFutureWatcher<Loaded> loadWatcher_;
    QFutureWatcher<Saved> saveWatcher_;
};

}  // namespace dpowb::ui
