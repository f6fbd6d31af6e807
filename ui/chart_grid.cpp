#include "chart_grid.h"

#include <QFile>
#include <QGridLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPainter>
#include <QPixmap>
#include <QSvgGenerator>

#include "metric_chart.h"

namespace dpowb::ui {

namespace {

// Colour-blind-friendly qualitative palette (Okabe & Ito) for runs and metric pairs.
const QColor kPalette[] = {QColor(0x00, 0x72, 0xB2), QColor(0xD5, 0x5E, 0x00), QColor(0x00, 0x9E, 0x73),
                           QColor(0xCC, 0x79, 0xA7), QColor(0xE6, 0x9F, 0x00), QColor(0x56, 0xB4, 0xE9),
                           QColor(0x55, 0x55, 0x55), QColor(0xF0, 0xE4, 0x42)};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
// In a single-run chart with two metrics (chosen / rejected), the first is green, the second red.
const QColor kChosen(0x00, 0x9E, 0x73);
const QColor kRejected(0xD5, 0x5E, 0x00);

}  // namespace

const std::vector<ChartSpec>& ChartGrid::specs() {
    static const std::vector<ChartSpec> s = {
        {QObject::tr("Loss"), {"loss"}, {}},
        {QObject::tr("Reward accuracy"), {"rewards/accuracies"}, {}},
        {QObject::tr("Reward margin"), {"rewards/margins"}, {}},
        {QObject::tr("Rewards"), {"rewards/chosen", "rewards/rejected"}, {QObject::tr("chosen"), QObject::tr("rejected")}},
        {QObject::tr("Log-probs"), {"logps/chosen", "logps/rejected"}, {QObject::tr("chosen"), QObject::tr("rejected")}},
        {QObject::tr("Learning rate"), {"learning_rate"}, {}},
        {QObject::tr("Gradient norm"), {"grad_norm"}, {}},
        {QObject::tr("Tokens / s"), {"tokens_per_second"}, {}},
    };
    return s;
}

ChartGrid::ChartGrid(QWidget* parent) : QWidget(parent) {
    auto* grid = new QGridLayout(this);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setSpacing(4);
    const auto& all = specs();
    const int columns = 4;
    for (int i = 0; i < static_cast<int>(all.size()); ++i) {
        auto* chart = new MetricChart(all[i].title, this);
        chart->setObjectName(QStringLiteral("chart_%1").arg(all[i].metrics.first()));
        charts_.push_back(chart);
        for (int m = 0; m < all[i].metrics.size(); ++m) metricIndex_[all[i].metrics[m]] = {i, m};
        grid->addWidget(chart, i / columns, i % columns);
    }
    for (int c = 0; c < columns; ++c) grid->setColumnStretch(c, 1);
    // Several runs: each chart's legend names the runs once (their colour); this line says
    // what the line styles mean, instead of four cut-off legend entries per run.
    styleNote_ = new QLabel(this);
    styleNote_->setObjectName(QStringLiteral("styleNote"));
    updateStyleNote();
    grid->addWidget(styleNote_, (static_cast<int>(all.size()) + columns - 1) / columns, 0, 1, columns);
    timer_.setInterval(kFlushIntervalMs);
    connect(&timer_, &QTimer::timeout, this, [this] {
        if (pending_) flush();
    });
    timer_.start();
}

void ChartGrid::clear() {
    for (MetricChart* c : charts_) c->removeAllSeries();
    series_.clear();
    runLabels_.clear();
    runOrder_.clear();
    updateStyleNote();
    pending_ = false;
}

void ChartGrid::addRun(qint64 runId, const QString& label) {
    if (runLabels_.count(runId)) return;
    runLabels_[runId] = label;
    runOrder_.push_back(runId);
    updateStyleNote();
}

void ChartGrid::updateStyleNote() {
    styleNote_->setText(runOrder_.size() > 1
                            ? tr("Colour: run · solid: train · dashed with dots: eval · dotted: rejected "
                                 "(Rewards and Log-probs; solid there is chosen)")
                            : tr("Solid: train · dashed with dots: eval · Rewards and Log-probs: green chosen, "
                                 "orange rejected"));
}

bool ChartGrid::hasRun(qint64 runId) const { return runLabels_.count(runId) != 0; }

int ChartGrid::seriesFor(qint64 runId, const QString& metric, const QString& split, MetricChart** chart) {
    const auto mi = metricIndex_.find(metric);
    if (mi == metricIndex_.end()) return -1;
    const Key key{runId, metric, split};
    const auto found = series_.find(key);
    if (found != series_.end()) {
        *chart = found->second.first;
        return found->second.second;
    }
    const auto& [chartIndex, position] = mi->second;
    const ChartSpec& spec = specs()[chartIndex];
    MetricChart* c = charts_[chartIndex];
    const bool several = runOrder_.size() > 1;
    const bool eval = split == QLatin1String("eval");
    const int runPos = std::max(0, static_cast<int>(runOrder_.indexOf(runId)));

    QString name = several ? runLabels_[runId] : QString();
    if (spec.metrics.size() > 1) name += (name.isEmpty() ? "" : " ") + spec.labels[position];
    if (eval)
        name += (name.isEmpty() ? "" : " ") + tr("eval");
    else if (name.isEmpty())
        name = tr("train");

    QColor colour;
    if (several)
        colour = kPalette[runPos % kPaletteSize];
    else if (spec.metrics.size() > 1)
        colour = position == 0 ? kChosen : kRejected;
    else
        colour = kPalette[0];
    QPen pen(colour);
    pen.setWidthF(eval ? 1.6 : 1.8);
    pen.setCosmetic(true);
    // With several runs, colour says which run; the line style says chosen vs rejected.
    if (eval)
        pen.setStyle(Qt::DashLine);
    else if (several && position == 1)
        pen.setStyle(Qt::DotLine);
    const int index = c->addSeries(name, pen, eval);
    // The legend names what colour tells apart (runs, or chosen vs rejected); the style note
    // below the charts says what the line styles mean.
    if ((several && (eval || position != 0)) || (spec.metrics.size() > 1 && eval)) c->setLegendEntryVisible(index, false);
    series_[key] = {c, index};
    *chart = c;
    return index;
}

void ChartGrid::addPoint(qint64 runId, const QString& split, double step,
                         const std::map<std::string, double>& values) {
    if (!hasRun(runId) || (split != QLatin1String("train") && split != QLatin1String("eval"))) return;
    for (const auto& [name, value] : values) {
        QString metric = QString::fromStdString(name);
        if (metric.startsWith(QLatin1String("eval_"))) metric = metric.mid(5);
        MetricChart* chart = nullptr;
        const int index = seriesFor(runId, metric, split, &chart);
        if (index < 0) continue;
        // A live point may also have been read back from the project file already.
        const QVector<QPointF>& raw = chart->rawPoints(index);
        if (!raw.isEmpty() && raw.last().x() >= step) continue;
        chart->appendPoints(index, {QPointF(step, value)});
        pending_ = true;
    }
}

void ChartGrid::setRunRows(qint64 runId, const std::vector<store::MetricRow>& rows) {
    if (!hasRun(runId)) return;
    // Collect per series first so each series receives one append.
    std::map<Key, QVector<QPointF>> points;
    for (const store::MetricRow& row : rows) {
        const QString split = QString::fromStdString(row.split);
        if (split != QLatin1String("train") && split != QLatin1String("eval")) continue;
        const QJsonObject values = QJsonDocument::fromJson(QByteArray::fromStdString(row.valuesJson)).object();
        for (auto it = values.begin(); it != values.end(); ++it) {
            if (!it.value().isDouble()) continue;
            QString metric = it.key();
            if (metric.startsWith(QLatin1String("eval_"))) metric = metric.mid(5);
            if (!metricIndex_.count(metric)) continue;
            points[Key{runId, metric, split}].push_back(QPointF(double(row.step), it.value().toDouble()));
        }
    }
    for (auto& [key, pts] : points) {
        MetricChart* chart = nullptr;
        const int index = seriesFor(std::get<0>(key), std::get<1>(key), std::get<2>(key), &chart);
        std::sort(pts.begin(), pts.end(), [](const QPointF& a, const QPointF& b) { return a.x() < b.x(); });
        chart->setPoints(index, pts);
    }
    pending_ = true;
}

bool ChartGrid::addMarker(qint64 runId, const QString& metric, const QString& split, double step, const QString& text) {
    const auto mi = metricIndex_.find(metric);
    if (mi == metricIndex_.end()) return false;
    MetricChart* chart = charts_[mi->second.first];
    int index = -1;
    for (const QString& s : {split, QStringLiteral("train"), QStringLiteral("eval")}) {
        const auto found = series_.find(Key{runId, metric, s});
        if (found != series_.end()) {
            index = found->second.second;
            break;
        }
    }
    chart->addMarker(step, text, index);
    pending_ = true;
    return true;
}

int ChartGrid::markerCount() const {
    int n = 0;
    for (const MetricChart* c : charts_) n += c->markerCount();
    return n;
}

void ChartGrid::setSmoothing(double weight) {
    for (MetricChart* c : charts_) c->setSmoothing(weight);
    pending_ = true;
}

void ChartGrid::resetZoom() {
    for (MetricChart* c : charts_) c->resetZoom();
}

bool ChartGrid::flush() {
    bool changed = false;
    for (MetricChart* c : charts_) changed = c->flush() || changed;
    pending_ = false;
    if (changed) ++flushCount_;
    return changed;
}

MetricChart* ChartGrid::chartFor(const QString& metric) const {
    const auto mi = metricIndex_.find(metric);
    return mi == metricIndex_.end() ? nullptr : charts_[mi->second.first];
}

int ChartGrid::shownPointCount(qint64 runId, const QString& metric, const QString& split) const {
    const auto found = series_.find(Key{runId, metric, split});
    return found == series_.end() ? 0 : found->second.first->shownPointCount(found->second.second);
}

int ChartGrid::rawPointCount(qint64 runId, const QString& metric, const QString& split) const {
    const auto found = series_.find(Key{runId, metric, split});
    return found == series_.end() ? 0 : found->second.first->rawPoints(found->second.second).size();
}

bool ChartGrid::exportPng(const QString& path, QString* error) {
    flush();
    const QPixmap image = grab();
    if (image.save(path, "PNG")) return true;
    if (error) *error = tr("Could not write %1").arg(path);
    return false;
}

bool ChartGrid::exportSvg(const QString& path, QString* error) {
    flush();
    QSvgGenerator svg;
    svg.setFileName(path);
    svg.setSize(size());
    svg.setViewBox(rect());
    svg.setTitle(tr("DPO training charts"));
    QPainter painter;
    if (!painter.begin(&svg)) {
        if (error) *error = tr("Could not write %1").arg(path);
        return false;
    }
    render(&painter);
    painter.end();
    if (!QFile::exists(path)) {
        if (error) *error = tr("Could not write %1").arg(path);
        return false;
    }
    return true;
}

}  // namespace dpowb::ui
