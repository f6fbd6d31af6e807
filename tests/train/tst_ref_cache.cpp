// The --precompute-ref cache in the project file: entries are reused exactly when the token
// ids of a response sequence (and the reference and settings) are unchanged, never because a
// pair id or a role matches; a run that uses the cache trains on the same values as a run
// that uses no cache at all.
#include <QtTest>

#include <QTemporaryDir>
#include <map>
#include <set>

#include "store/project.h"
#include "train/trainer.h"

using namespace dpowb;

namespace {

struct Recorder : train::TrainObserver {
    std::vector<train::MetricPoint> points;
    void onMetrics(const train::MetricPoint& p) override { points.push_back(p); }
    // split -> step -> values without the wall-clock ones
    std::map<std::pair<std::string, int64_t>, std::map<std::string, double>> bySplitStep() const {
        std::map<std::pair<std::string, int64_t>, std::map<std::string, double>> out;
        for (const auto& p : points) {
            auto v = p.values;
            v.erase("tokens_per_second");
            out[{p.split, p.step}] = v;
        }
        return out;
    }
};

struct Stored {
    int64_t id;
    std::string prompt, a, b;
};

// Train pairs 0..11 and test pairs 12..15; the even ones have the good answer in A.
std::vector<Stored> fillProject(store::Project& p) {
    const char* subjects[] = {"The film", "This movie", "The plot", "The cast", "The ending", "The score"};
    std::vector<Stored> out;
    for (int i = 0; i < 16; ++i) {
        store::Pair pair;
        pair.prompt = std::string(subjects[i % 6]) + " number " + std::to_string(i) + " was";
        const std::string good = " really good" + std::string(size_t(i % 3), '!');
        const std::string bad = " rather bad" + std::string(size_t(i % 2), '.');
        pair.responseA = i % 2 == 0 ? good : bad;
        pair.responseB = i % 2 == 0 ? bad : good;
        pair.split = i < 12 ? "train" : "test";
        pair.source = "test";
        out.push_back({p.addPair(pair), pair.prompt, pair.responseA, pair.responseB});
    }
    return out;
}

train::TrainConfig smallConfig(const std::string& db) {
    train::TrainConfig c;
    c.db = db;
    c.model = "builtin:tiny";
    c.device = "cpu";
    c.lr = 2e-3;
    c.batchSize = 16;  // one step covers every train pair
    c.maxSteps = 1;
    c.maxLength = 64;
    c.maxPromptLength = 32;
    c.loggingSteps = 1;
    c.seed = 7;
    c.precomputeRef = true;
    return c;
}

// The (prompt, response) sequences a run on the project trains and evaluates on, two per pair
// whose verdict is a or b, in the project's current state.
std::vector<std::pair<std::string, std::string>> sequencesOf(store::Project& p) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* split : {"train", "test"})
        for (const auto& t : p.trainingPairs(split)) {
            out.emplace_back(t.prompt, t.chosen);
            out.emplace_back(t.prompt, t.rejected);
        }
    return out;
}

train::TrainResult runOnce(const train::TrainConfig& c, Recorder& rec) {
    train::TrainControl control;
    auto r = train::runTraining(c, rec, control);
    if (r.status != store::RunStatus::Finished) qWarning("run failed: %s", r.error.c_str());
    return r;
}

void compareMetrics(const Recorder& expected, const Recorder& got) {
    auto a = expected.bySplitStep(), b = got.bySplitStep();
    QCOMPARE(a.size(), b.size());
    for (const auto& [key, values] : a)
        for (const auto& [name, v] : values) {
            QVERIFY2(b.count(key) && b[key].count(name), qPrintable(QString::fromStdString(name)));
            // Where policy = reference (step 1) every margin is 0 up to rounding, and the share of
            // positive margins is the sign of that rounding: the margins themselves are compared.
            if (name == "rewards/accuracies" && values.count("rewards/margins") &&
                std::abs(values.at("rewards/margins")) < 1e-4)
                continue;
            QVERIFY2(std::abs(v - b[key].at(name)) < 1e-4 * std::max(1.0, std::abs(v)),
                     qPrintable(QString("%1 %2 at step %3: without cache %4, with cache %5")
                                    .arg(QString::fromStdString(key.first), QString::fromStdString(name))
                                    .arg(key.second)
                                    .arg(v)
                                    .arg(b[key].at(name))));
        }
}

}  // namespace

class TestRefCache : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void reusesExactlyTheUnchangedSequences();
    void otherSettingsShareNothing();
};

void TestRefCache::reusesExactlyTheUnchangedSequences() {
    QTemporaryDir dir;
    const std::string db = dir.filePath("p.db").toStdString();
    std::vector<Stored> pairs;
    {
        auto p = store::Project::create(db);
        pairs = fillProject(p);
        // Train pairs 0..9 and every test pair labelled; 10 and 11 not yet.
        for (size_t i = 0; i < pairs.size(); ++i)
            if (i < 10 || i >= 12) p.label(pairs[i].id, i % 2 == 0 ? store::Verdict::A : store::Verdict::B);
    }
    std::set<std::pair<std::string, std::string>> cached;
    size_t firstRunSequences = 0;
    {
        auto p = store::Project::open(db);
        for (const auto& s : sequencesOf(p)) cached.insert(s), ++firstRunSequences;
    }
    auto c = smallConfig(db);
    c.out = dir.filePath("run1").toStdString();
    Recorder first;
    auto r1 = runOnce(c, first);
    QVERIFY2(r1.status == store::RunStatus::Finished, r1.error.c_str());
    QCOMPARE(r1.refSequencesComputed, int64_t(firstRunSequences));
    QCOMPARE(r1.refSequencesReused, int64_t(0));
    {
        auto p = store::Project::open(db);
        QCOMPARE(p.countRefSeqLogps(), int64_t(cached.size()));
    }

    // Relabel: flip four train pairs and one test pair (chosen and rejected swap), one train
    // pair becomes a tie (no longer trained on), one unlabelled pair gets a verdict.
    std::vector<std::pair<std::string, std::string>> second;
    {
        auto p = store::Project::open(db);
        for (size_t i : {0, 1, 2, 3, 12})
            p.label(pairs[i].id, i % 2 == 0 ? store::Verdict::B : store::Verdict::A);
        p.label(pairs[5].id, store::Verdict::Tie);
        p.label(pairs[10].id, store::Verdict::A);
        // An edit of pair 0's response B (a new pair, as the GUI's edit makes it), labelled.
        store::Pair edited;
        edited.prompt = pairs[0].prompt;
        edited.responseA = pairs[0].a;
        edited.responseB = " an edited answer";
        edited.source = "edit";
        p.label(p.addPair(edited), store::Verdict::B);
        second = sequencesOf(p);
    }
    // A flipped pair keeps its two sequences (only their roles swap), so its values are
    // reusable under their own keys; the newly labelled pair's two sequences are new; the
    // edited pair shares one sequence with pair 0 and has one new.
    int64_t expectReused = 0, expectComputed = 0;
    for (const auto& s : second) (cached.count(s) ? expectReused : expectComputed) += 1;
    QCOMPARE(expectComputed, int64_t(3));  // the fixture does what the comment says
    c.out = dir.filePath("run2").toStdString();
    Recorder withCache;
    auto r2 = runOnce(c, withCache);
    QVERIFY2(r2.status == store::RunStatus::Finished, r2.error.c_str());
    QCOMPARE(r2.refSequencesReused, expectReused);
    QCOMPARE(r2.refSequencesComputed, expectComputed);
    for (const auto& s : second) cached.insert(s);
    {
        auto p = store::Project::open(db);
        QCOMPARE(p.countRefSeqLogps(), int64_t(cached.size()));
    }

    // The same data with the live reference (no cache at all): every metric of the step and of
    // the evaluation agrees. A value served under the wrong role would show at step 1 already,
    // where policy = reference and every reward must be 0.
    c.out = dir.filePath("live").toStdString();
    c.precomputeRef = false;
    Recorder live;
    auto r3 = runOnce(c, live);
    QVERIFY2(r3.status == store::RunStatus::Finished, r3.error.c_str());
    QCOMPARE(r3.refSequencesComputed + r3.refSequencesReused, int64_t(0));
    compareMetrics(live, withCache);
    const auto step1 = withCache.bySplitStep().at({"train", 1});
    QVERIFY(std::abs(step1.at("rewards/margins")) < 1e-4);
    QVERIFY(std::abs(step1.at("loss") - std::log(2.0)) < 1e-4);

    // A third cached run reuses everything.
    c.out = dir.filePath("run3").toStdString();
    c.precomputeRef = true;
    Recorder again;
    auto r4 = runOnce(c, again);
    QVERIFY2(r4.status == store::RunStatus::Finished, r4.error.c_str());
    QCOMPARE(r4.refSequencesComputed, int64_t(0));
    QCOMPARE(r4.refSequencesReused, int64_t(second.size()));
    compareMetrics(live, again);
}

void TestRefCache::otherSettingsShareNothing() {
    QTemporaryDir dir;
    const std::string db = dir.filePath("p.db").toStdString();
    size_t sequences = 0;
    {
        auto p = store::Project::create(db);
        auto pairs = fillProject(p);
        for (size_t i = 0; i < pairs.size(); ++i) p.label(pairs[i].id, i % 2 == 0 ? store::Verdict::A : store::Verdict::B);
        sequences = sequencesOf(p).size();
    }
    auto c = smallConfig(db);
    c.out = dir.filePath("run1").toStdString();
    Recorder a;
    auto r1 = runOnce(c, a);
    QVERIFY2(r1.status == store::RunStatus::Finished, r1.error.c_str());
    QCOMPARE(r1.refSequencesComputed, int64_t(sequences));
    // A different maximum length is another key, even where it cuts no token.
    c.maxLength = 63;
    c.out = dir.filePath("run2").toStdString();
    Recorder b;
    auto r2 = runOnce(c, b);
    QVERIFY2(r2.status == store::RunStatus::Finished, r2.error.c_str());
    QCOMPARE(r2.refSequencesReused, int64_t(0));
    QCOMPARE(r2.refSequencesComputed, int64_t(sequences));
    auto p = store::Project::open(db);
    QCOMPARE(p.countRefSeqLogps(), int64_t(2 * sequences));
}

QTEST_GUILESS_MAIN(TestRefCache)
#include "tst_ref_cache.moc"
