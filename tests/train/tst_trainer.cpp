// runTraining end to end on the built-in tiny model: reproducibility with a seed, resume equal
// to an uninterrupted run, precomputed equal to live reference, run records, failures.
#include <QtTest>

#include <QTemporaryDir>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "../common/rounding.h"
#include "model/config.h"
#include "model/lora.h"
#include "model/model.h"
#include "store/project.h"
#include "text/tokenizer.h"
#include "train/trainer.h"

using namespace dpowb;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Collects what a run reports.
struct Recorder : train::TrainObserver {
    std::vector<train::MetricPoint> points;
    std::vector<std::string> warnings, errors;
    int64_t cancelAtStep = -1;
    int64_t pauseAtStep = -1;
    std::vector<std::pair<int64_t, bool>> pauses;  // (step, paused) as the trainer reported them
    train::TrainControl* control = nullptr;
    void onStep(const train::MetricPoint& p) override {
        if (p.step == cancelAtStep && control) control->cancel.store(true);
        if (p.step == pauseAtStep && control) control->pause.store(true);
    }
    void onPaused(int64_t step, bool paused) override {
        pauses.emplace_back(step, paused);
        // Released from the training thread itself: the event is what tells that it holds.
        if (paused && control) control->pause.store(false);
    }
    void onMetrics(const train::MetricPoint& p) override { points.push_back(p); }
    void onLog(train::LogLevel level, const std::string& m) override {
        if (level == train::LogLevel::Warning) warnings.push_back(m);
        if (level == train::LogLevel::Error) errors.push_back(m);
    }
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

// Short pairs whose chosen side follows a simple rule (ends in "good").
std::vector<std::array<std::string, 3>> samplePairs(int n, int offset = 0) {
    std::vector<std::array<std::string, 3>> out;
    const char* subjects[] = {"The film", "This movie", "The plot", "The cast", "The ending", "The score"};
    for (int i = 0; i < n; ++i) {
        std::string prompt = std::string(subjects[(i + offset) % 6]) + " number " + std::to_string(i + offset) + " was";
        out.push_back({prompt, " really good" + std::string(size_t(i % 3), '!'), " rather bad" + std::string(size_t(i % 2), '.')});
    }
    return out;
}

std::string writeData(const QTemporaryDir& dir, const std::string& name, int n) {
    const std::string path = dir.filePath(QString::fromStdString(name)).toStdString();
    std::ofstream out(path);
    for (const auto& p : samplePairs(n)) out << json{{"prompt", p[0]}, {"chosen", p[1]}, {"rejected", p[2]}}.dump() << "\n";
    return path;
}

std::string makeProject(const QTemporaryDir& dir, int nTrain, int nTest) {
    const std::string path = dir.filePath("p.db").toStdString();
    auto project = store::Project::create(path);
    int k = 0;
    for (const auto& [split, n] : std::vector<std::pair<std::string, int>>{{"train", nTrain}, {"test", nTest}}) {
        for (const auto& p : samplePairs(n, k)) {
            store::Pair pair;
            pair.prompt = p[0];
            // Alternate which stored side is the good one, labelled accordingly.
            const bool aGood = (k % 2) == 0;
            pair.responseA = aGood ? p[1] : p[2];
            pair.responseB = aGood ? p[2] : p[1];
            pair.split = split;
            pair.source = "test";
            const int64_t id = project.addPair(pair);
            project.label(id, aGood ? store::Verdict::A : store::Verdict::B);
            ++k;
        }
    }
    return path;
}

// The built-in tiny model's forward pass at smallConfig's lengths, for rounding tolerances.
test::ForwardShape tinyShape(int64_t maxLength) {
    const auto c = model::builtinTinyConfig(text::Tokenizer::byteLevel()->vocabSize());
    return {c.numLayers, c.hiddenSize, c.intermediateSize, maxLength, c.vocabSize};
}

// How far a logged metric of two runs that differ only in rounding (another order of the
// same float32 operations) may differ, for a batch whose responses have at most `tokens`
// tokens. Reward metrics are β·(policy − reference) log-prob differences: each of the four
// log-probs carries logpTolerance; the loss moves by at most β times the margin's error (its
// slope in the margin is below 1). `values` are the metrics of the step (one of the runs).
double metricTolerance(const std::string& name, const std::map<std::string, double>& values, double beta,
                       int64_t tokens, const test::ForwardShape& shape) {
    auto logpTol = [&](const char* key) { return test::logpTolerance(values.at(key), tokens, shape); };
    // A reward's reference log-prob is of the size of the policy's at these steps.
    const double chosen = 2 * logpTol("logps/chosen"), rejected = 2 * logpTol("logps/rejected");
    if (name == "logps/chosen") return logpTol("logps/chosen");
    if (name == "logps/rejected") return logpTol("logps/rejected");
    if (name == "rewards/chosen") return beta * chosen;
    if (name == "rewards/rejected") return beta * rejected;
    if (name == "rewards/margins" || name == "loss") return beta * (chosen + rejected);
    // entropy: a log-sum-exp less a probability-weighted sum of the same logits, per token.
    if (name == "logits/chosen" || name == "logits/rejected" || name == "entropy")
        return test::sumTolerance(1.0 + std::abs(values.at(name)), test::chainLength(shape));
    // The gradient is the log-probs' gradients weighted by σ(−margin), whose slope is below
    // 1/4: its norm moves by that relative amount, plus its own rounding.
    if (name == "grad_norm")
        return std::abs(values.at(name)) * (beta * (chosen + rejected) + test::sumTolerance(1.0, test::chainLength(shape)));
    return 0.0;  // learning_rate, epoch: the same schedule, exactly
}

train::TrainConfig smallConfig() {
    train::TrainConfig c;
    c.model = "builtin:tiny";
    c.device = "cpu";
    c.lr = 2e-3;
    c.batchSize = 4;
    c.maxLength = 64;
    c.maxPromptLength = 32;
    c.loggingSteps = 1;
    c.warmupSteps = 1;
    c.lrSchedulerType = "cosine";
    c.seed = 7;
    return c;
}

}  // namespace

class TestTrainer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void dataRunWritesModelAndMetricsFile();
    void seedMakesRunsBitIdentical();
    void precomputedEqualsLiveReference();
    void resumeEqualsUninterrupted_data();
    void resumeEqualsUninterrupted();
    void pauseIsReportedWithItsStep();
    void allResponsesTruncatedFailsClearly();
    void badDataFileFailsWithLine();
    void agreementLeavesUnanimousPairsAlone();
    void adapterNamesItsBase_data();
    void adapterNamesItsBase();
    void trDpoReferenceFollowsPolicy();
    void lossMenuTrains_data();
    void lossMenuTrains();
};

void TestTrainer::dataRunWritesModelAndMetricsFile() {
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig();
    c.data = writeData(dir, "pairs.jsonl", 12);
    c.out = dir.filePath("out").toStdString();
    c.metricsFile = dir.filePath("m.jsonl").toStdString();
    c.maxSteps = 3;
    Recorder rec;
    train::TrainControl control;
    auto r = train::runTraining(c, rec, control);
    QVERIFY2(r.status == store::RunStatus::Finished, r.error.c_str());
    QCOMPARE(r.steps, int64_t(3));
    QVERIFY(QFile::exists(dir.filePath("out/config.json")));
    QVERIFY(QFile::exists(dir.filePath("out/model.safetensors")));
    QVERIFY(QFile::exists(dir.filePath("out/checkpoint/state.json")));
    std::ifstream in(c.metricsFile);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        json j = json::parse(line);
        ++lines;
        QCOMPARE(j["step"].get<int>(), lines);
        for (const char* k : {"epoch", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                              "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected", "entropy",
                              "mean_token_accuracy", "num_tokens", "grad_norm", "learning_rate", "tokens_per_second"})
            QVERIFY2(j.contains(k), k);
    }
    QCOMPARE(lines, 3);
    // Step 1 starts at policy = reference: rewards 0 and loss log 2, up to rounding (the
    // reference's forward pass need not round like the policy's). The accuracy at that tie is
    // the sign of rounding noise, so it is not checked here (see accuracyRuleAtTies in
    // tst_losses for the rule itself).
    const auto& first = rec.points.front().values;
    const auto shape = tinyShape(c.maxLength);
    for (const char* k : {"rewards/chosen", "rewards/rejected", "rewards/margins"})
        QVERIFY2(std::abs(first.at(k)) <= metricTolerance(k, first, c.beta, c.maxLength, shape),
                 qPrintable(QString("%1 at step 1: %2").arg(k).arg(first.at(k))));
    QVERIFY(std::abs(first.at("loss") - std::log(2.0)) <= metricTolerance("loss", first, c.beta, c.maxLength, shape));
}

void TestTrainer::seedMakesRunsBitIdentical() {
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig();
    c.data = writeData(dir, "pairs.jsonl", 12);
    c.maxSteps = 4;
    Recorder a, b;
    train::TrainControl ca, cb;
    c.out = dir.filePath("a").toStdString();
    QVERIFY(train::runTraining(c, a, ca).status == store::RunStatus::Finished);
    c.out = dir.filePath("b").toStdString();
    QVERIFY(train::runTraining(c, b, cb).status == store::RunStatus::Finished);
    QCOMPARE(a.bySplitStep(), b.bySplitStep());
    QVERIFY(a.points.back().values.at("loss") != std::log(2.0));  // it trained
}

// Precomputed reference log-probs (batched differently, so rounded differently) train like the
// live reference: every continuous metric agrees within its rounding tolerance. The accuracy
// is a step function of the per-pair margins, which these logged means do not show: at the
// tie of the first steps it is the sign of rounding noise, so it is not compared here; the
// per-pair comparison, where the margins are known to be away from 0, is tst_step's.
void TestTrainer::precomputedEqualsLiveReference() {
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig();
    c.data = writeData(dir, "pairs.jsonl", 12);
    c.maxSteps = 3;
    Recorder live, pre;
    train::TrainControl c1, c2;
    c.out = dir.filePath("live").toStdString();
    QVERIFY(train::runTraining(c, live, c1).status == store::RunStatus::Finished);
    c.out = dir.filePath("pre").toStdString();
    c.precomputeRef = true;
    QVERIFY(train::runTraining(c, pre, c2).status == store::RunStatus::Finished);
    auto a = live.bySplitStep(), b = pre.bySplitStep();
    QCOMPARE(a.size(), b.size());
    const auto shape = tinyShape(c.maxLength);
    double lrSoFar = 0;  // the policy equals the reference until a step with lr > 0 has run
    double worst = 0;    // the largest difference as a share of its tolerance
    std::string worstName;
    for (const auto& [key, values] : a) {
        QVERIFY(b.count(key));
        const auto& other = b.at(key);
        for (const auto& [name, v] : values) {
            // Shares of counts: they move only where rounding flips a tie (a margin near 0, two
            // logits near each other), which no tolerance on the share describes.
            if (name == "rewards/accuracies" || name == "mean_token_accuracy") continue;
            const double tol = metricTolerance(name, values, c.beta, c.maxLength, shape);
            if (tol > 0 && std::abs(v - other.at(name)) / tol > worst) {
                worst = std::abs(v - other.at(name)) / tol;
                worstName = name + " at step " + std::to_string(key.second) + ", tolerance " + std::to_string(tol);
            }
            QVERIFY2(std::abs(v - other.at(name)) <= tol,
                     qPrintable(QString("%1 at step %2: live %3, precomputed %4, tolerance %5")
                                    .arg(QString::fromStdString(name)).arg(key.second).arg(v, 0, 'g', 17)
                                    .arg(other.at(name), 0, 'g', 17).arg(tol)));
        }
        if (lrSoFar == 0) {
            // Policy = reference: every reward is rounding noise around 0.
            for (const char* k : {"rewards/chosen", "rewards/rejected", "rewards/margins"})
                QVERIFY2(std::abs(values.at(k)) <= metricTolerance(k, values, c.beta, c.maxLength, shape),
                         qPrintable(QString("%1 at step %2 before any update: %3").arg(k).arg(key.second).arg(values.at(k))));
        }
        if (key.first == "train") lrSoFar += values.at("learning_rate");
    }
    QVERIFY2(lrSoFar > 0, "the runs never updated the policy");
    qInfo("largest difference: %.3g of its tolerance (%s)", worst, worstName.c_str());
}

void TestTrainer::resumeEqualsUninterrupted_data() {
    QTest::addColumn<bool>("precompute");
    QTest::addColumn<int>("loraRank");
    QTest::addColumn<int>("gradAccum");
    QTest::newRow("full") << false << 0 << 1;
    QTest::newRow("precomputed reference, accumulation") << true << 0 << 2;
    QTest::newRow("lora with dropout") << false << 4 << 1;
    QTest::newRow("tr-dpo: the moved reference in the checkpoint") << false << -1 << 1;
}

void TestTrainer::resumeEqualsUninterrupted() {
    QFETCH(bool, precompute);
    QFETCH(int, loraRank);
    QFETCH(int, gradAccum);
    QTemporaryDir dir;
    const std::string db = makeProject(dir, 16, 6);
    train::TrainConfig c = smallConfig();
    c.db = db;
    c.maxSteps = 6;
    c.evalSteps = 2;
    c.loggingSteps = 2;  // the cancel lands mid-interval: the checkpoint must carry it
    c.precomputeRef = precompute;
    c.gradAccum = gradAccum;
    c.loraRank = std::max(loraRank, 0);
    if (loraRank < 0) {  // TR-DPO, the reference moving every 2 steps (the cancel at 3 is after a sync)
        c.syncRefModel = true;
        c.refModelSyncSteps = 2;
        c.refModelMixupAlpha = 0.5;
        loraRank = 0;
    }
    c.loraDropout = loraRank > 0 ? 0.1 : 0.0;
    c.loraTargetModules = "q_proj,v_proj";
    c.lr = loraRank > 0 ? 1e-2 : 2e-3;

    Recorder whole;
    train::TrainControl c1;
    c.out = dir.filePath("whole").toStdString();
    auto r1 = train::runTraining(c, whole, c1);
    QVERIFY2(r1.status == store::RunStatus::Finished, r1.error.c_str());

    Recorder part;
    train::TrainControl c2;
    part.control = &c2;
    part.cancelAtStep = 3;
    c.out = dir.filePath("parts").toStdString();
    auto r2 = train::runTraining(c, part, c2);
    QVERIFY(r2.status == store::RunStatus::Cancelled);
    QCOMPARE(r2.steps, int64_t(3));
    {
        auto p = store::Project::open(db);
        QVERIFY(p.run(r2.runId)->status == store::RunStatus::Cancelled);
    }
    train::TrainConfig again;
    again.db = db;
    again.resumeRunId = r2.runId;
    train::TrainControl c3;
    auto r3 = train::runTraining(again, part, c3);
    QVERIFY2(r3.status == store::RunStatus::Finished, r3.error.c_str());
    QCOMPARE(r3.runId, r2.runId);
    QCOMPARE(r3.steps, int64_t(6));
    QCOMPARE(part.bySplitStep(), whole.bySplitStep());

    auto p = store::Project::open(db);
    auto run = p.run(r3.runId);
    QVERIFY(run->status == store::RunStatus::Finished);
    auto snapshot = json::parse(run->snapshotJson);
    QCOMPARE(int(snapshot.size()), 22);
    QCOMPARE(snapshot[0][1].get<std::string>(), std::string("a"));
    QCOMPARE(snapshot[1][1].get<std::string>(), std::string("b"));
    // Each logged point once in the project, although the run was split in two.
    std::set<std::pair<std::string, int64_t>> seen;
    for (const auto& m : p.metrics(r3.runId)) QVERIFY(seen.insert({m.split, m.step}).second);
}

// A pause requested during step 2 holds the loop before step 3 and says so with the step it
// holds at; the observer releases it from the event, and the run goes on to the end with
// every step once.
void TestTrainer::pauseIsReportedWithItsStep() {
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig();
    c.data = writeData(dir, "pairs.jsonl", 12);
    c.out = dir.filePath("out").toStdString();
    c.maxSteps = 4;
    Recorder rec;
    train::TrainControl control;
    rec.control = &control;
    rec.pauseAtStep = 2;
    auto r = train::runTraining(c, rec, control);
    QVERIFY2(r.status == store::RunStatus::Finished, r.error.c_str());
    QCOMPARE(r.steps, int64_t(4));
    const std::vector<std::pair<int64_t, bool>> expected = {{2, true}, {2, false}};
    QCOMPARE(rec.pauses, expected);
    std::vector<int64_t> steps;
    for (const auto& p : rec.points) steps.push_back(p.step);
    QCOMPARE(steps, (std::vector<int64_t>{1, 2, 3, 4}));
}

void TestTrainer::allResponsesTruncatedFailsClearly() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("ids.jsonl").toStdString();
    {
        std::ofstream out(path);
        for (int i = 0; i < 3; ++i) out << R"({"prompt_ids":[1,2,3],"chosen_ids":[],"rejected_ids":[4]})" << "\n";
    }
    train::TrainConfig c = smallConfig();
    c.data = path;
    c.out = dir.filePath("out").toStdString();
    Recorder rec;
    train::TrainControl control;
    auto r = train::runTraining(c, rec, control);
    QVERIFY(r.status == store::RunStatus::Failed);
    QVERIFY2(r.error.find("log 2") != std::string::npos, r.error.c_str());
}

void TestTrainer::badDataFileFailsWithLine() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("bad.jsonl").toStdString();
    {
        std::ofstream out(path);
        out << R"({"prompt":"a","chosen":"b","rejected":"c"})" << "\n" << R"({"prompt":"a","chosen":3,"rejected":"c"})" << "\n";
    }
    train::TrainConfig c = smallConfig();
    c.data = path;
    Recorder rec;
    train::TrainControl control;
    auto r = train::runTraining(c, rec, control);
    QVERIFY(r.status == store::RunStatus::Failed);
    QVERIFY2(r.error.find(path + ":2:") == 0 && r.error.find("\"chosen\"") != std::string::npos, r.error.c_str());
}

// Training on annotator agreement (--agreement, docs/ANALYTICS.md): in a consensus-mode project
// whose pairs four annotators labelled alike ($USER through makeProject, then alice, bob and
// carol), smoothing and weights train bit for bit as without them. One dissent (3 of 4 on one
// training pair) keeps the verdict and the data, so a
// run without agreement is still the same; with smoothing or weights that run differs from
// step 1. The snapshot records the dissent, and so does the data fingerprint.
void TestTrainer::agreementLeavesUnanimousPairsAlone() {
    QTemporaryDir dir;
    const std::string db = makeProject(dir, 8, 4);
    std::vector<int64_t> trainIds;
    {
        auto p = store::Project::open(db);
        p.setAnnotationMode(store::AnnotationMode::Consensus);
        for (const auto& pair : p.pairs({})) {
            for (const char* who : {"alice", "bob", "carol"}) {
                store::LabelOptions o;
                o.annotator = who;
                p.label(pair.id, *pair.verdict, o);
            }
            if (pair.split == "train") trainIds.push_back(pair.id);
        }
    }
    auto train = [&](const std::string& agreement, const char* name) {
        train::TrainConfig c = smallConfig();
        c.db = db;
        c.maxSteps = 2;
        c.evalSteps = 2;
        c.agreement = agreement;
        c.out = dir.filePath(name).toStdString();
        Recorder r;
        train::TrainControl control;
        auto result = train::runTraining(c, r, control);
        if (result.status != store::RunStatus::Finished) qWarning("%s", result.error.c_str());
        return std::make_pair(r.bySplitStep(), result.runId);
    };
    const auto [off, offRun] = train("off", "off");
    QCOMPARE(train("smoothing", "smoothing").first, off);
    QCOMPARE(train("weights", "weights").first, off);
    QVERIFY(off.at({"train", 1}).at("loss") > 0);

    {  // carol dissents on one training pair: 3 of 4 keep its verdict
        auto p = store::Project::open(db);
        const auto pair = *p.pair(trainIds[1]);
        store::LabelOptions o;
        o.annotator = "carol";
        p.label(pair.id, *pair.verdict == store::Verdict::A ? store::Verdict::B : store::Verdict::A, o);
        QCOMPARE(p.pair(pair.id)->verdict, pair.verdict);
    }
    const auto [offAgain, offAgainRun] = train("off", "off-again");
    QCOMPARE(offAgain, off);
    const auto [smoothed, smoothedRun] = train("smoothing", "smoothing-dissent");
    const auto weighted = train("weights", "weights-dissent").first;
    // Some step's batch holds the dissenting pair: its loss differs.
    bool differs = false, weightDiffers = false;
    for (const auto& [key, values] : off) {
        differs |= smoothed.at(key).at("loss") != values.at("loss");
        weightDiffers |= weighted.at(key).at("loss") != values.at("loss");
    }
    QVERIFY(differs);
    QVERIFY(weightDiffers);
    auto p = store::Project::open(db);
    const auto snap = json::parse(p.run(smoothedRun)->snapshotJson);
    bool recorded = false;
    for (const auto& row : snap)
        if (row.at(0).get<int64_t>() == trainIds[1]) recorded = row.size() == 5 && row[3] == 4 && row[4] == 3;
    QVERIFY2(recorded, snap.dump().c_str());
    QVERIFY(p.run(offRun)->dataFingerprint != p.run(offAgainRun)->dataFingerprint);
}

// adapter_config.json's base_model_name_or_path must be a model PEFT can load, and the very
// weights the adapter was trained on: base + adapter, merged, gives the run's saved model.
// builtin:tiny has no folder (its base is saved as OUT/base); after an SFT warm-up the base is
// the warm-up's weights (OUT/reference), not the model the run started from.
// TR-DPO with α = 1 and a sync after every step: the reference becomes the policy, so every
// step's pairs see equal log-probs on both sides and the sigmoid loss is log 2 at each step;
// without the sync it leaves log 2 after the first step.
void TestTrainer::trDpoReferenceFollowsPolicy() {
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig();
    c.data = writeData(dir, "pairs.jsonl", 12);
    c.maxSteps = 3;
    c.lr = 5e-3;
    c.warmupSteps = 0;  // the first step moves the policy
    for (bool sync : {true, false}) {
        c.syncRefModel = sync;
        c.refModelMixupAlpha = 1.0;
        c.refModelSyncSteps = 1;
        c.out = dir.filePath(sync ? "sync" : "plain").toStdString();
        Recorder r;
        train::TrainControl control;
        auto result = train::runTraining(c, r, control);
        QVERIFY2(result.status == store::RunStatus::Finished, result.error.c_str());
        const auto points = r.bySplitStep();
        for (int64_t step : {2, 3}) {
            const double loss = points.at({"train", step}).at("loss");
            if (sync)
                QVERIFY2(std::abs(loss - std::log(2.0)) < 1e-6, qPrintable(QString("step %1: %2").arg(step).arg(loss)));
            else
                QVERIFY2(std::abs(loss - std::log(2.0)) > 1e-4, qPrintable(QString("step %1: %2").arg(step).arg(loss)));
        }
    }
}

// Every loss of the menu trains end to end through the trainer: simpo and orpo without loading
// a reference, MPO's weighted terms, LD-DPO, WPO and an f-divergence; the logged metrics are
// finite and the loss moves.
void TestTrainer::lossMenuTrains_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("extraMetric");
    QTest::newRow("simpo") << R"({"loss_type":"simpo","beta":2.0,"simpo_gamma":0.5})" << "";
    QTest::newRow("orpo") << R"({"loss_type":"orpo","beta":0.1})" << "log_odds_ratio";
    QTest::newRow("mpo") << R"({"loss_type":"sigmoid,bco_pair,sft","loss_weights":[0.8,0.2,1.0]})" << "nll_loss";
    QTest::newRow("ld-dpo") << R"({"ld_alpha":0.3})" << "";
    QTest::newRow("wpo") << R"({"use_weighting":true})" << "";
    QTest::newRow("js divergence") << R"({"f_divergence_type":"js_divergence"})" << "";
}

void TestTrainer::lossMenuTrains() {
    QFETCH(QString, json);
    QFETCH(QString, extraMetric);
    QTemporaryDir dir;
    train::TrainConfig c = train::TrainConfig::fromJson(json.toStdString());
    const train::TrainConfig base = smallConfig();
    c.model = base.model, c.device = base.device, c.lr = base.lr, c.batchSize = base.batchSize;
    c.maxLength = base.maxLength, c.maxPromptLength = base.maxPromptLength, c.loggingSteps = 1, c.seed = base.seed;
    c.data = writeData(dir, "pairs.jsonl", 12);
    c.maxSteps = 3;
    c.out = dir.filePath("out").toStdString();
    Recorder r;
    train::TrainControl control;
    auto result = train::runTraining(c, r, control);
    QVERIFY2(result.status == store::RunStatus::Finished, result.error.c_str());
    QCOMPARE(result.referenceDir.empty(), !c.usesReference());
    const auto points = r.bySplitStep();
    for (int64_t step : {1, 2, 3})
        for (const auto& [name, value] : points.at({"train", step}))
            QVERIFY2(std::isfinite(value), qPrintable(QString::fromStdString(name)));
    if (!extraMetric.isEmpty()) QVERIFY(points.at({"train", 1}).count(extraMetric.toStdString()));
    QVERIFY(points.at({"train", 1}).at("loss") != points.at({"train", 3}).at("loss"));
}

void TestTrainer::adapterNamesItsBase_data() {
    QTest::addColumn<int>("sftEpochs");
    QTest::addColumn<QString>("expectedBase");  // relative to the run folder
    QTest::newRow("builtin:tiny") << 0 << "base";
    QTest::newRow("after an SFT warm-up") << 1 << "reference";
}

void TestTrainer::adapterNamesItsBase() {
    QFETCH(int, sftEpochs);
    QFETCH(QString, expectedBase);
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig();
    c.data = writeData(dir, "pairs.jsonl", 8);
    c.out = dir.filePath("out").toStdString();
    c.maxSteps = 2;
    c.sftEpochs = sftEpochs;
    c.loraRank = 4;
    c.loraAlpha = 8;
    c.lr = 1e-2;
    Recorder rec;
    train::TrainControl control;
    auto r = train::runTraining(c, rec, control);
    QVERIFY2(r.status == store::RunStatus::Finished, r.error.c_str());

    std::ifstream in(fs::path(c.out) / "adapter" / "adapter_config.json");
    QVERIFY(in);
    const json cfg = json::parse(in);
    const std::string base = cfg.at("base_model_name_or_path").get<std::string>();
    QVERIFY2(fs::path(base).is_absolute(), base.c_str());  // PEFT resolves a relative path from its own cwd
    QCOMPARE(fs::weakly_canonical(base), fs::weakly_canonical(fs::path(c.out) / expectedBase.toStdString()));
    QVERIFY(cfg.at("revision").is_null());

    model::LoadOptions cpu;
    cpu.device = "cpu";
    auto rebuilt = model::loadModel(base, cpu);
    model::loadLoraAdapter(*rebuilt, (fs::path(c.out) / "adapter").string());
    model::mergeLora(*rebuilt->net);
    auto saved = model::loadModel(c.out, cpu);
    torch::NoGradGuard ng;
    const torch::Tensor ids = torch::tensor({{5, 17, 42, 9, 77, 3}}, torch::kInt64);
    const torch::Tensor mask = torch::ones_like(ids);
    const torch::Tensor a = rebuilt->net->lmHead(rebuilt->net->hidden(ids, mask));
    const torch::Tensor b = saved->net->lmHead(saved->net->hidden(ids, mask));
    // The same merge (W + B·A·α/r) of the same float32 tensors: equal to the last bit.
    QVERIFY(torch::equal(a, b));
    // And the adapter is not a no-op: the base alone gives other logits.
    auto plain = model::loadModel(base, cpu);
    QVERIFY(!torch::equal(plain->net->lmHead(plain->net->hidden(ids, mask)), b));
}

QTEST_APPLESS_MAIN(TestTrainer)
#include "tst_trainer.moc"
