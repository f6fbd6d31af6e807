// The label keys as a person meets them: the whole main window (Label, Train, Compare) opened
// on a project file, every key typed into whatever QApplication::focusWidget() is at that
// moment, and after each key the verdicts read back from the file through a second
// connection. The same sequence runs from a freshly opened window, after a click into the
// pair list, after using the search box or the rationale field, and after switching pages.
// Also: the key table itself, the clickable key chips, and verdicts shown in the words of the
// screen (left/right) with the stored A/B alongside, sides stable while a pair is on screen.
#include <QAbstractItemModelTester>
#include <QAbstractButton>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMap>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

#include "compare_view.h"
#include "help_overlay.h"
#include "label_history_model.h"
#include "label_keys.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_table_model.h"
#include "pair_view.h"
#include "project_context.h"
#include "store/project.h"
#include "train_view.h"
#include "workbench_pages.h"

using namespace dpowb;
using ui::LabelCommand;
using ui::LabelView;
using ui::PairTableModel;
using ui::PairView;

Q_DECLARE_METATYPE(dpowb::ui::LabelCommand)

namespace {

constexpr int kPairs = 40;
constexpr int kLabelledAtStart = 6;  // pairs 1..6 arrive labelled A

// What the file says about one pair: verdict (-1 = none) and strength of the current label.
struct Stored {
    int verdict = -1;
    int strength = 0;
    bool operator==(const Stored& o) const { return verdict == o.verdict && strength == o.strength; }
};
using Snapshot = QMap<qint64, Stored>;

QString describe(const Stored& s) {
    if (s.verdict < 0) return QStringLiteral("unlabelled");
    return QStringLiteral("%1/%2").arg(QString::fromLatin1(store::toString(store::Verdict(s.verdict)))).arg(s.strength);
}

// What one key is expected to do to the current pair.
struct Step {
    const char* name;
    int key;
    Qt::KeyboardModifiers mods;
    LabelView::Choice choice;
    int strength;
};

}  // namespace

class TestLabelKeys : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString templatePath_;
    QString path_;
    int serial_ = 0;
    std::unique_ptr<ui::MainWindow> window_;
    ui::WorkbenchPages pages_;
    std::unique_ptr<QAbstractItemModelTester> tableTester_;

    LabelView* view() { return window_->labelView(); }
    PairTableModel* model() { return view()->tableModel(); }

    // The file as another program sees it.
    Snapshot snapshot() {
        Snapshot s;
        auto other = store::Project::open(path_.toStdString());
        for (int64_t id : other.pairIds({})) {
            const auto p = other.pair(id);
            Stored st;
            if (p->verdict) {
                st.verdict = int(*p->verdict);
                st.strength = p->labelStrength;
            }
            s.insert(id, st);
        }
        return s;
    }
    static QString difference(const Snapshot& got, const Snapshot& want) {
        QStringList out;
        for (auto it = want.begin(); it != want.end(); ++it)
            if (!(got.value(it.key()) == it.value()))
                out << QStringLiteral("pair %1: file %2, expected %3")
                           .arg(it.key())
                           .arg(describe(got.value(it.key())), describe(it.value()));
        if (got.size() != want.size()) out << QStringLiteral("pair count %1 vs %2").arg(got.size()).arg(want.size());
        return out.join(QStringLiteral("; "));
    }
    store::Label lastLabel(qint64 id) {
        auto other = store::Project::open(path_.toStdString());
        const auto h = other.history(id);
        return h.empty() ? store::Label{} : h.back();
    }

    QWidget* focus() { return QApplication::focusWidget(); }
    // A key as a person types it: to whatever has the focus now.
    void type(int key, Qt::KeyboardModifiers mods = Qt::NoModifier) {
        QWidget* target = focus();
        QVERIFY2(target, "no widget has the keyboard focus");
        QTest::keyClick(target, Qt::Key(key), mods);
    }
    void typeText(const QString& text) {
        QWidget* target = focus();
        QVERIFY(target);
        QTest::keyClicks(target, text);
    }
    void waitLoaded() {
        QTRY_VERIFY_WITH_TIMEOUT(!model()->isLoading(), 10000);
        QCoreApplication::processEvents();
    }
    static bool isTextField(QWidget* w) {
        auto* line = qobject_cast<QLineEdit*>(w);
        return line && !line->isReadOnly();
    }
    static store::Verdict stored(LabelView::Choice c, char shownLeft) {
        switch (c) {
        case LabelView::Choice::LeftBetter: return shownLeft == 'a' ? store::Verdict::A : store::Verdict::B;
        case LabelView::Choice::RightBetter: return shownLeft == 'a' ? store::Verdict::B : store::Verdict::A;
        case LabelView::Choice::Tie: return store::Verdict::Tie;
        case LabelView::Choice::BothBad: return store::Verdict::BothBad;
        case LabelView::Choice::Skip: return store::Verdict::Skip;
        }
        return store::Verdict::Skip;
    }
    // The next pair without a verdict after `row` in the list (wrapping), from the file.
    qint64 nextUnlabelledAfter(int row, const Snapshot& s) {
        const int n = model()->rowCount();
        for (int k = 1; k <= n; ++k) {
            const qint64 id = model()->pairIdAt((row + k) % n);
            if (s.value(id).verdict < 0) return id;
        }
        return 0;
    }

    // N, 1, 2, ⇧1 (both forms), ⇧2 (both forms), 3, 4, S, Ctrl+Z, J, K through the focus, the
    // file checked after each.
    void runKeySequence() {
        Snapshot want = snapshot();
        {
            const int row = view()->table()->currentIndex().row();
            const qint64 expected = nextUnlabelledAfter(row, want);
            QVERIFY(expected > 0);
            type(Qt::Key_N);
            QCOMPARE(view()->currentPairId(), expected);
            const QString diff = difference(snapshot(), want);
            QVERIFY2(diff.isEmpty(), qPrintable(QStringLiteral("after N: ") + diff));
        }
        const Step steps[] = {
            {"1", Qt::Key_1, Qt::NoModifier, LabelView::Choice::LeftBetter, 1},
            {"2", Qt::Key_2, Qt::NoModifier, LabelView::Choice::RightBetter, 1},
            {"Shift+1", Qt::Key_1, Qt::ShiftModifier, LabelView::Choice::LeftBetter, 2},
            {"Shift+! (US X11)", Qt::Key_Exclam, Qt::ShiftModifier, LabelView::Choice::LeftBetter, 2},
            {"Shift+2", Qt::Key_2, Qt::ShiftModifier, LabelView::Choice::RightBetter, 2},
            {"Shift+@ (US X11)", Qt::Key_At, Qt::ShiftModifier, LabelView::Choice::RightBetter, 2},
            {"3", Qt::Key_3, Qt::NoModifier, LabelView::Choice::Tie, 1},
            {"4", Qt::Key_4, Qt::NoModifier, LabelView::Choice::BothBad, 1},
            {"S", Qt::Key_S, Qt::NoModifier, LabelView::Choice::Skip, 1},
        };
        qint64 last = 0;
        for (const Step& s : steps) {
            const qint64 id = view()->currentPairId();
            QVERIFY(id > 0);
            QCOMPARE(want.value(id).verdict, -1);
            const char shownLeft = view()->pairView()->shownLeft();
            type(s.key, s.mods);
            const store::Verdict v = stored(s.choice, shownLeft);
            want[id] = Stored{int(v), (v == store::Verdict::A || v == store::Verdict::B) ? s.strength : 1};
            const QString diff = difference(snapshot(), want);
            QVERIFY2(diff.isEmpty(), qPrintable(QStringLiteral("after %1 on pair %2: %3").arg(s.name).arg(id).arg(diff)));
            const store::Label l = lastLabel(id);
            QCOMPARE(l.shownLeft, shownLeft);
            QCOMPARE(l.annotator, std::string("tester"));
            QVERIFY2(view()->currentPairId() != id, s.name);  // on to the next unlabelled pair
            last = id;
        }
        // Ctrl+Z: the skip is undone and its pair shown again.
        type(Qt::Key_Z, Qt::ControlModifier);
        want[last] = Stored{};
        {
            const QString diff = difference(snapshot(), want);
            QVERIFY2(diff.isEmpty(), qPrintable(QStringLiteral("after Ctrl+Z: ") + diff));
        }
        QCOMPARE(view()->currentPairId(), last);
        QVERIFY(lastLabel(last).isUndo());
        // J and K move the cursor and label nothing.
        const int row = view()->table()->currentIndex().row();
        QVERIFY(row + 1 < model()->rowCount());
        type(Qt::Key_J);
        QCOMPARE(view()->table()->currentIndex().row(), row + 1);
        type(Qt::Key_K);
        QCOMPARE(view()->table()->currentIndex().row(), row);
        const QString diff = difference(snapshot(), want);
        QVERIFY2(diff.isEmpty(), qPrintable(QStringLiteral("after J/K: ") + diff));
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_label_keys"));
        QSettings().clear();
        qputenv("DPOWB_ANNOTATOR", "tester");
        QVERIFY(dir_.isValid());
        templatePath_ = dir_.filePath(QStringLiteral("template.db"));
        auto p = store::Project::create(templatePath_.toStdString());
        for (int i = 0; i < kPairs; ++i) {
            store::Pair pair;
            pair.prompt = "Say something about item " + std::to_string(i) + ".";
            pair.responseA = "Answer alpha " + std::to_string(i);
            pair.responseB = "Answer beta " + std::to_string(i) + " with more words";
            pair.split = "train";
            pair.source = "keys";
            const int64_t id = p.addPair(pair);
            if (i < kLabelledAtStart) {
                store::LabelOptions o;
                o.annotator = "importer";
                p.label(id, store::Verdict::A, o);
            }
        }
    }

    void init() {
        // A fresh copy of the project for every test and row.
        path_ = dir_.filePath(QStringLiteral("work-%1.db").arg(++serial_));
        QVERIFY(QFile::copy(templatePath_, path_));
        qputenv("DPOWB_ANNOTATOR", "tester");
        QTest::failOnWarning(QRegularExpression(QStringLiteral("Ambiguous shortcut")));
        window_ = std::make_unique<ui::MainWindow>();
        pages_ = ui::addWorkbenchPages(*window_);
        window_->projectContext()->setPollInterval(100);
        tableTester_ = std::make_unique<QAbstractItemModelTester>(
            model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        window_->resize(1300, 820);
        window_->show();
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
        QApplication::setActiveWindow(window_.get());
        QVERIFY(QTest::qWaitForWindowActive(window_.get()));
        QVERIFY(window_->openProject(path_));
        waitLoaded();
        QCOMPARE(model()->rowCount(), kPairs);
    }

    void cleanup() {
        tableTester_.reset();
        if (window_) view()->rationaleBox()->clear();
        window_.reset();
    }

    void keyTable_data() {
        QTest::addColumn<int>("key");
        QTest::addColumn<int>("mods");
        QTest::addColumn<LabelCommand>("command");
        using C = LabelCommand;
        const int none = Qt::NoModifier, shift = Qt::ShiftModifier, ctrl = Qt::ControlModifier,
                  keypad = Qt::KeypadModifier;
        QTest::newRow("1") << int(Qt::Key_1) << none << C::LeftBetter;
        QTest::newRow("keypad 1") << int(Qt::Key_1) << keypad << C::LeftBetter;
        QTest::newRow("Shift+1 as digit") << int(Qt::Key_1) << shift << C::LeftMuchBetter;
        QTest::newRow("Shift+1 as ! (US X11)") << int(Qt::Key_Exclam) << shift << C::LeftMuchBetter;
        QTest::newRow("! without Shift") << int(Qt::Key_Exclam) << none << C::LeftMuchBetter;
        QTest::newRow("2") << int(Qt::Key_2) << none << C::RightBetter;
        QTest::newRow("Shift+2 as digit") << int(Qt::Key_2) << shift << C::RightMuchBetter;
        QTest::newRow("Shift+2 as @ (US X11)") << int(Qt::Key_At) << shift << C::RightMuchBetter;
        QTest::newRow("Shift+2 as \" (UK, DE)") << int(Qt::Key_QuoteDbl) << shift << C::RightMuchBetter;
        QTest::newRow("3") << int(Qt::Key_3) << none << C::Tie;
        QTest::newRow("Shift+3 unbound") << int(Qt::Key_3) << shift << C::None;
        QTest::newRow("4") << int(Qt::Key_4) << none << C::BothBad;
        QTest::newRow("S") << int(Qt::Key_S) << none << C::Skip;
        QTest::newRow("Shift+S unbound") << int(Qt::Key_S) << shift << C::None;
        QTest::newRow("Ctrl+Z") << int(Qt::Key_Z) << ctrl << C::Undo;
        QTest::newRow("Ctrl+Shift+Z unbound") << int(Qt::Key_Z) << (ctrl | shift) << C::None;
        QTest::newRow("Ctrl+1 unbound") << int(Qt::Key_1) << ctrl << C::None;
        QTest::newRow("Alt+1 is the page switch") << int(Qt::Key_1) << int(Qt::AltModifier) << C::None;
        QTest::newRow("J") << int(Qt::Key_J) << none << C::Next;
        QTest::newRow("Down") << int(Qt::Key_Down) << keypad << C::Next;
        QTest::newRow("K") << int(Qt::Key_K) << none << C::Previous;
        QTest::newRow("N") << int(Qt::Key_N) << none << C::NextUnlabelled;
        QTest::newRow("?") << int(Qt::Key_Question) << shift << C::Help;
        QTest::newRow("/") << int(Qt::Key_Slash) << none << C::Search;
        QTest::newRow("Esc") << int(Qt::Key_Escape) << none << C::Leave;
        QTest::newRow("Z alone unbound") << int(Qt::Key_Z) << none << C::None;
    }
    void keyTable() {
        QFETCH(int, key);
        QFETCH(int, mods);
        QFETCH(LabelCommand, command);
        const LabelCommand got = ui::labelCommandFor(key, Qt::KeyboardModifiers(mods));
        QVERIFY2(got == command, ui::labelCommandName(got));
    }

    void keysThroughTheFocus_data() {
        QTest::addColumn<QString>("before");
        QTest::newRow("window just opened") << "open";
        QTest::newRow("after a click into the list") << "click";
        QTest::newRow("after a search, Enter") << "search-enter";
        QTest::newRow("after a search, Esc") << "search-esc";
        QTest::newRow("after typing a rationale, Esc") << "rationale-esc";
        QTest::newRow("after Train and Compare and back") << "pages";
    }
    void keysThroughTheFocus() {
        QFETCH(QString, before);
        const Snapshot atStart = snapshot();
        if (before == QLatin1String("open")) {
            // Nothing touched: the window as it opens.
        } else if (before == QLatin1String("click")) {
            const int row = 20;
            const QModelIndex idx = model()->index(row, PairTableModel::PromptColumn);
            view()->table()->scrollTo(idx);
            QTest::mouseClick(view()->table()->viewport(), Qt::LeftButton, {}, view()->table()->visualRect(idx).center());
            QTRY_COMPARE(view()->currentPairId(), model()->pairIdAt(row));
            QCOMPARE(focus(), view()->table());
        } else if (before.startsWith(QLatin1String("search"))) {
            QTest::mouseClick(view()->searchBox(), Qt::LeftButton);
            QTRY_COMPARE(focus(), static_cast<QWidget*>(view()->searchBox()));
            // Typing goes into the box, digits and letters alike, and labels nothing.
            typeText(QStringLiteral("Answer 12sn"));
            QCOMPARE(view()->searchBox()->text(), QStringLiteral("Answer 12sn"));
            for (int k = 0; k < 5; ++k) type(Qt::Key_Backspace);
            QCOMPARE(view()->searchBox()->text(), QStringLiteral("Answer"));
            QVERIFY(difference(snapshot(), atStart).isEmpty());
            type(before.endsWith(QLatin1String("enter")) ? Qt::Key_Return : Qt::Key_Escape);
            QTRY_VERIFY(model()->query().search == "Answer");
            waitLoaded();
            QCOMPARE(model()->rowCount(), kPairs);  // every response says "Answer"
            QVERIFY(focus() && !isTextField(focus()));
        } else if (before == QLatin1String("rationale-esc")) {
            type(Qt::Key_R);
            QCOMPARE(focus(), static_cast<QWidget*>(view()->rationaleBox()));
            typeText(QStringLiteral("1 2 s n j"));
            QCOMPARE(view()->rationaleBox()->text(), QStringLiteral("1 2 s n j"));
            QVERIFY(difference(snapshot(), atStart).isEmpty());
            type(Qt::Key_Escape);
            QVERIFY(focus() && !isTextField(focus()));
            QCOMPARE(view()->rationaleBox()->text(), QStringLiteral("1 2 s n j"));  // kept as a draft
        } else if (before == QLatin1String("pages")) {
            // Alt+digit switches pages (Ctrl+1/Ctrl+2 add pairs on the Compare page).
            type(Qt::Key_2, Qt::AltModifier);
            QTRY_VERIFY(pages_.train->isVisible());
            QVERIFY(!view()->isVisible());
            // Into a text field of the Train page, then Compare, then back with Ctrl+1.
            auto* field = pages_.train->findChild<QLineEdit*>();
            QVERIFY(field);
            field->setFocus(Qt::MouseFocusReason);
            type(Qt::Key_3, Qt::AltModifier);
            QTRY_VERIFY(pages_.compare->isVisible());
            type(Qt::Key_1, Qt::AltModifier);
            QTRY_VERIFY(view()->isVisible());
            QVERIFY(focus() && !isTextField(focus()));
        }
        QVERIFY(focus());
        runKeySequence();
    }

    void keyChipsAreButtons_data() {
        QTest::addColumn<int>("side");
        QTest::addColumn<int>("strength");
        QTest::newRow("left better") << int(PairView::Left) << 1;
        QTest::newRow("left much better") << int(PairView::Left) << 2;
        QTest::newRow("right better") << int(PairView::Right) << 1;
        QTest::newRow("right much better") << int(PairView::Right) << 2;
    }
    void keyChipsAreButtons() {
        QFETCH(int, side);
        QFETCH(int, strength);
        QWidget* focusBefore = focus();
        const qint64 id = view()->currentPairId();
        const char shownLeft = view()->pairView()->shownLeft();
        QAbstractButton* chip = view()->pairView()->chip(PairView::Side(side), strength);
        QVERIFY(chip && chip->isVisible());
        QTest::mouseClick(chip, Qt::LeftButton);
        const store::Verdict v = stored(side == PairView::Left ? LabelView::Choice::LeftBetter
                                                                : LabelView::Choice::RightBetter,
                                        shownLeft);
        const Snapshot s = snapshot();
        QCOMPARE(s.value(id).verdict, int(v));
        QCOMPARE(s.value(id).strength, strength);
        QCOMPARE(focus(), focusBefore);  // a click on a chip leaves the keyboard where it was
    }

    void verdictsInScreenWords_data() {
        QTest::addColumn<char>("shownLeft");
        QTest::addColumn<int>("key");
        QTest::addColumn<int>("mods");
        QTest::addColumn<QString>("words");   // what the screen says
        QTest::addColumn<QString>("letter");  // the stored verdict
        QTest::newRow("1 with B on the left") << 'b' << int(Qt::Key_1) << int(Qt::NoModifier) << "left better" << "B";
        QTest::newRow("1 with A on the left") << 'a' << int(Qt::Key_1) << int(Qt::NoModifier) << "left better" << "A";
        QTest::newRow("Shift+2 with A on the left")
            << 'a' << int(Qt::Key_2) << int(Qt::ShiftModifier) << "right much better" << "B";
        QTest::newRow("2 with B on the left") << 'b' << int(Qt::Key_2) << int(Qt::NoModifier) << "right better" << "A";
    }
    void verdictsInScreenWords() {
        QFETCH(char, shownLeft);
        QFETCH(int, key);
        QFETCH(int, mods);
        QFETCH(QString, words);
        QFETCH(QString, letter);
        // Walk to an unlabelled pair shown this way round.
        for (int k = 0; k < kPairs && view()->pairView()->shownLeft() != shownLeft; ++k) type(Qt::Key_N);
        QCOMPARE(view()->pairView()->shownLeft(), shownLeft);
        const qint64 id = view()->currentPairId();
        const int row = model()->rowOfPair(id);
        type(key, Qt::KeyboardModifiers(mods));
        QCOMPARE(QString::fromLatin1(store::toString(*lastLabel(id).verdict)).toUpper(), letter);
        // The status bar, the list, the history and the chip: the words used, the letter beside.
        const QString status = window_->statusBar()->currentMessage();
        QVERIFY2(status.contains(words) && status.contains(QStringLiteral("(%1)").arg(letter)), qPrintable(status));
        const QModelIndex cell = model()->index(row, PairTableModel::LabelColumn);
        const QString cellText = cell.data().toString();
        QVERIFY2(cellText.startsWith(words.section(' ', 0, 0)) && cellText.endsWith(letter), qPrintable(cellText));
        const QString tip = cell.data(Qt::ToolTipRole).toString();
        QVERIFY2(tip.contains(words) && tip.contains(QStringLiteral("response %1").arg(letter)), qPrintable(tip));
        QVERIFY(view()->selectPair(id));
        QCOMPARE(view()->historyModel()->index(0, ui::LabelHistoryModel::VerdictColumn).data().toString(),
                 QStringLiteral("%1 (%2)").arg(words, letter));
        auto* chip = view()->findChild<QLabel*>(QStringLiteral("verdictChip"));
        QVERIFY(chip);
        QCOMPARE(chip->text(), QStringLiteral("%1 (%2)").arg(words, letter));
    }

    void sidesStayWhileOnScreen() {
        const qint64 id = view()->currentPairId();
        const char before = view()->pairView()->shownLeft();
        const QString leftText = view()->pairView()->responseText(PairView::Left);
        // Another annotator name gives this pair the other side…
        QByteArray name;
        for (int k = 0; k < 64 && name.isEmpty(); ++k) {
            qputenv("DPOWB_ANNOTATOR", QByteArray("reader-") + QByteArray::number(k));
            if (window_->projectContext()->shownLeftFor(id) != before) name = qgetenv("DPOWB_ANNOTATOR");
        }
        QVERIFY(!name.isEmpty());
        // …and a change from elsewhere refreshes the view: the pair on screen keeps its sides.
        const qint64 other = model()->pairIdAt((model()->rowOfPair(id) + 5) % model()->rowCount());
        {
            auto cli = store::Project::open(path_.toStdString());
            store::LabelOptions o;
            o.annotator = "cli";
            cli.label(other, store::Verdict::Tie, o);
        }
        QTRY_VERIFY_WITH_TIMEOUT(model()->verdictAt(model()->rowOfPair(other)) == store::Verdict::Tie, 5000);
        QCOMPARE(view()->currentPairId(), id);
        QCOMPARE(view()->pairView()->shownLeft(), before);
        QCOMPARE(view()->pairView()->responseText(PairView::Left), leftText);
        // The label records what was on screen.
        type(Qt::Key_1);
        const store::Label l = lastLabel(id);
        QCOMPARE(l.shownLeft, before);
        QCOMPARE(int(*l.verdict), int(before == 'a' ? store::Verdict::A : store::Verdict::B));
        QCOMPARE(l.annotator, name.toStdString());
    }

    void helpOverlayThenKeys() {
        // ? opens the help over the page; a key closes it and labels nothing; then keys work.
        const qint64 id = view()->currentPairId();
        type(Qt::Key_Question, Qt::ShiftModifier);
        QVERIFY(view()->helpOverlay()->isVisible());
        type(Qt::Key_1);
        QVERIFY(!view()->helpOverlay()->isVisible());
        QCOMPARE(snapshot().value(id).verdict, -1);
        type(Qt::Key_3);
        QCOMPARE(snapshot().value(id).verdict, int(store::Verdict::Tie));
    }
};

QTEST_MAIN(TestLabelKeys)
#include "tst_label_keys.moc"
