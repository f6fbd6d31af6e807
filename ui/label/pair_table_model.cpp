#include "pair_table_model.h"

#include <QDateTime>
#include <QFont>
#include <QtConcurrent/QtConcurrentRun>

#include "common/error.h"
#include "error_line.h"
#include "project_context.h"
#include "store/project.h"
#include "theme.h"

namespace dpowb::ui {

namespace {

QString oneLine(const std::string& text, int maxChars) {
    // Cut before converting: a prompt can be megabytes long.
    QString s = QString::fromUtf8(text.data(), qsizetype(std::min<size_t>(text.size(), size_t(maxChars) * 4)));
    s = s.simplified();
    if (s.size() > maxChars) s = s.left(maxChars - 1) + QChar(0x2026);
    return s;
}

QString promptExcerpt(const store::Pair& p) {
    if (!p.isChat()) return oneLine(p.prompt, 160);
    // The last user turn is what the responses answer.
    for (auto it = p.promptMessages.rbegin(); it != p.promptMessages.rend(); ++it)
        if (it->role == "user") return oneLine(it->content, 160);
    return oneLine(p.promptMessages.back().content, 160);
}

}  // namespace

PairTableModel::PairTableModel(ProjectContext* context, QObject* parent)
    : QAbstractTableModel(parent), context_(context) {}

PairTableModel::~PairTableModel() = default;

void PairTableModel::setFilter(const store::PairQuery& filter, bool blind) {
    const auto order = query_.order;
    query_ = filter;
    blind_ = blind && !filter.annotator.empty();
    query_.order = order;
    query_.limit = -1;
    query_.offset = 0;
    reload();
}

void PairTableModel::reload() {
    if (!context_->isOpen()) {
        beginResetModel();
        ids_.clear();
        clearCache();
        endResetModel();
        return;
    }
    const quint64 generation = ++generation_;
    loading_ = true;
    const std::string path = context_->path().toStdString();
    const store::PairQuery query = query_;
    const bool onlyVisible = blind_ && query_.verdict == store::VerdictFilter::Unresolved;
    auto* watcher = new QFutureWatcher<IdsResult>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation != generation_) return;  // a newer query superseded this one
        loading_ = false;
        IdsResult result = watcher->result();
        if (!result.error.isEmpty()) {
            Q_EMIT loadFailed(result.error);
            return;
        }
        beginResetModel();
        ids_ = std::move(result.ids);
        clearCache();
        chunksFetched_ = 0;
        endResetModel();
        Q_EMIT loaded();
    });
    watcher->setFuture(QtConcurrent::run([path, query, onlyVisible]() -> IdsResult {
        // QFuture keeps only QException messages: carry the store's error as a value.
        IdsResult out;
        try {
            auto project = store::Project::openReadOnly(path);
            std::vector<int64_t> ids = project.pairIds(query);
            out.ids.reserve(ids.size());
            for (int64_t id : ids)  // blind: whether others disagree is theirs until one labels
                if (!onlyVisible || !project.verdictsFor(id, query.annotator).hidden) out.ids.push_back(id);
        } catch (const std::exception& e) {
            out.error = errorLine(e);
        }
        return out;
    }));
}

void PairTableModel::clearCache() {
    chunks_.clear();
    lru_.clear();
}

int PairTableModel::cachedRows() const {
    int n = 0;
    for (const Chunk& c : chunks_) n += int(c.rows.size());
    return n;
}

void PairTableModel::refreshPair(qint64 pairId) {
    const int row = rowOfPair(pairId);
    if (row < 0) return;
    const int key = row / kChunkRows;
    chunks_.remove(key);
    lru_.removeAll(key);
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

qint64 PairTableModel::pairIdAt(int row) const {
    if (row < 0 || size_t(row) >= ids_.size()) return 0;
    return ids_[size_t(row)];
}

int PairTableModel::rowOfPair(qint64 pairId) const {
    // Ids are usually in ascending order: try a binary search first, then a scan (other
    // orders). A scan of a million int64 takes about a millisecond.
    if (query_.order == store::PairQuery::Order::Id) {
        auto it = std::lower_bound(ids_.begin(), ids_.end(), pairId);
        if (it != ids_.end() && *it == pairId) return int(it - ids_.begin());
    }
    auto it = std::find(ids_.begin(), ids_.end(), pairId);
    return it == ids_.end() ? -1 : int(it - ids_.begin());
}

std::optional<store::Verdict> PairTableModel::verdictAt(int row) const {
    const Row* r = rowAt(row);
    return r ? r->verdict : std::nullopt;
}

const PairTableModel::Row* PairTableModel::rowAt(int row) const {
    if (row < 0 || size_t(row) >= ids_.size()) return nullptr;
    const int key = row / kChunkRows;
    auto it = chunks_.find(key);
    if (it == chunks_.end()) {
        Chunk chunk;
        const int first = key * kChunkRows;
        const int last = std::min<int>(int(ids_.size()), first + kChunkRows);
        chunk.rows.reserve(size_t(last - first));
        auto& project = context_->project();
        for (int r = first; r < last; ++r) {
            Row out;
            out.id = ids_[size_t(r)];
            std::optional<store::Pair> p;
            try {
                p = project.pair(out.id);
            } catch (const std::exception&) {
                p.reset();
            }
            if (!p) {
                out.missing = true;
            } else {
                out.prompt = promptExcerpt(*p);
                out.verdict = p->verdict;
                out.strength = p->labelStrength;
                if (!query_.annotator.empty()) {  // several annotators: this one's own label
                    try {
                        const store::PairVerdicts own = project.verdictsFor(out.id, query_.annotator);
                        out.verdict = own.mine;
                        out.strength = own.mineStrength;
                    } catch (const std::exception&) {
                        out.verdict.reset();
                    }
                }
                out.split = QString::fromStdString(p->split);
                out.source = QString::fromStdString(p->source);
                // Measured as the store measures it for ORDER BY length (UTF-8 bytes, chat
                // turns joined by a blank line), so the column agrees with its sort order.
                qint64 promptBytes = qint64(p->prompt.size());
                if (p->isChat()) {
                    promptBytes = 0;
                    for (const auto& m : p->promptMessages) promptBytes += qint64(m.content.size()) + 2;
                    promptBytes -= 2;
                }
                out.length = promptBytes + qint64(p->responseA.size()) + qint64(p->responseB.size());
                out.createdAt = p->createdAt;
            }
            chunk.rows.push_back(std::move(out));
        }
        ++chunksFetched_;
        it = chunks_.insert(key, std::move(chunk));
        lru_.prepend(key);
        while (lru_.size() > kCachedChunks) chunks_.remove(lru_.takeLast());
        it = chunks_.find(key);
    } else if (!lru_.isEmpty() && lru_.front() != key) {
        lru_.removeOne(key);
        lru_.prepend(key);
    }
    return &it->rows[size_t(row - key * kChunkRows)];
}

int PairTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(ids_.size());
}

int PairTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant PairTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    if (role == PairIdRole) return pairIdAt(index.row());
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole && role != Qt::ForegroundRole &&
        role != Qt::TextAlignmentRole && role != VerdictRole && role != Qt::FontRole)
        return {};
    const Row* r = rowAt(index.row());
    if (!r) return {};
    if (role == VerdictRole) return r->verdict ? QString::fromLatin1(store::toString(*r->verdict)) : QString();
    if (role == Qt::TextAlignmentRole) {
        if (index.column() == IdColumn || index.column() == LengthColumn)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return int(Qt::AlignLeft | Qt::AlignVCenter);
    }
    if (role == Qt::ForegroundRole) {
        if (index.column() == LabelColumn) return theme::verdictColor(r->verdict);
        if (index.column() != PromptColumn) return theme::mutedText();
        return {};
    }
    if (role == Qt::FontRole) {
        if (index.column() == LabelColumn) {
            QFont f;
            f.setBold(true);
            return f;
        }
        return {};
    }
    if (r->missing) return index.column() == IdColumn ? QVariant(r->id) : QVariant(tr("(removed)"));
    switch (index.column()) {
    case IdColumn: return r->id;
    case PromptColumn: return r->prompt;
    case LabelColumn:
        // In the words of the screen (this pair's left and right as this annotator sees
        // them), with the stored A/B alongside.
        if (role == Qt::ToolTipRole)
            return theme::verdictExplanation(r->verdict, r->strength, context_->shownLeftFor(r->id));
        return theme::screenVerdictShort(r->verdict, r->strength, context_->shownLeftFor(r->id));
    case SplitColumn: return r->split;
    case SourceColumn: return r->source;
    case LengthColumn: return r->length;
    case TimeColumn:
        return QDateTime::fromMSecsSinceEpoch(r->createdAt).toString(QStringLiteral("yyyy-MM-dd hh:mm"));
    }
    return {};
}

QVariant PairTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case IdColumn: return tr("#");
        case PromptColumn: return tr("Prompt");
        case LabelColumn: return tr("Label");
        case SplitColumn: return tr("Split");
        case SourceColumn: return tr("Source");
        case LengthColumn: return tr("Length");
        case TimeColumn: return tr("Added");
        }
    }
    if (role == Qt::ToolTipRole) {
        if (section == LengthColumn) return tr("Size of the prompt and both responses in bytes (UTF-8)");
        if (!isSortable(section)) return tr("Not sortable");
    }
    return {};
}

bool PairTableModel::isSortable(int column) {
    return column == IdColumn || column == LabelColumn || column == LengthColumn || column == TimeColumn;
}

void PairTableModel::sort(int column, Qt::SortOrder order) {
    using O = store::PairQuery::Order;
    const bool asc = order == Qt::AscendingOrder;
    O next = query_.order;
    switch (column) {
    case IdColumn: next = asc ? O::Id : O::IdDesc; break;
    case LabelColumn: next = O::Verdict; break;
    case LengthColumn: next = asc ? O::Length : O::LengthDesc; break;
    case TimeColumn: next = asc ? O::Created : O::CreatedDesc; break;
    default: return;
    }
    if (next == query_.order && !ids_.empty()) return;
    query_.order = next;
    reload();
}

}  // namespace dpowb::ui
