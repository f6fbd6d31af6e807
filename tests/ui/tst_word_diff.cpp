// The word diff behind the pair view's highlighting: hand-checked cases, and random texts
// checked against an independent LCS (plain recursion with a memo over token indices).
#include <QRandomGenerator>
#include <QtTest>

#include <map>

#include "word_diff.h"

using dpowb::ui::DiffToken;
using dpowb::ui::diffWords;
using dpowb::ui::tokenizeWords;

namespace {

QStringList changedWords(const QVector<DiffToken>& tokens) {
    QStringList out;
    for (const auto& t : tokens)
        if (t.changed && !t.isSpace) out << t.text;
    return out;
}

QStringList keptTokens(const QVector<DiffToken>& tokens) {
    QStringList out;
    for (const auto& t : tokens)
        if (!t.changed) out << t.text;
    return out;
}

int referenceLcs(const QVector<QString>& a, const QVector<QString>& b, int i, int j,
                 std::map<std::pair<int, int>, int>& memo) {
    if (i == a.size() || j == b.size()) return 0;
    auto key = std::make_pair(i, j);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
    int v = a[i] == b[j] ? 1 + referenceLcs(a, b, i + 1, j + 1, memo)
                         : std::max(referenceLcs(a, b, i + 1, j, memo), referenceLcs(a, b, i, j + 1, memo));
    memo[key] = v;
    return v;
}

}  // namespace

class TestWordDiff : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void tokenizes() {
        QCOMPARE(tokenizeWords(QStringLiteral("Hello, world!  x_1")),
                 (QVector<QString>{"Hello", ",", " ", "world", "!", "  ", "x_1"}));
        QCOMPARE(tokenizeWords(QString()), QVector<QString>{});
        // An emoji (a surrogate pair) is one token.
        QCOMPARE(tokenizeWords(QStringLiteral("a😀b")).size(), 3);
    }

    void marksChanges_data() {
        QTest::addColumn<QString>("left");
        QTest::addColumn<QString>("right");
        QTest::addColumn<QStringList>("changedLeft");
        QTest::addColumn<QStringList>("changedRight");
        QTest::newRow("identical") << "the film was great" << "the film was great" << QStringList{} << QStringList{};
        QTest::newRow("one word") << "the film was great" << "the film was awful" << QStringList{"great"}
                                  << QStringList{"awful"};
        QTest::newRow("insertion") << "a fine film" << "a very fine film" << QStringList{} << QStringList{"very"};
        QTest::newRow("deletion") << "not at all good" << "all good" << QStringList{"not", "at"} << QStringList{};
        QTest::newRow("empty left") << "" << "new text" << QStringList{} << QStringList{"new", "text"};
        QTest::newRow("punctuation") << "Yes." << "Yes!" << QStringList{"."} << QStringList{"!"};
    }
    void marksChanges() {
        QFETCH(QString, left);
        QFETCH(QString, right);
        QFETCH(QStringList, changedLeft);
        QFETCH(QStringList, changedRight);
        const auto d = diffWords(left, right);
        QCOMPARE(changedWords(d.left), changedLeft);
        QCOMPARE(changedWords(d.right), changedRight);
        QVERIFY(!d.approximate);
    }

    void matchesReferenceLcs() {
        // Small vocabulary so that random texts share many words.
        const QStringList vocab{"the", "a", "film", "plot", "was", "is", "good", "bad", ",", "."};
        QRandomGenerator rng(1234);
        for (int round = 0; round < 200; ++round) {
            auto randomText = [&] {
                QStringList words;
                const int n = int(rng.bounded(14));
                for (int i = 0; i < n; ++i) words << vocab[int(rng.bounded(vocab.size()))];
                return words.join(QLatin1Char(' '));
            };
            const QString l = randomText(), r = randomText();
            const auto d = diffWords(l, r);
            // The kept tokens are a common subsequence of both sides ...
            QCOMPARE(keptTokens(d.left), keptTokens(d.right));
            // ... and a longest one.
            std::map<std::pair<int, int>, int> memo;
            const int lcs = referenceLcs(tokenizeWords(l), tokenizeWords(r), 0, 0, memo);
            QCOMPARE(int(keptTokens(d.left).size()), lcs);
            // Every token is accounted for, in order.
            QString rebuilt;
            for (const auto& t : d.left) rebuilt += t.text;
            QCOMPARE(rebuilt, l);
        }
    }

    void largeInputsStayBounded() {
        QString a, b;
        for (int i = 0; i < 3000; ++i) {
            a += QStringLiteral("w%1 ").arg(i);
            b += QStringLiteral("v%1 ").arg(i);
        }
        // Past the cell budget the diff falls back to an approximation instead of filling a
        // 3000 x 3000 table (its time is measured by bench/gui/bench_word_diff).
        const auto d = diffWords(a, b, 1'000'000);
        QVERIFY(d.approximate);
        QCOMPARE(changedWords(d.left).size(), 3000);
        QCOMPARE(changedWords(d.right).size(), 3000);
    }

    void htmlEscapes() {
        const auto d = diffWords(QStringLiteral("<b>x</b>"), QStringLiteral("<b>y</b>"));
        const QString html = dpowb::ui::diffToHtml(d.left, QStringLiteral("#fff"));
        QVERIFY(html.contains(QStringLiteral("&lt;b&gt;")));
        QVERIFY(!html.contains(QStringLiteral("<b>")));
        QVERIFY(html.contains(QStringLiteral("background-color:#fff;\">x</span>")));
    }
};

QTEST_GUILESS_MAIN(TestWordDiff)
#include "tst_word_diff.moc"
