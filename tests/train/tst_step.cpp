// One DPO optimizer step against an independent eager-PyTorch implementation
// (tests/data/train/make_fixture.py, committed output in tests/data/train/step/), and the
// equivalence of gradient accumulation with one larger batch.
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "../common/rounding.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "train/dpo_step.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

const std::string kStep = std::string(DPOWB_TEST_DATA) + "/train/step";

json readJson(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
}

std::vector<model::EncodedPair> readPairs(const std::string& path) {
    std::vector<model::EncodedPair> out;
    std::ifstream in(path);
    std::string line;
    model::EncodeOptions o;
    while (std::getline(in, line)) {
        json j = json::parse(line);
        out.push_back(model::encodePairIds(j["prompt_ids"].get<std::vector<text::TokenId>>(),
                                           j["chosen_ids"].get<std::vector<text::TokenId>>(),
                                           j["rejected_ids"].get<std::vector<text::TokenId>>(), o));
    }
    return out;
}

train::TrainConfig configFrom(const json& e) {
    train::TrainConfig c;
    c.data = "fixture";
    c.beta = e["beta"];
    c.labelSmoothing = e["label_smoothing"];
    c.rpoAlpha = e["rpo_alpha"];
    c.lr = e["learning_rate"];
    c.weightDecay = e["weight_decay"];
    c.adamBeta1 = e["adam_beta1"];
    c.adamBeta2 = e["adam_beta2"];
    c.adamEpsilon = e["adam_epsilon"];
    c.maxGradNorm = e["max_grad_norm"];
    return c;
}

// The fixture model's forward pass over the fixture's longest pair.
test::ForwardShape shapeOf(const model::Model& m, const std::vector<model::EncodedPair>& pairs) {
    int64_t longest = 0;
    for (const auto& p : pairs)
        longest = std::max<int64_t>(longest, int64_t(p.prompt.size() + std::max(p.chosen.size(), p.rejected.size())));
    const auto& c = m.config;
    return {c.numLayers, c.hiddenSize, c.intermediateSize, longest, c.vocabSize};
}

// Per pair, how far its margin β·((pc − rc) − (pr − rr)) may move with rounding alone: the
// four log-probs' tolerances (the fixture's values, the pairs' token counts).
std::vector<double> marginTolerances(const json& e, const std::vector<model::EncodedPair>& pairs,
                                     const test::ForwardShape& shape) {
    std::vector<double> out;
    const double beta = e["beta"];
    for (size_t i = 0; i < pairs.size(); ++i) {
        const auto nc = int64_t(pairs[i].chosen.size()), nr = int64_t(pairs[i].rejected.size());
        out.push_back(beta * (test::logpTolerance(e["policy_chosen_logps"][i], nc, shape) +
                              test::logpTolerance(e["reference_chosen_logps"][i], nc, shape) +
                              test::logpTolerance(e["policy_rejected_logps"][i], nr, shape) +
                              test::logpTolerance(e["reference_rejected_logps"][i], nr, shape)));
    }
    return out;
}

double marginOf(const json& e, size_t i) {
    return e["beta"].get<double>() * ((e["policy_chosen_logps"][i].get<double>() - e["reference_chosen_logps"][i].get<double>()) -
                                      (e["policy_rejected_logps"][i].get<double>() - e["reference_rejected_logps"][i].get<double>()));
}

double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

class TestStep : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::manual_seed(0); }
    void matchesIndependentImplementation_data();
    void matchesIndependentImplementation();
    void accumulationEqualsLargerBatch();
    void precomputedEqualsLiveReference();
    void lengthWeightsAndWpoFromTokens_data();
    void lengthWeightsAndWpoFromTokens();
    void referenceMixFollowsPolicy();
};

void TestStep::matchesIndependentImplementation_data() {
    QTest::addColumn<int>("microBatches");
    QTest::newRow("one batch") << 1;
    QTest::newRow("two micro-batches") << 2;  // same step through accumulation
}

void TestStep::matchesIndependentImplementation() {
    QFETCH(int, microBatches);
    const json expected = readJson(kStep + "/expected.json");
    auto policy = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
    auto reference = model::loadModel(kStep + "/reference", {"cpu", "float32", ""});
    auto pairs = readPairs(kStep + "/pairs.jsonl");
    QCOMPARE(pairs.size(), size_t(4));
    train::TrainConfig cfg = configFrom(expected);
    cfg.validate();

    auto& net = *policy->net;
    net.train();
    auto optimizer = train::makeOptimizer(net, cfg);
    auto params = train::trainableParameters(net);
    std::vector<train::MicroBatch> mbs(static_cast<size_t>(microBatches));
    for (size_t i = 0; i < pairs.size(); ++i) mbs[i * size_t(microBatches) / pairs.size()].pairs.push_back(&pairs[i]);
    train::ReferenceSource ref{reference->net.get(), false, false};
    train::MetricAccumulator metrics;
    optimizer->zero_grad();
    auto lossOptions = train::lossOptionsOf(cfg);
    lossOptions.rpoAlpha = 0;  // the NLL term is token-weighted per micro-batch: compare it with one batch only
    if (microBatches == 1) lossOptions.rpoAlpha = expected["rpo_alpha"];
    train::StepOutcome out = train::accumulateStep(net, ref, mbs, lossOptions, 0, &metrics);
    // Tolerances from the computation: the fixture was computed by another program with
    // another BLAS, so every value may differ by the rounding of a float32 forward pass.
    const auto shape = shapeOf(*policy, pairs);
    const std::vector<double> marginTol = marginTolerances(expected, pairs, shape);
    int64_t chosenTokens = 0;
    double chosenTol = 0;
    for (size_t i = 0; i < pairs.size(); ++i) {
        chosenTokens += int64_t(pairs[i].chosen.size());
        chosenTol += test::logpTolerance(expected["policy_chosen_logps"][i], int64_t(pairs[i].chosen.size()), shape);
    }
    const double beta = expected["beta"];
    const double nllTol = chosenTol / double(chosenTokens);
    // The sigmoid losses' slope in the margin is below 1; the NLL term adds α times its own.
    const double lossTol = mean(marginTol) + expected["rpo_alpha"].get<double>() * nllTol;
    if (microBatches == 1) {
        QVERIFY2(std::abs(out.loss - expected["loss"].get<double>()) <= lossTol,
                 qPrintable(QString("loss %1, reference %2, tolerance %3").arg(out.loss).arg(expected["loss"].get<double>()).arg(lossTol)));
        // The gradient: the log-probs' gradients (one more pass along the chain, summed over
        // every position of the batch) weighted by σ(−margin) (slope below 1/4) — relative.
        const double gradNorm = train::clipGradients(params, cfg.maxGradNorm);
        const double gradTol = expected["grad_norm"].get<double>() *
                               (test::sumTolerance(1.0, 2 * test::chainLength(shape) + double(2 * pairs.size()) * double(shape.positions)) +
                                *std::max_element(marginTol.begin(), marginTol.end()));
        QVERIFY2(std::abs(gradNorm - expected["grad_norm"].get<double>()) <= gradTol,
                 qPrintable(QString("grad norm %1, reference %2, tolerance %3").arg(gradNorm).arg(expected["grad_norm"].get<double>()).arg(gradTol)));
        optimizer->step();
        auto m = metrics.mean();
        double chosenRewardTol = 0, rejectedRewardTol = 0;
        for (size_t i = 0; i < pairs.size(); ++i) {
            const auto nc = int64_t(pairs[i].chosen.size()), nr = int64_t(pairs[i].rejected.size());
            chosenRewardTol += beta * (test::logpTolerance(expected["policy_chosen_logps"][i], nc, shape) +
                                       test::logpTolerance(expected["reference_chosen_logps"][i], nc, shape));
            rejectedRewardTol += beta * (test::logpTolerance(expected["policy_rejected_logps"][i], nr, shape) +
                                         test::logpTolerance(expected["reference_rejected_logps"][i], nr, shape));
        }
        const double n = double(pairs.size());
        const std::map<std::string, double> tolerance = {
            {"rewards/chosen", chosenRewardTol / n},
            {"rewards/rejected", rejectedRewardTol / n},
            {"rewards/margins", mean(marginTol)},
            {"logits/chosen", test::sumTolerance(1.0 + std::abs(expected["logits/chosen"].get<double>()), test::chainLength(shape))},
            {"logits/rejected", test::sumTolerance(1.0 + std::abs(expected["logits/rejected"].get<double>()), test::chainLength(shape))},
            {"nll_loss", nllTol},
        };
        for (const auto& [k, tol] : tolerance)
            QVERIFY2(std::abs(m.at(k) - expected[k].get<double>()) <= tol,
                     qPrintable(QString("%1: %2, reference %3, tolerance %4").arg(QString::fromStdString(k)).arg(m.at(k))
                                    .arg(expected[k].get<double>()).arg(tol)));
        // The accuracy is a step function of the margins: exact, since every pair's margin is
        // further from 0 than rounding can move it.
        for (size_t i = 0; i < pairs.size(); ++i)
            QVERIFY2(std::abs(marginOf(expected, i)) > marginTol[i],
                     qPrintable(QString("pair %1's margin %2 is within rounding of the tie").arg(i).arg(marginOf(expected, i))));
        QCOMPARE(m.at("rewards/accuracies"), expected["rewards/accuracies"].get<double>());
        // The updated weights, tensor by tensor.
        model::SafetensorsFile updated(kStep + "/updated.safetensors");
        int compared = 0;
        for (const auto& item : net.named_parameters()) {
            const auto* info = updated.find(item.key());
            QVERIFY2(info, qPrintable(QString::fromStdString("no reference tensor for " + item.key())));
            // Adam's first update is lr·g/(|g|+ε): where |g| is near ε, float32 summation-order
            // differences in g move the update by a small fraction of lr. Bound the worst
            // element by 1% of one step and the average by 0.01%.
            const double lr = expected["learning_rate"].get<double>();
            torch::Tensor diff = (item.value().detach().to(torch::kFloat64) - updated.tensor(item.key()).to(torch::kFloat64)).abs();
            const double d = diff.max().item<double>(), mean = diff.mean().item<double>();
            QVERIFY2(d < 1e-2 * lr && mean < 1e-4 * lr,
                     qPrintable(QString::fromStdString(item.key()) + QString(": max |diff| %1, mean %2").arg(d).arg(mean)));
            ++compared;
        }
        QCOMPARE(compared, int(updated.tensors().size()));
    } else {
        // Without the NLL term, accumulating two halves gives the fixture's preference loss.
        auto one = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
        one->net->train();
        train::MicroBatch all;
        for (auto& p : pairs) all.pairs.push_back(&p);
        train::StepOutcome whole = train::accumulateStep(*one->net, ref, {all}, lossOptions, 0, nullptr);
        QVERIFY2(std::abs(out.loss - whole.loss) <= lossTol,
                 qPrintable(QString("two halves %1, one batch %2, tolerance %3").arg(out.loss).arg(whole.loss).arg(lossTol)));
        QCOMPARE(out.pairs, whole.pairs);
    }
}

void TestStep::accumulationEqualsLargerBatch() {
    // k micro-batches of b pairs give the gradient of one batch of k·b pairs.
    auto a = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
    auto b = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
    auto reference = model::loadModel(kStep + "/reference", {"cpu", "float32", ""});
    auto pairs = readPairs(kStep + "/pairs.jsonl");
    train::LossOptions lo{train::LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    train::ReferenceSource ref{reference->net.get(), false, false};
    train::MicroBatch all;
    std::vector<train::MicroBatch> split(2);
    for (size_t i = 0; i < pairs.size(); ++i) {
        all.pairs.push_back(&pairs[i]);
        split[i / 2].pairs.push_back(&pairs[i]);
    }
    for (auto* m : {&a, &b})
        for (auto& p : (*m)->net->parameters()) p.mutable_grad() = torch::Tensor();
    train::accumulateStep(*a->net, ref, {all}, lo, 0, nullptr);
    train::accumulateStep(*b->net, ref, split, lo, 0, nullptr);
    // The two halves run other matrix shapes (other kernels): each gradient element may move
    // by the rounding of a forward and a backward pass along the chain plus its sum over every
    // position of the batch, relative to the tensor's largest element (floored: a tensor
    // whose gradient is almost 0 still carries the rounding of the terms that cancelled).
    const auto shape = shapeOf(*a, pairs);
    const double relative = test::sumTolerance(1.0, 2 * test::chainLength(shape) + double(2 * pairs.size()) * double(shape.positions));
    auto pa = a->net->named_parameters(), pb = b->net->named_parameters();
    for (const auto& item : pa) {
        const auto& ga = item.value().grad();
        const auto& gb = pb[item.key()].grad();
        QVERIFY(ga.defined() && gb.defined());
        const double scale = std::max(1e-3, ga.abs().max().item<double>());
        const double d = maxAbsDiff(ga, gb);
        QVERIFY2(d <= relative * scale, qPrintable(QString::fromStdString(item.key()) + QString(": %1 > %2").arg(d).arg(relative * scale)));
    }
}

void TestStep::precomputedEqualsLiveReference() {
    auto policy = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
    auto reference = model::loadModel(kStep + "/reference", {"cpu", "float32", ""});
    auto pairs = readPairs(kStep + "/pairs.jsonl");
    std::vector<const model::EncodedPair*> ptrs;
    for (auto& p : pairs) ptrs.push_back(&p);
    // Precomputed in batches of 3 (different padding than the training batch of 4).
    auto cached = train::referenceLogps(*reference->net, false, ptrs, 3, 0);
    const json expected = readJson(kStep + "/expected.json");
    const auto shape = shapeOf(*reference, pairs);
    const std::vector<double> marginTol = marginTolerances(expected, pairs, shape);
    for (size_t i = 0; i < pairs.size(); ++i) {
        const double c = expected["reference_chosen_logps"][i], r = expected["reference_rejected_logps"][i];
        const double tc = test::logpTolerance(c, int64_t(pairs[i].chosen.size()), shape);
        const double tr = test::logpTolerance(r, int64_t(pairs[i].rejected.size()), shape);
        QVERIFY2(std::abs(cached[i].chosen - c) <= tc, qPrintable(QString("pair %1: %2 vs %3 (tolerance %4)").arg(i).arg(cached[i].chosen).arg(c).arg(tc)));
        QVERIFY2(std::abs(cached[i].rejected - r) <= tr, qPrintable(QString("pair %1: %2 vs %3 (tolerance %4)").arg(i).arg(cached[i].rejected).arg(r).arg(tr)));
    }
    train::LossOptions lo{train::LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    train::MicroBatch live, pre;
    live.pairs = ptrs;
    pre.pairs = ptrs;
    pre.cached = cached;
    torch::NoGradGuard ng;
    train::MetricAccumulator ma, mb;
    auto a = train::accumulateStep(*policy->net, {reference->net.get(), false, false}, {live}, lo, 0, &ma, false);
    auto b = train::accumulateStep(*policy->net, {nullptr, false, false}, {pre}, lo, 0, &mb, false);
    // Only the reference side differs (same policy pass): half of each margin's tolerance.
    const double lossTol = mean(marginTol) / 2;
    QVERIFY2(std::abs(a.loss - b.loss) <= lossTol,
             qPrintable(QString("live %1, precomputed %2, tolerance %3").arg(a.loss).arg(b.loss).arg(lossTol)));
    // Every pair's margin is further from 0 than rounding can move it, so the accuracy, a
    // step function of the margins, agrees exactly.
    for (size_t i = 0; i < pairs.size(); ++i) QVERIFY(std::abs(marginOf(expected, i)) > marginTol[i]);
    QCOMPARE(ma.mean().at("rewards/accuracies"), mb.mean().at("rewards/accuracies"));
    QCOMPARE(ma.mean().at("rewards/accuracies"), expected["rewards/accuracies"].get<double>());
}

// LD-DPO's weighted sums and WPO's weights against a plain computation from the full logits of
// each sequence on its own: softmax over the vocabulary, the response tokens' log-probs, the
// first min(|y_w|, |y_l|) of them weighted 1 and the rest α; the weight exp(mean(log p(token) −
// log Σ_v p_v²)) with Σ p² summed from the probabilities themselves.
void TestStep::lengthWeightsAndWpoFromTokens_data() {
    QTest::addColumn<double>("ldAlpha");
    QTest::newRow("ld 0") << 0.0;
    QTest::newRow("ld 0.5") << 0.5;
    QTest::newRow("ld 1 (off)") << 1.0;
}

void TestStep::lengthWeightsAndWpoFromTokens() {
    QFETCH(double, ldAlpha);
    auto policy = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
    auto pairs = readPairs(kStep + "/pairs.jsonl");
    std::vector<const model::EncodedPair*> ptrs;
    for (auto& p : pairs) ptrs.push_back(&p);
    bool unequal = false;  // the fixture must have pairs whose responses differ in length
    for (auto& p : pairs) unequal |= p.chosen.size() != p.rejected.size();
    QVERIFY(unequal);
    torch::NoGradGuard ng;
    policy->net->eval();
    train::LogpOptions lo;
    lo.ldAlpha = ldAlpha;
    lo.wpoWeights = true;
    const train::PairLogps got = train::pairLogps(*policy->net, ptrs, 0, lo);
    QVERIFY(got.chosenWeight.defined() && got.rejectedWeight.defined());
    for (size_t i = 0; i < pairs.size(); ++i) {
        const auto& p = pairs[i];
        const int64_t shared = int64_t(std::min(p.chosen.size(), p.rejected.size()));
        for (int side = 0; side < 2; ++side) {
            const auto& response = side == 0 ? p.chosen : p.rejected;
            std::vector<int64_t> ids(p.prompt.begin(), p.prompt.end());
            ids.insert(ids.end(), response.begin(), response.end());
            torch::Tensor t = torch::tensor(ids, torch::kInt64).unsqueeze(0);
            torch::Tensor logits = policy->net->lmHead(policy->net->hidden(t, torch::ones_like(t)))[0].to(torch::kFloat64);
            torch::Tensor probs = torch::softmax(logits, -1);
            double weighted = 0, full = 0, aligned = 0;
            const auto P = int64_t(p.prompt.size());
            for (int64_t k = 0; k < int64_t(response.size()); ++k) {
                const int64_t pos = P + k - 1;  // the position that predicts response token k
                const double lp = std::log(probs[pos][ids[size_t(P + k)]].item<double>());
                full += lp;
                weighted += (k < shared ? 1.0 : ldAlpha) * lp;
                aligned += lp - std::log(probs[pos].pow(2).sum().item<double>());
            }
            const double weight = std::exp(aligned / double(response.size()));
            const double gotSum = (side == 0 ? got.chosen : got.rejected)[int64_t(i)].item<double>();
            const double gotWeight = (side == 0 ? got.chosenWeight : got.rejectedWeight)[int64_t(i)].item<double>();
            // float32 forward against float64 arithmetic on the same logits' softmax
            const double tol = 1e-5 * std::max(1.0, std::abs(full));
            QVERIFY2(std::abs(gotSum - weighted) <= tol,
                     qPrintable(QString("pair %1 side %2: %3 vs %4").arg(i).arg(side).arg(gotSum).arg(weighted)));
            if (side == 0) QVERIFY(std::abs(got.chosenFull[int64_t(i)].item<double>() - full) <= tol);
            QVERIFY2(std::abs(gotWeight - weight) <= 1e-5 * weight,
                     qPrintable(QString("pair %1 side %2: weight %3 vs %4").arg(i).arg(side).arg(gotWeight).arg(weight)));
        }
    }
}

// TR-DPO's update: reference ← α·policy + (1 − α)·reference, parameter by parameter.
void TestStep::referenceMixFollowsPolicy() {
    auto policy = model::loadModel(kStep + "/policy", {"cpu", "float32", ""});
    auto reference = model::loadModel(kStep + "/reference", {"cpu", "float32", ""});
    std::map<std::string, torch::Tensor> before;
    for (const auto& item : reference->net->named_parameters()) before[item.key()] = item.value().detach().clone();
    train::mixIntoReference(*reference->net, *policy->net, 0.6);
    const auto source = policy->net->named_parameters();
    for (const auto& item : reference->net->named_parameters()) {
        torch::Tensor expected = 0.6 * source[item.key()].detach() + 0.4 * before[item.key()];
        QVERIFY2(torch::allclose(item.value(), expected, 1e-6, 1e-7), item.key().c_str());
    }
    QVERIFY(!torch::equal(before.begin()->second, reference->net->named_parameters()[before.begin()->first]));
}

QTEST_APPLESS_MAIN(TestStep)
#include "tst_step.moc"
