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
#include <cstring>

#include "common/error.h"
#include "common/json_input.h"
#include "common/number.h"
#include "common/files.h"
#include "model/architectures.h"
#include "model/linear.h"
#include "model/safetensors.h"

namespace dpowb::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

template <typename Fn>
void forEachLinear(const torch::nn::Module& net, Fn&& fn) {
    for (const auto& item : net.named_modules("", /*include_self=*/false)) {
        if (auto lin = std::dynamic_pointer_cast<LinearImpl>(item.value())) fn(item.key(), *lin);
    }
}

const std::string kPeftPrefix = "base_model.model.";
const char* kAdapterConfig = "adapter_config.json";
const char* kAdapterWeights = "adapter_model.safetensors";

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
    if (!(config.alpha > 0)) throw Error("LoRA alpha must be positive, got " + numberText(config.alpha));
    if (!(config.dropout >= 0 && config.dropout < 1))
        throw Error("LoRA dropout must be in [0, 1), got " + numberText(config.dropout));
    if (config.targetModules.empty()) throw Error("LoRA needs at least one target module");

    std::vector<std::pair<std::string, LinearImpl*>> targets;
    std::set<std::string> linearNames;
    forEachLinear(net, [&](const std::string& name, LinearImpl& lin) {
        linearNames.insert(name.substr(name.rfind('.') + 1));
        for (const auto& t : config.targetModules) {
            if (matchesLoraTarget(name, t)) {
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

// ---- PEFT files ----

void saveLoraAdapter(const Model& model, const LoraConfig& config, const std::string& folder) {
    if (!model.net) throw Error("saveLoraAdapter: the model has no network");
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    bool conv1d = false;
    forEachLinear(*model.net, [&](const std::string& name, LinearImpl& lin) {
        if (!lin.hasAdapter()) return;
        if (lin.rank() != config.rank || std::abs(lin.scale() - config.alpha / double(config.rank)) > 1e-12)
            throw Error("saveLoraAdapter: module " + name + " has rank " + std::to_string(lin.rank()) +
                        ", but the configuration says " + std::to_string(config.rank));
        conv1d |= lin.conv1d();
        tensors.emplace_back(kPeftPrefix + name + ".lora_A.weight", lin.loraA->weight.detach().to(torch::kCPU).contiguous());
        tensors.emplace_back(kPeftPrefix + name + ".lora_B.weight", lin.loraB->weight.detach().to(torch::kCPU).contiguous());
    });
    if (tensors.empty()) throw Error("saveLoraAdapter: the model has no LoRA adapters to save");

    json cfg = {
        {"peft_type", "LORA"},
        {"task_type", "CAUSAL_LM"},
        {"base_model_name_or_path", config.baseModelPath.empty() ? model.source : config.baseModelPath},
        {"revision", config.baseRevision.empty() ? json(nullptr) : json(config.baseRevision)},
        {"inference_mode", true},
        {"r", config.rank},
        {"lora_alpha", config.alpha},
        {"lora_dropout", config.dropout},
        {"target_modules", config.targetModules},
        // GPT-2's Conv1D stores its weight as (in, out): PEFT must know to transpose the delta.
        {"fan_in_fan_out", conv1d},
        {"bias", "none"},
        {"modules_to_save", nullptr},
        {"init_lora_weights", true},
        {"layers_to_transform", nullptr},
        {"layers_pattern", nullptr},
    };

    const fs::path dir(folder);
    const bool created = !fs::exists(dir);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(folder + ": cannot create the folder (" + ec.message() + ")");
    try {
        writeSafetensors((dir / kAdapterWeights).string(), tensors);
        writeFileAtomic(dir / kAdapterConfig, cfg.dump(2) + "\n");
    } catch (...) {
        if (created) fs::remove_all(dir, ec);
        throw;
    }
}

void loadLoraAdapter(Model& model, const std::string& folder) {
    if (!model.net) throw Error("loadLoraAdapter: the model has no network");
    const fs::path dir(folder);
    const fs::path configPath = dir / kAdapterConfig;
    const fs::path weightsPath = dir / kAdapterWeights;
    if (!fs::exists(configPath)) throw Error(configPath.string() + ": missing; a PEFT adapter folder needs it");
    if (!fs::exists(weightsPath)) {
        if (fs::exists(dir / "adapter_model.bin"))
            throw Error((dir / "adapter_model.bin").string() +
                        ": pickle checkpoints are refused (loading them can run arbitrary code); "
                        "save the adapter with safe_serialization=True");
        throw Error(weightsPath.string() + ": missing; a PEFT adapter folder needs it");
    }

    json cfg = parseUntrustedJson(readFile(configPath, 16u << 20), configPath.string());
    auto field = [&](const char* key) -> const json& {
        if (!cfg.is_object() || !cfg.contains(key))
            throw Error(configPath.string() + ": field \"" + key + "\" is missing");
        return cfg.at(key);
    };
    auto fieldError = [&](const char* key, const std::string& what) {
        return Error(configPath.string() + ": field \"" + key + "\": " + what);
    };
    if (field("peft_type") != "LORA") throw fieldError("peft_type", "only LORA adapters are supported");
    LoraConfig lc;
    if (!field("r").is_number_integer() || field("r").get<int64_t>() <= 0)
        throw fieldError("r", "expected a positive integer");
    lc.rank = field("r").get<int64_t>();
    if (!field("lora_alpha").is_number()) throw fieldError("lora_alpha", "expected a number");
    lc.alpha = field("lora_alpha").get<double>();
    if (cfg.contains("lora_dropout") && cfg["lora_dropout"].is_number()) lc.dropout = cfg["lora_dropout"].get<double>();
    if (cfg.contains("bias") && cfg["bias"] != "none")
        throw fieldError("bias", "only \"none\" is supported (trained biases are not)");
    for (const char* flag : {"use_rslora", "use_dora"})
        if (cfg.contains(flag) && cfg[flag] == true) throw fieldError(flag, "not supported");
    for (const char* pattern : {"rank_pattern", "alpha_pattern"})
        if (cfg.contains(pattern) && cfg[pattern].is_object() && !cfg[pattern].empty())
            throw fieldError(pattern, "per-module ranks or alphas are not supported");
    if (cfg.contains("modules_to_save") && cfg["modules_to_save"].is_array() && !cfg["modules_to_save"].empty())
        throw fieldError("modules_to_save", "fully trained extra modules are not supported");
    if (model.net->hasAdapters())
        throw Error(folder + ": the model already carries LoRA adapters; load the adapter into a fresh model");

    // The adapted modules are the ones the file has weights for (whatever form
    // target_modules takes: a list, or a regular expression).
    SafetensorsFile file(weightsPath.string());
    std::map<std::string, LinearImpl*> linears;
    forEachLinear(*model.net, [&](const std::string& name, LinearImpl& lin) { linears[name] = &lin; });
    struct Pending {
        torch::Tensor a, b;
    };
    std::map<std::string, Pending> byModule;
    for (const TensorInfo& info : file.tensors()) {
        std::string name = info.name;
        auto bad = [&](const std::string& what) { return Error(weightsPath.string() + ": tensor \"" + info.name + "\": " + what); };
        if (name.rfind(kPeftPrefix, 0) != 0) throw bad("expected a name starting with " + kPeftPrefix);
        name = name.substr(kPeftPrefix.size());
        // Some tools keep the adapter's name ("default") inside the tensor name.
        for (const char* which : {".lora_A.default.weight", ".lora_B.default.weight"}) {
            if (auto pos = name.find(which); pos != std::string::npos && pos + std::strlen(which) == name.size())
                name = name.substr(0, pos) + (which[6] == 'A' ? ".lora_A.weight" : ".lora_B.weight");
        }
        bool isA = false;
        std::string module;
        for (const char* suffix : {".lora_A.weight", ".lora_B.weight"}) {
            const size_t n = std::strlen(suffix);
            if (name.size() > n && name.compare(name.size() - n, n, suffix) == 0) {
                module = name.substr(0, name.size() - n);
                isA = suffix[6] == 'A';
            }
        }
        if (module.empty()) throw bad("not a LoRA weight (expected ...lora_A.weight or ...lora_B.weight)");
        auto it = linears.find(module);
        if (it == linears.end()) throw bad("this model has no projection \"" + module + "\"");
        const LinearImpl& lin = *it->second;
        const std::vector<int64_t> want = isA ? std::vector<int64_t>{lc.rank, lin.inFeatures()}
                                              : std::vector<int64_t>{lin.outFeatures(), lc.rank};
        if (info.shape != want) {
            auto show = [](const std::vector<int64_t>& v) {
                std::string s = "(";
                for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
                return s + ")";
            };
            throw bad("shape " + show(info.shape) + ", expected " + show(want) + " for rank " + std::to_string(lc.rank));
        }
        (isA ? byModule[module].a : byModule[module].b) = file.tensor(info.name);
    }
    if (byModule.empty()) throw Error(weightsPath.string() + ": holds no LoRA weights");
    lc.targetModules.clear();  // exactly the modules the file has weights for, not the defaults
    for (const auto& [module, p] : byModule) {
        if (!p.a.defined() || !p.b.defined())
            throw Error(weightsPath.string() + ": module \"" + module + "\" has lora_" + (p.a.defined() ? "A" : "B") +
                        " but no lora_" + (p.a.defined() ? "B" : "A"));
        lc.targetModules.push_back(module);
    }

    applyLora(*model.net, lc);
    torch::NoGradGuard noGrad;
    for (const auto& [module, p] : byModule) {
        LinearImpl& lin = *linears.at(module);
        lin.loraA->weight.copy_(p.a);
        lin.loraB->weight.copy_(p.b);
    }
}

}  // namespace dpowb::model
