#include "adjudication_panel.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>
#include <set>

#include "label_view.h"
#include "theme.h"

namespace dpowb::ui {

namespace {
QString verdictText(const std::string& v) { return v.empty() ? QString() : QString::fromStdString(v).toUpper(); }
}  // namespace

// ---------------------------------------------------------------- AdjudicationModel

int AdjudicationModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }
int AdjudicationModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : 3 + annotatorCount(); }

qint64 AdjudicationModel::pairIdAt(int row) const {
    return row >= 0 && row < int(rows_.size()) ? rows_[size_t(row)].pairId : 0;
}

QVariant AdjudicationModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(rows_.size()) || index.column() >= columnCount()) return {};
    const store::Disagreement& d = rows_[size_t(index.row())];
    const int c = index.column();
    std::string verdict;  // of this cell
    if (c > 0 && c <= annotatorCount()) {
        for (const auto& [name, v] : d.verdicts)
            if (name == annotators_[size_t(c - 1)]) verdict = v;
    } else if (c == adjudicatedColumn()) {
        verdict = d.adjudicated;
    } else if (c == verdictColumn()) {
        verdict = d.verdict;
    }
    if (role == Qt::DisplayRole) {
        if (c == 0) return QVariant::fromValue<qlonglong>(d.pairId);
        if (c == verdictColumn() && verdict.empty()) return tr("unresolved");
        if (c > 0 && c <= annotatorCount() && verdict.empty()) return QStringLiteral("–");
        return verdictText(verdict);
    }
    if (role == Qt::ForegroundRole && c > 0 && !verdict.empty()) {
        if (auto v = store::parseVerdict(verdict)) return theme::verdictColor(*v);
    }
    if (role == Qt::TextAlignmentRole && c > 0) return QVariant(Qt::AlignCenter);
    if (role == Qt::ToolTipRole) return tr("Select to open pair %1 above; then decide it with the buttons").arg(d.pairId);
    return {};
}

QVariant AdjudicationModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= columnCount())
        return QAbstractTableModel::headerData(section, orientation, role);
    if (section == 0) return tr("Pair");
    if (section == adjudicatedColumn()) return tr("Adjudicated");
    if (section == verdictColumn()) return tr("Training verdict");
    const std::string& name = annotators_[size_t(section - 1)];
    return name.empty() ? tr("(none)") : QString::fromStdString(name);
}

void AdjudicationModel::setRows(std::vector<store::Disagreement> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    std::set<std::string> names;
    for (const auto& d : rows_)
        for (const auto& [name, v] : d.verdicts) names.insert(name);
    annotators_.assign(names.begin(), names.end());
    endResetModel();
}

// ---------------------------------------------------------------- AdjudicationPanel

AdjudicationPanel::AdjudicationPanel(QWidget* parent) : QWidget(parent) {
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    auto* head = new QHBoxLayout;
    summary_ = new QLabel(this);
    summary_->setObjectName("adjudicationSummary");
    summary_->setWordWrap(true);
    reveal_ = new QCheckBox(tr("I adjudicate: show the verdicts"), this);
    reveal_->setObjectName("revealVerdicts");
    reveal_->setFocusPolicy(Qt::NoFocus);
    head->addWidget(summary_, 1);
    head->addWidget(reveal_, 0, Qt::AlignTop);
    lay->addLayout(head);
    model_ = new AdjudicationModel(this);
    table_ = new QTableView(this);
    table_->setObjectName("adjudicationTable");
    table_->setModel(model_);
    table_->verticalHeader()->hide();
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setFocusPolicy(Qt::NoFocus);
    table_->horizontalHeader()->setStretchLastSection(true);
    lay->addWidget(table_, 1);
    covered_ = new QLabel(tr("Blind mode: the annotators' verdicts are not shown here while others label. "
                             "Tick \"I adjudicate\" to see and decide the disagreements."),
                          this);
    covered_->setWordWrap(true);
    lay->addWidget(covered_, 1);

    buttons_ = new QWidget(this);
    auto* row = new QHBoxLayout(buttons_);
    row->setContentsMargins(0, 0, 0, 0);
    auto* decideLabel = new QLabel(tr("Decide the selected pair:"), buttons_);
    row->addWidget(decideLabel);
    const std::pair<QString, LabelView::Choice> choices[] = {{tr("Left better"), LabelView::Choice::LeftBetter},
                                                             {tr("Right better"), LabelView::Choice::RightBetter},
                                                             {tr("Tie"), LabelView::Choice::Tie},
                                                             {tr("Both bad"), LabelView::Choice::BothBad}};
    for (const auto& [text, choice] : choices) {
        auto* b = new QPushButton(text, buttons_);
        b->setFocusPolicy(Qt::NoFocus);
        b->setObjectName(QStringLiteral("adjudicate%1").arg(int(choice)));
        connect(b, &QPushButton::clicked, this, [this, c = choice] {
            if (const qint64 id = selectedPair()) Q_EMIT decide(id, int(c), false);
        });
        row->addWidget(b);
    }
    auto* undo = new QPushButton(tr("Undo adjudication"), buttons_);
    undo->setObjectName("undoAdjudication");
    undo->setFocusPolicy(Qt::NoFocus);
    connect(undo, &QPushButton::clicked, this, [this] {
        if (const qint64 id = selectedPair()) Q_EMIT decide(id, 0, true);
    });
    row->addWidget(undo);
    row->addStretch(1);
    lay->addWidget(buttons_);

    connect(reveal_, &QCheckBox::toggled, this, &AdjudicationPanel::updateVisibility);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& i) {
        if (i.isValid()) Q_EMIT pairActivated(model_->pairIdAt(i.row()));
    });
    setRows({});
}

qint64 AdjudicationPanel::selectedPair() const {
    const QModelIndex i = table_->currentIndex();
    return i.isValid() ? model_->pairIdAt(i.row()) : 0;
}

void AdjudicationPanel::setMode(store::AnnotationMode mode) {
    mode_ = mode;
    if (mode_ != store::AnnotationMode::Blind) reveal_->setChecked(false);
    updateVisibility();
}

void AdjudicationPanel::setRows(std::vector<store::Disagreement> rows) {
    const qint64 keep = selectedPair();
    int open = 0;
    for (const auto& d : rows) open += d.adjudicated.empty();
    const int total = int(rows.size());
    model_->setRows(std::move(rows));
    table_->resizeColumnsToContents();
    for (int r = 0; r < model_->rowCount(); ++r)
        if (keep && model_->pairIdAt(r) == keep) table_->selectRow(r);
    const QString rule = mode_ == store::AnnotationMode::Single
                             ? tr("Annotation mode single: the latest label decides; `dpowb annotation-mode DB consensus` "
                                  "makes the majority the rule.")
                             : tr("A pair's training verdict is the adjudication, else the verdict of more than half "
                                  "of its annotators, else none (unresolved, left out of training).");
    summary_->setText(tr("%n disagreement(s), %1 not adjudicated. ", nullptr, total).arg(open) + rule);
    updateVisibility();
}

void AdjudicationPanel::updateVisibility() {
    const bool blind = mode_ == store::AnnotationMode::Blind;
    reveal_->setVisible(blind);
    const bool shown = !blind || reveal_->isChecked();
    table_->setVisible(shown);
    buttons_->setVisible(shown);
    covered_->setVisible(!shown);
}

}  // namespace dpowb::ui
