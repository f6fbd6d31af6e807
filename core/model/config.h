// config.json of a Hugging Face model folder, for the architectures we implement.
// Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dpowb::model {

struct ModelConfig {
    std::string architecture;  // "llama" (llama, mistral, qwen2, qwen3, smollm3), "gemma3" (gemma3_text) or "gpt2"
    std::string modelType;     // config.json model_type, kept as given
    int64_t vocabSize = 0;
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKvHeads = 0;
    int64_t headDim = 0;
    int64_t maxPositions = 0;
    double normEps = 1e-6;      // rms_norm_eps or layer_norm_epsilon
    double ropeTheta = 10000.0;
    // "" or the scaling object: rope_scaling (transformers 4) or rope_parameters (transformers 5)
    // when its rope_type is not "default"; linear and llama3 are supported.
    std::string ropeScalingJson;
    bool tieWordEmbeddings = false;
    bool attentionBias = false;  // q/k/v (and o for some) biases: Qwen 2
    bool outputBias = false;     // o_proj bias (Llama's attention_bias covers q/k/v/o; Qwen 2 only q/k/v)
    bool mlpBias = false;
    bool qkNorm = false;         // Qwen 3: an RMSNorm over each head's queries and keys, before RoPE
    std::optional<int64_t> slidingWindow;  // Mistral: a query sees the last N keys only (Gemma 3: its sliding layers)
    // Gemma 3: which layers attend through the sliding window (the others see every earlier
    // key) with their own RoPE base; q·k scaled by query_pre_attn_scalar^-1/2 instead of
    // head_dim^-1/2; the logits soft-capped (cap·tanh(logits/cap)) when set. SmolLM3 names its
    // sliding layers the same way (layer_types), with one RoPE base for all.
    std::vector<bool> slidingLayers;  // one per layer; empty for the other architectures
    double localRopeTheta = 10000.0;
    double queryPreAttnScalar = 0;    // 0: head_dim
    std::optional<double> finalLogitSoftcap;
    // SmolLM3: which layers rotate queries and keys (no_rope_layers: 1 RoPE, 0 NoPE); a NoPE
    // layer's attention sees no positions at all. One per layer; empty: every layer rotates.
    std::vector<bool> ropeLayers;
    std::string hiddenAct = "silu";
    std::optional<int64_t> bosTokenId, eosTokenId, padTokenId;
    std::string torchDtype = "float32";
    std::string rawJson = "{}";  // the original config.json, for round trips

    // Throws dpowb::Error naming the field (or the unsupported architecture).
    static ModelConfig fromJson(const std::string& json, const std::string& fileForErrors = "config.json");
    std::string toJson() const;  // a config.json transformers loads
    int64_t parameterCount() const;
    int64_t kvGroups() const { return numKvHeads > 0 ? numHeads / numKvHeads : 1; }
};

// The built-in tiny model's configuration (a small Llama; see builtinTiny in model.h).
ModelConfig builtinTinyConfig(int64_t vocabSize);

}  // namespace dpowb::model
