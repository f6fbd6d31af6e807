// Policy vs reference: generate completions from both with shared settings and seeds, and
// score any completion under both (log-probs, implicit reward β·(log π_θ − log π_ref), and the
// per-token log-ratio that shows where they disagree). Also the implicit reward margin of the
// project's pairs under a run (score-pairs, the pair browser's margin columns).
//
// Torch-free: the GUI includes this header. Everything with tensors lives in compare.cpp.
// A Comparer is used from one thread at a time (the GUI's worker thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/message.h"
#include "common/progress.h"
#include "model/sampling.h"
#include "store/types.h"

namespace dpowb::store {
class Project;
}

namespace dpowb::eval {

// Shared by both sides. Sample i of each side uses seed + i, so policy sample i and
// reference sample i draw the same random numbers.
struct SamplingSettings : model::SamplingOptions {
    std::string toJson() const;  // {"max_new_tokens", "temperature", "top_k", "top_p", ...}
};

// What to compare and how to encode text for scoring.
struct ModelPair {
    std::string policy;     // model folder or builtin:tiny
    std::string reference;  // model folder or builtin:tiny
    // When set, the policy is `reference` plus this PEFT adapter, and the reference is the
    // same network with the adapter switched off: one copy of the weights in memory.
    std::string policyAdapter;
    double beta = 0.1;
    int64_t runId = 0;  // 0 when not from a run
    std::string device = "auto";
    std::string dtype = "float32";
    std::string chatTemplate;  // "" = the model's own
    int64_t maxLength = 1024;
    int64_t maxPromptLength = 512;
    bool keepEnd = false;  // truncation mode keep_end
};

// A run's policy (its --out folder) and its reference (the run's reference path, else
// out/reference, else the initial policy), β and encoding settings from the run's
// configuration. Throws dpowb::Error when the run or its folders are missing.
ModelPair modelsForRun(store::Project& project, int64_t runId);
// Two folders. `reference` "" = POLICY/reference when it exists; otherwise an error that asks
// for one.
ModelPair modelsForFolders(const std::string& policy, const std::string& reference, double beta = 0.1);

// Exactly one of text / messages (messages: the chat template with the generation prompt).
struct PromptInput {
    std::string text;
    std::vector<Message> messages;
};

struct TokenScore {
    int32_t id = 0;
    std::string text;  // the token's own decoded text (may be a partial UTF-8 character)
    double logpPolicy = 0, logpReference = 0;
    double logRatio() const { return logpPolicy - logpReference; }
};

struct CompletionScore {
    double logpPolicy = 0, logpReference = 0;  // summed over the response tokens
    double reward = 0;                         // β·(logpPolicy − logpReference)
    int64_t tokens = 0;
    std::vector<TokenScore> perToken;
};

struct Completion {
    std::string side;  // "policy" | "reference"
    int index = 0;     // sample number within its side
    uint64_t seed = 0;
    std::string text;
    std::vector<int32_t> ids;  // generated ids (ending with EOS when finishReason is "eos")
    std::string finishReason;  // eos | stop | length | cancelled
    CompletionScore score;
};

// The implicit reward margin of a stored pair. With a current verdict a/b, chosen/rejected
// follow it (margin = reward(chosen) − reward(rejected)); otherwise margin = reward(A) − reward(B).
struct PairMargin {
    int64_t pairId = 0;
    std::optional<store::Verdict> verdict;
    bool byLabel = false;  // true: margin is chosen − rejected
    double policyLogpA = 0, referenceLogpA = 0, policyLogpB = 0, referenceLogpB = 0;
    int64_t tokensA = 0, tokensB = 0;
    double rewardA = 0, rewardB = 0;
    double margin = 0;
};

// Called with each streamed piece: side ("policy"/"reference"), sample index, text.
using PieceCallback = std::function<void(const std::string& side, int index, const std::string& piece)>;

class Comparer {
public:
    // Loads the models (may take a while); `cancel`, when set and true, stops the loading at
    // its next tensor with dpowb::Cancelled.
    explicit Comparer(const ModelPair& models, const std::atomic<bool>* cancel = nullptr);
    ~Comparer();
    Comparer(const Comparer&) = delete;
    Comparer& operator=(const Comparer&) = delete;

    const ModelPair& models() const;
    double beta() const;
    std::string policyFingerprint() const;
    std::string referenceFingerprint() const;
    std::vector<std::string> warnings() const;  // from loading

    // Throws dpowb::Error when the prompt cannot be encoded for generation (no tokenizer, a
    // message list without a chat template): a caller checks its prompts before generating.
    void checkPrompt(const PromptInput& prompt) const;

    // `n` samples per side: policy 0, reference 0, policy 1, reference 1, ... Each is scored
    // under both models unless `score` is false. Cancelling ends the current completion
    // (finishReason "cancelled") and skips the rest.
    std::vector<Completion> generate(const PromptInput& prompt, const SamplingSettings& settings, int n,
                                     const PieceCallback& onPiece = {}, const Progress& progress = {},
                                     bool score = true);
    // Sample `index` of one side ("policy" or "reference"): seed = settings.seed + index.
    // Not scored (see scoreIds).
    Completion generateOne(const PromptInput& prompt, const SamplingSettings& settings, const std::string& side,
                           int index, const PieceCallback& onPiece = {}, const Progress& progress = {});

    // A text response scored as `dpowb score` scores it (EOS appended, docs/MATH.md's encoding).
    CompletionScore score(const PromptInput& prompt, const std::string& response);
    // Exact ids after the encoded prompt (e.g. a generated completion), used verbatim.
    CompletionScore scoreIds(const PromptInput& prompt, const std::vector<int32_t>& responseIds);

    // Margins of the given pairs, batched (`batchSize` pairs per forward).
    std::vector<PairMargin> scorePairs(const std::vector<store::Pair>& pairs, int batchSize = 8,
                                       const Progress& progress = {});

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

}  // namespace dpowb::eval
