#include "model/architectures.h"

namespace dpowb::model {

namespace {

std::string join(std::initializer_list<std::string> parts) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += '.';
        out += p;
    }
    return out;
}

// The Llama family (Llama, Mistral, Qwen 2 and 3, SmolLM3: NoPE layers change no tensor) and
// Gemma 3 (the same names; Gemma 3 adds norms around the MLP, and its norm weights w scale by
// 1 + w, so a fresh one is zero).
void llamaTable(const ModelConfig& c, std::vector<TensorSlot>& t) {
    using namespace llama_names;
    const bool gemma = c.architecture == "gemma3";
    const TensorInit normInit = gemma ? TensorInit::Zeros : TensorInit::Ones;
    const int64_t C = c.hiddenSize, H = c.numHeads, K = c.numKvHeads, D = c.headDim, I = c.intermediateSize;
    t.push_back({join({kModel, kEmbed, kWeight}), {c.vocabSize, C}});
    for (int64_t l = 0; l < c.numLayers; ++l) {
        const std::string layer = join({kModel, kLayers, std::to_string(l)});
        const std::string attn = join({layer, kAttention});
        auto proj = [&](const std::string& base, const char* name, int64_t out, int64_t in, bool bias) {
            t.push_back({join({base, name, kWeight}), {out, in}, TensorInit::Normal, in, out});
            if (bias) t.push_back({join({base, name, kBias}), {out}, TensorInit::Zeros});
        };
        proj(attn, kQ, H * D, C, c.attentionBias);
        proj(attn, kK, K * D, C, c.attentionBias);
        proj(attn, kV, K * D, C, c.attentionBias);
        proj(attn, kO, C, H * D, c.outputBias);
        if (c.qkNorm) {
            t.push_back({join({attn, kQNorm, kWeight}), {D}, normInit});
            t.push_back({join({attn, kKNorm, kWeight}), {D}, normInit});
        }
        const std::string mlp = join({layer, kMlp});
        proj(mlp, kGate, I, C, c.mlpBias);
        proj(mlp, kUp, I, C, c.mlpBias);
        proj(mlp, kDown, C, I, c.mlpBias);
        t.push_back({join({layer, kInputNorm, kWeight}), {C}, normInit});
        t.push_back({join({layer, kPostAttentionNorm, kWeight}), {C}, normInit});
        if (gemma) {
            t.push_back({join({layer, kPreFeedforwardNorm, kWeight}), {C}, normInit});
            t.push_back({join({layer, kPostFeedforwardNorm, kWeight}), {C}, normInit});
        }
    }
    t.push_back({join({kModel, kFinalNorm, kWeight}), {C}, normInit});
    if (!c.tieWordEmbeddings) t.push_back({join({kHead, kWeight}), {c.vocabSize, C}, TensorInit::Normal, C, c.vocabSize});
}

void gpt2Table(const ModelConfig& c, std::vector<TensorSlot>& t) {
    using namespace gpt2_names;
    const int64_t C = c.hiddenSize, I = c.intermediateSize;
    t.push_back({join({kTransformer, kTokenEmbed, kWeight}), {c.vocabSize, C}});
    t.push_back({join({kTransformer, kPositionEmbed, kWeight}), {c.maxPositions, C}});
    for (int64_t l = 0; l < c.numLayers; ++l) {
        const std::string layer = join({kTransformer, kLayers, std::to_string(l)});
        // Conv1D layout: weights are stored (in, out).
        auto conv = [&](const std::string& base, const char* name, int64_t in, int64_t out) {
            t.push_back({join({base, name, kWeight}), {in, out}, TensorInit::Normal, in, out});
            t.push_back({join({base, name, kBias}), {out}, TensorInit::Zeros});
        };
        auto norm = [&](const char* name) {
            t.push_back({join({layer, name, kWeight}), {C}, TensorInit::Ones});
            t.push_back({join({layer, name, kBias}), {C}, TensorInit::Zeros});
        };
        norm(kNorm1);
        conv(join({layer, kAttention}), kQkv, C, 3 * C);
        conv(join({layer, kAttention}), kProj, C, C);
        norm(kNorm2);
        conv(join({layer, kMlp}), kFc, C, I);
        conv(join({layer, kMlp}), kProj, I, C);
    }
    t.push_back({join({kTransformer, kFinalNorm, kWeight}), {C}, TensorInit::Ones});
    t.push_back({join({kTransformer, kFinalNorm, kBias}), {C}, TensorInit::Zeros});
    if (!c.tieWordEmbeddings) t.push_back({join({kHead, kWeight}), {c.vocabSize, C}, TensorInit::Normal, C, c.vocabSize});
}

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string TensorSlot::module() const {
    const std::string suffix = std::string(".") + kWeight;
    return endsWith(name, suffix) ? name.substr(0, name.size() - suffix.size()) : name;
}

int64_t TensorSlot::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

int64_t tableParameterCount(const ModelConfig& config) {
    int64_t n = 0;
    for (const TensorSlot& slot : tensorTable(config)) n += slot.numel();
    return n;
}

bool matchesLoraTarget(const std::string& module, const std::string& target) {
    if (module == target) return true;
    return module.size() > target.size() && endsWith(module, target) && module[module.size() - target.size() - 1] == '.';
}

std::vector<TensorSlot> tensorTable(const ModelConfig& config) {
    std::vector<TensorSlot> t;
    if (config.architecture == "gpt2") gpt2Table(config, t);
    else llamaTable(config, t);
    return t;
}

bool isNonParameterTensor(const ModelConfig& config, const std::string& name) {
    if (config.architecture == "gpt2")
        return endsWith(name, ".attn.bias") || endsWith(name, ".attn.masked_bias");
    return endsWith(name, ".rotary_emb.inv_freq");
}

std::string canonicalTensorName(const ModelConfig& config, const std::string& name) {
    if (config.architecture == "gpt2") {
        const std::string prefix = std::string(gpt2_names::kTransformer) + ".";
        const std::string head = std::string(gpt2_names::kHead) + ".";
        if (name.compare(0, prefix.size(), prefix) != 0 && name.compare(0, head.size(), head) != 0)
            return prefix + name;
    }
    return name;
}

}  // namespace dpowb::model
