#include "compare_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include "cached_models.h"
#include "file_dialogs.h"
#include <QEventLoopLocker>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QHelpEvent>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QScrollBar>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QThread>
#include <QTimer>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>
#include <exception>
#include <utility>

#include "compare_sample_dialog.h"
#include "error_line.h"
#include "margin_model.h"
#include "project_context.h"
#include "theme.h"

namespace dpowb::ui {

// A read-only rich-text pane whose tinted pieces are anchors "p:N"; hovering one shows the
// tooltip the view registered for it (QTextBrowser has no per-span tooltips of its own).
class TokenPane : public QTextBrowser {
public:
    explicit TokenPane(QWidget* parent = nullptr) : QTextBrowser(parent) {
        setOpenLinks(false);
        setOpenExternalLinks(false);
        setReadOnly(true);
    }
    void setContent(const QString& html, QStringList tips) {
        tips_ = std::move(tips);
        const int scroll = verticalScrollBar() ? verticalScrollBar()->value() : 0;
        setHtml(html);
        if (verticalScrollBar()) verticalScrollBar()->setValue(scroll);
        html_ = html;
    }
    const QString& html() const { return html_; }

protected:
    bool event(QEvent* e) override {
        if (e->type() == QEvent::ToolTip) {
            auto* help = static_cast<QHelpEvent*>(e);
            const QString anchor = anchorAt(viewport()->mapFromGlobal(help->globalPos()));
            bool ok = false;
            const int i = anchor.startsWith(QLatin1String("p:")) ? anchor.mid(2).toInt(&ok) : -1;
            if (ok && i >= 0 && i < tips_.size()) QToolTip::showText(help->globalPos(), tips_[i], this);
            else QToolTip::hideText();
            return true;
        }
        return QTextBrowser::event(e);
    }

private:
    QStringList tips_;
    QString html_;
};

namespace {

QString signedNumber(double v, int decimals = 3) {
    return (v >= 0 ? QStringLiteral("+") : QString()) + QString::number(v, 'f', decimals);
}

QString escapedPiece(const QString& text) {
    QString s = text.toHtmlEscaped();
    s.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
    return s;
}

// Tinted spans for a scored text; every piece becomes an anchor whose tooltip gives its values.
QString tintedHtml(const ScoredText& t, QStringList& tips) {
    QString html;
    for (size_t i = 0; i < t.pieces.size(); ++i) {
        const double lp = t.policyPieceLogps[i], lr = t.referencePieceLogps[i];
        const double ratio = lp - lr;
        const QColor bg = CompareView::ratioColor(ratio);
        // A piece with no text holds the end-of-sequence token: drawn as a small end mark.
        const bool end = t.pieces[i].empty();
        const QString piece = end ? QObject::tr("end of text") : QString::fromStdString(t.pieces[i]);
        tips << QObject::tr("\"%1\"\nlog π_θ − log π_ref = %2\nlog π_θ = %3   log π_ref = %4")
                    .arg(piece.left(40), signedNumber(ratio, 4), QString::number(lp, 'f', 4), QString::number(lr, 'f', 4));
        html += QStringLiteral("<a href=\"p:%1\" style=\"text-decoration:none; color:%2; background-color:%3\">%4</a>")
                    .arg(tips.size() - 1)
                    .arg(end ? QStringLiteral("#8a8f98") : QStringLiteral("#1f2328"), bg.name(),
                         end ? QStringLiteral("&#8718;") : escapedPiece(piece));
    }
    return html;
}

QString scoreLine(const ScoredText& t, double beta) {
    return QObject::tr("log π_θ %1 · log π_ref %2 · reward <b>%3</b>")
        .arg(QString::number(t.policyLogp, 'f', 2), QString::number(t.referenceLogp, 'f', 2), signedNumber(t.reward(beta)));
}

QDoubleSpinBox* doubleSpin(double lo, double hi, double step, int decimals, double value) {
    auto* s = new QDoubleSpinBox;
    s->setRange(lo, hi);
    s->setSingleStep(step);
    s->setDecimals(decimals);
    s->setValue(value);
    return s;
}

QSpinBox* intSpin(int lo, int hi, int value) {
    auto* s = new QSpinBox;
    s->setRange(lo, hi);
    s->setValue(value);
    return s;
}

}  // namespace

QColor CompareView::ratioColor(double logRatio) {
    // Saturates at |log-ratio| = 2 nats: per piece, differences beyond that are all "a lot".
    const double strength = std::min(1.0, std::abs(logRatio) / 2.0);
    const QColor base = logRatio >= 0 ? QColor(0x2e, 0xa0, 0x43) : QColor(0xd7, 0x3a, 0x49);
    const double a = 0.08 + 0.5 * strength;
    auto mix = [a](int c) { return int(std::lround(255 * (1 - a) + c * a)); };
    if (std::abs(logRatio) < 1e-6) return QColor(Qt::white);
    return QColor(mix(base.red()), mix(base.green()), mix(base.blue()));
}

CompareView::CompareView(ProjectContext* context, QWidget* parent)
    : QWidget(parent), context_(context), cancel_(std::make_shared<std::atomic<bool>>(false)) {
    init();
}

CompareView::CompareView(const QString& projectPath, QWidget* parent)
    : QWidget(parent), context_(new ProjectContext(this)), cancel_(std::make_shared<std::atomic<bool>>(false)) {
    init();
    if (!projectPath.isEmpty()) setProjectPath(projectPath);
}

store::Project* CompareView::project() { return context_->isOpen() ? &context_->project() : nullptr; }

void CompareView::init() {
    registerCompareMetaTypes();
    buildUi();

    thread_ = new QThread(this);
    thread_->setObjectName(QStringLiteral("compare"));
    worker_ = new CompareWorker(cancel_);
    worker_->moveToThread(thread_);
    connect(worker_, &CompareWorker::status, this, [this](const QString& s) { statusLabel_->setText(s); });
    connect(worker_, &CompareWorker::piece, this, &CompareView::onPiece);
    connect(worker_, &CompareWorker::completed, this, &CompareView::onCompleted);
    connect(worker_, &CompareWorker::generationFinished, this, [this](bool cancelled) {
        if (lastError_.isEmpty()) statusLabel_->setText(cancelled ? tr("Stopped.") : tr("Done."));
        renderPanes();
        Q_EMIT generationFinished(cancelled);
    });
    connect(worker_, &CompareWorker::pairScored, this, [this](const ScoredPair& s, double beta) {
        pairScore_ = s;
        pairScoreBeta_ = beta;
        renderPairScore();
        bottomTabs_->setCurrentIndex(0);
        statusLabel_->setText(tr("Pair scored."));
        Q_EMIT pairScored();
    });
    connect(worker_, &CompareWorker::marginProgress, this, [this](qint64 done, qint64 total) {
        progress_->setRange(0, int(total));
        progress_->setValue(int(done));
    });
    connect(worker_, &CompareWorker::marginsReady, this, [this](const std::vector<MarginRow>& rows) {
        marginModel_->setRows(rows);
        marginTable_->sortByColumn(MarginModel::Margin, Qt::AscendingOrder);
        statusLabel_->setText(tr("Margins of %1 pairs.").arg(rows.size()));
        Q_EMIT marginsComputed();
    });
    connect(worker_, &CompareWorker::sampleProgress, this, [this](int done, int total) {
        progress_->setRange(0, total);
        progress_->setValue(done);
        Q_EMIT sampleProgress(done, total);
    });
    connect(worker_, &CompareWorker::samplesFinished, this,
            [this](int added, int generated, bool cancelled, const QString& error) {
                if (!error.isEmpty()) showError(tr("Sample pairs: %1").arg(error));
                else if (cancelled) statusLabel_->setText(tr("Sample pairs: stopped; nothing was added."));
                else statusLabel_->setText(tr("Sample pairs: %1 new pairs added (%2 generated).").arg(added).arg(generated));
                if (project() && added > 0) reloadPairIds();
                Q_EMIT samplesFinished(added, generated, cancelled, error);
            });
    connect(worker_, &CompareWorker::failed, this, &CompareView::showError);
    connect(worker_, &CompareWorker::jobDone, this, [this] { setBusy(false); });
    thread_->start();

    paneTimer_ = new QTimer(this);
    paneTimer_->setSingleShot(true);
    paneTimer_->setInterval(33);  // ~30 updates a second while streaming
    connect(paneTimer_, &QTimer::timeout, this, &CompareView::renderPanes);

    // Runs finished elsewhere (the Train page, the CLI) join the run list; pairs added or
    // relabelled elsewhere join the pair list. Heartbeats and metrics change the runs' side
    // too: re-reading a few dozen runs is cheap.
    connect(context_, &ProjectContext::runsChanged, this, [this] {
        if (isVisible()) reloadRuns();
    });
    connect(context_, &ProjectContext::externalChange, this, &CompareView::reloadPairIds);
    connect(context_, &ProjectContext::opened, this, &CompareView::openProject);
    connect(context_, &ProjectContext::closed, this, [this] {
        projectPath_.clear();
        openProject();
    });
    if (context_->isOpen()) openProject();
}

void CompareView::showEvent(QShowEvent* event) {
    if (!filterInstalled_ && window() != this) {
        window()->installEventFilter(this);
        filterInstalled_ = true;
    }
    QWidget::showEvent(event);
    reloadRuns();
}

bool CompareView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == window() && event->type() == QEvent::Close && busy_) cancel_->store(true);
    return QWidget::eventFilter(watched, event);
}

CompareView::~CompareView() {
    cancel_->store(true);
    thread_->quit();
    thread_->wait();
    delete worker_;
}

void CompareView::buildUi() {
    auto* root = new QVBoxLayout(this);
    root->setContentsMargins(10, 10, 10, 6);
    root->setSpacing(8);

    // ---- models ----
    auto* modelsBox = new QGroupBox(tr("Models"));
    auto* modelsGrid = new QGridLayout(modelsBox);
    runCombo_ = new QComboBox;
    runCombo_->setToolTip(tr("A run of this project: its trained policy and the reference it was trained against"));
    policyEdit_ = new QLineEdit(QStringLiteral("builtin:tiny"));
    referenceEdit_ = new QLineEdit(QStringLiteral("builtin:tiny"));
    policyEdit_->setPlaceholderText(tr("policy model folder, or builtin:tiny"));
    referenceEdit_->setPlaceholderText(tr("reference model folder, or builtin:tiny"));
    auto* policyBrowse = new QToolButton;
    policyBrowse->setText(QStringLiteral("…"));
    auto* referenceBrowse = new QToolButton;
    referenceBrowse->setText(QStringLiteral("…"));
    betaSpin_ = doubleSpin(0.001, 100, 0.05, 3, 0.1);
    betaSpin_->setToolTip(tr("β of the implicit reward β·(log π_θ − log π_ref); a run's own β when a run is picked"));
    modelsGrid->addWidget(new QLabel(tr("Run")), 0, 0);
    modelsGrid->addWidget(runCombo_, 0, 1, 1, 2);
    modelsGrid->addWidget(new QLabel(tr("β")), 0, 3);
    modelsGrid->addWidget(betaSpin_, 0, 4);
    modelsGrid->addWidget(new QLabel(tr("Policy")), 1, 0);
    modelsGrid->addWidget(policyEdit_, 1, 1);
    modelsGrid->addWidget(policyBrowse, 1, 2);
    modelsGrid->addWidget(new QLabel(tr("Reference")), 2, 0);
    modelsGrid->addWidget(referenceEdit_, 2, 1);
    modelsGrid->addWidget(referenceBrowse, 2, 2);
    auto* policyCached = new CachedModelsButton;
    policyCached->setObjectName("policyCached");
    auto* referenceCached = new CachedModelsButton;
    referenceCached->setObjectName("referenceCached");
    modelsGrid->addWidget(policyCached, 1, 3, 1, 2);
    modelsGrid->addWidget(referenceCached, 2, 3, 1, 2);
    modelsGrid->setColumnStretch(1, 1);
    const auto browse = [this](QLineEdit* edit) {
        const QString before = edit->text();
        browseFolder(edit);
        if (edit->text() != before) followNewest_ = false;  // folders chosen by hand
    };
    connect(policyBrowse, &QToolButton::clicked, this, [this, browse] { browse(policyEdit_); });
    connect(referenceBrowse, &QToolButton::clicked, this, [this, browse] { browse(referenceEdit_); });
    connect(runCombo_, qOverload<int>(&QComboBox::activated), this, &CompareView::onRunChosen);
    auto manualEdit = [this] {
        followNewest_ = false;
        if (runCombo_->currentIndex() != 0) runCombo_->setCurrentIndex(0);
    };
    for (auto [button, edit] : {std::pair{policyCached, policyEdit_}, std::pair{referenceCached, referenceEdit_}}) {
        connect(button, &CachedModelsButton::chosen, this, [edit = edit, manualEdit](const QString& dir) {
            edit->setText(dir);
            manualEdit();  // a model chosen by hand, as typed
        });
    }
    connect(policyEdit_, &QLineEdit::textEdited, this, manualEdit);
    connect(referenceEdit_, &QLineEdit::textEdited, this, manualEdit);

    // ---- prompt ----
    auto* promptBox = new QGroupBox(tr("Prompt"));
    auto* promptLayout = new QVBoxLayout(promptBox);
    auto* pairRow = new QHBoxLayout;
    auto* prevButton = new QPushButton(tr("◀ Previous"));
    auto* nextButton = new QPushButton(tr("Next ▶"));
    auto* randomButton = new QPushButton(tr("Random"));
    pairLabel_ = new QLabel(tr("typed prompt"));
    pairLabel_->setStyleSheet(QStringLiteral("color: %1").arg(theme::mutedText().name()));
    pairRow->addWidget(prevButton);
    pairRow->addWidget(nextButton);
    pairRow->addWidget(randomButton);
    pairRow->addWidget(pairLabel_, 1);
    promptEdit_ = new QPlainTextEdit;
    promptEdit_->setPlaceholderText(tr("Type a prompt, or step through the held-out (test) pairs"));
    promptEdit_->setMaximumHeight(70);
    promptLayout->addLayout(pairRow);
    promptLayout->addWidget(promptEdit_);
    connect(prevButton, &QPushButton::clicked, this, [this] { nextPair(-1); });
    connect(nextButton, &QPushButton::clicked, this, [this] { nextPair(1); });
    connect(randomButton, &QPushButton::clicked, this, &CompareView::randomPair);
    connect(promptEdit_, &QPlainTextEdit::textChanged, this, [this] {
        if (settingPrompt_ || !pair_) return;
        // Edited by hand: no longer that pair's prompt.
        pair_.reset();
        pairId_ = 0;
        pairLabel_->setText(tr("typed prompt"));
        updateActions();
    });

    auto* top = new QHBoxLayout;
    top->addWidget(modelsBox, 1);
    top->addWidget(promptBox, 1);
    root->addLayout(top);

    // ---- sampling ----
    auto* samplingRow = new QHBoxLayout;
    greedyCheck_ = new QCheckBox(tr("Greedy"));
    temperatureSpin_ = doubleSpin(0.05, 5, 0.05, 2, 0.8);
    topKSpin_ = intSpin(0, 100000, 0);
    topKSpin_->setSpecialValueText(tr("off"));
    topPSpin_ = doubleSpin(0.01, 1, 0.05, 2, 1.0);
    maxTokensSpin_ = intSpin(1, 4096, 48);
    seedSpin_ = intSpin(0, 2147483647, 1);
    samplesSpin_ = intSpin(1, 16, 2);
    auto labelled = [samplingRow](const QString& label, QWidget* w) {
        auto* l = new QLabel(label);
        l->setBuddy(w);
        samplingRow->addWidget(l);
        samplingRow->addWidget(w);
    };
    samplingRow->addWidget(greedyCheck_);
    labelled(tr("Temperature"), temperatureSpin_);
    labelled(tr("Top-k"), topKSpin_);
    labelled(tr("Top-p"), topPSpin_);
    labelled(tr("Max tokens"), maxTokensSpin_);
    labelled(tr("Seed"), seedSpin_);
    labelled(tr("Samples"), samplesSpin_);
    samplingRow->addStretch(1);
    generateButton_ = new QPushButton(tr("Generate"));
    generateButton_->setDefault(true);
    generateButton_->setToolTip(tr("Generate both sides (Ctrl+Return)"));
    stopButton_ = new QPushButton(tr("Stop"));
    stopButton_->setToolTip(tr("Stop generating (Esc)"));
    samplingRow->addWidget(generateButton_);
    samplingRow->addWidget(stopButton_);
    root->addLayout(samplingRow);
    connect(greedyCheck_, &QCheckBox::toggled, this, [this](bool on) {
        temperatureSpin_->setEnabled(!on);
        topKSpin_->setEnabled(!on);
        topPSpin_->setEnabled(!on);
    });
    connect(generateButton_, &QPushButton::clicked, this, [this] { generate(); });
    connect(stopButton_, &QPushButton::clicked, this, &CompareView::stop);

    // ---- the two panes ----
    auto* split = new QSplitter(Qt::Vertical);
    auto* panesWidget = new QWidget;
    auto* panes = new QHBoxLayout(panesWidget);
    panes->setContentsMargins(0, 0, 0, 0);
    const QString titles[2] = {tr("Policy π_θ"), tr("Reference π_ref")};
    for (int s = 0; s < 2; ++s) {
        auto* col = new QVBoxLayout;
        paneTitles_[size_t(s)] = new QLabel(QStringLiteral("<b>%1</b>").arg(titles[s]));
        panes_[size_t(s)] = new TokenPane;
        col->addWidget(paneTitles_[size_t(s)]);
        col->addWidget(panes_[size_t(s)], 1);
        panes->addLayout(col, 1);
    }
    split->addWidget(panesWidget);

    // ---- bottom: this pair, margins ----
    bottomTabs_ = new QTabWidget;
    auto* pairTab = new QWidget;
    auto* pairTabLayout = new QVBoxLayout(pairTab);
    pairTabLayout->setContentsMargins(4, 4, 4, 4);
    pairScoreView_ = new TokenPane;
    pairTabLayout->addWidget(pairScoreView_);
    bottomTabs_->addTab(pairTab, tr("This pair"));

    auto* marginTab = new QWidget;
    auto* marginLayout = new QVBoxLayout(marginTab);
    marginLayout->setContentsMargins(4, 4, 4, 4);
    auto* marginBar = new QHBoxLayout;
    marginSplitCombo_ = new QComboBox;
    marginSplitCombo_->addItem(tr("All splits"), QString());
    marginSplitCombo_->addItem(tr("train"), QStringLiteral("train"));
    marginSplitCombo_->addItem(tr("test"), QStringLiteral("test"));
    labelledOnlyCheck_ = new QCheckBox(tr("a/b labelled only"));
    marginButton_ = new QPushButton(tr("Compute margins"));
    marginButton_->setToolTip(tr("Score every pair of the split under the policy and the reference"));
    auto* hint = new QLabel(tr("Sort by Margin: most negative first = candidate mislabels. Sort by |Margin|: near zero = "
                               "informative to label next. Double-click a row to open the pair."));
    hint->setWordWrap(true);
    hint->setStyleSheet(QStringLiteral("color: %1").arg(theme::mutedText().name()));
    marginBar->addWidget(marginSplitCombo_);
    marginBar->addWidget(labelledOnlyCheck_);
    marginBar->addWidget(marginButton_);
    marginBar->addWidget(hint, 1);
    marginModel_ = new MarginModel(this);
    marginProxy_ = new MarginProxyModel(this);
    marginProxy_->setSourceModel(marginModel_);
    marginTable_ = new QTableView;
    marginTable_->setModel(marginProxy_);
    marginTable_->setSortingEnabled(true);
    marginTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    marginTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    marginTable_->verticalHeader()->hide();
    marginTable_->horizontalHeader()->setStretchLastSection(true);
    marginTable_->sortByColumn(MarginModel::Margin, Qt::AscendingOrder);
    marginLayout->addLayout(marginBar);
    marginLayout->addWidget(marginTable_, 1);
    bottomTabs_->addTab(marginTab, tr("Margins"));
    split->addWidget(bottomTabs_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    root->addWidget(split, 1);
    connect(marginButton_, &QPushButton::clicked, this, [this] { computeMargins(marginSplitCombo_->currentData().toString()); });
    connect(labelledOnlyCheck_, &QCheckBox::toggled, marginProxy_, &MarginProxyModel::setLabelledOnly);
    connect(marginTable_, &QTableView::doubleClicked, this, &CompareView::showPairFromMargins);

    // ---- actions ----
    auto* actions = new QHBoxLayout;
    selectedSpin_ = intSpin(1, 1, 1);
    selectedSpin_->setToolTip(tr("Which sample of each side becomes the new pair"));
    addPairButton_ = new QPushButton(tr("Add as pair"));
    addPairButton_->setToolTip(tr("A new unlabelled pair: A = policy, B = reference (Ctrl+P)"));
    policyBetterButton_ = new QPushButton(tr("Policy better"));
    policyBetterButton_->setToolTip(tr("Add the pair labelled: the policy's completion is better (Ctrl+1)"));
    referenceBetterButton_ = new QPushButton(tr("Reference better"));
    referenceBetterButton_->setToolTip(tr("Add the pair labelled: the reference's completion is better (Ctrl+2)"));
    scorePairButton_ = new QPushButton(tr("Score pair"));
    scorePairButton_->setToolTip(tr("Score the prompt's pair (its responses A and B) under both models"));
    samplePairsButton_ = new QPushButton(tr("Sample pairs…"));
    samplePairsButton_->setToolTip(tr("Generate policy-vs-reference pairs for many prompts of a split"));
    actions->addWidget(new QLabel(tr("Sample")));
    actions->addWidget(selectedSpin_);
    actions->addWidget(addPairButton_);
    actions->addWidget(policyBetterButton_);
    actions->addWidget(referenceBetterButton_);
    actions->addSpacing(16);
    actions->addWidget(scorePairButton_);
    actions->addWidget(samplePairsButton_);
    actions->addStretch(1);
    progress_ = new QProgressBar;
    progress_->setMaximumWidth(160);
    progress_->setTextVisible(false);
    progress_->hide();
    statusLabel_ = new QLabel;
    statusLabel_->setStyleSheet(QStringLiteral("color: %1").arg(theme::mutedText().name()));
    actions->addWidget(statusLabel_);
    actions->addWidget(progress_);
    root->addLayout(actions);
    connect(selectedSpin_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { renderPanes(); });
    connect(addPairButton_, &QPushButton::clicked, this, [this] { addPairFromView(); });
    connect(policyBetterButton_, &QPushButton::clicked, this, [this] { addPairFromView(store::Verdict::A); });
    connect(referenceBetterButton_, &QPushButton::clicked, this, [this] { addPairFromView(store::Verdict::B); });
    connect(scorePairButton_, &QPushButton::clicked, this, [this] { scoreCurrentPair(); });
    connect(samplePairsButton_, &QPushButton::clicked, this, &CompareView::openSampleDialog);

    auto shortcut = [this](const QKeySequence& key, auto fn) {
        auto* s = new QShortcut(key, this);
        s->setContext(Qt::WidgetWithChildrenShortcut);
        connect(s, &QShortcut::activated, this, fn);
    };
    shortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), [this] { generate(); });
    shortcut(QKeySequence(Qt::CTRL | Qt::Key_Enter), [this] { generate(); });
    shortcut(QKeySequence(Qt::Key_Escape), [this] { stop(); });
    shortcut(QKeySequence(Qt::CTRL | Qt::Key_P), [this] { addPairFromView(); });
    shortcut(QKeySequence(Qt::CTRL | Qt::Key_1), [this] { addPairFromView(store::Verdict::A); });
    shortcut(QKeySequence(Qt::CTRL | Qt::Key_2), [this] { addPairFromView(store::Verdict::B); });

    renderPanes();
    renderPairScore();
    updateActions();
}

// ---------------------------------------------------------------- project, runs, pairs

void CompareView::setProjectPath(const QString& projectPath) {
    if (projectPath.isEmpty()) {
        context_->close();
        return;
    }
    try {
        context_->open(projectPath);  // openProject() through the context's signal
    } catch (const std::exception& e) {
        showError(errorLine(e));
    }
}

void CompareView::refreshRuns() { reloadRuns(); }

void CompareView::openProject() {
    followNewest_ = true;
    projectPath_ = context_->isOpen() ? context_->path() : QString();
    pairIds_.clear();
    pairIndex_ = -1;
    marginModel_->clear();
    reloadRuns();
    // The newest run that left a model is the comparison people open the page for.
    if (runCombo_->count() > 1) selectRun(runCombo_->itemData(1).toLongLong());
    pair_.reset();
    pairId_ = 0;
    reloadPairIds();
    if (!pairIds_.empty()) nextPair(1);
    updateActions();
}

void CompareView::reloadRuns() {
    const qint64 current = runCombo_->currentData().toLongLong();
    runCombo_->clear();
    runCombo_->addItem(tr("Folders below"), qint64(0));
    if (!project()) return;
    try {
        for (const auto& run : project()->runs()) {
            // Only runs that left a model behind can be compared.
            if (run.outputDir.empty() || !QFileInfo::exists(QString::fromStdString(run.outputDir) + "/config.json")) continue;
            QString label = tr("Run #%1").arg(run.id);
            if (!run.name.empty()) label += QStringLiteral(" · ") + QString::fromStdString(run.name);
            label += QStringLiteral(" (%1)").arg(QString::fromLatin1(store::toString(run.status)));
            runCombo_->addItem(label, qint64(run.id));
        }
    } catch (const std::exception& e) {
        showError(errorLine(e));
    }
    const int keep = runCombo_->findData(current);
    if (keep > 0) runCombo_->setCurrentIndex(keep);
    // Runs are listed newest first: a new one replaces the selection unless the user chose.
    if (followNewest_ && !busy_ && runCombo_->count() > 1) {
        const qint64 newest = runCombo_->itemData(1).toLongLong();
        if (newest != current) selectRun(newest);
    }
}

void CompareView::reloadPairIds() {
    pairIds_.clear();
    if (!project()) return;
    try {
        store::PairQuery q;
        q.split = "test";
        pairIds_ = project()->pairIds(q);
        if (pairIds_.empty()) pairIds_ = project()->pairIds(store::PairQuery{});
    } catch (const std::exception& e) {
        showError(errorLine(e));
    }
    pairIndex_ = -1;
    for (size_t i = 0; i < pairIds_.size(); ++i)
        if (pairIds_[i] == pairId_) pairIndex_ = int(i);
}

bool CompareView::selectRun(qint64 runId) {
    if (!project()) return false;
    eval::ModelPair pair;
    try {
        pair = eval::modelsForRun(*project(), runId);
    } catch (const std::exception& e) {
        showError(errorLine(e));
        return false;
    }
    policyEdit_->setText(QString::fromStdString(pair.policy));
    referenceEdit_->setText(QString::fromStdString(pair.reference));
    betaSpin_->setValue(pair.beta);
    int index = runCombo_->findData(runId);
    if (index < 0) {
        runCombo_->addItem(tr("Run #%1").arg(runId), runId);
        index = runCombo_->count() - 1;
    }
    runCombo_->setCurrentIndex(index);
    return true;
}

void CompareView::onRunChosen(int index) {
    followNewest_ = index == 1;  // the user picked the newest run: keep following
    const qint64 runId = runCombo_->itemData(index).toLongLong();
    if (runId > 0) selectRun(runId);
}

void CompareView::setModels(const QString& policyPath, const QString& referencePath, double beta) {
    followNewest_ = false;
    runCombo_->setCurrentIndex(0);
    policyEdit_->setText(policyPath);
    referenceEdit_->setText(referencePath);
    betaSpin_->setValue(beta);
}

CompareModels CompareView::models() const {
    CompareModels m;
    m.policyPath = policyEdit_->text().trimmed();
    m.referencePath = referenceEdit_->text().trimmed();
    m.runId = runCombo_->currentData().toLongLong();
    m.projectPath = projectPath_;
    m.beta = betaSpin_->value();
    return m;
}

void CompareView::browseFolder(QLineEdit* edit) {
    QString start = edit->text();
    if (start.startsWith(QLatin1String("builtin:")) || start.isEmpty())
        start = projectPath_.isEmpty() ? QDir::homePath() : QFileInfo(projectPath_).absolutePath();
    const QString dir = dialogs::existingDirectory(this, tr("Model folder"), start);
    if (dir.isEmpty()) return;
    edit->setText(dir);
    runCombo_->setCurrentIndex(0);
}

void CompareView::setPrompt(const QString& text) {
    pair_.reset();
    pairId_ = 0;
    promptEdit_->setReadOnly(false);
    promptEdit_->setPlainText(text);
    pairLabel_->setText(tr("typed prompt"));
    updateActions();
}

QString CompareView::prompt() const {
    if (pair_ && pair_->isChat()) return QString::fromStdString(pair_->promptMessages.back().content);
    return promptEdit_->toPlainText();
}

bool CompareView::showPair(qint64 pairId) {
    if (!project()) return false;
    std::optional<store::Pair> p;
    try {
        p = project()->pair(pairId);
    } catch (const std::exception& e) {
        showError(errorLine(e));
        return false;
    }
    if (!p) return false;
    settingPrompt_ = true;
    if (p->isChat()) {
        QStringList lines;
        for (const auto& m : p->promptMessages)
            lines << QStringLiteral("%1: %2").arg(QString::fromStdString(m.role), QString::fromStdString(m.content));
        promptEdit_->setPlainText(lines.join(QLatin1Char('\n')));
        promptEdit_->setReadOnly(true);
    } else {
        promptEdit_->setPlainText(QString::fromStdString(p->prompt));
        promptEdit_->setReadOnly(false);
    }
    settingPrompt_ = false;
    pair_ = std::move(p);
    pairId_ = pairId;
    for (size_t i = 0; i < pairIds_.size(); ++i)
        if (pairIds_[i] == pairId) pairIndex_ = int(i);
    pairLabel_->setText(tr("pair #%1 · %2 · %3")
                            .arg(pairId)
                            .arg(QString::fromStdString(pair_->split), theme::verdictText(pair_->verdict, pair_->labelStrength)));
    pairScore_.reset();
    renderPairScore();
    updateActions();
    return true;
}

void CompareView::nextPair(int step) {
    if (pairIds_.empty()) return;
    const int n = int(pairIds_.size());
    pairIndex_ = pairIndex_ < 0 ? (step >= 0 ? 0 : n - 1) : ((pairIndex_ + step) % n + n) % n;
    showPair(pairIds_[size_t(pairIndex_)]);
}

void CompareView::randomPair() {
    if (pairIds_.empty()) return;
    pairIndex_ = int(QRandomGenerator::global()->bounded(quint32(pairIds_.size())));
    showPair(pairIds_[size_t(pairIndex_)]);
}

// ---------------------------------------------------------------- settings, generation

void CompareView::setSettings(const SamplingSettings& s) {
    greedyCheck_->setChecked(s.greedy);
    temperatureSpin_->setValue(s.temperature);
    topKSpin_->setValue(int(s.topK));
    topPSpin_->setValue(s.topP);
    maxTokensSpin_->setValue(int(s.maxNewTokens));
    seedSpin_->setValue(int(s.seed));
    samplesSpin_->setValue(s.samples);
}

SamplingSettings CompareView::settings() const {
    SamplingSettings s;
    s.greedy = greedyCheck_->isChecked();
    s.temperature = temperatureSpin_->value();
    s.topK = topKSpin_->value();
    s.topP = topPSpin_->value();
    s.maxNewTokens = maxTokensSpin_->value();
    s.seed = uint64_t(seedSpin_->value());
    s.samples = samplesSpin_->value();
    return s;
}

bool CompareView::startJob(const QString& what) {
    if (busy_) {
        showError(tr("%1: wait for the current work to finish, or stop it").arg(what));
        return false;
    }
    const CompareModels m = models();
    if (m.policyPath.isEmpty()) {
        showError(tr("%1: choose a run, or a policy folder (and a reference folder)").arg(what));
        return false;
    }
    lastError_.clear();
    cancel_->store(false);
    setBusy(true);
    return true;
}

bool CompareView::generate() {
    GenerateRequest req;
    req.models = models();
    req.settings = settings();
    if (pair_ && pair_->isChat()) {
        req.messages = pair_->promptMessages;
    } else {
        req.prompt = promptEdit_->toPlainText().toStdString();
    }
    if (req.prompt.empty() && req.messages.empty()) {
        showError(tr("Generate: type a prompt or pick a pair"));
        return false;
    }
    if (!startJob(tr("Generate"))) return false;
    lastRequest_ = req;
    for (auto& side : samples_) side.assign(size_t(req.settings.samples), SampleState{});
    selectedSpin_->setRange(1, req.settings.samples);
    renderPanes();
    QMetaObject::invokeMethod(worker_, [w = worker_, req] { w->generate(req); }, Qt::QueuedConnection);
    return true;
}

void CompareView::stop() {
    if (busy_) {
        cancel_->store(true);
        statusLabel_->setText(tr("Stopping..."));
    }
}

void CompareView::setBusy(bool busy) {
    if (busy_ == busy) return;
    busy_ = busy;
    if (busy) {
        busyLock_ = std::make_unique<QEventLoopLocker>();
        if (!filterInstalled_ && window() != this) {  // also when this page was never shown
            window()->installEventFilter(this);
            filterInstalled_ = true;
        }
    } else {
        busyLock_.reset();
    }
    progress_->setVisible(busy);
    progress_->setRange(0, 0);
    updateActions();
    Q_EMIT busyChanged(busy);
}

void CompareView::updateActions() {
    const bool ready = !busy_;
    const bool haveBoth = !samples_[0].empty() && selectedSample() < int(samples_[0].size()) &&
                          samples_[0][size_t(selectedSample())].scored && selectedSample() < int(samples_[1].size()) &&
                          samples_[1][size_t(selectedSample())].scored;
    generateButton_->setEnabled(ready);
    stopButton_->setEnabled(busy_);
    addPairButton_->setEnabled(ready && haveBoth && project());
    policyBetterButton_->setEnabled(ready && haveBoth && project());
    referenceBetterButton_->setEnabled(ready && haveBoth && project());
    scorePairButton_->setEnabled(ready && pair_.has_value());
    samplePairsButton_->setEnabled(ready && project());
    marginButton_->setEnabled(ready && project());
}

void CompareView::showError(const QString& message) {
    lastError_ = message;
    statusLabel_->setText(QStringLiteral("<span style=\"color:#b42b2b\">%1</span>").arg(message.toHtmlEscaped()));
    Q_EMIT failed(message);
}

QString CompareView::statusText() const { return statusLabel_->text(); }

void CompareView::onPiece(int side, int sample, const QString& text) {
    auto& list = samples_[size_t(side)];
    if (sample < 0 || sample >= int(list.size())) return;
    list[size_t(sample)].streamed += text;
    schedulePaneUpdate();
}

void CompareView::onCompleted(int side, int sample, const ScoredText& result) {
    auto& list = samples_[size_t(side)];
    if (sample < 0 || sample >= int(list.size())) return;
    list[size_t(sample)].scored = result;
    list[size_t(sample)].streamed = QString::fromStdString(result.text);
    schedulePaneUpdate();
    updateActions();
}

void CompareView::schedulePaneUpdate() {
    if (!paneTimer_->isActive()) paneTimer_->start();
}

const ScoredText* CompareView::completion(Side side, int index) const {
    const auto& list = samples_[size_t(side)];
    if (index < 0 || index >= int(list.size()) || !list[size_t(index)].scored) return nullptr;
    return &*list[size_t(index)].scored;
}

QString CompareView::streamedText(Side side, int index) const {
    const auto& list = samples_[size_t(side)];
    return index >= 0 && index < int(list.size()) ? list[size_t(index)].streamed : QString();
}

QString CompareView::paneHtml(Side side) const { return panes_[size_t(side)]->html(); }

int CompareView::selectedSample() const { return selectedSpin_->value() - 1; }

void CompareView::setSelectedSample(int index) { selectedSpin_->setValue(index + 1); }

void CompareView::renderPanes() {
    renderPane(Side::Policy);
    renderPane(Side::Reference);
    updateActions();
}

void CompareView::renderPane(Side side) {
    const auto& list = samples_[size_t(side)];
    const double beta = lastRequest_.models.beta;
    QStringList tips;
    QString html = QStringLiteral("<div style=\"font-size:10.5pt\">");
    if (list.empty())
        html += QStringLiteral("<p style=\"color:%1\">%2</p>")
                    .arg(theme::mutedText().name(), tr("Completions appear here. Generate with Ctrl+Return."));
    for (size_t i = 0; i < list.size(); ++i) {
        const SampleState& s = list[i];
        const bool selected = int(i) == selectedSample();
        html += QStringLiteral("<table width=\"100%\" cellspacing=\"0\" cellpadding=\"6\" style=\"margin-bottom:6px; "
                               "border: 1px solid %1; background-color:%2\"><tr><td>")
                    .arg(selected ? theme::accent().name() : theme::border().name(),
                         selected ? QStringLiteral("#fbfcff") : QStringLiteral("#ffffff"));
        QString header = tr("Sample %1 · seed %2").arg(i + 1).arg(lastRequest_.settings.seedFor(int(i)));
        if (s.scored) {
            header += QStringLiteral(" · ") + tr("%n token(s)", nullptr, int(s.scored->tokens)) + QStringLiteral(" · ") +
                      QString::fromStdString(s.scored->finishReason);
            html += QStringLiteral("<div style=\"color:%1; font-size:9pt\">%2%3<br>%4</div>")
                        .arg(theme::mutedText().name(), selected ? QStringLiteral("▶ ") : QString(), header,
                             scoreLine(*s.scored, beta));
            html += QStringLiteral("<div style=\"margin-top:4px\">%1</div>").arg(tintedHtml(*s.scored, tips));
        } else {
            html += QStringLiteral("<div style=\"color:%1; font-size:9pt\">%2%3</div>")
                        .arg(theme::mutedText().name(), selected ? QStringLiteral("▶ ") : QString(), header);
            html += QStringLiteral("<div style=\"margin-top:4px\">%1<span style=\"color:%2\">%3</span></div>")
                        .arg(escapedPiece(s.streamed), theme::accent().name(), busy_ ? QStringLiteral("▌") : QString());
        }
        html += QStringLiteral("</td></tr></table>");
    }
    html += QStringLiteral("</div>");
    panes_[size_t(side)]->setContent(html, tips);
}

// ---------------------------------------------------------------- back into the data

qint64 CompareView::addPairFromView(std::optional<store::Verdict> verdict) {
    if (!project()) {
        showError(tr("Add pair: no project is open"));
        return 0;
    }
    const int i = selectedSample();
    const ScoredText* policy = completion(Side::Policy, i);
    const ScoredText* reference = completion(Side::Reference, i);
    if (!policy || !reference) {
        showError(tr("Add pair: generate both sides first"));
        return 0;
    }
    if (busy_) {
        showError(tr("Add pair: wait for generation to finish"));
        return 0;
    }
    const GenerateRequest& req = lastRequest_;
    const qint64 fromPair = pair_ ? pairId_ : 0;
    // A pair made from a held-out prompt stays held out: a test prompt in the training data
    // would make every later run's eval metrics meaningless. Typed prompts go to train.
    const QString split = pair_ && !pair_->split.empty() ? QString::fromStdString(pair_->split) : QStringLiteral("train");
    store::Pair p = makeComparePair(req.models, req.settings, i, fromPair, req.prompt, req.messages, policy->text,
                                    reference->text, split);
    try {
        bool inserted = false;
        const qint64 id = project()->addPair(p, &inserted);
        if (verdict) {
            store::LabelOptions opts;
            opts.annotator = ProjectContext::currentAnnotator().toStdString();  // as on the Label page
            project()->label(id, *verdict, opts);
        }
        context_->notifyLocalChange();  // the Label page lists it
        statusLabel_->setText(inserted ? tr("Added pair #%1 to split %3%2.")
                                             .arg(id)
                                             .arg(verdict ? tr(", labelled %1").arg(theme::verdictText(verdict)) : QString())
                                             .arg(split)
                                       : tr("Pair #%1 already holds these two completions.").arg(id));
        Q_EMIT pairAdded(id);
        return id;
    } catch (const std::exception& e) {
        showError(tr("Add pair: %1").arg(errorLine(e)));
        return 0;
    }
}

bool CompareView::samplePairs(int prompts, const QString& fromSplit, const QString& toSplit) {
    if (projectPath_.isEmpty() || !project()) {
        showError(tr("Sample pairs: no project is open"));
        return false;
    }
    if (!startJob(tr("Sample pairs"))) return false;
    SampleBatchRequest req;
    req.models = models();
    req.projectPath = projectPath_;
    req.fromSplit = fromSplit;
    req.toSplit = toSplit;
    req.prompts = prompts;
    req.settings = settings();
    req.settings.samples = 1;
    QMetaObject::invokeMethod(worker_, [w = worker_, req] { w->samplePairs(req); }, Qt::QueuedConnection);
    return true;
}

void CompareView::openSampleDialog() {
    auto* dialog = new CompareSampleDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
}

// ---------------------------------------------------------------- scoring

bool CompareView::scoreCurrentPair() {
    if (!pair_) {
        showError(tr("Score pair: pick a pair of the project first"));
        return false;
    }
    if (!startJob(tr("Score pair"))) return false;
    const store::Pair p = *pair_;
    const CompareModels m = models();
    QMetaObject::invokeMethod(
        worker_, [w = worker_, m, p] { w->scorePair(m, p.prompt, p.promptMessages, p.responseA, p.responseB); },
        Qt::QueuedConnection);
    return true;
}

QString CompareView::pairScoreText() const {
    if (!pairScore_) return {};
    const double ra = pairScore_->a.reward(pairScoreBeta_), rb = pairScore_->b.reward(pairScoreBeta_);
    const bool b = pair_ && pair_->verdict == store::Verdict::B;
    const bool oriented = pair_ && (pair_->verdict == store::Verdict::A || b);
    const double margin = b ? rb - ra : ra - rb;
    return oriented ? tr("reward(chosen) %1 · reward(rejected) %2 · margin %3")
                          .arg(signedNumber(b ? rb : ra, 4), signedNumber(b ? ra : rb, 4), signedNumber(margin, 4))
                    : tr("reward(A) %1 · reward(B) %2 · margin A − B %3")
                          .arg(signedNumber(ra, 4), signedNumber(rb, 4), signedNumber(margin, 4));
}

void CompareView::renderPairScore() {
    QStringList tips;
    QString html;
    if (!pair_) {
        html = QStringLiteral("<p style=\"color:%1\">%2</p>")
                   .arg(theme::mutedText().name(), tr("Pick a pair of the project to score its own responses."));
    } else if (!pairScore_) {
        html = QStringLiteral("<p style=\"color:%1\">%2</p>")
                   .arg(theme::mutedText().name(),
                        tr("Pair #%1: press Score pair to see how the policy and the reference judge its responses.").arg(pairId_));
    } else {
        html += QStringLiteral("<p><b>%1</b></p>").arg(pairScoreText().toHtmlEscaped());
        const auto side = [&](const char* name, const ScoredText& t, bool chosen, bool rejected) {
            QString tag = QString::fromLatin1(name);
            if (chosen) tag += tr(" (chosen)");
            if (rejected) tag += tr(" (rejected)");
            return QStringLiteral("<p><span style=\"color:%1\">%2 · %3</span><br>%4</p>")
                .arg(theme::mutedText().name(), tag, scoreLine(t, pairScoreBeta_), tintedHtml(t, tips));
        };
        const bool a = pair_->verdict == store::Verdict::A, b = pair_->verdict == store::Verdict::B;
        html += side("A", pairScore_->a, a, b);
        html += side("B", pairScore_->b, b, a);
    }
    pairScoreView_->setContent(html, tips);
}

bool CompareView::computeMargins(const QString& split) {
    if (projectPath_.isEmpty() || !project()) {
        showError(tr("Margins: no project is open"));
        return false;
    }
    if (!startJob(tr("Margins"))) return false;
    const CompareModels m = models();
    const QString path = projectPath_;
    bottomTabs_->setCurrentIndex(1);
    QMetaObject::invokeMethod(worker_, [w = worker_, m, path, split] { w->computeMargins(m, path, split); },
                              Qt::QueuedConnection);
    return true;
}

void CompareView::showPairFromMargins(const QModelIndex& proxyIndex) {
    const qint64 id = proxyIndex.data(MarginModel::PairIdRole).toLongLong();
    if (id > 0) showPair(id);
    bottomTabs_->setCurrentIndex(0);
}

}  // namespace dpowb::ui
