// Text generation with a KV cache: greedy, temperature, top-k, top-p, repetition penalty,
// seeded sampling, stop at EOS or a stop string, streaming to a callback.
//
// The prompt is run through the network once (prefill); after that each step feeds only the
// newest token and extends the cache. Logit processing follows Hugging Face `generate` in
// order and meaning: repetition penalty, then temperature, top-k, top-p.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/message.h"
#include "common/progress.h"
#include "model/model.h"
#include "model/sampling.h"

namespace dpowb::model {

struct GenerateOptions : SamplingOptions {
    bool stopAtEos = true;
    // Extra ids that end generation like EOS (e.g. a chat template's end-of-turn token).
    std::vector<text::TokenId> stopTokenIds;
};

struct GenerateResult {
    // The new tokens only, including the EOS / stop token that ended generation (so that
    // scoring the ids gives the same log-prob as tokenLogps sums to).
    std::vector<text::TokenId> ids;
    std::string text;                  // their decoded text (stop string and EOS excluded)
    std::vector<double> tokenLogps;    // log-prob of each new token under the (unmodified) model
    std::string finishReason;          // "eos", "stop", "length", "cancelled"
};

// Streams each new piece of text (decoded incrementally, whole UTF-8 characters only). The
// pieces concatenate to GenerateResult::text. `id` is the token that completed the piece.
using TokenCallback = std::function<void(const std::string& piece, text::TokenId id)>;

// The prompt's ids exactly as training and scoring encode a prompt (logprobs.h: the
// tokenizer's leading special tokens, and for a chat prompt the model's chat template with the
// generation prompt). Throws dpowb::Error when a chat prompt meets a model without a template.
std::vector<text::TokenId> encodePrompt(const Model& model, const std::string& prompt,
                                        const std::vector<Message>& messages = {});

// Defaults as Hugging Face `generate` takes them from the model folder's
// generation_config.json: sampling only with do_sample true (then temperature 1, top-k 50,
// top-p 1 unless given), its repetition_penalty and max_new_tokens, and every eos_token_id as
// a stop token. Without the file (or for builtin:tiny): greedy. The chat template's
// end-of-turn token, when it is a single token, is a stop token too.
GenerateOptions generationDefaults(const Model& model);

GenerateResult generate(Model& model, const std::vector<text::TokenId>& promptIds,
                        const GenerateOptions& options, const TokenCallback& onToken = {},
                        const Progress& progress = {});

// ---- the building blocks, public for tests and for other samplers ----

// Hugging Face semantics: for every distinct id in `history`, a positive logit is divided by
// `penalty`, a negative one multiplied. logits: (V) float, modified in place.
void applyRepetitionPenalty(torch::Tensor& logits, const std::vector<text::TokenId>& history,
                            double penalty);
// Keeps the k largest logits (all those tied with the k-th too); the rest become -inf.
torch::Tensor filterTopK(const torch::Tensor& logits, int64_t k);
// Nucleus: keeps the smallest set of most probable tokens whose total probability is >= p
// (at least one token); the rest become -inf. p >= 1 keeps everything.
torch::Tensor filterTopP(const torch::Tensor& logits, double p);
// Draws from softmax(logits) by inverting the cumulative distribution at u in [0,1), in
// double precision and in id order, so a given u always gives the same id.
text::TokenId sampleFromLogits(const torch::Tensor& logits, double u);

// Incremental detokenizer: turns a growing list of token ids into text pieces that never
// split a UTF-8 character, and stops at stop strings without ever releasing any part of one.
class TextStream {
public:
    // `context`: a few ids that precede the generated ones (the end of the prompt), so that
    // tokenizers which treat the first token of a decode specially (SentencePiece's leading
    // space) decode the continuation exactly as it reads after the prompt.
    TextStream(const text::Tokenizer& tokenizer, std::vector<text::TokenId> context,
               std::vector<std::string> stopStrings, bool skipSpecial = true);

    // Adds one token; returns the text that became final (possibly empty).
    std::string push(text::TokenId id);
    // No more tokens: releases what was held back (up to a stop string, if one completes).
    std::string finish();
    bool stopped() const { return stopped_; }
    const std::string& text() const { return released_; }

private:
    std::string release(bool final);

    const text::Tokenizer& tokenizer_;
    std::vector<text::TokenId> ids_;
    size_t prefixOffset_ = 0, readOffset_ = 0;
    std::vector<std::string> stops_;
    bool skipSpecial_;
    std::string pending_;   // decoded but held back: it may be the start of a stop string
    std::string released_;
    bool stopped_ = false;
};

}  // namespace dpowb::model
