// The labeling workbench end to end, offscreen: keys pressed in the window go to the project
// file with the right verdict and left/right orientation; undo restores; filters and search
// agree with the store's own counts; the models pass QAbstractItemModelTester; a change made
// through another connection shows up; the import dialog on a good and a bad file.
#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QHeaderView>
#include <QPushButton>
#include <QTextBrowser>
#include <QFile>
#include <QLineEdit>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

#include "help_overlay.h"
#include "import_dialog.h"
#include "label_history_model.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "pair_view.h"
#include "project_context.h"
#include "store/formats.h"
#include "store/project.h"

using namespace dpowb;
using ui::LabelView;
using ui::PairTableModel;
using ui::PairView;

namespace {

constexpr int kPairs = 60;

// Pair i: plain prompts for even i, chat prompts for odd i; every fifth in split test;
// sources alternate; pairs 0..9 arrive labelled A. Each response is unique text.
store::Pair makePair(int i) {
    store::Pair p;
    if (i % 2 == 0) {
        p.prompt = "Write a line about topic " + std::to_string(i) + ".";
    } else {
        p.promptMessages = {{"system", "You are terse."}, {"user", "Question number " + std::to_string(i) + "?"}};
    }
    p.responseA = "Answer alpha " + std::to_string(i) + " with **bold** text.";
    p.responseB = "Answer beta " + std::to_string(i) + "\n\n```\ncode " + std::to_string(i) + "\n```";
    if (i == 7) p.responseA += " zebracorn";  // a unique word for the search test
    p.split = i % 5 == 4 ? "test" : "train";
    p.source = i % 3 == 0 ? "alpha-src" : "beta-src";
    return p;
}

}  // namespace

class TestLabelWorkbench : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString path_;
    std::unique_ptr<ui::MainWindow> window_;
    std::unique_ptr<QAbstractItemModelTester> tableTester_, historyTester_;

    LabelView* view() { return window_->labelView(); }
    PairTableModel* model() { return view()->tableModel(); }
    store::Project& project() { return window_->projectContext()->project(); }

    void waitLoaded() {
        QTRY_VERIFY_WITH_TIMEOUT(!model()->isLoading(), 10000);
        QCoreApplication::processEvents();
    }
    void press(int key, Qt::KeyboardModifiers mods = Qt::NoModifier) {
        QWidget* target = QApplication::focusWidget();
        QVERIFY(target);
        QTest::keyClick(target, Qt::Key(key), mods);
    }
    store::Label lastLabel(qint64 pairId) {
        auto h = project().history(pairId);
        return h.empty() ? store::Label{} : h.back();
    }
    // The verdict key `key` must have produced for what was on screen.
    void checkOrientation(qint64 id, char shownLeft, const QString& leftText, bool leftWins, int strength) {
        const store::Label l = lastLabel(id);
        const auto pair = project().pair(id);
        QVERIFY(pair);
        QCOMPARE(l.shownLeft, shownLeft);
        const bool leftIsA = leftText == QString::fromStdString(pair->responseA);
        QCOMPARE(leftIsA, shownLeft == 'a');
        const store::Verdict expected = (leftWins == leftIsA) ? store::Verdict::A : store::Verdict::B;
        QVERIFY(l.verdict.has_value());
        QCOMPARE(int(*l.verdict), int(expected));
        QCOMPARE(l.strength, strength);
        QCOMPARE(l.annotator, std::string("tester"));
        QCOMPARE(int(*pair->verdict), int(expected));
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_label_workbench"));
        QSettings().clear();
        qputenv("DPOWB_ANNOTATOR", "tester");
        QVERIFY(dir_.isValid());
        path_ = dir_.filePath(QStringLiteral("work.db"));
        auto p = store::Project::create(path_.toStdString());
        for (int i = 0; i < kPairs; ++i) {
            const int64_t id = p.addPair(makePair(i));
            if (i < 10) {
                store::LabelOptions o;
                o.annotator = "importer";
                p.label(id, store::Verdict::A, o);
            }
        }
    }

    void init() {
        window_ = std::make_unique<ui::MainWindow>();
        window_->projectContext()->setPollInterval(100);
        tableTester_ = std::make_unique<QAbstractItemModelTester>(
            model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        historyTester_ = std::make_unique<QAbstractItemModelTester>(
            view()->historyModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        window_->resize(1300, 820);
        window_->show();
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
        QVERIFY(window_->openProject(path_));
        waitLoaded();
        QCOMPARE(model()->rowCount(), int(project().countPairs({})));
        QApplication::setActiveWindow(window_.get());
        // The keyboard is wherever the window put it (no widget is picked by hand).
        QTRY_VERIFY(QApplication::focusWidget());
    }

    void cleanup() {
        tableTester_.reset();
        historyTester_.reset();
        if (window_) view()->rationaleBox()->clear();
        window_.reset();
    }

    void opensAtFirstUnlabelled() {
        // Pairs 1..10 arrived labelled: the view resumes at the first pair without a label.
        const qint64 id = view()->currentPairId();
        QVERIFY(id > 0);
        QVERIFY(!project().pair(id)->verdict);
        for (qint64 before = 1; before < id; ++before) QVERIFY(project().pair(before)->verdict);
        QTRY_COMPARE(window_->counterText(), QStringLiteral("%1 labelled of %2")
                                                 .arg(project().stats().labelled)
                                                 .arg(project().stats().pairs));
    }

    void keyboardLabelling() {
        const auto statsBefore = project().stats();
        bool sawLeftA = false, sawLeftB = false;
        std::vector<qint64> labelledIds;
        // Label pairs with 1 and Shift+2 alternately until both screen orientations occurred.
        for (int round = 0; round < 16 && !(sawLeftA && sawLeftB && round >= 4); ++round) {
            const qint64 id = view()->currentPairId();
            QVERIFY(!project().pair(id)->verdict);
            const char shownLeft = view()->pairView()->shownLeft();
            const QString leftText = view()->pairView()->responseText(PairView::Left);
            (shownLeft == 'a' ? sawLeftA : sawLeftB) = true;
            if (round % 2 == 0) {
                press(Qt::Key_1);
                checkOrientation(id, shownLeft, leftText, true, 1);
            } else {
                press(Qt::Key_2, Qt::ShiftModifier);
                checkOrientation(id, shownLeft, leftText, false, 2);
            }
            labelledIds.push_back(id);
            // The view moved on to an unlabelled pair.
            QVERIFY(view()->currentPairId() != id);
            QVERIFY(!project().pair(view()->currentPairId())->verdict);
        }
        QVERIFY2(sawLeftA && sawLeftB, "both orientations must occur within 16 pairs");

        // Tie, both bad, skip.
        struct K {
            int key;
            store::Verdict v;
        };
        for (const K k : {K{Qt::Key_3, store::Verdict::Tie}, K{Qt::Key_4, store::Verdict::BothBad},
                          K{Qt::Key_S, store::Verdict::Skip}}) {
            const qint64 id = view()->currentPairId();
            press(k.key);
            QCOMPARE(int(*lastLabel(id).verdict), int(k.v));
            labelledIds.push_back(id);
        }
        const auto statsAfter = project().stats();
        QCOMPARE(statsAfter.labelled, statsBefore.labelled + qint64(labelledIds.size()) - 1);  // skip is not labelled
        QCOMPARE(statsAfter.skipped, statsBefore.skipped + 1);
        QTRY_COMPARE(window_->counterText(),
                     QStringLiteral("%1 labelled of %2").arg(statsAfter.labelled).arg(statsAfter.pairs));
        QCOMPARE(view()->undoDepth(), int(labelledIds.size()));

        // Ctrl+Z walks back across pairs: each press reverts one pair and shows it.
        for (int k = 0; k < 3; ++k) {
            const qint64 id = labelledIds.back();
            labelledIds.pop_back();
            press(Qt::Key_Z, Qt::ControlModifier);
            QCOMPARE(view()->currentPairId(), id);
            QVERIFY(!project().pair(id)->verdict);
            QVERIFY(lastLabel(id).isUndo());
        }
        QCOMPARE(project().stats().labelled, statsAfter.labelled - 2);  // tie and both bad undone
        // The history panel shows label and undo rows, newest first.
        QCOMPARE(view()->historyModel()->rowCount(), 2);
        QVERIFY(view()->historyModel()->labelAt(0)->isUndo());
        // Undo of everything this session did, then nothing left.
        while (view()->undoDepth() > 0) press(Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(project().stats().labelled, statsBefore.labelled);
        QVERIFY(!view()->undoLast());
    }

    void navigation() {
        const int start = view()->table()->currentIndex().row();
        press(Qt::Key_J);
        QCOMPARE(view()->table()->currentIndex().row(), start + 1);
        press(Qt::Key_Down);
        QCOMPARE(view()->table()->currentIndex().row(), start + 2);
        press(Qt::Key_K);
        press(Qt::Key_Up);
        QCOMPARE(view()->table()->currentIndex().row(), start);
        // N from a labelled pair jumps to the next unlabelled one.
        view()->selectPair(1);
        press(Qt::Key_N);
        const qint64 id = view()->currentPairId();
        QVERIFY(id > 1);
        QVERIFY(!project().pair(id)->verdict);
        for (qint64 k = 2; k < id; ++k) QVERIFY(project().pair(k)->verdict);
        // The pair view shows that pair's texts.
        const auto p = project().pair(id);
        const QString left = view()->pairView()->responseText(PairView::Left);
        QVERIFY(left == QString::fromStdString(p->responseA) || left == QString::fromStdString(p->responseB));
        QVERIFY(view()->pairView()->responseBrowser(PairView::Left)->toPlainText().contains(
            QStringLiteral("Answer")));
    }

    void rationaleTravelsWithLabel() {
        const qint64 id = view()->currentPairId();
        // The pair may carry label + undo rows from earlier tests: count what this test adds.
        const int before = int(project().history(id).size());
        press(Qt::Key_R);
        QVERIFY(view()->rationaleBox()->hasFocus());
        QTest::keyClicks(view()->rationaleBox(), QStringLiteral("clearer answer"));
        QVERIFY(window_->labelView()->hasUnsavedWork());
        QTest::keyClick(view()->rationaleBox(), Qt::Key_Return);  // not labelled yet: kept as draft
        QVERIFY(view()->table()->hasFocus());
        press(Qt::Key_1);
        const store::Label l = lastLabel(id);
        QCOMPARE(l.rationale, std::string("clearer answer"));
        QVERIFY(!view()->hasUnsavedWork());
        // On a labelled pair, Enter records the same verdict again with the reason.
        view()->selectPair(id);
        press(Qt::Key_R);
        QTest::keyClicks(view()->rationaleBox(), QStringLiteral("second thought"));
        QTest::keyClick(view()->rationaleBox(), Qt::Key_Return);
        const auto h = project().history(id);
        QCOMPARE(int(h.size()), before + 2);
        QCOMPARE(h.back().rationale, std::string("second thought"));
        QCOMPARE(int(*h.back().verdict), int(*l.verdict));
        while (view()->undoDepth() > 0) press(Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(!project().pair(id)->verdict);
    }

    void helpOverlayEatsKeys() {
        const qint64 id = view()->currentPairId();
        press(Qt::Key_Question, Qt::ShiftModifier);
        QVERIFY(view()->helpOverlay()->isVisible());
        press(Qt::Key_1);  // closes the help, labels nothing
        QVERIFY(!view()->helpOverlay()->isVisible());
        QVERIFY(!project().pair(id)->verdict);
        QCOMPARE(view()->currentPairId(), id);
    }

    void filters_data() {
        QTest::addColumn<int>("verdictIndex");  // index in the verdict combo
        QTest::addColumn<QString>("split");
        QTest::addColumn<QString>("source");
        QTest::addColumn<int>("verdictFilter");
        QTest::newRow("unlabelled") << 1 << "" << "" << int(store::VerdictFilter::Unlabelled);
        QTest::newRow("labelled") << 2 << "" << "" << int(store::VerdictFilter::Labelled);
        QTest::newRow("a chosen, test") << 3 << "test" << "" << int(store::VerdictFilter::A);
        QTest::newRow("train, alpha") << 0 << "train" << "alpha-src" << int(store::VerdictFilter::Any);
    }
    void filters() {
        QFETCH(int, verdictIndex);
        QFETCH(QString, split);
        QFETCH(QString, source);
        QFETCH(int, verdictFilter);
        QComboBox* v = view()->verdictFilter();
        v->setCurrentIndex(verdictIndex);
        QCOMPARE(v->currentData().toInt(), verdictFilter);
        view()->splitFilter()->setCurrentIndex(view()->splitFilter()->findData(split));
        view()->sourceFilter()->setCurrentIndex(view()->sourceFilter()->findData(source));
        QVERIFY(view()->sourceFilter()->currentIndex() >= 0);
        Q_EMIT v->activated(v->currentIndex());
        waitLoaded();

        store::PairQuery q;
        q.verdict = store::VerdictFilter(verdictFilter);
        q.split = split.toStdString();
        q.source = source.toStdString();
        const auto expected = project().pairIds(q);
        QVERIFY(!expected.empty());
        QCOMPARE(model()->rowCount(), int(expected.size()));
        for (int r = 0; r < model()->rowCount(); ++r) {
            QCOMPARE(model()->pairIdAt(r), qint64(expected[size_t(r)]));
            const auto p = project().pair(model()->pairIdAt(r));
            if (!split.isEmpty()) QCOMPARE(model()->index(r, PairTableModel::SplitColumn).data().toString(), split);
            if (!source.isEmpty())
                QCOMPARE(model()->index(r, PairTableModel::SourceColumn).data().toString(), source);
            QCOMPARE(model()->verdictAt(r).has_value(), p->verdict.has_value());
        }
    }

    void searchAndSort() {
        press(Qt::Key_Slash);
        QVERIFY(view()->searchBox()->hasFocus());
        QTest::keyClicks(view()->searchBox(), QStringLiteral("zebracorn"));
        QTest::keyClick(view()->searchBox(), Qt::Key_Return);
        waitLoaded();
        QCOMPARE(model()->rowCount(), 1);
        QCOMPARE(model()->pairIdAt(0), qint64(8));  // pair index 7 got id 8
        QCOMPARE(view()->currentPairId(), qint64(8));

        view()->searchBox()->clear();
        QTest::keyClick(view()->searchBox(), Qt::Key_Return);
        waitLoaded();
        QCOMPARE(model()->rowCount(), kPairs);
        // Newest first by id, through the header.
        view()->table()->horizontalHeader()->setSortIndicator(PairTableModel::IdColumn, Qt::DescendingOrder);
        model()->sort(PairTableModel::IdColumn, Qt::DescendingOrder);
        waitLoaded();
        QCOMPARE(model()->pairIdAt(0), qint64(kPairs));
        // Longest first: lengths in the table never increase downwards.
        model()->sort(PairTableModel::LengthColumn, Qt::DescendingOrder);
        waitLoaded();
        for (int r = 1; r < model()->rowCount(); ++r)
            QVERIFY(model()->index(r - 1, PairTableModel::LengthColumn).data().toLongLong() >=
                    model()->index(r, PairTableModel::LengthColumn).data().toLongLong());
    }

    void externalChangeIsPickedUp() {
        const qint64 id = view()->currentPairId();
        QVERIFY(!project().pair(id)->verdict);
        const int before = int(project().history(id).size());
        {
            auto other = store::Project::open(path_.toStdString());  // "the CLI"
            store::LabelOptions o;
            o.annotator = "cli";
            other.label(id, store::Verdict::B, o);
        }
        const int row = model()->rowOfPair(id);
        QTRY_VERIFY_WITH_TIMEOUT(model()->verdictAt(row) == store::Verdict::B, 5000);
        QTRY_COMPARE(view()->historyModel()->rowCount(), before + 1);
        QCOMPARE(view()->currentPairId(), id);  // the cursor stayed on the pair
        {
            auto other = store::Project::open(path_.toStdString());
            other.undo(id, "cli");
        }
        QTRY_VERIFY_WITH_TIMEOUT(!model()->verdictAt(model()->rowOfPair(id)), 5000);
    }

    void importGoodFile() {
        const QString file = dir_.filePath(QStringLiteral("good.jsonl"));
        {
            QFile f(file);
            QVERIFY(f.open(QIODevice::WriteOnly));
            for (int i = 0; i < 25; ++i)
                f.write(QStringLiteral("{\"prompt\": \"imported prompt %1\", \"chosen\": \"yes %1\", \"rejected\": \"no %1\"}\n")
                            .arg(i)
                            .toUtf8());
        }
        const qint64 before = project().countPairs({});
        ui::ImportDialog dialog(path_);
        QSignalSpy previewSpy(&dialog, &ui::ImportDialog::previewReady);
        dialog.setFile(file);
        QVERIFY(previewSpy.wait(10000));
        QCOMPARE(dialog.detectedFormat(), QStringLiteral("trl"));
        QCOMPARE(dialog.previewRowCount(), 20);
        QVERIFY(dialog.errorText().isEmpty());
        QCOMPARE(dialog.previewTable()->item(3, 1)->text(), QStringLiteral("yes 3"));
        dialog.splitBox()->setCurrentText(QStringLiteral("test"));
        QSignalSpy doneSpy(&dialog, &ui::ImportDialog::importFinished);
        dialog.startImport();
        QVERIFY(doneSpy.wait(20000));
        QVERIFY2(doneSpy.at(0).at(0).toBool(), qPrintable(doneSpy.at(0).at(1).toString()));
        QCOMPARE(dialog.result().inserted, qint64(25));
        QCOMPARE(dialog.result().labelled, qint64(25));
        QCOMPARE(project().countPairs({}), before + 25);
        store::PairQuery q;
        q.source = "import:trl";
        q.split = "test";
        QCOMPARE(project().countPairs(q), qint64(25));
        // The window notices the import (it committed on another connection).
        QTRY_COMPARE_WITH_TIMEOUT(model()->rowCount(), int(before + 25), 5000);
    }

    // A layout no importer knows: the preview offers the file's columns, the person picks them
    // with the keyboard, the preview shows the mapped pairs and the import uses the mapping.
    void importMappedColumns() {
        const QString file = dir_.filePath(QStringLiteral("custom.jsonl"));
        {
            QFile f(file);
            QVERIFY(f.open(QIODevice::WriteOnly));
            for (int i = 0; i < 3; ++i)
                f.write(QStringLiteral("{\"question\": \"q%1\", \"answer_good\": \"good %1\", \"answer_bad\": \"bad %1\"}\n")
                            .arg(i)
                            .toUtf8());
        }
        const qint64 before = project().countPairs({});
        ui::ImportDialog dialog(path_);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        QSignalSpy previewSpy(&dialog, &ui::ImportDialog::previewReady);
        dialog.setFile(file);
        QVERIFY(previewSpy.wait(10000));
        QVERIFY2(dialog.errorText().contains(QStringLiteral("cannot tell the format")), qPrintable(dialog.errorText()));
        QVERIFY(!dialog.importButton()->isEnabled());
        QCOMPARE(dialog.fileColumns().size(), 3);
        const std::pair<const char*, const char*> picks[] = {
            {"prompt", "question"}, {"chosen", "answer_good"}, {"rejected", "answer_bad"}};
        for (const auto& [field, column] : picks) {
            QComboBox* box = dialog.mapBox(QLatin1String(field));
            QVERIFY(box);
            box->setFocus();
            QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(box));
            for (int k = 0; k < 4 && box->currentText() != QLatin1String(column); ++k) {
                previewSpy.clear();
                QTest::keyClick(QApplication::focusWidget(), Qt::Key_Down);
                QVERIFY(previewSpy.wait(10000));
            }
            QCOMPARE(box->currentText(), QLatin1String(column));
        }
        QVERIFY2(dialog.errorText().isEmpty(), qPrintable(dialog.errorText()));
        QCOMPARE(dialog.detectedFormat(), QStringLiteral("trl"));
        QCOMPARE(dialog.previewRowCount(), 3);
        QCOMPARE(dialog.previewTable()->item(1, 0)->text(), QStringLiteral("q1"));
        QCOMPARE(dialog.previewTable()->item(1, 1)->text(), QStringLiteral("good 1"));
        QCOMPARE(dialog.previewTable()->item(1, 2)->text(), QStringLiteral("bad 1"));
        if (qEnvironmentVariableIsSet("DPOWB_SCREENSHOTS"))  // for docs/screenshots, looked at by hand
            dialog.grab().save(qEnvironmentVariable("DPOWB_SCREENSHOTS") + QStringLiteral("/import-column-map.png"));
        QSignalSpy doneSpy(&dialog, &ui::ImportDialog::importFinished);
        dialog.startImport();
        QVERIFY(doneSpy.wait(20000));
        QVERIFY2(doneSpy.at(0).at(0).toBool(), qPrintable(doneSpy.at(0).at(1).toString()));
        QCOMPARE(project().countPairs({}), before + 3);
        store::PairQuery q;
        q.search = "good";
        bool found = false;
        for (const auto& p : project().pairs(q)) found |= p.prompt == "q2" && p.responseA == "good 2";
        QVERIFY(found);
    }

    void importBadFile() {
        const qint64 before = project().countPairs({});
        // Line 3 has a number where text belongs: the import names the line and adds nothing.
        const QString bad = dir_.filePath(QStringLiteral("bad.jsonl"));
        {
            QFile f(bad);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("{\"prompt\": \"p1\", \"chosen\": \"c1\", \"rejected\": \"r1\"}\n"
                    "{\"prompt\": \"p2\", \"chosen\": \"c2\", \"rejected\": \"r2\"}\n"
                    "{\"prompt\": \"p3\", \"chosen\": 42, \"rejected\": \"r3\"}\n");
        }
        ui::ImportDialog dialog(path_);
        QSignalSpy previewSpy(&dialog, &ui::ImportDialog::previewReady);
        dialog.setFile(bad);
        QVERIFY(previewSpy.wait(10000));
        if (dialog.errorText().isEmpty()) {
            QSignalSpy doneSpy(&dialog, &ui::ImportDialog::importFinished);
            dialog.startImport();
            QVERIFY(doneSpy.wait(20000));
            QVERIFY(!doneSpy.at(0).at(0).toBool());
        }
        QVERIFY2(dialog.errorText().contains(QStringLiteral("bad.jsonl:3")), qPrintable(dialog.errorText()));
        QCOMPARE(project().countPairs({}), before);

        // Not a preference file at all: the preview says so and Import stays disabled.
        const QString junk = dir_.filePath(QStringLiteral("junk.jsonl"));
        {
            QFile f(junk);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("{\"hello\": \"world\"}\n");
        }
        dialog.setFile(junk);
        QVERIFY(previewSpy.wait(10000));
        QVERIFY(!dialog.errorText().isEmpty());
        QVERIFY(!dialog.importButton()->isEnabled());
        QCOMPARE(project().countPairs({}), before);
    }
};

QTEST_MAIN(TestLabelWorkbench)
#include "tst_label_workbench.moc"
