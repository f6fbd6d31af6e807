// The model engine's public face: Hugging Face model folders in and out, the causal LM
// interface the trainer and the generator use, and LoRA switches.
//
// Shape legend used throughout core/model and core/train:
//   B batch rows, T sequence length, C hidden size, V vocabulary, H query heads,
//   K key/value heads, D head dim, L layers.
//
// This header exposes LibTorch types; include it only from .cpp files of the core and the
// CLI, never from ui/ or from widely included headers.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace dpowb::model {

// Per-layer key/value cache for incremental decoding. k[l], v[l]: (B, K, T_cached, D).
struct KVCache {
    std::vector<torch::Tensor> k, v;
    int64_t length = 0;  // positions already cached
    torch::Tensor mask;  // (B, length) int64 key padding mask of the cached positions; undefined = all real
};

// A decoder-only language model. Concrete architectures (llama.cpp, gpt2.cpp) derive from it;
// their registered parameter names equal the checkpoint's tensor names.
class CausalLM : public torch::nn::Module {
public:
    explicit CausalLM(ModelConfig config) : config_(std::move(config)) {}
    const ModelConfig& config() const { return config_; }

    // ids (B,T) int64; attentionMask (B,T) 1 = real token, 0 = padding (may be undefined =
    // all ones); with a cache, ids are the new positions only and the cache is extended.
    // Returns the final hidden states after the last norm: (B,T,C).
    virtual torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& attentionMask,
                                 KVCache* cache = nullptr) = 0;
    // As hidden(), with explicit positions (B,T) int64 for the new tokens instead of
    // cache length + 0..T-1: rows that continue cached prompts of different lengths (prompt
    // sharing in pairSequenceLogps, logprobs.cpp). Keys are still ordered by index for causality. Returns an
    // undefined tensor when the architecture cannot place tokens this way.
    virtual torch::Tensor hiddenAt(const torch::Tensor& ids, const torch::Tensor& attentionMask, KVCache* cache,
                                   const torch::Tensor& positions) {
        return {};
    }
    // (…,C) -> (…,V)
    virtual torch::Tensor lmHead(const torch::Tensor& hidden) = 0;
    torch::Tensor logits(const torch::Tensor& ids, const torch::Tensor& attentionMask,
                         KVCache* cache = nullptr) {
        return lmHead(hidden(ids, attentionMask, cache));
    }

    // LoRA (see lora.h): switch adapters off to get the reference from the same weights.
    void setAdaptersEnabled(bool enabled);
    bool hasAdapters() const;

protected:
    ModelConfig config_;
};

struct LoadOptions {
    std::string device = "auto";  // auto | cpu | cuda | cuda:N
    std::string dtype = "float32";  // float32 | bfloat16 | float16 (float16 needs CUDA)
    std::string chatTemplate;       // "" = detect from tokenizer_config.json; or a name
    // When set and true, loading stops at its next tensor and throws Cancelled (a closed
    // window, the Stop button): copying and fingerprinting gigabytes take seconds.
    const std::atomic<bool>* cancel = nullptr;
};

// A loaded model with everything needed to use it.
struct Model {
    ModelConfig config;
    std::shared_ptr<CausalLM> net;
    std::shared_ptr<text::Tokenizer> tokenizer;
    std::optional<text::ChatTemplate> chatTemplate;  // nullopt when the folder has none
    std::string source;       // the folder, or "builtin:tiny"
    std::string fingerprint;  // hex digest of config + weights (reference log-prob cache key)
    torch::Device device = torch::kCPU;
    torch::ScalarType dtype = torch::kFloat32;
    std::vector<std::string> warnings;  // load-time notes for the user (unused tensors, no tokenizer, ...)
};

torch::Device resolveDevice(const std::string& device);  // "auto" -> CUDA when present
torch::ScalarType parseDtype(const std::string& dtype);  // throws on float16 without CUDA

// Loads a Hugging Face model folder (config.json, model.safetensors or sharded with
// model.safetensors.index.json, tokenizer.json, tokenizer_config.json) or "builtin:tiny".
// Pickle .bin checkpoints are refused. Errors name the file and the tensor or field.
std::shared_ptr<Model> loadModel(const std::string& folderOrBuiltin, const LoadOptions& options = {});

// Writes a complete model folder (config.json, model.safetensors, tokenizer files,
// generation_config.json) that loads back here and in transformers unchanged.
void saveModel(const Model& model, const std::string& folder);

// The built-in tiny model: a small Llama with the byte tokenizer, created from a seed.
std::shared_ptr<Model> builtinTiny(const LoadOptions& options = {}, uint64_t seed = 1234);

// A network for `config` (float32, CPU, weights uninitialised in any useful sense): call
// initializeWeights or load weights into it.
std::shared_ptr<CausalLM> createModelNet(const ModelConfig& config);
// Seeded initialisation as transformers does it: matrices and embeddings normal(0, std),
// norm weights one, biases zero. The same seed gives the same weights on any device/dtype.
void initializeWeights(CausalLM& net, uint64_t seed, double std = 0.02);
// Hex digest (FNV-1a 64) of the config fields that matter and every parameter's bytes:
// the key of cached reference log-probs. Recompute it after changing the weights.
std::string fingerprintOf(const CausalLM& net);

}  // namespace dpowb::model
