// Turning (prompt, response) into token ids and computing sequence log-probs exactly as
// docs/MATH.md defines them: the prompt is tokenized on its own, the response tokens are the suffix
// of tokenizing prompt + response (chat template applied to the prompt with the generation
// prompt), EOS appended; log-probs summed over response tokens only.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/message.h"
#include "model/model.h"

namespace dpowb::model {

struct EncodeOptions {
    int64_t maxLength = 1024;        // prompt + response
    int64_t maxPromptLength = 512;
    bool keepEnd = false;            // truncation mode for the prompt: keep_start (default) | keep_end
    bool useChatTemplate = true;     // for message prompts (plain-text prompts never use it)
    bool appendEos = true;
};

// One tokenized prompt with its two responses.
struct EncodedPair {
    std::vector<text::TokenId> prompt, chosen, rejected;
    bool promptTruncated = false;
    bool responseTruncated = false;  // some response tokens were cut by maxLength
    bool emptyResponse = false;      // a response lost all its tokens: cannot train on it
    // Tokenizing prompt + response changed the prompt's last tokens (a merge across the boundary,
    // or a template rendering the prompt otherwise alone): they went to the responses, as TRL does.
    bool promptNotPrefix = false;
};

// Text prompt (messages empty) or chat prompt (messages non-empty).
EncodedPair encodePair(const Model& model, const std::string& prompt,
                       const std::vector<Message>& messages, const std::string& chosen,
                       const std::string& rejected, const EncodeOptions& options);
// Pre-tokenized ids, used verbatim (no BOS/EOS added); truncated like the text form.
EncodedPair encodePairIds(std::vector<text::TokenId> prompt, std::vector<text::TokenId> chosen,
                          std::vector<text::TokenId> rejected, const EncodeOptions& options);

// A padded batch of sequences (right padding). Rows: for a DPO batch of N pairs, rows
// 0..N-1 are prompt+chosen and N..2N-1 prompt+rejected (one concatenated forward).
struct SequenceBatch {
    torch::Tensor inputIds;      // (B,T) int64, padded with padId
    torch::Tensor attentionMask; // (B,T) int64, 1 = real token
    torch::Tensor responseMask;  // (B,T) bool: position t is a response token (predicted by t-1)
    torch::Tensor responseTokens;  // (B) int64, number of response tokens per row
};

SequenceBatch collatePairs(const std::vector<const EncodedPair*>& pairs, text::TokenId padId);
// Single sequences (prompt, response), e.g. for SFT or scoring generated text.
SequenceBatch collateSequences(const std::vector<std::pair<std::vector<text::TokenId>, std::vector<text::TokenId>>>& rows,
                               text::TokenId padId);

struct SequenceLogps {
    torch::Tensor logps;       // (B) summed log-prob of the response tokens
    torch::Tensor tokens;      // (B) response token counts
    torch::Tensor meanLogits;  // (B) sum over response positions of the vocabulary-mean logit
                               //     (divide the batch sum by the token sum for logits/*)
    // Per scored token (M of them), row by row and within a row in position order:
    torch::Tensor tokenLogps;     // (M) its log-prob (with grad, like logps)
    torch::Tensor tokenRows;      // (M) int64 its row
    torch::Tensor tokenLogSumSq;  // (M) log Σ_v p_v² at its position (detached); only with
                                  //     ScoreOptions::squaredProbs (WPO's alignment term)
    // For TRL's `entropy` and `mean_token_accuracy` metrics (docs/MATH.md), detached:
    torch::Tensor entropySums;  // (B) sum over response positions of the predicting distribution's entropy
    torch::Tensor top1;         // (B) response tokens that are the argmax of their logits (first on ties)
};

struct ScoreOptions {
    bool squaredProbs = false;  // also fill SequenceLogps::tokenLogSumSq
    bool tokenMetrics = true;   // fill entropySums and top1 (a reference's are not logged)
};

// One forward of `net` over the batch; gradients flow unless called under NoGradGuard.
// Only response positions go through the LM head (hidden states are sliced first), and the
// target log-prob is logit[target] - logsumexp(logits).
SequenceLogps sequenceLogps(CausalLM& net, const SequenceBatch& batch, const ScoreOptions& options = {});

// The same result as sequenceLogps(net, collatePairs(pairs, padId)) (rows 0..N-1 chosen,
// N..2N-1 rejected), with each prompt run once instead of twice: the prompts go through the
// network first, their keys and values are shared by the chosen and the rejected row, and
// the responses continue from them at their own positions. Saves the prompt tokens' share
// of the work (a third when prompts are half as long as the rows). Equal up to float
// rounding; falls back to the plain batch where the architecture cannot place tokens or a
// sliding window is shorter than the rows.
SequenceLogps pairSequenceLogps(CausalLM& net, const std::vector<const EncodedPair*>& pairs, text::TokenId padId,
                                const ScoreOptions& options = {});

}  // namespace dpowb::model
