// File › Export from the window: every pair, or only the pairs the filtered Label view shows.
// The files written are read back and checked against the pairs made here.
#include <QApplication>
#include <QAbstractItemView>
#include <QComboBox>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "store/project.h"

using namespace dpowb;
using Scope = ui::MainWindow::ExportScope;

class TestExportView : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString db_;
    std::unique_ptr<ui::MainWindow> window_;
    std::set<std::string> betaPrompts_;  // the pairs of source "beta": what the filtered view shows
    int betaLabelledAB_ = 0, allLabelledAB_ = 0;
    int pairs_ = 0;

    // The records of an exported JSONL file, by prompt.
    static std::vector<nlohmann::json> records(const QString& path) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) return {};
        std::vector<nlohmann::json> out;
        for (const QByteArray& line : f.readAll().split('\n'))
            if (!line.trimmed().isEmpty()) out.push_back(nlohmann::json::parse(line.toStdString()));
        return out;
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_export_view"));
        QVERIFY(dir_.isValid());
        db_ = dir_.filePath(QStringLiteral("export.dpowb"));
        auto p = store::Project::create(db_.toStdString());
        for (int i = 0; i < 23; ++i) {
            store::Pair pair;
            pair.prompt = "Review of film " + std::to_string(i);
            pair.responseA = "Warm and funny " + std::to_string(i);
            pair.responseB = "Dull and long " + std::to_string(i);
            const bool beta = i % 3 == 0;
            pair.source = beta ? "beta" : "alpha";
            const int64_t id = p.addPair(pair);
            ++pairs_;
            if (beta) betaPrompts_.insert(pair.prompt);
            if (i % 2 == 0) {  // a or b on every other pair; a tie on some of the rest
                p.label(id, i % 4 == 0 ? store::Verdict::A : store::Verdict::B);
                ++allLabelledAB_;
                if (beta) ++betaLabelledAB_;
            } else if (i % 5 == 0) {
                p.label(id, store::Verdict::Tie);
            }
        }
        window_ = std::make_unique<ui::MainWindow>();
        window_->resize(1280, 800);
        window_->show();
        QVERIFY(window_->openProject(db_, true));
        ui::LabelView* view = window_->labelView();
        QTRY_VERIFY_WITH_TIMEOUT(!view->tableModel()->isLoading() && view->tableModel()->rowCount() == pairs_, 10000);
        // Filter the view as a user would: click the source box, arrow keys in its list, Enter.
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
        QApplication::setActiveWindow(window_.get());
        QVERIFY(QTest::qWaitForWindowActive(window_.get()));
        QComboBox* sources = view->sourceFilter();
        QVERIFY(sources->findData(QStringLiteral("beta")) > 0);
        QTest::mouseClick(sources, Qt::LeftButton);
        QTRY_VERIFY(sources->view()->isVisible());
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(sources->view()));
        for (int k = 0; k < sources->count(); ++k) {
            if (sources->view()->currentIndex().data(Qt::UserRole).toString() == QStringLiteral("beta")) break;
            QTest::keyClick(QApplication::focusWidget(), Qt::Key_Down);
        }
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Return);
        QTRY_COMPARE(sources->currentData().toString(), QStringLiteral("beta"));
        QTRY_VERIFY_WITH_TIMEOUT(!view->tableModel()->isLoading() &&
                                     view->tableModel()->rowCount() == int(betaPrompts_.size()),
                                 10000);
    }

    void exports_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<bool>("viewOnly");
        QTest::addColumn<int>("expected");
        QTest::addColumn<bool>("onlyBeta");
        QTest::newRow("pairs, this view") << QStringLiteral("pairs") << true << int(betaPrompts_.size()) << true;
        QTest::newRow("pairs, all") << QStringLiteral("pairs") << false << pairs_ << false;
        QTest::newRow("trl, this view") << QStringLiteral("trl") << true << betaLabelledAB_ << true;
        QTest::newRow("trl, all") << QStringLiteral("trl") << false << allLabelledAB_ << false;
    }
    void exports() {
        QFETCH(QString, format);
        QFETCH(bool, viewOnly);
        QFETCH(int, expected);
        QFETCH(bool, onlyBeta);
        const QString out = dir_.filePath(QStringLiteral("out-%1-%2.jsonl").arg(format).arg(viewOnly));
        QSignalSpy finished(window_.get(), &ui::MainWindow::exportFinished);
        window_->startExport(out, format, viewOnly ? Scope::View : Scope::All);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
        QCOMPARE(finished.at(0).at(1).toLongLong(), qint64(expected));
        const auto recs = records(out);
        QCOMPARE(int(recs.size()), expected);
        std::set<std::string> prompts;
        for (const auto& r : recs) prompts.insert(r["prompt"].get<std::string>());
        QCOMPARE(int(prompts.size()), expected);  // no pair twice
        if (onlyBeta) {
            for (const auto& prompt : prompts) QVERIFY2(betaPrompts_.count(prompt), prompt.c_str());
        } else {
            int beta = 0;
            for (const auto& prompt : prompts) beta += int(betaPrompts_.count(prompt));
            QVERIFY(beta < expected);  // the others came too
        }
        // The view itself is untouched by an export.
        QCOMPARE(window_->labelView()->tableModel()->rowCount(), int(betaPrompts_.size()));
    }

    void cleanupTestCase() { window_.reset(); }
};

QTEST_MAIN(TestExportView)
#include "tst_export_view.moc"
