// The policy and the precision it trains in: weights and AdamW state are always float32;
// --dtype bfloat16 means autocast forwards over them (train/mixed_precision.h), float16 is
// refused. Every network of a run is loaded the same way (weightOptions). LoRA adapters.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/text_list.h"
#include "model/hf_cache.h"
#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

model::LoadOptions Run::weightOptions() const {
    model::LoadOptions lo;
    lo.device = cfg_.device;
    lo.chatTemplate = cfg_.chatTemplate;
    lo.dtype = "float32";
    lo.cancel = &control_.cancel;  // Stop or a closed window during a long load
    return lo;
}

void Run::loadPolicy() {
    obs_.onPhase("load", 0, 0);
    const torch::Device device = model::resolveDevice(cfg_.device);
    // Training keeps float32 weights and AdamW state; bfloat16 means autocast forwards (pure
    // bfloat16 weights would drop AdamW updates below bfloat16's resolution); float16 is refused.
    amp_ = trainingPrecision(cfg_.dtype, device);
    if (amp_.enabled) info("mixed precision: bfloat16 autocast forwards, float32 weights and optimizer state");
    policy_ = model::loadModel(cfg_.model, weightOptions());
    for (const auto& w : policy_->warnings) warn(w);
    if (!policy_->tokenizer && !rawTrain_.empty() && !rawTrain_.front().tokenized)
        throw Error(cfg_.model + " has no tokenizer.json: give pre-tokenized pairs (prompt_ids, chosen_ids, rejected_ids)");
    if (policy_->tokenizer) {
        if (auto p = policy_->tokenizer->padId()) padId_ = *p;
        else if (auto e = policy_->tokenizer->eosId()) padId_ = *e;
    } else if (policy_->config.padTokenId) {
        padId_ = text::TokenId(*policy_->config.padTokenId);
    }
    torch::manual_seed(cfg_.seed);
    info("policy: " + cfg_.model + " (" + std::to_string(policy_->config.parameterCount()) + " parameters) on " +
         policy_->device.str());
}

void Run::applyLoraAdapters() {
    lora_.rank = cfg_.loraRank;
    lora_.alpha = cfg_.loraAlpha;
    lora_.dropout = cfg_.loraDropout;
    lora_.targetModules = commaListItems(cfg_.loraTargetModules);
    lora_.seed = cfg_.seed;
    setAdapterBase();
    torch::manual_seed(cfg_.seed);
    const int n = model::applyLora(*policy_->net, lora_);
    info("LoRA: " + std::to_string(n) + " adapted projections, rank " + std::to_string(cfg_.loraRank));
}

// What adapter_config.json names as the adapter's base, so that PEFT's from_pretrained finds
// the very weights the adapter was trained on: for a snapshot of the Hugging Face cache its Hub
// id and revision; for any other folder (the SFT warm-up's reference included) its absolute
// path; builtin:tiny has no folder, so its weights (the network before any adapter) are saved
// to OUT/base first.
void Run::setAdapterBase() {
    // After an SFT warm-up the adapters sit on its weights, saved as the run's reference.
    const std::string source = cfg_.sftEpochs > 0 ? referenceDir_ : cfg_.model;
    if (source == "builtin:tiny") {
        const fs::path base = fs::absolute(fs::path(cfg_.out) / "base");
        if (writer()) model::saveModel(*policy_, base.string());  // before the adapters exist
        lora_.baseModelPath = base.lexically_normal().string();
        lora_.baseRevision.clear();
    } else if (auto snapshot = model::hubSnapshotOf(source)) {
        lora_.baseModelPath = snapshot->repoId;
        lora_.baseRevision = snapshot->revision;
    } else {
        lora_.baseModelPath = fs::absolute(source).lexically_normal().string();
        lora_.baseRevision.clear();
    }
}

}  // namespace dpowb::train::detail
