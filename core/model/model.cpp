// Model folders in and out, the built-in tiny model, devices and dtypes, fingerprints.
#include "model/model.h"
#include "model/inspect.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/architectures.h"
#include "model/cuda_runtime.h"
#include "model/gemma3.h"
#include "model/gpt2.h"
#include "model/llama.h"
#include "model/safetensors.h"

namespace dpowb::model {

namespace fs = std::filesystem;
using nlohmann::json;

torch::Device resolveDevice(const std::string& device) {
    if (device == "auto" || device.empty()) return cudaAvailable() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    if (device == "cpu") return torch::kCPU;
    if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
        if (!cudaAvailable())
            throw Error("device \"" + device + "\": CUDA is not available (" +
                        (loadCudaBackend() ? std::string("no GPU found") : cudaBackendStatus()) + "); use --device cpu");
        torch::Device d(torch::kCUDA);
        if (device.size() > 5) {
            try {
                size_t used = 0;
                int index = std::stoi(device.substr(5), &used);
                if (used != device.size() - 5 || index < 0) throw std::invalid_argument("index");
                if (index >= int(cudaDeviceCount()))
                    throw Error("device \"" + device + "\": only " + std::to_string(cudaDeviceCount()) + " CUDA device(s)");
                d = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
            } catch (const std::logic_error&) {
                throw Error("device \"" + device + "\": expected cuda:N with N a device number");
            }
        }
        return d;
    }
    throw Error("unknown device \"" + device + "\" (expected auto, cpu, cuda or cuda:N)");
}

torch::ScalarType parseDtype(const std::string& dtype) {
    if (dtype == "float32" || dtype == "fp32") return torch::kFloat32;
    if (dtype == "bfloat16" || dtype == "bf16") return torch::kBFloat16;
    if (dtype == "float16" || dtype == "fp16") {
        if (!cudaAvailable())
            throw Error("dtype float16 needs CUDA (CPU matrix products are not implemented for float16); use bfloat16 or float32");
        return torch::kFloat16;
    }
    throw Error("unknown dtype \"" + dtype + "\" (expected float32, bfloat16 or float16)");
}

namespace {

std::string dtypeName(torch::ScalarType t) {
    switch (t) {
        case torch::kFloat32: return "float32";
        case torch::kBFloat16: return "bfloat16";
        case torch::kFloat16: return "float16";
        case torch::kFloat64: return "float64";
        default: return c10::toString(t);
    }
}

// config.json files are a few kilobytes; a larger one is not a model's config.
constexpr uintmax_t kMaxConfigBytes = 16u << 20;

std::shared_ptr<CausalLM> createNet(const ModelConfig& config) {
    if (config.architecture == "llama") return std::make_shared<LlamaForCausalLM>(config);
    if (config.architecture == "gpt2") return std::make_shared<Gpt2ForCausalLM>(config);
    if (config.architecture == "gemma3") return std::make_shared<Gemma3ForCausalLM>(config);
    throw Error("architecture \"" + config.architecture + "\" (model_type \"" + config.modelType + "\") is not implemented");
}

// FNV-1a over 64-bit little-endian words (tail bytes one by one): fast enough to hash a few
// hundred megabytes of weights at load time, and stable across runs and machines.
struct Fnv64 {
    uint64_t h = 0xcbf29ce484222325ULL;
    static constexpr uint64_t kPrime = 0x100000001b3ULL;
    void bytes(const void* data, size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w = 0;
            for (int b = 7; b >= 0; --b) w = (w << 8) | p[i + size_t(b)];
            h = (h ^ w) * kPrime;
        }
        for (; i < n; ++i) h = (h ^ p[i]) * kPrime;
    }
    void text(const std::string& s) {
        uint64_t n = s.size();
        bytes(&n, sizeof n);
        bytes(s.data(), s.size());
    }
    std::string hex() const {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        return buf;
    }
};

std::map<std::string, torch::Tensor> parameterMap(const torch::nn::Module& net) {
    std::map<std::string, torch::Tensor> out;
    for (const auto& item : net.named_parameters()) out[item.key()] = item.value();
    return out;
}

}  // namespace

std::string fingerprintOf(const CausalLM& net) {
    ModelConfig c = net.config();
    c.rawJson = "{}";  // only the fields that change the computation
    Fnv64 h;
    h.text(c.toJson());
    for (const auto& [name, p] : parameterMap(net)) {
        torch::Tensor t = p.detach().to(torch::kCPU).contiguous();
        h.text(name);
        h.text(dtypeName(t.scalar_type()));
        for (auto d : t.sizes()) h.bytes(&d, sizeof d);
        h.bytes(t.data_ptr(), size_t(t.numel()) * t.element_size());
    }
    return h.hex();
}

std::shared_ptr<CausalLM> createModelNet(const ModelConfig& config) { return createNet(config); }

// Every tensor config.json's architecture needs is in the checkpoint, with the shape the
// config implies and a floating-point type. Checked before the network is built, because
// building it allocates what config.json claims: a damaged or hostile config (num_hidden_layers
// = 2^31, a vocabulary of 16M rows) is refused naming the first tensor the weights lack, at the
// cost of walking the tensor table (ModelConfig::fromJson bounds its length).
static std::map<std::string, std::string> checkWeights(const ModelConfig& config, const Checkpoint& ckpt,
                                                       const std::string& folder) {
    std::map<std::string, std::string> byCanonical;  // our name -> checkpoint name
    for (const auto& name : ckpt.names()) {
        if (isNonParameterTensor(config, name)) continue;
        byCanonical[canonicalTensorName(config, name)] = name;
    }
    for (const TensorSlot& slot : tensorTable(config)) {
        auto it = byCanonical.find(slot.name);
        if (it == byCanonical.end())
            throw Error(folder + ": tensor \"" + slot.name + "\" is missing (config.json's " + config.modelType +
                        " architecture needs it" +
                        (slot.name.rfind("lm_head", 0) == 0 ? "; set tie_word_embeddings to true if the head is tied"
                                                            : std::string()) +
                        ")");
        const TensorInfo& info = ckpt.info(it->second);
        if (info.shape != slot.shape)
            throw Error(ckpt.fileOf(it->second) + ": tensor \"" + it->second + "\" has shape " +
                        c10::str(c10::IntArrayRef(info.shape)) + " but config.json implies " +
                        c10::str(c10::IntArrayRef(slot.shape)));
        torch::ScalarType stored = scalarTypeFromSafetensors(info.dtype);
        if (!c10::isFloatingType(stored))
            throw Error(ckpt.fileOf(it->second) + ": tensor \"" + it->second + "\" has dtype " + info.dtype +
                        "; expected a floating-point type");
    }
    return byCanonical;
}

namespace {
void throwIfCancelled(const std::atomic<bool>* cancel) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}
}  // namespace

static void loadWeights(CausalLM& net, const Checkpoint& ckpt, const std::string& folder, torch::Device device,
                        torch::ScalarType dtype, std::vector<std::string>* warnings,
                        const std::atomic<bool>* cancel) {
    const ModelConfig& config = net.config();
    auto params = parameterMap(net);
    std::map<std::string, std::string> byCanonical = checkWeights(config, ckpt, folder);  // every slot is there
    torch::NoGradGuard noGrad;
    for (const TensorSlot& slot : tensorTable(config)) {
        throwIfCancelled(cancel);
        auto it = byCanonical.find(slot.name);
        auto pit = params.find(slot.name);
        if (pit == params.end()) throw Error("internal: module has no parameter \"" + slot.name + "\"");
        torch::Tensor src = ckpt.tensor(it->second);
        // copy=true: the parameter owns its memory, never the file mapping.
        pit->second.set_data(src.to(torch::TensorOptions().device(device).dtype(dtype), false, true));
        byCanonical.erase(it);
    }
    if (warnings) {
        for (const auto& [ours, theirs] : byCanonical) {
            if (config.tieWordEmbeddings && ours.rfind("lm_head.", 0) == 0) continue;  // tied: the embeddings serve
            warnings->push_back("checkpoint tensor \"" + theirs + "\" is not used by the " + config.modelType +
                                " architecture");
        }
    }
}

std::shared_ptr<Model> loadModel(const std::string& folderOrBuiltin, const LoadOptions& options) {
    if (folderOrBuiltin == "builtin:tiny") return builtinTiny(options);
    const fs::path dir(folderOrBuiltin);
    if (!fs::is_directory(dir))
        throw Error(folderOrBuiltin + ": not a model folder (expected a directory with config.json, or builtin:tiny)");
    const fs::path configPath = dir / "config.json";
    if (!fs::exists(configPath)) throw Error(configPath.string() + ": missing; a model folder needs its config.json");

    auto model = std::make_shared<Model>();
    model->source = folderOrBuiltin;
    model->device = resolveDevice(options.device);
    model->dtype = parseDtype(options.dtype);
    if (model->dtype == torch::kFloat16 && !model->device.is_cuda())
        throw Error("dtype float16 runs only on CUDA; use bfloat16 or float32 on the CPU");
    model->config = ModelConfig::fromJson(readFile(configPath, kMaxConfigBytes), configPath.string());
    model->config.torchDtype = dtypeName(model->dtype);

    Checkpoint ckpt = Checkpoint::open(dir.string());
    checkWeights(model->config, ckpt, folderOrBuiltin);
    model->net = createNet(model->config);
    loadWeights(*model->net, ckpt, folderOrBuiltin, model->device, model->dtype, &model->warnings, options.cancel);
    model->net->eval();

    if (fs::exists(dir / "tokenizer.json")) {
        model->tokenizer = std::shared_ptr<text::Tokenizer>(text::Tokenizer::fromDir(dir.string()));
        if (model->tokenizer->vocabSize() > model->config.vocabSize)
            model->warnings.push_back("tokenizer has " + std::to_string(model->tokenizer->vocabSize()) +
                                      " tokens but the model only " + std::to_string(model->config.vocabSize));
        if (!options.chatTemplate.empty()) {
            model->chatTemplate = text::ChatTemplate::named(options.chatTemplate);
        } else {
            ChatTemplateFound found = detectChatTemplate(*model->tokenizer);
            model->chatTemplate = std::move(found.chatTemplate);
            if (!found.problem.empty())
                model->warnings.push_back("chat template not recognised, chat prompts unavailable: " + found.problem);
        }
    } else {
        model->warnings.push_back(folderOrBuiltin + " has no tokenizer.json: only pre-tokenized input can be used");
        if (!options.chatTemplate.empty()) model->chatTemplate = text::ChatTemplate::named(options.chatTemplate);
    }
    throwIfCancelled(options.cancel);
    model->fingerprint = fingerprintOf(*model->net);
    return model;
}

void saveModel(const Model& model, const std::string& folder) {
    if (!model.net) throw Error("saveModel: the model has no network");
    auto params = parameterMap(*model.net);
    for (const auto& [name, p] : params)
        if (name.find(".lora_") != std::string::npos)
            throw Error("saveModel: the network carries LoRA adapters (\"" + name +
                        "\"); merge them first (mergeLora) or save the adapter (saveLoraAdapter)");

    const fs::path dir(folder);
    const bool created = !fs::exists(dir);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(folder + ": cannot create the folder (" + ec.message() + ")");
    try {
        ModelConfig config = model.net->config();
        if (!params.empty()) config.torchDtype = dtypeName(params.begin()->second.scalar_type());
        writeFileAtomic(dir / "config.json", config.toJson() + "\n");

        // A previous sharded save in the same folder would shadow the new single file.
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string n = entry.path().filename().string();
            if (n == "model.safetensors.index.json" ||
                (n.rfind("model-", 0) == 0 && n.find("-of-") != std::string::npos && entry.path().extension() == ".safetensors"))
                fs::remove(entry.path());
        }
        std::vector<std::pair<std::string, torch::Tensor>> tensors;
        for (const TensorSlot& slot : tensorTable(config)) tensors.emplace_back(slot.name, params.at(slot.name));
        writeSafetensors((dir / "model.safetensors").string(), tensors);

        const fs::path src(model.source);
        const bool fromFolder = model.source != "builtin:tiny" && fs::is_directory(src) &&
                                fs::exists(src / "tokenizer.json");
        if (fromFolder && !fs::equivalent(src, dir)) {
            // The original files keep everything (added tokens, templates) exactly as they were.
            for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                                     "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja",
                                     "generation_config.json"}) {
                if (fs::exists(src / name)) fs::copy_file(src / name, dir / name, fs::copy_options::overwrite_existing);
            }
        } else if (!fromFolder && model.tokenizer) {
            model.tokenizer->save(dir.string());
        }
        if (!fs::exists(dir / "generation_config.json")) {
            json g = json::object();
            if (config.bosTokenId) g["bos_token_id"] = *config.bosTokenId;
            if (config.eosTokenId) g["eos_token_id"] = *config.eosTokenId;
            if (config.padTokenId) g["pad_token_id"] = *config.padTokenId;
            writeFileAtomic(dir / "generation_config.json", g.dump(2) + "\n");
        }
    } catch (...) {
        if (created) fs::remove_all(dir, ec);
        throw;
    }
}

void initializeWeights(CausalLM& net, uint64_t seed, double std) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    auto params = parameterMap(net);
    torch::NoGradGuard noGrad;
    // Drawn on the CPU in float32 in table order, so a seed gives the same weights on any
    // device and dtype.
    for (const TensorSlot& slot : tensorTable(net.config())) {
        torch::Tensor& p = params.at(slot.name);
        torch::Tensor v;
        switch (slot.init) {
            case TensorInit::Normal: v = torch::empty(slot.shape, torch::kFloat32).normal_(0.0, std, gen); break;
            case TensorInit::Ones: v = torch::ones(slot.shape, torch::kFloat32); break;
            case TensorInit::Zeros: v = torch::zeros(slot.shape, torch::kFloat32); break;
        }
        p.copy_(v);
    }
}

std::shared_ptr<Model> builtinTiny(const LoadOptions& options, uint64_t seed) {
    auto model = std::make_shared<Model>();
    model->source = "builtin:tiny";
    model->device = resolveDevice(options.device);
    model->dtype = parseDtype(options.dtype);
    if (model->dtype == torch::kFloat16 && !model->device.is_cuda())
        throw Error("dtype float16 runs only on CUDA; use bfloat16 or float32 on the CPU");
    model->tokenizer = std::shared_ptr<text::Tokenizer>(text::Tokenizer::byteLevel());
    model->config = builtinTinyConfig(model->tokenizer->vocabSize());
    if (auto id = model->tokenizer->bosId()) model->config.bosTokenId = *id;
    if (auto id = model->tokenizer->eosId()) model->config.eosTokenId = *id;
    if (auto id = model->tokenizer->padId()) model->config.padTokenId = *id;
    model->config.torchDtype = dtypeName(model->dtype);
    model->net = createNet(model->config);
    initializeWeights(*model->net, seed, 0.02);
    model->net->to(model->device, model->dtype);
    model->net->eval();
    model->chatTemplate = text::ChatTemplate::named(options.chatTemplate.empty() ? "chatml" : options.chatTemplate);
    throwIfCancelled(options.cancel);
    model->fingerprint = fingerprintOf(*model->net);
    return model;
}

}  // namespace dpowb::model
