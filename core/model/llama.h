// The Llama family (Llama 2/3, Mistral, Qwen 2/2.5/3, SmolLM 1/2/3, TinyLlama) as LibTorch
// modules, following transformers' modeling_llama step for step: RMSNorm in float32, rotary
// embeddings (rotate-half form, rope_theta, linear / llama3 rope_scaling), grouped-query
// attention, SiLU-gated MLP, optional q/k/v(/o) biases, Qwen 3's per-head q/k RMSNorm,
// SmolLM3's NoPE layers (no rotation) and sliding layers, tied or untied LM head.
// Registered names are the checkpoint names (architectures.h).
//
// Not supported: dynamic/yarn RoPE scaling, Qwen 2 sliding window, left padding with
// shifted positions (positions always count from 0 at the first token of the row).
#pragma once

#include <torch/torch.h>

#include "model/linear.h"
#include "model/model.h"

namespace dpowb::model {

class RMSNormImpl : public torch::nn::Module {
public:
    RMSNormImpl(int64_t size, double eps);
    torch::Tensor forward(const torch::Tensor& x);  // (…,C) -> (…,C)
    torch::Tensor weight;

private:
    double eps_;
};
TORCH_MODULE(RMSNorm);

// Rotary position tables: cos and sin (T,D) for positions shared by all rows, or (B,1,T,D)
// for per-row positions; in the activations' type.
struct RotaryTables {
    torch::Tensor cos, sin;
};
// inv_freq (D/2) for the config's rope_theta and rope_scaling, float32.
torch::Tensor ropeInverseFrequencies(const ModelConfig& config);
// The tables for T new positions: past..past+T-1 shared by all rows, or `positions` (B,T) when
// defined. Built in float32 from invFreq, then cast to `dtype`, as transformers does.
RotaryTables rotaryTables(const torch::Tensor& invFreq, int64_t T, int64_t past, const torch::Tensor& positions,
                          torch::Device device, torch::ScalarType dtype);
// x (B,N,T,D) rotated in the rotate-half form.
torch::Tensor applyRope(const torch::Tensor& x, const RotaryTables& rope);

class LlamaAttentionImpl : public torch::nn::Module {
public:
    LlamaAttentionImpl(const ModelConfig& c, size_t layerIndex);
    // x (B,T,C), rope tables for the T positions, bias (B|1,1,T,S) -> (B,T,C)
    torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias, KVCache* cache);
    Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
    RMSNorm qNorm{nullptr}, kNorm{nullptr};  // Qwen 3 (ModelConfig::qkNorm); null otherwise
    bool rotates = true;                     // false on SmolLM3's NoPE layers (ModelConfig::ropeLayers)

private:
    int64_t H_, K_, D_;
    size_t layer_;
};
TORCH_MODULE(LlamaAttention);

class LlamaMlpImpl : public torch::nn::Module {
public:
    explicit LlamaMlpImpl(const ModelConfig& c);
    torch::Tensor forward(const torch::Tensor& x);  // (B,T,C) -> (B,T,C): down(silu(gate(x)) * up(x))
    Linear gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(LlamaMlp);

class LlamaDecoderLayerImpl : public torch::nn::Module {
public:
    LlamaDecoderLayerImpl(const ModelConfig& c, size_t layerIndex);
    torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias, KVCache* cache);
    LlamaAttention attention{nullptr};
    LlamaMlp mlp{nullptr};
    RMSNorm inputNorm{nullptr}, postAttentionNorm{nullptr};
    bool sliding = false;  // SmolLM3: attends through the sliding window (ModelConfig::slidingLayers)
};
TORCH_MODULE(LlamaDecoderLayer);

// transformers' LlamaModel: embeddings, the layers, the final norm.
class LlamaBodyImpl : public torch::nn::Module {
public:
    explicit LlamaBodyImpl(const ModelConfig& c);
    torch::nn::Embedding embed{nullptr};
    torch::nn::ModuleList layerList{nullptr};
    std::vector<LlamaDecoderLayer> layers;
    RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaBody);

class LlamaForCausalLM : public CausalLM {
public:
    explicit LlamaForCausalLM(ModelConfig config);
    torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache = nullptr) override;
    torch::Tensor hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                           const torch::Tensor& positions) override;
    torch::Tensor lmHead(const torch::Tensor& hidden) override;

    LlamaBody body{nullptr};
    Linear head{nullptr};  // null when tied to the embeddings

private:
    torch::Tensor invFreq_;  // (D/2) float32, CPU; moved to the input's device on use
};

}  // namespace dpowb::model
