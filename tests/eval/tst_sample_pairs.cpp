// Sampled pairs (eval/sample_pairs.h): the one path behind `dpowb sample-pairs` and the compare
// view's "Sample pairs…". The view's settings and prompt choice give the same pairs as the
// command's for the same seed; pair k is the two models' completions with seed + k; the policy's
// side is a seeded coin, recorded in the metadata.
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/error.h"
#include "common/progress.h"

#include "eval/compare.h"
#include "eval/compare_engine.h"
#include "eval/sample_pairs.h"
#include "model/model.h"
#include "store/project.h"

using namespace dpowb;
using nlohmann::json;

class TestSamplePairs : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        torch::set_num_threads(1);
        // A policy that differs from the reference: the built-in network from another seed.
        model::LoadOptions o;
        o.device = "cpu";
        policy_ = dir_.filePath("policy").toStdString();
        model::saveModel(*model::builtinTiny(o, 99), policy_);
        db_ = dir_.filePath("sample.dpowb").toStdString();
        auto project = store::Project::create(db_);
        for (int i = 0; i < 6; ++i) {
            store::Pair p;
            p.prompt = "Review " + std::to_string(i % 4) + ":";  // prompts 4 and 5 repeat 0 and 1
            p.responseA = "good " + std::to_string(i);
            p.responseB = "bad " + std::to_string(i);
            p.split = "test";
            project.addPair(p);
        }
    }

    void coinDependsOnTheSeedAlone() {
        int policyFirst = 0;
        for (uint64_t seed = 0; seed < 64; ++seed) {
            QCOMPARE(eval::policyIsA(seed), eval::policyIsA(seed));
            policyFirst += eval::policyIsA(seed) ? 1 : 0;
        }
        QVERIFY(policyFirst > 0 && policyFirst < 64);  // both sides occur
    }

    void distinctPromptsOfTheSplit() {
        auto project = store::Project::open(db_);
        const auto all = eval::promptsFromSplit(project, "test", false);
        QCOMPARE(all.size(), size_t(4));
        for (size_t k = 0; k < all.size(); ++k) QCOMPARE(all[k].input.text, "Review " + std::to_string(k) + ":");
        QCOMPARE(eval::promptsFromSplit(project, "test", false, 2).size(), size_t(2));
        const auto chat = eval::promptsFromSplit(project, "test", true, 1);
        QVERIFY(chat[0].input.text.empty());
        QCOMPARE(chat[0].input.messages.size(), size_t(1));
        QVERIFY_THROWS_EXCEPTION(Error, eval::promptsFromSplit(project, "train", false));
    }

    void viewAndCommandGiveTheSamePairs() {
        const eval::ModelPair models = eval::modelsForFolders(policy_, "builtin:tiny", 0.1);
        auto project = store::Project::open(db_);
        // A seed whose first two pairs put the policy on different sides: both sides are checked.
        uint64_t seed = 1;
        while (eval::policyIsA(seed) == eval::policyIsA(seed + 1)) ++seed;
        const int64_t maxNewTokens = 6;

        // The command: its own Comparer, the core's settings as its options set them.
        eval::SamplingSettings cli;
        cli.maxNewTokens = maxNewTokens;
        cli.temperature = 0.8;
        cli.topK = 20;
        cli.seed = seed;
        eval::Comparer comparer(models);
        const auto prompts = eval::promptsFromSplit(project, "test", false);
        const auto byCli = eval::samplePairs(comparer, prompts, int64_t(prompts.size()), cli, "test");

        // The view: its engine and its own settings type, its prompt limit.
        eval::CompareSampling view;
        view.maxNewTokens = maxNewTokens;
        view.temperature = 0.8;
        view.topK = 20;
        view.seed = seed;
        eval::CompareEngine engine;
        engine.load(models);
        const auto viewPrompts = eval::promptsFromSplit(project, "test", false, 10);
        const auto byView = eval::samplePairs(engine.comparer(), viewPrompts, int64_t(viewPrompts.size()),
                                              view.toCore(), "test");

        QCOMPARE(byView.size(), byCli.size());
        int policyOnA = 0;
        for (size_t k = 0; k < byCli.size(); ++k) {
            const store::Pair& c = byCli[k].pair;
            const store::Pair& v = byView[k].pair;
            QCOMPARE(v.prompt, c.prompt);
            QCOMPARE(v.responseA, c.responseA);
            QCOMPARE(v.responseB, c.responseB);
            QCOMPARE(v.metadataJson, c.metadataJson);
            QCOMPARE(c.source, std::string("policy-vs-reference"));

            // Pair k: both models with seed + k; the policy on the side the coin of that seed says.
            eval::SamplingSettings sk = cli;
            sk.seed = seed + k;
            const auto pol = comparer.generateOne(prompts[k].input, sk, "policy", 0);
            const auto ref = comparer.generateOne(prompts[k].input, sk, "reference", 0);
            const bool aIsPolicy = eval::policyIsA(seed + k);
            QCOMPARE(byCli[k].policyIsA, aIsPolicy);
            QCOMPARE(c.responseA, aIsPolicy ? pol.text : ref.text);
            QCOMPARE(c.responseB, aIsPolicy ? ref.text : pol.text);
            const json meta = json::parse(c.metadataJson);
            QCOMPARE(meta["a"].get<std::string>(), std::string(aIsPolicy ? "policy" : "reference"));
            QCOMPARE(meta["b"].get<std::string>(), std::string(aIsPolicy ? "reference" : "policy"));
            QCOMPARE(meta["seed"].get<uint64_t>(), seed + k);
            QCOMPARE(meta["prompt_source"].get<std::string>(), prompts[k].source);
            QCOMPARE(meta["policy"].get<std::string>(), policy_);
            policyOnA += aIsPolicy ? 1 : 0;
        }
        QVERIFY(policyOnA > 0 && policyOnA < int(byCli.size()));
    }

    void cancelledBeforeAnyPair() {
        const eval::ModelPair models = eval::modelsForFolders(policy_, "builtin:tiny", 0.1);
        eval::Comparer comparer(models);
        auto project = store::Project::open(db_);
        std::atomic<bool> cancel{true};
        Progress progress;
        progress.cancel = &cancel;
        QVERIFY_THROWS_EXCEPTION(Cancelled, eval::samplePairs(comparer, eval::promptsFromSplit(project, "test", false), 2,
                                                              eval::SamplingSettings{}, "test", progress));
    }

private:
    QTemporaryDir dir_;
    std::string policy_, db_;
};

QTEST_APPLESS_MAIN(TestSamplePairs)
#include "tst_sample_pairs.moc"
