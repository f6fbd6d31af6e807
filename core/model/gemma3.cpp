#include "model/gemma3.h"

#include <cmath>

#include "model/architectures.h"
#include "model/attention.h"

namespace dpowb::model {

namespace names = llama_names;

GemmaRMSNormImpl::GemmaRMSNormImpl(int64_t size, double eps) : eps_(eps) {
    weight = register_parameter(kWeight, torch::zeros({size}));
}

torch::Tensor GemmaRMSNormImpl::forward(const torch::Tensor& x) {
    const auto type = detail::computeType(x);
    torch::Tensor h = x.to(type);
    h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps_);
    return (h * (1.0 + weight.to(type))).to(x.scalar_type());
}

Gemma3AttentionImpl::Gemma3AttentionImpl(const ModelConfig& c, size_t layerIndex)
    : H_(c.numHeads), K_(c.numKvHeads), D_(c.headDim), layer_(layerIndex) {
    scale_ = 1.0 / std::sqrt(c.queryPreAttnScalar > 0 ? c.queryPreAttnScalar : double(c.headDim));
    q = register_module(names::kQ, Linear(c.hiddenSize, H_ * D_, c.attentionBias));
    k = register_module(names::kK, Linear(c.hiddenSize, K_ * D_, c.attentionBias));
    v = register_module(names::kV, Linear(c.hiddenSize, K_ * D_, c.attentionBias));
    o = register_module(names::kO, Linear(H_ * D_, c.hiddenSize, c.outputBias));
    qNorm = register_module(names::kQNorm, GemmaRMSNorm(D_, c.normEps));
    kNorm = register_module(names::kKNorm, GemmaRMSNorm(D_, c.normEps));
}

torch::Tensor Gemma3AttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias,
                                           KVCache* cache) {
    const int64_t B = x.size(0), T = x.size(1);
    torch::Tensor qs = qNorm->forward(q->forward(x).view({B, T, H_, D_})).transpose(1, 2);  // (B,H,T,D)
    torch::Tensor ks = kNorm->forward(k->forward(x).view({B, T, K_, D_})).transpose(1, 2);  // (B,K,T,D)
    torch::Tensor vs = v->forward(x).view({B, T, K_, D_}).transpose(1, 2);                  // (B,K,T,D)
    qs = applyRope(qs, rope);
    ks = applyRope(ks, rope);
    std::tie(ks, vs) = detail::extendCache(cache, layer_, ks, vs);
    torch::Tensor out = detail::attend(qs, ks, vs, bias, scale_);
    return o->forward(out.transpose(1, 2).reshape({B, T, H_ * D_}));
}

Gemma3MlpImpl::Gemma3MlpImpl(const ModelConfig& c) {
    gate = register_module(names::kGate, Linear(c.hiddenSize, c.intermediateSize, false));
    up = register_module(names::kUp, Linear(c.hiddenSize, c.intermediateSize, false));
    down = register_module(names::kDown, Linear(c.intermediateSize, c.hiddenSize, false));
}

torch::Tensor Gemma3MlpImpl::forward(const torch::Tensor& x) {
    return down->forward(torch::gelu(gate->forward(x), "tanh") * up->forward(x));
}

Gemma3DecoderLayerImpl::Gemma3DecoderLayerImpl(const ModelConfig& c, size_t layerIndex) {
    attention = register_module(names::kAttention, Gemma3Attention(c, layerIndex));
    mlp = register_module(names::kMlp, Gemma3Mlp(c));
    inputNorm = register_module(names::kInputNorm, GemmaRMSNorm(c.hiddenSize, c.normEps));
    postAttentionNorm = register_module(names::kPostAttentionNorm, GemmaRMSNorm(c.hiddenSize, c.normEps));
    preFeedforwardNorm = register_module(names::kPreFeedforwardNorm, GemmaRMSNorm(c.hiddenSize, c.normEps));
    postFeedforwardNorm = register_module(names::kPostFeedforwardNorm, GemmaRMSNorm(c.hiddenSize, c.normEps));
    sliding = layerIndex < c.slidingLayers.size() && c.slidingLayers[layerIndex];
}

torch::Tensor Gemma3DecoderLayerImpl::forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias,
                                              KVCache* cache) {
    torch::Tensor h = x + postAttentionNorm->forward(attention->forward(inputNorm->forward(x), rope, bias, cache));
    return h + postFeedforwardNorm->forward(mlp->forward(preFeedforwardNorm->forward(h)));
}

Gemma3BodyImpl::Gemma3BodyImpl(const ModelConfig& c) {
    embed = register_module(names::kEmbed, torch::nn::Embedding(c.vocabSize, c.hiddenSize));
    layerList = register_module(names::kLayers, torch::nn::ModuleList());
    for (int64_t l = 0; l < c.numLayers; ++l) {
        layers.push_back(Gemma3DecoderLayer(c, size_t(l)));
        layerList->push_back(layers.back());
    }
    norm = register_module(names::kFinalNorm, GemmaRMSNorm(c.hiddenSize, c.normEps));
}

Gemma3ForCausalLM::Gemma3ForCausalLM(ModelConfig config) : CausalLM(std::move(config)) {
    body = register_module(names::kModel, Gemma3Body(config_));
    if (!config_.tieWordEmbeddings) head = register_module(names::kHead, Linear(config_.hiddenSize, config_.vocabSize, false));
    globalInvFreq_ = ropeInverseFrequencies(config_);
    ModelConfig local = config_;
    local.ropeTheta = config_.localRopeTheta;
    local.ropeScalingJson.clear();
    localInvFreq_ = ropeInverseFrequencies(local);
}

torch::Tensor Gemma3ForCausalLM::hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache) {
    return forwardLayers(ids, attentionMask, cache, torch::Tensor());
}

torch::Tensor Gemma3ForCausalLM::hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                                          const torch::Tensor& positions) {
    // With explicit positions the sliding layers' window counts key indices, not positions;
    // pairSequenceLogps takes this path only where no row is longer than the window, so that
    // the window closes nothing either way (as for the Llama family's sliding layers).
    return forwardLayers(ids, attentionMask, cache, positions);
}

torch::Tensor Gemma3ForCausalLM::forwardLayers(const torch::Tensor& ids, const torch::Tensor& attentionMask,
                                               KVCache* cache, const torch::Tensor& positions) {
    TORCH_CHECK(ids.dim() == 2, "ids must be (B,T)");
    if (positions.defined()) TORCH_CHECK(positions.sizes() == ids.sizes(), "positions must have the shape of ids");
    const int64_t T = ids.size(1);
    const int64_t past = cache ? cache->length : 0;
    torch::Tensor x = body->embed->forward(ids);
    // √hidden in the weights' type, as transformers' Gemma3TextScaledWordEmbedding does.
    x = x * torch::tensor(std::sqrt(double(config_.hiddenSize)), x.options());

    const RotaryTables global = rotaryTables(globalInvFreq_, T, past, positions, ids.device(), x.scalar_type());
    const RotaryTables local = rotaryTables(localInvFreq_, T, past, positions, ids.device(), x.scalar_type());
    const torch::Tensor full = detail::attentionBias(ids, attentionMask, cache, std::nullopt, x.scalar_type());
    // The sliding layers' bias: the full one, closed for keys `window` or more positions back.
    const torch::Tensor windowed =
        config_.slidingWindow ? detail::restrictToWindow(full, past, *config_.slidingWindow) : full;
    for (auto& layer : body->layers)
        x = layer->forward(x, layer->sliding ? local : global, layer->sliding ? windowed : full, cache);
    if (cache) cache->length += T;
    return body->norm->forward(x);
}

torch::Tensor Gemma3ForCausalLM::lmHead(const torch::Tensor& hidden) {
    torch::Tensor logits =
        head ? head->forward(hidden) : torch::nn::functional::linear(hidden, body->embed->weight);
    if (config_.finalLogitSoftcap) {
        const double cap = *config_.finalLogitSoftcap;
        logits = torch::tanh(logits / cap) * cap;
    }
    return logits;
}

}  // namespace dpowb::model
