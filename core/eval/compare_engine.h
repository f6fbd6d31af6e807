// What the compare view asks of the models, in the view's own value types: generate a
// completion from the policy or the reference and score any (prompt, response) under both,
// with per-piece log-probs for the colouring. The work is done by the torch-free compare API
// (eval/compare.h, Comparer); this class keeps one Comparer alive between requests and cuts
// its per-token scores into pieces of whole characters for display.
//
// Torch-free and Qt-free: the GUI's compare worker includes it.
//
// Not thread-safe: one engine belongs to one worker thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/message.h"
#include "eval/compare.h"
#include "store/types.h"

namespace dpowb::eval {

// The compare view's sampling, shared by both sides (the same seed for both, so that
// differences come from the weights, not from the dice).
struct CompareSampling {
    bool greedy = false;
    double temperature = 0.8;
    int64_t topK = 0;      // 0 = off
    double topP = 1.0;     // 1 = off
    int64_t maxNewTokens = 48;
    uint64_t seed = 1;
    int samples = 1;       // per side; sample i uses seed + i

    // The seed of sample `index` (0-based).
    uint64_t seedFor(int index) const { return seed + uint64_t(index); }
    // As stored in a pair's metadata: {"greedy", "temperature", "top_k", "top_p",
    // "max_new_tokens", "seed"}.
    std::string toJson() const;
    // The core's settings (greedy = temperature 0; the core adds the sample index to the seed).
    SamplingSettings toCore() const;
};

enum class Side { Policy = 0, Reference = 1 };

// A response scored under both models. `pieces` are the response as the user reads it, cut
// where whole characters end; each piece's log-probs are the sums over the tokens that produced
// it, so the pieces' values add up to the totals. Tokens past the end of the text (EOS, a chat
// template's end of turn) make one last piece with empty text.
struct ScoredText {
    std::string text;
    std::vector<int32_t> ids;  // generated ids (empty for scored text)
    std::vector<std::string> pieces;
    std::vector<double> policyPieceLogps, referencePieceLogps;
    double policyLogp = 0, referenceLogp = 0;  // summed over the response tokens
    int64_t tokens = 0;
    std::string finishReason;  // generated text: "eos", "stop", "length", "cancelled"; "" for scored text

    double logRatio() const { return policyLogp - referenceLogp; }
    double reward(double beta) const { return beta * logRatio(); }
};

// A pair's two responses scored the way `dpowb score` scores them (EOS appended).
struct ScoredPair {
    ScoredText a, b;
};

class CompareEngine {
public:
    CompareEngine();
    ~CompareEngine();
    CompareEngine(const CompareEngine&) = delete;
    CompareEngine& operator=(const CompareEngine&) = delete;

    // Loads (or keeps, when nothing that matters changed) the two models. Throws dpowb::Error
    // with a readable message.
    // `cancel`: as Comparer's (a closed window or Stop during a long load).
    void load(const ModelPair& models, const std::atomic<bool>* cancel = nullptr);
    bool loaded() const;
    const ModelPair* models() const;
    // The loaded Comparer itself, for work that is not the view's (sample pairs: eval/sample_pairs.h).
    // Throws dpowb::Error when nothing is loaded.
    Comparer& comparer();

    // Generates with one model and scores the result under both. `onPiece` streams the text
    // as it is released. Stops early (finishReason "cancelled") when `cancel` becomes true.
    ScoredText generate(Side side, const std::string& prompt, const std::vector<Message>& messages,
                        const CompareSampling& settings, int sampleIndex,
                        const std::function<void(const std::string& piece)>& onPiece,
                        const std::atomic<bool>* cancel);

    // Scores the pair's two responses (chat template for chat prompts, EOS appended).
    ScoredPair scorePair(const std::string& prompt, const std::vector<Message>& messages,
                         const std::string& responseA, const std::string& responseB);

    // Summed log-probs of the pairs' responses under both models, batched; the numbers
    // `dpowb score` prints for the same encoding settings. `progress(done, total)` after each
    // batch; throws dpowb::Cancelled when `cancel` becomes true.
    std::vector<PairMargin> scorePairs(const std::vector<store::Pair>& pairs,
                                              const std::function<void(int64_t, int64_t)>& progress,
                                              const std::atomic<bool>* cancel);

    // Cuts per-token scores into display pieces (see ScoredText).
    static ScoredText fromScore(const std::string& text, const CompletionScore& score);

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

}  // namespace dpowb::eval
