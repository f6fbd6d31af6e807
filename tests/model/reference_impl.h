// A second, deliberately naive implementation of the Llama and GPT-2 forward passes for the
// tests: one position and one head at a time, float64, written from the architecture
// descriptions (transformers' modeling_llama / modeling_gpt2), sharing no code with
// core/model beyond reading the parameters by their checkpoint names.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "model/config.h"

namespace reference {

using Params = std::map<std::string, torch::Tensor>;

inline Params paramsOf(const torch::nn::Module& net) {
    Params p;
    for (const auto& item : net.named_parameters()) p[item.key()] = item.value().detach().to(torch::kFloat64);
    return p;
}

inline torch::Tensor get(const Params& p, const std::string& name) {
    auto it = p.find(name);
    if (it == p.end()) throw std::runtime_error("reference: no parameter " + name);
    return it->second;
}

inline bool has(const Params& p, const std::string& name) { return p.count(name) > 0; }

// y = W·x + b for a (out,in) weight.
inline torch::Tensor affine(const Params& p, const std::string& base, const torch::Tensor& x) {
    torch::Tensor y = torch::mv(get(p, base + ".weight"), x);
    if (has(p, base + ".bias")) y = y + get(p, base + ".bias");
    return y;
}

inline torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
    double ms = 0;
    for (int64_t i = 0; i < x.size(0); ++i) ms += x[i].item<double>() * x[i].item<double>();
    ms /= double(x.size(0));
    return w * (x / std::sqrt(ms + eps));
}

// Rotary frequencies, recomputed from the config in double precision.
inline std::vector<double> inverseFrequencies(const dpowb::model::ModelConfig& c, double factor = 1, double low = 0,
                                              double high = 0, double oldContext = 0) {
    std::vector<double> f;
    for (int64_t i = 0; i < c.headDim; i += 2) {
        double inv = 1.0 / std::pow(c.ropeTheta, double(i) / double(c.headDim));
        if (oldContext > 0) {  // llama3 scaling
            double wavelen = 2 * M_PI / inv;
            if (wavelen > oldContext / low) {
                inv = inv / factor;
            } else if (wavelen >= oldContext / high) {
                double s = (oldContext / wavelen - low) / (high - low);
                inv = (1 - s) * inv / factor + s * inv;
            }
        }
        f.push_back(inv);
    }
    return f;
}

// Rotates the pairs (i, i + D/2) of one head vector by position·freq[i].
inline torch::Tensor rope(const torch::Tensor& v, int64_t pos, const std::vector<double>& freq) {
    const int64_t D = v.size(0), half = D / 2;
    torch::Tensor out = v.clone();
    for (int64_t i = 0; i < half; ++i) {
        double a = v[i].item<double>(), b = v[i + half].item<double>();
        double angle = double(pos) * freq[size_t(i)];
        out[i] = a * std::cos(angle) - b * std::sin(angle);
        out[i + half] = b * std::cos(angle) + a * std::sin(angle);
    }
    return out;
}

// Logits (T,V) of one unpadded sequence under a Llama-family model. `window` > 0: a query sees
// the last `window` keys only, on every layer, or on those c.slidingLayers names when it names
// any (SmolLM3); c.ropeLayers' false entries (SmolLM3's NoPE layers) rotate nothing.
inline torch::Tensor llamaLogits(const dpowb::model::ModelConfig& c, const Params& p, const std::vector<int64_t>& ids,
                                 const std::vector<double>& freq, int64_t window = 0) {
    const auto T = int64_t(ids.size());
    const int64_t H = c.numHeads, K = c.numKvHeads, D = c.headDim, group = H / K;
    std::vector<torch::Tensor> x;
    for (auto id : ids) x.push_back(get(p, "model.embed_tokens.weight")[id].clone());
    for (int64_t l = 0; l < c.numLayers; ++l) {
        const std::string L = "model.layers." + std::to_string(l);
        const auto layer = static_cast<size_t>(l);
        const bool rotates = c.ropeLayers.empty() || c.ropeLayers[layer];
        const int64_t layerWindow = c.slidingLayers.empty() || c.slidingLayers[layer] ? window : 0;
        auto rotated = [&](const torch::Tensor& head, int64_t pos) { return rotates ? rope(head, pos, freq) : head; };
        const auto n = static_cast<size_t>(T);
        std::vector<torch::Tensor> q(n), k(n), v(n);
        for (int64_t t = 0; t < T; ++t) {
            torch::Tensor h = rmsNorm(x[size_t(t)], get(p, L + ".input_layernorm.weight"), c.normEps);
            q[size_t(t)] = affine(p, L + ".self_attn.q_proj", h);
            k[size_t(t)] = affine(p, L + ".self_attn.k_proj", h);
            v[size_t(t)] = affine(p, L + ".self_attn.v_proj", h);
        }
        std::vector<torch::Tensor> next;
        for (int64_t t = 0; t < T; ++t) {
            std::vector<torch::Tensor> heads;
            for (int64_t hd = 0; hd < H; ++hd) {
                const int64_t g = hd / group;  // the key/value head this query head reads
                torch::Tensor qh = rotated(q[size_t(t)].slice(0, hd * D, (hd + 1) * D), t);
                std::vector<double> scores;
                std::vector<int64_t> keys;
                for (int64_t j = 0; j <= t; ++j) {
                    if (layerWindow > 0 && t - j >= layerWindow) continue;
                    torch::Tensor kh = rotated(k[size_t(j)].slice(0, g * D, (g + 1) * D), j);
                    scores.push_back(torch::dot(qh, kh).item<double>() / std::sqrt(double(D)));
                    keys.push_back(j);
                }
                double mx = *std::max_element(scores.begin(), scores.end()), z = 0;
                for (double s : scores) z += std::exp(s - mx);
                torch::Tensor out = torch::zeros({D}, torch::kFloat64);
                for (size_t n = 0; n < keys.size(); ++n)
                    out = out + std::exp(scores[n] - mx) / z * v[size_t(keys[n])].slice(0, g * D, (g + 1) * D);
                heads.push_back(out);
            }
            torch::Tensor a = x[size_t(t)] + affine(p, L + ".self_attn.o_proj", torch::cat(heads));
            torch::Tensor h2 = rmsNorm(a, get(p, L + ".post_attention_layernorm.weight"), c.normEps);
            torch::Tensor gate = affine(p, L + ".mlp.gate_proj", h2);
            torch::Tensor up = affine(p, L + ".mlp.up_proj", h2);
            torch::Tensor silu = gate / (1 + torch::exp(-gate));
            next.push_back(a + affine(p, L + ".mlp.down_proj", silu * up));
        }
        x = next;
    }
    const std::string head = has(p, "lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
    std::vector<torch::Tensor> rows;
    for (int64_t t = 0; t < T; ++t)
        rows.push_back(torch::mv(get(p, head), rmsNorm(x[size_t(t)], get(p, "model.norm.weight"), c.normEps)));
    return torch::stack(rows);
}

inline torch::Tensor layerNorm(const torch::Tensor& x, const Params& p, const std::string& base, double eps) {
    const double n = double(x.size(0));
    double mean = x.sum().item<double>() / n;
    double var = ((x - mean) * (x - mean)).sum().item<double>() / n;
    return (x - mean) / std::sqrt(var + eps) * get(p, base + ".weight") + get(p, base + ".bias");
}

// Conv1D: weight (in,out), y = x·W + b.
inline torch::Tensor conv1d(const Params& p, const std::string& base, const torch::Tensor& x) {
    return torch::mv(get(p, base + ".weight").t(), x) + get(p, base + ".bias");
}

inline torch::Tensor gpt2Logits(const dpowb::model::ModelConfig& c, const Params& p, const std::vector<int64_t>& ids) {
    const auto T = int64_t(ids.size());
    const int64_t H = c.numHeads, D = c.headDim, C = c.hiddenSize;
    std::vector<torch::Tensor> x;
    for (int64_t t = 0; t < T; ++t)
        x.push_back(get(p, "transformer.wte.weight")[ids[size_t(t)]] + get(p, "transformer.wpe.weight")[t]);
    for (int64_t l = 0; l < c.numLayers; ++l) {
        const std::string L = "transformer.h." + std::to_string(l);
        std::vector<torch::Tensor> qkv;
        for (int64_t t = 0; t < T; ++t) qkv.push_back(conv1d(p, L + ".attn.c_attn", layerNorm(x[size_t(t)], p, L + ".ln_1", c.normEps)));
        std::vector<torch::Tensor> next;
        for (int64_t t = 0; t < T; ++t) {
            std::vector<torch::Tensor> heads;
            for (int64_t hd = 0; hd < H; ++hd) {
                torch::Tensor q = qkv[size_t(t)].slice(0, hd * D, (hd + 1) * D);
                std::vector<double> s;
                for (int64_t j = 0; j <= t; ++j)
                    s.push_back(torch::dot(q, qkv[size_t(j)].slice(0, C + hd * D, C + (hd + 1) * D)).item<double>() /
                                std::sqrt(double(D)));
                double mx = *std::max_element(s.begin(), s.end()), z = 0;
                for (double e : s) z += std::exp(e - mx);
                torch::Tensor out = torch::zeros({D}, torch::kFloat64);
                for (int64_t j = 0; j <= t; ++j)
                    out = out + std::exp(s[size_t(j)] - mx) / z * qkv[size_t(j)].slice(0, 2 * C + hd * D, 2 * C + (hd + 1) * D);
                heads.push_back(out);
            }
            torch::Tensor a = x[size_t(t)] + conv1d(p, L + ".attn.c_proj", torch::cat(heads));
            torch::Tensor f = conv1d(p, L + ".mlp.c_fc", layerNorm(a, p, L + ".ln_2", c.normEps));
            torch::Tensor g = 0.5 * f * (1 + torch::tanh(std::sqrt(2 / M_PI) * (f + 0.044715 * f * f * f)));
            next.push_back(a + conv1d(p, L + ".mlp.c_proj", g));
        }
        x = next;
    }
    const std::string head = has(p, "lm_head.weight") ? "lm_head.weight" : "transformer.wte.weight";
    std::vector<torch::Tensor> rows;
    for (int64_t t = 0; t < T; ++t)
        rows.push_back(torch::mv(get(p, head), layerNorm(x[size_t(t)], p, "transformer.ln_f", c.normEps)));
    return torch::stack(rows);
}

}  // namespace reference
