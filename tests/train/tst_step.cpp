// One DPO optimizer step against an independent eager-PyTorch implementation
// (tests/data/train/make_fixture.py, committed output in tests/data/train/step/), and the
// equivalence of gradient accumulation with one larger batch.
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

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
    if (microBatches == 1) {
        QVERIFY2(std::abs(out.loss - expected["loss"].get<double>()) < 1e-5,
                 qPrintable(QString("loss %1, reference %2").arg(out.loss).arg(expected["loss"].get<double>())));
        const double gradNorm = train::clipGradients(params, cfg.maxGradNorm);
        QVERIFY2(std::abs(gradNorm - expected["grad_norm"].get<double>()) < 1e-4 * expected["grad_norm"].get<double>(),
                 qPrintable(QString("grad norm %1, reference %2").arg(gradNorm).arg(expected["grad_norm"].get<double>())));
        optimizer->step();
        auto m = metrics.mean();
        for (const char* k : {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                              "logits/chosen", "logits/rejected", "nll_loss"})
            QVERIFY2(std::abs(m.at(k) - expected[k].get<double>()) < 1e-5,
                     qPrintable(QString("%1: %2, reference %3").arg(k).arg(m.at(k)).arg(expected[k].get<double>())));
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
        QVERIFY(std::abs(out.loss - whole.loss) < 1e-6);
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
    auto pa = a->net->named_parameters(), pb = b->net->named_parameters();
    for (const auto& item : pa) {
        const auto& ga = item.value().grad();
        const auto& gb = pb[item.key()].grad();
        QVERIFY(ga.defined() && gb.defined());
        const double scale = std::max(1e-3, ga.abs().max().item<double>());
        QVERIFY2(maxAbsDiff(ga, gb) < 1e-5 * scale, qPrintable(QString::fromStdString(item.key())));
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
    for (size_t i = 0; i < pairs.size(); ++i) {
        QVERIFY(std::abs(cached[i].chosen - expected["reference_chosen_logps"][i].get<double>()) < 1e-4);
        QVERIFY(std::abs(cached[i].rejected - expected["reference_rejected_logps"][i].get<double>()) < 1e-4);
    }
    train::LossOptions lo{train::LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    train::MicroBatch live, pre;
    live.pairs = ptrs;
    pre.pairs = ptrs;
    pre.cached = cached;
    torch::NoGradGuard ng;
    auto a = train::accumulateStep(*policy->net, {reference->net.get(), false, false}, {live}, lo, 0, nullptr, false);
    auto b = train::accumulateStep(*policy->net, {nullptr, false, false}, {pre}, lo, 0, nullptr, false);
    QVERIFY2(std::abs(a.loss - b.loss) < 1e-6, qPrintable(QString("live %1, precomputed %2").arg(a.loss).arg(b.loss)));
}

QTEST_APPLESS_MAIN(TestStep)
#include "tst_step.moc"
