// LoRA adapters on chosen linear projections; the base stays frozen. The reference model is
// the same network with the adapters switched off (CausalLM::setAdaptersEnabled(false)).
// Saved in the PEFT layout (adapter_config.json + adapter_model.safetensors).
#pragma once

#include <string>
#include <vector>

#include "model/model.h"

namespace dpowb::model {

struct LoraConfig {
    int64_t rank = 8;
    double alpha = 16;
    double dropout = 0.0;
    // Module name suffixes, e.g. q_proj,k_proj,v_proj,o_proj (llama) or c_attn (gpt2).
    std::vector<std::string> targetModules = {"q_proj", "k_proj", "v_proj", "o_proj"};
    uint64_t seed = 0;
    // base_model_name_or_path written into adapter_config.json; "" = the model's source.
    std::string baseModelPath;
    std::string baseRevision;  // its "revision" (a Hub snapshot's commit); "" = null
};

// Adds adapters to every matching projection and freezes all other parameters. Returns the
// number of adapted modules; throws when none matches.
int applyLora(CausalLM& net, const LoraConfig& config);
// The trainable adapter parameters.
std::vector<torch::Tensor> loraParameters(CausalLM& net);
// adapter_config.json + adapter_model.safetensors (PEFT names: base_model.model.<name>.lora_A.weight).
void saveLoraAdapter(const Model& model, const LoraConfig& config, const std::string& folder);
// Adds adapters to the modules the file has weights for and loads them (the base is frozen
// as by applyLora). Refuses adapter kinds it cannot reproduce exactly (rsLoRA, DoRA,
// per-module ranks, trained biases, modules_to_save).
void loadLoraAdapter(Model& model, const std::string& folder);
// Folds the adapters into the base weights (W += B·A·alpha/rank) and removes them.
void mergeLora(CausalLM& net);

}  // namespace dpowb::model
