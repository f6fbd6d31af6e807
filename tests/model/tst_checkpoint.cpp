// safetensors reading/writing, model folders in the Hugging Face layout, save -> load, and
// malformed checkpoints. Files are produced by a writer in this test that follows the
// format description byte by byte (independent of core/model's writer).
#include <torch/torch.h>

#include <QTemporaryDir>
#include <QtTest>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <atomic>

#include "common/error.h"
#include "model/architectures.h"
#include "model/model.h"
#include "model/safetensors.h"

using namespace dpowb::model;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct RawTensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;
    int64_t beginOverride = -1, endOverride = -1;
};

std::string bytesOf(const torch::Tensor& t) {
    torch::Tensor c = t.contiguous();
    return std::string(static_cast<const char*>(c.data_ptr()), size_t(c.numel() * c.element_size()));
}

RawTensor raw(const std::string& name, const torch::Tensor& t) {
    static const std::map<torch::ScalarType, std::string> names = {
        {torch::kFloat32, "F32"}, {torch::kBFloat16, "BF16"}, {torch::kFloat16, "F16"}, {torch::kFloat64, "F64"},
        {torch::kInt64, "I64"},   {torch::kInt32, "I32"},     {torch::kUInt8, "U8"},    {torch::kBool, "BOOL"}};
    return {name, names.at(t.scalar_type()), t.sizes().vec(), bytesOf(t)};
}

// The layout as the format describes it: u64 LE header size, JSON header, data.
void writeRawSafetensors(const fs::path& path, const std::vector<RawTensor>& tensors, int64_t lengthOverride = -1,
                         const std::string& headerOverride = {}, size_t cutBytes = 0, size_t extraBytes = 0) {
    json h = json::object();
    h["__metadata__"] = {{"format", "pt"}};
    std::string data;
    for (const auto& t : tensors) {
        int64_t begin = t.beginOverride >= 0 ? t.beginOverride : int64_t(data.size());
        int64_t end = t.endOverride >= 0 ? t.endOverride : begin + int64_t(t.bytes.size());
        h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, end}}};
        if (t.beginOverride < 0) data += t.bytes;
    }
    data.append(extraBytes, '\0');
    std::string header = headerOverride.empty() ? h.dump() : headerOverride;
    while (header.size() % 8) header += ' ';
    uint64_t n = lengthOverride >= 0 ? uint64_t(lengthOverride) : header.size();
    std::string file;
    for (int i = 0; i < 8; ++i) file += char((n >> (8 * i)) & 0xff);
    file += header + data;
    file.resize(file.size() - cutBytes);
    std::ofstream(path, std::ios::binary) << file;
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string expectError(const std::function<void()>& f) {
    try {
        f();
    } catch (const dpowb::Error& e) {
        return e.what();
    }
    return "<no error>";
}

ModelConfig smallLlama() {
    ModelConfig c;
    c.architecture = "llama";
    c.modelType = "llama";
    c.vocabSize = 300;
    c.hiddenSize = 16;
    c.intermediateSize = 24;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 4;
    c.maxPositions = 64;
    c.normEps = 1e-5;
    c.tieWordEmbeddings = true;
    return c;
}

// config.json as transformers' save_pretrained writes it for these fields.
json hfConfig(const ModelConfig& c) {
    if (c.architecture == "gpt2")
        return {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", c.vocabSize},
                {"n_embd", c.hiddenSize}, {"n_layer", c.numLayers}, {"n_head", c.numHeads}, {"n_positions", c.maxPositions},
                {"n_inner", nullptr}, {"layer_norm_epsilon", c.normEps}, {"activation_function", "gelu_new"},
                {"torch_dtype", "float32"}, {"bos_token_id", 0}, {"eos_token_id", 0}};
    json j = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", c.modelType}, {"vocab_size", c.vocabSize},
              {"hidden_size", c.hiddenSize}, {"intermediate_size", c.intermediateSize},
              {"num_hidden_layers", c.numLayers}, {"num_attention_heads", c.numHeads},
              {"num_key_value_heads", c.numKvHeads}, {"max_position_embeddings", c.maxPositions},
              {"rms_norm_eps", c.normEps}, {"rope_theta", c.ropeTheta}, {"rope_scaling", nullptr},
              {"tie_word_embeddings", c.tieWordEmbeddings}, {"hidden_act", "silu"}, {"torch_dtype", "float32"}};
    if (c.modelType == "llama") j["attention_bias"] = c.attentionBias;
    return j;
}

std::shared_ptr<CausalLM> randomNet(const ModelConfig& c, uint64_t seed) {
    auto net = createModelNet(c);
    at::Generator gen = at::detail::createCPUGenerator(seed);
    torch::NoGradGuard ng;
    for (auto& p : net->parameters()) p.normal_(0.0, 0.5, gen);
    net->eval();
    return net;
}

}  // namespace

class TestCheckpoint : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void writerLayout();
    void readerRoundTripsDtypes();
    void malformedFile_data();
    void malformedFile();
    void hfLayoutLoads_data();
    void hfLayoutLoads();
    void saveLoadBitForBit_data();
    void saveLoadBitForBit();
    void builtinIsSeeded();
    void loadingStopsWhenAsked_data();
    void loadingStopsWhenAsked();
    void malformedFolder_data();
    void malformedFolder();
    void configRoundTrip_data();
    void configRoundTrip();
    void configErrors_data();
    void configErrors();
};

void TestCheckpoint::writerLayout() {
    QTemporaryDir dir;
    const fs::path p = fs::path(dir.path().toStdString()) / "w.safetensors";
    auto a = torch::arange(6, torch::kFloat32).view({2, 3});
    auto b = torch::tensor({1, 2, 3}, torch::kInt64);
    writeSafetensors(p.string(), {{"zeta", a}, {"alpha", b}});
    const std::string file = readAll(p);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[size_t(i)]);
    QCOMPARE(n % 8, uint64_t(0));
    const std::string header = file.substr(8, n);
    QVERIFY(header.find_last_not_of(' ') < header.size());
    json h = json::parse(header);
    QCOMPARE(h["__metadata__"]["format"].get<std::string>(), std::string("pt"));
    // Sorted by name, contiguous from 0.
    QCOMPARE(h["alpha"]["data_offsets"], json({0, 24}));
    QCOMPARE(h["zeta"]["data_offsets"], json({24, 48}));
    QCOMPARE(h["zeta"]["dtype"].get<std::string>(), std::string("F32"));
    QCOMPARE(h["zeta"]["shape"], json({2, 3}));
    QCOMPARE(file.size(), size_t(8 + n + 48));
    QCOMPARE(file.substr(8 + n, 24), bytesOf(b));
    QCOMPARE(file.substr(8 + n + 24), bytesOf(a));
    QVERIFY(!fs::exists(p.string() + ".tmp"));
}

void TestCheckpoint::readerRoundTripsDtypes() {
    QTemporaryDir dir;
    const fs::path p = fs::path(dir.path().toStdString()) / "r.safetensors";
    auto f = torch::randn({3, 5});
    std::vector<std::pair<std::string, torch::Tensor>> ts = {
        {"f32", f}, {"bf16", f.to(torch::kBFloat16)}, {"f16", f.to(torch::kFloat16)}, {"f64", f.to(torch::kFloat64)},
        {"i64", torch::arange(7)}, {"i32", torch::arange(5, torch::kInt32)}, {"u8", torch::arange(9, torch::kUInt8)},
        {"bool", torch::tensor({true, false, true})}, {"scalar", torch::tensor(2.5)}, {"empty", torch::zeros({0, 4})}};
    writeSafetensors(p.string(), ts);
    SafetensorsFile file(p.string());
    QCOMPARE(file.tensors().size(), ts.size());
    QCOMPARE(file.metadata().at("format"), std::string("pt"));
    for (const auto& [name, t] : ts) {
        torch::Tensor got = file.tensor(name);
        QCOMPARE(got.scalar_type(), t.scalar_type());
        QVERIFY2(torch::equal(got, t), name.c_str());
    }
}

void TestCheckpoint::malformedFile_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("shorter than 8 bytes") << "tiny" << "shorter than the 8-byte header length";
    QTest::newRow("truncated data") << "truncated" << "tensor \"layer.weight\": byte range [16, 48) lies outside";
    QTest::newRow("lying header length") << "lying" << "header length 4096 exceeds the file size";
    QTest::newRow("header not JSON") << "notjson" << "header is not valid JSON";
    QTest::newRow("overlapping ranges") << "overlap" << "\"a.weight\" and \"b.weight\" have overlapping byte ranges";
    QTest::newRow("shape vs byte range") << "shape" << "tensor \"a.weight\": shape [3,3] of F32 needs 36 bytes but data_offsets span 16";
    QTest::newRow("unknown dtype") << "dtype" << "tensor \"a.weight\": unsupported dtype \"F8_E4M3\"";
    QTest::newRow("negative offset") << "negoffset" << "tensor \"a.weight\": \"data_offsets\" must be two non-negative integers";
}

void TestCheckpoint::malformedFile() {
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path p = fs::path(dir.path().toStdString()) / "bad.safetensors";
    auto four = torch::ones({4}, torch::kFloat32);
    auto eight = torch::ones({2, 4}, torch::kFloat32);
    if (kind == "tiny") {
        std::ofstream(p, std::ios::binary) << "abcd";
    } else if (kind == "truncated") {
        writeRawSafetensors(p, {raw("bias", four), raw("layer.weight", eight)}, -1, {}, 10);
    } else if (kind == "lying") {
        writeRawSafetensors(p, {raw("a.weight", four)}, 4096);
    } else if (kind == "notjson") {
        writeRawSafetensors(p, {raw("a.weight", four)}, -1, "{\"a.weight\": {\"dtype\": ");
    } else if (kind == "overlap") {
        RawTensor a = raw("a.weight", four), b = raw("b.weight", four);
        a.beginOverride = 0;
        a.endOverride = 16;
        b.beginOverride = 8;
        b.endOverride = 24;
        writeRawSafetensors(p, {a, b}, -1, {}, 0, 24);
    } else if (kind == "shape") {
        RawTensor a = raw("a.weight", four);
        a.shape = {3, 3};
        writeRawSafetensors(p, {a});
    } else if (kind == "dtype") {
        RawTensor a = raw("a.weight", four);
        a.dtype = "F8_E4M3";
        writeRawSafetensors(p, {a});
    } else if (kind == "negoffset") {
        std::string header = R"({"a.weight":{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}})";
        writeRawSafetensors(p, {}, -1, header);
    }
    const std::string msg = expectError([&] { SafetensorsFile f(p.string()); });
    QVERIFY2(QString::fromStdString(msg).contains(expected), msg.c_str());
    QVERIFY2(QString::fromStdString(msg).startsWith(QString::fromStdString(p.string())), msg.c_str());
}

void TestCheckpoint::hfLayoutLoads_data() {
    QTest::addColumn<QString>("kind");
    QTest::newRow("llama tied head") << "tied";
    QTest::newRow("llama untied head") << "untied";
    QTest::newRow("qwen2 q/k/v biases") << "qwen2";
    QTest::newRow("bf16 tensors") << "bf16";
    QTest::newRow("sharded with index") << "sharded";
    QTest::newRow("gpt2 base-model names + attn.bias buffers") << "gpt2";
}

void TestCheckpoint::hfLayoutLoads() {
    QFETCH(QString, kind);
    ModelConfig c = smallLlama();
    if (kind == "untied" || kind == "sharded") c.tieWordEmbeddings = false;
    if (kind == "qwen2") {
        c.modelType = "qwen2";
        c.attentionBias = true;
        c.tieWordEmbeddings = false;
    }
    if (kind == "gpt2") {
        c = ModelConfig::fromJson(R"({"model_type":"gpt2","vocab_size":50,"n_embd":12,"n_layer":2,"n_head":3,"n_positions":16})");
    }
    auto src = randomNet(c, 99);
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    json cfg = hfConfig(c);
    if (kind == "bf16") cfg["torch_dtype"] = "bfloat16";
    std::ofstream(dir / "config.json") << cfg.dump(2);

    std::vector<RawTensor> tensors;
    std::map<std::string, torch::Tensor> expected;
    for (const auto& item : src->named_parameters()) {
        torch::Tensor t = item.value().detach();
        if (kind == "bf16") t = t.to(torch::kBFloat16);
        std::string name = item.key();
        if (kind == "gpt2") name = name.substr(std::string("transformer.").size());  // GPT2Model's own names
        tensors.push_back(raw(name, t));
        expected[item.key()] = t.to(torch::kFloat32);
    }
    if (kind == "gpt2")
        for (int l = 0; l < 2; ++l)
            tensors.push_back(raw("h." + std::to_string(l) + ".attn.bias", torch::ones({1, 1, 16, 16}).tril().to(torch::kUInt8)));
    if (kind == "sharded") {
        std::vector<RawTensor> first(tensors.begin(), tensors.begin() + long(tensors.size() / 2));
        std::vector<RawTensor> second(tensors.begin() + long(tensors.size() / 2), tensors.end());
        writeRawSafetensors(dir / "model-00001-of-00002.safetensors", first);
        writeRawSafetensors(dir / "model-00002-of-00002.safetensors", second);
        json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
        for (const auto& t : first) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
        for (const auto& t : second) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
        std::ofstream(dir / "model.safetensors.index.json") << index.dump(2);
    } else {
        writeRawSafetensors(dir / "model.safetensors", tensors);
    }

    auto m = loadModel(dir.string(), LoadOptions{"cpu", "float32", ""});
    QCOMPARE(m->config.modelType, c.modelType);
    QCOMPARE(m->config.tieWordEmbeddings, c.tieWordEmbeddings);
    auto got = m->net->named_parameters();
    QCOMPARE(int(got.size()), int(expected.size()));
    for (const auto& [name, t] : expected) {
        QVERIFY2(got.contains(name), name.c_str());
        QVERIFY2(torch::equal(got[name], t), name.c_str());
    }
    for (const auto& w : m->warnings) QVERIFY2(w.find("tokenizer") != std::string::npos, w.c_str());
    // Same weights, same function.
    auto ids = torch::tensor({{1, 5, 9, 2, 7}}, torch::kInt64);
    torch::NoGradGuard ng;
    if (kind != "bf16") QVERIFY(torch::allclose(m->net->logits(ids, {}), src->logits(ids, {}), 1e-5, 1e-5));
}

void TestCheckpoint::saveLoadBitForBit_data() {
    QTest::addColumn<QString>("dtype");
    QTest::newRow("float32") << "float32";
    QTest::newRow("bfloat16") << "bfloat16";
}

void TestCheckpoint::saveLoadBitForBit() {
    QFETCH(QString, dtype);
    LoadOptions opts{"cpu", dtype.toStdString(), ""};
    auto tiny = builtinTiny(opts, 77);
    QTemporaryDir tmp;
    const std::string dir = tmp.path().toStdString() + "/saved";
    saveModel(*tiny, dir);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
        QVERIFY2(fs::exists(fs::path(dir) / f), f);
    auto back = loadModel(dir, opts);
    QCOMPARE(back->dtype, tiny->dtype);
    auto a = tiny->net->named_parameters();
    auto b = back->net->named_parameters();
    QCOMPARE(a.size(), b.size());
    for (const auto& item : a) {
        QCOMPARE(b[item.key()].scalar_type(), item.value().scalar_type());
        QVERIFY2(torch::equal(b[item.key()], item.value()), item.key().c_str());
    }
    QCOMPARE(back->fingerprint, tiny->fingerprint);
    QCOMPARE(back->config.toJson(), tiny->net->config().toJson());
    QVERIFY(back->tokenizer);
    QCOMPARE(back->tokenizer->encode("Hé!", true), tiny->tokenizer->encode("Hé!", true));
    QVERIFY(back->chatTemplate.has_value());
    // Saving again from the loaded folder reproduces the same weights file.
    const std::string again = tmp.path().toStdString() + "/again";
    saveModel(*back, again);
    QCOMPARE(readAll(fs::path(again) / "model.safetensors"), readAll(fs::path(dir) / "model.safetensors"));
}

void TestCheckpoint::builtinIsSeeded() {
    auto a = builtinTiny({}, 5), b = builtinTiny({}, 5), c = builtinTiny({}, 6);
    QCOMPARE(a->fingerprint, b->fingerprint);
    QVERIFY(a->fingerprint != c->fingerprint);
    QCOMPARE(a->fingerprint.size(), size_t(16));
    QVERIFY(torch::equal(a->net->parameters()[0], b->net->parameters()[0]));
    QCOMPARE(a->config.vocabSize, a->tokenizer->vocabSize());
    QCOMPARE(a->source, std::string("builtin:tiny"));
    // Changing one weight changes the fingerprint.
    {
        torch::NoGradGuard ng;
        b->net->parameters().back().view(-1)[0] += 1e-3;
    }
    QVERIFY(fingerprintOf(*b->net) != a->fingerprint);
}

void TestCheckpoint::malformedFolder_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("missing tensor") << "missing" << "tensor \"model.layers.1.self_attn.k_proj.weight\" is missing";
    QTest::newRow("wrong shape") << "shape" << "tensor \"model.layers.0.mlp.up_proj.weight\" has shape [25, 16] but config.json implies [24, 16]";
    QTest::newRow("untied head missing") << "nohead" << "tensor \"lm_head.weight\" is missing";
    QTest::newRow("unknown architecture") << "arch" << "field \"model_type\": architecture \"falcon\" is not supported";
    QTest::newRow("config field wrong type") << "field" << "field \"num_attention_heads\": expected an integer";
    QTest::newRow("pickle .bin only") << "bin" << "pytorch_model.bin: pickle checkpoints are refused because loading one can run arbitrary code";
    QTest::newRow("index names a missing shard") << "shard" << "is in shard \"model-00002-of-00002.safetensors\", which does not exist";
    QTest::newRow("integer weights") << "intdtype" << "tensor \"model.norm.weight\" has dtype I64";
    QTest::newRow("no weights") << "none" << "no model.safetensors or model.safetensors.index.json";
}

void TestCheckpoint::malformedFolder() {
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    ModelConfig c = smallLlama();
    auto src = randomNet(c, 3);
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    json cfg = hfConfig(c);
    if (kind == "arch") cfg["model_type"] = "falcon";
    if (kind == "field") cfg["num_attention_heads"] = "4";
    if (kind == "nohead") cfg["tie_word_embeddings"] = false;
    std::ofstream(dir / "config.json") << cfg.dump(2);
    std::vector<RawTensor> tensors;
    for (const auto& item : src->named_parameters()) {
        if (kind == "missing" && item.key() == "model.layers.1.self_attn.k_proj.weight") continue;
        torch::Tensor t = item.value().detach();
        if (kind == "shape" && item.key() == "model.layers.0.mlp.up_proj.weight") t = torch::zeros({25, 16});
        if (kind == "intdtype" && item.key() == "model.norm.weight") t = torch::ones({16}, torch::kInt64);
        tensors.push_back(raw(item.key(), t));
    }
    if (kind == "bin") {
        std::ofstream(dir / "pytorch_model.bin") << "PK";
    } else if (kind == "shard") {
        writeRawSafetensors(dir / "model-00001-of-00002.safetensors", tensors);
        json index = {{"weight_map", json::object()}};
        for (const auto& t : tensors) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
        index["weight_map"]["model.norm.weight"] = "model-00002-of-00002.safetensors";
        std::ofstream(dir / "model.safetensors.index.json") << index.dump();
    } else if (kind != "none") {
        writeRawSafetensors(dir / "model.safetensors", tensors);
    }
    const std::string msg = expectError([&] { loadModel(dir.string(), LoadOptions{"cpu", "float32", ""}); });
    QVERIFY2(QString::fromStdString(msg).contains(expected), msg.c_str());
}

void TestCheckpoint::configRoundTrip_data() {
    QTest::addColumn<QString>("json");
    QTest::newRow("llama 3.1 (eos list, llama3 rope scaling)")
        << R"({"model_type":"llama","vocab_size":128256,"hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,"max_position_embeddings":131072,"rms_norm_eps":1e-05,"rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":true,"bos_token_id":128000,"eos_token_id":[128001,128008,128009],"torch_dtype":"bfloat16"})";
    QTest::newRow("qwen2.5")
        << R"({"model_type":"qwen2","vocab_size":151936,"hidden_size":896,"intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"max_position_embeddings":32768,"rms_norm_eps":1e-06,"rope_theta":1000000.0,"tie_word_embeddings":true,"use_sliding_window":false,"sliding_window":32768,"bos_token_id":151643,"eos_token_id":151645})";
    QTest::newRow("mistral")
        << R"({"model_type":"mistral","vocab_size":32000,"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":32768,"rms_norm_eps":1e-05,"rope_theta":10000.0,"sliding_window":4096,"tie_word_embeddings":false})";
    QTest::newRow("gpt2") << R"({"model_type":"gpt2","vocab_size":50257,"n_embd":768,"n_layer":12,"n_head":12,"n_positions":1024,"n_inner":null})";
}

void TestCheckpoint::configRoundTrip() {
    QFETCH(QString, json);
    ModelConfig a = ModelConfig::fromJson(json.toStdString());
    ModelConfig b = ModelConfig::fromJson(a.toJson());
    QCOMPARE(b.toJson(), a.toJson());
    QCOMPARE(b.architecture, a.architecture);
    QCOMPARE(b.headDim, a.headDim);
    QCOMPARE(b.numKvHeads, a.numKvHeads);
    QCOMPARE(b.tieWordEmbeddings, a.tieWordEmbeddings);
    QCOMPARE(b.attentionBias, a.attentionBias);
    QCOMPARE(b.slidingWindow, a.slidingWindow);
    QCOMPARE(b.eosTokenId, a.eosTokenId);
    // The parameter count from the formula equals the table's.
    int64_t total = 0;
    for (const auto& slot : tensorTable(a)) {
        int64_t n = 1;
        for (auto d : slot.shape) n *= d;
        total += n;
    }
    QCOMPARE(a.parameterCount(), total);
    if (a.modelType == "gpt2") QCOMPARE(a.parameterCount(), int64_t(124439808));  // GPT-2 small, as published
    if (a.modelType == "qwen2") QVERIFY(a.attentionBias && !a.outputBias);
    if (a.modelType == "llama") {
        QCOMPARE(*a.eosTokenId, int64_t(128001));
        QVERIFY(QString::fromStdString(a.toJson()).contains("128009"));  // the eos list survives
    }
}

void TestCheckpoint::configErrors_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not json") << "{" << "not valid JSON";
    QTest::newRow("no model_type") << R"({"hidden_size":8})" << "field \"model_type\": missing";
    QTest::newRow("unknown") << R"({"model_type":"gemma"})" << "architecture \"gemma\" is not supported";
    QTest::newRow("missing hidden_size")
        << R"({"model_type":"llama","vocab_size":10,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2})"
        << "field \"hidden_size\": missing";
    QTest::newRow("kv heads do not divide")
        << R"({"model_type":"llama","vocab_size":10,"hidden_size":12,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":6,"num_key_value_heads":4})"
        << "field \"num_key_value_heads\"";
    QTest::newRow("negative size")
        << R"({"model_type":"llama","vocab_size":-3,"hidden_size":12,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":6})"
        << "field \"vocab_size\": expected a positive integer";
    QTest::newRow("activation")
        << R"({"model_type":"llama","vocab_size":10,"hidden_size":12,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":6,"hidden_act":"gelu"})"
        << "field \"hidden_act\"";
    QTest::newRow("yarn rope")
        << R"({"model_type":"llama","vocab_size":10,"hidden_size":12,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":6,"rope_scaling":{"rope_type":"yarn","factor":4}})"
        << "field \"rope_scaling\": type \"yarn\" is not supported";
}

void TestCheckpoint::configErrors() {
    QFETCH(QString, json);
    QFETCH(QString, expected);
    const std::string msg = expectError([&] { ModelConfig::fromJson(json.toStdString(), "dir/config.json"); });
    QVERIFY2(QString::fromStdString(msg).contains(expected), msg.c_str());
    QVERIFY2(QString::fromStdString(msg).startsWith("dir/config.json: "), msg.c_str());
}

// LoadOptions::cancel: a closed window or Stop during a long load ends it with Cancelled at
// the next tensor (or before the fingerprint), for a folder and for builtin:tiny alike; an
// unset flag loads as usual.
void TestCheckpoint::loadingStopsWhenAsked_data() {
    QTest::addColumn<QString>("source");
    QTest::newRow("folder") << QStringLiteral(DPOWB_TEST_DATA "/model/hf/llama3");
    QTest::newRow("builtin:tiny") << QStringLiteral("builtin:tiny");
}

void TestCheckpoint::loadingStopsWhenAsked() {
    QFETCH(QString, source);
    std::atomic<bool> stop{true};
    LoadOptions lo;
    lo.device = "cpu";
    lo.cancel = &stop;
    QVERIFY_THROWS_EXCEPTION(dpowb::Cancelled, loadModel(source.toStdString(), lo));
    stop = false;
    auto m = loadModel(source.toStdString(), lo);
    QVERIFY(m && m->net);
    QVERIFY(!m->fingerprint.empty());
}

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
