// Gemma 3's text model (model_type gemma3_text: Gemma3ForCausalLM) as LibTorch modules,
// following transformers' modeling_gemma3 step for step: embeddings scaled by √hidden, RMSNorm
// by (1 + w) in float32, per-head q/k norms before RoPE, q·k scaled by
// query_pre_attn_scalar^-1/2, sliding-window and full-attention layers with their own RoPE
// bases, norms before and after both the attention and the gelu-tanh-gated MLP, the LM head
// tied, logits soft-capped when final_logit_softcapping is set. The names are the Llama
// family's (architectures.h).
//
// Not supported: the multimodal Gemma 3 (model_type gemma3) and bidirectional attention.
// Prompt sharing (hiddenAt) runs where the sliding window is at least the longest prompt plus
// the longest response of a batch; longer batches run as plain rows (pairSequenceLogps).
#pragma once

#include <torch/torch.h>

#include "model/linear.h"
#include "model/llama.h"
#include "model/model.h"

namespace dpowb::model {

// transformers' Gemma3RMSNorm: x / rms(x) · (1 + w), all in float32, then cast.
class GemmaRMSNormImpl : public torch::nn::Module {
public:
    GemmaRMSNormImpl(int64_t size, double eps);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;

private:
    double eps_;
};
TORCH_MODULE(GemmaRMSNorm);

class Gemma3AttentionImpl : public torch::nn::Module {
public:
    Gemma3AttentionImpl(const ModelConfig& c, size_t layerIndex);
    torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias, KVCache* cache);
    Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
    GemmaRMSNorm qNorm{nullptr}, kNorm{nullptr};

private:
    int64_t H_, K_, D_;
    double scale_;
    size_t layer_;
};
TORCH_MODULE(Gemma3Attention);

class Gemma3MlpImpl : public torch::nn::Module {
public:
    explicit Gemma3MlpImpl(const ModelConfig& c);
    torch::Tensor forward(const torch::Tensor& x);  // down(gelu_tanh(gate(x)) * up(x))
    Linear gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(Gemma3Mlp);

class Gemma3DecoderLayerImpl : public torch::nn::Module {
public:
    Gemma3DecoderLayerImpl(const ModelConfig& c, size_t layerIndex);
    torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias, KVCache* cache);
    Gemma3Attention attention{nullptr};
    Gemma3Mlp mlp{nullptr};
    GemmaRMSNorm inputNorm{nullptr}, postAttentionNorm{nullptr}, preFeedforwardNorm{nullptr}, postFeedforwardNorm{nullptr};
    bool sliding = false;
};
TORCH_MODULE(Gemma3DecoderLayer);

class Gemma3BodyImpl : public torch::nn::Module {
public:
    explicit Gemma3BodyImpl(const ModelConfig& c);
    torch::nn::Embedding embed{nullptr};
    torch::nn::ModuleList layerList{nullptr};
    std::vector<Gemma3DecoderLayer> layers;
    GemmaRMSNorm norm{nullptr};
};
TORCH_MODULE(Gemma3Body);

class Gemma3ForCausalLM : public CausalLM {
public:
    explicit Gemma3ForCausalLM(ModelConfig config);
    torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache = nullptr) override;
    torch::Tensor hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                           const torch::Tensor& positions) override;
    torch::Tensor lmHead(const torch::Tensor& hidden) override;

    Gemma3Body body{nullptr};
    Linear head{nullptr};  // null when tied to the embeddings (as every Gemma 3 is)

private:
    torch::Tensor forwardLayers(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                                const torch::Tensor& positions);
    torch::Tensor globalInvFreq_, localInvFreq_;  // (D/2) float32, CPU
};

}  // namespace dpowb::model
