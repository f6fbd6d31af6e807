// The training charts as one widget: loss, reward accuracy, reward margin, chosen and
// rejected rewards, chosen and rejected log-probs, learning rate, gradient norm and
// throughput, for one live run or several runs overlaid; and, for runs with one, the SFT
// warm-up's loss (its own phase, its own steps).
//
// Points arrive in any number (live signals or rows from the project file); each chart
// buffers them and a 20 Hz timer applies them, so a burst never costs more than one
// replace() per series per tick. Train series are solid lines; eval series are dashed
// with markers. With several runs each run has its own colour.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QWidget>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "store/types.h"

class QLabel;

namespace dpowb::ui {

class MetricChart;

struct ChartSpec {
    QString title;
    QStringList metrics;  // docs/MATH.md names shown in this chart
    QStringList labels;   // legend words when a chart shows more than one metric
};

class ChartGrid : public QWidget {
    Q_OBJECT
public:
    explicit ChartGrid(QWidget* parent = nullptr);

    static const std::vector<ChartSpec>& specs();
    static constexpr int kFlushIntervalMs = 50;

    void clear();
    // Runs must be added before their points; the order gives each run its colour.
    void addRun(qint64 runId, const QString& label);
    bool hasRun(qint64 runId) const;
    QList<qint64> runIds() const { return runOrder_; }

    // split: "train", "eval" or "sft" (the warm-up before DPO: its loss has a chart of its own,
    // shown from its first point on; the DPO loss is another quantity).
    void addPoint(qint64 runId, const QString& split, double step, const std::map<std::string, double>& values);
    // Replaces a run's points with rows from the project file.
    void setRunRows(qint64 runId, const std::vector<store::MetricRow>& rows);

    // A training-health warning of a run: a marker at `step` on the chart of `metric` (on the
    // run's `split` line where it has one); hovering it shows `text`. Returns false when no
    // chart shows that metric.
    bool addMarker(qint64 runId, const QString& metric, const QString& split, double step, const QString& text);
    int markerCount() const;  // over all charts

    void setSmoothing(double weight);
    void resetZoom();
    // Applies buffered points now (the timer does it on its own). Returns true if any changed.
    bool flush();
    int flushCount() const { return flushCount_; }

    MetricChart* chartFor(const QString& metric) const;
    const std::vector<MetricChart*>& charts() const { return charts_; }
    // Points the chart shows now for (run, metric, split); 0 when there is no such series.
    int shownPointCount(qint64 runId, const QString& metric, const QString& split) const;
    int rawPointCount(qint64 runId, const QString& metric, const QString& split) const;

    // The whole grid as an image / as a vector drawing, under a heading that names the runs
    // shown (the PNG also carries it as its "Title" text). Return false with `error` set.
    bool exportPng(const QString& path, QString* error = nullptr);
    bool exportSvg(const QString& path, QString* error = nullptr);
    // The heading of an export: the runs shown, by their labels.
    QString exportTitle() const;
    // Charts per row: 4 where they fit at their minimum width, fewer in a narrow window.
    int columns() const { return columns_; }

    QSize minimumSizeHint() const override;

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    using Key = std::tuple<qint64, QString, QString>;  // run, metric, split
    void updateStyleNote();
    int seriesFor(qint64 runId, const QString& metric, const QString& split, MetricChart** chart);

    std::vector<MetricChart*> charts_;
    std::map<QString, std::pair<int, int>> metricIndex_;  // metric -> (chart, position in chart)
    std::map<Key, std::pair<MetricChart*, int>> series_;
    std::map<qint64, QString> runLabels_;
    QList<qint64> runOrder_;
    void layoutCharts(int columns, bool force = false);
    void showSftChart(bool shown);
    MetricChart* sftChart_ = nullptr;  // appears with the first SFT warm-up point
    bool sftShown_ = false;
    QLabel* styleNote_ = nullptr;  // with several runs: what colour and line style mean
    QLabel* runLegend_ = nullptr;  // with several runs: each run's colour and full label, once
    int columns_ = 0;
    QTimer timer_;
    bool pending_ = false;
    int flushCount_ = 0;
};

}  // namespace dpowb::ui
