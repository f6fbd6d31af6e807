// `dpowb generate` through the real binary: stdout holds exactly the new text, sampling is
// reproducible by seed, and bad options are usage errors.
#include <QProcess>
#include <QtTest>

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result runCli(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(DPOWB_CLI), args);
    p.waitForFinished(300000);
    return {p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}

QStringList gen(const QStringList& extra) {
    return QStringList{"generate", "--model", "builtin:tiny", "--device", "cpu", "--prompt", "The film was"} + extra;
}

}  // namespace

class TestCliGenerate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void greedyIsDeterministicAndBounded() {
        auto a = runCli(gen({"--temperature", "0", "--max-new-tokens", "12", "--ignore-eos"}));
        QVERIFY2(a.code == 0, a.err.constData());
        auto b = runCli(gen({"--temperature", "0", "--max-new-tokens", "12", "--ignore-eos"}));
        QCOMPARE(a.out, b.out);
        // Byte tokenizer: each new token is at most one byte of text, or U+FFFD (3 bytes) for
        // a byte that does not complete a character; nothing else is printed.
        QVERIFY(a.out.size() <= 3 * 12);
        QVERIFY(!a.out.startsWith("The film was"));
        QVERIFY(QString::fromUtf8(a.out).toUtf8() == a.out);  // whole UTF-8 characters
    }

    void seedReproducible() {
        auto a = runCli(gen({"--temperature", "1", "--seed", "7", "--max-new-tokens", "24", "--ignore-eos"}));
        auto b = runCli(gen({"--temperature", "1", "--seed", "7", "--max-new-tokens", "24", "--ignore-eos"}));
        auto c = runCli(gen({"--temperature", "1", "--seed", "8", "--max-new-tokens", "24", "--ignore-eos"}));
        QVERIFY2(a.code == 0 && c.code == 0, a.err.constData());
        QCOMPARE(a.out, b.out);
        QVERIFY(a.out != c.out);  // 24 draws from a nearly flat distribution
    }

    void topKOneEqualsGreedy() {
        auto greedy = runCli(gen({"--temperature", "0", "--max-new-tokens", "10", "--ignore-eos"}));
        auto topk = runCli(gen({"--temperature", "0.7", "--top-k", "1", "--seed", "3", "--max-new-tokens", "10", "--ignore-eos"}));
        QVERIFY2(topk.code == 0, topk.err.constData());
        QCOMPARE(topk.out, greedy.out);
    }

    void zeroTokensPrintsNothing() {
        auto r = runCli(gen({"--max-new-tokens", "0"}));
        QVERIFY2(r.code == 0, r.err.constData());
        QCOMPARE(r.out, QByteArray());
    }

    void chatTemplate() {
        auto r = runCli(gen({"--chat", "--temperature", "0", "--max-new-tokens", "5"}));
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(!r.out.contains("<|im_start|>"));
    }

    void usageErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("negative temperature") << gen({"--temperature", "-1"}) << 2 << "temperature";
        QTest::newRow("top-p zero") << gen({"--top-p", "0"}) << 2 << "top-p";
        QTest::newRow("not a number") << gen({"--top-k", "many"}) << 2 << "--top-k";
        QTest::newRow("no prompt") << QStringList{"generate", "--model", "builtin:tiny"} << 2 << "--prompt";
        QTest::newRow("unknown option") << gen({"--temprature", "1"}) << 2 << "--temprature";
        QTest::newRow("missing model") << QStringList{"generate", "--model", "/nonexistent/model", "--prompt", "x"} << 1
                                       << "/nonexistent/model";
    }
    void usageErrors() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        auto r = runCli(args);
        QCOMPARE(r.code, code);
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
        QCOMPARE(r.out, QByteArray());
    }
};

QTEST_GUILESS_MAIN(TestCliGenerate)
#include "tst_cli_generate.moc"
