// `dpowb hold-out DB PERCENT` through the real binary: the split it makes (seen by `dpowb
// stats`), its JSON output, and one-line refusals with the right exit codes.
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../common/cli_run.h"

using json = nlohmann::json;

class TestCliHoldOut : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    int counter_ = 0;

    // A project of `n` imported TRL pairs (all labelled, all train).
    QString project(int n) {
        const QString db = dir_.filePath(QString("p%1.db").arg(++counter_));
        const QString data = dir_.filePath(QString("d%1.jsonl").arg(counter_));
        std::ofstream out(data.toStdString());
        for (int i = 0; i < n; ++i)
            out << json{{"prompt", "q" + std::to_string(i)}, {"chosen", "yes " + std::to_string(i)}, {"rejected", "no"}}.dump()
                << "\n";
        out.close();
        auto r = dpowb::test::runCli({"init", db});
        if (r.code != 0) qWarning("%s", r.err.constData());
        r = dpowb::test::runCli({"import", db, data});
        if (r.code != 0) qWarning("%s", r.err.constData());
        return db;
    }

    static int testPairs(const QString& db) {
        auto r = dpowb::test::runCli({"stats", db, "--json"});
        return json::parse(r.out.toStdString()).at("by_split").value("test", 0);
    }

private Q_SLOTS:
    void holdsOut_data() {
        QTest::addColumn<QString>("percent");
        QTest::addColumn<int>("expected");
        QTest::newRow("10%") << "10%" << 8;   // of 80
        QTest::newRow("25") << "25" << 20;
        QTest::newRow("2.5%") << "2.5%" << 2;
    }
    void holdsOut() {
        QFETCH(QString, percent);
        QFETCH(int, expected);
        const QString db = project(80);
        auto r = dpowb::test::runCli({"hold-out", db, percent, "--seed", "3"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.startsWith(QByteArray("moved ") + QByteArray::number(expected) + " pairs to test"), r.out.constData());
        QCOMPARE(testPairs(db), expected);
        // Once there is a test split, a second draw is refused with one line and changes nothing.
        r = dpowb::test::runCli({"hold-out", db, percent});
        QCOMPARE(r.code, 1);
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY2(r.err.contains("test pairs already"), r.err.constData());
        QCOMPARE(testPairs(db), expected);
    }

    void jsonOutput() {
        const QString db = project(40);
        auto r = dpowb::test::runCli({"hold-out", db, "10", "--json"});
        QCOMPARE(r.code, 0);
        const json j = json::parse(r.out.toStdString());
        QCOMPARE(j.at("moved").get<int>(), 4);
        QCOMPARE(j.at("train").get<int>(), 36);
        QCOMPARE(j.at("seed").get<int>(), 0);
    }

    void usageErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("not a number") << QStringList{"ten"} << 2 << "expected a number";
        QTest::newRow("trailing text") << QStringList{"10 %x"} << 2 << "expected a number";
        QTest::newRow("above half") << QStringList{"75"} << 1 << "at most 50";
        QTest::newRow("negative seed") << QStringList{"10", "--seed", "-1"} << 2 << "non-negative";
        QTest::newRow("unknown option") << QStringList{"10", "--sed", "1"} << 2 << "unknown option";
    }
    void usageErrors() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        const QString db = project(10);
        auto r = dpowb::test::runCli(QStringList{"hold-out", db} + args);
        QCOMPARE(r.code, code);
        // The error is the first line; a usage error adds a pointer to the command's help.
        QCOMPARE(r.err.count('\n'), code == 2 ? 2 : 1);
        QVERIFY2(r.err.split('\n').first().contains(message.toUtf8()), r.err.constData());
        QCOMPARE(testPairs(db), 0);
    }
};

QTEST_GUILESS_MAIN(TestCliHoldOut)
#include "tst_cli_holdout.moc"
