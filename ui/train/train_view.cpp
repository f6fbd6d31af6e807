#include "train_view.h"

#include <QCloseEvent>
#include <QDesktopServices>
#include <QDir>
#include <QEventLoopLocker>
#include <QFile>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTextStream>
#include <QThread>
#include <QTimer>
#include <QUrl>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cmath>
#include <set>

#include "chart_grid.h"
#include "error_line.h"
#include "health_model.h"
#include "pair_drilldown.h"
#include "project_context.h"
#include "store/holdout.h"
#include "store/provenance.h"
#include "train/health.h"
#include "run_form.h"
#include "runs_model.h"
#include "train_job.h"
#include "train_worker.h"

namespace dpowb::ui {

namespace {

QString formatDuration(qint64 ms) {
    const qint64 s = ms / 1000;
    if (s >= 3600) return QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QChar('0')).arg(s % 60, 2, 10, QChar('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

QString phaseTitle(const QString& phase) {
    if (phase == QLatin1String("load")) return QObject::tr("Loading the model");
    if (phase == QLatin1String("tokenize")) return QObject::tr("Tokenizing pairs");
    if (phase == QLatin1String("sft")) return QObject::tr("SFT warm-up of the reference");
    if (phase == QLatin1String("reference")) return QObject::tr("Computing reference log-probs");
    if (phase == QLatin1String("train")) return QObject::tr("Training");
    if (phase == QLatin1String("eval")) return QObject::tr("Evaluating");
    if (phase == QLatin1String("save")) return QObject::tr("Saving");
    return phase;
}

constexpr int kProgressScale = 1000;  // the bar's range: the whole run in thousandths

// CSV fields: quoted only when they need it.
QString csvField(const QString& s) {
    if (!s.contains(',') && !s.contains('"') && !s.contains('\n')) return s;
    QString q = s;
    q.replace('"', QStringLiteral("\"\""));
    return '"' + q + '"';
}

}  // namespace

TrainView::TrainView(ProjectContext* context, QWidget* parent) : QWidget(parent), context_(context) { init(); }

TrainView::TrainView(const QString& projectPath, QWidget* parent)
    : QWidget(parent), context_(new ProjectContext(this)) {
    if (!projectPath.isEmpty()) {
        try {
            context_->open(projectPath);
        } catch (const std::exception& e) {
            projectPath_ = projectPath;
            projectError_ = errorLine(e);
        }
    }
    init();
}

void TrainView::init() {
    registerTrainMetaTypes();
    if (context_->isOpen()) projectPath_ = context_->path();
    else if (projectError_.isEmpty()) projectError_ = tr("No project is open.");
    buildUi();
    refresh();
    showLatestRun();
    connect(context_, &ProjectContext::opened, this, &TrainView::onProjectOpened);
    connect(context_, &ProjectContext::closed, this, [this] {
        projectPath_.clear();
        projectError_ = tr("No project is open.");
        refresh();
    });
    // Only what changed: a run's heartbeats and metrics reload the runs table (and the charts
    // through it), never the data summary's counts over every pair.
    connect(context_, &ProjectContext::runsChanged, this, &TrainView::refreshRuns);
    connect(context_, &ProjectContext::externalChange, this, &TrainView::refreshDataSummary);
    connect(context_, &ProjectContext::localChange, this, &TrainView::refreshDataSummary);
}

store::Project* TrainView::project() { return context_->isOpen() ? &context_->project() : nullptr; }

TrainView::~TrainView() {
    // The window may be destroyed without a close event (e.g. at the end of a test).
    if (thread_) {
        if (control_) TrainWorker::stop(*control_);
        thread_->quit();
        thread_->wait();
    }
}

void TrainView::buildUi() {
    auto* split = new QSplitter(Qt::Horizontal, this);
    auto* outer = new QHBoxLayout(this);
    outer->setContentsMargins(4, 4, 4, 4);
    outer->addWidget(split);

    // ---- left: the form and the history ----
    tabs_ = new QTabWidget(split);
    form_ = new RunForm(tabs_);
    tabs_->addTab(form_, tr("New run"));
    connect(form_, &RunForm::startRequested, this, [this](const train::TrainConfig& c) { startRun(c); });
    connect(form_, &RunForm::holdOutRequested, this, &TrainView::holdOutTestSplit);

    auto* history = new QWidget(tabs_);
    auto* hl = new QVBoxLayout(history);
    hl->setContentsMargins(2, 2, 2, 2);
    runsModel_ = new RunsModel(this);
    runsTable_ = new QTableView(history);
    runsTable_->setObjectName("runs");
    runsTable_->setModel(runsModel_);
    runsTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    runsTable_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    runsTable_->verticalHeader()->hide();
    runsTable_->horizontalHeader()->setStretchLastSection(true);
    runsTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    runsTable_->setWordWrap(false);
    runsTable_->setAlternatingRowColors(true);
    hl->addWidget(new QLabel(tr("Select runs to overlay their curves (Ctrl/Shift for several)."), history));
    hl->addWidget(runsTable_, 1);
    auto* hb = new QHBoxLayout;
    resume_ = new QPushButton(tr("Resume"), history);
    resume_->setToolTip(tr("Continue an interrupted or cancelled run from its checkpoint"));
    openOutput_ = new QPushButton(tr("Open output folder"), history);
    auto* csv = new QPushButton(tr("Export metrics CSV…"), history);
    dataChanges_ = new QPushButton(tr("Data changes…"), history);
    dataChanges_->setObjectName("dataChanges");
    dataChanges_->setToolTip(tr("Select two runs: the pairs added, removed and relabelled between their training data"));
    hb->addWidget(resume_);
    hb->addWidget(openOutput_);
    hb->addWidget(dataChanges_);
    hb->addStretch(1);
    hb->addWidget(csv);
    hl->addLayout(hb);
    tabs_->addTab(history, tr("Runs"));
    pairs_ = new PairDrillDown(tabs_);
    pairs_->setProjectPath(projectPath_);
    tabs_->addTab(pairs_, tr("Pairs"));
    connect(dataChanges_, &QPushButton::clicked, this, [this] {
        const QList<qint64> ids = selectedRunIds();
        if (ids.size() != 2) return;
        auto* box = new QMessageBox(QMessageBox::Information, tr("Data changes"),
                                    dataChangesText(std::min(ids[0], ids[1]), std::max(ids[0], ids[1])), QMessageBox::Close, this);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->setModal(false);
        box->show();
    });
    connect(runsTable_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        autoSelected_ = false;  // the user's choice from now on
        rebuildCharts();
        updateButtons();
    });
    connect(resume_, &QPushButton::clicked, this, [this] { resumeSelected(); });
    connect(openOutput_, &QPushButton::clicked, this, [this] { openSelectedOutput(); });
    connect(csv, &QPushButton::clicked, this, [this] {
        const QString path = dialogs::saveFile(this, tr("Export metrics"), QDir::homePath() + "/metrics.csv",
                                                          tr("CSV (*.csv)"));
        QString error;
        if (!path.isEmpty() && !exportMetricsCsv(path, &error)) showError(error);
    });

    // ---- right: status, controls, charts ----
    auto* right = new QWidget(split);
    auto* rl = new QVBoxLayout(right);
    rl->setContentsMargins(4, 0, 0, 0);
    auto* statusRow = new QHBoxLayout;
    phase_ = new QLabel(tr("No run"), right);
    phase_->setObjectName("phase");
    QFont bold = phase_->font();
    bold.setBold(true);
    phase_->setFont(bold);
    status_ = new QLabel(right);
    status_->setObjectName("status");
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    progress_ = new QProgressBar(right);
    progress_->setObjectName("progress");
    progress_->setToolTip(tr("The whole run: setup, SFT warm-up, reference, training steps and the final save"));
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setTextVisible(true);
    // A row of its own, as wide as the charts: readable at a glance from across the room.
    progress_->setMinimumHeight(progress_->fontMetrics().height() + 10);
    pause_ = new QPushButton(tr("Pause"), right);
    pause_->setObjectName("pause");
    stop_ = new QPushButton(tr("Stop"), right);
    stop_->setObjectName("stop");
    statusRow->addWidget(phase_);
    statusRow->addWidget(status_, 1);
    statusRow->addWidget(pause_);
    statusRow->addWidget(stop_);
    rl->addLayout(statusRow);
    rl->addWidget(progress_);
    connect(pause_, &QPushButton::clicked, this, [this] { setPaused(!paused_); });
    connect(stop_, &QPushButton::clicked, this, [this] { requestStop(); });

    error_ = new QLabel(right);
    error_->setObjectName("error");
    error_->setWordWrap(true);
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    error_->setStyleSheet("QLabel { background: #fde8e8; color: #8a1010; border: 1px solid #e0a0a0; padding: 4px; }");
    error_->hide();
    rl->addWidget(error_);

    auto* tools = new QHBoxLayout;
    smoothingLabel_ = new QLabel(right);
    smoothing_ = new QSlider(Qt::Horizontal, right);
    smoothing_->setObjectName("smoothing");
    smoothing_->setRange(0, 99);
    smoothing_->setMaximumWidth(180);
    smoothing_->setToolTip(tr("Exponential moving average of the plotted values (hover shows the raw value)"));
    auto* resetZoom = new QPushButton(tr("Reset zoom"), right);
    auto* png = new QPushButton(tr("Export PNG…"), right);
    auto* svg = new QPushButton(tr("Export SVG…"), right);
    tools->addWidget(new QLabel(tr("Smoothing"), right));
    tools->addWidget(smoothing_);
    tools->addWidget(smoothingLabel_);
    tools->addStretch(1);
    tools->addWidget(resetZoom);
    tools->addWidget(png);
    tools->addWidget(svg);
    rl->addLayout(tools);

    // The charts scroll (vertically only) where the window is too short for their rows: a
    // narrow window puts fewer charts in a row and so needs more rows.
    auto* chartScroll = new QScrollArea(right);
    chartScroll->setObjectName("chartScroll");
    chartScroll->setWidgetResizable(true);
    chartScroll->setFrameShape(QFrame::NoFrame);
    chartScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    charts_ = new ChartGrid(chartScroll);
    chartScroll->setWidget(charts_);
    rl->addWidget(chartScroll, 1);
    connect(smoothing_, &QSlider::valueChanged, this, [this](int v) {
        smoothingLabel_->setText(QString::number(v / 100.0, 'f', 2));
        charts_->setSmoothing(v / 100.0);
    });
    smoothing_->setValue(0);
    smoothingLabel_->setText(QStringLiteral("0.00"));
    connect(resetZoom, &QPushButton::clicked, charts_, &ChartGrid::resetZoom);
    connect(png, &QPushButton::clicked, this, [this] {
        const QString path = dialogs::saveFile(this, tr("Export charts"), QDir::homePath() + "/training.png",
                                                          tr("PNG image (*.png)"));
        QString error;
        if (!path.isEmpty() && !charts_->exportPng(path, &error)) showError(error);
    });
    connect(svg, &QPushButton::clicked, this, [this] {
        const QString path = dialogs::saveFile(this, tr("Export charts"), QDir::homePath() + "/training.svg",
                                                          tr("SVG drawing (*.svg)"));
        QString error;
        if (!path.isEmpty() && !charts_->exportSvg(path, &error)) showError(error);
    });

    healthLabel_ = new QLabel(right);
    healthLabel_->setObjectName("healthLabel");
    healthLabel_->setToolTip(tr("Training-health checks: see docs/HEALTH.md. Hover a warning (or its marker on the "
                                "charts) for why it matters and what to try."));
    rl->addWidget(healthLabel_);
    healthModel_ = new HealthModel(this);
    healthTable_ = new QTableView(right);
    healthTable_->setObjectName("healthTable");
    healthTable_->setModel(healthModel_);
    healthTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    healthTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    healthTable_->verticalHeader()->hide();
    healthTable_->horizontalHeader()->setStretchLastSection(true);
    healthTable_->setWordWrap(false);
    healthTable_->setMaximumHeight(110);
    healthTable_->hide();
    rl->addWidget(healthTable_);
    updateHealthLabel();

    log_ = new QPlainTextEdit(right);
    log_->setObjectName("log");
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(2000);
    log_->setMaximumHeight(90);
    log_->setPlaceholderText(tr("Trainer messages"));
    rl->addWidget(log_);

    split->addWidget(tabs_);
    split->addWidget(right);
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    // The form's side is as wide as its fields need (it was cut at the right edge with a
    // horizontal scrollbar in a 1600-pixel window); the charts take the rest.
    const int formWidth = form_->neededWidth() + 8;  // the tab frame
    tabs_->setMinimumWidth(formWidth);
    split->setSizes({formWidth, 1000});
    updateButtons();
}

void TrainView::setProjectPath(const QString& projectPath) {
    if (projectPath == projectPath_ && project()) return;
    try {
        context_->open(projectPath);  // onProjectOpened() through the context's signal
    } catch (const std::exception& e) {
        projectPath_ = projectPath;
        projectError_ = errorLine(e);
        refresh();
    }
}

void TrainView::onProjectOpened() {
    projectPath_ = context_->path();
    projectError_.clear();
    pairs_->setProjectPath(projectPath_);
    refresh();
    if (!running_) {
        charts_->clear();
        shownRuns_.clear();
        liveRunId_ = 0;
        showLatestRun();
    }
}

void TrainView::showLatestRun() {
    if (running_) return;
    // Newest first; a run that never made a step (failed at the start) has nothing to plot.
    const store::RunRecord* latest = nullptr;
    for (int row = 0; row < runsModel_->rowCount() && !latest; ++row)
        if (runsModel_->runAt(row)->step > 0) latest = runsModel_->runAt(row);
    if (!latest && runsModel_->rowCount() > 0) latest = runsModel_->runAt(0);
    if (!latest) {
        phase_->setText(tr("No run"));
        progress_->setRange(0, 1);
        progress_->setValue(0);
        return;
    }
    showRuns({latest->id});
    autoSelected_ = true;
    phase_->setText(tr("Last run #%1: %2").arg(latest->id).arg(QString::fromLatin1(store::toString(latest->status))));
    progress_->setRange(0, kProgressScale);
    const bool done = latest->status == store::RunStatus::Finished;
    const double f = done ? 1.0 : latest->totalSteps > 0 ? double(latest->step) / double(latest->totalSteps) : 0.0;
    progress_->setValue(int(std::lround(std::clamp(f, 0.0, 1.0) * kProgressScale)));
}

void TrainView::refresh() {
    refreshRuns();
    refreshDataSummary();
}

void TrainView::refreshRuns() {
    if (!project()) {
        runsModel_->setRuns({});
        return;
    }
    const QList<qint64> selected = selectedRunIds();
    std::vector<store::RunRecord> runs;
    try {
        runs = project()->runs();
    } catch (const std::exception& e) {
        appendLog(int(train::LogLevel::Warning), tr("Could not read the runs: %1").arg(errorLine(e)));
        return;
    }
    const bool sameRows = [&] {
        if (static_cast<int>(runs.size()) != runsModel_->rowCount()) return false;
        for (size_t i = 0; i < runs.size(); ++i)
            if (runsModel_->runAt(static_cast<int>(i))->id != runs[i].id) return false;
        return true;
    }();
    runsModel_->setRuns(std::move(runs));
    if (!sameRows) {
        // A reset drops the selection: put it back without redrawing the charts.
        QItemSelectionModel* sel = runsTable_->selectionModel();
        const QSignalBlocker block(sel);
        for (qint64 id : selected) {
            const int row = runsModel_->rowOf(id);
            if (row >= 0)
                sel->select(runsModel_->index(row, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
        }
        runsTable_->viewport()->update();
        if (selectedRunIds() != selected) rebuildCharts();
    }
    updateButtons();
}

namespace {

// Label counts of a project; runs on a pool thread with its own connection, because stats
// over a large project take longer than the GUI may block.
DataSummary countTrainingData(const QString& path) {
    DataSummary s;
    try {
        store::Project project = store::Project::openReadOnly(path.toStdString());
        const store::Stats st = project.stats();
        for (const auto& [verdict, n] : st.byVerdict) {
            if (verdict == "tie") s.ties = n;
            else if (verdict == "both_bad") s.bothBad = n;
            else if (verdict == "skip") s.skipped = n;
        }
        s.unlabelled = st.unlabelled;
        for (const char* split : {"train", "test"}) {
            qint64 n = 0;
            for (store::VerdictFilter v : {store::VerdictFilter::A, store::VerdictFilter::B}) {
                store::PairQuery q;
                q.split = split;
                q.verdict = v;
                n += project.countPairs(q);
            }
            (std::string(split) == "train" ? s.trainPairs : s.testPairs) = n;
        }
    } catch (const std::exception& e) {
        s.error = errorLine(e);
    }
    s.ready = true;
    return s;
}

}  // namespace

void TrainView::refreshDataSummary() {
    if (!project()) {
        DataSummary s;
        s.error = projectError_;
        s.ready = true;
        form_->setDataSummary(s);
        return;
    }
    const quint64 generation = ++summaryGeneration_;
    auto* watcher = new QFutureWatcher<DataSummary>(this);
    connect(watcher, &QFutureWatcher<DataSummary>::finished, this, [this, watcher, generation] {
        if (generation == summaryGeneration_) form_->setDataSummary(watcher->result());
        watcher->deleteLater();
    });
    watcher->setFuture(QtConcurrent::run(countTrainingData, projectPath_));
}

void TrainView::holdOutTestSplit(double percent, quint64 seed) {
    if (!project()) return;
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher] {
        status_->setText(watcher->result());
        watcher->deleteLater();
        refreshDataSummary();
        Q_EMIT holdOutFinished(status_->text());
    });
    // Off the GUI thread, on a connection of its own: one transaction over the train pairs.
    watcher->setFuture(QtConcurrent::run([path = projectPath_, percent, seed]() -> QString {
        try {
            auto project = store::Project::open(path.toStdString());
            const store::HoldOutResult r = store::holdOutTestSplit(project, percent, seed);
            return tr("Held out %L1 pairs as test (%2 %, seed %3); %L4 labelled pairs left to train on.")
                .arg(r.moved)
                .arg(percent)
                .arg(seed)
                .arg(r.remaining);
        } catch (const std::exception& e) {
            return tr("Hold-out failed: %1").arg(errorLine(e));
        }
    }));
}

QList<qint64> TrainView::selectedRunIds() const {
    QList<qint64> ids;
    for (const QModelIndex& i : runsTable_->selectionModel()->selectedRows())
        ids << runsModel_->data(i, RunsModel::RunIdRole).toLongLong();
    std::sort(ids.begin(), ids.end());
    return ids;
}

QString TrainView::runLabel(qint64 runId) const {
    if (runId == liveRunId_ && !liveName_.isEmpty()) return QStringLiteral("#%1 %2").arg(runId).arg(liveName_);
    const int row = runsModel_->rowOf(runId);
    const store::RunRecord* r = runsModel_->runAt(row);
    if (r && !r->name.empty()) return QStringLiteral("#%1 %2").arg(runId).arg(QString::fromStdString(r->name));
    return QStringLiteral("#%1").arg(runId);
}

void TrainView::showRuns(const QList<qint64>& runIds) {
    QItemSelectionModel* sel = runsTable_->selectionModel();
    {
        const QSignalBlocker block(sel);
        sel->clearSelection();
        for (qint64 id : runIds) {
            const int row = runsModel_->rowOf(id);
            if (row >= 0)
                sel->select(runsModel_->index(row, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
        }
    }
    runsTable_->viewport()->update();
    rebuildCharts();
    updateButtons();
}

void TrainView::rebuildCharts() {
    QList<qint64> wanted;
    // The live run (or the one that just ended) stays on screen with the selected ones.
    if (liveRunId_ != 0) wanted << liveRunId_;
    for (qint64 id : selectedRunIds())
        if (!wanted.contains(id)) wanted << id;
    const QList<qint64> selected = selectedRunIds();
    pairs_->setRun(selected.isEmpty() ? liveRunId_ : selected.first());
    if (wanted == shownRuns_) return;
    shownRuns_ = wanted;
    charts_->clear();
    healthModel_->clear();
    updateHealthLabel();
    for (qint64 id : wanted) charts_->addRun(id, runLabel(id));
    if (!project()) return;
    for (qint64 id : wanted) {
        try {
            charts_->setRunRows(id, project()->metrics(id));
            for (const store::HealthRow& w : project()->healthWarnings(id)) addHealth(w);
        } catch (const std::exception& e) {
            appendLog(int(train::LogLevel::Warning), tr("Could not read the metrics of run %1: %2").arg(id).arg(errorLine(e)));
        }
    }
}

QString TrainView::dataChangesText(qint64 from, qint64 to) {
    if (!project()) return tr("No project is open.");
    try {
        const auto a = project()->run(from), b = project()->run(to);
        if (!a || !b) return tr("Run %1 or %2 is no longer in the project.").arg(from).arg(to);
        const auto d = store::diffSnapshots(store::parseSnapshot(a->snapshotJson), store::parseSnapshot(b->snapshotJson));
        QStringList lines;
        lines << tr("Run %1 → run %2: %3 added, %4 removed, %5 relabelled, %6 labelled again with the same verdict, "
                    "%7 unchanged.")
                     .arg(from)
                     .arg(to)
                     .arg(d.added.size())
                     .arg(d.removed.size())
                     .arg(d.relabelled.size())
                     .arg(d.relabelledSame.size())
                     .arg(d.unchanged);
        lines << tr("Data fingerprints: %1 / %2")
                     .arg(a->dataFingerprint.empty() ? tr("(not recorded)") : QString::fromStdString(a->dataFingerprint).left(19))
                     .arg(b->dataFingerprint.empty() ? tr("(not recorded)") : QString::fromStdString(b->dataFingerprint).left(19));
        constexpr size_t kShown = 40;
        auto list = [&](const std::vector<store::SnapshotChange>& v, const QString& title, auto describe) {
            if (v.empty()) return;
            QStringList items;
            for (size_t i = 0; i < v.size() && i < kShown; ++i) items << describe(v[i]);
            if (v.size() > kShown) items << tr("… and %1 more (dpowb runs-diff lists all)").arg(v.size() - kShown);
            lines << title + ": " + items.join(QStringLiteral(", "));
        };
        list(d.added, tr("Added"), [](const store::SnapshotChange& c) { return QString::number(c.pairId); });
        list(d.removed, tr("Removed"), [](const store::SnapshotChange& c) { return QString::number(c.pairId); });
        list(d.relabelled, tr("Relabelled"), [](const store::SnapshotChange& c) {
            return QStringLiteral("%1 (%2→%3)").arg(c.pairId).arg(QString::fromStdString(c.before), QString::fromStdString(c.after));
        });
        return lines.join(QStringLiteral("\n"));
    } catch (const std::exception& e) {
        return tr("Could not compare the runs: %1").arg(errorLine(e));
    }
}

void TrainView::addHealth(const store::HealthRow& warning) {
    if (!healthModel_->add(warning)) return;
    const auto* info = train::healthInfo(warning.code);
    charts_->addMarker(warning.runId, QString::fromLatin1(info ? info->metric : "loss"),
                       warning.split == "eval" ? QStringLiteral("eval") : QStringLiteral("train"), double(warning.step),
                       HealthModel::explanation(warning));
    healthTable_->resizeColumnsToContents();
    updateHealthLabel();
}

void TrainView::updateHealthLabel() {
    const int n = healthModel_->rowCount();
    healthTable_->setVisible(n > 0);
    healthLabel_->setText(n == 0 ? tr("Health: no warnings for the runs shown")
                      : n == 1 ? tr("Health: 1 warning for the runs shown (hover it for why and what to try)")
                               : tr("Health: %1 warnings for the runs shown (hover them for why and what to try)").arg(n));
    healthLabel_->setStyleSheet(n == 0 ? QString() : QStringLiteral("QLabel { color: #8a3a10; font-weight: bold; }"));
}

void TrainView::updateButtons() {
    form_->setRunning(running_);
    pause_->setEnabled(running_ && !stopping_ && (!job_ || job_->canPause()));
    pause_->setText(paused_ ? tr("Resume") : tr("Pause"));
    stop_->setEnabled(running_ && !stopping_);
    const QList<qint64> ids = selectedRunIds();
    const store::RunRecord* run = ids.size() == 1 ? runsModel_->runAt(runsModel_->rowOf(ids.first())) : nullptr;
    resume_->setEnabled(!running_ && run &&
                        (run->status == store::RunStatus::Interrupted || run->status == store::RunStatus::Cancelled));
    openOutput_->setEnabled(run && !run->outputDir.empty());
    dataChanges_->setEnabled(ids.size() == 2);
}

void TrainView::setConfirmHandler(std::function<bool(const QString&)> handler) { confirm_ = std::move(handler); }

bool TrainView::ask(const QString& question) {
    if (confirm_) return confirm_(question);
    return QMessageBox::question(this, tr("Training"), question, QMessageBox::Yes | QMessageBox::No,
                                 QMessageBox::No) == QMessageBox::Yes;
}

void TrainView::showError(const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
}

QString TrainView::statusText() const { return status_->text(); }
QString TrainView::phaseText() const { return phase_->text(); }
QString TrainView::errorText() const { return error_->isVisible() ? error_->text() : QString(); }

void TrainView::appendLog(int level, const QString& message) {
    const QString prefix = level == int(train::LogLevel::Error)     ? tr("error: ")
                           : level == int(train::LogLevel::Warning) ? tr("warning: ")
                                                                    : QString();
    log_->appendPlainText(prefix + message);
}

bool TrainView::startRun(train::TrainConfig config) {
    if (running_) {
        showError(tr("A run is already in progress."));
        return false;
    }
    if (config.data.empty()) {
        if (!project()) {
            showError(projectError_.isEmpty() ? tr("No project is open.") : projectError_);
            return false;
        }
        config.db = projectPath_.toStdString();
    }
    // A resumed run takes its stored configuration; the trainer checks it against the record.
    if (config.resumeRunId <= 0) {
        try {
            config.validate();
        } catch (const std::exception& e) {
            showError(errorLine(e));
            return false;
        }
    }
    showError({});
    log_->clear();
    lastResult_.reset();
    lastStep_.reset();
    liveRunId_ = 0;
    liveName_ = QString::fromStdString(config.name);
    liveOutputDir_.clear();
    paused_ = false;
    stopping_ = false;
    running_ = true;
    runLock_ = std::make_unique<QEventLoopLocker>();
    watchWindowClose();  // also when this page was never shown
    trainClock_.invalidate();
    elapsed_.start();
    phase_->setText(tr("Starting"));
    status_->clear();
    runProgress_ = RunProgress(config);
    progress_->setRange(0, kProgressScale);
    progress_->setValue(0);
    if (autoSelected_) {
        // The run shown on opening was not the user's choice: the new run takes the charts.
        const QSignalBlocker block(runsTable_->selectionModel());
        runsTable_->selectionModel()->clearSelection();
        runsTable_->viewport()->update();
        autoSelected_ = false;
    }
    shownRuns_.clear();
    charts_->clear();
    healthModel_->clear();
    updateHealthLabel();

    if (form_->processes() > 1 && config.data.empty()) {
        // Several processes: `dpowb train --nproc N` beside this program, followed through the
        // project (rank 0's records); pause once the run exists (TrainJob::canPause).
        control_.reset();
        auto* job = new TrainJob(std::move(config), form_->processes(), cli_, this);
        connect(job, &TrainJob::runCreated, this, &TrainView::onRunCreated);
        connect(job, &TrainJob::phase, this, &TrainView::onPhase);
        connect(job, &TrainJob::step, this, &TrainView::onStep);
        connect(job, &TrainJob::metrics, this, &TrainView::onMetrics);
        connect(job, &TrainJob::log, this, &TrainView::appendLog);
        connect(job, &TrainJob::paused, this, &TrainView::trainerPaused);
        connect(job, &TrainJob::runCreated, this, &TrainView::updateButtons);
        connect(job, &TrainJob::finished, this, &TrainView::onFinished);
        connect(job, &TrainJob::finished, job, &QObject::deleteLater);
        job->setCudaDevices(form_->chosenGpus());
        job_ = job;
        job->start();
        updateButtons();
        Q_EMIT runStarted();
        return true;
    }

    control_ = std::make_shared<train::TrainControl>();
    auto* worker = new TrainWorker(std::move(config), control_);
    auto* thread = new QThread(this);
    thread->setObjectName("trainer");
    worker->moveToThread(thread);
    // Worker → GUI: queued (the worker lives in the other thread), values only.
    connect(thread, &QThread::started, worker, &TrainWorker::run);
    connect(worker, &TrainWorker::runCreated, this, &TrainView::onRunCreated);
    connect(worker, &TrainWorker::phase, this, &TrainView::onPhase);
    connect(worker, &TrainWorker::step, this, &TrainView::onStep);
    connect(worker, &TrainWorker::metrics, this, &TrainView::onMetrics);
    connect(worker, &TrainWorker::log, this, &TrainView::appendLog);
    connect(worker, &TrainWorker::paused, this, &TrainView::trainerPaused);
    connect(worker, &TrainWorker::health, this, [this](store::HealthRow w) {
        if (liveRunId_ == 0) return;
        w.runId = liveRunId_;
        addHealth(w);
        appendLog(int(train::LogLevel::Warning),
                  tr("Health: %1 at step %2: %3").arg(HealthModel::title(w.code)).arg(w.step).arg(QString::fromStdString(w.message)));
    });
    connect(worker, &TrainWorker::finished, this, &TrainView::onFinished);
    connect(worker, &TrainWorker::finished, thread, &QThread::quit);
    connect(thread, &QThread::finished, worker, &QObject::deleteLater);
    connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    thread_ = thread;
    thread->start();
    updateButtons();
    Q_EMIT runStarted();
    return true;
}

void TrainView::setPaused(bool paused) {
    if (!running_ || stopping_ || (!control_ && !(job_ && job_->canPause()))) return;
    paused_ = paused;
    if (job_) job_->requestPause(paused);
    else TrainWorker::pause(*control_, paused);
    if (paused) {
        phase_->setText(tr("Paused"));
    } else {
        phase_->setText(tr("Training"));
    }
    updateButtons();
}

bool TrainView::requestStop() {
    if (!running_ || stopping_ || (!control_ && !job_)) return false;
    if (!ask(tr("Stop the training run? The trainer finishes the current step, writes a checkpoint "
                "and records the run as cancelled; it can be resumed later.")))
        return false;
    stopping_ = true;
    if (job_) job_->requestStop();
    else TrainWorker::stop(*control_);
    phase_->setText(tr("Stopping: writing a checkpoint…"));
    updateButtons();
    return true;
}

bool TrainView::confirmClose() {
    if (!running_) return true;
    if (!stopping_ &&
        !ask(tr("A training run is in progress. Stop it (a checkpoint is written) and close?")))
        return false;
    // Nothing waits here: the trainer stops after its current step (the processes of a
    // multi-process run on Ctrl-C), writes its checkpoint and records the run cancelled while
    // the window is already gone; runLock_ keeps the program alive until then.
    stopping_ = true;
    if (control_) TrainWorker::stop(*control_);
    if (job_) job_->requestStop();
    phase_->setText(tr("Stopping: writing a checkpoint…"));
    return true;
}

bool TrainView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == window() && event->type() == QEvent::Close && running_) {
        if (!confirmClose()) {
            event->ignore();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

void TrainView::watchWindowClose() {
    // Self-contained: whatever window holds the view, closing it asks about a live run.
    if (!filterInstalled_ && window() != this) {
        window()->installEventFilter(this);
        filterInstalled_ = true;
    }
}

void TrainView::showEvent(QShowEvent* event) {
    watchWindowClose();
    QWidget::showEvent(event);
}

void TrainView::onRunCreated(qint64 runId, const QString& outputDir) {
    liveRunId_ = runId;
    liveOutputDir_ = outputDir;
    appendLog(int(train::LogLevel::Info), tr("Run #%1 → %2").arg(runId).arg(outputDir));
    refreshRuns();
    shownRuns_.clear();  // force the rebuild with the live run first
    rebuildCharts();
}

void TrainView::onPhase(const QString& phase, qint64 done, qint64 total) {
    if (paused_ || stopping_) return;
    // One bar for the whole run; the phase and its own count are named beside it.
    QString text = phaseTitle(phase);
    if (phase != QLatin1String("train") && total > 0) text += QStringLiteral(" %1 / %2").arg(done).arg(total);
    progress_->setValue(int(std::lround(runProgress_.report(phase, done, total) * kProgressScale)));
    phase_->setText(text);
}

void TrainView::onStep(const train::MetricPoint& point) {
    lastStep_ = point;
    if (!trainClock_.isValid()) {
        trainClock_.start();
        trainClockStep_ = point.step;
    }
    if (!paused_ && !stopping_) phase_->setText(phaseTitle(QStringLiteral("train")));
    QStringList parts;
    parts << (point.totalSteps > 0 ? tr("step %1 / %2").arg(point.step).arg(point.totalSteps)
                                   : tr("step %1").arg(point.step));
    parts << tr("epoch %1").arg(point.epoch, 0, 'f', 2);
    const auto tps = point.values.find("tokens_per_second");
    if (tps != point.values.end()) parts << tr("%1 tok/s").arg(QLocale().toString(tps->second, 'f', 0));
    const auto loss = point.values.find("loss");
    if (loss != point.values.end()) parts << tr("loss %1").arg(loss->second, 0, 'g', 4);
    parts << tr("elapsed %1").arg(formatDuration(elapsed_.elapsed()));
    const qint64 doneSinceClock = point.step - trainClockStep_;
    if (point.totalSteps > 0 && doneSinceClock > 0) {
        const double perStep = double(trainClock_.elapsed()) / double(doneSinceClock);
        parts << tr("ETA %1").arg(formatDuration(static_cast<qint64>(perStep * double(point.totalSteps - point.step))));
    }
    status_->setText(parts.join(QStringLiteral(" · ")));
    if (point.totalSteps > 0)
        progress_->setValue(
            int(std::lround(runProgress_.report(QStringLiteral("train"), point.step, point.totalSteps) * kProgressScale)));
}

void TrainView::onMetrics(const train::MetricPoint& point) {
    if (liveRunId_ == 0) return;
    // An evaluation has recorded its per-pair outcomes (before reporting its metrics).
    if (point.split == "eval" && pairs_->runId() == liveRunId_) pairs_->reload();
    charts_->addPoint(liveRunId_, QString::fromStdString(point.split), double(point.step), point.values);
}

void TrainView::onFinished(const train::TrainResult& result) {
    running_ = false;
    paused_ = false;
    stopping_ = false;
    lastResult_ = result;
    if (result.runId != 0 && liveRunId_ == 0) liveRunId_ = result.runId;
    charts_->flush();
    const QString dir = QString::fromStdString(result.outputDir);
    switch (result.status) {
    case store::RunStatus::Finished:
        phase_->setText(tr("Finished"));
        progress_->setValue(int(std::lround(runProgress_.finish() * kProgressScale)));
        appendLog(int(train::LogLevel::Info), tr("Finished after %1 steps; model in %2").arg(result.steps).arg(dir));
        break;
    case store::RunStatus::Cancelled:
        phase_->setText(tr("Stopped"));
        appendLog(int(train::LogLevel::Info), tr("Stopped at step %1; checkpoint in %2").arg(result.steps).arg(dir));
        break;
    case store::RunStatus::Failed:
        phase_->setText(tr("Failed"));  // the bar stays where the run stopped
        showError(tr("The run failed: %1").arg(errorLine(result.error)));
        appendLog(int(train::LogLevel::Error), errorLine(result.error));
        break;
    default:
        phase_->setText(QString::fromLatin1(store::toString(result.status)));
        break;
    }
    if (thread_) thread_->quit();
    refresh();
    updateButtons();
    Q_EMIT runFinished(result);
    runLock_.reset();  // a closed window's program may end now (a posted quit, not at once)
}

void TrainView::resumeSelected() {
    const QList<qint64> ids = selectedRunIds();
    if (ids.size() != 1) return;
    const store::RunRecord* run = runsModel_->runAt(runsModel_->rowOf(ids.first()));
    if (!run) return;
    train::TrainConfig config;
    try {
        config = train::TrainConfig::fromJson(run->configJson);
    } catch (const std::exception& e) {
        showError(tr("Run %1 cannot be resumed: %2").arg(run->id).arg(errorLine(e)));
        return;
    }
    config.resumeRunId = run->id;
    config.data.clear();  // runs and their checkpoints are recorded in the project
    config.evalData.clear();
    config.db = projectPath_.toStdString();
    startRun(config);
}

void TrainView::openSelectedOutput() {
    const QList<qint64> ids = selectedRunIds();
    const store::RunRecord* run = ids.size() == 1 ? runsModel_->runAt(runsModel_->rowOf(ids.first())) : nullptr;
    if (!run) return;
    const QString dir = QString::fromStdString(run->outputDir);
    if (!QFileInfo(dir).isDir()) {
        showError(tr("%1: the output folder does not exist (the run wrote no checkpoint)").arg(dir));
        return;
    }
    QDesktopServices::openUrl(QUrl::fromLocalFile(dir));
}

bool TrainView::exportMetricsCsv(const QString& path, QString* error) {
    if (!project()) {
        if (error) *error = projectError_;
        return false;
    }
    QList<qint64> ids = shownRuns_;
    if (ids.isEmpty()) {
        if (error) *error = tr("No run is shown: select runs in the list first.");
        return false;
    }
    struct Row {
        qint64 run;
        store::MetricRow row;
        QJsonObject values;
    };
    std::vector<Row> rows;
    std::set<QString> keys;
    try {
        for (qint64 id : ids) {
            for (store::MetricRow& m : project()->metrics(id)) {
                QJsonObject v = QJsonDocument::fromJson(QByteArray::fromStdString(m.valuesJson)).object();
                for (auto it = v.begin(); it != v.end(); ++it) keys.insert(it.key());
                rows.push_back({id, std::move(m), std::move(v)});
            }
        }
    } catch (const std::exception& e) {
        if (error) *error = errorLine(e);
        return false;
    }
    // Written whole or not at all.
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) {
        if (error) *error = tr("%1: %2").arg(path, file.errorString());
        return false;
    }
    QTextStream out(&file);
    out << "run_id,step,epoch,split";
    for (const QString& k : keys) out << ',' << csvField(k);
    out << '\n';
    for (const Row& r : rows) {
        out << r.run << ',' << r.row.step << ',' << QString::number(r.row.epoch, 'g', 10) << ','
            << csvField(QString::fromStdString(r.row.split));
        for (const QString& k : keys) {
            out << ',';
            const QJsonValue v = r.values.value(k);
            if (v.isDouble()) out << QString::number(v.toDouble(), 'g', 10);
        }
        out << '\n';
    }
    out.flush();
    if (!file.commit()) {
        if (error) *error = tr("%1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

}  // namespace dpowb::ui
