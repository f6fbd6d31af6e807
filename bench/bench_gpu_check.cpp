// bench_gpu_check: the numerical half of scripts/gpu-check.sh, one JSON line on stdout.
//  - parity: float32 sequence log-probs of random small Llama, Qwen2 and GPT-2 networks on the
//    CPU and on --device (the same weights moved), over padded pairs of varied lengths: the
//    largest absolute difference per architecture (both paths: plain batch and shared prompts);
//  - bf16_step: one DPO step (live reference) under bfloat16 autocast against the float32 step
//    on --device: loss difference and the relative L2 distance of the gradients.
// With --device cpu the "device" side is the CPU too (a dry run of the code paths).
//
// usage: bench_gpu_check [--device cuda|cpu]
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "model/cuda_runtime.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "train/dpo_step.h"
#include "train/mixed_precision.h"

using namespace dpowb;

namespace {

model::ModelConfig smallConfig(const std::string& kind) {
    model::ModelConfig c = model::builtinTinyConfig(300);
    c.hiddenSize = 96;
    c.intermediateSize = 256;
    c.numLayers = 3;
    c.numHeads = 6;
    c.numKvHeads = 2;
    c.headDim = 16;
    c.maxPositions = 128;
    if (kind == "qwen2") {
        c.modelType = "qwen2";
        c.attentionBias = true;
        c.tieWordEmbeddings = false;
        c.ropeTheta = 1000000.0;
    } else if (kind == "gpt2") {
        c.architecture = "gpt2";
        c.modelType = "gpt2";
        c.numKvHeads = c.numHeads;
        c.intermediateSize = 4 * c.hiddenSize;
        c.hiddenAct = "gelu_new";
        c.attentionBias = c.outputBias = c.mlpBias = true;
    }
    return c;
}

std::vector<model::EncodedPair> randomPairs(int n, int64_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto ids = [&](int len) {
        std::vector<text::TokenId> v;
        for (int i = 0; i < len; ++i) v.push_back(text::TokenId(rng() % uint64_t(vocab)));
        return v;
    };
    std::vector<model::EncodedPair> out;
    for (int i = 0; i < n; ++i) {
        model::EncodedPair p;
        p.prompt = ids(3 + int(rng() % 20));
        p.chosen = ids(2 + int(rng() % 30));
        p.rejected = ids(2 + int(rng() % 30));
        out.push_back(std::move(p));
    }
    return out;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

int main(int argc, char** argv) {
    std::string deviceName = "cuda";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--device" && i + 1 < argc) deviceName = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_gpu_check [--device cuda|cpu]\n");
            return 2;
        }
    }
    try {
        const torch::Device device = model::resolveDevice(deviceName);
        std::string out = "{\"device\": \"" + device.str() + "\", \"cuda_backend\": \"" + model::cudaBackendStatus() +
                          "\", \"parity\": {";
        // Parity: the same float32 weights on the CPU and on the device.
        bool first = true;
        for (const std::string kind : {"llama", "qwen2", "gpt2"}) {
            const model::ModelConfig c = smallConfig(kind);
            auto cpu = model::createModelNet(c);
            model::initializeWeights(*cpu, 7, 0.2);
            cpu->eval();
            auto dev = model::createModelNet(c);
            model::initializeWeights(*dev, 7, 0.2);
            dev->to(device);
            dev->eval();
            auto pairs = randomPairs(8, c.vocabSize, 3);
            std::vector<const model::EncodedPair*> ptrs;
            for (const auto& p : pairs) ptrs.push_back(&p);
            torch::NoGradGuard ng;
            const auto batch = model::collatePairs(ptrs, 0);
            const double plain = maxAbsDiff(model::sequenceLogps(*cpu, batch).logps, model::sequenceLogps(*dev, batch).logps);
            const auto a = model::pairSequenceLogps(*cpu, ptrs, 0).logps;
            const double shared = maxAbsDiff(a, model::pairSequenceLogps(*dev, ptrs, 0).logps);
            const double scale = a.abs().max().item<double>();
            char buf[256];
            std::snprintf(buf, sizeof buf, "%s\"%s\": {\"max_abs_diff\": %.3g, \"max_abs_diff_shared_prompts\": %.3g, \"max_abs_logp\": %.4g}",
                          first ? "" : ", ", kind.c_str(), plain, shared, scale);
            out += buf;
            first = false;
        }
        out += "}";

        // One DPO step, bfloat16 autocast against float32, on the device.
        auto step = [&](const train::MixedPrecision& mp, std::vector<torch::Tensor>& grads) {
            const model::ModelConfig c = smallConfig("llama");
            auto policy = model::createModelNet(c);
            model::initializeWeights(*policy, 11, 0.2);
            policy->to(device);
            policy->train();
            auto reference = model::createModelNet(c);
            model::initializeWeights(*reference, 12, 0.2);
            reference->to(device);
            reference->eval();
            auto pairs = randomPairs(8, c.vocabSize, 5);
            train::MicroBatch mb;
            for (const auto& p : pairs) mb.pairs.push_back(&p);
            train::LossOptions lo;
            lo.beta = 0.5;
            train::ReferenceSource ref{reference.get(), false, false};
            const double loss = train::accumulateStep(*policy, ref, {mb}, lo, 0, nullptr, true, mp).loss;
            for (auto& p : policy->parameters()) grads.push_back(p.grad().to(torch::kCPU, torch::kFloat64));
            return loss;
        };
        std::vector<torch::Tensor> g32, g16;
        const double l32 = step({}, g32);
        const double l16 = step({true, device.type(), torch::kBFloat16}, g16);
        double num = 0, den = 0;
        for (size_t i = 0; i < g32.size(); ++i) {
            num += (g16[i] - g32[i]).pow(2).sum().item<double>();
            den += g32[i].pow(2).sum().item<double>();
        }
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      ", \"bf16_step\": {\"loss_float32\": %.6f, \"loss_bf16\": %.6f, \"loss_abs_diff\": %.3g, "
                      "\"grad_rel_l2\": %.3g}}",
                      l32, l16, std::abs(l16 - l32), std::sqrt(num / den));
        out += buf;
        std::printf("%s\n", out.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_gpu_check: %s\n", e.what());
        return 1;
    }
    return 0;
}
