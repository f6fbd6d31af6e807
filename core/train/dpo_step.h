// The pieces of one DPO optimizer step, public for the trainer, the tests and the benchmark:
// the AdamW optimizer with HF's decay groups, the batched policy/reference log-probs, and the
// forward/backward over the micro-batches of one step.
//
// Exposes LibTorch types: include only from .cpp files of core/train, tests and bench.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <vector>

#include "common/error.h"
#include "common/progress.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "store/types.h"
#include "train/losses.h"
#include "train/mixed_precision.h"
#include "train/trainer.h"

namespace dpowb::train {

// AdamW over the trainable parameters, in two groups as transformers does: weight decay on
// matrices (embeddings included), none on biases and norm weights (every 1-D parameter).
std::unique_ptr<torch::optim::AdamW> makeOptimizer(torch::nn::Module& net, const TrainConfig& config);
void setLearningRate(torch::optim::Optimizer& optimizer, double lr);
std::vector<torch::Tensor> trainableParameters(torch::nn::Module& net);
// Clips the global L2 norm of the gradients to maxNorm (0 = no clipping) and returns the
// norm before clipping (what TRL logs as grad_norm).
double clipGradients(const std::vector<torch::Tensor>& params, double maxNorm);

// How a pair's response log-probs are summed.
struct LogpOptions {
    // LD-DPO (TRL's ld_alpha): tokens past the shorter response's length count with this weight
    // in both responses' sums, so that length alone does not make a margin. 1 = a plain sum.
    double ldAlpha = 1.0;
    // WPO (TRL's use_weighting): also compute each response's weight exp(mean over its tokens of
    // log p(token) − log Σ_v p_v²), the probability of the response under the policy's own
    // sampling, normalised per token.
    bool wpoWeights = false;
    // TRL's per-token metrics (entropy, mean_token_accuracy); off for the reference, whose are
    // not logged.
    bool tokenMetrics = true;
};

// Per-pair log-probs of a DPO batch: one concatenated forward of [chosen…; rejected…].
struct PairLogps {
    torch::Tensor chosen, rejected;              // (N) summed response log-probs (LD-weighted)
    torch::Tensor chosenFull;                    // (N) chosen's plain sums (= chosen when ldAlpha is 1)
    torch::Tensor chosenTokens, rejectedTokens;  // (N)
    torch::Tensor chosenLogitSums, rejectedLogitSums;  // (N)
    torch::Tensor chosenWeight, rejectedWeight;  // (N) WPO's weights, detached; with wpoWeights only
    torch::Tensor chosenEntropySums, rejectedEntropySums;  // (N) summed per-token entropies
    torch::Tensor chosenTop1;                    // (N) chosen tokens that are their logits' argmax
    int64_t realTokens = 0;                      // non-padding tokens in the forward
};
PairLogps pairLogps(model::CausalLM& net, const std::vector<const model::EncodedPair*>& pairs, text::TokenId padId,
                    const LogpOptions& options = {});

// Where the reference log-probs of a batch come from.
struct ReferenceSource {
    model::CausalLM* net = nullptr;  // live reference (under no-grad); nullptr = use `cached`
    bool adaptersOff = false;        // the policy itself with its LoRA adapters switched off
    bool referenceFree = false;
};

// One micro-batch: its pairs and, when the reference was precomputed, their cached values.
struct MicroBatch {
    std::vector<const model::EncodedPair*> pairs;
    std::vector<store::RefLogps> cached;  // same order as pairs; empty for a live reference
    double nllTokens = 0;                 // LossInputs::nllTokens (data-parallel shards)
    double orpoNllTokens = 0;             // LossInputs::orpoNllTokens (data-parallel shards)
    std::vector<double> disagreement;     // LossInputs::disagreement per pair; empty = all 0
};

struct StepOutcome {
    double loss = 0;          // pair-weighted mean over the step's micro-batches
    int64_t pairs = 0;
    int64_t realTokens = 0;   // policy forward tokens (for tokens_per_second)
    bool finite = true;
};

// Forward + backward of every micro-batch of one optimizer step (the forwards and the loss under
// `amp`'s autocast, the backward outside it); gradients accumulate in the
// policy's parameters (the caller zeroes them before and steps after). Each micro-batch's
// loss is weighted by its share of the step's pairs, so k micro-batches give the gradient of
// one batch k times larger. Metrics are added to `metrics` when given.
StepOutcome accumulateStep(model::CausalLM& policy, const ReferenceSource& reference,
                           const std::vector<MicroBatch>& microBatches, const LossOptions& options,
                           text::TokenId padId, MetricAccumulator* metrics, bool backward = true,
                           const MixedPrecision& amp = {});

// Reference log-probs of the pairs, batch by batch under no-grad.
std::vector<store::RefLogps> referenceLogps(model::CausalLM& net, bool adaptersOff,
                                            const std::vector<const model::EncodedPair*>& pairs, int64_t batchSize,
                                            text::TokenId padId, const Progress& progress = {},
                                            double ldAlpha = 1.0);

// TR-DPO's update of a live reference (TRL's sync_ref_model): every reference parameter
// becomes α·policy + (1 − α)·reference, matched by name. Throws when the two networks'
// parameters do not match.
void mixIntoReference(torch::nn::Module& reference, torch::nn::Module& policy, double alpha);

LossOptions lossOptionsOf(const TrainConfig& config);

// The SFT warm-up: (prompt, response) rows, trained on the response tokens.
using SftRow = std::pair<std::vector<text::TokenId>, std::vector<text::TokenId>>;
// The response tokens the SFT loss of `rows` averages over (a response is scored from its
// first token when there is a prompt, from its second otherwise).
double sftScoredTokens(const std::vector<const SftRow*>& rows);
// Forward (under `amp`) and backward of one SFT batch: the summed response-token NLL of `rows`
// divided by `tokens` (at least 1). One process passes the batch's own sftScoredTokens; a rank
// of a data-parallel job passes its shard of the global batch and the global batch's count,
// so that the ranks' losses, and their gradients, add up to those of the global batch.
// Returns the loss; no rows: 0, and no gradient.
double sftStep(model::CausalLM& net, const std::vector<const SftRow*>& rows, double tokens, text::TokenId padId,
               const MixedPrecision& amp = {});

}  // namespace dpowb::train
