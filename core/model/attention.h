// Attention pieces shared by the architectures (internal to core/model).
#pragma once

#include <torch/torch.h>

#include <optional>

#include "model/model.h"

namespace dpowb::model::detail {

// The additive attention bias for T new query positions after `past` cached ones:
// (B,1,T,past+T) of `dtype`, broadcast over the heads; 0 where query i may
// see key j (causal, key not padding, and within the sliding window when there is one), the
// dtype's lowest value elsewhere.
// A finite value instead of -inf keeps rows that see nothing (all-padding rows) free of NaN.
// Updates cache->mask with the new positions' key mask.
torch::Tensor attentionBias(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                            std::optional<int64_t> slidingWindow, torch::ScalarType dtype);

// The bias of a closed position: the dtype's lowest finite value.
double closedBias(torch::ScalarType dtype);

// `bias` (of attentionBias, for the T queries after `past` cached positions) with the keys
// `window` or more positions behind each query closed as well: a sliding-window layer's bias.
torch::Tensor restrictToWindow(const torch::Tensor& bias, int64_t past, int64_t window);

// softmax(q·kᵀ/√D + bias)·v with q (B,H,T,D), k/v (B,K,S,D), H a multiple of K (grouped-query
// attention: each KV head serves H/K query heads): at::scaled_dot_product_attention.
// `scale` replaces 1/√D (Gemma 3: query_pre_attn_scalar^-1/2).
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& bias,
                     std::optional<double> scale = std::nullopt);

// Appends the new keys/values of `layer` to the cache and returns the full ones.
std::pair<torch::Tensor, torch::Tensor> extendCache(KVCache* cache, size_t layer, const torch::Tensor& k,
                                                    const torch::Tensor& v);

// float32 unless the input is float64: norms and softmax run at least in float32.
inline torch::ScalarType computeType(const torch::Tensor& x) {
    return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

}  // namespace dpowb::model::detail
