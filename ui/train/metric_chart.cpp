#include "metric_chart.h"

#include <QCursor>
#include <QKeyEvent>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMouseEvent>
#include <QResizeEvent>
#include <QScatterSeries>
#include <QToolTip>
#include <QValueAxis>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <limits>

namespace dpowb::ui {

MetricChart::MetricChart(const QString& title, QWidget* parent)
    : QChartView(parent), title_(title) {
    auto* c = new QChart;
    // Animations would restart on every flush and cost a repaint per frame.
    c->setAnimationOptions(QChart::NoAnimation);
    c->setTitle(title);
    QFont tf = c->titleFont();
    tf.setBold(true);
    tf.setPointSizeF(std::max(8.0, tf.pointSizeF()));
    c->setTitleFont(tf);
    c->setMargins(QMargins(4, 2, 4, 2));
    c->setBackgroundRoundness(0);
    c->legend()->setAlignment(Qt::AlignBottom);
    // Each entry drawn as its line (solid train, dashed eval with dots), not as a swatch of
    // its colour only: train and eval of one metric share the colour.
    c->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries);
    QFont lf = c->legend()->font();
    lf.setPointSizeF(std::max(7.0, lf.pointSizeF() - 1));
    c->legend()->setFont(lf);

    axisX_ = new QValueAxis;
    axisX_->setLabelFormat("%d");
    axisX_->setTitleText(tr("step"));
    QFont af = axisX_->labelsFont();
    af.setPointSizeF(std::max(7.0, af.pointSizeF() - 1));
    axisX_->setLabelsFont(af);
    axisX_->setTitleFont(af);
    axisY_ = new QValueAxis;
    axisY_->setLabelFormat("%.3g");
    axisY_->setLabelsFont(af);
    for (QValueAxis* axis : {axisX_, axisY_}) {
        axis->setTickInterval(0.25);  // never 0: Qt would lay out ticks without end
        axis->setTickAnchor(0.0);
        axis->setTickType(QValueAxis::TicksDynamic);
    }
    // Ticks follow every range change: autoscale, zoom and pan alike. Connected before the
    // axes join the chart, so the interval is right before the chart lays the ticks out (a
    // 0..1 range with a 2e-5 interval would be 50,000 tick items).
    connect(axisX_, &QValueAxis::rangeChanged, this, [this] { updateTicks(axisX_, true); });
    connect(axisY_, &QValueAxis::rangeChanged, this, [this] { updateTicks(axisY_, false); });
    c->addAxis(axisX_, Qt::AlignBottom);
    c->addAxis(axisY_, Qt::AlignLeft);
    empty_ = new QLabel(tr("No data yet"), this);
    empty_->setAlignment(Qt::AlignCenter);
    empty_->setAttribute(Qt::WA_TransparentForMouseEvents);
    empty_->setStyleSheet(QStringLiteral("color: #888;"));

    setChart(c);
    setRenderHint(QPainter::Antialiasing);
    setRubberBand(QChartView::RectangleRubberBand);
    setFocusPolicy(Qt::ClickFocus);
    setMinimumSize(260, 190);
    setToolTip(tr("Drag: zoom to a box · Wheel: zoom · Middle button or Ctrl+drag: pan · "
                  "Double-click: reset zoom"));
    rescale();  // the empty state until the first points
}

int MetricChart::addSeries(const QString& name, const QPen& pen, bool markers) {
    auto* line = new QLineSeries;
    line->setName(name);
    line->setPen(pen);
    line->setPointsVisible(markers);
    if (markers) line->setMarkerSize(5);
    chart()->addSeries(line);
    line->attachAxis(axisX_);
    line->attachAxis(axisY_);
    const int index = static_cast<int>(series_.size());
    series_.push_back(Series{line, {}, false});
    chart()->legend()->setVisible(true);  // an entry to show
    connect(line, &QLineSeries::hovered, this, [this, index](const QPointF& point, bool state) {
        if (state)
            QToolTip::showText(QCursor::pos(), hoverText(index, point), this);
        else
            QToolTip::hideText();
    });
    return index;
}

void MetricChart::removeAllSeries() {
    chart()->removeAllSeries();
    series_.clear();
    markerSeries_ = nullptr;  // removeAllSeries() deleted it
    markers_.clear();
    markersDirty_ = false;
    zoomed_ = false;
    rescale();
}

QString MetricChart::seriesName(int index) const { return series_.at(index).line->name(); }

void MetricChart::setLegendEntryVisible(int index, bool visible) {
    series_[index].inLegend = visible;
    for (QLegendMarker* m : chart()->legend()->markers(series_.at(index).line)) m->setVisible(visible);
    chart()->legend()->setVisible(visibleLegendEntries() > 0);  // no empty strip under the plot
}

int MetricChart::visibleLegendEntries() const {
    // The entries the legend is asked to show. (A marker's own isVisible() also depends on
    // whether Qt Charts has laid the legend out yet, which is not what callers ask.)
    int n = 0;
    for (const Series& s : series_)
        if (s.inLegend) ++n;
    return n;
}

void MetricChart::appendPoints(int index, const QVector<QPointF>& points) {
    Series& s = series_.at(index);
    s.raw.reserve(s.raw.size() + points.size());
    for (const QPointF& p : points) {
        // A NaN loss is reported as a failure elsewhere; a line cannot draw it.
        if (std::isfinite(p.x()) && std::isfinite(p.y())) s.raw.push_back(p);
    }
    s.dirty = true;
}

void MetricChart::setPoints(int index, const QVector<QPointF>& points) {
    series_.at(index).raw.clear();
    appendPoints(index, points);
}

const QVector<QPointF>& MetricChart::rawPoints(int index) const { return series_.at(index).raw; }

int MetricChart::shownPointCount(int index) const { return series_.at(index).line->count(); }

QVector<QPointF> MetricChart::shownPoints(int index) const { return series_.at(index).line->points(); }

void MetricChart::setSmoothing(double weight) {
    weight = std::clamp(weight, 0.0, 0.99);
    if (weight == smoothing_) return;
    smoothing_ = weight;
    for (Series& s : series_) s.dirty = true;
}

QVector<QPointF> MetricChart::smoothed(const QVector<QPointF>& raw) const {
    if (smoothing_ <= 0.0) return raw;
    // Debiased EMA (as TensorBoard draws it): the first points are not pulled toward zero.
    QVector<QPointF> out;
    out.reserve(raw.size());
    double acc = 0.0, decay = 1.0;
    for (const QPointF& p : raw) {
        acc = smoothing_ * acc + (1.0 - smoothing_) * p.y();
        decay *= smoothing_;
        out.push_back(QPointF(p.x(), acc / (1.0 - decay)));
    }
    return out;
}

bool MetricChart::flush() {
    bool changed = false;
    for (Series& s : series_) {
        if (!s.dirty) continue;
        s.line->replace(smoothed(s.raw));
        s.dirty = false;
        changed = true;
    }
    if (changed && !zoomed_) rescale();
    if (changed || markersDirty_) {
        placeMarkers();
        changed = true;
    }
    return changed;
}

void MetricChart::addMarker(double x, const QString& text, int seriesIndex) {
    markers_.push_back(Marker{x, text, seriesIndex});
    markersDirty_ = true;
}

void MetricChart::clearMarkers() {
    markers_.clear();
    if (markerSeries_) markerSeries_->clear();
    markersDirty_ = false;
}

void MetricChart::placeMarkers() {
    markersDirty_ = false;
    if (markers_.empty()) {
        if (markerSeries_) markerSeries_->clear();
        return;
    }
    if (!markerSeries_) {
        markerSeries_ = new QScatterSeries;
        markerSeries_->setName(tr("health warning"));
        markerSeries_->setMarkerShape(QScatterSeries::MarkerShapeTriangle);
        markerSeries_->setMarkerSize(13);
        markerSeries_->setColor(QColor(0xd9, 0x48, 0x1c));
        markerSeries_->setBorderColor(QColor(0x7a, 0x1f, 0x05));
        chart()->addSeries(markerSeries_);
        markerSeries_->attachAxis(axisX_);
        markerSeries_->attachAxis(axisY_);
        for (QLegendMarker* m : chart()->legend()->markers(markerSeries_)) m->setVisible(false);
        connect(markerSeries_, &QScatterSeries::hovered, this, [this](const QPointF& point, bool state) {
            if (state)
                QToolTip::showText(QCursor::pos(), markerHoverText(point), this);
            else
                QToolTip::hideText();
        });
    }
    QVector<QPointF> points;
    for (const Marker& m : markers_) {
        // On the chosen line where it has points, else on the first line that has.
        const QLineSeries* line = nullptr;
        if (m.series >= 0 && m.series < seriesCount() && series_[m.series].line->count() > 0) line = series_[m.series].line;
        for (size_t i = 0; !line && i < series_.size(); ++i)
            if (series_[i].line->count() > 0) line = series_[i].line;
        double y = axisY_->min();
        if (line) {
            // The value drawn at the nearest step.
            double best = std::numeric_limits<double>::infinity();
            for (const QPointF& p : line->points())
                if (std::abs(p.x() - m.x) < best) best = std::abs(p.x() - m.x), y = p.y();
        }
        points.push_back(QPointF(m.x, y));
    }
    markerSeries_->replace(points);
}

QPointF MetricChart::markerPoint(int i) const {
    if (!markerSeries_ || i >= markerSeries_->count()) return {};
    return markerSeries_->at(i);
}

QString MetricChart::markerHoverText(const QPointF& value) const {
    // Every marker at the nearest step (two warnings may fire at one step).
    double best = std::numeric_limits<double>::infinity();
    for (const Marker& m : markers_) best = std::min(best, std::abs(m.x - value.x()));
    QStringList texts;
    for (const Marker& m : markers_)
        if (std::abs(m.x - value.x()) == best) texts << m.text;
    return texts.join(QStringLiteral("\n\n"));
}

void MetricChart::rescale() {
    double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
    for (const Series& s : series_) {
        if (!s.line->isVisible()) continue;
        const int n = s.line->count();
        for (int i = 0; i < n; ++i) {
            const QPointF& p = s.line->at(i);
            x0 = std::min(x0, p.x());
            x1 = std::max(x1, p.x());
            y0 = std::min(y0, p.y());
            y1 = std::max(y1, p.y());
        }
    }
    const bool empty = !std::isfinite(x0);
    empty_->setVisible(empty);
    if (empty) {
        axisX_->setVisible(false);
        axisY_->setVisible(false);
        setAxisRange(axisX_, 0, 1, true);
        setAxisRange(axisY_, 0, 1, false);
        return;
    }
    axisX_->setVisible(true);
    axisY_->setVisible(true);
    if (x1 <= x0) x1 = x0 + 1;
    // A quantity that never went below zero (learning rate, gradient norm, tokens/s) gets no
    // axis below zero.
    const bool nonNegative = y0 >= 0;
    if (y1 <= y0) {
        const double pad = std::abs(y0) > 0 ? std::abs(y0) * 0.05 : 0.5;
        y0 -= pad;
        y1 += pad;
    } else {
        const double pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
    }
    if (nonNegative) y0 = std::max(y0, 0.0);
    // Ends on whole ticks.
    const double xs = std::max(1.0, niceStep((x1 - x0) / 4));
    const double ys = niceStep((y1 - y0) / 4);
    setAxisRange(axisX_, std::floor(x0 / xs) * xs, std::ceil(x1 / xs) * xs, true);
    setAxisRange(axisY_, std::floor(y0 / ys) * ys, std::ceil(y1 / ys) * ys, false);
}

// Qt Charts lays the ticks out inside setRange() and setTickInterval(), each with the other
// value as it stands: going from 0..1 by 0.25 to 0..6e-5 by 2e-5 must never pass through
// 0..1 by 2e-5 (50,000 tick items). The larger interval first, then the range, then the new
// interval keeps every intermediate layout no denser than the old or the new one.
void MetricChart::setAxisRange(QValueAxis* axis, double lo, double hi, bool wholeNumbers) {
    double step = hi > lo ? niceStep((hi - lo) / 4) : 1.0;
    if (wholeNumbers) step = std::max(1.0, step);
    axis->setTickInterval(std::max(axis->tickInterval(), step));
    axis->setRange(lo, hi);
    updateTicks(axis, wholeNumbers);
}

double MetricChart::niceStep(double rough) {
    if (!(rough > 0) || !std::isfinite(rough)) return 1.0;
    const double base = std::pow(10.0, std::floor(std::log10(rough)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * base >= rough * (1 - 1e-9)) return m * base;
    return 10 * base;
}

QString MetricChart::labelFormatFor(double step, double largest) {
    if (largest >= 1e6 || (step > 0 && step < 1e-5)) return QStringLiteral("%.2e");
    if (step >= 1) return QStringLiteral("%.0f");
    const int decimals = int(std::ceil(-std::log10(step) - 1e-9));
    return QStringLiteral("%.%1f").arg(std::clamp(decimals, 1, 6));
}

void MetricChart::updateTicks(QValueAxis* axis, bool wholeNumbers) {
    const double span = axis->max() - axis->min();
    double step = span > 0 && std::isfinite(span) ? niceStep(span / 4) : 1.0;
    if (wholeNumbers) step = std::max(1.0, step);
    axis->setTickInterval(step);
    const double largest = std::max(std::abs(axis->min()), std::abs(axis->max()));
    axis->setLabelFormat(wholeNumbers && step >= 1 && largest < 1e6 ? QStringLiteral("%.0f") : labelFormatFor(step, largest));
}

bool MetricChart::showsEmptyState() const { return empty_->isVisibleTo(this); }

void MetricChart::resizeEvent(QResizeEvent* event) {
    QChartView::resizeEvent(event);
    empty_->setGeometry(rect());
}

void MetricChart::resetZoom() {
    zoomed_ = false;
    chart()->zoomReset();
    rescale();
}

QString MetricChart::hoverText(int index, const QPointF& value) const {
    const Series& s = series_.at(index);
    const int n = s.line->count();
    if (n == 0) return {};
    // The line's points are sorted by step: binary search for the nearest one.
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (s.line->at(mid).x() < value.x())
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && std::abs(s.line->at(lo - 1).x() - value.x()) <= std::abs(s.line->at(lo).x() - value.x()))
        --lo;
    const QPointF shown = s.line->at(lo);
    QString text = QStringLiteral("%1\n%2 %3: %4")
                       .arg(s.line->name(), tr("step"))
                       .arg(static_cast<qlonglong>(std::llround(shown.x())))
                       .arg(shown.y(), 0, 'g', 5);
    if (smoothing_ > 0 && lo < s.raw.size())
        text += QStringLiteral("  (%1 %2)").arg(tr("raw")).arg(s.raw.at(lo).y(), 0, 'g', 5);
    return text;
}

void MetricChart::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    if (steps == 0) return;
    const double factor = std::pow(0.8, steps);  // < 1 zooms in
    const QRectF plot = chart()->plotArea();
    const QPointF at = chart()->mapFromScene(mapToScene(event->position().toPoint()));
    if (!plot.contains(at)) return;
    // Keep the value under the cursor where it is.
    QRectF r(at.x() - (at.x() - plot.left()) * factor, at.y() - (at.y() - plot.top()) * factor,
             plot.width() * factor, plot.height() * factor);
    chart()->zoomIn(r);
    zoomed_ = true;
    event->accept();
}

void MetricChart::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::MiddleButton ||
        (event->button() == Qt::LeftButton && (event->modifiers() & Qt::ControlModifier))) {
        panning_ = true;
        panLast_ = event->position();
        setCursor(Qt::ClosedHandCursor);
        event->accept();
        return;
    }
    pressPos_ = event->position();
    QChartView::mousePressEvent(event);
}

void MetricChart::mouseMoveEvent(QMouseEvent* event) {
    if (panning_) {
        const QPointF delta = event->position() - panLast_;
        panLast_ = event->position();
        chart()->scroll(-delta.x(), delta.y());
        zoomed_ = true;
        event->accept();
        return;
    }
    QChartView::mouseMoveEvent(event);
}

void MetricChart::mouseReleaseEvent(QMouseEvent* event) {
    if (panning_) {
        panning_ = false;
        unsetCursor();
        event->accept();
        return;
    }
    // QChartView zooms to the rubber band on left release and zooms out on right click.
    // A plain click is not a zoom.
    if (event->button() == Qt::RightButton ||
        (event->button() == Qt::LeftButton && (event->position() - pressPos_).manhattanLength() > 4))
        zoomed_ = true;
    QChartView::mouseReleaseEvent(event);
}

void MetricChart::mouseDoubleClickEvent(QMouseEvent* event) {
    resetZoom();
    event->accept();
}

void MetricChart::keyPressEvent(QKeyEvent* event) {
    const double step = 20;
    switch (event->key()) {
    case Qt::Key_Left: chart()->scroll(-step, 0); zoomed_ = true; break;
    case Qt::Key_Right: chart()->scroll(step, 0); zoomed_ = true; break;
    case Qt::Key_Up: chart()->scroll(0, step); zoomed_ = true; break;
    case Qt::Key_Down: chart()->scroll(0, -step); zoomed_ = true; break;
    case Qt::Key_Plus: case Qt::Key_Equal: chart()->zoom(1.25); zoomed_ = true; break;
    case Qt::Key_Minus: chart()->zoom(0.8); zoomed_ = true; break;
    case Qt::Key_Home: resetZoom(); break;
    default: QChartView::keyPressEvent(event); return;
    }
    event->accept();
}

}  // namespace dpowb::ui
