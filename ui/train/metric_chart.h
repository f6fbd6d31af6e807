// One live line chart: raw points are buffered per series and applied on flush(), which
// the owner calls from a timer, so a burst of points costs one replace() per series.
//
// Smoothing is an exponential moving average applied when the series is redrawn (the raw
// points stay untouched). Axes follow the data until the user zooms (rubber band, wheel)
// or pans (middle button or Ctrl+drag, arrow keys); resetZoom() (also double-click or
// Home) returns to autoscaling. Hovering a line shows the nearest logged value.
#pragma once

#include <QChartView>
#include <QPen>
#include <QPointF>
#include <QString>
#include <QVector>

QT_BEGIN_NAMESPACE
class QLabel;
class QLineSeries;
class QScatterSeries;
class QValueAxis;
QT_END_NAMESPACE

namespace dpowb::ui {

class MetricChart : public QChartView {
    Q_OBJECT
public:
    explicit MetricChart(const QString& title, QWidget* parent = nullptr);

    const QString& title() const { return title_; }

    // Returns the new series' index. `markers`: draw the points (sparse eval series).
    int addSeries(const QString& name, const QPen& pen, bool markers = false);
    void removeAllSeries();
    int seriesCount() const { return static_cast<int>(series_.size()); }
    QString seriesName(int index) const;
    // Shows or hides the series' legend entry (the series itself stays drawn).
    void setLegendEntryVisible(int index, bool visible);
    int visibleLegendEntries() const;

    // Buffered until the next flush(). Points are expected in increasing x.
    void appendPoints(int index, const QVector<QPointF>& points);
    void setPoints(int index, const QVector<QPointF>& points);
    const QVector<QPointF>& rawPoints(int index) const;
    // What the chart shows now (after the last flush, smoothing applied).
    int shownPointCount(int index) const;
    QVector<QPointF> shownPoints(int index) const;

    // 0 = raw, up to 0.99 = very smooth (weight of the previous smoothed value).
    void setSmoothing(double weight);
    double smoothing() const { return smoothing_; }

    // Applies buffered points (one replace() per changed series) and rescales the axes
    // unless the user has zoomed. Returns true when anything changed.
    bool flush();
    void resetZoom();
    bool isZoomed() const { return zoomed_; }

    // Warning markers (training health): a triangle at step x on the line of series
    // `seriesIndex` (or of the first series with points when -1 or empty); hovering it shows
    // `text`. Placed on the next flush(); kept until clearMarkers() or removeAllSeries().
    void addMarker(double x, const QString& text, int seriesIndex = -1);
    void clearMarkers();
    int markerCount() const { return static_cast<int>(markers_.size()); }
    QString markerText(int i) const { return markers_.at(i).text; }
    // Where marker i is drawn now (after the last flush).
    QPointF markerPoint(int i) const;
    // The marker text shown when hovering near `value` ("" when there is none).
    QString markerHoverText(const QPointF& value) const;

    // Exposed for tests: the text the hover tooltip shows for a point near `value`.
    QString hoverText(int index, const QPointF& value) const;

    // With no points to draw the chart shows "No data yet" instead of axes ticked 0..1.
    bool showsEmptyState() const;
    QValueAxis* axisX() const { return axisX_; }
    QValueAxis* axisY() const { return axisY_; }
    // Axis ticks: at multiples of a step of 1, 2 or 5 × 10^k (about four per axis, whole
    // numbers on the step axis), labelled with as many decimals as the step needs.
    static double niceStep(double rough);
    static QString labelFormatFor(double step, double largest);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    struct Series {
        QLineSeries* line = nullptr;
        QVector<QPointF> raw;
        bool dirty = false;
        bool inLegend = true;  // setLegendEntryVisible()
    };
    struct Marker {
        double x = 0;
        QString text;
        int series = -1;
    };
    QVector<QPointF> smoothed(const QVector<QPointF>& raw) const;
    void rescale();
    void placeMarkers();
    void updateTicks(QValueAxis* axis, bool wholeNumbers);
    void setAxisRange(QValueAxis* axis, double lo, double hi, bool wholeNumbers);
    void resizeEvent(QResizeEvent* event) override;

    QString title_;
    QValueAxis* axisX_ = nullptr;
    QValueAxis* axisY_ = nullptr;
    QLabel* empty_ = nullptr;
    std::vector<Series> series_;
    std::vector<Marker> markers_;
    QScatterSeries* markerSeries_ = nullptr;  // created with the first marker
    bool markersDirty_ = false;
    double smoothing_ = 0.0;
    bool zoomed_ = false;
    bool panning_ = false;
    QPointF pressPos_;
    QPointF panLast_;
};

}  // namespace dpowb::ui
