#include "model/llama.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "model/architectures.h"
#include "model/attention.h"

namespace dpowb::model {

namespace names = llama_names;

RMSNormImpl::RMSNormImpl(int64_t size, double eps) : eps_(eps) {
    weight = register_parameter(kWeight, torch::ones({size}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
    torch::Tensor h = x.to(detail::computeType(x));
    h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps_);
    return weight * h.to(x.scalar_type());
}

torch::Tensor ropeInverseFrequencies(const ModelConfig& c) {
    const int64_t D = c.headDim;
    torch::Tensor exponents = torch::arange(0, D, 2, torch::kInt64).to(torch::kFloat32) / double(D);
    torch::Tensor invFreq = 1.0 / torch::pow(torch::tensor(c.ropeTheta, torch::kFloat32), exponents);
    if (c.ropeScalingJson.empty()) return invFreq;
    auto rs = nlohmann::json::parse(c.ropeScalingJson);
    std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
    if (type == "linear") return invFreq / rs.at("factor").get<double>();
    if (type != "llama3") return invFreq;
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, and the band in
    // between interpolated smoothly.
    const double factor = rs.at("factor").get<double>();
    const double lowFreqFactor = rs.at("low_freq_factor").get<double>();
    const double highFreqFactor = rs.at("high_freq_factor").get<double>();
    const double oldContext = rs.at("original_max_position_embeddings").get<double>();
    const double lowFreqWavelen = oldContext / lowFreqFactor;
    const double highFreqWavelen = oldContext / highFreqFactor;
    torch::Tensor wavelen = 2.0 * M_PI / invFreq;
    torch::Tensor scaled = torch::where(wavelen > lowFreqWavelen, invFreq / factor, invFreq);
    torch::Tensor smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    torch::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    torch::Tensor medium = (wavelen >= highFreqWavelen) & (wavelen <= lowFreqWavelen);
    return torch::where(medium, smoothed, scaled);
}

namespace {

torch::Tensor rotateHalf(const torch::Tensor& x) {
    const int64_t half = x.size(-1) / 2;
    return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

// x (B,N,T,D), cos/sin (T,D) or (B,1,T,D)
torch::Tensor applyRope(const torch::Tensor& x, const RotaryTables& rope) {
    return x * rope.cos + rotateHalf(x) * rope.sin;
}

RotaryTables rotaryTables(const torch::Tensor& invFreqCpu, int64_t T, int64_t past, const torch::Tensor& positions,
                          torch::Device device, torch::ScalarType dtype) {
    const auto floatOpts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    torch::Tensor invFreq = invFreqCpu.to(device);
    torch::Tensor emb;
    if (positions.defined()) {
        torch::Tensor freqs = positions.to(floatOpts).unsqueeze(-1) * invFreq;  // (B,T,D/2)
        emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                       // (B,1,T,D)
    } else {
        torch::Tensor freqs = torch::outer(torch::arange(past, past + T, floatOpts), invFreq);  // (T,D/2)
        emb = torch::cat({freqs, freqs}, -1);                                                   // (T,D)
    }
    return RotaryTables{emb.cos().to(dtype), emb.sin().to(dtype)};
}

LlamaAttentionImpl::LlamaAttentionImpl(const ModelConfig& c, size_t layerIndex)
    : H_(c.numHeads), K_(c.numKvHeads), D_(c.headDim), layer_(layerIndex) {
    q = register_module(names::kQ, Linear(c.hiddenSize, H_ * D_, c.attentionBias));
    k = register_module(names::kK, Linear(c.hiddenSize, K_ * D_, c.attentionBias));
    v = register_module(names::kV, Linear(c.hiddenSize, K_ * D_, c.attentionBias));
    o = register_module(names::kO, Linear(H_ * D_, c.hiddenSize, c.outputBias));
    if (c.qkNorm) {
        qNorm = register_module(names::kQNorm, RMSNorm(D_, c.normEps));
        kNorm = register_module(names::kKNorm, RMSNorm(D_, c.normEps));
    }
    rotates = layerIndex >= c.ropeLayers.size() || c.ropeLayers[layerIndex];
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias,
                                          KVCache* cache) {
    const int64_t B = x.size(0), T = x.size(1);
    torch::Tensor qs = q->forward(x).view({B, T, H_, D_});  // (B,T,H,D)
    torch::Tensor ks = k->forward(x).view({B, T, K_, D_});  // (B,T,K,D)
    if (qNorm) {  // over each head's D values
        qs = qNorm->forward(qs);
        ks = kNorm->forward(ks);
    }
    qs = qs.transpose(1, 2);  // (B,H,T,D)
    ks = ks.transpose(1, 2);  // (B,K,T,D)
    torch::Tensor vs = v->forward(x).view({B, T, K_, D_}).transpose(1, 2);  // (B,K,T,D)
    if (rotates) {  // a NoPE layer caches its keys unrotated, as transformers does
        qs = applyRope(qs, rope);
        ks = applyRope(ks, rope);
    }
    std::tie(ks, vs) = detail::extendCache(cache, layer_, ks, vs);  // (B,K,S,D)
    torch::Tensor out = detail::attend(qs, ks, vs, bias);             // (B,H,T,D)
    return o->forward(out.transpose(1, 2).reshape({B, T, H_ * D_}));
}

LlamaMlpImpl::LlamaMlpImpl(const ModelConfig& c) {
    gate = register_module(names::kGate, Linear(c.hiddenSize, c.intermediateSize, c.mlpBias));
    up = register_module(names::kUp, Linear(c.hiddenSize, c.intermediateSize, c.mlpBias));
    down = register_module(names::kDown, Linear(c.intermediateSize, c.hiddenSize, c.mlpBias));
}

torch::Tensor LlamaMlpImpl::forward(const torch::Tensor& x) {
    return down->forward(torch::silu(gate->forward(x)) * up->forward(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const ModelConfig& c, size_t layerIndex) {
    attention = register_module(names::kAttention, LlamaAttention(c, layerIndex));
    mlp = register_module(names::kMlp, LlamaMlp(c));
    inputNorm = register_module(names::kInputNorm, RMSNorm(c.hiddenSize, c.normEps));
    postAttentionNorm = register_module(names::kPostAttentionNorm, RMSNorm(c.hiddenSize, c.normEps));
    sliding = layerIndex < c.slidingLayers.size() && c.slidingLayers[layerIndex];
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const RotaryTables& rope, const torch::Tensor& bias,
                                             KVCache* cache) {
    torch::Tensor h = x + attention->forward(inputNorm->forward(x), rope, bias, cache);
    return h + mlp->forward(postAttentionNorm->forward(h));
}

LlamaBodyImpl::LlamaBodyImpl(const ModelConfig& c) {
    embed = register_module(names::kEmbed, torch::nn::Embedding(c.vocabSize, c.hiddenSize));
    layerList = register_module(names::kLayers, torch::nn::ModuleList());
    for (int64_t l = 0; l < c.numLayers; ++l) {
        layers.push_back(LlamaDecoderLayer(c, size_t(l)));
        layerList->push_back(layers.back());
    }
    norm = register_module(names::kFinalNorm, RMSNorm(c.hiddenSize, c.normEps));
}

LlamaForCausalLM::LlamaForCausalLM(ModelConfig config) : CausalLM(std::move(config)) {
    body = register_module(names::kModel, LlamaBody(config_));
    if (!config_.tieWordEmbeddings) head = register_module(names::kHead, Linear(config_.hiddenSize, config_.vocabSize, false));
    invFreq_ = ropeInverseFrequencies(config_);
}

torch::Tensor LlamaForCausalLM::hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache) {
    return hiddenAt(ids, attentionMask, cache, torch::Tensor());
}

torch::Tensor LlamaForCausalLM::hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                                         const torch::Tensor& positions) {
    TORCH_CHECK(ids.dim() == 2, "ids must be (B,T)");
    const int64_t T = ids.size(1);
    const int64_t past = cache ? cache->length : 0;
    torch::Tensor x = body->embed->forward(ids);  // (B,T,C)

    if (positions.defined()) TORCH_CHECK(positions.sizes() == ids.sizes(), "positions must have the shape of ids");
    const RotaryTables rope = rotaryTables(invFreq_, T, past, positions, ids.device(), x.scalar_type());

    // Every layer slides (Mistral) or those slidingLayers names do (SmolLM3), the others seeing
    // every earlier key. With explicit positions the window counts key indices, which
    // pairSequenceLogps allows only where no row is longer than the window.
    const bool perLayer = !config_.slidingLayers.empty();
    const torch::Tensor bias =
        detail::attentionBias(ids, attentionMask, cache, perLayer ? std::nullopt : config_.slidingWindow, x.scalar_type());
    const torch::Tensor windowed =
        perLayer && config_.slidingWindow ? detail::restrictToWindow(bias, past, *config_.slidingWindow) : bias;
    for (auto& layer : body->layers) x = layer->forward(x, rope, layer->sliding ? windowed : bias, cache);
    if (cache) cache->length += T;
    return body->norm->forward(x);
}

torch::Tensor LlamaForCausalLM::lmHead(const torch::Tensor& hidden) {
    if (head) return head->forward(hidden);
    return torch::nn::functional::linear(hidden, body->embed->weight);
}

}  // namespace dpowb::model
