// Model engine speed on this machine: the measured matrix-multiply peak, then forward
// tokens/s and achieved GFLOP/s for builtin:tiny and a ~100M-parameter Llama, a training-style
// forward+backward of sequence log-probs, and KV-cache decoding tokens/s.
//
// usage: bench_model [--only tiny|100m] [--batch B] [--seq T] [--reps N]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "model/logprobs.h"
#include "model/model.h"

using namespace dpowb::model;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double matmulPeak(torch::ScalarType dtype, int64_t n, int reps) {
    auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
    torch::mm(a, b);  // warm-up: thread pools, first-touch
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) torch::mm(a, b);
    double s = seconds(t0, Clock::now());
    return 2.0 * double(n) * double(n) * double(n) * reps / s / 1e9;
}

// Multiply-adds of one forward, ×2: every projection and the LM head once per token
// (embedding lookups are free), plus the two attention products over the full T×T square.
double forwardFlops(const ModelConfig& c, int64_t B, int64_t T) {
    const double C = double(c.hiddenSize), I = double(c.intermediateSize), H = double(c.numHeads),
                 K = double(c.numKvHeads), D = double(c.headDim), L = double(c.numLayers), V = double(c.vocabSize);
    const double perToken = L * (C * H * D + 2 * C * K * D + H * D * C + 3 * C * I) + V * C;
    const double attention = L * 2.0 * double(T) * double(T) * H * D;  // per row: q·kᵀ and p·v
    return 2.0 * (perToken * double(B * T) + attention * double(B));
}

ModelConfig llama100m() {
    ModelConfig c;
    c.architecture = "llama";
    c.modelType = "llama";
    c.vocabSize = 32000;
    c.hiddenSize = 768;
    c.intermediateSize = 2048;
    c.numLayers = 12;
    c.numHeads = 12;
    c.numKvHeads = 4;
    c.headDim = 64;
    c.maxPositions = 2048;
    c.normEps = 1e-5;
    c.tieWordEmbeddings = true;
    return c;
}

void benchModel(const std::string& label, CausalLM& net, int64_t B, int64_t T, int reps, double peak) {
    const ModelConfig& c = net.config();
    auto ids = torch::randint(c.vocabSize, {B, T}, torch::kInt64);
    auto mask = torch::ones({B, T}, torch::kInt64);
    double flops = forwardFlops(c, B, T);
    {
        torch::NoGradGuard ng;
        net.logits(ids, mask);  // warm-up
        auto t0 = Clock::now();
        for (int i = 0; i < reps; ++i) net.logits(ids, mask);
        double s = seconds(t0, Clock::now()) / reps;
        std::printf("%-14s forward          B=%-3lld T=%-4lld %9.0f tokens/s  %7.1f GFLOP/s  (%4.1f%% of peak)  %.3f s/batch\n",
                    label.c_str(), (long long)B, (long long)T, double(B * T) / s, flops / s / 1e9,
                    100.0 * flops / s / 1e9 / peak, s);
    }
    {
        // What a DPO step does with the policy: log-probs of the response half, then backward.
        std::vector<std::pair<std::vector<dpowb::text::TokenId>, std::vector<dpowb::text::TokenId>>> rows;
        for (int64_t b = 0; b < B; ++b) {
            std::vector<dpowb::text::TokenId> all(static_cast<size_t>(T));
            for (int64_t t = 0; t < T; ++t) all[size_t(t)] = dpowb::text::TokenId(ids[b][t].item<int64_t>());
            rows.emplace_back(std::vector<dpowb::text::TokenId>(all.begin(), all.begin() + T / 2),
                              std::vector<dpowb::text::TokenId>(all.begin() + T / 2, all.end()));
        }
        auto batch = collateSequences(rows, 0);
        net.train();
        sequenceLogps(net, batch).logps.sum().backward();  // warm-up
        auto t0 = Clock::now();
        for (int i = 0; i < reps; ++i) {
            net.zero_grad();
            sequenceLogps(net, batch).logps.sum().backward();
        }
        double s = seconds(t0, Clock::now()) / reps;
        net.eval();
        net.zero_grad();
        // Backward costs about twice the forward's products.
        std::printf("%-14s forward+backward B=%-3lld T=%-4lld %9.0f tokens/s  %7.1f GFLOP/s (≈3× forward)  %.3f s/batch\n",
                    label.c_str(), (long long)B, (long long)T, double(B * T) / s, 3.0 * flops / s / 1e9, s);
    }
    {
        torch::NoGradGuard ng;
        const int64_t prompt = 32, steps = 64;
        auto p = torch::randint(c.vocabSize, {1, prompt}, torch::kInt64);
        KVCache cache;
        auto logits = net.logits(p, {}, &cache);
        auto next = logits.select(1, prompt - 1).argmax(-1, true);
        auto t0 = Clock::now();
        for (int64_t i = 0; i < steps; ++i) {
            logits = net.logits(next, {}, &cache);
            next = logits.select(1, 0).argmax(-1, true);
        }
        double s = seconds(t0, Clock::now());
        std::printf("%-14s KV-cache decode  B=1   prompt=%lld %9.1f tokens/s  (%.1f ms/token)\n", label.c_str(),
                    (long long)prompt, double(steps) / s, 1000.0 * s / double(steps));
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string only;
    int64_t B = 8, T = 256;
    int reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!std::strcmp(argv[i], "--batch")) B = std::stoll(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seq")) T = std::stoll(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--reps")) reps = std::stoi(argv[i + 1]);
    }
    torch::manual_seed(0);
    std::string config = torch::show_config();
    for (const char* key : {"BLAS_INFO", "LAPACK_INFO", "USE_OPENMP", "USE_MKLDNN", "CPU capability"}) {
        auto at = config.find(key);
        if (at != std::string::npos) {
            auto end = config.find_first_of(",\n", at);
            std::printf("%s\n", config.substr(at, end - at).c_str());
        }
    }
    std::printf("ATen threads: %d\n", at::get_num_threads());
    const double peak = matmulPeak(torch::kFloat32, 2048, 5);
    std::printf("matmul peak float32 2048^3: %.1f GFLOP/s\n", peak);
    std::printf("matmul bfloat16 2048^3:     %.1f GFLOP/s\n\n", matmulPeak(torch::kBFloat16, 2048, 5));

    if (only.empty() || only == "tiny") {
        auto tiny = builtinTiny({"cpu", "float32", ""});
        std::printf("builtin:tiny: %lld parameters\n", (long long)tiny->config.parameterCount());
        benchModel("builtin:tiny", *tiny->net, B, T, reps, peak);
    }
    if (only.empty() || only == "100m") {
        ModelConfig c = llama100m();
        auto net = createModelNet(c);
        initializeWeights(*net, 1);
        net->eval();
        std::printf("llama-100m: %lld parameters\n", (long long)c.parameterCount());
        benchModel("llama-100m", *net, B, T, std::max(1, reps / 2), peak);
    }
    return 0;
}
