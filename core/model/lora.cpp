// LoRA on model::Linear projections, PEFT-compatible on disk (see lora.h).
#include "model/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "model/linear.h"

namespace dpowb::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// PEFT's rule: a target names a module by its full path or by its last path components.
bool matchesTarget(const std::string& name, const std::string& target) {
    if (name == target) return true;
    return name.size() > target.size() && name.compare(name.size() - target.size(), target.size(), target) == 0 &&
           name[name.size() - target.size() - 1] == '.';
}

template <typename Fn>
void forEachLinear(const torch::nn::Module& net, Fn&& fn) {
    for (const auto& item : net.named_modules("", /*include_self=*/false)) {
        if (auto lin = std::dynamic_pointer_cast<LinearImpl>(item.value())) fn(item.key(), *lin);
    }
}

}  // namespace

// ---- CausalLM's adapter switches (declared in model.h) ----

void CausalLM::setAdaptersEnabled(bool enabled) {
    forEachLinear(*this, [&](const std::string&, LinearImpl& lin) { lin.setAdapterEnabled(enabled); });
}

bool CausalLM::hasAdapters() const {
    bool any = false;
    forEachLinear(*this, [&](const std::string&, LinearImpl& lin) { any |= lin.hasAdapter(); });
    return any;
}

// ---- applying, listing, merging ----

int applyLora(CausalLM& net, const LoraConfig& config) {
    if (config.rank <= 0) throw Error("LoRA rank must be positive, got " + std::to_string(config.rank));
    if (!(config.alpha > 0)) throw Error("LoRA alpha must be positive, got " + std::to_string(config.alpha));
    if (!(config.dropout >= 0 && config.dropout < 1))
        throw Error("LoRA dropout must be in [0, 1), got " + std::to_string(config.dropout));
    if (config.targetModules.empty()) throw Error("LoRA needs at least one target module");

    std::vector<std::pair<std::string, LinearImpl*>> targets;
    std::set<std::string> linearNames;
    forEachLinear(net, [&](const std::string& name, LinearImpl& lin) {
        linearNames.insert(name.substr(name.rfind('.') + 1));
        for (const auto& t : config.targetModules) {
            if (matchesTarget(name, t)) {
                if (lin.hasAdapter()) throw Error("LoRA: module " + name + " already has an adapter");
                targets.emplace_back(name, &lin);
                break;
            }
        }
    });
    if (targets.empty()) {
        std::string have;
        for (const auto& n : linearNames) have += (have.empty() ? "" : ",") + n;
        std::string want;
        for (const auto& t : config.targetModules) want += (want.empty() ? "" : ",") + t;
        throw Error("LoRA: no module matches the target modules \"" + want +
                    "\"; this model's projections are: " + have);
    }

    for (auto& p : net.parameters()) p.requires_grad_(false);

    // A generator of our own: the adapters depend on the seed alone, and the global RNG that
    // the trainer seeds for dropout and shuffling is left untouched.
    auto gen = at::detail::createCPUGenerator(config.seed);
    for (auto& [name, lin] : targets) {
        lin->addAdapter(config.rank, config.alpha, config.dropout);
        torch::NoGradGuard noGrad;
        // Kaiming-uniform with a = sqrt(5), as PEFT (and nn.Linear) initialise lora_A:
        // bound = gain·sqrt(3/fan_in) with gain = sqrt(2/(1+a²)) = 1/sqrt(fan_in).
        const double bound = 1.0 / std::sqrt(double(lin->inFeatures()));
        auto a = torch::rand({config.rank, lin->inFeatures()}, gen, torch::kFloat32) * (2 * bound) - bound;
        lin->loraA->weight.copy_(a);
        lin->loraB->weight.zero_();
        lin->loraA->weight.requires_grad_(true);
        lin->loraB->weight.requires_grad_(true);
    }
    return static_cast<int>(targets.size());
}

std::vector<torch::Tensor> loraParameters(CausalLM& net) {
    std::vector<torch::Tensor> params;
    forEachLinear(net, [&](const std::string&, LinearImpl& lin) {
        if (!lin.hasAdapter()) return;
        params.push_back(lin.loraA->weight);
        params.push_back(lin.loraB->weight);
    });
    return params;
}

void mergeLora(CausalLM& net) {
    forEachLinear(net, [&](const std::string&, LinearImpl& lin) { lin.mergeAdapter(); });
}

}  // namespace dpowb::model
