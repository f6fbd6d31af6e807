// dpowb inspect: what a model folder (or builtin:tiny) is and what a run on it would need, read
// without loading any weights (model/inspect.h, train/estimate.h): the run form's model line
// and memory estimate, on the command line. dpowb list-models: the models of the Hugging Face
// cache (model/hf_cache.h), as the GUI's model pickers offer them. In `dpowb` itself: no LibTorch.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "common/error.h"
#include "model/hf_cache.h"
#include "model/inspect.h"
#include "train/estimate.h"
#include "train/presets.h"
#include "train/trainer.h"

namespace dpowb::cli {
namespace {

using nlohmann::json;

const char* kInspectUsage =
    "usage: dpowb inspect MODEL [--preset NAME] [--lora-rank R] [--lora-target-modules LIST]\n"
    "                     [--batch-size N] [--max-length N] [--dtype float32|bfloat16]\n"
    "                     [--precompute-ref] [--reference-free] [--json]\n"
    "\n"
    "MODEL is a model folder (config.json, *.safetensors, tokenizer.json) or builtin:tiny. Prints its\n"
    "architecture, parameter count, tokenizer (kind, vocabulary size), chat template (the name of\n"
    "the recognised template, or none) and the memory a `dpowb train` run with the given options\n"
    "would need: weights, gradients, AdamW state (all float32), a live reference, and activations\n"
    "at --max-length (an upper bound). No weights are read.\n"
    "\n"
    "The options and their defaults are those of `dpowb train` (builtin:tiny: the demo preset;\n"
    "a folder: --max-length = the model's context); --preset NAME starts from a preset of the\n"
    "GUI's run form (demo, lora-real-model, full-fine-tune).\n"
    "  --json   one JSON object instead of the text\n";

std::string bytesText(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

std::string countText(int64_t n) {
    char buf[32];
    if (n >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2f B", double(n) / 1e9);
    else if (n >= 1'000'000) std::snprintf(buf, sizeof buf, "%.1f M", double(n) / 1e6);
    else if (n >= 1'000) std::snprintf(buf, sizeof buf, "%.1f k", double(n) / 1e3);
    else return std::to_string(n);
    return buf;
}

int runInspect(Args& args) {
    const std::string source = args.positional(0, "MODEL");
    const std::string preset = args.get("preset", "");
    const bool asJson = args.has("json");
    train::TrainConfig c = source == "builtin:tiny" ? train::TrainConfig::demoPreset() : train::TrainConfig{};
    if (!preset.empty()) {
        try {
            c = train::presetConfig(preset);
        } catch (const Error& e) {
            throw UsageError{e.what()};
        }
    }
    c.loraRank = args.getInt("lora-rank", c.loraRank);
    c.loraTargetModules = args.get("lora-target-modules", c.loraTargetModules);
    c.batchSize = args.getInt("batch-size", c.batchSize);
    const auto maxLength = args.get("max-length");
    if (maxLength) c.maxLength = args.getInt("max-length", c.maxLength);
    c.dtype = args.get("dtype", c.dtype);
    if (args.has("precompute-ref")) c.precomputeRef = true;
    if (args.has("reference-free")) c.referenceFree = true;
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    if (c.loraRank < 0) throw UsageError{"--lora-rank must be 0 (full fine-tuning) or positive"};
    if (c.batchSize < 1) throw UsageError{"--batch-size must be at least 1"};
    if (maxLength && c.maxLength < 2) throw UsageError{"--max-length must be at least 2"};
    if (c.dtype != "float32" && c.dtype != "bfloat16")
        throw UsageError{"--dtype must be float32 or bfloat16"};

    const model::ModelInspection info = model::inspectModel(source);
    const model::ModelConfig& m = info.config;
    // As `dpowb train` does: a folder's context is the default length and its limit.
    if (!maxLength && source != "builtin:tiny" && m.maxPositions > 0) c.maxLength = m.maxPositions;
    if (m.maxPositions > 0 && c.maxLength > m.maxPositions)
        throw UsageError{"--max-length " + std::to_string(c.maxLength) + " is longer than the model's context (" +
                         std::to_string(m.maxPositions) + " positions)"};
    const train::MemoryEstimate e = train::estimateMemory(m, c);

    if (asJson) {
        json j = {{"model", source},
                  {"architecture", m.architecture},
                  {"model_type", m.modelType},
                  {"layers", m.numLayers},
                  {"hidden_size", m.hiddenSize},
                  {"heads", m.numHeads},
                  {"kv_heads", m.numKvHeads},
                  {"context", m.maxPositions},
                  {"vocab_size", m.vocabSize},
                  {"tied_embeddings", m.tieWordEmbeddings},
                  {"parameters", info.parameters},
                  {"weight_bytes", info.weightBytes}};
        j["tokenizer"] = info.tokenizer ? json{{"kind", info.tokenizerKind}, {"vocab_size", info.vocabSize}}
                                        : json{{"problem", info.tokenizerProblem}};
        j["chat_template"] = info.chatTemplate.chatTemplate ? json(info.chatTemplate.chatTemplate->name()) : json(nullptr);
        if (!info.chatTemplate.problem.empty()) j["chat_template_problem"] = info.chatTemplate.problem;
        j["options"] = {{"lora_rank", c.loraRank},
                        {"lora_target_modules", c.loraTargetModules},
                        {"batch_size", c.batchSize},
                        {"max_length", c.maxLength},
                        {"dtype", c.dtype},
                        {"precompute_ref", c.precomputeRef},
                        {"reference_free", c.referenceFree}};
        j["memory"] = {{"weights", e.weights},     {"gradients", e.gradients},
                       {"optimizer", e.optimizer}, {"reference", e.reference},
                       {"activations", e.activations}, {"total", e.total()},
                       {"trainable_parameters", e.trainableParameters}};
        std::cout << j.dump() << "\n";
        return kOk;
    }

    std::cout << "model:          " << source << "\n"
              << "architecture:   " << m.architecture << " (" << m.modelType << "), " << m.numLayers << " layers, hidden "
              << m.hiddenSize << ", " << m.numHeads << " heads (" << m.numKvHeads << " key/value), context "
              << m.maxPositions << "\n"
              << "parameters:     " << info.parameters << " (" << countText(info.parameters) << ")"
              << (m.tieWordEmbeddings ? ", embeddings tied" : "") << "\n"
              << "weights:        "
              << (info.weightBytes > 0 ? bytesText(double(info.weightBytes)) + " in *.safetensors" : std::string("from a seed"))
              << "\n"
              << "tokenizer:      "
              << (info.tokenizer ? info.tokenizerKind + ", vocabulary " + std::to_string(info.vocabSize)
                                 : "none (" + info.tokenizerProblem + ")")
              << "\n"
              << "chat template:  " << info.chatTemplate.describe() << "\n";
    std::cout << "memory estimate (" << (c.loraRank > 0 ? "LoRA rank " + std::to_string(c.loraRank) + " on " + c.loraTargetModules
                                                       : std::string("full fine-tuning"))
              << ", batch " << c.batchSize << " x 2 sequences of " << c.maxLength << " tokens, " << c.dtype << "):\n"
              << "  weights       " << bytesText(e.weights) << "\n"
              << "  gradients     " << bytesText(e.gradients) << "\n"
              << "  optimizer     " << bytesText(e.optimizer) << "\n"
              << "  reference     " << bytesText(e.reference)
              << (c.loraRank > 0 ? " (the base with adapters off)"
                  : c.referenceFree ? " (reference-free)"
                  : c.precomputeRef ? " (precomputed, then freed)"
                                    : " (a live copy)")
              << "\n"
              << "  activations   " << bytesText(e.activations) << " at most\n"
              << "  total         " << bytesText(e.total()) << "\n"
              << "  trains " << e.trainableParameters << " of " << e.parameters << " parameters\n";
    return kOk;
}

const char* kListModelsUsage =
    "usage: dpowb list-models [--cache DIR] [--all] [--json]\n"
    "\n"
    "Lists the models in the Hugging Face cache (the snapshots that `huggingface-cli download` and\n"
    "`from_pretrained` leave there) that `--model` can take: name, architecture, parameters, size of\n"
    "the weights and the snapshot folder to pass as --model. The cache is --cache DIR, else\n"
    "$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. No weights are read.\n"
    "  --all    also the snapshots the engine cannot load, each with the reason\n"
    "  --json   one JSON object per line instead of the table\n";

int runListModels(Args& args) {
    const std::string cache = args.get("cache", model::huggingFaceHubCache());
    const bool all = args.has("all");
    const bool asJson = args.has("json");
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    const auto models = model::listCachedModels(cache);
    size_t shown = 0, unusable = 0;
    for (const auto& m : models) {
        if (!m.usable()) ++unusable;
        if (!m.usable() && !all) continue;
        ++shown;
        if (asJson) {
            json j = {{"name", m.name}, {"repo_id", m.repoId}, {"revision", m.revision}, {"refs", m.refs},
                      {"path", m.path}, {"usable", m.usable()}};
            if (m.usable()) {
                j["architecture"] = m.architecture;
                j["model_type"] = m.modelType;
                j["parameters"] = m.parameters;
                j["weight_bytes"] = m.weightBytes;
            } else {
                j["problem"] = m.problem;
            }
            std::cout << j.dump() << "\n";
            continue;
        }
        if (m.usable())
            std::cout << m.name << "  " << m.modelType << " (" << m.architecture << "), " << countText(m.parameters)
                      << " parameters, " << bytesText(double(m.weightBytes)) << "\n  " << m.path << "\n";
        else
            std::cout << m.name << "  not usable: " << m.problem << "\n  " << m.path << "\n";
    }
    // The summary goes to stderr: stdout stays the listing alone.
    std::cerr << "list-models: " << shown << " of " << models.size() << " snapshot(s) in " << cache;
    if (unusable > 0 && !all) std::cerr << "; " << unusable << " the engine cannot load (--all lists them with the reason)";
    std::cerr << "\n";
    return kOk;
}

}  // namespace

DPOWB_COMMAND({"list-models", "the models in the Hugging Face cache that --model can take", kListModelsUsage,
               {"all", "json"}, {}, runListModels});

DPOWB_COMMAND({"inspect", "a model folder's architecture, parameters, tokenizer, chat template and a run's memory",
               kInspectUsage, {"json", "precompute-ref", "reference-free"}, {"MODEL"}, runInspect});

}  // namespace dpowb::cli
