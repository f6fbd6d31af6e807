// The Compare page: the policy's and the reference's completions for one prompt side by side.
//
// Top: which models (a run of the project — its policy and its reference — or any two model
// folders, or builtin:tiny), the prompt (typed, or a held-out pair's prompt with
// previous/next/random), and the sampling settings shared by both sides (the same seed too).
// Middle: two panes streaming N completions each; once a completion is scored under both
// models it shows log π_θ, log π_ref and the implicit reward β·(log π_θ − log π_ref), and each
// piece of text is tinted by its log-ratio (green: the policy likes it more; red: less).
// Bottom: the prompt's pair scored the same way, and the margins table over the project.
//
// Keys: Ctrl+Return generates, Esc stops, Ctrl+P adds the shown completions as a new pair,
// Ctrl+1 / Ctrl+2 add it labelled (policy better / reference better).
//
// The models live on a worker thread; the view owns its own connection to the project file.
#pragma once

#include <QString>
#include <QWidget>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "compare_worker.h"
#include "store/project.h"

QT_BEGIN_NAMESPACE
class QEventLoopLocker;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableView;
class QTextBrowser;
class QThread;
class QTimer;
QT_END_NAMESPACE

namespace dpowb::ui {

class MarginModel;
class MarginProxyModel;
class ProjectContext;
class TokenPane;

class CompareView : public QWidget {
    Q_OBJECT
public:
    // On the window's shared project: follows what `context` opens and closes.
    explicit CompareView(ProjectContext* context, QWidget* parent = nullptr);
    // On a project of its own (a context owned by the view; empty path: none open).
    explicit CompareView(const QString& projectPath, QWidget* parent = nullptr);
    ~CompareView() override;

    // Opens another project file in the view's context.
    void setProjectPath(const QString& projectPath);
    QString projectPath() const { return projectPath_; }
    // Re-reads the project's runs. Until the user picks models by hand (or an older run), the
    // page follows the newest run that left a model: a run that just finished is selected.
    void refreshRuns();
    QComboBox* runCombo() const { return runCombo_; }

    // ---- models ----
    // Picks a run of the project: its policy (outputDir) and its reference, its beta.
    bool selectRun(qint64 runId);
    // Two folders (or builtin:tiny) chosen by hand.
    void setModels(const QString& policyPath, const QString& referencePath, double beta = 0.1);
    CompareModels models() const;

    // ---- prompt ----
    void setPrompt(const QString& text);  // typed: not tied to a pair
    QString prompt() const;
    bool showPair(qint64 pairId);          // the pair's prompt, and its responses for "Score pair"
    qint64 currentPairId() const { return pairId_; }
    void nextPair(int step = 1);
    void randomPair();

    // ---- sampling and generation ----
    void setSettings(const SamplingSettings& settings);
    SamplingSettings settings() const;
    // Starts generating both sides in the background; false (with a message) when it cannot.
    bool generate();
    void stop();
    bool isBusy() const { return busy_; }
    int sampleCount(Side side) const { return int(samples_[size_t(side)].size()); }
    // The scored completion, once that sample is done.
    const ScoredText* completion(Side side, int index) const;
    QString streamedText(Side side, int index) const;
    QString paneHtml(Side side) const;
    // The sample Ctrl+P turns into a pair (0-based).
    int selectedSample() const;
    void setSelectedSample(int index);

    // ---- back into the data ----
    // Adds the selected sample of each side as a new pair (A = policy, B = reference), labelled
    // at once when a verdict is given. Returns the pair id, 0 when nothing was added.
    qint64 addPairFromView(std::optional<store::Verdict> verdict = std::nullopt);
    // The batch: `prompts` distinct prompts of `fromSplit`, one pair each, all or nothing.
    bool samplePairs(int prompts, const QString& fromSplit, const QString& toSplit);
    void openSampleDialog();

    // ---- scoring ----
    bool scoreCurrentPair();
    const std::optional<ScoredPair>& pairScore() const { return pairScore_; }
    QString pairScoreText() const;
    bool computeMargins(const QString& split = {});
    MarginModel* marginModel() const { return marginModel_; }
    MarginProxyModel* marginProxy() const { return marginProxy_; }

    QString statusText() const;
    QString errorText() const { return lastError_; }

    // The colour of a log-ratio: green for positive, red for negative, stronger with |x|.
    static QColor ratioColor(double logRatio);

Q_SIGNALS:
    void generationFinished(bool cancelled);
    void pairScored();
    void marginsComputed();
    void pairAdded(qint64 pairId);
    void samplesFinished(int added, int generated, bool cancelled, const QString& error);
    void sampleProgress(int done, int total);
    void busyChanged(bool busy);
    void failed(const QString& message);

protected:
    void showEvent(QShowEvent* event) override;
    // Closing the window while a job runs cancels it (the window goes at once; the
    // application ends when the job has stopped, see busyLock_).
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct SampleState {
        QString streamed;
        std::optional<ScoredText> scored;
    };

    void buildUi();
    void openProject();
    void reloadRuns();
    void reloadPairIds();
    void onRunChosen(int index);
    void browseFolder(QLineEdit* edit);
    void setBusy(bool busy);
    bool startJob(const QString& what);
    void showError(const QString& message);
    void schedulePaneUpdate();
    void renderPanes();
    void renderPane(Side side);
    void renderPairScore();
    void onPiece(int side, int sample, const QString& text);
    void onCompleted(int side, int sample, const ScoredText& result);
    void updateActions();
    void showPairFromMargins(const QModelIndex& proxyIndex);

    void init();
    store::Project* project();  // the context's connection, null when no project is open
    ProjectContext* context_ = nullptr;
    QString projectPath_;
    std::vector<int64_t> pairIds_;  // prompts to step through: the test split, else all
    int pairIndex_ = -1;
    qint64 pairId_ = 0;
    std::optional<store::Pair> pair_;
    bool settingPrompt_ = false;

    std::array<std::vector<SampleState>, 2> samples_;
    GenerateRequest lastRequest_;  // what the shown samples were generated with
    std::optional<ScoredPair> pairScore_;
    double pairScoreBeta_ = 0.1;
    QString lastError_;
    bool busy_ = false;
    bool filterInstalled_ = false;
    // Held while a job runs on the worker thread: the application does not quit under a
    // loading or generating worker (it quits when the job is done), and no one waits for it.
    std::unique_ptr<QEventLoopLocker> busyLock_;
    bool followNewest_ = true;  // select each new run until the user chooses models
    bool panesDirty_ = false;

    std::shared_ptr<std::atomic<bool>> cancel_;
    QThread* thread_ = nullptr;
    CompareWorker* worker_ = nullptr;

    // widgets
    QComboBox* runCombo_ = nullptr;
    QLineEdit* policyEdit_ = nullptr;
    QLineEdit* referenceEdit_ = nullptr;
    QDoubleSpinBox* betaSpin_ = nullptr;
    QPlainTextEdit* promptEdit_ = nullptr;
    QLabel* pairLabel_ = nullptr;
    QCheckBox* greedyCheck_ = nullptr;
    QDoubleSpinBox* temperatureSpin_ = nullptr;
    QSpinBox* topKSpin_ = nullptr;
    QDoubleSpinBox* topPSpin_ = nullptr;
    QSpinBox* maxTokensSpin_ = nullptr;
    QSpinBox* seedSpin_ = nullptr;
    QSpinBox* samplesSpin_ = nullptr;
    QSpinBox* selectedSpin_ = nullptr;
    QPushButton* generateButton_ = nullptr;
    QPushButton* stopButton_ = nullptr;
    QPushButton* addPairButton_ = nullptr;
    QPushButton* policyBetterButton_ = nullptr;
    QPushButton* referenceBetterButton_ = nullptr;
    QPushButton* scorePairButton_ = nullptr;
    QPushButton* samplePairsButton_ = nullptr;
    std::array<TokenPane*, 2> panes_{};
    std::array<QLabel*, 2> paneTitles_{};
    TokenPane* pairScoreView_ = nullptr;
    QTabWidget* bottomTabs_ = nullptr;
    QComboBox* marginSplitCombo_ = nullptr;
    QCheckBox* labelledOnlyCheck_ = nullptr;
    QPushButton* marginButton_ = nullptr;
    QTableView* marginTable_ = nullptr;
    MarginModel* marginModel_ = nullptr;
    MarginProxyModel* marginProxy_ = nullptr;
    QLabel* statusLabel_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QTimer* paneTimer_ = nullptr;
};

}  // namespace dpowb::ui
