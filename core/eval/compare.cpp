// Policy vs reference generation and scoring (see compare.h).
#include "eval/compare.h"
#include "store/pair_outcomes.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/number.h"
#include "model/generate.h"
#include "model/logprobs.h"
#include "model/lora.h"
#include "model/model.h"
#include "store/project.h"
#include "store/run_folder.h"
#include "train/trainer.h"

namespace dpowb::eval {

namespace fs = std::filesystem;
using nlohmann::json;
using text::TokenId;

// ---- settings ----

std::string SamplingSettings::toJson() const {
    json j = {{"max_new_tokens", maxNewTokens}, {"temperature", temperature}, {"top_k", topK},
              {"top_p", topP}, {"repetition_penalty", repetitionPenalty}, {"seed", seed}};
    if (!stopStrings.empty()) j["stop"] = stopStrings;
    return j.dump();
}

namespace {

model::GenerateOptions toGenerateOptions(const SamplingSettings& s) {
    model::GenerateOptions o;
    static_cast<model::SamplingOptions&>(o) = s;
    return o;
}

bool isModelFolder(const std::string& path) {
    return path == "builtin:tiny" || fs::exists(fs::path(path) / "config.json");
}

}  // namespace

// ---- which models ----

ModelPair modelsForRun(store::Project& project, int64_t runId) {
    auto run = project.run(runId);
    if (!run) throw Error(project.path() + ": there is no run " + std::to_string(runId));
    const train::TrainConfig cfg = train::TrainConfig::fromJson(run->configJson);
    ModelPair mp;
    mp.runId = runId;
    mp.beta = cfg.beta;
    mp.maxLength = cfg.maxLength;
    mp.maxPromptLength = cfg.maxPromptLength;
    mp.keepEnd = cfg.truncationMode == "keep_end";
    mp.policy = run->outputDir;
    if (!mp.policy.empty()) {
        const std::string problem = store::runFolderProblem(mp.policy, project.projectId(), runId, cfg.outToken);
        if (!problem.empty()) throw Error("run " + std::to_string(runId) + ": " + problem + "; compare its folders by hand if you know they belong together");
    }
    if (mp.policy.empty() || !isModelFolder(mp.policy))
        throw Error("run " + std::to_string(runId) + " (" + store::toString(run->status) + ") has no trained model" +
                    (mp.policy.empty() ? std::string() : " in " + mp.policy) +
                    "; the policy is written when a run finishes or is stopped");
    if (!run->referencePath.empty()) mp.reference = run->referencePath;
    else if (isModelFolder((fs::path(run->outputDir) / "reference").string()))
        mp.reference = (fs::path(run->outputDir) / "reference").string();
    else mp.reference = run->modelPath;
    if (!isModelFolder(mp.reference))
        throw Error("run " + std::to_string(runId) + ": its reference " + mp.reference + " is not a model folder any more");

    // A LoRA run's adapter sits on its reference whenever the reference is the network the
    // adapter was trained on: then one copy of the weights serves both sides.
    const fs::path adapter = fs::path(run->outputDir) / "adapter";
    const std::string adapterBase =
        cfg.sftEpochs > 0 ? (fs::path(run->outputDir) / "reference").string() : run->modelPath;
    if (cfg.loraRank > 0 && fs::exists(adapter / "adapter_config.json") && adapterBase == mp.reference)
        mp.policyAdapter = adapter.string();
    return mp;
}

ModelPair modelsForFolders(const std::string& policy, const std::string& reference, double beta) {
    ModelPair mp;
    mp.policy = policy;
    mp.beta = beta;
    if (!reference.empty()) {
        mp.reference = reference;
    } else if (policy != "builtin:tiny" && isModelFolder((fs::path(policy) / "reference").string())) {
        mp.reference = (fs::path(policy) / "reference").string();
    } else {
        throw Error("no reference model for " + policy + ": give one (--ref DIR, or builtin:tiny)");
    }
    return mp;
}

// ---- the comparer ----

struct Comparer::Impl {
    ModelPair models;
    std::shared_ptr<model::Model> policy, reference;
    bool sharedNetwork = false;  // policy = reference + adapters
    std::vector<std::string> warnings;

    // Selects a side: with a shared network, switches the adapters to match.
    model::Model& use(const std::string& side) {
        const bool isPolicy = side == "policy";
        if (!isPolicy && side != "reference") throw Error("side must be \"policy\" or \"reference\", got \"" + side + "\"");
        if (sharedNetwork) policy->net->setAdaptersEnabled(isPolicy);
        return isPolicy ? *policy : *reference;
    }

    std::vector<TokenId> promptIds(const PromptInput& p) const {
        if (!p.text.empty() && !p.messages.empty()) throw Error("a prompt is either text or messages, not both");
        return model::encodePrompt(*policy, p.text, p.messages);
    }

    model::EncodeOptions encodeOptions() const {
        model::EncodeOptions o;
        o.maxLength = models.maxLength;
        o.maxPromptLength = models.maxPromptLength;
        o.keepEnd = models.keepEnd;
        return o;
    }

    // Log-prob of each response token given everything before it: (R) doubles.
    std::vector<double> tokenLogps(model::Model& m, const std::vector<TokenId>& prompt,
                                   const std::vector<TokenId>& response) {
        if (response.empty()) return {};
        if (prompt.empty()) throw Error("cannot score a response without a prompt token before it");
        torch::NoGradGuard noGrad;
        const bool wasTraining = m.net->is_training();
        m.net->eval();
        std::vector<int64_t> all(prompt.begin(), prompt.end());
        all.insert(all.end(), response.begin(), response.end());
        auto ids = torch::tensor(all, torch::kInt64).view({1, -1}).to(m.device);
        const auto P = int64_t(prompt.size()), R = int64_t(response.size());
        auto hidden = m.net->hidden(ids, torch::Tensor());               // (1,T,C)
        auto logits = m.net->lmHead(hidden[0].slice(0, P - 1, P - 1 + R)).to(torch::kFloat32);  // (R,V)
        auto targets = ids[0].slice(0, P, P + R).unsqueeze(1);             // (R,1)
        auto lp = (logits.gather(1, targets).squeeze(1) - logits.logsumexp(1)).to(torch::kCPU, torch::kFloat64);
        if (wasTraining) m.net->train();
        return std::vector<double>(lp.data_ptr<double>(), lp.data_ptr<double>() + R);
    }

    CompletionScore scoreIds(const std::vector<TokenId>& prompt, const std::vector<TokenId>& response) {
        auto lpPolicy = tokenLogps(use("policy"), prompt, response);
        auto lpRef = tokenLogps(use("reference"), prompt, response);
        CompletionScore s;
        s.tokens = int64_t(response.size());
        for (size_t i = 0; i < response.size(); ++i) {
            TokenScore t;
            t.id = response[i];
            t.text = policy->tokenizer ? policy->tokenizer->decode({response[i]}) : std::string();
            t.logpPolicy = lpPolicy[i];
            t.logpReference = lpRef[i];
            s.logpPolicy += t.logpPolicy;
            s.logpReference += t.logpReference;
            s.perToken.push_back(std::move(t));
        }
        s.reward = models.beta * (s.logpPolicy - s.logpReference);
        return s;
    }
};

Comparer::Comparer(const ModelPair& models, const std::atomic<bool>* cancel) : d_(std::make_unique<Impl>()) {
    d_->models = models;
    if (!(models.beta > 0) || !std::isfinite(models.beta))
        throw Error("beta must be a positive number, got " + numberText(models.beta));
    model::LoadOptions lo;
    lo.device = models.device;
    lo.dtype = models.dtype;
    lo.chatTemplate = models.chatTemplate;
    lo.cancel = cancel;
    auto note = [&](const std::string& who, const std::shared_ptr<model::Model>& m) {
        for (const auto& w : m->warnings) d_->warnings.push_back(who + ": " + w);
    };
    if (!models.policyAdapter.empty()) {
        d_->reference = model::loadModel(models.reference, lo);
        model::loadLoraAdapter(*d_->reference, models.policyAdapter);
        d_->policy = d_->reference;
        d_->sharedNetwork = true;
        note("reference", d_->reference);
    } else {
        d_->policy = model::loadModel(models.policy, lo);
        note("policy", d_->policy);
        if (models.reference == models.policy) {
            d_->reference = d_->policy;
        } else {
            d_->reference = model::loadModel(models.reference, lo);
            note("reference", d_->reference);
        }
    }
    if (d_->policy->config.vocabSize != d_->reference->config.vocabSize)
        throw Error("policy " + models.policy + " and reference " + models.reference +
                    " have different vocabularies (" + std::to_string(d_->policy->config.vocabSize) + " vs " +
                    std::to_string(d_->reference->config.vocabSize) + " tokens): they cannot score each other's text");
    if (!d_->policy->tokenizer)
        throw Error(models.policy + ": the model has no tokenizer.json; comparing needs text");
}

Comparer::~Comparer() = default;

const ModelPair& Comparer::models() const { return d_->models; }
double Comparer::beta() const { return d_->models.beta; }
std::string Comparer::policyFingerprint() const {
    return d_->sharedNetwork ? d_->policy->fingerprint + "+" + d_->models.policyAdapter : d_->policy->fingerprint;
}
std::string Comparer::referenceFingerprint() const { return d_->reference->fingerprint; }
std::vector<std::string> Comparer::warnings() const { return d_->warnings; }

void Comparer::checkPrompt(const PromptInput& prompt) const { (void)d_->promptIds(prompt); }

Completion Comparer::generateOne(const PromptInput& prompt, const SamplingSettings& settings, const std::string& side,
                                 int index, const PieceCallback& onPiece, const Progress& progress) {
    model::Model& m = d_->use(side);
    model::GenerateOptions o = toGenerateOptions(settings);
    o.seed = settings.seed + uint64_t(index);
    o.stopTokenIds = model::generationDefaults(m).stopTokenIds;  // EOS ids and end of turn only
    const auto ids = d_->promptIds(prompt);
    model::TokenCallback cb;
    if (onPiece) cb = [&](const std::string& piece, TokenId) { onPiece(side, index, piece); };
    auto r = model::generate(m, ids, o, cb, progress);
    Completion c;
    c.side = side;
    c.index = index;
    c.seed = o.seed;
    c.text = r.text;
    c.ids.assign(r.ids.begin(), r.ids.end());
    c.finishReason = r.finishReason;
    return c;
}

std::vector<Completion> Comparer::generate(const PromptInput& prompt, const SamplingSettings& settings, int n,
                                           const PieceCallback& onPiece, const Progress& progress, bool score) {
    settings.validate();
    if (n < 1) throw Error("the number of samples per side must be at least 1, got " + std::to_string(n));
    const auto ids = d_->promptIds(prompt);
    std::vector<Completion> out;
    for (int i = 0; i < n; ++i) {
        for (const char* side : {"policy", "reference"}) {
            if (progress.cancelled()) return out;
            Completion c = generateOne(prompt, settings, side, i, onPiece, progress);
            if (score && c.finishReason != "cancelled") c.score = d_->scoreIds(ids, c.ids);
            out.push_back(std::move(c));
            progress(int64_t(out.size()), int64_t(2 * n), "compare");
        }
    }
    return out;
}

CompletionScore Comparer::score(const PromptInput& prompt, const std::string& response) {
    if (!prompt.text.empty() && !prompt.messages.empty()) throw Error("a prompt is either text or messages, not both");
    auto enc = model::encodePair(*d_->policy, prompt.text, prompt.messages, response, response, d_->encodeOptions());
    return d_->scoreIds(enc.prompt, enc.chosen);
}

CompletionScore Comparer::scoreIds(const PromptInput& prompt, const std::vector<int32_t>& responseIds) {
    const std::vector<TokenId> response(responseIds.begin(), responseIds.end());
    return d_->scoreIds(d_->promptIds(prompt), response);
}

std::vector<PairMargin> Comparer::scorePairs(const std::vector<store::Pair>& pairs, int batchSize,
                                             const Progress& progress) {
    if (batchSize < 1) throw Error("batch size must be at least 1");
    const auto opts = d_->encodeOptions();
    std::vector<model::EncodedPair> encoded;
    encoded.reserve(pairs.size());
    for (const auto& p : pairs) {
        try {
            encoded.push_back(model::encodePair(*d_->policy, p.prompt, p.promptMessages, p.responseA, p.responseB, opts));
        } catch (const Error& e) {
            throw Error("pair " + std::to_string(p.id) + ": " + e.what());
        }
    }
    TokenId padId = 0;
    if (auto pad = d_->policy->tokenizer->padId()) padId = *pad;
    else if (auto eos = d_->policy->tokenizer->eosId()) padId = *eos;

    std::vector<PairMargin> out(pairs.size());
    torch::NoGradGuard noGrad;
    for (size_t start = 0; start < pairs.size(); start += size_t(batchSize)) {
        progress.throwIfCancelled();
        const size_t end = std::min(pairs.size(), start + size_t(batchSize));
        std::vector<const model::EncodedPair*> chunk;
        for (size_t i = start; i < end; ++i) chunk.push_back(&encoded[i]);
        const auto batch = model::collatePairs(chunk, padId);
        auto logpsOf = [&](const char* side) {
            model::Model& m = d_->use(side);
            const bool wasTraining = m.net->is_training();
            m.net->eval();
            auto s = model::sequenceLogps(*m.net, batch);
            if (wasTraining) m.net->train();
            return s.logps.to(torch::kCPU, torch::kFloat64).contiguous();
        };
        auto pol = logpsOf("policy");
        auto ref = logpsOf("reference");
        auto tokens = batch.responseTokens.to(torch::kCPU);
        const auto N = int64_t(chunk.size());
        for (int64_t k = 0; k < N; ++k) {
            const size_t i = start + size_t(k);
            PairMargin& m = out[i];
            m.pairId = pairs[i].id;
            m.verdict = pairs[i].verdict;
            m.policyLogpA = pol[k].item<double>();
            m.referenceLogpA = ref[k].item<double>();
            m.policyLogpB = pol[N + k].item<double>();
            m.referenceLogpB = ref[N + k].item<double>();
            m.tokensA = tokens[k].item<int64_t>();
            m.tokensB = tokens[N + k].item<int64_t>();
            // One computation with the drill-down's records (store/pair_outcomes.h).
            const auto o = store::outcomeFromLogps(m.pairId, m.verdict, d_->models.beta, m.policyLogpA, m.referenceLogpA,
                                                   m.policyLogpB, m.referenceLogpB, m.tokensA, m.tokensB);
            const bool bChosen = o.chosen == "b";
            m.rewardA = bChosen ? o.rejectedReward : o.chosenReward;
            m.rewardB = bChosen ? o.chosenReward : o.rejectedReward;
            m.byLabel = !o.chosen.empty();
            m.margin = o.margin();
        }
        progress(int64_t(end), int64_t(pairs.size()), "score");
    }
    return out;
}

}  // namespace dpowb::eval
