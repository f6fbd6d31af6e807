#include "label_analytics.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <cmath>

#include "error_line.h"
#include "store/project.h"

namespace dpowb::ui {

namespace {

QString pct(double share) { return std::isfinite(share) ? QString::number(100.0 * share, 'f', 1) + "%" : QStringLiteral("–"); }

QString num(double v, int decimals = 3) { return std::isfinite(v) ? QString::number(v, 'f', decimals) : QStringLiteral("–"); }

}  // namespace

// ---------------------------------------------------------------- AnnotatorModel

int AnnotatorModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }
int AnnotatorModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant AnnotatorModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(rows_.size()) || index.column() >= ColumnCount) return {};
    const auto& s = rows_[size_t(index.row())];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Annotator: return s.annotator.empty() ? tr("(none)") : QString::fromStdString(s.annotator);
        case Labels: return QVariant::fromValue<qlonglong>(s.total());
        case A: return QVariant::fromValue<qlonglong>(s.a);
        case B: return QVariant::fromValue<qlonglong>(s.b);
        case Tie: return QVariant::fromValue<qlonglong>(s.tie);
        case BothBad: return QVariant::fromValue<qlonglong>(s.bothBad);
        case Skip: return QVariant::fromValue<qlonglong>(s.skip);
        case PerHour: return std::isfinite(s.labelsPerHour) ? QVariant(qlonglong(std::llround(s.labelsPerHour))) : QVariant(QStringLiteral("–"));
        case LeftShare: return s.leftBetter.n > 0 ? QVariant(pct(s.leftBetter.share)) : QVariant(QStringLiteral("–"));
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole && index.column() == LeftShare && s.leftBetter.n > 0)
        return tr("%1 of %2 a/b verdicts chose the left side (95% CI %3–%4)")
            .arg(s.leftBetter.k)
            .arg(s.leftBetter.n)
            .arg(pct(s.leftBetter.low), pct(s.leftBetter.high));
    if (role == Qt::TextAlignmentRole && index.column() != Annotator) return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant AnnotatorModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return QAbstractTableModel::headerData(section, orientation, role);
    static const char* names[] = {"Annotator", "Labels", "A", "B", "Tie", "Both bad", "Skip", "Per hour", "Left chosen"};
    return section >= 0 && section < ColumnCount ? tr(names[section]) : QVariant();
}

void AnnotatorModel::setRows(std::vector<store::AnnotatorSummary> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

// ---------------------------------------------------------------- DisagreementModel

int DisagreementModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }
int DisagreementModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant DisagreementModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(rows_.size()) || index.column() >= ColumnCount) return {};
    const auto& d = rows_[size_t(index.row())];
    if (role == Qt::DisplayRole) {
        if (index.column() == PairId) return QVariant::fromValue<qlonglong>(d.pairId);
        QStringList parts;
        for (const auto& [name, verdict] : d.verdicts)
            parts << QString::fromStdString(name) + ": " + QString::fromStdString(verdict);
        return parts.join(QStringLiteral(" · "));
    }
    if (role == Qt::ToolTipRole) return tr("Double-click to open pair %1").arg(d.pairId);
    return {};
}

QVariant DisagreementModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return QAbstractTableModel::headerData(section, orientation, role);
    if (section == PairId) return tr("Pair");
    if (section == Verdicts) return tr("Verdicts (annotator: verdict)");
    return {};
}

void DisagreementModel::setRows(std::vector<store::Disagreement> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

// ---------------------------------------------------------------- panel

LabelAnalyticsPanel::LabelAnalyticsPanel(QWidget* parent) : QWidget(parent) {
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    auto* head = new QHBoxLayout;
    summary_ = new QLabel(tr("Labeling analytics: not computed yet"), this);
    summary_->setObjectName("analyticsSummary");
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    refreshButton_ = new QPushButton(tr("Refresh"), this);
    refreshButton_->setFocusPolicy(Qt::NoFocus);
    head->addWidget(summary_, 1);
    head->addWidget(refreshButton_, 0, Qt::AlignTop);
    lay->addLayout(head);
    auto* tables = new QHBoxLayout;
    annotators_ = new AnnotatorModel(this);
    annotatorTable_ = new QTableView(this);
    annotatorTable_->setObjectName("annotatorTable");
    annotatorTable_->setModel(annotators_);
    annotatorTable_->verticalHeader()->hide();
    annotatorTable_->setFocusPolicy(Qt::NoFocus);
    disagreements_ = new DisagreementModel(this);
    disagreementTable_ = new QTableView(this);
    disagreementTable_->setObjectName("disagreementTable");
    disagreementTable_->setModel(disagreements_);
    disagreementTable_->verticalHeader()->hide();
    disagreementTable_->horizontalHeader()->setStretchLastSection(true);
    disagreementTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    disagreementTable_->setFocusPolicy(Qt::NoFocus);
    tables->addWidget(annotatorTable_, 3);
    tables->addWidget(disagreementTable_, 2);
    lay->addLayout(tables, 1);
    connect(refreshButton_, &QPushButton::clicked, this, &LabelAnalyticsPanel::refresh);
    connect(disagreementTable_, &QTableView::doubleClicked, this, [this](const QModelIndex& i) {
        if (i.isValid()) Q_EMIT pairActivated(disagreements_->pairIdAt(i.row()));
    });
    connect(&watcher_, &QFutureWatcher<Outcome>::finished, this, [this] {
        show(watcher_.result());
        if (again_) {
            again_ = false;
            refresh();
        }
    });
}

LabelAnalyticsPanel::~LabelAnalyticsPanel() { watcher_.waitForFinished(); }

void LabelAnalyticsPanel::setProjectPath(const QString& path) {
    if (path == path_) return;
    path_ = path;
    result_.reset();
    annotators_->setRows({});
    disagreements_->setRows({});
    summary_->setText(tr("Labeling analytics: not computed yet"));
}

void LabelAnalyticsPanel::refresh() {
    if (path_.isEmpty()) return;
    if (watcher_.isRunning()) {
        again_ = true;
        return;
    }
    const std::string path = path_.toStdString();
    refreshButton_->setEnabled(false);
    // Its own connection: one connection never crosses threads.
    watcher_.setFuture(QtConcurrent::run([path]() -> Outcome {
        Outcome o;
        try {
            auto project = store::Project::openReadOnly(path);
            o.analytics = store::labelAnalytics(project);
        } catch (const std::exception& e) {
            o.error = errorLine(e);
        }
        return o;
    }));
}

QString LabelAnalyticsPanel::summaryText() const { return summary_->text(); }

void LabelAnalyticsPanel::show(const Outcome& o) {
    refreshButton_->setEnabled(true);
    if (!o.analytics) {
        summary_->setText(tr("Labeling analytics could not be computed: %1").arg(o.error));
        return;
    }
    result_ = o.analytics;
    render();
}

void LabelAnalyticsPanel::setBlindViewer(const QString& annotator) {
    if (annotator == blindViewer_) return;
    blindViewer_ = annotator;
    if (result_) render();
}

void LabelAnalyticsPanel::render() {
    const auto& a = *result_;
    const std::string viewer = blindViewer_.toStdString();
    const bool blind = !viewer.empty();
    // Blind: what would tell the viewer others' verdicts on pairs they have not labelled
    // stays out (the others' verdict mixes, the agreement, the other disagreements).
    std::vector<store::AnnotatorSummary> annotators;
    for (const auto& s : a.annotators)
        if (!blind || s.annotator == viewer) annotators.push_back(s);
    std::vector<store::Disagreement> disagreements;
    for (const auto& d : a.disagreements) {
        bool mine = !blind;
        for (const auto& v : d.verdicts) mine |= v.first == viewer;
        if (mine) disagreements.push_back(d);
    }
    QStringList lines;
    if (a.leftBetter.n == 0) {
        lines << tr("Position bias: no a/b verdicts given in this view yet.");
    } else {
        QString bias = tr("Position bias: %1 of %2 a/b verdicts chose the left side (95% CI %3–%4).")
                           .arg(pct(a.leftBetter.share))
                           .arg(a.leftBetter.n)
                           .arg(pct(a.leftBetter.low), pct(a.leftBetter.high));
        if (a.positionBias) bias = QStringLiteral("<b style='color:#9a3412'>") + tr("Warning: ") + bias + " " +
                                   tr("Beyond 60/40: the side, not the text, may be deciding.") + QStringLiteral("</b>");
        lines << bias;
    }
    lines << tr("Labels in the last hour: %1, last day: %2; %3 per hour of active labelling.")
                 .arg(a.labelsLastHour)
                 .arg(a.labelsLastDay)
                 .arg(std::isfinite(a.labelsPerHour) ? QString::number(std::llround(a.labelsPerHour)) : QStringLiteral("–"));
    if (blind) {
        lines << tr("Agreement: hidden while you label blind (tick “I adjudicate” on the Adjudication tab to "
                    "see it); %n disagreement(s) on pairs you labelled.", nullptr, int(disagreements.size()));
    } else if (a.raters.size() >= 2) {
        QString agree = tr("Agreement: %1 pairs judged by %2 annotators").arg(a.pairsWithSeveral).arg(a.raters.size());
        if (std::isfinite(a.cohenKappa)) agree += tr(", Cohen's κ %1 (%2 pairs)").arg(num(a.cohenKappa)).arg(a.kappaPairs);
        agree += tr(", Krippendorff's α %1; %2 disagreements to adjudicate.").arg(num(a.krippendorffAlpha)).arg(a.disagreements.size());
        lines << agree;
    } else {
        lines << tr("Agreement: no pair has labels from two annotators yet.");
    }
    summary_->setText(lines.join(QStringLiteral("<br>")));
    annotators_->setRows(std::move(annotators));
    disagreements_->setRows(std::move(disagreements));
    annotatorTable_->resizeColumnsToContents();
    disagreementTable_->resizeColumnToContents(DisagreementModel::PairId);
    Q_EMIT updated();
}

}  // namespace dpowb::ui
