#include "chart_grid.h"

#include <QFile>
#include <QGridLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPainter>
#include <QPixmap>
#include <QResizeEvent>
#include <QSvgGenerator>

#include <algorithm>

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
// The SFT warm-up: its own phase, its own colour.
const QColor kSft(0x7B, 0x5E, 0xA7);

// The chart metric of a reported value: eval values may carry an "eval_" prefix; the SFT
// warm-up's values are charted under "sft/" (only its loss has a chart).
QString chartMetric(const QString& split, QString name) {
    if (name.startsWith(QLatin1String("eval_"))) name = name.mid(5);
    if (split == QLatin1String("sft")) name.prepend(QLatin1String("sft/"));
    return name;
}

// The word-wrapped legend lines would make the grid a height-for-width layout, which a
// scroll area sizes by its preferred heights (charts half again as tall as needed, and a
// scrollbar where everything fits); the grid has no use for it.
class GridWithoutHeightForWidth : public QGridLayout {
public:
    using QGridLayout::QGridLayout;
    bool hasHeightForWidth() const override { return false; }
};

bool chartedSplit(const QString& split) {
    return split == QLatin1String("train") || split == QLatin1String("eval") || split == QLatin1String("sft");
}

}  // namespace

const std::vector<ChartSpec>& ChartGrid::specs() {
    static const std::vector<ChartSpec> s = {
        {QObject::tr("Loss"), {"loss"}, {}},
        {QObject::tr("Reward accuracy"), {"rewards/accuracies"}, {}},
        {QObject::tr("Reward margin"), {"rewards/margins"}, {}},
        {QObject::tr("Rewards"), {"rewards/chosen", "rewards/rejected"}, {QObject::tr("chosen"), QObject::tr("rejected")}},
        {QObject::tr("Log-probs"), {"logps/chosen", "logps/rejected"}, {QObject::tr("chosen"), QObject::tr("rejected")}},
        // TRL's per-token metrics: the policy's next-token entropy over the responses (a collapse
        // towards one answer shows as a fall) and how often the chosen tokens are its top guess.
        {QObject::tr("Entropy"), {"entropy"}, {}},
        {QObject::tr("Token accuracy (chosen)"), {"mean_token_accuracy"}, {}},
        {QObject::tr("Learning rate"), {"learning_rate"}, {}},
        {QObject::tr("Gradient norm"), {"grad_norm"}, {}},
        {QObject::tr("Tokens / s"), {"tokens_per_second"}, {}},
        // The SFT warm-up before DPO (split "sft"): a per-token NLL, another quantity than the
        // DPO loss, on its own steps. Shown only for runs that have one.
        {QObject::tr("SFT warm-up loss"), {"sft/loss"}, {}},
    };
    return s;
}

ChartGrid::ChartGrid(QWidget* parent) : QWidget(parent) {
    auto* grid = new GridWithoutHeightForWidth(this);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setSpacing(4);
    // The grid's width decides its columns (resizeEvent), so its minimum must not be the
    // width of the columns it has now: see minimumSizeHint().
    grid->setSizeConstraint(QLayout::SetNoConstraint);
    const auto& all = specs();
    for (int i = 0; i < static_cast<int>(all.size()); ++i) {
        auto* chart = new MetricChart(all[i].title, this);
        chart->setObjectName(QStringLiteral("chart_%1").arg(all[i].metrics.first()));
        charts_.push_back(chart);
        for (int m = 0; m < all[i].metrics.size(); ++m) metricIndex_[all[i].metrics[m]] = {i, m};
    }
    sftChart_ = charts_.back();
    sftChart_->hide();
    // Several runs: one legend for the whole grid names each run in full beside its colour
    // (a legend per chart cut the names short); the style note says what line styles mean.
    runLegend_ = new QLabel(this);
    runLegend_->setObjectName(QStringLiteral("runLegend"));
    runLegend_->setWordWrap(true);
    runLegend_->setTextFormat(Qt::RichText);
    styleNote_ = new QLabel(this);
    styleNote_->setObjectName(QStringLiteral("styleNote"));
    styleNote_->setWordWrap(true);
    updateStyleNote();
    layoutCharts(4);
    timer_.setInterval(kFlushIntervalMs);
    connect(&timer_, &QTimer::timeout, this, [this] {
        if (pending_) flush();
    });
    timer_.start();
}

void ChartGrid::layoutCharts(int columns, bool force) {
    if (columns == columns_ && !force) return;
    columns_ = columns;
    auto* grid = static_cast<QGridLayout*>(layout());
    for (MetricChart* chart : charts_) grid->removeWidget(chart);
    grid->removeWidget(runLegend_);
    grid->removeWidget(styleNote_);
    // The warm-up's chart comes first while a run has one: it is what moves first.
    std::vector<MetricChart*> shown;
    if (sftShown_) shown.push_back(sftChart_);
    for (MetricChart* chart : charts_)
        if (chart != sftChart_) shown.push_back(chart);
    const int n = static_cast<int>(shown.size());
    for (int i = 0; i < n; ++i) grid->addWidget(shown[size_t(i)], i / columns, i % columns);
    for (int c = 0; c < 4; ++c) grid->setColumnStretch(c, c < columns ? 1 : 0);
    const int rows = (n + columns - 1) / columns;
    for (int r = 0; r < 4; ++r) grid->setRowStretch(r, r < rows ? 1 : 0);
    grid->addWidget(runLegend_, rows, 0, 1, columns);
    grid->addWidget(styleNote_, rows + 1, 0, 1, columns);
}

QSize ChartGrid::minimumSizeHint() const {
    // Two charts a row at the least; as tall as the rows of the columns in use.
    QSize size = QWidget::minimumSizeHint();
    size.setWidth(2 * charts_.front()->minimumWidth() + layout()->spacing());
    return size;
}

void ChartGrid::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    // As many columns as fit at the charts' minimum width (a chart squeezed below it was cut
    // at the right edge of a 1280-pixel window).
    const int spacing = layout()->spacing();
    const int minimum = charts_.front()->minimumWidth() + spacing;
    layoutCharts(std::clamp((width() + spacing) / minimum, 2, 4));
}

void ChartGrid::showSftChart(bool shown) {
    if (shown == sftShown_) return;
    sftShown_ = shown;
    sftChart_->setVisible(shown);
    layoutCharts(columns_, true);
}

void ChartGrid::clear() {
    for (MetricChart* c : charts_) c->removeAllSeries();
    showSftChart(false);
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
    QStringList entries;
    for (int i = 0; i < runOrder_.size(); ++i)
        entries << QStringLiteral("<span style=\"color:%1\">&#9632;</span>&nbsp;%2")
                       .arg(kPalette[i % kPaletteSize].name(), runLabels_[runOrder_[i]].toHtmlEscaped());
    runLegend_->setText(entries.join(QStringLiteral(" &nbsp; ")));
    runLegend_->setVisible(runOrder_.size() > 1);
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

    const bool sft = split == QLatin1String("sft");
    if (sft) showSftChart(true);
    QString name = several ? runLabels_[runId] : QString();
    if (spec.metrics.size() > 1) name += (name.isEmpty() ? "" : " ") + spec.labels[position];
    if (eval)
        name += (name.isEmpty() ? "" : " ") + tr("eval");
    else if (name.isEmpty())
        name = sft ? tr("SFT warm-up") : tr("train");

    QColor colour;
    if (several)
        colour = kPalette[runPos % kPaletteSize];
    else if (spec.metrics.size() > 1)
        colour = position == 0 ? kChosen : kRejected;
    else if (sft)
        colour = kSft;
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
    // One run: the legend names what colour and line tell apart (train vs eval, chosen vs
    // rejected). Several: the grid's run legend does, once for every chart.
    if (several || (spec.metrics.size() > 1 && eval)) c->setLegendEntryVisible(index, false);
    series_[key] = {c, index};
    *chart = c;
    return index;
}

void ChartGrid::addPoint(qint64 runId, const QString& split, double step,
                         const std::map<std::string, double>& values) {
    if (!hasRun(runId) || !chartedSplit(split)) return;
    for (const auto& [name, value] : values) {
        const QString metric = chartMetric(split, QString::fromStdString(name));
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
        if (!chartedSplit(split)) continue;
        const QJsonObject values = QJsonDocument::fromJson(QByteArray::fromStdString(row.valuesJson)).object();
        for (auto it = values.begin(); it != values.end(); ++it) {
            if (!it.value().isDouble()) continue;
            const QString metric = chartMetric(split, it.key());
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

QString ChartGrid::exportTitle() const {
    QStringList runs;
    for (qint64 id : runOrder_) runs << runLabels_.at(id);
    return runs.isEmpty() ? tr("DPO training charts") : tr("DPO training: %1").arg(runs.join(QStringLiteral(" · ")));
}

namespace {

// The heading of an exported picture: one line, bold, elided to the width.
int paintHeading(QPainter& painter, const QString& text, int width) {
    QFont f = painter.font();
    f.setBold(true);
    f.setPointSizeF(f.pointSizeF() + 1);
    painter.setFont(f);
    const QFontMetrics m(f);
    const int height = m.height() + 8;
    painter.setPen(Qt::black);
    painter.drawText(QRect(6, 0, width - 12, height), Qt::AlignVCenter | Qt::AlignLeft,
                     m.elidedText(text, Qt::ElideRight, width - 12));
    return height;
}

}  // namespace

bool ChartGrid::exportPng(const QString& path, QString* error) {
    flush();
    const QPixmap charts = grab();
    const QString title = exportTitle();
    const int heading = QFontMetrics(font()).height() + 12;
    QImage image(charts.width(), charts.height() + heading, QImage::Format_ARGB32_Premultiplied);
    image.setDevicePixelRatio(charts.devicePixelRatio());
    image.fill(Qt::white);
    {
        QPainter painter(&image);
        painter.setFont(font());
        paintHeading(painter, title, charts.width());
        painter.drawPixmap(0, heading, charts);
    }
    image.setText(QStringLiteral("Title"), title);
    if (image.save(path, "PNG")) return true;
    if (error) *error = tr("Could not write %1").arg(path);
    return false;
}

bool ChartGrid::exportSvg(const QString& path, QString* error) {
    flush();
    QSvgGenerator svg;
    const int heading = QFontMetrics(font()).height() + 12;
    svg.setFileName(path);
    svg.setSize(QSize(width(), height() + heading));
    svg.setViewBox(QRect(0, 0, width(), height() + heading));
    svg.setTitle(exportTitle());
    QPainter painter;
    if (!painter.begin(&svg)) {
        if (error) *error = tr("Could not write %1").arg(path);
        return false;
    }
    painter.setFont(font());
    paintHeading(painter, exportTitle(), width());
    painter.translate(0, heading);
    render(&painter);
    painter.end();
    if (!QFile::exists(path)) {
        if (error) *error = tr("Could not write %1").arg(path);
        return false;
    }
    return true;
}

}  // namespace dpowb::ui
