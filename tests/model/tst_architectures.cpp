// The architectures against a naive second implementation (reference_impl.h), the KV cache
// against full forwards, padding invariance, and gradients against finite differences.
#include <torch/torch.h>

#include <QtTest>

#include <ATen/CPUGeneratorImpl.h>
#include <fstream>
#include <sstream>

#include "../common/rounding.h"
#include "model/architectures.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "reference_impl.h"

using namespace dpowb::model;

namespace {

ModelConfig llamaConfig(int64_t heads, int64_t kvHeads) {
    ModelConfig c;
    c.architecture = "llama";
    c.modelType = "llama";
    c.vocabSize = 23;
    c.hiddenSize = 16;
    c.intermediateSize = 24;
    c.numLayers = 2;
    c.numHeads = heads;
    c.numKvHeads = kvHeads;
    c.headDim = 16 / heads;
    c.maxPositions = 64;
    c.normEps = 1e-5;
    c.ropeTheta = 500.0;
    c.tieWordEmbeddings = true;
    return c;
}

ModelConfig gpt2Config() {
    ModelConfig c;
    c.architecture = "gpt2";
    c.modelType = "gpt2";
    c.vocabSize = 19;
    c.hiddenSize = 12;
    c.intermediateSize = 48;
    c.numLayers = 2;
    c.numHeads = 3;
    c.numKvHeads = 3;
    c.headDim = 4;
    c.maxPositions = 32;
    c.normEps = 1e-5;
    c.hiddenAct = "gelu_new";
    c.tieWordEmbeddings = true;
    c.attentionBias = c.outputBias = c.mlpBias = true;
    return c;
}

// Every parameter random (norm weights and biases too, so they are exercised).
std::shared_ptr<CausalLM> randomNet(const ModelConfig& c, uint64_t seed, torch::ScalarType dtype) {
    auto net = createModelNet(c);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    torch::NoGradGuard ng;
    for (auto& p : net->parameters()) p.normal_(0.0, 0.4, gen);
    for (auto& item : net->named_parameters())
        if (item.key().find("norm") != std::string::npos || item.key().find("ln_") != std::string::npos)
            item.value().add_(1.0);
    net->to(dtype);
    net->eval();
    return net;
}

std::vector<int64_t> randomIds(int64_t n, int64_t vocab, uint64_t seed) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    auto t = torch::randint(vocab, {n}, gen, torch::kInt64);
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

std::vector<dpowb::text::TokenId> randomTokens(int64_t n, int64_t vocab, uint64_t seed) {
    auto v = randomIds(n, vocab, seed);
    return {v.begin(), v.end()};
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

class TestArchitectures : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void tableMatchesModule_data();
    void tableMatchesModule();
    void logitsMatchReference_data();
    void logitsMatchReference();
    void llama3RopeScaling();
    void kvCacheMatchesFullForward_data();
    void kvCacheMatchesFullForward();
    void rightPaddingKeepsLogps_data();
    void rightPaddingKeepsLogps();
    void sharedPromptMatchesPlainBatch_data();
    void sharedPromptMatchesPlainBatch();
    void sharedPromptKeepsPositionsInTable();
    void gradientMatchesFiniteDifferences();
};

void TestArchitectures::tableMatchesModule_data() {
    QTest::addColumn<QString>("kind");
    QTest::newRow("llama tied gqa") << "llama";
    QTest::newRow("llama untied biases") << "llama-bias";
    QTest::newRow("qwen2") << "qwen2";
    QTest::newRow("smollm3") << "smollm3";
    QTest::newRow("gpt2") << "gpt2";
    QTest::newRow("gpt2 untied") << "gpt2-untied";
}

static ModelConfig configFor(const QString& kind) {
    if (kind.startsWith("gpt2")) {
        ModelConfig c = gpt2Config();
        c.tieWordEmbeddings = kind == "gpt2";
        return c;
    }
    ModelConfig c = llamaConfig(4, 2);
    if (kind == "llama-bias") {
        c.tieWordEmbeddings = false;
        c.attentionBias = c.outputBias = c.mlpBias = true;
    } else if (kind == "qwen2") {
        c.modelType = "qwen2";
        c.attentionBias = true;
        c.tieWordEmbeddings = false;
    } else if (kind == "smollm3") {
        // RoPE and NoPE layers, full and sliding, in all four pairings.
        c.modelType = "smollm3";
        c.numLayers = 4;
        c.ropeLayers = {true, false, false, true};
        c.slidingLayers = {false, true, false, true};
        c.slidingWindow = 3;
        c.attentionBias = c.outputBias = c.mlpBias = true;
    }
    return c;
}

void TestArchitectures::tableMatchesModule() {
    QFETCH(QString, kind);
    ModelConfig c = configFor(kind);
    auto net = createModelNet(c);
    auto table = tensorTable(c);
    auto params = net->named_parameters();
    QCOMPARE(int(params.size()), int(table.size()));
    int64_t total = 0;
    for (size_t i = 0; i < table.size(); ++i) {
        QCOMPARE(QString::fromStdString(params[i].key()), QString::fromStdString(table[i].name));
        QVERIFY2(params[i].value().sizes().vec() == table[i].shape, table[i].name.c_str());
        total += params[i].value().numel();
    }
    QCOMPARE(total, c.parameterCount());
}

void TestArchitectures::logitsMatchReference_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("kvHeads");
    QTest::addColumn<int>("length");
    QTest::newRow("multi-head (K = H)") << "llama" << 4 << 4 << 9;
    QTest::newRow("grouped-query (K < H)") << "llama" << 4 << 2 << 9;
    QTest::newRow("multi-query (K = 1)") << "llama" << 4 << 1 << 9;
    QTest::newRow("untied + q/k/v/o + mlp biases") << "llama-bias" << 2 << 1 << 9;
    QTest::newRow("qwen2 (q/k/v biases)") << "qwen2" << 4 << 2 << 9;
    QTest::newRow("mistral sliding window 3") << "mistral" << 4 << 2 << 9;
    QTest::newRow("smollm3 NoPE and sliding layers, window 3") << "smollm3" << 4 << 2 << 9;
    QTest::newRow("gpt2 tied") << "gpt2" << 3 << 3 << 9;
    QTest::newRow("gpt2 untied") << "gpt2-untied" << 3 << 3 << 9;
    // Long rows are attended in causal query blocks (2 from 128 tokens, 4 from 256).
    QTest::newRow("llama 150 tokens (2 query blocks)") << "llama" << 4 << 2 << 150;
    QTest::newRow("llama 301 tokens (4 query blocks)") << "llama" << 4 << 2 << 301;
    QTest::newRow("mistral window 40, 301 tokens") << "mistral" << 4 << 2 << 301;
    QTest::newRow("smollm3 window 40, 150 tokens") << "smollm3" << 4 << 2 << 150;
    QTest::newRow("gpt2 259 tokens (4 query blocks)") << "gpt2" << 3 << 3 << 259;
}

void TestArchitectures::logitsMatchReference() {
    QFETCH(QString, kind);
    QFETCH(int, heads);
    QFETCH(int, kvHeads);
    QFETCH(int, length);
    ModelConfig c = kind == "mistral" ? configFor("llama") : configFor(kind);
    c.maxPositions = std::max<int64_t>(c.maxPositions, length);
    if (!kind.startsWith("gpt2")) {
        c.numHeads = heads;
        c.numKvHeads = kvHeads;
        c.headDim = c.hiddenSize / heads;
    }
    if (kind == "mistral") {
        c.modelType = "mistral";
        c.slidingWindow = length > 100 ? 40 : 3;
    }
    if (kind == "smollm3" && length > 100) c.slidingWindow = 40;
    auto net = randomNet(c, 7, torch::kFloat64);
    auto ids = randomIds(length, c.vocabSize, 3);
    torch::NoGradGuard ng;
    torch::Tensor got = net->logits(torch::tensor(ids).unsqueeze(0), {}).squeeze(0);  // (T,V)
    auto params = reference::paramsOf(*net);
    torch::Tensor want = kind.startsWith("gpt2")
                             ? reference::gpt2Logits(c, params, ids)
                             : reference::llamaLogits(c, params, ids, reference::inverseFrequencies(c),
                                                      c.slidingWindow.value_or(0));
    QCOMPARE(got.sizes().vec(), want.sizes().vec());
    // The model's rotary tables are float32 as in transformers; the reference's are float64,
    // and the angle's rounding grows with the position.
    double diff = maxAbsDiff(got, want);
    QVERIFY2(diff < (length > 100 ? 1e-4 : 1e-5), qPrintable(QString("max |logit difference| %1").arg(diff)));
    QVERIFY(want.abs().max().item<double>() > 0.1);  // a degenerate all-zero comparison would pass anything
}

void TestArchitectures::llama3RopeScaling() {
    ModelConfig c = llamaConfig(2, 1);
    c.headDim = 8;
    c.ropeTheta = 500000.0;
    c.ropeScalingJson = R"({"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":256})";
    auto net = randomNet(c, 11, torch::kFloat64);
    auto ids = randomIds(8, c.vocabSize, 5);
    torch::NoGradGuard ng;
    torch::Tensor got = net->logits(torch::tensor(ids).unsqueeze(0), {}).squeeze(0);
    auto freq = reference::inverseFrequencies(c, 8.0, 1.0, 4.0, 256.0);
    auto plain = reference::inverseFrequencies(c);
    // The chosen sizes put frequencies in all three bands (kept, interpolated, divided).
    int kept = 0, divided = 0, between = 0;
    for (size_t i = 0; i < freq.size(); ++i) {
        if (std::abs(freq[i] - plain[i]) < 1e-15) ++kept;
        else if (std::abs(freq[i] - plain[i] / 8) < 1e-15) ++divided;
        else ++between;
    }
    QVERIFY(kept > 0 && divided > 0 && between > 0);
    torch::Tensor want = reference::llamaLogits(c, reference::paramsOf(*net), ids, freq);
    double diff = maxAbsDiff(got, want);
    QVERIFY2(diff < 1e-5, qPrintable(QString("max |logit difference| %1").arg(diff)));
}

void TestArchitectures::kvCacheMatchesFullForward_data() {
    QTest::addColumn<QString>("kind");
    QTest::newRow("llama gqa") << "llama";
    QTest::newRow("llama untied biases") << "llama-bias";
    QTest::newRow("smollm3 NoPE and sliding layers") << "smollm3";
    QTest::newRow("gpt2") << "gpt2";
}

void TestArchitectures::kvCacheMatchesFullForward() {
    QFETCH(QString, kind);
    ModelConfig c = configFor(kind);
    auto net = randomNet(c, 21, torch::kFloat32);
    const int64_t B = 2, T = 10, prefill = 4;
    auto ids = torch::tensor(randomIds(B * T, c.vocabSize, 8)).view({B, T});
    torch::NoGradGuard ng;
    torch::Tensor full = net->logits(ids, {});  // (B,T,V)
    KVCache cache;
    torch::Tensor first = net->logits(ids.narrow(1, 0, prefill), {}, &cache);
    QCOMPARE(cache.length, prefill);
    double diff = maxAbsDiff(first, full.narrow(1, 0, prefill));
    for (int64_t t = prefill; t < T; ++t) {
        torch::Tensor step = net->logits(ids.narrow(1, t, 1), {}, &cache);  // one new position
        diff = std::max(diff, maxAbsDiff(step.squeeze(1), full.select(1, t)));
    }
    QCOMPARE(cache.length, T);
    QCOMPARE(cache.k.size(), size_t(c.numLayers));
    QCOMPARE(cache.k[0].size(2), T);
    // One position at a time runs other kernels than the whole sequence: the logits agree
    // within the float32 rounding of the forward chain, on terms of the logits' size.
    const dpowb::test::ForwardShape shape{c.numLayers, c.hiddenSize, c.intermediateSize, T, c.vocabSize};
    const double tol = dpowb::test::sumTolerance(1.0 + full.abs().max().item<double>(), dpowb::test::chainLength(shape));
    QVERIFY2(diff <= tol, qPrintable(QString("max |logit difference| %1, tolerance %2").arg(diff).arg(tol)));
}

void TestArchitectures::rightPaddingKeepsLogps_data() {
    QTest::addColumn<QString>("kind");
    QTest::newRow("llama") << "llama";
    QTest::newRow("smollm3") << "smollm3";
    QTest::newRow("gpt2") << "gpt2";
}

void TestArchitectures::rightPaddingKeepsLogps() {
    QFETCH(QString, kind);
    ModelConfig c = configFor(kind);
    auto net = randomNet(c, 5, torch::kFloat32);
    using Ids = std::vector<dpowb::text::TokenId>;
    auto ids = [&](int64_t n, uint64_t seed) { return randomTokens(n, c.vocabSize, seed); };
    std::vector<std::pair<Ids, Ids>> rows = {{ids(3, 1), ids(9, 2)}, {ids(1, 3), ids(2, 4)}, {ids(5, 5), ids(4, 6)}};
    torch::NoGradGuard ng;
    // The pad id is a real vocabulary entry: a wrong mask would change the numbers.
    auto batch = collateSequences(rows, 1);
    QCOMPARE(batch.inputIds.size(1), int64_t(12));
    auto together = sequenceLogps(*net, batch);
    for (size_t r = 0; r < rows.size(); ++r) {
        auto alone = sequenceLogps(*net, collateSequences({rows[r]}, 1));
        QCOMPARE(alone.tokens[0].item<int64_t>(), int64_t(rows[r].second.size()));
        QCOMPARE(together.tokens[int64_t(r)].item<int64_t>(), int64_t(rows[r].second.size()));
        // Padded next to longer rows, the same row runs through other matrix shapes: equal
        // within the rounding of a float32 forward pass (tests/common/rounding.h).
        const dpowb::test::ForwardShape shape{c.numLayers, c.hiddenSize, c.intermediateSize, batch.inputIds.size(1), c.vocabSize};
        const auto n = int64_t(rows[r].second.size());
        double a = alone.logps[0].item<double>(), b = together.logps[int64_t(r)].item<double>();
        const double tol = dpowb::test::logpTolerance(a, n, shape);
        QVERIFY2(std::abs(a - b) <= tol, qPrintable(QString("row %1: %2 vs %3, tolerance %4").arg(r).arg(a).arg(b).arg(tol)));
        double ma = alone.meanLogits[0].item<double>(), mb = together.meanLogits[int64_t(r)].item<double>();
        QVERIFY(std::abs(ma - mb) <= dpowb::test::sumTolerance(1.0 + std::abs(ma), dpowb::test::chainLength(shape)));
    }
}

void TestArchitectures::sharedPromptMatchesPlainBatch_data() {
    QTest::addColumn<QString>("kind");
    QTest::newRow("llama gqa") << "llama";
    QTest::newRow("llama untied biases") << "llama-bias";
    QTest::newRow("smollm3 NoPE layers") << "smollm3";
    QTest::newRow("gemma3 sliding and full layers") << "gemma3";
    QTest::newRow("gpt2") << "gpt2";
}

// pairSequenceLogps (each prompt run once, its keys and values shared by both responses)
// gives the log-probs and gradients of the plain batch of prompt+chosen, prompt+rejected rows.
void TestArchitectures::sharedPromptMatchesPlainBatch() {
    QFETCH(QString, kind);
    // Gemma 3: the transformers-made fixture's configuration (sliding and full layers with their
    // own RoPE, q/k norms, scaled embeddings, soft-capped logits).
    ModelConfig c = kind == "gemma3" ? [] {
        std::ifstream in(DPOWB_TEST_DATA "/model/hf/gemma3/config.json");
        std::stringstream text;
        text << in.rdbuf();
        return ModelConfig::fromJson(text.str());
    }()
                                     : configFor(kind);
    if (kind == "gemma3") {
        QVERIFY(!c.slidingLayers.empty());
        c.slidingWindow = 160;
    }
    c.maxPositions = 256;
    // A window shorter than the longest prompt plus the longest response (20 + 140) would send
    // the pairs down the plain path: at 160 the sliding layers' window closes nothing, and the
    // shared path runs the NoPE layers.
    if (kind == "smollm3") c.slidingWindow = 160;
    auto net = randomNet(c, 11, torch::kFloat64);
    net->train();
    auto ids = [&](int64_t n, uint64_t seed) { return randomTokens(n, c.vocabSize, seed); };
    // Prompts of different lengths (one empty, whose first response token has no predictor),
    // responses of different lengths, one long enough for query blocks.
    std::vector<EncodedPair> pairs(4);
    pairs[0].prompt = ids(5, 1), pairs[0].chosen = ids(7, 2), pairs[0].rejected = ids(3, 3);
    pairs[1].prompt = ids(1, 4), pairs[1].chosen = ids(2, 5), pairs[1].rejected = ids(9, 6);
    pairs[2].prompt = {}, pairs[2].chosen = ids(4, 7), pairs[2].rejected = ids(1, 8);
    pairs[3].prompt = ids(20, 9), pairs[3].chosen = ids(140, 10), pairs[3].rejected = ids(6, 11);
    std::vector<const EncodedPair*> ptrs;
    for (const auto& p : pairs) ptrs.push_back(&p);
    // Weights per row, so that the gradient depends on every row differently.
    torch::Tensor w = torch::arange(1, 9, torch::kFloat64);

    auto gradsOf = [&](const SequenceLogps& s) {
        net->zero_grad();
        (s.logps * w).sum().backward();
        std::vector<torch::Tensor> g;
        for (const auto& p : net->parameters()) g.push_back(p.grad().clone());
        return g;
    };
    SequenceLogps plain = sequenceLogps(*net, collatePairs(ptrs, 0));
    auto plainGrads = gradsOf(plain);
    SequenceLogps shared = pairSequenceLogps(*net, ptrs, 0);
    auto sharedGrads = gradsOf(shared);

    QCOMPARE(shared.tokens.sizes().vec(), plain.tokens.sizes().vec());
    QVERIFY(torch::equal(shared.tokens.cpu(), plain.tokens.cpu()));
    QCOMPARE(shared.tokens[2].item<int64_t>(), int64_t(3));  // empty prompt: 4 tokens, 3 scored
    const double logpDiff = maxAbsDiff(shared.logps, plain.logps);
    QVERIFY2(logpDiff < 1e-9, qPrintable(QString("max |logp difference| %1").arg(logpDiff)));
    QVERIFY(maxAbsDiff(shared.meanLogits, plain.meanLogits) < 1e-9);
    // Every row with a scored token has a real log-prob (a degenerate all-zero comparison
    // would pass anything); the empty prompt's one-token rejected row has none.
    QCOMPARE(shared.tokens[6].item<int64_t>(), int64_t(0));
    QVERIFY(plain.logps.index({plain.tokens > 0}).abs().min().item<double>() > 0.1);
    double gradDiff = 0, gradMax = 0;
    for (size_t i = 0; i < plainGrads.size(); ++i) {
        gradDiff = std::max(gradDiff, maxAbsDiff(sharedGrads[i], plainGrads[i]));
        gradMax = std::max(gradMax, plainGrads[i].abs().max().item<double>());
    }
    QVERIFY2(gradDiff < 1e-9 * std::max(1.0, gradMax),
             qPrintable(QString("max |gradient difference| %1 (largest gradient %2)").arg(gradDiff).arg(gradMax)));
}

// A long prompt with a short response next to a short prompt with a long response: every real
// row fits GPT-2's position table, though the longest prompt plus the longest response does not.
void TestArchitectures::sharedPromptKeepsPositionsInTable() {
    ModelConfig c = configFor("gpt2");
    c.maxPositions = 40;
    auto net = randomNet(c, 13, torch::kFloat64);
    auto ids = [&](int64_t n, uint64_t seed) { return randomTokens(n, c.vocabSize, seed); };
    std::vector<EncodedPair> pairs(2);
    pairs[0].prompt = ids(30, 1), pairs[0].chosen = ids(5, 2), pairs[0].rejected = ids(10, 3);
    pairs[1].prompt = ids(2, 4), pairs[1].chosen = ids(30, 5), pairs[1].rejected = ids(38, 6);
    std::vector<const EncodedPair*> ptrs = {&pairs[0], &pairs[1]};
    torch::NoGradGuard ng;
    SequenceLogps plain = sequenceLogps(*net, collatePairs(ptrs, 0));
    SequenceLogps shared = pairSequenceLogps(*net, ptrs, 0);
    QVERIFY(maxAbsDiff(shared.logps, plain.logps) < 1e-9);
}

void TestArchitectures::gradientMatchesFiniteDifferences() {
    ModelConfig c = configFor("llama-bias");
    c.numLayers = 1;
    auto net = randomNet(c, 9, torch::kFloat64);
    using Ids = std::vector<dpowb::text::TokenId>;
    std::vector<std::pair<Ids, Ids>> rows = {{{1, 4, 7}, {2, 9, 3}}, {{5}, {6, 11}}};
    auto batch = collateSequences(rows, 0);
    auto objective = [&] { return sequenceLogps(*net, batch).logps.sum(); };

    net->zero_grad();
    objective().backward();
    auto params = net->named_parameters();
    struct Probe {
        std::string name;
        int64_t index;
    };
    const std::vector<Probe> probes = {
        {"model.embed_tokens.weight", 4 * 16 + 3}, {"model.layers.0.self_attn.q_proj.weight", 17},
        {"model.layers.0.self_attn.k_proj.bias", 2}, {"model.layers.0.self_attn.v_proj.weight", 40},
        {"model.layers.0.self_attn.o_proj.weight", 5}, {"model.layers.0.mlp.down_proj.weight", 33},
        {"model.layers.0.input_layernorm.weight", 6}, {"model.norm.weight", 1}, {"lm_head.weight", 100},
    };
    const double eps = 1e-6;
    for (const auto& probe : probes) {
        torch::Tensor p = params[probe.name];
        const double analytic = p.grad().view(-1)[probe.index].item<double>();
        double numeric;
        {
            torch::NoGradGuard ng;
            auto flat = p.view(-1);
            const double orig = flat[probe.index].item<double>();
            flat[probe.index] = orig + eps;
            const double up = objective().item<double>();
            flat[probe.index] = orig - eps;
            const double down = objective().item<double>();
            flat[probe.index] = orig;
            numeric = (up - down) / (2 * eps);
        }
        QVERIFY2(std::abs(analytic - numeric) < 1e-6 + 1e-5 * std::abs(numeric),
                 qPrintable(QString("%1[%2]: backward %3, finite difference %4")
                                .arg(QString::fromStdString(probe.name)).arg(probe.index).arg(analytic).arg(numeric)));
    }
}

QTEST_GUILESS_MAIN(TestArchitectures)
#include "tst_architectures.moc"
