#include "model/gpt2.h"

#include <cmath>

#include "common/error.h"
#include "model/architectures.h"
#include "model/attention.h"

namespace dpowb::model {

namespace names = gpt2_names;

namespace {

torch::nn::LayerNorm layerNorm(const ModelConfig& c) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hiddenSize}).eps(c.normEps));
}

}  // namespace

Gpt2AttentionImpl::Gpt2AttentionImpl(const ModelConfig& c, size_t layerIndex)
    : H_(c.numHeads), D_(c.headDim), layer_(layerIndex) {
    qkv = register_module(names::kQkv, Linear(c.hiddenSize, 3 * c.hiddenSize, true, /*conv1d=*/true));
    proj = register_module(names::kProj, Linear(c.hiddenSize, c.hiddenSize, true, /*conv1d=*/true));
}

torch::Tensor Gpt2AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& bias, KVCache* cache) {
    const int64_t B = x.size(0), T = x.size(1), C = H_ * D_;
    auto parts = qkv->forward(x).split(C, -1);  // 3 × (B,T,C)
    torch::Tensor q = parts[0].view({B, T, H_, D_}).transpose(1, 2);
    torch::Tensor k = parts[1].view({B, T, H_, D_}).transpose(1, 2);
    torch::Tensor v = parts[2].view({B, T, H_, D_}).transpose(1, 2);
    std::tie(k, v) = detail::extendCache(cache, layer_, k, v);
    torch::Tensor out = detail::attend(q, k, v, bias);  // (B,H,T,D)
    return proj->forward(out.transpose(1, 2).reshape({B, T, C}));
}

Gpt2MlpImpl::Gpt2MlpImpl(const ModelConfig& c) : act_(c.hiddenAct) {
    fc = register_module(names::kFc, Linear(c.hiddenSize, c.intermediateSize, true, true));
    proj = register_module(names::kProj, Linear(c.intermediateSize, c.hiddenSize, true, true));
}

torch::Tensor Gpt2MlpImpl::forward(const torch::Tensor& x) {
    torch::Tensor h = fc->forward(x);
    if (act_ == "gelu_new") {
        // transformers' NewGELUActivation, written out as it is there.
        const double c = std::sqrt(2.0 / M_PI);
        h = 0.5 * h * (1.0 + torch::tanh(c * (h + 0.044715 * torch::pow(h, 3.0))));
    } else if (act_ == "gelu_pytorch_tanh") {
        h = torch::gelu(h, "tanh");
    } else {
        h = torch::gelu(h);
    }
    return proj->forward(h);
}

Gpt2BlockImpl::Gpt2BlockImpl(const ModelConfig& c, size_t layerIndex) {
    norm1 = register_module(names::kNorm1, layerNorm(c));
    attention = register_module(names::kAttention, Gpt2Attention(c, layerIndex));
    norm2 = register_module(names::kNorm2, layerNorm(c));
    mlp = register_module(names::kMlp, Gpt2Mlp(c));
}

torch::Tensor Gpt2BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& bias, KVCache* cache) {
    torch::Tensor h = x + attention->forward(norm1->forward(x), bias, cache);
    return h + mlp->forward(norm2->forward(h));
}

Gpt2BodyImpl::Gpt2BodyImpl(const ModelConfig& c) {
    tokenEmbed = register_module(names::kTokenEmbed, torch::nn::Embedding(c.vocabSize, c.hiddenSize));
    positionEmbed = register_module(names::kPositionEmbed, torch::nn::Embedding(c.maxPositions, c.hiddenSize));
    layerList = register_module(names::kLayers, torch::nn::ModuleList());
    for (int64_t l = 0; l < c.numLayers; ++l) {
        layers.push_back(Gpt2Block(c, size_t(l)));
        layerList->push_back(layers.back());
    }
    finalNorm = register_module(names::kFinalNorm, layerNorm(c));
}

Gpt2ForCausalLM::Gpt2ForCausalLM(ModelConfig config) : CausalLM(std::move(config)) {
    body = register_module(names::kTransformer, Gpt2Body(config_));
    if (!config_.tieWordEmbeddings) head = register_module(names::kHead, Linear(config_.hiddenSize, config_.vocabSize, false));
}

torch::Tensor Gpt2ForCausalLM::hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache) {
    return hiddenAt(ids, attentionMask, cache, torch::Tensor());
}

torch::Tensor Gpt2ForCausalLM::hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                                        const torch::Tensor& given) {
    TORCH_CHECK(ids.dim() == 2, "ids must be (B,T)");
    const int64_t T = ids.size(1);
    const int64_t past = cache ? cache->length : 0;
    torch::Tensor positions = given.defined()
                                  ? given.to(ids.device(), torch::kInt64)
                                  : torch::arange(past, past + T, torch::TensorOptions().dtype(torch::kInt64).device(ids.device()));
    const int64_t last = !given.defined() ? past + T : positions.numel() ? positions.max().item<int64_t>() + 1 : 0;
    if (last > config_.maxPositions)
        throw Error("sequence of " + std::to_string(last) + " tokens is longer than GPT-2's n_positions (" +
                    std::to_string(config_.maxPositions) + ")");
    torch::Tensor placed = body->positionEmbed->forward(positions);  // (T,C) or (B,T,C)
    torch::Tensor x = body->tokenEmbed->forward(ids) + (given.defined() ? placed : placed.unsqueeze(0));  // (B,T,C)
    torch::Tensor bias = detail::attentionBias(ids, attentionMask, cache, std::nullopt, x.scalar_type());
    for (auto& layer : body->layers) x = layer->forward(x, bias, cache);
    if (cache) cache->length += T;
    return body->finalNorm->forward(x);
}

torch::Tensor Gpt2ForCausalLM::lmHead(const torch::Tensor& hidden) {
    if (head) return head->forward(hidden);
    return torch::nn::functional::linear(hidden, body->tokenEmbed->weight);
}

}  // namespace dpowb::model
