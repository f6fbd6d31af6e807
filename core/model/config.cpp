// config.json <-> ModelConfig. Field names and defaults follow the transformers
// configuration classes (LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config, SmolLM3Config,
// Gemma3TextConfig, GPT2Config) so
// that a folder written by save_pretrained reads the same way here as there, from transformers
// 4 (rope_theta + rope_scaling, torch_dtype) and from transformers 5 (rope_parameters, dtype).
#include "model/config.h"

#include <map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/error_text.h"
#include "common/json_input.h"

namespace dpowb::model {

using nlohmann::json;

namespace {

// A value as the error shows it: its JSON, cut to a few dozen bytes.
std::string shown(const json& v) {
    std::string d = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (d.size() > 60) d = d.substr(0, 57) + "...";
    return d;
}

struct Reader {
    const json& j;
    const std::string& file;

    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw Error(file + ": field \"" + field + "\": " + what);
    }
    bool has(const char* k) const { return j.contains(k) && !j.at(k).is_null(); }

    int64_t integer(const char* k, std::optional<int64_t> fallback = std::nullopt, bool positive = true) const {
        if (!has(k)) {
            if (fallback) return *fallback;
            fail(k, "missing (required for this architecture)");
        }
        const json& v = j.at(k);
        if (!v.is_number_integer()) fail(k, "expected an integer, got " + shown(v));
        int64_t x = v.get<int64_t>();
        if (positive && x <= 0) fail(k, "expected a positive integer, got " + shown(v));
        return x;
    }
    double number(const char* k, double fallback) const {
        if (!has(k)) return fallback;
        const json& v = j.at(k);
        if (!v.is_number()) fail(k, "expected a number, got " + shown(v));
        return v.get<double>();
    }
    bool boolean(const char* k, bool fallback) const {
        if (!has(k)) return fallback;
        const json& v = j.at(k);
        if (!v.is_boolean()) fail(k, "expected true or false, got " + shown(v));
        return v.get<bool>();
    }
    std::string string(const char* k, const std::string& fallback) const {
        if (!has(k)) return fallback;
        const json& v = j.at(k);
        if (!v.is_string()) fail(k, "expected a string, got " + shown(v));
        return v.get<std::string>();
    }
    // Token ids may be an integer or (Llama 3.1: eos_token_id) a list; the first one is kept,
    // the list survives in rawJson.
    std::optional<int64_t> tokenId(const char* k) const {
        if (!has(k)) return std::nullopt;
        const json& v = j.at(k);
        if (v.is_number_integer()) return v.get<int64_t>();
        if (v.is_array() && !v.empty() && v.at(0).is_number_integer()) return v.at(0).get<int64_t>();
        if (v.is_array() && v.empty()) return std::nullopt;
        fail(k, "expected a token id (integer or list of integers), got " + shown(v));
    }
};

// `field`: rope_scaling (transformers 4) or rope_parameters (transformers 5, which carries
// rope_theta in the same object). Returns the type ("default" when none is named).
std::string checkRopeScaling(const json& rs, const std::string& file, const std::string& field) {
    if (!rs.is_object()) throw Error(file + ": field \"" + field + "\": expected an object or null");
    std::string type;
    if (rs.contains("rope_type") && rs.at("rope_type").is_string()) type = rs.at("rope_type").get<std::string>();
    else if (rs.contains("type") && rs.at("type").is_string()) type = rs.at("type").get<std::string>();
    if (type.empty() || type == "default") return "default";
    auto needNumber = [&](const char* k) {
        if (!rs.contains(k) || !rs.at(k).is_number())
            throw Error(file + ": field \"" + field + "." + std::string(k) + "\": expected a number");
    };
    if (type == "linear") {
        needNumber("factor");
        return type;
    }
    if (type == "llama3") {
        for (const char* k : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
            needNumber(k);
        return type;
    }
    throw Error(file + ": field \"" + field + "\": type \"" + type +
                "\" is not supported (supported: default, linear, llama3)");
}

// layer_types (Gemma 3, SmolLM3): one "sliding_attention" or "full_attention" per layer; true
// where the layer slides.
std::vector<bool> readLayerTypes(const json& j, const Reader& r, int64_t numLayers) {
    const json& types = j.at("layer_types");
    if (!types.is_array() || int64_t(types.size()) != numLayers)
        r.fail("layer_types", "expected a list of " + std::to_string(numLayers) + " layer types");
    std::vector<bool> sliding(size_t(numLayers), false);
    for (size_t i = 0; i < types.size(); ++i) {
        const std::string t = types[i].is_string() ? types[i].get<std::string>() : std::string();
        if (t != "sliding_attention" && t != "full_attention")
            r.fail("layer_types", "entry " + std::to_string(i) + " is " + shown(types[i]) +
                                      " (expected \"sliding_attention\" or \"full_attention\")");
        sliding[i] = t == "sliding_attention";
    }
    return sliding;
}

// Gemma 3's text model (Gemma3TextConfig; the multimodal "gemma3" wrapper is not read). Its
// RoPE has two bases: full-attention layers rope_theta (default 1e6, with the scaling) and
// sliding layers rope_local_base_freq (default 1e4); transformers 5 writes both as
// rope_parameters.{full_attention, sliding_attention}. Layers are "sliding_attention" or
// "full_attention" by layer_types, else every sliding_window_pattern-th layer (default 6) is full.
void readGemma3(ModelConfig& c, const json& j, const Reader& r, const std::string& file) {
    c.architecture = "gemma3";
    c.vocabSize = r.integer("vocab_size", 262208);
    c.hiddenSize = r.integer("hidden_size", 2304);
    c.intermediateSize = r.integer("intermediate_size", 9216);
    c.numLayers = r.integer("num_hidden_layers", 26);
    c.numHeads = r.integer("num_attention_heads", 8);
    c.numKvHeads = r.integer("num_key_value_heads", 4);
    c.headDim = r.integer("head_dim", 256);
    if (c.numHeads % c.numKvHeads != 0)
        r.fail("num_key_value_heads", std::to_string(c.numKvHeads) + " does not divide num_attention_heads " +
                                          std::to_string(c.numHeads));
    c.maxPositions = r.integer("max_position_embeddings", 131072);
    c.normEps = r.number("rms_norm_eps", 1e-6);
    c.hiddenAct = r.string("hidden_activation", r.string("hidden_act", "gelu_pytorch_tanh"));
    if (c.hiddenAct != "gelu_pytorch_tanh")
        r.fail("hidden_activation", "\"" + c.hiddenAct + "\" is not supported (expected gelu_pytorch_tanh)");
    c.attentionBias = r.boolean("attention_bias", false);
    c.outputBias = c.attentionBias;
    c.qkNorm = true;
    c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
    c.queryPreAttnScalar = r.number("query_pre_attn_scalar", 256);
    if (!(c.queryPreAttnScalar > 0)) r.fail("query_pre_attn_scalar", "expected a positive number");
    if (r.has("final_logit_softcapping")) {
        c.finalLogitSoftcap = r.number("final_logit_softcapping", 0);
        if (!(*c.finalLogitSoftcap > 0)) r.fail("final_logit_softcapping", "expected a positive number or null");
    }
    // transformers' Gemma 3 attention does not apply attn_logit_softcapping: neither does this.
    if (r.boolean("use_bidirectional_attention", false))
        r.fail("use_bidirectional_attention", "bidirectional attention is not supported (a causal language model is)");
    c.slidingWindow = r.integer("sliding_window", 4096);

    if (r.has("layer_types")) {
        c.slidingLayers = readLayerTypes(j, r, c.numLayers);
    } else {
        c.slidingLayers.assign(size_t(c.numLayers), false);
        const int64_t pattern = r.integer("sliding_window_pattern", 6);
        for (int64_t i = 0; i < c.numLayers; ++i) c.slidingLayers[size_t(i)] = (i + 1) % pattern != 0;
    }

    c.ropeTheta = 1e6;
    c.localRopeTheta = 1e4;
    auto theta = [&](const json& o, const std::string& field, double fallback) {
        if (!o.contains("rope_theta")) return fallback;
        if (!o.at("rope_theta").is_number() || !(o.at("rope_theta").get<double>() > 0))
            r.fail(field + ".rope_theta", "expected a positive number, got " + shown(o.at("rope_theta")));
        return o.at("rope_theta").get<double>();
    };
    if (r.has("rope_parameters")) {
        const json& rp = j.at("rope_parameters");
        if (!rp.is_object()) r.fail("rope_parameters", "expected an object");
        const bool perType = rp.contains("full_attention") || rp.contains("sliding_attention");
        const json full = perType ? rp.value("full_attention", json::object()) : rp;
        const json local = perType ? rp.value("sliding_attention", json::object()) : json::object();
        if (checkRopeScaling(full, file, "rope_parameters.full_attention") != "default") c.ropeScalingJson = full.dump();
        c.ropeTheta = theta(full, "rope_parameters.full_attention", c.ropeTheta);
        if (checkRopeScaling(local, file, "rope_parameters.sliding_attention") != "default")
            r.fail("rope_parameters.sliding_attention", "only the default RoPE is supported on sliding layers");
        c.localRopeTheta = theta(local, "rope_parameters.sliding_attention", c.localRopeTheta);
    } else {
        c.ropeTheta = r.number("rope_theta", c.ropeTheta);
        c.localRopeTheta = r.number("rope_local_base_freq", c.localRopeTheta);
        if (r.has("rope_scaling") && checkRopeScaling(j.at("rope_scaling"), file, "rope_scaling") != "default")
            c.ropeScalingJson = j.at("rope_scaling").dump();
    }
}

// SmolLM3 (SmolLM3Config) on top of the Llama reading: NoPE layers, whose attention rotates
// nothing, by no_rope_layers (1 RoPE, 0 NoPE; at least one entry per layer), else every
// no_rope_layer_interval-th layer (default 4). Sliding layers by layer_types, else (with
// use_sliding_window and a sliding_window) the NoPE layers; transformers' masks follow
// layer_types alone, whatever use_sliding_window says, and so does the engine.
void readSmolLM3Layers(ModelConfig& c, const json& j, const Reader& r) {
    c.ropeLayers.assign(size_t(c.numLayers), true);
    if (r.has("no_rope_layers")) {
        const json& flags = j.at("no_rope_layers");
        if (!flags.is_array() || int64_t(flags.size()) < c.numLayers)
            r.fail("no_rope_layers", "expected a list of at least " + std::to_string(c.numLayers) +
                                         " entries, one per layer (1: RoPE, 0: NoPE)");
        for (size_t i = 0; i < size_t(c.numLayers); ++i) {
            const json& f = flags[i];
            const bool flag = f.is_boolean() || (f.is_number_integer() && (f == 0 || f == 1));
            if (!flag)
                r.fail("no_rope_layers", "entry " + std::to_string(i) + " is " + shown(f) +
                                             " (expected 1 for a RoPE layer or 0 for a NoPE layer)");
            c.ropeLayers[i] = f.is_boolean() ? f.get<bool>() : f.get<int64_t>() == 1;
        }
    } else {
        const int64_t interval = r.integer("no_rope_layer_interval", 4);
        for (int64_t i = 0; i < c.numLayers; ++i) c.ropeLayers[size_t(i)] = (i + 1) % interval != 0;
    }
    if (r.has("layer_types")) {
        c.slidingLayers = readLayerTypes(j, r, c.numLayers);
    } else {
        const bool windowed = r.boolean("use_sliding_window", false) && r.has("sliding_window");
        c.slidingLayers.assign(size_t(c.numLayers), false);
        for (size_t i = 0; i < size_t(c.numLayers); ++i) c.slidingLayers[i] = windowed && !c.ropeLayers[i];
    }
    // The window matters only where a layer slides (kept in rawJson otherwise): without
    // sliding layers, no window limits prompt sharing (logprobs.cpp).
    bool anySliding = false;
    for (bool s : c.slidingLayers) anySliding = anySliding || s;
    if (anySliding) {
        if (!r.has("sliding_window"))
            r.fail("sliding_window", "missing, but layer_types names sliding layers: give the window's length");
        c.slidingWindow = r.integer("sliding_window");
    }
}

// Upper bounds on every size in config.json, checked before anything is allocated or looped
// over: each is well above the largest released model of these architectures (Llama 3.1 405B:
// 126 layers, hidden 16384, intermediate 53248, 128 heads, vocabulary 128256; Qwen 2:
// vocabulary 152064; positions up to 131072 and, with rope scaling, a few million), and
// together they keep parameterCount() far from int64 overflow. A larger value is a broken or
// hostile file; the weights are then checked against these sizes (model.cpp) before the
// network is built.
struct SizeLimit {
    const char* llamaKey;
    const char* gpt2Key;
    int64_t ModelConfig::*field;
    int64_t max;
};
constexpr SizeLimit kSizeLimits[] = {
    {"vocab_size", "vocab_size", &ModelConfig::vocabSize, int64_t(1) << 24},
    {"hidden_size", "n_embd", &ModelConfig::hiddenSize, int64_t(1) << 17},
    {"intermediate_size", "n_inner", &ModelConfig::intermediateSize, int64_t(1) << 20},
    {"num_hidden_layers", "n_layer", &ModelConfig::numLayers, 4096},
    {"num_attention_heads", "n_head", &ModelConfig::numHeads, 4096},
    {"num_key_value_heads", "n_head", &ModelConfig::numKvHeads, 4096},
    {"head_dim", "n_embd", &ModelConfig::headDim, int64_t(1) << 14},
    {"max_position_embeddings", "n_positions", &ModelConfig::maxPositions, int64_t(1) << 24},
};

void checkSizeLimits(const ModelConfig& c, const Reader& r) {
    const bool gpt2 = c.architecture == "gpt2";
    for (const auto& limit : kSizeLimits) {
        const int64_t value = c.*(limit.field);
        if (value > limit.max)
            r.fail(gpt2 ? limit.gpt2Key : limit.llamaKey,
                   std::to_string(value) + " is above the limit of " + std::to_string(limit.max) +
                       " (no model of this architecture is that large: the file is damaged or not a model's config)");
    }
    if (c.slidingWindow && (*c.slidingWindow <= 0 || *c.slidingWindow > (int64_t(1) << 24)))
        r.fail("sliding_window", std::to_string(*c.slidingWindow) + " is outside 1.." + std::to_string(int64_t(1) << 24));
}

}  // namespace

ModelConfig ModelConfig::fromJson(const std::string& text, const std::string& file) {
    json j = parseUntrustedJson(text, file);
    if (!j.is_object()) throw Error(file + ": expected a JSON object");
    Reader r{j, file};

    ModelConfig c;
    c.rawJson = j.dump();
    c.modelType = r.string("model_type", "");
    if (c.modelType.empty()) r.fail("model_type", "missing; cannot tell the architecture");
    c.bosTokenId = r.tokenId("bos_token_id");
    c.eosTokenId = r.tokenId("eos_token_id");
    c.padTokenId = r.tokenId("pad_token_id");
    c.torchDtype = r.string("torch_dtype", r.string("dtype", "float32"));  // transformers 5 writes "dtype"

    if (c.modelType == "llama" || c.modelType == "mistral" || c.modelType == "qwen2" || c.modelType == "qwen3" ||
        c.modelType == "smollm3") {
        c.architecture = "llama";
        const bool smol = c.modelType == "smollm3";
        c.vocabSize = r.integer("vocab_size");
        c.hiddenSize = r.integer("hidden_size");
        c.intermediateSize = r.integer("intermediate_size");
        c.numLayers = r.integer("num_hidden_layers");
        c.numHeads = r.integer("num_attention_heads");
        // SmolLM3Config's default is 4 key/value heads; null there (and absent elsewhere) means
        // one per attention head.
        c.numKvHeads = smol && !j.contains("num_key_value_heads") ? 4 : r.integer("num_key_value_heads", c.numHeads);
        if (r.has("head_dim")) {
            c.headDim = r.integer("head_dim");
        } else {
            if (c.hiddenSize % c.numHeads != 0)
                r.fail("num_attention_heads", "hidden_size " + std::to_string(c.hiddenSize) +
                                                  " is not divisible by " + std::to_string(c.numHeads));
            c.headDim = c.hiddenSize / c.numHeads;
        }
        if (c.numHeads % c.numKvHeads != 0)
            r.fail("num_key_value_heads", std::to_string(c.numKvHeads) + " does not divide num_attention_heads " +
                                              std::to_string(c.numHeads));
        c.maxPositions = r.integer("max_position_embeddings", smol ? 32768 : 2048);
        c.normEps = r.number("rms_norm_eps", 1e-6);
        c.ropeTheta = r.number("rope_theta", smol ? 2e6 : 10000.0);
        if (r.has("rope_parameters")) {
            // transformers 5: one object with rope_theta and the scaling. (A map of such objects
            // per layer type belongs to architectures not read here.)
            const json& rp = j.at("rope_parameters");
            const std::string type = checkRopeScaling(rp, file, "rope_parameters");
            if (rp.contains("rope_theta")) {
                if (!rp.at("rope_theta").is_number() || !(rp.at("rope_theta").get<double>() > 0))
                    r.fail("rope_parameters.rope_theta", "expected a positive number, got " + shown(rp.at("rope_theta")));
                c.ropeTheta = rp.at("rope_theta").get<double>();
            }
            if (type != "default") c.ropeScalingJson = rp.dump();
        } else if (r.has("rope_scaling")) {
            if (checkRopeScaling(j.at("rope_scaling"), file, "rope_scaling") != "default")
                c.ropeScalingJson = j.at("rope_scaling").dump();
        }
        c.hiddenAct = r.string("hidden_act", "silu");
        if (c.hiddenAct != "silu" && c.hiddenAct != "swish")
            r.fail("hidden_act", "\"" + c.hiddenAct + "\" is not supported (expected silu)");
        c.hiddenAct = "silu";
        if (c.modelType == "qwen2") {
            // Qwen 2 always has q/k/v biases and no o_proj bias; its config has no switch for it.
            c.attentionBias = true;
            c.outputBias = false;
            c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
            if (r.boolean("use_sliding_window", false))
                r.fail("use_sliding_window", "sliding-window attention of Qwen 2 is not supported");
        } else if (c.modelType == "qwen3") {
            // Qwen 3: attention_bias covers q/k/v and o; each head's queries and keys are
            // RMS-normalised (q_norm, k_norm over head_dim) before the rotation.
            c.attentionBias = r.boolean("attention_bias", false);
            c.outputBias = c.attentionBias;
            c.qkNorm = true;
            c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
            if (r.boolean("use_sliding_window", false))
                r.fail("use_sliding_window", "sliding-window attention of Qwen 3 is not supported");
        } else if (smol) {
            // SmolLM3: attention_bias covers q/k/v and o; the head is tied unless said otherwise.
            c.attentionBias = r.boolean("attention_bias", false);
            c.outputBias = c.attentionBias;
            c.mlpBias = r.boolean("mlp_bias", false);
            c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
            readSmolLM3Layers(c, j, r);
        } else {
            c.attentionBias = r.boolean("attention_bias", false);
            c.outputBias = c.attentionBias;
            c.mlpBias = r.boolean("mlp_bias", false);
            c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
            if (c.modelType == "mistral" && r.has("sliding_window"))
                c.slidingWindow = r.integer("sliding_window");
        }
        if (r.has("pretraining_tp") && r.integer("pretraining_tp") != 1)
            r.fail("pretraining_tp", "only 1 is supported");
    } else if (c.modelType == "gemma3_text") {
        readGemma3(c, j, r, file);
    } else if (c.modelType == "gpt2") {
        c.architecture = "gpt2";
        c.vocabSize = r.integer("vocab_size", 50257);
        c.hiddenSize = r.integer("n_embd", 768);
        c.numLayers = r.integer("n_layer", 12);
        c.numHeads = r.integer("n_head", 12);
        c.numKvHeads = c.numHeads;
        if (c.hiddenSize % c.numHeads != 0)
            r.fail("n_head", "n_embd " + std::to_string(c.hiddenSize) + " is not divisible by " +
                                 std::to_string(c.numHeads));
        c.headDim = c.hiddenSize / c.numHeads;
        c.intermediateSize = r.integer("n_inner", 4 * c.hiddenSize);
        c.maxPositions = r.integer("n_positions", 1024);
        c.normEps = r.number("layer_norm_epsilon", 1e-5);
        c.hiddenAct = r.string("activation_function", "gelu_new");
        if (c.hiddenAct != "gelu_new" && c.hiddenAct != "gelu_pytorch_tanh" && c.hiddenAct != "gelu")
            r.fail("activation_function", "\"" + c.hiddenAct + "\" is not supported (gelu_new, gelu_pytorch_tanh, gelu)");
        c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
        c.attentionBias = true;
        c.outputBias = true;
        c.mlpBias = true;
        if (!r.boolean("scale_attn_weights", true)) r.fail("scale_attn_weights", "only true is supported");
        if (r.boolean("scale_attn_by_inverse_layer_idx", false))
            r.fail("scale_attn_by_inverse_layer_idx", "only false is supported");
        if (r.boolean("reorder_and_upcast_attn", false)) r.fail("reorder_and_upcast_attn", "only false is supported");
        if (!c.bosTokenId) c.bosTokenId = 50256;
        if (!c.eosTokenId) c.eosTokenId = 50256;
    } else {
        throw Error(file + ": field \"model_type\": architecture " + excerpt(c.modelType) +
                    " is not supported (supported: llama, mistral, qwen2, qwen3, smollm3, gemma3_text, gpt2)");
    }
    checkSizeLimits(c, r);
    return c;
}

std::string ModelConfig::toJson() const {
    json j = json::object();
    try {
        json raw = json::parse(rawJson);
        if (raw.is_object() && raw.value("model_type", std::string()) == modelType) j = raw;
    } catch (const json::exception&) {
    }
    auto setToken = [&](const char* k, const std::optional<int64_t>& id) {
        if (!id) {
            j.erase(k);
            return;
        }
        // Keep a list (Llama 3.1 eos) when its first entry is still ours.
        if (j.contains(k) && j[k].is_array() && !j[k].empty() && j[k][0] == *id) return;
        j[k] = *id;
    };
    j["model_type"] = modelType;
    // The sizes the Llama family and Gemma 3 name alike.
    const auto decoderSizes = [&] {
        j["vocab_size"] = vocabSize;
        j["hidden_size"] = hiddenSize;
        j["intermediate_size"] = intermediateSize;
        j["num_hidden_layers"] = numLayers;
        j["num_attention_heads"] = numHeads;
        j["num_key_value_heads"] = numKvHeads;
        j["head_dim"] = headDim;
        j["max_position_embeddings"] = maxPositions;
        j["rms_norm_eps"] = normEps;
    };
    if (architecture == "gpt2") {
        j["architectures"] = {"GPT2LMHeadModel"};
        j["vocab_size"] = vocabSize;
        j["n_embd"] = hiddenSize;
        j["n_layer"] = numLayers;
        j["n_head"] = numHeads;
        j["n_inner"] = intermediateSize;
        j["n_positions"] = maxPositions;
        j["n_ctx"] = maxPositions;
        j["layer_norm_epsilon"] = normEps;
        j["activation_function"] = hiddenAct;
    } else if (architecture == "gemma3") {
        j["architectures"] = {"Gemma3ForCausalLM"};
        decoderSizes();
        j["hidden_activation"] = hiddenAct;
        j["attention_bias"] = attentionBias;
        j["query_pre_attn_scalar"] = queryPreAttnScalar;
        j["final_logit_softcapping"] = finalLogitSoftcap ? json(*finalLogitSoftcap) : json(nullptr);
        j["sliding_window"] = slidingWindow ? json(*slidingWindow) : json(nullptr);
        json types = json::array();
        for (bool sliding : slidingLayers) types.push_back(sliding ? "sliding_attention" : "full_attention");
        j["layer_types"] = types;
        j.erase("sliding_window_pattern");
        json full = ropeScalingJson.empty() ? json{{"rope_type", "default"}} : json::parse(ropeScalingJson);
        full["rope_theta"] = ropeTheta;
        if (j.contains("rope_parameters")) {
            j["rope_parameters"] = {{"full_attention", full},
                                    {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", localRopeTheta}}}};
        } else {
            j["rope_theta"] = ropeTheta;
            j["rope_local_base_freq"] = localRopeTheta;
            j["rope_scaling"] = ropeScalingJson.empty() ? json(nullptr) : json::parse(ropeScalingJson);
        }
    } else {
        static const std::map<std::string, std::string> classes = {
            {"llama", "LlamaForCausalLM"},
            {"mistral", "MistralForCausalLM"},
            {"qwen2", "Qwen2ForCausalLM"},
            {"qwen3", "Qwen3ForCausalLM"},
            {"smollm3", "SmolLM3ForCausalLM"}};
        auto it = classes.find(modelType);
        if (it != classes.end()) j["architectures"] = {it->second};
        decoderSizes();
        if (j.contains("rope_parameters")) {
            // Written as it was read: transformers 5's one object.
            json rp = ropeScalingJson.empty() ? json{{"rope_type", "default"}} : json::parse(ropeScalingJson);
            rp["rope_theta"] = ropeTheta;
            j["rope_parameters"] = rp;
            j.erase("rope_theta");
            j.erase("rope_scaling");
        } else {
            j["rope_theta"] = ropeTheta;
            j["rope_scaling"] = ropeScalingJson.empty() ? json(nullptr) : json::parse(ropeScalingJson);
        }
        j["hidden_act"] = hiddenAct;
        if (modelType != "qwen2") {
            j["attention_bias"] = attentionBias;
            j["mlp_bias"] = mlpBias;
        }
        if (modelType == "mistral") j["sliding_window"] = slidingWindow ? json(*slidingWindow) : json(nullptr);
        if (modelType == "smollm3") {
            json ropeFlags = json::array(), types = json::array();
            bool anySliding = false;
            for (size_t i = 0; i < size_t(numLayers); ++i) {
                ropeFlags.push_back(i < ropeLayers.size() && !ropeLayers[i] ? 0 : 1);
                const bool sliding = i < slidingLayers.size() && slidingLayers[i];
                types.push_back(sliding ? "sliding_attention" : "full_attention");
                anySliding = anySliding || sliding;
            }
            j["no_rope_layers"] = ropeFlags;
            j["layer_types"] = types;
            // transformers' flash attention slides only with use_sliding_window set; its masks
            // follow layer_types. Both say the same here.
            j["use_sliding_window"] = anySliding;
            if (slidingWindow) j["sliding_window"] = *slidingWindow;
            else if (!j.contains("sliding_window")) j["sliding_window"] = nullptr;
        }
    }
    j["tie_word_embeddings"] = tieWordEmbeddings;
    setToken("bos_token_id", bosTokenId);
    setToken("eos_token_id", eosTokenId);
    setToken("pad_token_id", padTokenId);
    if (j.contains("dtype")) j["dtype"] = torchDtype;  // transformers 5's name
    else j["torch_dtype"] = torchDtype;
    return j.dump(2);
}

int64_t ModelConfig::parameterCount() const {
    const int64_t C = hiddenSize, V = vocabSize, I = intermediateSize, L = numLayers;
    int64_t n = V * C;  // token embeddings
    if (architecture == "gpt2") {
        n += maxPositions * C;
        int64_t layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * I + I) + (I * C + C);
        n += L * layer + 2 * C;
    } else {
        const int64_t H = numHeads, K = numKvHeads, D = headDim;
        int64_t attn = C * H * D + 2 * C * K * D + H * D * C;
        if (attentionBias) attn += H * D + 2 * K * D;
        if (qkNorm) attn += 2 * D;
        if (outputBias) attn += C;
        int64_t mlp = 3 * C * I + (mlpBias ? 2 * I + C : 0);
        n += L * (attn + mlp + (architecture == "gemma3" ? 4 : 2) * C) + C;
    }
    if (!tieWordEmbeddings) n += V * C;
    return n;
}

ModelConfig builtinTinyConfig(int64_t vocabSize) {
    ModelConfig c;
    c.architecture = "llama";
    c.modelType = "llama";
    c.vocabSize = vocabSize;
    c.hiddenSize = 128;
    c.intermediateSize = 352;
    c.numLayers = 4;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 32;
    c.maxPositions = 256;
    c.normEps = 1e-5;
    c.ropeTheta = 10000.0;
    c.tieWordEmbeddings = true;
    return c;
}

}  // namespace dpowb::model
