// The engine against `transformers` itself (Llama 3.1 RoPE, Qwen 2, Qwen 3, Mistral, SmolLM3,
// Gemma 3 text, GPT-2): tiny random checkpoints that transformers made and
// saved (scripts/make-hf-fixtures.py; versions in each expected.json), loaded here from their
// Hugging Face folders. Logits at every real position of a right-padded batch and each row's
// summed response log-prob must equal what transformers computed; a folder saved by the engine
// must load back to the same numbers and keep transformers 5's config layout.
#include <torch/torch.h>

#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/logprobs.h"
#include "model/lora.h"
#include "model/model.h"

using namespace dpowb::model;
using nlohmann::json;

namespace {

// The bar for float32 against transformers; the measured differences are printed.
constexpr double kLogitTolerance = 1e-5;
constexpr double kLogpTolerance = 1e-5;

const QString kFixtures = QStringLiteral(DPOWB_TEST_DATA "/model/hf");

json readJson(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return json();
    return json::parse(f.readAll().toStdString());
}

struct Batch {
    torch::Tensor ids, mask;  // (B,T) right-padded
    std::vector<std::pair<std::vector<dpowb::text::TokenId>, std::vector<dpowb::text::TokenId>>> rows;
    std::vector<int64_t> lengths;
};

Batch batchOf(const json& expected) {
    Batch b;
    const int64_t pad = expected.at("pad_id").get<int64_t>();
    int64_t width = 0;
    for (const json& row : expected.at("rows")) {
        auto prompt = row.at("prompt").get<std::vector<dpowb::text::TokenId>>();
        auto response = row.at("response").get<std::vector<dpowb::text::TokenId>>();
        b.lengths.push_back(int64_t(prompt.size() + response.size()));
        width = std::max(width, b.lengths.back());
        b.rows.emplace_back(std::move(prompt), std::move(response));
    }
    const int64_t B = int64_t(b.rows.size());
    b.ids = torch::full({B, width}, pad, torch::kInt64);
    b.mask = torch::zeros({B, width}, torch::kInt64);
    for (int64_t r = 0; r < B; ++r) {
        std::vector<int64_t> seq(b.rows[r].first.begin(), b.rows[r].first.end());
        seq.insert(seq.end(), b.rows[r].second.begin(), b.rows[r].second.end());
        b.ids[r].narrow(0, 0, int64_t(seq.size())).copy_(torch::tensor(seq, torch::kInt64));
        b.mask[r].narrow(0, 0, int64_t(seq.size())).fill_(1);
    }
    return b;
}

// The largest |ours - theirs| over the real positions.
double logitDifference(Model& model, const Batch& b, const json& expected) {
    torch::NoGradGuard ng;
    torch::Tensor logits = model.net->lmHead(model.net->hidden(b.ids, b.mask)).to(torch::kFloat64);
    double worst = 0;
    for (size_t r = 0; r < b.rows.size(); ++r) {
        const json& theirs = expected.at("rows").at(r).at("logits");
        for (int64_t t = 0; t < b.lengths[r]; ++t) {
            const auto ref = theirs.at(size_t(t)).get<std::vector<double>>();
            torch::Tensor refT = torch::tensor(ref, torch::kFloat64);
            worst = std::max(worst, (logits[int64_t(r)][t] - refT).abs().max().item<double>());
        }
    }
    return worst;
}

double logpDifference(Model& model, const Batch& b, const json& expected) {
    torch::NoGradGuard ng;
    const SequenceLogps lp = sequenceLogps(*model.net, collateSequences(b.rows, 0));
    double worst = 0;
    for (size_t r = 0; r < b.rows.size(); ++r)
        worst = std::max(worst, std::abs(lp.logps[int64_t(r)].item<double>() -
                                         expected.at("rows").at(r).at("response_logp").get<double>()));
    return worst;
}

LoadOptions cpuFloat32() {
    LoadOptions o;
    o.device = "cpu";
    o.dtype = "float32";
    return o;
}

}  // namespace

class TestHfLogits : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void matchesTransformers_data();
    void matchesTransformers();
    void savedFolderLoadsBack_data() { matchesTransformers_data(); }
    void savedFolderLoadsBack();
    void transformers5RopeParameters();
    void smollm3LayerPatterns();
    void roundTripThroughTransformersAndPeft();
};

void TestHfLogits::matchesTransformers_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("architecture");  // the engine's family
    for (const char* name : {"llama3", "qwen2", "qwen3", "mistral", "smollm3"}) QTest::newRow(name) << name << "llama";
    QTest::newRow("gemma3") << "gemma3" << "gemma3";
    QTest::newRow("gpt2") << "gpt2" << "gpt2";
}

void TestHfLogits::matchesTransformers() {
    QFETCH(QString, name);
    QFETCH(QString, architecture);
    const QString folder = kFixtures + "/" + name;
    const json expected = readJson(folder + "/expected.json");
    QVERIFY2(expected.is_object(), qPrintable(folder + "/expected.json is missing"));
    auto model = loadModel(folder.toStdString(), cpuFloat32());
    QCOMPARE(QString::fromStdString(model->config.architecture), architecture);
    QCOMPARE(model->config.modelType, expected.at("model_type").get<std::string>());
    // Every tensor of the checkpoint was used (an unknown one, q_norm say, would be a warning).
    for (const auto& w : model->warnings)
        QVERIFY2(w.find("unused") == std::string::npos && w.find("not used") == std::string::npos, w.c_str());

    const Batch b = batchOf(expected);
    const double logitDiff = logitDifference(*model, b, expected);
    const double logpDiff = logpDifference(*model, b, expected);
    qInfo("%s (transformers %s): max |logit difference| %.3g, max |response log-prob difference| %.3g",
          qPrintable(name), expected.at("versions").at("transformers").get<std::string>().c_str(), logitDiff, logpDiff);
    QVERIFY2(logitDiff <= kLogitTolerance, qPrintable(QString::number(logitDiff)));
    QVERIFY2(logpDiff <= kLogpTolerance, qPrintable(QString::number(logpDiff)));
}

void TestHfLogits::savedFolderLoadsBack() {
    QFETCH(QString, name);
    const QString folder = kFixtures + "/" + name;
    const json expected = readJson(folder + "/expected.json");
    auto model = loadModel(folder.toStdString(), cpuFloat32());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string saved = dir.filePath("saved").toStdString();
    saveModel(*model, saved);
    auto again = loadModel(saved, cpuFloat32());
    const Batch b = batchOf(expected);
    QVERIFY(logitDifference(*again, b, expected) <= kLogitTolerance);
    torch::NoGradGuard ng;
    QVERIFY(torch::equal(model->net->lmHead(model->net->hidden(b.ids, b.mask)),
                         again->net->lmHead(again->net->hidden(b.ids, b.mask))));
    // The config keeps the layout it was read in (transformers 5: rope_parameters, dtype).
    const json original = readJson(folder + "/config.json");
    const json written = readJson(dir.filePath("saved/config.json"));
    QCOMPARE(written.contains("rope_parameters"), original.contains("rope_parameters"));
    if (original.contains("rope_parameters")) {
        QCOMPARE(written.at("rope_parameters"), original.at("rope_parameters"));
        QVERIFY(!written.contains("rope_theta"));
    }
}

// rope_theta and the scaling live in rope_parameters in transformers 5's config.json: read
// there (a reader that looked only at rope_theta would take the default 10000).
void TestHfLogits::transformers5RopeParameters() {
    const json llama3 = readJson(kFixtures + "/llama3/config.json");
    const json qwen3 = readJson(kFixtures + "/qwen3/config.json");
    QVERIFY(llama3.contains("rope_parameters") && !llama3.contains("rope_theta"));
    const ModelConfig a = ModelConfig::fromJson(llama3.dump());
    QCOMPARE(a.ropeTheta, llama3.at("rope_parameters").at("rope_theta").get<double>());
    QVERIFY(!a.ropeScalingJson.empty());
    QCOMPARE(json::parse(a.ropeScalingJson).at("rope_type").get<std::string>(), std::string("llama3"));
    const ModelConfig q = ModelConfig::fromJson(qwen3.dump());
    QCOMPARE(q.ropeTheta, qwen3.at("rope_parameters").at("rope_theta").get<double>());
    QVERIFY(q.ropeScalingJson.empty());  // rope_type default
    QVERIFY(q.qkNorm);
    QCOMPARE(q.headDim, qwen3.at("head_dim").get<int64_t>());
    // A scaling type the engine does not implement is refused with its field.
    json yarn = llama3;
    yarn["rope_parameters"]["rope_type"] = "yarn";
    try {
        ModelConfig::fromJson(yarn.dump(), "config.json");
        QFAIL("yarn was accepted");
    } catch (const std::exception& e) {
        QVERIFY2(std::string(e.what()).find("rope_parameters") != std::string::npos, e.what());
    }
}

// SmolLM3's per-layer switches as SmolLM3Config reads them: no_rope_layers (else a NoPE layer
// every no_rope_layer_interval), layer_types (else, with use_sliding_window, the NoPE layers
// slide), and written back so that they read the same.
void TestHfLogits::smollm3LayerPatterns() {
    const json fixture = readJson(kFixtures + "/smollm3/config.json");
    QVERIFY(fixture.is_object());
    const ModelConfig c = ModelConfig::fromJson(fixture.dump());
    QCOMPARE(c.architecture, std::string("llama"));
    const auto flags = fixture.at("no_rope_layers").get<std::vector<int>>();
    const auto types = fixture.at("layer_types").get<std::vector<std::string>>();
    QCOMPARE(c.ropeLayers.size(), flags.size());
    QCOMPARE(c.slidingLayers.size(), types.size());
    for (size_t i = 0; i < flags.size(); ++i) {
        QCOMPARE(c.ropeLayers[i], flags[i] == 1);
        QCOMPARE(c.slidingLayers[i], types[i] == "sliding_attention");
    }
    QCOMPARE(c.slidingWindow.value_or(0), fixture.at("sliding_window").get<int64_t>());
    QVERIFY(c.tieWordEmbeddings && c.attentionBias && c.outputBias && c.mlpBias);

    // Neither list: layers 3 and 7 of 8 are NoPE (interval 4); with use_sliding_window they slide.
    json derived = fixture;
    derived.erase("no_rope_layers");
    derived.erase("layer_types");
    derived.erase("no_rope_layer_interval");
    derived["num_hidden_layers"] = 8;
    const ModelConfig d = ModelConfig::fromJson(derived.dump());
    const std::vector<bool> nope3and7 = {true, true, true, false, true, true, true, false};
    QCOMPARE(d.ropeLayers, nope3and7);
    std::vector<bool> slides3and7(8, false);
    slides3and7[3] = slides3and7[7] = true;
    QCOMPARE(d.slidingLayers, slides3and7);
    derived["use_sliding_window"] = false;
    const ModelConfig e = ModelConfig::fromJson(derived.dump());
    QCOMPARE(e.slidingLayers, std::vector<bool>(8, false));
    QVERIFY(!e.slidingWindow);  // no layer slides: no window limits prompt sharing

    // Written back: a changed pattern reads the same again.
    ModelConfig changed = c;
    changed.ropeLayers = {false, true, true, false};
    changed.slidingLayers = {true, false, false, false};
    const ModelConfig back = ModelConfig::fromJson(changed.toJson());
    QCOMPARE(back.ropeLayers, changed.ropeLayers);
    QCOMPARE(back.slidingLayers, changed.slidingLayers);
    QCOMPARE(back.slidingWindow, changed.slidingWindow);

    // Refused with the field named: a flag that is neither 0 nor 1, sliding layers without a window.
    json badFlag = fixture;
    badFlag["no_rope_layers"][1] = 2;
    json noWindow = fixture;
    noWindow["sliding_window"] = nullptr;
    for (const auto& [bad, field] : {std::pair{badFlag, "no_rope_layers"}, std::pair{noWindow, "sliding_window"}}) {
        try {
            ModelConfig::fromJson(bad.dump(), "config.json");
            QFAIL(qPrintable(QString("accepted a bad ") + field));
        } catch (const std::exception& ex) {
            QVERIFY2(std::string(ex.what()).find(field) != std::string::npos, ex.what());
        }
    }
}

// The way back: a model folder and a LoRA adapter that `dpowb train` wrote (on the qwen3
// fixture; scripts/make-hf-fixtures.py --roundtrip) were loaded by transformers and by PEFT
// (base + adapter), whose logits are recorded. The engine loading the same files must give
// them: what we write means to Hugging Face what it means to us.
void TestHfLogits::roundTripThroughTransformersAndPeft() {
    const QString folder = kFixtures + "/roundtrip";
    json expected = readJson(folder + "/expected.json");
    QVERIFY2(expected.is_object(), "roundtrip/expected.json is missing");
    QVERIFY(expected.at("transformers_vs_peft").get<double>() <= kLogitTolerance);

    auto merged = loadModel((folder + "/model").toStdString(), cpuFloat32());
    auto adapted = loadModel((kFixtures + "/" + QString::fromStdString(expected.at("base").get<std::string>())).toStdString(),
                             cpuFloat32());
    loadLoraAdapter(*adapted, (folder + "/adapter").toStdString());

    // logitDifference reads each row's "logits": point it at the reference of each side.
    json asModel = expected, asPeft = expected;
    for (size_t r = 0; r < expected.at("rows").size(); ++r) {
        asModel["rows"][r]["logits"] = expected.at("model_logits").at(r);
        asPeft["rows"][r]["logits"] = expected.at("peft_logits").at(r);
    }
    const Batch b = batchOf(expected);
    const double modelDiff = logitDifference(*merged, b, asModel);
    const double peftDiff = logitDifference(*adapted, b, asPeft);
    qInfo("round trip: dpowb's model in transformers vs here %.3g; dpowb's adapter in PEFT vs here %.3g", modelDiff,
          peftDiff);
    QVERIFY2(modelDiff <= kLogitTolerance, qPrintable(QString::number(modelDiff)));
    QVERIFY2(peftDiff <= kLogitTolerance, qPrintable(QString::number(peftDiff)));
}

QTEST_GUILESS_MAIN(TestHfLogits)
#include "tst_hf_logits.moc"
