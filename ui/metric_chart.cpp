#include "metric_chart.h"

#include <QCursor>
#include <QKeyEvent>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMouseEvent>
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
    axisX_->setRange(0, 1);
    axisY_ = new QValueAxis;
    axisY_->setLabelFormat("%.3g");
    axisY_->setLabelsFont(af);
    axisY_->setRange(0, 1);
    c->addAxis(axisX_, Qt::AlignBottom);
    c->addAxis(axisY_, Qt::AlignLeft);

    setChart(c);
    setRenderHint(QPainter::Antialiasing);
    setRubberBand(QChartView::RectangleRubberBand);
    setFocusPolicy(Qt::ClickFocus);
    setMinimumSize(260, 190);
    setToolTip(tr("Drag: zoom to a box · Wheel: zoom · Middle button or Ctrl+drag: pan · "
                  "Double-click: reset zoom"));
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
    axisX_->setRange(0, 1);
    axisY_->setRange(0, 1);
}

QString MetricChart::seriesName(int index) const { return series_.at(index).line->name(); }

void MetricChart::setLegendEntryVisible(int index, bool visible) {
    series_[index].inLegend = visible;
    for (QLegendMarker* m : chart()->legend()->markers(series_.at(index).line)) m->setVisible(visible);
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
    if (!std::isfinite(x0)) {
        axisX_->setRange(0, 1);
        axisY_->setRange(0, 1);
        return;
    }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) {
        const double pad = std::abs(y0) > 0 ? std::abs(y0) * 0.05 : 0.5;
        y0 -= pad;
        y1 += pad;
    } else {
        const double pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
    }
    axisX_->setRange(x0, x1);
    axisY_->setRange(y0, y1);
    axisY_->applyNiceNumbers();
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
