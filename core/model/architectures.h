// Architectures as data: for each architecture, the checkpoint name of every tensor, its shape
// for a given config, and how a fresh model initialises it. The modules (llama.cpp, gpt2.cpp)
// register their submodules and parameters under the name pieces below, so their
// named_parameters() equal tensorTable(config) (tests/model checks it); the loader and the
// initialiser work from the table alone. No tensor name is spelled anywhere else.
//
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace dpowb::model {

enum class TensorInit { Normal, Ones, Zeros };

struct TensorSlot {
    std::string name;            // checkpoint name, e.g. "model.layers.3.self_attn.q_proj.weight"
    std::vector<int64_t> shape;  // for this config
    TensorInit init = TensorInit::Normal;
    // The weight of a projection (model/linear.h, which can carry a LoRA adapter): its input
    // and output features, whatever the layout. 0 for every other tensor.
    int64_t inFeatures = 0, outFeatures = 0;

    bool isProjection() const { return inFeatures > 0; }
    // The module a projection weight belongs to: the name without ".weight".
    std::string module() const;
    int64_t numel() const;
};

// Every parameter of the architecture for `config`, in registration order.
std::vector<TensorSlot> tensorTable(const ModelConfig& config);

// The number of parameters the table holds (the network the engine builds for `config`).
int64_t tableParameterCount(const ModelConfig& config);

// PEFT's rule for LoRA target modules: a target names a module by its full path or by its
// last path components ("q_proj", "attn.c_proj").
bool matchesLoraTarget(const std::string& module, const std::string& target);

// Checkpoint entries that are not parameters (saved buffers such as rotary inv_freq or
// GPT-2's causal mask "attn.bias"); the loader skips them.
bool isNonParameterTensor(const ModelConfig& config, const std::string& name);

// The name a checkpoint tensor has in our modules: GPT-2 checkpoints saved from the base
// model lack the "transformer." prefix.
std::string canonicalTensorName(const ModelConfig& config, const std::string& name);

// Name pieces, shared by the table and the modules.
namespace llama_names {
inline constexpr const char* kModel = "model";
inline constexpr const char* kEmbed = "embed_tokens";
inline constexpr const char* kLayers = "layers";
inline constexpr const char* kAttention = "self_attn";
inline constexpr const char* kQ = "q_proj";
inline constexpr const char* kK = "k_proj";
inline constexpr const char* kV = "v_proj";
inline constexpr const char* kO = "o_proj";
inline constexpr const char* kQNorm = "q_norm";  // Qwen 3
inline constexpr const char* kKNorm = "k_norm";
inline constexpr const char* kMlp = "mlp";
inline constexpr const char* kGate = "gate_proj";
inline constexpr const char* kUp = "up_proj";
inline constexpr const char* kDown = "down_proj";
inline constexpr const char* kInputNorm = "input_layernorm";
inline constexpr const char* kPostAttentionNorm = "post_attention_layernorm";
inline constexpr const char* kPreFeedforwardNorm = "pre_feedforward_layernorm";    // Gemma 3
inline constexpr const char* kPostFeedforwardNorm = "post_feedforward_layernorm";  // Gemma 3
inline constexpr const char* kFinalNorm = "norm";
inline constexpr const char* kHead = "lm_head";
}  // namespace llama_names

namespace gpt2_names {
inline constexpr const char* kTransformer = "transformer";
inline constexpr const char* kTokenEmbed = "wte";
inline constexpr const char* kPositionEmbed = "wpe";
inline constexpr const char* kLayers = "h";
inline constexpr const char* kNorm1 = "ln_1";
inline constexpr const char* kAttention = "attn";
inline constexpr const char* kQkv = "c_attn";
inline constexpr const char* kProj = "c_proj";
inline constexpr const char* kNorm2 = "ln_2";
inline constexpr const char* kMlp = "mlp";
inline constexpr const char* kFc = "c_fc";
inline constexpr const char* kFinalNorm = "ln_f";
inline constexpr const char* kHead = "lm_head";
}  // namespace gpt2_names

inline constexpr const char* kWeight = "weight";
inline constexpr const char* kBias = "bias";

}  // namespace dpowb::model
