#include "runs_model.h"

#include "train/trainer.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <cmath>
#include <limits>

#include "error_line.h"

namespace dpowb::ui {

namespace {

QJsonObject parseObject(const std::string& json) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(json)).object();
}

QString formatNumber(double v) {
    return std::isnan(v) ? QString() : QString::number(v, 'g', 4);
}

}  // namespace

RunsModel::RunsModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunsModel::setRuns(std::vector<store::RunRecord> runs) {
    bool sameRows = runs.size() == runs_.size();
    for (size_t i = 0; sameRows && i < runs.size(); ++i) sameRows = runs[i].id == runs_[i].id;
    if (sameRows) {
        runs_ = std::move(runs);
        if (!runs_.empty()) Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        return;
    }
    beginResetModel();
    runs_ = std::move(runs);
    endResetModel();
}

const store::RunRecord* RunsModel::runAt(int row) const {
    return row >= 0 && row < static_cast<int>(runs_.size()) ? &runs_[row] : nullptr;
}

int RunsModel::rowOf(qint64 runId) const {
    for (size_t i = 0; i < runs_.size(); ++i)
        if (runs_[i].id == runId) return static_cast<int>(i);
    return -1;
}

double RunsModel::summaryValue(const store::RunRecord& run, const char* metric) {
    const QJsonObject summary = parseObject(run.summaryJson);
    // The summary holds the final train metrics, either at the top level or under "train".
    for (const char* section : {"train", "finalTrain", "final_train"}) {
        const QJsonValue v = summary.value(QLatin1String(section)).toObject().value(QLatin1String(metric));
        if (v.isDouble()) return v.toDouble();
    }
    const QJsonValue v = summary.value(QLatin1String(metric));
    return v.isDouble() ? v.toDouble() : std::numeric_limits<double>::quiet_NaN();
}

QString RunsModel::configSummary(const std::string& configJson) {
    train::TrainConfig c;
    try {
        c = train::TrainConfig::fromJson(configJson);
    } catch (const std::exception& e) {
        return errorLine(e);
    }
    QStringList parts;
    const QString model = QString::fromStdString(c.model);
    const int slash = model.lastIndexOf('/');
    parts << (slash >= 0 ? model.mid(slash + 1) : model);
    parts << QString::fromStdString(c.loss);
    parts << QStringLiteral("β=%1").arg(c.beta);
    parts << QStringLiteral("lr=%1").arg(c.lr, 0, 'g', 3);
    if (c.maxSteps > 0)
        parts << tr("%1 steps").arg(c.maxSteps);
    else
        parts << tr("%1 ep").arg(c.epochs);
    parts << tr("batch %1×%2").arg(c.batchSize).arg(c.gradAccum);
    parts << (c.loraRank > 0 ? tr("LoRA r=%1").arg(c.loraRank) : tr("full"));
    if (c.precomputeRef) parts << tr("precomputed ref");
    if (c.sftEpochs > 0) parts << tr("SFT %1 ep on %2").arg(c.sftEpochs).arg(QString::fromStdString(c.sftOn));
    return parts.join(QStringLiteral(" · "));
}

int RunsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(runs_.size());
}

int RunsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RunsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const store::RunRecord& run = runs_[index.row()];
    switch (role) {
    case RunIdRole: return QVariant::fromValue<qint64>(run.id);
    case StatusRole: return QString::fromLatin1(store::toString(run.status));
    case OutputDirRole: return QString::fromStdString(run.outputDir);
    case ErrorRole: return errorLine(run.error);
    default: break;
    }
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Id: return QVariant::fromValue<qint64>(run.id);
        case Status: return QString::fromLatin1(store::toString(run.status));
        case Name: return QString::fromStdString(run.name);
        case Started:
            return run.startedAt ? QLocale().toString(QDateTime::fromMSecsSinceEpoch(run.startedAt), QLocale::ShortFormat)
                                 : QString();
        case Steps:
            return run.totalSteps > 0 ? QStringLiteral("%1 / %2").arg(run.step).arg(run.totalSteps)
                                      : QString::number(run.step);
        case FinalLoss: return formatNumber(summaryValue(run, "loss"));
        case FinalAccuracy: return formatNumber(summaryValue(run, "rewards/accuracies"));
        case Data: {
            // The data fingerprint, short (store/provenance.h): equal for runs on the same pairs and labels.
            const QString f = QString::fromStdString(run.dataFingerprint);
            return f.startsWith(QLatin1String("sha256:")) ? f.mid(7, 10) : f;
        }
        case Config: return configSummary(run.configJson);
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        QString tip = QStringLiteral("%1 #%2 — %3").arg(tr("Run")).arg(run.id).arg(store::toString(run.status));
        if (!run.outputDir.empty()) tip += "\n" + tr("Output: %1").arg(QString::fromStdString(run.outputDir));
        if (!run.error.empty()) tip += "\n" + tr("Error: %1").arg(errorLine(run.error));
        if (!run.dataFingerprint.empty())
            tip += "\n" + tr("Data: %1 (the pairs and labels it trained and evaluated on)")
                              .arg(QString::fromStdString(run.dataFingerprint));
        return tip;
    }
    if (role == Qt::ForegroundRole && index.column() == Status) {
        switch (run.status) {
        case store::RunStatus::Running: return QBrush(QColor(0x00, 0x72, 0xB2));
        case store::RunStatus::Finished: return QBrush(QColor(0x00, 0x80, 0x40));
        case store::RunStatus::Failed: return QBrush(QColor(0xC0, 0x20, 0x20));
        case store::RunStatus::Cancelled:
        case store::RunStatus::Interrupted: return QBrush(QColor(0xA0, 0x60, 0x00));
        }
    }
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
        case Id: case Steps: case FinalLoss: case FinalAccuracy:
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        default: return QVariant(Qt::AlignLeft | Qt::AlignVCenter);
        }
    }
    return {};
}

QVariant RunsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Id: return tr("#");
    case Status: return tr("Status");
    case Name: return tr("Name");
    case Started: return tr("Started");
    case Steps: return tr("Steps");
    case FinalLoss: return tr("Final loss");
    case FinalAccuracy: return tr("Final accuracy");
    case Data: return tr("Data");
    case Config: return tr("Configuration");
    default: return {};
    }
}

}  // namespace dpowb::ui
