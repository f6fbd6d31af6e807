// LoRA: adapters start as a no-op, only they train, switching them off gives back the base
// (the reference), merging folds them in, and the PEFT files round trip.
#include <QtTest>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../common/rounding.h"
#include "common/error.h"
#include "model/linear.h"
#include "model/lora.h"
#include "model/model.h"
#include "model/safetensors.h"

using namespace dpowb;
using namespace dpowb::model;
namespace fs = std::filesystem;

namespace {

// A small network whose projections sit at Llama-like paths (block.self_attn.q_proj, …) so
// that target matching by suffix is exercised; `conv1d` switches to GPT-2's weight layout.
struct ToyBlockImpl : torch::nn::Module {
    ToyBlockImpl(int64_t C, bool conv1d) {
        attn = register_module("self_attn", std::make_shared<torch::nn::Module>());
        q_proj = Linear(C, C, true, conv1d);
        k_proj = Linear(C, C, false, conv1d);
        xq_proj = Linear(C, C, false, conv1d);
        attn->register_module("q_proj", q_proj);
        attn->register_module("k_proj", k_proj);
        attn->register_module("xq_proj", xq_proj);
        up_proj = register_module("up_proj", Linear(C, 2 * C, false, conv1d));
        down_proj = register_module("down_proj", Linear(2 * C, C, true, conv1d));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        auto h = x + q_proj(x) * torch::sigmoid(k_proj(x)) + xq_proj(x);
        return h + down_proj(torch::tanh(up_proj(h)));
    }
    std::shared_ptr<torch::nn::Module> attn;
    Linear q_proj{nullptr}, k_proj{nullptr}, xq_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(ToyBlock);

class ToyLM : public CausalLM {
public:
    ToyLM(int64_t V, int64_t C, bool conv1d) : CausalLM(makeConfig(V, C, conv1d)) {
        embed = register_module("embed", torch::nn::Embedding(V, C));
        block = register_module("block", ToyBlock(C, conv1d));
        head = register_module("lm_head", Linear(C, V, false, conv1d));
    }
    torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor&, KVCache*) override {
        return block(embed(ids));
    }
    torch::Tensor lmHead(const torch::Tensor& h) override { return head(h); }

    torch::nn::Embedding embed{nullptr};
    ToyBlock block{nullptr};
    Linear head{nullptr};

private:
    static ModelConfig makeConfig(int64_t V, int64_t C, bool conv1d) {
        ModelConfig c;
        c.architecture = conv1d ? "gpt2" : "llama";
        c.vocabSize = V;
        c.hiddenSize = C;
        return c;
    }
};

std::shared_ptr<ToyLM> makeToy(bool conv1d, uint64_t seed = 7) {
    torch::manual_seed(seed);
    return std::make_shared<ToyLM>(50, 16, conv1d);
}

torch::Tensor sampleIds() {
    return torch::tensor({3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 3}, torch::kInt64).view({2, 6});
}

// One optimiser step on the adapters so that B is no longer zero.
void trainOneStep(ToyLM& net) {
    auto params = loraParameters(net);
    torch::optim::SGD opt(params, torch::optim::SGDOptions(0.5));
    net.train();
    auto ids = sampleIds();
    auto logits = net.logits(ids, torch::Tensor());
    auto loss = torch::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}),
                                                     ids.roll(-1, 1).reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    net.eval();
}

LoraConfig config(std::vector<std::string> targets, int64_t rank = 4, double alpha = 8) {
    LoraConfig c;
    c.rank = rank;
    c.alpha = alpha;
    c.targetModules = std::move(targets);
    c.seed = 11;
    return c;
}

}  // namespace

class TestLora : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void layout_data() {
        QTest::addColumn<bool>("conv1d");
        QTest::newRow("linear") << false;
        QTest::newRow("conv1d") << true;
    }

    // The adapted layer computes W·x + b + (alpha/r)·B·A·x, whatever the base layout.
    void linearMatchesFormula_data() { layout_data(); }
    void linearMatchesFormula() {
        QFETCH(bool, conv1d);
        torch::manual_seed(3);
        Linear lin(6, 5, true, conv1d);
        lin->addAdapter(3, 12.0, 0.0);
        torch::NoGradGuard ng;
        lin->loraB->weight.normal_();
        auto x = torch::randn({4, 6});
        auto W = conv1d ? lin->weight.t() : lin->weight;  // (out, in)
        auto expected = x.matmul(W.t()) + lin->bias +
                        (12.0 / 3) * x.matmul(lin->loraA->weight.t()).matmul(lin->loraB->weight.t());
        // Element by element within the float32 rounding of its sums (6 inputs, rank 3, the
        // bias), on the size of their terms (tests/common/rounding.h).
        auto A = lin->loraA->weight, B = lin->loraB->weight;
        auto baseTerms = x.abs().matmul(W.abs().t()) + lin->bias.abs();
        auto tolerance = [](const torch::Tensor& terms) { return terms * dpowb::test::sumTolerance(1.0, 6 + 3 + 1); };
        auto adaptedTol = tolerance(baseTerms + 4.0 * x.abs().matmul(A.abs().t()).matmul(B.abs().t()));
        QVERIFY(((lin->forward(x) - expected).abs() <= adaptedTol).all().item<bool>());
        QCOMPARE(lin->scale(), 4.0);
        lin->setAdapterEnabled(false);
        auto base = x.matmul(W.t()) + lin->bias;
        QVERIFY(((lin->forward(x) - base).abs() <= tolerance(baseTerms)).all().item<bool>());
    }

    void zeroBEqualsBase_data() { layout_data(); }
    void zeroBEqualsBase() {
        QFETCH(bool, conv1d);
        auto net = makeToy(conv1d);
        torch::NoGradGuard ng;
        auto before = net->logits(sampleIds(), torch::Tensor());
        int n = applyLora(*net, config({"q_proj", "k_proj", "up_proj", "down_proj"}));
        QCOMPARE(n, 4);
        QVERIFY(net->hasAdapters());
        QVERIFY(torch::equal(net->logits(sampleIds(), torch::Tensor()), before));
    }

    // Suffix matching follows PEFT: "q_proj" matches ".q_proj" but not ".xq_proj"; a full path
    // names one module.
    void targetMatching() {
        auto net = makeToy(false);
        QCOMPARE(applyLora(*net, config({"q_proj"})), 1);
        QVERIFY(net->block->q_proj->hasAdapter());
        QVERIFY(!net->block->xq_proj->hasAdapter());

        auto net2 = makeToy(false);
        QCOMPARE(applyLora(*net2, config({"block.self_attn.xq_proj", "lm_head"})), 2);
        QVERIFY(net2->block->xq_proj->hasAdapter());
        QVERIFY(net2->head->hasAdapter());
        QVERIFY(!net2->block->q_proj->hasAdapter());

        auto net3 = makeToy(false);
        try {
            applyLora(*net3, config({"c_attn"}));
            QFAIL("expected an error");
        } catch (const Error& e) {
            const QString msg = e.what();
            QVERIFY2(msg.contains("c_attn") && msg.contains("q_proj") && msg.contains("down_proj"), e.what());
        }
        QVERIFY(!net3->hasAdapters());
    }

    void onlyAdaptersTrain() {
        auto net = makeToy(false);
        applyLora(*net, config({"q_proj", "up_proj"}));
        auto params = loraParameters(*net);
        QCOMPARE(int(params.size()), 4);
        int64_t trainable = 0;
        for (const auto& item : net->named_parameters()) {
            const bool isLora = item.key().find("lora_") != std::string::npos;
            QVERIFY2(item.value().requires_grad() == isLora, item.key().c_str());
            if (item.value().requires_grad()) trainable += item.value().numel();
        }
        // rank 4: q_proj A (4,16) B (16,4); up_proj A (4,16) B (32,4)
        QCOMPARE(trainable, int64_t(4 * 16 + 16 * 4 + 4 * 16 + 32 * 4));

        // After a step, base weights are untouched and the adapters moved.
        auto wBefore = net->block->q_proj->weight.clone();
        auto bBefore = net->block->q_proj->loraB->weight.clone();
        trainOneStep(*net);
        QVERIFY(torch::equal(net->block->q_proj->weight, wBefore));
        QVERIFY(!torch::equal(net->block->q_proj->loraB->weight, bBefore));
    }

    void seedDecidesInit() {
        auto a = makeToy(false), b = makeToy(false), c = makeToy(false);
        auto cfg = config({"q_proj"});
        applyLora(*a, cfg);
        applyLora(*b, cfg);
        cfg.seed = 12;
        applyLora(*c, cfg);
        QVERIFY(torch::equal(a->block->q_proj->loraA->weight, b->block->q_proj->loraA->weight));
        QVERIFY(!torch::equal(a->block->q_proj->loraA->weight, c->block->q_proj->loraA->weight));
        // Kaiming-uniform(a=sqrt(5)) bound is 1/sqrt(fan_in).
        QVERIFY(a->block->q_proj->loraA->weight.abs().max().item<double>() <= 1.0 / std::sqrt(16.0));
    }

    // The reference is the same network with the adapters off: no second copy.
    void adaptersOffIsReference_data() { layout_data(); }
    void adaptersOffIsReference() {
        QFETCH(bool, conv1d);
        auto net = makeToy(conv1d);
        torch::Tensor base;
        {
            torch::NoGradGuard ng;
            base = net->logits(sampleIds(), torch::Tensor());
        }
        applyLora(*net, config({"q_proj", "k_proj", "down_proj"}));
        trainOneStep(*net);
        torch::NoGradGuard ng;
        auto adapted = net->logits(sampleIds(), torch::Tensor());
        QVERIFY(!torch::allclose(adapted, base));
        net->setAdaptersEnabled(false);
        QVERIFY(torch::equal(net->logits(sampleIds(), torch::Tensor()), base));
        net->setAdaptersEnabled(true);
        QVERIFY(torch::equal(net->logits(sampleIds(), torch::Tensor()), adapted));
    }

    void mergeEqualsAdapted_data() { layout_data(); }
    void mergeEqualsAdapted() {
        QFETCH(bool, conv1d);
        auto net = makeToy(conv1d);
        applyLora(*net, config({"q_proj", "k_proj", "up_proj", "down_proj"}, 2, 7));
        trainOneStep(*net);
        torch::Tensor adapted;
        {
            torch::NoGradGuard ng;
            adapted = net->logits(sampleIds(), torch::Tensor());
        }
        const auto namesBefore = net->named_parameters().keys();
        mergeLora(*net);
        QVERIFY(!net->hasAdapters());
        for (const auto& item : net->named_parameters())
            QVERIFY2(item.key().find("lora_") == std::string::npos, item.key().c_str());
        QCOMPARE(int(net->named_parameters().size()), int(namesBefore.size()) - 8);
        torch::NoGradGuard ng;
        auto merged = net->logits(sampleIds(), torch::Tensor());
        // W + s·B·A in one matrix rounds differently from the two paths: within the float32
        // rounding of the toy's longest chain (q/k 16, up 16, down 32, head 16 terms).
        const double tol = dpowb::test::sumTolerance(1.0 + adapted.abs().max().item<double>(), 16 + 16 + 32 + 16);
        const double diff = (merged - adapted).abs().max().item<double>();
        QVERIFY2(diff <= tol, (std::to_string(diff) + " > " + std::to_string(tol)).c_str());
    }
    // PEFT layout: adapter_config.json + adapter_model.safetensors with
    // base_model.model.<module path>.lora_A.weight (r, in) / lora_B.weight (out, r).
    void peftRoundTrip_data() { layout_data(); }
    void peftRoundTrip() {
        QFETCH(bool, conv1d);
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const std::string folder = tmp.filePath("adapter").toStdString();

        Model trained;
        auto net = makeToy(conv1d);
        trained.net = net;
        trained.source = "/models/toy";
        auto cfg = config({"q_proj", "up_proj", "down_proj"}, 3, 6);
        cfg.dropout = 0.05;
        applyLora(*net, cfg);
        trainOneStep(*net);
        saveLoraAdapter(trained, cfg, folder);

        std::ifstream in(fs::path(folder) / "adapter_config.json");
        QVERIFY(in.good());
        auto j = nlohmann::json::parse(in);
        QCOMPARE(j.at("peft_type").get<std::string>(), std::string("LORA"));
        QCOMPARE(j.at("task_type").get<std::string>(), std::string("CAUSAL_LM"));
        QCOMPARE(j.at("r").get<int64_t>(), int64_t(3));
        QCOMPARE(j.at("lora_alpha").get<double>(), 6.0);
        QCOMPARE(j.at("lora_dropout").get<double>(), 0.05);
        QCOMPARE(j.at("bias").get<std::string>(), std::string("none"));
        QCOMPARE(j.at("fan_in_fan_out").get<bool>(), conv1d);
        QCOMPARE(j.at("base_model_name_or_path").get<std::string>(), std::string("/models/toy"));
        QCOMPARE(j.at("target_modules").get<std::vector<std::string>>(), cfg.targetModules);

        // Expected names and shapes from the module tree, by the PEFT rule.
        std::map<std::string, std::vector<int64_t>> expected;
        for (const auto& item : net->named_modules("", false)) {
            auto lin = std::dynamic_pointer_cast<LinearImpl>(item.value());
            if (!lin || !lin->hasAdapter()) continue;
            expected["base_model.model." + item.key() + ".lora_A.weight"] = {3, lin->inFeatures()};
            expected["base_model.model." + item.key() + ".lora_B.weight"] = {lin->outFeatures(), 3};
        }
        QCOMPARE(int(expected.size()), 6);
        QVERIFY(expected.count("base_model.model.block.self_attn.q_proj.lora_A.weight"));
        SafetensorsFile file((fs::path(folder) / "adapter_model.safetensors").string());
        QCOMPARE(int(file.tensors().size()), int(expected.size()));
        for (const auto& info : file.tensors()) {
            QVERIFY2(expected.count(info.name), info.name.c_str());
            QCOMPARE(info.shape, expected[info.name]);
            QCOMPARE(info.dtype, std::string("F32"));
        }

        // Loading into a fresh copy of the base gives the trained model back, bit for bit.
        Model fresh;
        auto net2 = makeToy(conv1d);
        fresh.net = net2;
        loadLoraAdapter(fresh, folder);
        QVERIFY(net2->hasAdapters());
        QCOMPARE(int(loraParameters(*net2).size()), 6);
        torch::NoGradGuard ng;
        net->eval();  // adapter dropout is active in training mode
        net2->eval();
        QVERIFY(torch::equal(net2->logits(sampleIds(), torch::Tensor()), net->logits(sampleIds(), torch::Tensor())));
        QCOMPARE(net2->block->q_proj->scale(), 2.0);
    }

    void loadRejectsBadFiles_data() {
        QTest::addColumn<QString>("what");
        QTest::addColumn<QString>("expectInMessage");
        QTest::newRow("wrong shape") << "shape" << "expected (2, 16)";
        QTest::newRow("unknown module") << "module" << "no projection \"block.self_attn.nope\"";
        QTest::newRow("A without B") << "missing" << "has lora_A but no lora_B";
        QTest::newRow("bad prefix") << "prefix" << "base_model.model.";
        QTest::newRow("rslora") << "rslora" << "use_rslora";
        QTest::newRow("pickle only") << "pickle" << "pickle";
    }
    void loadRejectsBadFiles() {
        QFETCH(QString, what);
        QFETCH(QString, expectInMessage);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        nlohmann::json cfg = {{"peft_type", "LORA"}, {"r", 2}, {"lora_alpha", 4}, {"target_modules", {"q_proj"}},
                              {"bias", "none"}};
        if (what == "rslora") cfg["use_rslora"] = true;
        std::ofstream(dir / "adapter_config.json") << cfg.dump();
        const std::string base = what == "prefix" ? "model." : "base_model.model.";
        std::vector<std::pair<std::string, torch::Tensor>> tensors = {
            {base + "block.self_attn.q_proj.lora_A.weight", torch::zeros({what == "shape" ? 3 : 2, 16})}};
        if (what != "missing") tensors.push_back({base + "block.self_attn.q_proj.lora_B.weight", torch::zeros({16, 2})});
        if (what == "module") tensors.push_back({base + "block.self_attn.nope.lora_A.weight", torch::zeros({2, 16})});
        if (what == "pickle")
            std::ofstream(dir / "adapter_model.bin") << "not really";
        else
            writeSafetensors((dir / "adapter_model.safetensors").string(), tensors);

        Model m;
        auto net = makeToy(false);
        m.net = net;
        try {
            loadLoraAdapter(m, dir.string());
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains(expectInMessage), e.what());
        }
        QVERIFY(!net->hasAdapters());  // nothing half-applied
    }
};

QTEST_APPLESS_MAIN(TestLora)
#include "tst_lora.moc"
