#include "model/attention.h"

#include <limits>

#include "common/error.h"

namespace dpowb::model::detail {

torch::Tensor attentionBias(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                            std::optional<int64_t> slidingWindow, torch::ScalarType dtype) {
    const int64_t B = ids.size(0), T = ids.size(1);
    const int64_t past = cache ? cache->length : 0;
    const int64_t S = past + T;
    auto dev = ids.device();
    auto longOpts = torch::TensorOptions().dtype(torch::kInt64).device(dev);

    // The key padding mask over all S positions (undefined = no padding anywhere).
    torch::Tensor keyMask;
    if (attentionMask.defined()) {
        if (attentionMask.dim() != 2 || attentionMask.size(0) != B ||
            (attentionMask.size(1) != T && attentionMask.size(1) != S))
            throw Error("attention mask has shape " + c10::str(attentionMask.sizes()) + "; expected (" +
                        std::to_string(B) + ", " + std::to_string(T) + ") or (" + std::to_string(B) + ", " +
                        std::to_string(S) + ")");
        torch::Tensor m = attentionMask.to(dev, torch::kInt64);
        if (m.size(1) == S) {
            keyMask = m;
        } else if (past > 0) {
            torch::Tensor old = cache->mask.defined() ? cache->mask : torch::ones({B, past}, longOpts);
            keyMask = torch::cat({old, m}, 1);
        } else {
            keyMask = m;
        }
    } else if (cache && cache->mask.defined()) {
        keyMask = torch::cat({cache->mask, torch::ones({B, T}, longOpts)}, 1);
    }
    if (cache) cache->mask = keyMask;

    torch::Tensor qpos = torch::arange(past, S, longOpts).unsqueeze(1);  // (T,1)
    torch::Tensor kpos = torch::arange(0, S, longOpts).unsqueeze(0);     // (1,S)
    torch::Tensor allowed = (kpos <= qpos).view({1, 1, T, S});
    if (keyMask.defined()) allowed = allowed & keyMask.to(torch::kBool).view({B, 1, 1, S});
    torch::Tensor bias = torch::zeros({B, 1, T, S}, torch::TensorOptions().dtype(dtype).device(dev))
                             .masked_fill(allowed.logical_not(), closedBias(dtype));
    return slidingWindow ? restrictToWindow(bias, past, *slidingWindow) : bias;
}

double closedBias(torch::ScalarType dtype) {
    return dtype == torch::kFloat64    ? std::numeric_limits<double>::lowest()
           : dtype == torch::kFloat16  ? -65504.0
           : dtype == torch::kBFloat16 ? -3.3895313892515355e38
                                       : double(std::numeric_limits<float>::lowest());
}

torch::Tensor restrictToWindow(const torch::Tensor& bias, int64_t past, int64_t window) {
    const int64_t T = bias.size(2), S = bias.size(3);
    const auto longOpts = torch::TensorOptions().dtype(torch::kInt64).device(bias.device());
    torch::Tensor qpos = torch::arange(past, past + T, longOpts).unsqueeze(1);  // (T,1)
    torch::Tensor kpos = torch::arange(0, S, longOpts).unsqueeze(0);            // (1,S)
    torch::Tensor outside = ((qpos - kpos) >= window).view({1, 1, T, S});
    return bias.masked_fill(outside, closedBias(bias.scalar_type()));
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& bias,
                     std::optional<double> scale) {
    // One fused kernel on CPU and CUDA alike (flash-style on the CPU: no (B,H,T,S) score tensor
    // is kept for backward); enable_gqa lets each key/value head serve its H/K query heads
    // without expanding k and v. On this CPU it is ~2x faster than the explicit
    // baddbmm-softmax-bmm form (tests/model/tst_attention.cpp keeps that form as the reference).
    return at::scaled_dot_product_attention(q, k, v, bias, /*dropout_p=*/0.0, /*is_causal=*/false,
                                            scale, /*enable_gqa=*/q.size(1) != k.size(1));
}

std::pair<torch::Tensor, torch::Tensor> extendCache(KVCache* cache, size_t layer, const torch::Tensor& k,
                                                    const torch::Tensor& v) {
    if (!cache) return {k, v};
    if (cache->k.size() <= layer) {
        cache->k.resize(layer + 1);
        cache->v.resize(layer + 1);
    }
    if (cache->k[layer].defined()) {
        cache->k[layer] = torch::cat({cache->k[layer], k}, 2);
        cache->v[layer] = torch::cat({cache->v[layer], v}, 2);
    } else {
        cache->k[layer] = k;
        cache->v[layer] = v;
    }
    return {cache->k[layer], cache->v[layer]};
}

}  // namespace dpowb::model::detail
