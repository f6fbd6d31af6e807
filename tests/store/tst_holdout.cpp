// "Hold out N % as test": which pairs move, that the draw depends on the seed and the pairs'
// content alone, that it is recorded, and that every refusal leaves the project unchanged.
#include <QTemporaryDir>
#include <QtTest>

#include <SQLiteCpp/SQLiteCpp.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/error.h"
#include "store/formats.h"
#include "store/holdout.h"
#include "store/project.h"

using namespace dpowb;
using namespace dpowb::store;

namespace {

// `n` TRL pairs, in the given order of their numbers (so that two files hold the same pairs
// imported in different orders).
std::string writePairs(const std::string& path, int n, bool reversed) {
    std::ofstream out(path);
    for (int k = 0; k < n; ++k) {
        const int i = reversed ? n - 1 - k : k;
        out << nlohmann::json{{"prompt", "question " + std::to_string(i)},
                              {"chosen", "good answer " + std::to_string(i)},
                              {"rejected", "bad answer " + std::to_string(i)}}
                   .dump()
            << "\n";
    }
    return path;
}

std::set<std::string> testPrompts(Project& p) {
    std::set<std::string> out;
    for (const auto& x : p.pairs({}))
        if (x.split == "test") out.insert(x.prompt);
    return out;
}

std::string fileState(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    std::string out;
    for (const char* sql : {"SELECT id, split FROM pairs ORDER BY id", "SELECT key, value FROM meta ORDER BY key"}) {
        SQLite::Statement st(db, sql);
        while (st.executeStep()) out += st.getColumn(0).getString() + "=" + st.getColumn(1).getString() + "\n";
    }
    return out;
}

}  // namespace

class TestHoldOut : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    int counter_ = 0;
    std::string fresh() { return dir_.filePath(QString("h%1.dpowb").arg(++counter_)).toStdString(); }
    std::string tmp(const char* name) { return dir_.filePath(QString("%1-%2").arg(++counter_).arg(name)).toStdString(); }

private Q_SLOTS:
    void movesTheShareOfTrainablePairs_data() {
        QTest::addColumn<int>("pairs");
        QTest::addColumn<double>("percent");
        QTest::newRow("10 % of 200") << 200 << 10.0;
        QTest::newRow("12.5 % of 37") << 37 << 12.5;
        QTest::newRow("1 % of 30 (at least one)") << 30 << 1.0;
        QTest::newRow("50 % of 2 trainable (one left)") << 4 << 50.0;
    }
    void movesTheShareOfTrainablePairs() {
        QFETCH(int, pairs);
        QFETCH(double, percent);
        const std::string path = fresh();
        Project p = Project::create(path);
        importFile(p, writePairs(tmp("a.jsonl"), pairs, false), {});
        // Two pairs that a run does not train on: a tie and an unlabelled one stay where they are.
        const auto ids = p.pairIds({});
        p.label(ids[0], Verdict::Tie);
        p.undo(ids[1]);
        const int trainable = pairs - 2;
        const HoldOutResult r = holdOutTestSplit(p, percent, 7);
        const int64_t want = std::max<int64_t>(1, std::min<int64_t>(trainable - 1, std::llround(trainable * percent / 100.0)));
        QCOMPARE(r.moved, want);
        QCOMPARE(r.remaining, int64_t(trainable) - want);
        QCOMPARE(int64_t(testPrompts(p).size()), want);
        for (const auto& x : p.pairs({}))
            if (x.split == "test") QVERIFY(x.verdict == Verdict::A);
        QCOMPARE(p.pair(ids[0])->split, std::string("train"));
        QCOMPARE(p.pair(ids[1])->split, std::string("train"));
        QCOMPARE(int64_t(p.trainingPairs("test").size()), want);
        SQLite::Database db(path, SQLite::OPEN_READONLY);
        const auto meta = nlohmann::json::parse(db.execAndGet("SELECT value FROM meta WHERE key = 'test_holdout'").getString());
        QCOMPARE(meta.at("seed").get<int>(), 7);
        QCOMPARE(meta.at("pairs").get<int64_t>(), want);
        QCOMPARE(meta.at("percent").get<double>(), percent);
    }

    // The same pairs imported in another order get the same test split; another seed another.
    void drawDependsOnSeedAndContentOnly() {
        Project a = Project::create(fresh()), b = Project::create(fresh()), c = Project::create(fresh());
        importFile(a, writePairs(tmp("fwd.jsonl"), 300, false), {});
        importFile(b, writePairs(tmp("rev.jsonl"), 300, true), {});
        importFile(c, writePairs(tmp("fwd2.jsonl"), 300, false), {});
        holdOutTestSplit(a, 10, 1);
        holdOutTestSplit(b, 10, 1);
        holdOutTestSplit(c, 10, 2);
        QCOMPARE(testPrompts(a), testPrompts(b));
        QVERIFY(testPrompts(a) != testPrompts(c));
        QCOMPARE(testPrompts(a).size(), size_t(30));
    }

    void refusalsChangeNothing_data() {
        QTest::addColumn<double>("percent");
        QTest::addColumn<int>("pairs");
        QTest::addColumn<bool>("testExists");
        QTest::addColumn<QString>("message");
        QTest::newRow("zero") << 0.0 << 20 << false << "more than 0 and at most 50";
        QTest::newRow("above half") << 60.0 << 20 << false << "got 60";
        QTest::newRow("nan") << std::nan("") << 20 << false << "got nan";
        QTest::newRow("one pair") << 10.0 << 1 << false << "label at least two";
        QTest::newRow("test split exists") << 10.0 << 20 << true << "test pairs already";
    }
    void refusalsChangeNothing() {
        QFETCH(double, percent);
        QFETCH(int, pairs);
        QFETCH(bool, testExists);
        QFETCH(QString, message);
        const std::string path = fresh();
        Project p = Project::create(path);
        ImportOptions opt;
        importFile(p, writePairs(tmp("p.jsonl"), pairs, false), opt);
        if (testExists) {
            opt.split = "test";
            std::ofstream(tmp("t.jsonl")) << R"({"prompt": "t", "chosen": "x", "rejected": "y", "split": "test"})" << "\n";
            importFile(p, dir_.filePath(QString("%1-t.jsonl").arg(counter_)).toStdString(), opt);
        }
        const std::string before = fileState(path);
        try {
            holdOutTestSplit(p, percent, 0);
            QFAIL("accepted");
        } catch (const Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
        }
        QCOMPARE(fileState(path), before);
    }
};

QTEST_GUILESS_MAIN(TestHoldOut)
#include "tst_holdout.moc"
