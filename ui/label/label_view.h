// The Label page: the pair browser (filters, search, lazy table) beside the pair view, the
// label history of the current pair, and the keyboard workflow (see help_overlay.cpp).
//
// A label is written the moment its key is pressed, with which stored response was on the
// left; the view then moves to the next unlabelled pair. Ctrl+Z walks back through this
// session's labels, across pairs, by appending undo rows (the history is never rewritten).
#pragma once

#include <QHash>
#include <QWidget>

#include <optional>
#include <vector>

#include "label_keys.h"
#include "store/types.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QCheckBox;
class QSplitter;
class QTabWidget;
class QTableView;
class QTimer;

namespace dpowb::ui {

class AdjudicationPanel;
class HelpOverlay;
class LabelAnalyticsPanel;
class LabelHistoryModel;
class PairTableModel;
class PairView;
class ProjectContext;

class LabelView : public QWidget {
    Q_OBJECT
public:
    // What a key means on screen; mapped to a stored verdict through shownLeft.
    enum class Choice { LeftBetter, RightBetter, Tie, BothBad, Skip };

    explicit LabelView(ProjectContext* context, QWidget* parent = nullptr);
    ~LabelView() override;

    // Labels the current pair (as the keys do). Returns false when there is no pair.
    bool labelCurrent(Choice choice, int strength = 1);
    bool undoLast();
    void goNext();
    void goPrevious();
    // Moves to the next pair after the current one without a current verdict (wrapping).
    bool goNextUnlabelled();
    bool selectPair(qint64 pairId);
    void editFocusedResponse();
    void focusRationale();
    void focusSearch();
    void showHelp();

    qint64 currentPairId() const;
    bool hasUnsavedWork() const;  // a typed rationale not stored yet
    int undoDepth() const { return int(undoStack_.size()); }

    PairTableModel* tableModel() const { return model_; }
    LabelHistoryModel* historyModel() const { return history_; }
    PairView* pairView() const { return pairView_; }
    QTableView* table() const { return table_; }
    QLineEdit* searchBox() const { return search_; }
    QLineEdit* rationaleBox() const { return rationale_; }
    QComboBox* verdictFilter() const { return verdictFilter_; }
    QComboBox* splitFilter() const { return splitFilter_; }
    QComboBox* sourceFilter() const { return sourceFilter_; }
    // Saved pair sets (store/pair_outcomes.h, e.g. "To relabel (run N)" from the Train page's
    // Pairs tab); hidden while the project has none.
    QComboBox* pairSetFilter() const { return pairSetFilter_; }
    // Shows exactly the pairs of saved set `setId` (the other filters reset to all).
    bool showPairSet(qint64 setId);
    HelpOverlay* helpOverlay() const { return help_; }
    LabelAnalyticsPanel* analyticsPanel() const { return analytics_; }
    AdjudicationPanel* adjudicationPanel() const { return adjudication_; }
    QLabel* verdictChip() const { return verdictChip_; }
    QLabel* pairTitle() const { return pairTitle_; }
    // Records an adjudication of the current pair (the choice as on screen); `undo` reverts
    // the pair's adjudication instead.
    bool adjudicateCurrent(Choice choice, bool undo = false);
    // The annotator name changed (Preferences): with several annotators the list is theirs.
    void annotatorChanged() { applyFilters(); }
    QTabWidget* lowerTabs() const { return lowerTabs_; }
    QSplitter* mainSplitter() const { return hsplit_; }
    QSplitter* rightSplitter() const { return rightSplit_; }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

Q_SIGNALS:
    void statusMessage(const QString& text);
    void labelled(qint64 pairId);

private:
    void onProjectOpened();
    void onExternalChange();
    void applyFilters();
    void refreshSources();
    void showCurrent();
    void updateVerdictChip();
    void saveRationale();
    void runCommand(LabelCommand command);
    static bool isTextEntry(const QWidget* widget);
    std::optional<store::Verdict> verdictFor(Choice choice) const;

    ProjectContext* context_;
    PairTableModel* model_;
    LabelHistoryModel* history_;
    PairView* pairView_;
    QTableView* table_;
    QTableView* historyTable_;
    QLineEdit* search_;
    QTimer* searchDebounce_;
    QComboBox* verdictFilter_;
    QComboBox* splitFilter_;
    QComboBox* sourceFilter_;
    QComboBox* pairSetFilter_ = nullptr;
    QCheckBox* diffBox_;
    QLabel* countLabel_;
    QLabel* verdictChip_;
    QLabel* pairTitle_;
    QLineEdit* rationale_;
    QSplitter* hsplit_;
    QSplitter* rightSplit_;
    HelpOverlay* help_;
    QTabWidget* lowerTabs_ = nullptr;
    LabelAnalyticsPanel* analytics_ = nullptr;
    AdjudicationPanel* adjudication_ = nullptr;
    store::AnnotationMode mode_ = store::AnnotationMode::Single;  // read on open and on changes

    QHash<qint64, QString> drafts_;  // rationales typed for pairs not labelled yet
    std::vector<qint64> undoStack_;  // pair ids labelled in this session, newest last
    qint64 selectAfterLoad_ = 0;
    bool firstLoad_ = true;
    std::optional<store::Pair> current_;
};

}  // namespace dpowb::ui
