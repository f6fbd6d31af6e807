// The run estimates (train/estimate.h) and the model inspection (model/inspect.h) against
// the networks the engine builds: the parameter count of the architecture table equals the
// sum of the parameters of a built or loaded model, and the LoRA parameter count equals what
// applyLora adds, for Llama-style and GPT-2 networks (GPT-2's "c_proj" names two projections
// of different shapes in every block).
#include <QtTest>

#include <torch/torch.h>

#include "model/architectures.h"
#include "model/inspect.h"
#include "model/lora.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "train/estimate.h"
#include "train/trainer.h"

using namespace dpowb;

namespace {

// Small networks of each kind; "llama-untied" has its own LM head (a projection LoRA can
// target), "qwen2" biases on q/k/v.
model::ModelConfig configFor(const QString& kind) {
    if (kind == "gpt2")
        return model::ModelConfig::fromJson(
            R"({"model_type":"gpt2","vocab_size":64,"n_embd":32,"n_layer":2,"n_head":4,"n_positions":32,"n_inner":48})");
    if (kind == "gpt2-untied")
        return model::ModelConfig::fromJson(R"({"model_type":"gpt2","vocab_size":64,"n_embd":32,"n_layer":2,"n_head":4,)"
                                            R"("n_positions":32,"n_inner":null,"tie_word_embeddings":false})");
    if (kind == "qwen2")
        return model::ModelConfig::fromJson(
            R"({"model_type":"qwen2","vocab_size":64,"hidden_size":32,"intermediate_size":40,"num_hidden_layers":2,)"
            R"("num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":32,"tie_word_embeddings":false})");
    if (kind == "llama-untied")
        return model::ModelConfig::fromJson(
            R"({"model_type":"llama","vocab_size":64,"hidden_size":32,"intermediate_size":40,"num_hidden_layers":3,)"
            R"("num_attention_heads":4,"num_key_value_heads":1,"head_dim":16,"max_position_embeddings":32,)"
            R"("tie_word_embeddings":false})");
    return model::builtinTinyConfig(text::Tokenizer::byteLevel()->vocabSize());
}

int64_t numelOf(const std::vector<torch::Tensor>& tensors, bool trainableOnly) {
    int64_t n = 0;
    for (const auto& t : tensors)
        if (!trainableOnly || t.requires_grad()) n += t.numel();
    return n;
}

std::vector<std::string> splitTargets(const QString& targets) {
    std::vector<std::string> out;
    for (const QString& t : targets.split(',', Qt::SkipEmptyParts)) out.push_back(t.trimmed().toStdString());
    return out;
}

}  // namespace

class TestEstimate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::manual_seed(0); }

    void parametersOfBuiltNetworks_data() {
        QTest::addColumn<QString>("kind");
        for (const char* kind : {"llama", "llama-untied", "qwen2", "gpt2", "gpt2-untied"}) QTest::newRow(kind) << kind;
    }
    void parametersOfBuiltNetworks() {
        QFETCH(QString, kind);
        const model::ModelConfig c = configFor(kind);
        auto net = model::createModelNet(c);
        const int64_t real = numelOf(net->parameters(), false);
        QCOMPARE(model::tableParameterCount(c), real);
        QCOMPARE(train::estimateMemory(c, train::TrainConfig{}).parameters, real);
    }

    // inspectModel reads no weights; its count is that of the model loadModel builds.
    void inspectionMatchesLoadedModel_data() {
        QTest::addColumn<QString>("source");
        QTest::newRow("builtin:tiny") << "builtin:tiny";
        QTest::newRow("fixture checkpoint") << QStringLiteral(DPOWB_TEST_DATA "/train/step/policy");
    }
    void inspectionMatchesLoadedModel() {
        QFETCH(QString, source);
        const model::ModelInspection info = model::inspectModel(source.toStdString());
        model::LoadOptions o;
        o.device = "cpu";
        const auto loaded = model::loadModel(source.toStdString(), o);
        QCOMPARE(info.parameters, numelOf(loaded->net->parameters(), false));
        QCOMPARE(info.config.architecture, loaded->config.architecture);
        QCOMPARE(info.config.vocabSize, loaded->config.vocabSize);
        QCOMPARE(info.tokenizer, loaded->tokenizer != nullptr);
        if (loaded->tokenizer) {
            QCOMPARE(info.vocabSize, loaded->tokenizer->vocabSize());
            QCOMPARE(info.tokenizerKind, loaded->tokenizer->kind());
        }
        // The template inspection names is the one loading the model picks.
        QCOMPARE(info.chatTemplate.chatTemplate.has_value(), loaded->chatTemplate.has_value());
        if (loaded->chatTemplate) QCOMPARE(info.chatTemplate.chatTemplate->name(), loaded->chatTemplate->name());
        QCOMPARE(info.weightBytes > 0, source != "builtin:tiny");
    }

    // What applyLora adds to the network, counted from the table.
    void loraParametersOfBuiltNetworks_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("targets");
        QTest::addColumn<int>("rank");
        QTest::newRow("llama q,v") << "llama" << "q_proj,v_proj" << 8;
        QTest::newRow("llama all projections") << "llama" << "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj" << 4;
        QTest::newRow("llama untied head") << "llama-untied" << "q_proj, lm_head" << 2;
        QTest::newRow("qwen2 full path") << "qwen2" << "model.layers.1.self_attn.k_proj" << 3;
        QTest::newRow("gpt2 all") << "gpt2" << "c_attn,c_proj,c_fc" << 8;
        QTest::newRow("gpt2 c_proj (attention and MLP)") << "gpt2" << "c_proj" << 4;
        QTest::newRow("gpt2 attn.c_proj") << "gpt2" << "attn.c_proj" << 4;
        QTest::newRow("gpt2 mlp.c_proj") << "gpt2-untied" << "mlp.c_proj,lm_head" << 5;
    }
    void loraParametersOfBuiltNetworks() {
        QFETCH(QString, kind);
        QFETCH(QString, targets);
        QFETCH(int, rank);
        const model::ModelConfig c = configFor(kind);
        auto net = model::createModelNet(c);
        model::LoraConfig lc;
        lc.rank = rank;
        lc.targetModules = splitTargets(targets);
        QVERIFY(model::applyLora(*net, lc) > 0);
        const int64_t real = numelOf(net->parameters(), true);  // the base is frozen: the adapters only

        train::TrainConfig t;
        t.loraRank = rank;
        t.loraTargetModules = targets.toStdString();
        QCOMPARE(train::loraParameterCount(c, t), real);
        const train::MemoryEstimate e = train::estimateMemory(c, t);
        QCOMPARE(e.trainableParameters, real);
        QCOMPARE(e.gradients, double(real) * 4);  // float32 gradients of the adapters only
        QCOMPARE(e.reference, 0.0);               // adapters off = the reference
        t.loraRank = 0;
        QCOMPARE(train::loraParameterCount(c, t), int64_t(0));
    }

    void memoryEstimate_data() {
        QTest::addColumn<int>("rank");
        QTest::addColumn<bool>("precompute");
        QTest::addColumn<QString>("dtype");
        QTest::newRow("full fp32, live reference") << 0 << false << "float32";
        QTest::newRow("full bf16, precomputed") << 0 << true << "bfloat16";
        QTest::newRow("lora 8 fp32") << 8 << false << "float32";
        QTest::newRow("lora 8 bf16") << 8 << true << "bfloat16";
    }
    void memoryEstimate() {
        QFETCH(int, rank);
        QFETCH(bool, precompute);
        QFETCH(QString, dtype);
        model::LoadOptions o;
        o.device = "cpu";
        const auto tiny = model::loadModel("builtin:tiny", o);
        const model::ModelConfig& m = tiny->config;
        train::TrainConfig c = train::TrainConfig::demoPreset();
        c.loraRank = rank;
        c.precomputeRef = precompute;
        c.dtype = dtype.toStdString();
        c.loraTargetModules = "q_proj,v_proj";
        const train::MemoryEstimate e = train::estimateMemory(m, c);
        const double b = 4;  // float32 weights, gradients and AdamW state under any --dtype
        const double P = double(numelOf(tiny->net->parameters(), false));
        QCOMPARE(double(e.parameters), P);
        if (rank == 0) {
            QCOMPARE(double(e.trainableParameters), P);
            QCOMPARE(e.weights, P * b);
            QCOMPARE(e.gradients, P * b);
            QCOMPARE(e.optimizer, 2 * P * b);
            QCOMPARE(e.reference, precompute ? 0.0 : P * b);
        } else {
            const double lora = double(train::loraParameterCount(m, c));
            QVERIFY(lora > 0);
            QCOMPARE(double(e.trainableParameters), lora);
            QCOMPARE(e.weights, (P + lora) * b);
            QCOMPARE(e.gradients, lora * b);
            QCOMPARE(e.optimizer, 2 * lora * b);
            QCOMPARE(e.reference, 0.0);
        }
        QVERIFY(e.activations > 0);
        QCOMPARE(e.total(), e.weights + e.gradients + e.optimizer + e.reference + e.activations);
        // bfloat16 is autocast: the same float32 weights, 16-bit activations.
        train::TrainConfig c32 = c;
        c32.dtype = "float32";
        const train::MemoryEstimate e32 = train::estimateMemory(m, c32);
        QCOMPARE(e.weights, e32.weights);
        if (dtype == "bfloat16") QVERIFY(e.activations < e32.activations);
        else QCOMPARE(e.activations, e32.activations);
        // Twice the batch, twice the activations; the weights stay.
        train::TrainConfig twice = c;
        twice.batchSize = 2 * c.batchSize;
        const train::MemoryEstimate e2 = train::estimateMemory(m, twice);
        QCOMPARE(e2.activations, 2 * e.activations);
        QCOMPARE(e2.weights, e.weights);
    }
};

QTEST_APPLESS_MAIN(TestEstimate)
#include "tst_estimate.moc"
