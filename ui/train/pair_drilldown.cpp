#include "pair_drilldown.h"

#include <QComboBox>

#include <algorithm>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QKeyEvent>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "pair_outcomes_model.h"
#include "store/project.h"
#include "theme.h"

namespace dpowb::ui {

PairDrillDown::PairDrillDown(QWidget* parent) : QWidget(parent) {
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    auto* head = new QHBoxLayout;
    split_ = new QComboBox(this);
    split_->setObjectName("drillSplit");
    split_->addItem(tr("Eval pairs"), QStringLiteral("eval"));
    split_->addItem(tr("Train pairs"), QStringLiteral("train"));
    split_->setToolTip(tr("Eval: the test pairs, at each evaluation of the run. Train: the pairs scored by "
                          "dpowb score-pairs --run N --split train."));
    step_ = new QComboBox(this);
    step_->setObjectName("drillStep");
    step_->setToolTip(tr("The evaluation step to show"));
    filter_ = new QComboBox(this);
    filter_->setObjectName("drillFilter");
    filter_->addItem(tr("All pairs"), int(store::OutcomeFilter::All));
    filter_->addItem(tr("Flipped (margin < 0)"), int(store::OutcomeFilter::Flipped));
    filter_->addItem(tr("Worst margins"), int(store::OutcomeFilter::Worst));
    filter_->addItem(tr("Largest change since step 0"), int(store::OutcomeFilter::Changed));
    open_ = new QPushButton(tr("Open in Compare"), this);
    open_->setToolTip(tr("The pair in the Compare page, scored with its token log-ratio heat map (Enter)"));
    relabel_ = new QPushButton(tr("Send to relabel"), this);
    relabel_->setToolTip(tr("Save the selected pairs (none selected: all shown) as a filter of the Label page (R)"));
    head->addWidget(split_);
    head->addWidget(new QLabel(tr("Step"), this));
    head->addWidget(step_);
    head->addWidget(filter_);
    head->addStretch(1);
    head->addWidget(open_);
    head->addWidget(relabel_);
    lay->addLayout(head);
    summary_ = new QLabel(this);
    summary_->setObjectName("drillSummary");
    summary_->setWordWrap(true);
    summary_->setStyleSheet(QStringLiteral("color: %1").arg(theme::mutedText().name()));
    lay->addWidget(summary_);

    model_ = new PairOutcomesModel(this);
    proxy_ = new PairOutcomesProxy(this);
    proxy_->setSourceModel(model_);
    table_ = new QTableView(this);
    table_->setObjectName("drillTable");
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(PairOutcomesModel::PairId, Qt::AscendingOrder);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setWordWrap(false);
    table_->installEventFilter(this);
    lay->addWidget(table_, 1);

    connect(split_, qOverload<int>(&QComboBox::activated), this, [this] { load(-1); });
    connect(step_, qOverload<int>(&QComboBox::activated), this,
            [this](int i) { load(step_->itemData(i).toLongLong()); });
    connect(filter_, qOverload<int>(&QComboBox::activated), this,
            [this](int i) { setFilter(store::OutcomeFilter(filter_->itemData(i).toInt())); });
    connect(table_, &QTableView::activated, this, [this](const QModelIndex&) { openCurrent(); });
    connect(open_, &QPushButton::clicked, this, &PairDrillDown::openCurrent);
    connect(relabel_, &QPushButton::clicked, this, &PairDrillDown::sendToRelabel);
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &PairDrillDown::updateButtons);
    connect(&loadWatcher_, &QFutureWatcher<Loaded>::finished, this, &PairDrillDown::onLoaded);
    connect(&saveWatcher_, &QFutureWatcher<Saved>::finished, this, [this] {
        const Saved s = saveWatcher_.result();
        updateButtons();
        if (!s.error.isEmpty()) {
            Q_EMIT statusMessage(tr("Send to relabel: %1").arg(s.error));
            return;
        }
        Q_EMIT statusMessage(tr("%n pair(s) saved as \"%1\": pick it in the Label page's filters", nullptr, s.pairs).arg(s.name));
        Q_EMIT pairSetSaved(s.setId, s.name, s.pairs);
    });
    updateSummary();
    updateButtons();
}

PairDrillDown::~PairDrillDown() {
    loadWatcher_.waitForFinished();
    saveWatcher_.waitForFinished();
}

void PairDrillDown::setProjectPath(const QString& path) {
    if (path == path_) return;
    path_ = path;
    runId_ = 0;
    shown_.reset();
    model_->setRows({});
    step_->clear();
    updateSummary();
    updateButtons();
}

void PairDrillDown::setRun(qint64 runId) {
    if (runId == runId_ && (shown_ || isLoading())) return;
    // Another run: nothing of the previous one stays on screen (or in reach of Enter and R)
    // while this one loads.
    runId_ = runId;
    shown_.reset();
    error_.clear();
    model_->setRows({});
    step_->clear();
    updateSummary();
    updateButtons();
    if (runId_ > 0) load(-1);
}

void PairDrillDown::reload() {
    if (runId_ <= 0) return;
    const bool atLatest = !shown_ || shown_->steps.empty() || shown_->step == shown_->steps.back();
    load(atLatest ? -1 : shown_->step);
}

bool PairDrillDown::isLoading() const { return loadWatcher_.isRunning(); }

void PairDrillDown::setSplit(const QString& split) {
    const int i = split_->findData(split);
    if (i < 0 || i == split_->currentIndex()) return;
    split_->setCurrentIndex(i);
    load(-1);
}

void PairDrillDown::setFilter(store::OutcomeFilter filter) {
    filter_->setCurrentIndex(filter_->findData(int(filter)));
    proxy_->setOutcomeFilter(filter, 20);
    // The table's sort indicator follows the filter's order.
    table_->horizontalHeader()->setSortIndicator(proxy_->sortColumn(), proxy_->sortOrder());
    updateSummary();
    updateButtons();
}

void PairDrillDown::load(qint64 step) {
    if (path_.isEmpty() || runId_ <= 0) return;
    if (loadWatcher_.isRunning()) {
        again_ = true;
        againStep_ = step;
        return;
    }
    store::DrillDownQuery q;
    q.runId = runId_;
    q.split = split_->currentData().toString().toStdString();
    q.step = step;
    q.filter = store::OutcomeFilter::All;  // the proxy filters, so changing the filter needs no reload
    q.limit = 0;
    const std::string path = path_.toStdString();
    const quint64 generation = ++generation_;
    summary_->setText(tr("Loading the per-pair outcomes of run %1…").arg(runId_));
    // Its own connection: one connection never crosses threads.
    loadWatcher_.setFuture(QtConcurrent::run([path, q, generation]() -> Loaded {
        Loaded l;
        l.generation = generation;
        try {
            auto project = store::Project::openReadOnly(path);
            l.table = store::loadDrillDown(project, q);
        } catch (const std::exception& e) {
            l.error = QString::fromUtf8(e.what());
        }
        return l;
    }));
}

void PairDrillDown::onLoaded() {
    Loaded l = loadWatcher_.result();
    if (again_) {
        again_ = false;
        load(againStep_);
        return;
    }
    if (l.generation != generation_) return;
    error_ = l.error;
    if (!l.table) {
        shown_.reset();
        model_->setRows({});
    } else {
        // Keep the selection's pairs across a reload (a live run's next evaluation).
        const QList<qint64> keep = selectedPairIds();
        shown_ = std::move(l.table);
        step_->clear();
        for (auto s : shown_->steps) step_->addItem(QString::number(s), qint64(s));
        step_->setCurrentIndex(step_->findData(qint64(shown_->step)));
        model_->setRows(shown_->rows);
        if (!keep.isEmpty()) {
            auto* sel = table_->selectionModel();
            for (int r = 0; r < proxy_->rowCount(); ++r)
                if (keep.contains(proxy_->index(r, 0).data(PairOutcomesModel::PairIdRole).toLongLong()))
                    sel->select(proxy_->index(r, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
        }
    }
    updateSummary();
    updateButtons();
    Q_EMIT loaded();
}

QList<qint64> PairDrillDown::selectedPairIds() const {
    QList<qint64> ids;
    auto rows = table_->selectionModel()->selectedRows();
    std::sort(rows.begin(), rows.end(), [](const QModelIndex& a, const QModelIndex& b) { return a.row() < b.row(); });
    for (const auto& i : rows) ids << i.data(PairOutcomesModel::PairIdRole).toLongLong();
    return ids;
}

QString PairDrillDown::relabelSetName(qint64 runId) { return tr("To relabel (run %1)").arg(runId); }

bool PairDrillDown::sendToRelabel() {
    if (saveWatcher_.isRunning() || path_.isEmpty() || runId_ <= 0) return false;
    QList<qint64> ids = selectedPairIds();
    if (ids.isEmpty())
        for (int r = 0; r < proxy_->rowCount(); ++r) ids << proxy_->index(r, 0).data(PairOutcomesModel::PairIdRole).toLongLong();
    if (ids.isEmpty()) {
        Q_EMIT statusMessage(tr("Send to relabel: no pairs shown"));
        return false;
    }
    const std::string path = path_.toStdString();
    const QString name = relabelSetName(runId_);
    const qint64 run = runId_;
    std::vector<int64_t> pairIds(ids.begin(), ids.end());
    relabel_->setEnabled(false);
    saveWatcher_.setFuture(QtConcurrent::run([path, name, run, pairIds]() -> Saved {
        Saved s;
        s.name = name;
        s.pairs = int(pairIds.size());
        try {
            auto project = store::Project::open(path);
            s.setId = store::savePairSet(project, name.toStdString(), run, pairIds);
        } catch (const std::exception& e) {
            s.error = QString::fromUtf8(e.what());
        }
        return s;
    }));
    return true;
}

void PairDrillDown::openCurrent() {
    const QModelIndex i = table_->currentIndex();
    if (!i.isValid() || runId_ <= 0) return;
    Q_EMIT openPairRequested(runId_, i.data(PairOutcomesModel::PairIdRole).toLongLong());
}

QString PairDrillDown::summaryText() const { return summary_->text(); }

void PairDrillDown::updateSummary() {
    if (runId_ <= 0) {
        summary_->setText(tr("Select a run in the history to see how it scores each pair."));
        return;
    }
    if (!error_.isEmpty()) {
        summary_->setText(tr("Could not read the per-pair outcomes of run %1: %2").arg(runId_).arg(error_));
        return;
    }
    if (!shown_) return;
    if (shown_->step < 0) {
        summary_->setText(shown_->split == "eval"
                              ? tr("Run %1 has no per-pair outcomes of its eval pairs: it records them at each "
                                   "evaluation (test pairs and --eval-steps), from step 0.")
                                    .arg(runId_)
                              : tr("Run %1 has no outcomes of its train pairs: score them with "
                                   "dpowb score-pairs DB --run %1 --split train.")
                                    .arg(runId_));
        return;
    }
    int flipped = 0;
    for (const auto& r : shown_->rows) flipped += r.outcome.margin() < 0;
    QString text = tr("Run %1, step %2: %3 of %4 pairs shown · %5 flipped (margin < 0)")
                       .arg(runId_)
                       .arg(shown_->step)
                       .arg(proxy_->rowCount())
                       .arg(shown_->pairsAtStep)
                       .arg(flipped);
    if (shown_->baseStep != shown_->step) text += tr(" · change since step %1").arg(shown_->baseStep);
    else if (proxy_->outcomeFilter() == store::OutcomeFilter::Changed) text += tr(" · one evaluation only: no change yet");
    summary_->setText(text);
}

void PairDrillDown::updateButtons() {
    const bool any = proxy_->rowCount() > 0;
    open_->setEnabled(any && table_->currentIndex().isValid());
    relabel_->setEnabled(any && !saveWatcher_.isRunning());
}

bool PairDrillDown::eventFilter(QObject* watched, QEvent* event) {
    if (watched == table_ && event->type() == QEvent::KeyPress) {
        auto* k = static_cast<QKeyEvent*>(event);
        if (k->key() == Qt::Key_R && (k->modifiers() & ~Qt::KeypadModifier) == Qt::NoModifier) {
            sendToRelabel();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

}  // namespace dpowb::ui
