#include "model/attention.h"

#include <cmath>
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
    torch::Tensor allowed = kpos <= qpos;
    if (slidingWindow) allowed = allowed & ((qpos - kpos) < *slidingWindow);
    allowed = allowed.view({1, 1, T, S});
    if (keyMask.defined()) allowed = allowed & keyMask.to(torch::kBool).view({B, 1, 1, S});
    double lowest = dtype == torch::kFloat64   ? std::numeric_limits<double>::lowest()
                    : dtype == torch::kFloat16 ? -65504.0
                    : dtype == torch::kBFloat16 ? -3.3895313892515355e38
                                                : double(std::numeric_limits<float>::lowest());
    return torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(dtype).device(dev))
        .masked_fill(allowed.logical_not(), lowest);
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& kIn, const torch::Tensor& vIn, const torch::Tensor& bias) {
    const int64_t B = q.size(0), H = q.size(1), D = q.size(3);
    const int64_t K = kIn.size(1), S = kIn.size(2);
    torch::Tensor k = kIn, v = vIn;
    if (H != K) {
        const int64_t G = H / K;
        k = k.unsqueeze(2).expand({B, K, G, S, D}).reshape({B, H, S, D});
        v = v.unsqueeze(2).expand({B, K, G, S, D}).reshape({B, H, S, D});
    }
#if TORCH_VERSION_MAJOR >= 2
    // Fused kernels on CUDA; the explicit form below is as fast on this CPU and matches
    // transformers' eager attention step for step.
    if (q.is_cuda()) return at::scaled_dot_product_attention(q, k, v, bias, 0.0, false);
#endif
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(D)));  // (B,H,T,S)
    scores = scores + bias;
    torch::Tensor probs = torch::softmax(scores, -1, computeType(q)).to(q.scalar_type());
    return torch::matmul(probs, v);  // (B,H,T,D)
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
