// The train view end to end, offscreen: the runs model under QAbstractItemModelTester, the
// chart batching and smoothing against an independent EMA, the presets the form applies, the
// model folder check, and real runs of the built-in tiny model started from
// the form: charts grow, the status line moves, pause holds the step, stop leaves a
// checkpoint and a cancelled run, a broken model folder gives a failed run with its reason.
// How long the GUI thread stalls while training is measured by bench/gui/bench_train_view.
#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QApplication>
#include <QDoubleSpinBox>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QLegend>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QListWidget>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QValueAxis>
#include <QTimer>
#include <QtTest>
#include <cmath>

#include "../common/short_run.h"
#include "common/error.h"
#include "chart_grid.h"
#include "metric_chart.h"
#include "run_form.h"
#include "runs_model.h"
#include "store/formats.h"
#include "store/project.h"
#include "train/presets.h"
#include "train/loss_types.h"
#include "train/trainer.h"
#include "train_job.h"
#include "train_view.h"

using namespace dpowb;
using dpowb::ui::ChartGrid;
using dpowb::ui::MetricChart;
using dpowb::ui::RunsModel;
using dpowb::ui::TrainView;

namespace {

// How long to wait for the trainer before calling it a hang. Not a speed requirement: a run's
// pace depends on the machine and on what else runs on it (CI runs two suites on two cores).
constexpr int kWaitMs = 300000;

// A short demo run: enough steps to watch, small enough for a test.
train::TrainConfig shortDemo(int64_t steps) {
    train::TrainConfig c = test::shortDemoRun(steps);
    c.evalSteps = 5;
    c.warmupSteps = 2;
    c.name = "test";
    return c;
}

// Cancels a run once it has logged `step`.
struct CancelAt : train::TrainObserver {
    int64_t step = 0;
    train::TrainControl* control = nullptr;
    void onStep(const train::MetricPoint& p) override {
        if (p.step >= step) control->cancel.store(true);
    }
};

// A project with run history: one finished run and one cancelled with a checkpoint.
struct History {
    QString project;
    qint64 finished = 0;
    qint64 cancelled = 0;
};

}  // namespace

class TrainViewTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    QString project_;

    QString screenshotDir() const { return qEnvironmentVariable("DPOWB_SCREENSHOTS"); }

    // A demo project of its own with a finished and a cancelled run, trained through the core
    // API, so that a slot about run history depends on no other slot.
    void makeHistory(const QString& name, History& h) {
        h.project = dir_.filePath(name + ".dpowb");
        {
            auto p = store::Project::create(h.project.toStdString());
            store::addDemoPairs(p);
        }
        train::TrainConfig c = shortDemo(4);
        c.db = h.project.toStdString();
        c.name = "finished";
        train::TrainObserver quiet;
        train::TrainControl control;
        auto done = train::runTraining(c, quiet, control);
        QVERIFY2(done.status == store::RunStatus::Finished, done.error.c_str());
        h.finished = done.runId;
        c = shortDemo(100000);
        c.db = h.project.toStdString();
        c.name = "stopped";
        train::TrainControl stop;
        CancelAt cancel;
        cancel.step = 3;
        cancel.control = &stop;
        auto cancelled = train::runTraining(c, cancel, stop);
        QVERIFY2(cancelled.status == store::RunStatus::Cancelled, cancelled.error.c_str());
        QVERIFY(QFile::exists(QString::fromStdString(cancelled.outputDir) + "/checkpoint/state.json"));
        h.cancelled = cancelled.runId;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        project_ = dir_.filePath("demo.dpowb");
        auto p = store::Project::create(project_.toStdString());
        store::addDemoPairs(p);
    }

    void runsModel() {
        const QString path = dir_.filePath("runs.dpowb");
        auto p = store::Project::create(path.toStdString());
        train::TrainConfig lora = shortDemo(10);
        lora.loraRank = 8;
        store::RunRecord r;
        r.name = "first";
        r.configJson = lora.toJson();
        const int64_t a = p.createRun(r);
        r.name = "second";
        r.configJson = shortDemo(10).toJson();
        const int64_t b = p.createRun(r);
        auto rb = *p.run(b);
        rb.summaryJson = R"({"train": {"loss": 0.25, "rewards/accuracies": 0.75}, "steps": 10})";
        rb.step = 10;
        rb.totalSteps = 10;
        rb.status = store::RunStatus::Finished;
        p.updateRun(rb);
        p.setRunStatus(a, store::RunStatus::Failed, "out of memory");

        RunsModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setRuns(p.runs());
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.columnCount(), int(RunsModel::ColumnCount));
        // Newest first.
        const int rowA = model.rowOf(a), rowB = model.rowOf(b);
        QVERIFY(rowB < rowA);
        QCOMPARE(model.data(model.index(rowA, RunsModel::Status)).toString(), QString("failed"));
        QCOMPARE(model.data(model.index(rowA, 0), RunsModel::ErrorRole).toString(), QString("out of memory"));
        QCOMPARE(model.data(model.index(rowB, RunsModel::FinalLoss)).toString(), QString::number(0.25, 'g', 4));
        QCOMPARE(model.data(model.index(rowB, RunsModel::FinalAccuracy)).toString(), QString::number(0.75, 'g', 4));
        QCOMPARE(model.data(model.index(rowB, RunsModel::Steps)).toString(), QString("10 / 10"));
        QVERIFY(model.data(model.index(rowA, RunsModel::Config)).toString().contains("LoRA r=8"));
        QVERIFY(model.data(model.index(rowB, RunsModel::Config)).toString().contains("full"));
        QVERIFY(std::isnan(RunsModel::summaryValue(*model.runAt(rowA), "loss")));

        // Same rows: data changes in place; a new run: reset.
        model.setRuns(p.runs());
        r.name = "third";
        p.createRun(r);
        model.setRuns(p.runs());
        QCOMPARE(model.rowCount(), 3);
        model.setRuns({});
        QCOMPARE(model.rowCount(), 0);
    }

    void chartBatchingAndSmoothing() {
        ChartGrid grid;
        grid.addRun(7, "#7");
        const int n = 500;
        std::vector<double> ys;
        for (int i = 1; i <= n; ++i) {
            const double y = std::sin(i * 0.1) + 0.001 * i;
            ys.push_back(y);
            grid.addPoint(7, "train", i, {{"loss", y}, {"rewards/chosen", -y}, {"rewards/rejected", y}});
        }
        // Nothing is drawn until the flush: a burst of points is one replace per series.
        QCOMPARE(grid.shownPointCount(7, "loss", "train"), 0);
        QCOMPARE(grid.rawPointCount(7, "loss", "train"), n);
        const int before = grid.flushCount();
        QVERIFY(grid.flush());
        QCOMPARE(grid.flushCount(), before + 1);
        QCOMPARE(grid.shownPointCount(7, "loss", "train"), n);
        QCOMPARE(grid.shownPointCount(7, "rewards/rejected", "train"), n);
        QVERIFY(!grid.flush());  // nothing new

        // Chosen and rejected share one chart as two series.
        MetricChart* rewards = grid.chartFor("rewards/chosen");
        QCOMPARE(rewards, grid.chartFor("rewards/rejected"));
        QCOMPARE(rewards->seriesCount(), 2);

        // Smoothing: an independent debiased EMA.
        const double w = 0.6;
        grid.setSmoothing(w);
        grid.flush();
        MetricChart* loss = grid.chartFor("loss");
        const QVector<QPointF> shown = loss->shownPoints(0);
        QCOMPARE(shown.size(), n);
        double num = 0, den = 0;
        for (int i = 0; i < n; ++i) {
            num = w * num + ys[i];
            den = w * den + 1;
            QVERIFY2(std::abs(shown[i].y() - num / den) < 1e-9, qPrintable(QString("point %1").arg(i)));
        }
        // The hover reads the nearest point, smoothed and raw.
        const QString hover = loss->hoverText(0, QPointF(100.2, 0));
        QVERIFY2(hover.contains("100") && hover.contains(QString::number(ys[99], 'g', 5)), qPrintable(hover));

        // The axes follow the data: every shown point is inside the ranges.
        auto* axisY = qobject_cast<QValueAxis*>(loss->chart()->axes(Qt::Vertical).first());
        auto* axisX = qobject_cast<QValueAxis*>(loss->chart()->axes(Qt::Horizontal).first());
        for (const QPointF& p : shown) {
            QVERIFY(p.y() >= axisY->min() && p.y() <= axisY->max());
            QVERIFY(p.x() >= axisX->min() && p.x() <= axisX->max());
        }
        // Zooming stops the autoscale until reset.
        loss->chart()->zoom(2.0);
        QTest::mouseDClick(loss->viewport(), Qt::LeftButton);
        QVERIFY(!loss->isZoomed());
    }

    // Axes that read well: ticks at 1, 2 or 5 × 10^k steps anchored at zero, whole steps,
    // nothing below zero for a quantity that never is, labels without exponents for ordinary
    // values; and "No data yet" instead of axes while a chart has no points.
    // The grid puts as many charts in a row as fit at their minimum width; one run's legend
    // tells train from eval by the line drawn (they share the colour).
    void chartGridFits_data() {
        QTest::addColumn<int>("width");
        QTest::newRow("1600-pixel window") << 1150;
        QTest::newRow("1280-pixel window") << 830;
        QTest::newRow("narrow") << 560;
    }
    void chartGridFits() {
        QFETCH(int, width);
        ChartGrid grid;
        grid.resize(width, 600);
        grid.show();
        QVERIFY(QTest::qWaitForWindowExposed(&grid));
        grid.addRun(1, QStringLiteral("#1 demo"));
        std::map<std::string, double> values{{"loss", 0.69}, {"learning_rate", 1e-4}};
        for (int step = 1; step <= 5; ++step) {
            values["loss"] = 0.69 - 0.01 * step;
            grid.addPoint(1, QStringLiteral("train"), step, values);
            grid.addPoint(1, QStringLiteral("eval"), step, values);
        }
        grid.flush();
        QCoreApplication::processEvents();
        for (MetricChart* chart : grid.charts()) {
            QVERIFY2(chart->width() >= chart->minimumWidth(), qPrintable(QString::number(chart->width())));
            QVERIFY(chart->geometry().right() < grid.width());
        }
        QVERIFY(grid.columns() >= 2 && grid.columns() <= 4);
        if (width >= 4 * (grid.charts().front()->minimumWidth() + 4)) QCOMPARE(grid.columns(), 4);
        MetricChart* loss = grid.chartFor("loss");
        QCOMPARE(loss->visibleLegendEntries(), 2);
        QCOMPARE(loss->chart()->legend()->markerShape(), QLegend::MarkerShapeFromSeries);
        const auto series = loss->chart()->series();
        QCOMPARE(series.size(), 2);
        const auto* train = qobject_cast<QLineSeries*>(series[0]);
        const auto* eval = qobject_cast<QLineSeries*>(series[1]);
        QVERIFY(train && eval);
        QVERIFY(train->pen().style() != eval->pen().style() || train->pointsVisible() != eval->pointsVisible());
        QVERIFY(!grid.findChild<QLabel*>("runLegend")->isVisible());  // one run: the charts' legends say it
    }

    // The loss list is TRL 1.x's loss_type menu, walked with the arrow keys as a person would:
    // each entry shows its one line, label smoothing is open only to the losses that have an ε,
    // exo_pair starts with TRL's suggested 1e-3, and every entry gives a configuration that
    // passes the trainer's own check.
    void lossMenuFollowsTrl() {
        ui::RunForm form;
        form.resize(700, 900);
        form.show();
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        auto* loss = form.findChild<QComboBox*>("loss");
        auto* summary = form.findChild<QLabel*>("lossSummary");
        auto* smoothing = form.findChild<QDoubleSpinBox*>("labelSmoothing");
        QVERIFY(loss && summary && smoothing);
        loss->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(loss));
        QCOMPARE(loss->count(), int(train::lossTypes().size()));
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Home);
        for (const auto& info : train::lossTypes()) {
            QCOMPARE(loss->currentData().toString(), QString::fromLatin1(info.name));
            QCOMPARE(summary->text(), QString::fromUtf8(info.summary));
            QCOMPARE(smoothing->isEnabled(), info.labelSmoothing);
            if (!info.labelSmoothing) QCOMPARE(smoothing->value(), 0.0);
            if (std::string(info.name) == "exo_pair") QCOMPARE(smoothing->value(), 0.001);
            train::TrainConfig c = form.config();
            c.db = "p.db";  // the form's data source is the open project
            QCOMPARE(c.loss, std::string(info.name));
            try {
                c.validate();
            } catch (const std::exception& e) {
                QFAIL(qPrintable(QStringLiteral("%1: %2").arg(info.name, e.what())));
            }
            QTest::keyClick(QApplication::focusWidget(), Qt::Key_Down);
        }
    }

    // MPO typed as a person types it: the chosen loss's weight and the further terms; the form's
    // configuration names TRL's loss_type list and loss_weights, and a second form shows it back.
    // SimPO then disables what a reference-free loss cannot use.
    void combinedLossFromTheForm() {
        ui::RunForm form;
        form.resize(700, 900);
        form.show();
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        auto* weight = form.findChild<QDoubleSpinBox*>("lossWeight");
        auto* extra = form.findChild<QLineEdit*>("extraTerms");
        auto* loss = form.findChild<QComboBox*>("loss");
        QVERIFY(weight && extra && loss);
        form.setConfig([] {
            train::TrainConfig c;
            c.db = "p.db";
            return c;
        }());
        weight->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(weight));
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_A, Qt::ControlModifier);
        QTest::keyClicks(QApplication::focusWidget(), "0.8");
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);  // leaves the spin box: value committed
        extra->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(extra));
        QTest::keyClicks(QApplication::focusWidget(), "bco_pair=0.2, sft");
        train::TrainConfig c = form.config();
        c.db = "p.db";
        QCOMPARE(c.loss, std::string("sigmoid,bco_pair,sft"));
        QCOMPARE(c.lossWeights, (std::vector<double>{0.8, 0.2, 1.0}));
        c.rpoAlpha = 0;  // the preset's RPO α would add sft twice
        c.validate();
        ui::RunForm back;
        back.setConfig(c);
        const train::TrainConfig again = back.config();
        QCOMPARE(again.loss, c.loss);
        QCOMPARE(again.lossWeights, c.lossWeights);
        QCOMPARE(back.findChild<QLineEdit*>("extraTerms")->text(), QString("bco_pair=0.2, sft=1"));

        // A term the menu does not have is refused by name before a run starts.
        QTest::keyClicks(QApplication::focusWidget(), ", kto");
        c = form.config();
        c.db = "p.db";
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, c.validate());

        loss->setCurrentIndex(loss->findData("simpo"));
        QVERIFY(form.findChild<QDoubleSpinBox*>("simpoGamma")->isEnabled());
        QVERIFY(!form.findChild<QCheckBox*>("precomputeRef")->isEnabled());
        QVERIFY(!form.findChild<QCheckBox*>("syncRef")->isEnabled());
        QVERIFY(!form.findChild<QComboBox*>("fDivergence")->isEnabled());
        loss->setCurrentIndex(loss->findData("sigmoid"));
        QVERIFY(!form.findChild<QDoubleSpinBox*>("simpoGamma")->isEnabled());
        QVERIFY(form.findChild<QComboBox*>("fDivergence")->isEnabled());
    }

    // The New-run form at the default window size and at 1280x800: no field cut at the right
    // edge, no horizontal scrollbar; the charts beside it keep whole columns.
    void formFitsTheWindow_data() {
        QTest::addColumn<QSize>("window");
        QTest::newRow("1600x1000") << QSize(1600, 1000);
        QTest::newRow("1280x800") << QSize(1280, 800);
    }
    void formFitsTheWindow() {
        QFETCH(QSize, window);
        TrainView view(QString{});
        view.resize(window.width() - 118, window.height() - 60);  // less the sidebar and the bars
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCoreApplication::processEvents();
        auto* area = view.form()->findChild<QScrollArea*>();
        QVERIFY(area);
        QVERIFY(!area->horizontalScrollBar()->isVisible());
        const int visibleRight = area->viewport()->width();
        int fields = 0;
        for (QWidget* w : area->widget()->findChildren<QWidget*>()) {
            if (!w->isVisibleTo(area->widget()) || qobject_cast<QLabel*>(w) || !w->focusPolicy()) continue;
            const int right = w->mapTo(area->viewport(), QPoint(w->width(), 0)).x();
            QVERIFY2(right <= visibleRight, qPrintable(QStringLiteral("%1 ends at %2 of %3").arg(w->objectName(), QString::number(right), QString::number(visibleRight))));
            ++fields;
        }
        QVERIFY(fields > 20);
        for (MetricChart* chart : view.charts()->charts())
            if (chart->isVisible()) QVERIFY(chart->mapTo(&view, QPoint(chart->width(), 0)).x() <= view.width());
    }

    void chartAxes_data() {
        QTest::addColumn<double>("x1");
        QTest::addColumn<double>("yLow");
        QTest::addColumn<double>("yHigh");
        QTest::newRow("loss over 125 steps") << 125.0 << 0.31 << 0.69;
        QTest::newRow("learning rate") << 125.0 << 0.0 << 5e-5;
        QTest::newRow("tokens per second") << 40.0 << 7900.0 << 8100.0;
        QTest::newRow("gradient norm from 0.2") << 9.0 << 0.2 << 4.6;
        QTest::newRow("margin around zero") << 300.0 << -2.0 << 3.0;
    }
    void chartAxes() {
        QFETCH(double, x1);
        QFETCH(double, yLow);
        QFETCH(double, yHigh);
        MetricChart chart(QStringLiteral("metric"));
        chart.resize(320, 220);
        chart.show();
        QVERIFY(chart.showsEmptyState());
        QVERIFY(!chart.axisX()->isVisible() && !chart.axisY()->isVisible());
        const int s = chart.addSeries(QStringLiteral("train"), QPen(Qt::blue));
        QVector<QPointF> points;
        const int n = 50;
        for (int i = 0; i <= n; ++i) {
            const double t = double(i) / n;
            points.push_back(QPointF(x1 * t, yLow + (yHigh - yLow) * (0.5 + 0.5 * std::sin(7 * t))));
        }
        points.push_back(QPointF(x1, yLow));
        points.push_back(QPointF(x1, yHigh));
        chart.appendPoints(s, points);
        QVERIFY(chart.flush());
        QVERIFY(!chart.showsEmptyState());
        QVERIFY(chart.axisX()->isVisible() && chart.axisY()->isVisible());
        for (QValueAxis* axis : {chart.axisX(), chart.axisY()}) {
            const double step = axis->tickInterval();
            const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
            QVERIFY2(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9,
                     qPrintable(QString::number(step)));
            QCOMPARE(axis->tickType(), QValueAxis::TicksDynamic);
            QCOMPARE(axis->tickAnchor(), 0.0);
            // The ends sit on ticks; about four intervals.
            for (double end : {axis->min(), axis->max()})
                QVERIFY2(std::abs(end / step - std::round(end / step)) < 1e-6, qPrintable(QString::number(end)));
            const double intervals = (axis->max() - axis->min()) / step;
            QVERIFY2(intervals >= 2 && intervals <= 10, qPrintable(QString::number(intervals)));
            // No exponent in a label, and a tick at zero prints as zero.
            for (double v : {axis->min(), axis->max(), 0.0}) {
                const QString label = QString::asprintf(axis->labelFormat().toLatin1().constData(), v);
                QVERIFY2(!label.contains('e'), qPrintable(label));
            }
        }
        QVERIFY(chart.axisX()->tickInterval() >= 1);  // steps are whole numbers
        QVERIFY(chart.axisX()->min() <= 0 && chart.axisX()->max() >= x1);
        QVERIFY(chart.axisY()->min() <= yLow && chart.axisY()->max() >= yHigh);
        if (yLow >= 0) QVERIFY2(chart.axisY()->min() >= 0, qPrintable(QString::number(chart.axisY()->min())));
        chart.removeAllSeries();
        QVERIFY(chart.showsEmptyState());
    }

    // The form's presets are the core's (train/presets.h): applying one gives its
    // configuration, keeping the data file and the device already chosen.
    void presetsComeFromCore_data() {
        QTest::addColumn<QString>("name");
        for (const train::PresetInfo& p : train::presets()) QTest::newRow(p.name.c_str()) << QString::fromStdString(p.name);
    }
    void presetsComeFromCore() {
        QFETCH(QString, name);
        ui::RunForm form;
        train::TrainConfig before = form.config();
        before.data = dir_.filePath("preset-pairs.jsonl").toStdString();
        before.device = "cpu";
        form.setConfig(before);
        form.applyPreset(name.toStdString());
        QCOMPARE(form.presetBox()->currentData().toString(), name);
        train::TrainConfig want = train::presetConfig(name.toStdString());
        want.data = before.data;
        want.evalData = before.evalData;
        want.device = before.device;
        QCOMPARE(QString::fromStdString(form.config().toJson()), QString::fromStdString(want.toJson()));
    }

    void modelInspection() {
        const ui::ModelInfo tiny = ui::inspectModel("builtin:tiny");
        QVERIFY2(tiny.ok, qPrintable(tiny.error));
        QVERIFY(tiny.parameters > 0);
        QCOMPARE(tiny.parameters, tiny.config.parameterCount());

        QDir d(dir_.path());
        d.mkpath("broken-model");
        QFile cfg(d.filePath("broken-model/config.json"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write("{\"model_type\": \"llama\", \"hidden_size\": ");  // cut off
        cfg.close();
        const ui::ModelInfo broken = ui::inspectModel(d.filePath("broken-model"));
        QVERIFY(!broken.ok);
        QVERIFY2(broken.error.contains("config.json"), qPrintable(broken.error));

        const ui::ModelInfo none = ui::inspectModel(dir_.path());
        QVERIFY(!none.ok);
        QVERIFY2(none.error.contains("config.json"), qPrintable(none.error));
    }

    // A project with no test split: the form offers "Hold out N % as test"; one click moves
    // that share of the labelled train pairs to test (store/holdout.h), and the form then
    // counts them and hides the offer.
    void holdOutFromForm() {
        const QString path = dir_.filePath("no-test.dpowb");
        int labelled = 0;
        {
            auto p = store::Project::create(path.toStdString());
            for (int i = 0; i < 40; ++i) {
                store::Pair pair;
                pair.prompt = "Prompt " + std::to_string(i);
                pair.responseA = "good " + std::to_string(i);
                pair.responseB = "bad " + std::to_string(i);
                const int64_t id = p.addPair(pair);
                if (i % 8 != 7) {
                    p.label(id, i % 2 ? store::Verdict::A : store::Verdict::B);
                    ++labelled;
                }
            }
        }
        TrainView view(path);
        view.resize(1280, 800);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        ui::RunForm* form = view.form();
        QTRY_VERIFY_WITH_TIMEOUT(form->holdOutRow()->isVisible(), kWaitMs);
        if (!screenshotDir().isEmpty()) QVERIFY(view.grab().save(screenshotDir() + "/run-form-hold-out.png"));
        form->holdOutPercent()->setValue(20);
        QSignalSpy done(&view, &TrainView::holdOutFinished);
        QTest::mouseClick(form->holdOutButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kWaitMs);
        const int expected = int(std::llround(labelled * 0.2));
        QVERIFY2(done.at(0).at(0).toString().contains(QString::number(expected)), qPrintable(done.at(0).at(0).toString()));
        auto p = store::Project::open(path.toStdString());
        store::PairQuery test;
        test.split = "test";
        QCOMPARE(p.countPairs(test), int64_t(expected));
        QTRY_VERIFY_WITH_TIMEOUT(!form->holdOutRow()->isVisible(), kWaitMs);
        QVERIFY2(form->findChild<QLabel*>("dataSummary")->text().contains(QStringLiteral("<b>%1</b> test").arg(expected)),
                 qPrintable(form->findChild<QLabel*>("dataSummary")->text()));
    }

    void demoRunFromForm() {
        TrainView view(project_);
        view.resize(1500, 900);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.form()->setConfig(shortDemo(40));
        // The label counts arrive from a background thread.
        QTRY_VERIFY2_WITH_TIMEOUT(view.form()->startBlocker().isEmpty(), qPrintable(view.form()->startBlocker()), kWaitMs);
        QVERIFY(view.form()->startButton()->isEnabled());

        QSignalSpy finished(&view, &TrainView::runFinished);
        QTest::mouseClick(view.form()->startButton(), Qt::LeftButton);
        QVERIFY(view.isRunning());

        QTRY_VERIFY_WITH_TIMEOUT(view.liveRunId() != 0, kWaitMs);
        const qint64 run = view.liveRunId();
        QTRY_VERIFY2_WITH_TIMEOUT(view.charts()->shownPointCount(run, "loss", "train") >= 3,
                                  qPrintable(view.phaseText() + " | " + view.statusText() + " | " + view.errorText()), kWaitMs);
        const int seen = view.charts()->shownPointCount(run, "loss", "train");
        const QString status = view.statusText();
        QVERIFY2(status.contains("step"), qPrintable(status));
        QTRY_VERIFY_WITH_TIMEOUT(view.charts()->shownPointCount(run, "loss", "train") > seen + 3, kWaitMs);
        QTRY_VERIFY_WITH_TIMEOUT(view.statusText() != status, kWaitMs);
        QVERIFY(view.progressBar()->value() > 0);
        if (!screenshotDir().isEmpty()) {
            QTRY_VERIFY_WITH_TIMEOUT(view.charts()->shownPointCount(run, "loss", "train") >= 28 || finished.count(), kWaitMs);
            view.charts()->flush();
            QVERIFY(view.grab().save(screenshotDir() + "/train-view-mid-run.png"));
        }

        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kWaitMs);
        const auto& result = *view.lastResult();
        QVERIFY2(result.status == store::RunStatus::Finished, result.error.c_str());
        QCOMPARE(view.phaseText(), QString("Finished"));
        // Every logged point reached its chart, and eval points their own series.
        auto p = store::Project::open(project_.toStdString());
        int trainRows = 0;
        for (const auto& row : p.metrics(run))
            if (row.split == "train") ++trainRows;
        view.charts()->flush();
        QCOMPARE(view.charts()->shownPointCount(run, "loss", "train"), trainRows);
        QVERIFY(view.charts()->shownPointCount(run, "loss", "eval") >= 1);
        QCOMPARE(p.run(run)->status, store::RunStatus::Finished);
    }

    // "GPUs to use" is offered only when there is more than one GPU to spread a run over; all
    // are chosen at first, one process each.
    void processesOffered_data() {
        QTest::addColumn<QStringList>("gpus");
        QTest::addColumn<bool>("offered");
        QTest::newRow("no GPU") << QStringList{} << false;
        QTest::newRow("one GPU") << QStringList{"cuda:0"} << false;
        QTest::newRow("two GPUs") << QStringList{"cuda:0", "cuda:1"} << true;
        QTest::newRow("four GPUs") << QStringList{"cuda:0", "cuda:1", "cuda:2", "cuda:3"} << true;
    }
    void processesOffered() {
        QFETCH(QStringList, gpus);
        QFETCH(bool, offered);
        ui::RunForm form;
        form.show();
        form.setGpus(gpus);
        auto* list = form.findChild<QListWidget*>("gpus");
        QVERIFY(list);
        QCOMPARE(list->isVisibleTo(&form), offered);
        QCOMPARE(list->count(), int(gpus.size()));
        QCOMPARE(form.processes(), offered ? int(gpus.size()) : 1);
        QCOMPARE(form.chosenGpus().size(), offered ? gpus.size() : 0);
    }

    // The GPU picker driven by keys, as a user would (arrows move, Space toggles a GPU): the
    // chosen CUDA indices, the number of processes, the device of a one-GPU run, and Start
    // refused when none is chosen. With DPOWB_SCREENSHOTS set, the form of four GPUs is saved.
    void gpuPickerByKeys_data() {
        QTest::addColumn<QString>("keys");  // j = Down, k = Up, space = Space
        QTest::addColumn<QList<int>>("chosen");
        QTest::addColumn<QString>("device");  // of the configuration
        QTest::newRow("all four (the default)") << "" << QList<int>{0, 1, 2, 3} << "auto";
        QTest::newRow("without cuda:1 and cuda:3") << "j jj " << QList<int>{0, 2} << "auto";
        QTest::newRow("only cuda:2: one process, on it") << " j jj " << QList<int>{2} << "cuda:2";
        QTest::newRow("none: Start refused") << " j j j " << QList<int>{} << "auto";
        QTest::newRow("cuda:3 toggled twice") << "jjj  " << QList<int>{0, 1, 2, 3} << "auto";
    }
    void gpuPickerByKeys() {
        QFETCH(QString, keys);
        QFETCH(QList<int>, chosen);
        QFETCH(QString, device);
        ui::RunForm form;
        form.resize(640, 1240);
        form.show();
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        form.setConfig(shortDemo(6));
        ui::DataSummary data;  // the demo project's counts
        data.trainPairs = 2000;
        data.testPairs = 200;
        data.unlabelled = 300;
        data.ready = true;
        form.setDataSummary(data);
        const QStringList gpus = {"cuda:0 — NVIDIA H100 80GB HBM3", "cuda:1 — NVIDIA H100 80GB HBM3",
                                  "cuda:2 — NVIDIA H100 80GB HBM3", "cuda:3 — NVIDIA H100 80GB HBM3"};
        form.setGpus(gpus);
        auto* list = form.findChild<QListWidget*>("gpus");
        QVERIFY(list);
        form.activateWindow();
        list->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(list));
        for (QChar ch : keys) {
            const Qt::Key key = ch == 'j' ? Qt::Key_Down : ch == 'k' ? Qt::Key_Up : Qt::Key_Space;
            QTest::keyClick(QApplication::focusWidget(), key);
        }
        QCOMPARE(form.chosenGpus(), chosen);
        QCOMPARE(form.processes(), std::max<int>(1, int(chosen.size())));
        QCOMPARE(QString::fromStdString(form.config().device), device);
        auto* summary = form.findChild<QLabel*>("processesSummary");
        QVERIFY(summary);
        if (chosen.size() > 1) {
            QStringList ids;
            for (int i : chosen) ids << QString::number(i);
            QVERIFY2(summary->text().contains("CUDA_VISIBLE_DEVICES=" + ids.join(',')), qPrintable(summary->text()));
        }
        if (chosen.isEmpty())
            QTRY_VERIFY2_WITH_TIMEOUT(form.startBlocker().contains("GPUs to use"), qPrintable(form.startBlocker()), kWaitMs);
        else
            QTRY_VERIFY2_WITH_TIMEOUT(form.startBlocker().isEmpty(), qPrintable(form.startBlocker()), kWaitMs);
        const QString shots = qEnvironmentVariable("DPOWB_SCREENSHOTS");
        if (!shots.isEmpty() && chosen == QList<int>{0, 2}) {
            if (auto* area = form.findChild<QScrollArea*>()) area->ensureWidgetVisible(list);
            QVERIFY(form.grab().save(shots + "/run-form-gpus.png"));
        }
    }

    // A run of two processes from the form: `dpowb train --nproc 2` beside the GUI (on the
    // CPU here, Gloo), its metrics in the charts through the project, the result in the view.
    void dataParallelRunFromForm() {
        TrainView view(project_);
        view.setCliProgram(DPOWB_CLI);
        view.resize(1500, 900);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        // As if the machine had three GPUs; cuda:1 left out by keys. The ranks run on the CPU
        // here (--device cpu), with the chosen GPUs in their environment all the same.
        view.form()->setGpus({"cuda:0", "cuda:1", "cuda:2"});
        auto* gpus = view.form()->findChild<QListWidget*>("gpus");
        view.activateWindow();
        gpus->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(gpus));
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Down);
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Space);
        QCOMPARE(view.form()->processes(), 2);
        train::TrainConfig c = shortDemo(6);
        c.device = "cpu";
        c.name = "two processes";
        view.form()->setConfig(c);
        QTRY_VERIFY2_WITH_TIMEOUT(view.form()->startBlocker().isEmpty(), qPrintable(view.form()->startBlocker()), kWaitMs);
        QSignalSpy finished(&view, &TrainView::runFinished);
        QTest::mouseClick(view.form()->startButton(), Qt::LeftButton);
        QVERIFY(view.isRunning());
        auto* job = view.findChild<ui::TrainJob*>();
        QVERIFY(job);
        const QStringList args = job->arguments();
        QCOMPARE(args.mid(args.indexOf("--nproc"), 2), (QStringList{"--nproc", "2"}));
        QCOMPARE(job->environment().value("CUDA_VISIBLE_DEVICES"), QString("0,2"));
        // Pause once the run exists (the launcher passes it to both ranks, which hold after the
        // same step); nothing is logged while held; Resume lets the job finish.
        QVERIFY(!view.pauseButton()->isEnabled() || view.liveRunId() != 0);
        QTRY_VERIFY_WITH_TIMEOUT(view.liveRunId() != 0, kWaitMs);
        const qint64 run = view.liveRunId();
        QVERIFY(view.pauseButton()->isEnabled());
        QSignalSpy paused(&view, &TrainView::trainerPaused);
        QTest::mouseClick(view.pauseButton(), Qt::LeftButton);
        QCOMPARE(view.phaseText(), QString("Paused"));
        QTRY_COMPARE_WITH_TIMEOUT(paused.count(), 1, kWaitMs);
        QCOMPARE(paused[0][1].toBool(), true);
        const qint64 heldAt = paused[0][0].toLongLong();
        QVERIFY2(heldAt >= 1 && heldAt < 6, qPrintable(QString::number(heldAt)));
        auto lastLogged = [&] {
            auto p = store::Project::openReadOnly(project_.toStdString());
            int64_t last = 0;
            for (const auto& m : p.metrics(run))
                if (m.split == "train") last = std::max(last, m.step);
            return last;
        };
        QCOMPARE(lastLogged(), int64_t(heldAt));
        QTest::qWait(2000);
        QCOMPARE(lastLogged(), int64_t(heldAt));
        QVERIFY(view.isRunning());
        QTest::mouseClick(view.pauseButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(paused.count(), 2, kWaitMs);
        QCOMPARE(paused[1][1].toBool(), false);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kWaitMs);
        const auto& result = *view.lastResult();
        QVERIFY2(result.status == store::RunStatus::Finished, result.error.c_str());
        QCOMPARE(result.steps, int64_t(6));
        auto p = store::Project::open(project_.toStdString());
        QCOMPARE(p.run(run)->status, store::RunStatus::Finished);
        QVERIFY2(QString::fromStdString(p.run(run)->configJson).contains("two processes"), p.run(run)->configJson.c_str());
        int trainRows = 0;
        for (const auto& row : p.metrics(run))
            if (row.split == "train") ++trainRows;
        QCOMPARE(trainRows, 6);
        view.charts()->flush();
        QCOMPARE(view.charts()->shownPointCount(run, "loss", "train"), trainRows);
        QVERIFY(view.charts()->shownPointCount(run, "loss", "eval") >= 1);
    }

    void pauseResumeStop() {
        TrainView view(project_);
        view.resize(1500, 900);
        view.show();
        int asked = 0;
        view.setConfirmHandler([&](const QString&) {
            ++asked;
            return true;
        });
        train::TrainConfig c = shortDemo(100000);  // stopped long before the end
        c.name = "stopped";
        view.form()->setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(view.form()->startButton()->isEnabled(), kWaitMs);
        QTest::mouseClick(view.form()->startButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(view.liveRunId() != 0, kWaitMs);
        const qint64 run = view.liveRunId();
        QTRY_VERIFY_WITH_TIMEOUT(view.charts()->rawPointCount(run, "loss", "train") >= 2, kWaitMs);

        // The trainer says when it holds, and after how many steps: the step in progress may
        // still finish, then nothing moves until Resume.
        QSignalSpy paused(&view, &TrainView::trainerPaused);
        QTest::mouseClick(view.pauseButton(), Qt::LeftButton);
        QCOMPARE(view.pauseButton()->text(), QString("Resume"));
        QCOMPARE(view.phaseText(), QString("Paused"));
        QTRY_COMPARE_WITH_TIMEOUT(paused.count(), 1, kWaitMs);
        QCOMPARE(paused[0][1].toBool(), true);
        const qint64 heldAt = paused[0][0].toLongLong();
        QVERIFY(heldAt >= 2);
        // Logged every step, and the points were queued before the event: all of them are in.
        QCOMPARE(view.charts()->rawPointCount(run, "loss", "train"), int(heldAt));
        {
            auto p = store::Project::open(project_.toStdString());
            int64_t lastLogged = 0;
            for (const auto& m : p.metrics(run))
                if (m.split == "train") lastLogged = std::max(lastLogged, m.step);
            QCOMPARE(lastLogged, int64_t(heldAt));
        }
        QCOMPARE(view.phaseText(), QString("Paused"));

        QTest::mouseClick(view.pauseButton(), Qt::LeftButton);
        QCOMPARE(view.pauseButton()->text(), QString("Pause"));
        QTRY_COMPARE_WITH_TIMEOUT(paused.count(), 2, kWaitMs);
        QCOMPARE(paused[1][0].toLongLong(), heldAt);
        QCOMPARE(paused[1][1].toBool(), false);
        QTRY_VERIFY_WITH_TIMEOUT(view.charts()->rawPointCount(run, "loss", "train") > int(heldAt), kWaitMs);

        QSignalSpy finished(&view, &TrainView::runFinished);
        QTest::mouseClick(view.stopButton(), Qt::LeftButton);
        QCOMPARE(asked, 1);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kWaitMs);
        const auto& result = *view.lastResult();
        QCOMPARE(result.status, store::RunStatus::Cancelled);
        QVERIFY(QFile::exists(QString::fromStdString(result.outputDir) + "/checkpoint/state.json"));
        auto p = store::Project::open(project_.toStdString());
        QCOMPARE(p.run(run)->status, store::RunStatus::Cancelled);
        QCOMPARE(view.phaseText(), QString("Stopped"));
    }

    // The cancelled run, selected in the history, continues from its checkpoint under the same
    // id: the next step is the one after the checkpoint (no step lost or repeated), the record
    // goes back to running, and stopping again leaves a later checkpoint.
    void resumeFromHistory() {
        History h;
        makeHistory("resume", h);
        if (QTest::currentTestFailed()) return;
        int64_t stoppedAt = 0;
        {
            auto p = store::Project::open(h.project.toStdString());
            const auto rec = p.run(h.cancelled);
            QVERIFY(rec.has_value());
            QFile f(QString::fromStdString(rec->outputDir) + "/checkpoint/state.json");
            QVERIFY(f.open(QIODevice::ReadOnly));
            stoppedAt = QJsonDocument::fromJson(f.readAll()).object().value("step").toInteger();
            QVERIFY(stoppedAt > 0);
        }
        auto trainSteps = [&] {
            QList<int64_t> steps;
            auto p = store::Project::open(h.project.toStdString());
            for (const auto& m : p.metrics(h.cancelled))
                if (m.split == "train") steps << m.step;
            return steps;
        };
        const QList<int64_t> before = trainSteps();
        QVERIFY(!before.isEmpty());

        TrainView view(h.project);
        view.resize(1500, 900);
        view.show();
        view.setConfirmHandler([](const QString&) { return true; });
        view.refresh();
        // Only interrupted or cancelled runs can be resumed.
        view.runsTable()->selectRow(view.runsModel()->rowOf(h.finished));
        QVERIFY(!view.resumeButton()->isEnabled());
        view.runsTable()->selectRow(view.runsModel()->rowOf(h.cancelled));
        QVERIFY(view.resumeButton()->isEnabled());

        QSignalSpy finished(&view, &TrainView::runFinished);
        QTest::mouseClick(view.resumeButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(view.liveRunId(), h.cancelled, kWaitMs);
        QVERIFY(!view.resumeButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(trainSteps().size() >= before.size() + 2, kWaitMs);
        {
            auto p = store::Project::open(h.project.toStdString());
            QCOMPARE(p.run(h.cancelled)->status, store::RunStatus::Running);
        }
        const QList<int64_t> after = trainSteps();
        // Logged every step: the steps up to the checkpoint, then the ones after it.
        int64_t firstNew = 0;
        for (int64_t s : after)
            if (s > stoppedAt) {
                firstNew = s;
                break;
            }
        QCOMPARE(firstNew, stoppedAt + 1);
        QCOMPARE(int(std::count(after.begin(), after.end(), stoppedAt + 1)), 1);
        auto upTo = [&](const QList<int64_t>& steps) {
            return std::count_if(steps.begin(), steps.end(), [&](int64_t s) { return s <= stoppedAt; });
        };
        QCOMPARE(upTo(after), upTo(before));  // nothing before the checkpoint was trained again

        QTest::mouseClick(view.stopButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kWaitMs);
        const auto& result = *view.lastResult();
        QCOMPARE(result.runId, h.cancelled);
        QCOMPARE(result.status, store::RunStatus::Cancelled);
        QFile f(QString::fromStdString(result.outputDir) + "/checkpoint/state.json");
        QVERIFY(f.open(QIODevice::ReadOnly));
        QVERIFY(QJsonDocument::fromJson(f.readAll()).object().value("step").toInteger() > stoppedAt);
    }

    void failingRunShowsItsError() {
        QDir d(dir_.path());
        d.mkpath("bad-model");
        QFile cfg(d.filePath("bad-model/config.json"));
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write("{\"model_type\": \"llama\", \"hidden_size\": \"wide\"}");
        cfg.close();

        TrainView view(project_);
        view.show();
        train::TrainConfig c = shortDemo(5);
        c.model = d.filePath("bad-model").toStdString();
        c.name = "broken";
        view.form()->setConfig(c);
        // The form checks the folder at once and will not start it...
        QVERIFY(!view.form()->modelInfo().ok);
        QVERIFY(!view.form()->startButton()->isEnabled());
        QVERIFY(view.form()->startBlocker().contains("config.json"));
        // ...and when it is started anyway (e.g. resumed), the trainer records the failure.
        QSignalSpy finished(&view, &TrainView::runFinished);
        QVERIFY(view.startRun(c));
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kWaitMs);
        const auto& result = *view.lastResult();
        QCOMPARE(result.status, store::RunStatus::Failed);
        QVERIFY2(view.errorText().contains("config.json"), qPrintable(view.errorText()));
        QCOMPARE(view.phaseText(), QString("Failed"));
        auto p = store::Project::open(project_.toStdString());
        QVERIFY(result.runId > 0);
        const auto rec = p.run(result.runId);
        QCOMPARE(rec->status, store::RunStatus::Failed);
        QVERIFY(rec->error.find("config.json") != std::string::npos);
    }

    void overlayAndExport() {
        History h;
        makeHistory("overlay", h);
        if (QTest::currentTestFailed()) return;
        TrainView view(h.project);
        view.resize(1500, 900);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        // The run's progress bar spans the chart side (it was 260 pixels at most, text cut).
        QVERIFY(view.findChild<QProgressBar*>("progress")->width() >= view.charts()->width() - 10);
        view.showRuns({h.finished, h.cancelled});
        view.charts()->flush();
        QCOMPARE(view.charts()->runIds().size(), 2);
        auto p = store::Project::open(h.project.toStdString());
        int rows = 0;
        for (qint64 id : {h.finished, h.cancelled}) {
            int train = 0;
            for (const auto& r : p.metrics(id)) {
                ++rows;
                if (r.split == "train") ++train;
            }
            QCOMPARE(view.charts()->shownPointCount(id, "loss", "train"), train);
        }
        // Legends name the runs.
        MetricChart* loss = view.charts()->chartFor("loss");
        QStringList names;
        for (int i = 0; i < loss->seriesCount(); ++i) names << loss->seriesName(i);
        QVERIFY2(names.join(",").contains(QString("#%1").arg(h.cancelled)), qPrintable(names.join(",")));
        // One legend for the grid names each run in full beside its colour (per-chart legends
        // cut the names short); the line styles are explained once.
        QCOMPARE(loss->visibleLegendEntries(), 0);
        QCOMPARE(view.charts()->chartFor("rewards/chosen")->visibleLegendEntries(), 0);
        QVERIFY(!loss->chart()->legend()->isVisible());
        auto* runLegend = view.charts()->findChild<QLabel*>("runLegend");
        QVERIFY(runLegend->isVisible());
        for (qint64 id : {h.finished, h.cancelled})
            QVERIFY2(runLegend->text().contains(view.runLabel(id).toHtmlEscaped()), qPrintable(runLegend->text()));
        QVERIFY(view.charts()->findChild<QLabel*>("styleNote")->isVisible());

        // Exports carry the runs' names: a heading over the charts (and the PNG's Title text).
        const QString png = dir_.filePath("charts.png"), svg = dir_.filePath("charts.svg"), csv = dir_.filePath("m.csv");
        QVERIFY(view.charts()->exportPng(png));
        const QImage image(png);
        QVERIFY(image.width() > 100);
        QVERIFY(image.height() > view.charts()->height());
        for (qint64 id : {h.finished, h.cancelled}) {
            QVERIFY2(image.text("Title").contains(view.runLabel(id)), qPrintable(image.text("Title")));
            QVERIFY(view.charts()->exportTitle().contains(view.runLabel(id)));
        }
        QVERIFY(view.charts()->exportSvg(svg));
        QFile s(svg);
        QVERIFY(s.open(QIODevice::ReadOnly));
        const QByteArray svgText = s.readAll();
        QVERIFY(svgText.contains("<svg"));
        QVERIFY(svgText.contains(view.runLabel(h.finished).toHtmlEscaped().toUtf8()));
        QString error;
        QVERIFY2(view.exportMetricsCsv(csv, &error), qPrintable(error));
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
        const QList<QByteArray> lines = f.readAll().trimmed().split('\n');
        QCOMPARE(lines.size(), rows + 1);
        QVERIFY(lines[0].startsWith("run_id,step,epoch,split,"));
        QVERIFY(lines[0].contains("rewards/margins"));
        if (!screenshotDir().isEmpty()) QVERIFY(view.grab().save(screenshotDir() + "/train-view-overlay.png"));
    }
};

QTEST_MAIN(TrainViewTest)
#include "tst_train_view.moc"
