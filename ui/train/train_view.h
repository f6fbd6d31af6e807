// The Train page: configure a run, start it on a worker thread, watch it live, compare
// past runs.
//
// Left: the run form and the runs history of the project. Right: status line, progress,
// Pause/Resume and Stop, and the charts (the live run plus the runs selected in the
// history, overlaid). The view reads the project through the window's ProjectContext (the
// trainer opens a connection of its own on its thread) and reloads the runs when the context
// says the runs' side of the file changed, the data summary when the pairs' side did.
#pragma once

#include <QElapsedTimer>
#include <QPointer>
#include <QString>
#include <QWidget>
#include <functional>
#include <memory>
#include <optional>

#include "store/project.h"
#include "train/trainer.h"
#include "run_progress.h"
#include "train_metatypes.h"

QT_BEGIN_NAMESPACE
class QEventLoopLocker;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSlider;
class QTabWidget;
class QTableView;
class QThread;
class QTimer;
QT_END_NAMESPACE

namespace dpowb::ui {

class ChartGrid;
class HealthModel;
class PairDrillDown;
class ProjectContext;
class RunForm;
class RunsModel;
class TrainWorker;

class TrainView : public QWidget {
    Q_OBJECT
public:
    // On the window's shared project: follows what `context` opens and closes.
    explicit TrainView(ProjectContext* context, QWidget* parent = nullptr);
    // On a project of its own (a context owned by the view; empty path: none open).
    explicit TrainView(const QString& projectPath, QWidget* parent = nullptr);
    ~TrainView() override;

    // Opens another project file in the view's context. A run in progress keeps going on its
    // own file.
    void setProjectPath(const QString& projectPath);
    QString projectPath() const { return projectPath_; }

    // Starts a run (the form's Start calls this with the form's configuration). Returns
    // false, showing why, when it cannot start.
    bool startRun(train::TrainConfig config);
    bool isRunning() const { return running_; }
    void setPaused(bool paused);
    // Asks (through the confirm handler), then tells the trainer to stop after the current
    // step; it writes a checkpoint and records the run cancelled. Returns false if declined.
    bool requestStop();
    // For the window's close: asks when a run is going, then stops it and waits for the
    // thread. Returns false when the user wants to keep the window open.
    bool confirmClose();

    // Questions to the user go through this (tests answer them without a dialog).
    void setConfirmHandler(std::function<bool(const QString& question)> handler);

    // Runs the charts show besides the live run (as selected in the history).
    void showRuns(const QList<qint64>& runIds);
    bool exportMetricsCsv(const QString& path, QString* error = nullptr);

    // For tests and the main window.
    RunForm* form() const { return form_; }
    ChartGrid* charts() const { return charts_; }
    // The health warnings of the runs on the charts (live and from the project file).
    HealthModel* healthModel() const { return healthModel_; }
    QTableView* healthTable() const { return healthTable_; }
    QLabel* healthLabel() const { return healthLabel_; }
    RunsModel* runsModel() const { return runsModel_; }
    // The "Pairs" tab: the per-pair drill-down of the first selected run, else the live one.
    PairDrillDown* pairDrillDown() const { return pairs_; }
    QTabWidget* sideTabs() const { return tabs_; }
    QTableView* runsTable() const { return runsTable_; }
    QString statusText() const;
    QString phaseText() const;
    QString errorText() const;
    QPushButton* pauseButton() const { return pause_; }
    QPushButton* stopButton() const { return stop_; }
    QPushButton* resumeButton() const { return resume_; }
    QPushButton* dataChangesButton() const { return dataChanges_; }
    // What changed in the training data from run `from` to run `to` (the "Data changes…"
    // button with two runs selected): pairs added, removed, relabelled.
    QString dataChangesText(qint64 from, qint64 to);
    QProgressBar* progressBar() const { return progress_; }
    qint64 liveRunId() const { return liveRunId_; }
    // "#id name": how charts, legends and exports name a run.
    QString runLabel(qint64 runId) const;
    // The dpowb program that runs jobs of several processes (default: beside this program).
    void setCliProgram(const QString& path) { cli_ = path; }
    const std::optional<train::TrainResult>& lastResult() const { return lastResult_; }
    // Re-reads runs and label counts now (the view also polls for changes).
    void refresh();

Q_SIGNALS:
    void runStarted();
    void runFinished(const dpowb::train::TrainResult& result);
    // The trainer holds for a pause after `step` steps (true), or goes on (false).
    void trainerPaused(qint64 step, bool holding);
    // The form's "Hold out as test" finished; `message` is what the status line shows.
    void holdOutFinished(const QString& message);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void showEvent(QShowEvent* event) override;

private:
    void buildUi();
    void watchWindowClose();
    void refreshRuns();
    void refreshDataSummary();
    void holdOutTestSplit(double percent, quint64 seed);
    void rebuildCharts();
    QList<qint64> selectedRunIds() const;
    void updateButtons();
    void showError(const QString& message);
    bool ask(const QString& question);
    void appendLog(int level, const QString& message);

    void onRunCreated(qint64 runId, const QString& outputDir);
    void onPhase(const QString& phase, qint64 done, qint64 total);
    void onStep(const train::MetricPoint& point);
    void onMetrics(const train::MetricPoint& point);
    void onFinished(const train::TrainResult& result);
    // A warning of a run on the charts: a marker on its chart and a row in the list.
    void addHealth(const store::HealthRow& warning);
    void updateHealthLabel();
    void resumeSelected();
    // With no run going: the newest run of the project on the charts, named beside the bar.
    void showLatestRun();
    void openSelectedOutput();

    void init();
    void onProjectOpened();
    store::Project* project();  // the context's connection, null when no project is open

    ProjectContext* context_ = nullptr;
    QString projectPath_;
    QString projectError_;

    RunForm* form_ = nullptr;
    RunsModel* runsModel_ = nullptr;
    QTableView* runsTable_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    PairDrillDown* pairs_ = nullptr;
    ChartGrid* charts_ = nullptr;
    HealthModel* healthModel_ = nullptr;
    QTableView* healthTable_ = nullptr;
    QLabel* healthLabel_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* phase_ = nullptr;
    QLabel* error_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QPushButton* pause_ = nullptr;
    QPushButton* stop_ = nullptr;
    QPushButton* resume_ = nullptr;
    QPushButton* openOutput_ = nullptr;
    QPushButton* dataChanges_ = nullptr;
    QSlider* smoothing_ = nullptr;
    QLabel* smoothingLabel_ = nullptr;
    QPlainTextEdit* log_ = nullptr;
    quint64 summaryGeneration_ = 0;  // only the newest background count is shown

    QPointer<QThread> thread_;
    QPointer<class TrainJob> job_;
    QString cli_;  // a run of several processes (RunForm::processes() > 1)
    std::shared_ptr<train::TrainControl> control_;
    bool running_ = false;
    // Held from the start of a run to its end: the application does not quit under a running
    // trainer. Closing the window stops the run and the window goes at once; the program
    // ends when the trainer has written its checkpoint and recorded the run cancelled.
    std::unique_ptr<QEventLoopLocker> runLock_;
    bool paused_ = false;
    bool stopping_ = false;
    qint64 liveRunId_ = 0;
    QString liveName_;
    QString liveOutputDir_;
    QElapsedTimer elapsed_;
    QElapsedTimer trainClock_;   // since the first optimizer step seen
    qint64 trainClockStep_ = 0;  // the step trainClock_ started at
    std::optional<train::MetricPoint> lastStep_;
    std::optional<train::TrainResult> lastResult_;
    QList<qint64> shownRuns_;    // what the charts hold, live run first
    std::function<bool(const QString&)> confirm_;
    bool filterInstalled_ = false;
    RunProgress runProgress_;      // the whole run as one bar (0…kProgressScale)
    bool autoSelected_ = false;    // the runs selection was made by showLatestRun, not the user
};

}  // namespace dpowb::ui
