#include "label_view.h"

#include <QAbstractSpinBox>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QTextEdit>
#include <QTimer>
#include <QVBoxLayout>

#include "adjudication_panel.h"
#include "edit_response_dialog.h"
#include "error_line.h"
#include "help_overlay.h"
#include "label_analytics.h"
#include "label_history_model.h"
#include "label_keys.h"
#include "pair_table_model.h"
#include "pair_view.h"
#include "project_context.h"
#include "store/pair_outcomes.h"
#include "store/project.h"
#include "theme.h"

namespace dpowb::ui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// How far "next unlabelled" walks the cached rows before asking the store.
constexpr int kUnlabelledScan = 4096;

}  // namespace

LabelView::LabelView(ProjectContext* context, QWidget* parent)
    : QWidget(parent), context_(context) {
    model_ = new PairTableModel(context_, this);
    history_ = new LabelHistoryModel(this);

    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(10, 10, 10, 6);
    hsplit_ = new QSplitter(Qt::Horizontal, this);
    hsplit_->setChildrenCollapsible(false);
    hsplit_->setHandleWidth(10);
    outer->addWidget(hsplit_, 1);

    // ---- left: the pair browser ----
    auto* left = new QWidget(hsplit_);
    auto* leftLay = new QVBoxLayout(left);
    leftLay->setContentsMargins(0, 0, 0, 0);
    leftLay->setSpacing(6);
    search_ = new QLineEdit(left);
    search_->setPlaceholderText(tr("Search prompts and responses   ( / )"));
    search_->setClearButtonEnabled(true);
    leftLay->addWidget(search_);
    auto* filters = new QHBoxLayout;
    filters->setSpacing(6);
    verdictFilter_ = new QComboBox(left);
    using VF = store::VerdictFilter;
    const std::pair<QString, VF> verdictItems[] = {
        {tr("All labels"), VF::Any},   {tr("Unlabelled"), VF::Unlabelled}, {tr("Labelled"), VF::Labelled},
        {tr("A chosen"), VF::A},       {tr("B chosen"), VF::B},            {tr("Tie"), VF::Tie},
        {tr("Both bad"), VF::BothBad}, {tr("Skipped"), VF::Skip},  {tr("Unresolved"), VF::Unresolved}};
    for (const auto& [text, value] : verdictItems) verdictFilter_->addItem(text, int(value));
    splitFilter_ = new QComboBox(left);
    splitFilter_->addItem(tr("All splits"), QString());
    splitFilter_->addItem(QStringLiteral("train"), QStringLiteral("train"));
    splitFilter_->addItem(QStringLiteral("test"), QStringLiteral("test"));
    sourceFilter_ = new QComboBox(left);
    sourceFilter_->addItem(tr("All sources"), QString());
    sourceFilter_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    filters->addWidget(verdictFilter_);
    filters->addWidget(splitFilter_);
    filters->addWidget(sourceFilter_, 1);
    pairSetFilter_ = new QComboBox(left);
    pairSetFilter_->setObjectName("pairSetFilter");
    pairSetFilter_->setToolTip(tr("Saved pair sets, such as the pairs a run's drill-down sent to relabel"));
    pairSetFilter_->addItem(tr("All pairs"), qint64(0));
    pairSetFilter_->setVisible(false);
    filters->addWidget(pairSetFilter_);
    leftLay->addLayout(filters);

    table_ = new QTableView(left);
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setAlternatingRowColors(true);
    table_->setShowGrid(false);
    table_->setWordWrap(false);
    table_->setTextElideMode(Qt::ElideRight);
    table_->verticalHeader()->hide();
    // Fixed row heights: the view never measures a million rows.
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 10);
    QHeaderView* hh = table_->horizontalHeader();
    hh->setSectionResizeMode(QHeaderView::Interactive);
    hh->setStretchLastSection(false);
    hh->setHighlightSections(false);
    hh->setSortIndicatorShown(true);
    hh->setSortIndicator(PairTableModel::IdColumn, Qt::AscendingOrder);
    hh->setSectionsClickable(true);
    table_->setColumnWidth(PairTableModel::IdColumn, 54);
    table_->setColumnWidth(PairTableModel::PromptColumn, 250);
    table_->setColumnWidth(PairTableModel::LabelColumn, 100);  // "right ≫ · B"
    table_->setColumnWidth(PairTableModel::SplitColumn, 52);
    table_->setColumnWidth(PairTableModel::SourceColumn, 90);
    table_->setColumnWidth(PairTableModel::LengthColumn, 64);
    table_->setColumnWidth(PairTableModel::TimeColumn, 120);
    // The verdict next to the id, before the long prompt: visible in a narrow browser. The
    // cursor sits in the id column, so following it never scrolls the list sideways.
    hh->moveSection(hh->visualIndex(PairTableModel::LabelColumn), 1);
    leftLay->addWidget(table_, 1);
    countLabel_ = new QLabel(left);
    countLabel_->setObjectName(QStringLiteral("cardMeta"));
    leftLay->addWidget(countLabel_);
    hsplit_->addWidget(left);

    // ---- right: the pair, its history, the rationale ----
    auto* right = new QWidget(hsplit_);
    auto* rightLay = new QVBoxLayout(right);
    rightLay->setContentsMargins(0, 0, 0, 0);
    rightLay->setSpacing(6);
    auto* head = new QHBoxLayout;
    pairTitle_ = new QLabel(right);
    pairTitle_->setObjectName(QStringLiteral("cardTitle"));
    verdictChip_ = new QLabel(right);
    verdictChip_->setObjectName(QStringLiteral("verdictChip"));
    diffBox_ = new QCheckBox(tr("Word diff"), right);
    diffBox_->setToolTip(tr("Highlight the words that differ between the responses (D)"));
    diffBox_->setFocusPolicy(Qt::NoFocus);
    head->addWidget(pairTitle_);
    head->addSpacing(10);
    head->addWidget(verdictChip_);
    head->addStretch(1);
    head->addWidget(diffBox_);
    rightLay->addLayout(head);

    rightSplit_ = new QSplitter(Qt::Vertical, right);
    rightSplit_->setChildrenCollapsible(false);
    rightSplit_->setHandleWidth(8);
    pairView_ = new PairView(rightSplit_);
    rightSplit_->addWidget(pairView_);
    historyTable_ = new QTableView(rightSplit_);
    historyTable_->setModel(history_);
    historyTable_->verticalHeader()->hide();
    historyTable_->setShowGrid(false);
    historyTable_->setSelectionMode(QAbstractItemView::NoSelection);
    historyTable_->setFocusPolicy(Qt::NoFocus);
    historyTable_->horizontalHeader()->setStretchLastSection(true);
    historyTable_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
    historyTable_->setColumnWidth(LabelHistoryModel::TimeColumn, 100);
    historyTable_->setColumnWidth(LabelHistoryModel::AnnotatorColumn, 100);
    historyTable_->setColumnWidth(LabelHistoryModel::VerdictColumn, 170);
    // Below the pair: its label history, and the labeling analytics of the whole project.
    lowerTabs_ = new QTabWidget(rightSplit_);
    lowerTabs_->setObjectName("lowerTabs");
    lowerTabs_->setFocusPolicy(Qt::NoFocus);
    lowerTabs_->setDocumentMode(true);
    lowerTabs_->addTab(historyTable_, tr("History"));
    analytics_ = new LabelAnalyticsPanel(lowerTabs_);
    lowerTabs_->addTab(analytics_, tr("Labeling analytics"));
    adjudication_ = new AdjudicationPanel(lowerTabs_);
    lowerTabs_->addTab(adjudication_, tr("Adjudication"));
    rightSplit_->addWidget(lowerTabs_);
    rightSplit_->setStretchFactor(0, 5);
    rightSplit_->setStretchFactor(1, 1);
    rightSplit_->setSizes({620, 110});
    rightLay->addWidget(rightSplit_, 1);

    auto* rationaleRow = new QHBoxLayout;
    auto* rKey = new QLabel(theme::kbd(QStringLiteral("R")), right);
    rKey->setTextFormat(Qt::RichText);
    rationale_ = new QLineEdit(right);
    rationale_->setPlaceholderText(tr("Rationale (optional): why is one better? Enter saves it with the label"));
    rationaleRow->addWidget(rKey);
    rationaleRow->addWidget(rationale_, 1);
    rightLay->addLayout(rationaleRow);

    auto* hints = new QLabel(right);
    hints->setObjectName(QStringLiteral("hintBar"));
    hints->setTextFormat(Qt::RichText);
    const auto hint = [](const QString& key, const QString& what) {
        return theme::kbd(key) + QStringLiteral("&nbsp;") + what.toHtmlEscaped();
    };
    const QString sep = QStringLiteral("&nbsp;&nbsp;&nbsp;");
    hints->setText(QStringList{hint(QStringLiteral("1"), tr("left")), hint(QStringLiteral("2"), tr("right")),
                               hint(QStringLiteral("⇧"), tr("much")), hint(QStringLiteral("3"), tr("tie")),
                               hint(QStringLiteral("4"), tr("both bad")), hint(QStringLiteral("S"), tr("skip")),
                               hint(QStringLiteral("J/K"), tr("next/prev")),
                               hint(QStringLiteral("N"), tr("next unlabelled")),
                               hint(QStringLiteral("Ctrl+Z"), tr("undo")), hint(QStringLiteral("?"), tr("all keys"))}
                       .join(sep));
    hints->setToolTip(keyboardHelpHtml());
    rightLay->addWidget(hints);
    hsplit_->addWidget(right);
    hsplit_->setStretchFactor(0, 2);
    hsplit_->setStretchFactor(1, 5);
    hsplit_->setSizes({480, 960});

    help_ = new HelpOverlay(this);
    setFocusProxy(table_);

    searchDebounce_ = new QTimer(this);
    searchDebounce_->setSingleShot(true);
    searchDebounce_->setInterval(250);
    connect(searchDebounce_, &QTimer::timeout, this, &LabelView::applyFilters);
    connect(search_, &QLineEdit::textChanged, searchDebounce_, qOverload<>(&QTimer::start));
    connect(search_, &QLineEdit::returnPressed, this, [this] {
        searchDebounce_->stop();
        applyFilters();
        table_->setFocus();
    });
    for (QComboBox* box : {verdictFilter_, splitFilter_, sourceFilter_, pairSetFilter_})
        connect(box, qOverload<int>(&QComboBox::activated), this, &LabelView::applyFilters);
    connect(diffBox_, &QCheckBox::toggled, pairView_, &PairView::setDiffEnabled);
    connect(pairView_, &PairView::choiceClicked, this, [this](PairView::Side side, int strength) {
        labelCurrent(side == PairView::Left ? Choice::LeftBetter : Choice::RightBetter, strength);
    });
    connect(rationale_, &QLineEdit::returnPressed, this, &LabelView::saveRationale);
    connect(hh, &QHeaderView::sectionClicked, this, [this, hh](int section) {
        if (!PairTableModel::isSortable(section)) {
            // Put the indicator back where the order really is.
            hh->setSortIndicator(hh->property("sortSection").toInt(),
                                 Qt::SortOrder(hh->property("sortOrder").toInt()));
            return;
        }
        selectAfterLoad_ = currentPairId();
        hh->setProperty("sortSection", section);
        hh->setProperty("sortOrder", int(hh->sortIndicatorOrder()));
        model_->sort(section, hh->sortIndicatorOrder());
    });
    hh->setProperty("sortSection", int(PairTableModel::IdColumn));
    hh->setProperty("sortOrder", int(Qt::AscendingOrder));
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &LabelView::showCurrent);
    connect(model_, &PairTableModel::loaded, this, [this] {
        countLabel_->setText(tr("%Ln pair(s) in this view", nullptr, model_->rowCount()));
        int row = -1;
        if (selectAfterLoad_) row = model_->rowOfPair(selectAfterLoad_);
        selectAfterLoad_ = 0;
        if (model_->rowCount() == 0) {
            showCurrent();
            return;
        }
        if (row < 0) {
            table_->setCurrentIndex(model_->index(0, PairTableModel::IdColumn));
            // On opening a project, resume where the work stopped.
            if (firstLoad_ && model_->verdictAt(0)) goNextUnlabelled();
        } else {
            table_->setCurrentIndex(model_->index(row, PairTableModel::IdColumn));
            table_->scrollTo(table_->currentIndex());
            showCurrent();  // same row: refresh what another connection may have changed
        }
        firstLoad_ = false;
    });
    connect(model_, &PairTableModel::loadFailed, this, [this](const QString& message) {
        Q_EMIT statusMessage(tr("Could not list the pairs: %1").arg(message));
    });
    connect(context_, &ProjectContext::opened, this, &LabelView::onProjectOpened);
    connect(context_, &ProjectContext::closed, this, [this] {
        undoStack_.clear();
        drafts_.clear();
        rationale_->clear();
        model_->reload();
        current_.reset();
        pairView_->clear();
        history_->setHistory({});
    });
    connect(context_, &ProjectContext::externalChange, this, &LabelView::onExternalChange);
    // Analytics are computed while their tab is shown: on showing it, and after label changes.
    auto refreshAnalytics = [this] {
        const QWidget* tab = lowerTabs_->currentWidget();
        if ((tab == analytics_ || tab == adjudication_) && context_->isOpen()) analytics_->refresh();
    };
    // The adjudication list is the analytics' disagreements.
    connect(analytics_, &LabelAnalyticsPanel::updated, this, [this] {
        if (analytics_->result()) adjudication_->setRows(analytics_->result()->disagreements);
    });
    connect(adjudication_, &AdjudicationPanel::pairActivated, this, [this](qint64 id) {
        if (!selectPair(id))
            Q_EMIT statusMessage(tr("Pair %1 is not in the list as filtered: set the filters to All (and clear the "
                                    "search) to open it").arg(id));
    });
    connect(adjudication_->revealBox(), &QCheckBox::toggled, this, [this](bool adjudicating) {
        showCurrent();
        // Blind: the analytics' agreement and the "Unresolved" list depend on it.
        if (store::VerdictFilter(verdictFilter_->currentData().toInt()) == store::VerdictFilter::Unresolved)
            applyFilters();
        else if (mode_ == store::AnnotationMode::Blind)
            analytics_->setBlindViewer(adjudicating ? QString() : context_->annotator());
    });
    connect(adjudication_, &AdjudicationPanel::decide, this, [this](qint64 id, int choice, bool undo) {
        if (currentPairId() != id && !selectPair(id)) {
            Q_EMIT statusMessage(tr("Open pair %1 first: set the filters to All").arg(id));
            return;
        }
        adjudicateCurrent(Choice(choice), undo);
    });
    connect(lowerTabs_, &QTabWidget::currentChanged, this, refreshAnalytics);
    connect(context_, &ProjectContext::externalChange, this, refreshAnalytics);
    connect(this, &LabelView::labelled, this, refreshAnalytics);
    connect(context_, &ProjectContext::opened, this, [this, refreshAnalytics](const QString& path) {
        analytics_->setProjectPath(path);
        refreshAnalytics();
    });
    connect(analytics_, &LabelAnalyticsPanel::pairActivated, this, [this](qint64 id) {
        if (!selectPair(id))
            Q_EMIT statusMessage(tr("Pair %1 is not in the list as filtered: set the filters to All (and clear the "
                                    "search) to open it").arg(id));
    });
    if (context_->isOpen()) analytics_->setProjectPath(context_->path());

    // The page's keys work whatever has the focus in the window (see eventFilter).
    qApp->installEventFilter(this);
    showCurrent();
    if (context_->isOpen()) onProjectOpened();
}

LabelView::~LabelView() = default;

bool LabelView::isTextEntry(const QWidget* w) {
    if (!w) return false;
    if (const auto* line = qobject_cast<const QLineEdit*>(w)) return !line->isReadOnly();
    if (const auto* text = qobject_cast<const QTextEdit*>(w)) return !text->isReadOnly();
    if (const auto* plain = qobject_cast<const QPlainTextEdit*>(w)) return !plain->isReadOnly();
    if (qobject_cast<const QAbstractSpinBox*>(w)) return true;
    if (const auto* combo = qobject_cast<const QComboBox*>(w)) return combo->isEditable();
    return false;
}

bool LabelView::eventFilter(QObject* watched, QEvent* event) {
    const QEvent::Type type = event->type();
    if ((type != QEvent::KeyPress && type != QEvent::ShortcutOverride) || !watched->isWidgetType())
        return QWidget::eventFilter(watched, event);
    // Keys go to the focus widget and, when ignored, on to its parents: act on the first
    // delivery only, and only while this page is shown in its window (a dialog or a popup is
    // a window of its own). A window that was never activated (an X server without a window
    // manager) still sends its keys to its own focus widget, or to itself when it has none.
    auto* target = static_cast<QWidget*>(watched);
    if (!isVisible() || target->window() != window() || help_->isVisible())
        return QWidget::eventFilter(watched, event);
    QWidget* receiver = QApplication::focusWidget();
    if (!receiver) receiver = window()->focusWidget();
    if (!receiver) receiver = window();
    if (target != receiver) return QWidget::eventFilter(watched, event);
    auto* key = static_cast<QKeyEvent*>(event);
    const LabelCommand command = labelCommandFor(*key);
    if (command == LabelCommand::None) return QWidget::eventFilter(watched, event);
    // A text field keeps its typing; Esc leaves it.
    if (isTextEntry(target) && command != LabelCommand::Leave) return QWidget::eventFilter(watched, event);
    if (type == QEvent::ShortcutOverride) {
        event->accept();  // ours: no shortcut of the window may take it
        return true;
    }
    if (!(key->isAutoRepeat() && isLabelling(command))) runCommand(command);
    return true;
}

void LabelView::runCommand(LabelCommand command) {
    using C = LabelCommand;
    switch (command) {
    case C::LeftBetter: labelCurrent(Choice::LeftBetter, 1); break;
    case C::LeftMuchBetter: labelCurrent(Choice::LeftBetter, 2); break;
    case C::RightBetter: labelCurrent(Choice::RightBetter, 1); break;
    case C::RightMuchBetter: labelCurrent(Choice::RightBetter, 2); break;
    case C::Tie: labelCurrent(Choice::Tie); break;
    case C::BothBad: labelCurrent(Choice::BothBad); break;
    case C::Skip: labelCurrent(Choice::Skip); break;
    case C::Undo: undoLast(); break;
    case C::Next: goNext(); break;
    case C::Previous: goPrevious(); break;
    case C::NextUnlabelled: goNextUnlabelled(); break;
    case C::EditResponse: editFocusedResponse(); break;
    case C::Rationale: focusRationale(); break;
    case C::Search: focusSearch(); break;
    case C::WordDiff: diffBox_->toggle(); break;
    case C::Help: showHelp(); break;
    case C::Leave: table_->setFocus(Qt::ShortcutFocusReason); break;
    case C::None: break;
    }
}

void LabelView::onProjectOpened() {
    undoStack_.clear();
    try {
        mode_ = context_->project().annotationMode();
    } catch (const std::exception& e) {
        mode_ = store::AnnotationMode::Single;
        Q_EMIT statusMessage(QString::fromStdString(e.what()));
    }
    adjudication_->setMode(mode_);
    firstLoad_ = true;
    current_.reset();
    refreshSources();
    applyFilters();
}

void LabelView::onExternalChange() {
    try {  // the mode may have been switched by `dpowb annotation-mode`
        const store::AnnotationMode mode = context_->project().annotationMode();
        if (mode != mode_) {
            mode_ = mode;
            adjudication_->setMode(mode_);
            applyFilters();
            return;
        }
    } catch (const std::exception&) {
    }
    refreshSources();
    selectAfterLoad_ = currentPairId();
    model_->reload();
}

void LabelView::refreshSources() {
    if (!context_->isOpen()) return;
    const QString keep = sourceFilter_->currentData().toString();
    std::vector<std::string> sources;
    try {
        sources = context_->project().sources();
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(errorLine(e));
        return;
    }
    sourceFilter_->clear();
    sourceFilter_->addItem(tr("All sources"), QString());
    for (const auto& s : sources) sourceFilter_->addItem(qs(s), qs(s));
    const int at = sourceFilter_->findData(keep);
    sourceFilter_->setCurrentIndex(at < 0 ? 0 : at);
    // The saved pair sets, newest last.
    std::vector<store::PairSetInfo> sets;
    try {
        sets = store::pairSets(context_->project());
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(QString::fromStdString(e.what()));
    }
    const qint64 keepSet = pairSetFilter_->currentData().toLongLong();
    pairSetFilter_->clear();
    pairSetFilter_->addItem(tr("All pairs"), qint64(0));
    for (const auto& set : sets)
        pairSetFilter_->addItem(tr("%1 · %n pair(s)", nullptr, int(set.pairs)).arg(qs(set.name)), qint64(set.id));
    const int setAt = pairSetFilter_->findData(keepSet);
    pairSetFilter_->setCurrentIndex(setAt < 0 ? 0 : setAt);
    pairSetFilter_->setVisible(!sets.empty());
}

bool LabelView::showPairSet(qint64 setId) {
    if (!context_->isOpen()) return false;
    refreshSources();
    const int at = pairSetFilter_->findData(setId);
    if (at < 0) return false;
    pairSetFilter_->setCurrentIndex(at);
    verdictFilter_->setCurrentIndex(0);
    splitFilter_->setCurrentIndex(0);
    sourceFilter_->setCurrentIndex(0);
    search_->clear();
    applyFilters();
    return true;
}

void LabelView::applyFilters() {
    store::PairQuery q;
    q.verdict = store::VerdictFilter(verdictFilter_->currentData().toInt());
    q.split = splitFilter_->currentData().toString().toStdString();
    q.source = sourceFilter_->currentData().toString().toStdString();
    q.search = search_->text().trimmed().toStdString();
    // Several annotators: the list, its label column and its filters are this annotator's own.
    if (store::isConsensus(mode_)) q.annotator = context_->annotator().toStdString();
    q.pairSet = pairSetFilter_->currentData().toLongLong();
    // Blind, not adjudicating: "Unresolved" and the analytics' agreement keep to what the
    // annotator may see (pairs with a label of their own).
    const bool blind = mode_ == store::AnnotationMode::Blind && !adjudication_->revealBox()->isChecked();
    analytics_->setBlindViewer(blind ? context_->annotator() : QString());
    if (!firstLoad_) selectAfterLoad_ = currentPairId();
    model_->setFilter(q, blind);
}

qint64 LabelView::currentPairId() const { return current_ ? current_->id : 0; }

bool LabelView::hasUnsavedWork() const {
    if (!rationale_->text().trimmed().isEmpty()) return true;
    for (const QString& d : drafts_)
        if (!d.trimmed().isEmpty()) return true;
    return false;
}

void LabelView::showCurrent() {
    const qint64 id = model_->pairIdAt(table_->currentIndex().row());
    const qint64 previous = currentPairId();
    if (previous != id && !rationale_->text().trimmed().isEmpty()) {
        // A rationale belongs to the pair it was written for: keep it there.
        drafts_.insert(previous, rationale_->text());
    }
    std::optional<store::Pair> p;
    std::vector<store::Label> labels;
    if (id && context_->isOpen()) {
        try {
            p = context_->project().pair(id);
            if (p) labels = context_->project().history(id);
        } catch (const std::exception& e) {
            Q_EMIT statusMessage(errorLine(e));
        }
    }
    // Several annotators: the chip and "labelled" are this annotator's own; in blind mode the
    // others' labels stay out of the history until this annotator has given one.
    QString state;
    if (p && store::isConsensus(mode_)) {
        try {
            const std::string me = context_->annotator().toStdString();
            const store::PairVerdicts v = context_->project().verdictsFor(id, me);
            const std::optional<store::Verdict> training = p->verdict;
            p->verdict = v.mine;
            p->labelStrength = v.mineStrength;
            if (v.hidden && adjudication_->revealBox()->isChecked()) {  // an adjudicator sees it all
                state = tr("adjudicating: training verdict %1")
                            .arg(training ? QString::fromLatin1(store::toString(*training)).toUpper() : tr("none (unresolved)"));
            } else if (v.hidden) {
                std::vector<store::Label> own;
                for (auto& l : labels)
                    if (l.annotator == me && !l.adjudication) own.push_back(std::move(l));
                labels = std::move(own);
                state = tr("others' verdicts hidden until you label");
            } else if (v.unresolved) {
                state = tr("unresolved: no majority of %1").arg(v.judges);
            } else if (v.verdict && v.judges > 0) {
                state = tr("training verdict %1 (%2 of %3%4)")
                            .arg(QString::fromLatin1(store::toString(*v.verdict)).toUpper())
                            .arg(v.agreeing)
                            .arg(v.judges)
                            .arg(v.adjudicated ? tr(", adjudicated") : QString());
            }
        } catch (const std::exception& e) {
            Q_EMIT statusMessage(QString::fromStdString(e.what()));
        }
    }
    current_ = p;
    if (!p) {
        pairView_->clear();
        history_->setHistory({});
        pairTitle_->setText(context_->isOpen() ? tr("No pair matches the filters") : tr("No project open"));
        rationale_->clear();
        updateVerdictChip();
        return;
    }
    // A pair keeps its sides while it is on screen (a changed annotator name changes the
    // side seed, but not under the reader's eyes).
    const char shownLeft = (id == pairView_->pairId() && pairView_->hasPair()) ? pairView_->shownLeft()
                                                                                : context_->shownLeftFor(id);
    pairView_->showPair(*p, shownLeft);
    history_->setHistory(std::move(labels));
    pairTitle_->setText(tr("Pair #%1   ·   %2   ·   %3").arg(id).arg(qs(p->split), qs(p->source)) +
                        (state.isEmpty() ? QString() : QStringLiteral("   ·   ") + state));
    if (previous != id) {
        rationale_->setText(drafts_.take(id));
    }
    updateVerdictChip();
}

void LabelView::updateVerdictChip() {
    if (!current_ || !current_->verdict) {
        verdictChip_->setText(current_ ? tr("unlabelled") : QString());
        verdictChip_->setToolTip(QString());
        verdictChip_->setStyleSheet(QStringLiteral("background:#eef1f4; color:#656d76;"));
        return;
    }
    const store::Verdict v = *current_->verdict;
    const int strength = std::max(1, current_->labelStrength);
    const QColor c = theme::verdictColor(v);
    verdictChip_->setText(theme::screenVerdictWithStored(v, strength, pairView_->shownLeft()));
    verdictChip_->setToolTip(theme::verdictExplanation(v, strength, pairView_->shownLeft()));
    verdictChip_->setStyleSheet(QStringLiteral("background:%1; color:#ffffff;").arg(c.name()));
}

std::optional<store::Verdict> LabelView::verdictFor(Choice choice) const {
    const char left = pairView_->shownLeft();
    switch (choice) {
    case Choice::LeftBetter: return left == 'a' ? store::Verdict::A : store::Verdict::B;
    case Choice::RightBetter: return left == 'a' ? store::Verdict::B : store::Verdict::A;
    case Choice::Tie: return store::Verdict::Tie;
    case Choice::BothBad: return store::Verdict::BothBad;
    case Choice::Skip: return store::Verdict::Skip;
    }
    return std::nullopt;
}

bool LabelView::labelCurrent(Choice choice, int strength) {
    if (!current_ || !pairView_->hasPair() || !context_->isOpen()) return false;
    const qint64 id = current_->id;
    const store::Verdict v = *verdictFor(choice);
    store::LabelOptions options;
    options.strength = (v == store::Verdict::A || v == store::Verdict::B) ? std::max(1, strength) : 1;
    options.rationale = rationale_->text().trimmed().toStdString();
    options.annotator = context_->annotator().toStdString();
    options.shownLeft = pairView_->shownLeft();
    try {
        context_->project().label(id, v, options);
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(tr("Label not saved: %1").arg(errorLine(e)));
        return false;
    }
    undoStack_.push_back(id);
    rationale_->clear();
    model_->refreshPair(id);
    context_->notifyLocalChange();
    Q_EMIT labelled(id);
    Q_EMIT statusMessage(tr("Pair #%1: %2")
                             .arg(id)
                             .arg(theme::screenVerdictWithStored(v, options.strength, options.shownLeft)));
    if (!goNextUnlabelled()) showCurrent();  // stay, but show the new label
    return true;
}

bool LabelView::undoLast() {
    if (!context_->isOpen()) return false;
    if (undoStack_.empty()) {
        Q_EMIT statusMessage(tr("Nothing to undo in this session"));
        return false;
    }
    const qint64 id = undoStack_.back();
    undoStack_.pop_back();
    std::optional<store::Label> undone;
    try {
        undone = context_->project().undo(id, context_->annotator().toStdString());
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(tr("Undo failed: %1").arg(errorLine(e)));
        return false;
    }
    model_->refreshPair(id);
    context_->notifyLocalChange();
    if (!selectPair(id)) showCurrent();
    Q_EMIT statusMessage(undone ? tr("Undid the label of pair #%1").arg(id)
                                : tr("Pair #%1 had no label left to undo").arg(id));
    return true;
}

bool LabelView::adjudicateCurrent(Choice choice, bool undo) {
    if (!current_ || !pairView_->hasPair() || !context_->isOpen()) return false;
    const qint64 id = current_->id;
    try {
        if (undo) {
            if (!context_->project().undo(id, context_->annotator().toStdString(), true)) {
                Q_EMIT statusMessage(tr("Pair #%1 has no adjudication to undo").arg(id));
                return false;
            }
        } else {
            if (choice == Choice::Skip) return false;
            store::LabelOptions options;
            options.adjudication = true;
            options.annotator = context_->annotator().toStdString();
            options.shownLeft = pairView_->shownLeft();
            options.rationale = rationale_->text().trimmed().toStdString();
            context_->project().label(id, *verdictFor(choice), options);
            rationale_->clear();
        }
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(tr("Adjudication not saved: %1").arg(QString::fromStdString(e.what())));
        return false;
    }
    model_->refreshPair(id);
    context_->notifyLocalChange();
    Q_EMIT labelled(id);  // refreshes the analytics and with them the adjudication list
    showCurrent();
    Q_EMIT statusMessage(undo ? tr("Pair #%1: adjudication undone").arg(id) : tr("Pair #%1: adjudicated").arg(id));
    return true;
}

bool LabelView::selectPair(qint64 pairId) {
    const int row = model_->rowOfPair(pairId);
    if (row < 0) return false;
    const QModelIndex idx = model_->index(row, PairTableModel::IdColumn);
    if (table_->currentIndex().row() == row)
        showCurrent();
    else
        table_->setCurrentIndex(idx);
    table_->scrollTo(idx);
    return true;
}

void LabelView::goNext() {
    const int n = model_->rowCount();
    if (n == 0) return;
    const int row = std::min(n - 1, table_->currentIndex().row() + 1);
    table_->setCurrentIndex(model_->index(row, PairTableModel::IdColumn));
    table_->scrollTo(table_->currentIndex());
}

void LabelView::goPrevious() {
    if (model_->rowCount() == 0) return;
    const int row = std::max(0, table_->currentIndex().row() - 1);
    table_->setCurrentIndex(model_->index(row, PairTableModel::IdColumn));
    table_->scrollTo(table_->currentIndex());
}

bool LabelView::goNextUnlabelled() {
    const int n = model_->rowCount();
    if (n == 0) return false;
    const int start = std::max(0, table_->currentIndex().row());
    const int scan = std::min(n, kUnlabelledScan);
    for (int k = 1; k <= scan; ++k) {
        const int row = (start + k) % n;
        if (!model_->verdictAt(row)) {
            selectPair(model_->pairIdAt(row));
            return true;
        }
    }
    if (n > scan && context_->isOpen()) {
        // Far away (or nowhere): let SQL find unlabelled pairs in this view, and take the
        // first one after the cursor among them.
        store::PairQuery q = model_->query();
        q.verdict = store::VerdictFilter::Unlabelled;
        q.limit = 256;
        std::vector<int64_t> ids;
        try {
            ids = context_->project().pairIds(q);
        } catch (const std::exception&) {
        }
        int best = -1;
        int bestDistance = n;
        for (int64_t id : ids) {
            const int row = model_->rowOfPair(id);
            if (row < 0 || row == start) continue;
            const int distance = (row - start + n) % n;
            if (distance < bestDistance) {
                bestDistance = distance;
                best = row;
            }
        }
        if (best >= 0) {
            selectPair(model_->pairIdAt(best));
            return true;
        }
    }
    Q_EMIT statusMessage(tr("Every pair in this view has a label"));
    return false;
}

void LabelView::focusRationale() {
    if (!current_) return;
    rationale_->setFocus(Qt::ShortcutFocusReason);
    rationale_->selectAll();
}

void LabelView::focusSearch() {
    search_->setFocus(Qt::ShortcutFocusReason);
    search_->selectAll();
}

void LabelView::showHelp() { help_->popUp(); }

void LabelView::saveRationale() {
    const QString text = rationale_->text().trimmed();
    table_->setFocus();
    if (text.isEmpty() || !current_) return;
    if (!current_->verdict) {
        Q_EMIT statusMessage(tr("The rationale will be saved with your label"));
        return;
    }
    // Already labelled: record the same verdict again, now with its reason (the history is
    // append-only, so the first row stays as it was).
    store::LabelOptions options;
    options.strength = std::max(1, current_->labelStrength);
    options.rationale = text.toStdString();
    options.annotator = context_->annotator().toStdString();
    options.shownLeft = pairView_->shownLeft();
    try {
        context_->project().label(current_->id, *current_->verdict, options);
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(tr("Rationale not saved: %1").arg(errorLine(e)));
        return;
    }
    undoStack_.push_back(current_->id);
    rationale_->clear();
    model_->refreshPair(current_->id);
    context_->notifyLocalChange();
    showCurrent();
    Q_EMIT statusMessage(tr("Rationale saved"));
}

void LabelView::editFocusedResponse() {
    if (!current_ || !context_->isOpen()) return;
    const PairView::Side side = pairView_->focusedSide();
    const QString original = pairView_->responseText(side);
    EditResponseDialog dialog(original, side == PairView::Left ? tr("left") : tr("right"), this);
    if (dialog.exec() != QDialog::Accepted) return;
    const store::Pair source = *current_;
    store::Pair added;
    added.prompt = source.prompt;
    added.promptMessages = source.promptMessages;
    added.responseA = dialog.editedText().toStdString();
    added.responseB = original.toStdString();
    added.source = "edit";
    added.split = source.split;
    QJsonObject meta;
    meta.insert(QStringLiteral("edited_from_pair"), qint64(source.id));
    meta.insert(QStringLiteral("edited_response"), QString(QChar(pairView_->storedSide(side))));
    meta.insert(QStringLiteral("editor"), context_->annotator());
    added.metadataJson = QJsonDocument(meta).toJson(QJsonDocument::Compact).toStdString();
    try {
        bool inserted = false;
        const qint64 newId = context_->project().addPair(added, &inserted);
        if (dialog.labelEditedAsBetter()) {
            store::LabelOptions options;
            options.annotator = context_->annotator().toStdString();
            options.rationale = "edited from pair #" + std::to_string(source.id);
            options.shownLeft = 'a';
            context_->project().label(newId, store::Verdict::A, options);
            undoStack_.push_back(newId);
        }
        Q_EMIT statusMessage(inserted ? tr("Added pair #%1: your edit against the original").arg(newId)
                                      : tr("The same pair already exists (#%1)").arg(newId));
    } catch (const std::exception& e) {
        Q_EMIT statusMessage(tr("Edit not saved: %1").arg(errorLine(e)));
        return;
    }
    context_->notifyLocalChange();
    refreshSources();
    selectAfterLoad_ = source.id;
    model_->reload();
}

}  // namespace dpowb::ui
