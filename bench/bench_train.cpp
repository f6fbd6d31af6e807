// bench_train: throughput of the DPO training step (tokens/s) for the built-in tiny model, a
// ~25M-parameter Llama and a Llama of Qwen2.5-0.5B's shape (random weights), full fine-tuning
// and LoRA, live and precomputed reference; the share of the measured matmul peak (float32, or
// bfloat16 with --dtype bfloat16); peak RSS. Compare with bench/dpo_step.py (the same step in
// eager PyTorch). See bench/README.md.
//
// usage: bench_train [--model tiny|25m|qwen0.5b] [--seq-len 256] [--batch 4] [--steps 10]
//                    [--lora-rank R] [--precompute-ref] [--peak] [--profile TRACE.json]
//                    [--device cpu|cuda[:N]] [--dtype float32|bfloat16 (autocast)]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <torch/csrc/autograd/profiler_legacy.h>

#include "common/allocator.h"
#include "model/lora.h"
#include "model/model.h"
#include "train/dpo_step.h"
#include "train/mixed_precision.h"

using namespace dpowb;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

double peakRssMb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

// Waits for the device's queued work (a blocking read of one element; a no-op cost on the CPU).
void sync(const torch::Tensor& t) { (void)t.flatten()[0].item<double>(); }

// GEMM throughput of this machine through the same ATen/BLAS (cuBLAS on CUDA), in GFLOP/s.
double matmulPeak(const torch::Device& device, torch::ScalarType dtype) {
    const int64_t n = device.is_cuda() ? 8192 : 1024;
    auto opts = torch::TensorOptions().dtype(dtype).device(device);
    auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
    torch::Tensor c;
    for (int i = 0; i < 3; ++i) c = torch::mm(a, b);
    sync(c);
    double best = 1e30;
    for (int i = 0; i < 10; ++i) {
        auto t = Clock::now();
        c = torch::mm(a, b);
        sync(c);
        best = std::min(best, seconds(t));
    }
    return 2.0 * double(n) * n * n / best / 1e9;
}

model::ModelConfig configOf(const std::string& name) {
    model::ModelConfig c = model::builtinTinyConfig(261);
    if (name == "25m") {
        c.hiddenSize = 512;
        c.intermediateSize = 1408;
        c.numLayers = 8;
        c.numHeads = 8;
        c.numKvHeads = 8;
        c.headDim = 64;
        c.maxPositions = 1024;
    } else if (name == "qwen0.5b") {
        // Qwen2.5-0.5B's shape: 494M parameters, grouped-query attention 14/2, q/k/v biases.
        c.modelType = "qwen2";
        c.vocabSize = 151936;
        c.hiddenSize = 896;
        c.intermediateSize = 4864;
        c.numLayers = 24;
        c.numHeads = 14;
        c.numKvHeads = 2;
        c.headDim = 64;
        c.maxPositions = 32768;
        c.ropeTheta = 1000000.0;
        c.attentionBias = true;
        c.tieWordEmbeddings = true;
    } else if (name != "tiny") {
        throw std::runtime_error("--model must be tiny, 25m or qwen0.5b");
    }
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    std::string modelName = "tiny";
    int64_t seqLen = 256, batch = 4, steps = 10, warmup = 2, loraRank = 0;
    bool precompute = false, peakOnly = false;
    std::string profileFile, deviceName = "cpu", dtypeName = "float32";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--model") modelName = next();
        else if (a == "--seq-len") seqLen = std::stoll(next());
        else if (a == "--batch") batch = std::stoll(next());
        else if (a == "--steps") steps = std::stoll(next());
        else if (a == "--lora-rank") loraRank = std::stoll(next());
        else if (a == "--precompute-ref") precompute = true;
        else if (a == "--peak") peakOnly = true;
        else if (a == "--profile") profileFile = next();
        else if (a == "--device") deviceName = next();
        else if (a == "--dtype") dtypeName = next();
        else {
            std::fprintf(stderr, "bench_train: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    const torch::Device device = model::resolveDevice(deviceName);
    const train::MixedPrecision amp = train::trainingPrecision(dtypeName, device);
    const torch::ScalarType peakType = amp.enabled ? amp.dtype : torch::kFloat32;
    if (peakOnly) {
        std::printf("{\"matmul_gflops\": %.1f, \"device\": \"%s\", \"dtype\": \"%s\"}\n", matmulPeak(device, peakType),
                    device.str().c_str(), dtypeName.c_str());
        return 0;
    }
    retainFreedMemory();  // as the trainer does
    torch::manual_seed(0);
    const model::ModelConfig config = configOf(modelName);
    auto policy = model::createModelNet(config);
    model::initializeWeights(*policy, 1);
    std::shared_ptr<model::CausalLM> reference;
    train::TrainConfig tc;
    tc.data = "bench";
    tc.lr = 1e-4;
    if (loraRank > 0) {
        model::LoraConfig lc;
        lc.rank = loraRank;
        model::applyLora(*policy, lc);
    } else if (!precompute) {
        reference = model::createModelNet(config);
        model::initializeWeights(*reference, 1);
        for (auto& p : reference->parameters()) p.set_requires_grad(false);
        reference->to(device);
        reference->eval();
    }
    policy->to(device);
    policy->train();
    auto optimizer = train::makeOptimizer(*policy, tc);
    auto params = train::trainableParameters(*policy);

    // Prompt a third of the row, both responses filling the rest: no padding, as dpo_step.py.
    std::vector<model::EncodedPair> pairs(static_cast<size_t>(batch));
    auto gen = at::detail::createCPUGenerator(1);
    const int64_t P = seqLen / 3;
    for (auto& p : pairs) {
        auto ids = torch::randint(0, 256, {3, seqLen}, gen, torch::kInt64);
        auto row = [&](int r, int64_t from, int64_t n) {
            std::vector<text::TokenId> v;
            for (int64_t t = 0; t < n; ++t) v.push_back(text::TokenId(ids[r][from + t].item<int64_t>()));
            return v;
        };
        p.prompt = row(0, 0, P);
        p.chosen = row(1, P, seqLen - P);
        p.rejected = row(2, P, seqLen - P);
    }
    train::MicroBatch mb;
    for (auto& p : pairs) mb.pairs.push_back(&p);
    if (precompute) {
        auto refNet = loraRank > 0 ? policy : model::createModelNet(config);
        if (loraRank == 0) {
            model::initializeWeights(*refNet, 1);
            refNet->to(device);
        }
        train::AutocastScope ac(amp);
        mb.cached = train::referenceLogps(*refNet, loraRank > 0, mb.pairs, batch, 0);
    }
    train::ReferenceSource ref{reference.get(), false, false};
    if (loraRank > 0 && !precompute) ref = {policy.get(), true, false};
    auto lossOptions = train::lossOptionsOf(tc);

    std::vector<double> times;
    int64_t tokens = 0;
    for (int64_t s = 0; s < warmup + steps; ++s) {
        // --profile FILE: the last step's operators as a Chrome trace (chrome://tracing).
        std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
        if (!profileFile.empty() && s == warmup + steps - 1)
            profile = std::make_unique<torch::autograd::profiler::RecordProfile>(profileFile);
        auto t = Clock::now();
        optimizer->zero_grad();
        auto out = train::accumulateStep(*policy, ref, {mb}, lossOptions, 0, nullptr, true, amp);
        train::clipGradients(params, 1.0);
        optimizer->step();
        sync(params.back());
        if (s >= warmup) times.push_back(seconds(t));
        tokens = out.realTokens;
    }
    std::sort(times.begin(), times.end());
    const double perStep = times[times.size() / 2];
    int64_t nParams = 0;
    for (const auto& p : policy->parameters()) nParams += p.numel();
    // Matmul FLOPs of a step: policy forward + backward (6·N·tokens), live reference forward
    // (2·N·tokens); with LoRA the frozen base still back-propagates activations (4·N·tokens).
    // Counted over the tokens actually computed: each prompt once (prefix sharing).
    int64_t computed = 0;
    for (const auto& p : pairs) computed += int64_t(p.prompt.size() + p.chosen.size() + p.rejected.size());
    const double fwd = 2.0 * double(nParams) * double(computed);
    const double flops = (loraRank > 0 ? 2.0 * fwd : 3.0 * fwd) + (precompute ? 0.0 : fwd);
    const double peak = matmulPeak(device, peakType);
    std::printf("{\"impl\": \"dpowb-c++\", \"device\": \"%s\", \"dtype\": \"%s\", \"model\": \"%s\", \"params\": %lld, \"lora_rank\": %lld, \"precompute_ref\": %s, "
                "\"seq_len\": %lld, \"pairs\": %lld, \"tokens_per_step\": %lld, \"computed_tokens\": %lld, \"seconds_per_step\": %.4f, "
                "\"tokens_per_second\": %.0f, \"achieved_gflops\": %.1f, \"matmul_peak_gflops\": %.1f, "
                "\"share_of_peak\": %.3f, \"peak_rss_mb\": %.0f, \"aten_threads\": %d}\n",
                device.str().c_str(), dtypeName.c_str(), modelName.c_str(), (long long)nParams, (long long)loraRank, precompute ? "true" : "false",
                (long long)seqLen, (long long)batch, (long long)tokens, (long long)computed, perStep, double(tokens) / perStep,
                flops / perStep / 1e9, peak, flops / perStep / 1e9 / peak, peakRssMb(), at::get_num_threads());
    return 0;
}
