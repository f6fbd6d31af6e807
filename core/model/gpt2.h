// GPT-2 as LibTorch modules, following transformers' modeling_gpt2: learned position
// embeddings, pre-LayerNorm blocks, gelu_new, the Conv1D weight layout ((in, out), y = x·W + b),
// LM head tied to the token embeddings. Registered names are the checkpoint names
// (architectures.h).
#pragma once

#include <torch/torch.h>

#include "model/linear.h"
#include "model/model.h"

namespace dpowb::model {

class Gpt2AttentionImpl : public torch::nn::Module {
public:
    Gpt2AttentionImpl(const ModelConfig& c, size_t layerIndex);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, KVCache* cache);  // (B,T,C) -> (B,T,C)
    Linear qkv{nullptr}, proj{nullptr};

private:
    int64_t H_, D_;
    size_t layer_;
};
TORCH_MODULE(Gpt2Attention);

class Gpt2MlpImpl : public torch::nn::Module {
public:
    explicit Gpt2MlpImpl(const ModelConfig& c);
    torch::Tensor forward(const torch::Tensor& x);  // (B,T,C) -> (B,T,C)
    Linear fc{nullptr}, proj{nullptr};

private:
    std::string act_;
};
TORCH_MODULE(Gpt2Mlp);

class Gpt2BlockImpl : public torch::nn::Module {
public:
    Gpt2BlockImpl(const ModelConfig& c, size_t layerIndex);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, KVCache* cache);
    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
    Gpt2Attention attention{nullptr};
    Gpt2Mlp mlp{nullptr};
};
TORCH_MODULE(Gpt2Block);

// transformers' GPT2Model ("transformer.")
class Gpt2BodyImpl : public torch::nn::Module {
public:
    explicit Gpt2BodyImpl(const ModelConfig& c);
    torch::nn::Embedding tokenEmbed{nullptr}, positionEmbed{nullptr};
    torch::nn::ModuleList layerList{nullptr};
    std::vector<Gpt2Block> layers;
    torch::nn::LayerNorm finalNorm{nullptr};
};
TORCH_MODULE(Gpt2Body);

class Gpt2ForCausalLM : public CausalLM {
public:
    explicit Gpt2ForCausalLM(ModelConfig config);
    torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache = nullptr) override;
    torch::Tensor hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                           const torch::Tensor& positions) override;
    torch::Tensor lmHead(const torch::Tensor& hidden) override;

    Gpt2Body body{nullptr};
    Linear head{nullptr};  // null when tied (the GPT-2 default)
};

}  // namespace dpowb::model
