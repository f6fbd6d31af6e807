// The DPO family of losses and the metrics TRL reports, as tensor functions (docs/MATH.md).
//
// Inputs are per-pair summed response log-probs of the policy and of the reference; the
// functions do not run models. Everything here works on any device and dtype; the metrics
// are accumulated in double on the host.
//
// Shapes: N pairs in the batch; every per-pair tensor is (N).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "train/health.h"
#include "train/loss_types.h"

namespace dpowb::train {

// How a pair's annotator disagreement (store::TrainingPair::disagreement(), d ∈ [0, ½)) enters
// the loss (docs/ANALYTICS.md, "Training on agreement"):
//   Smoothing: the pair's ε is max(labelSmoothing, min(d, kMaxAgreementSmoothing)) — cDPO for
//              sigmoid, the flip rate for robust;
//   Weights:   the pair's loss is multiplied by 1 − 2d (1 for a unanimous pair, ⅓ for 2 of 3).
// A pair with d = 0 trains exactly as with Off.
enum class AgreementUse { Off, Smoothing, Weights };
AgreementUse parseAgreementUse(const std::string& name);  // "off" | "smoothing" | "weights"
const char* toString(AgreementUse use);
constexpr double kMaxAgreementSmoothing = 0.4;  // robust's 1/(1 − 2ε) stays at most 5

struct LossOptions {
    LossType type = LossType::Sigmoid;  // the loss when `terms` is empty
    double beta = 0.1;
    double labelSmoothing = 0.0;  // cDPO's ε for sigmoid, the flip rate for robust
    bool referenceFree = false;   // log π_ref ≡ 0
    double rpoAlpha = 0.0;        // adds an sft term of this weight (TRL's rpo_alpha; 0 = off)
    AgreementUse agreement = AgreementUse::Off;  // uses LossInputs::disagreement
    double discopopTau = 0.05;    // discopop's temperature τ (TRL's discopop_tau)
    // Several losses summed with weights (TRL's loss_type list and loss_weights); empty = {type, 1}.
    std::vector<LossTerm> terms;
    double simpoGamma = 0.5;      // SimPO's target margin γ (TRL's simpo_gamma)
    FDivergence fDivergence = FDivergence::ReverseKl;  // TRL's f_divergence_type
    double fAlphaCoef = 0.5;      // α of the alpha divergence (TRL's f_alpha_divergence_coef)
    // Applied where the log-probs are summed (train/dpo_step.h pairLogps), not in dpoLoss:
    double ldAlpha = 1.0;         // LD-DPO: weight of response tokens past the pair's shared length (1 = off)
    bool useWeighting = false;    // WPO: LossInputs::pairWeights from the policy's token probabilities

    // The terms dpoLoss sums: `terms` (or {type, 1}) and the sft term of rpoAlpha.
    std::vector<LossTerm> effectiveTerms() const;
};

// Per-pair quantities of one batch.
struct LossInputs {
    torch::Tensor policyChosen, policyRejected;  // (N) summed response log-probs, with grad
    torch::Tensor refChosen, refRejected;        // (N) summed; ignored when reference-free
    torch::Tensor chosenTokens, rejectedTokens;  // (N) response token counts
    // (N) sums over response positions of the vocabulary-mean logit (for logits/*); optional.
    torch::Tensor chosenLogitSums, rejectedLogitSums;
    // (N) sums over response positions of the predicting distribution's entropy, and the chosen
    // responses' tokens that are their logits' argmax (for entropy, mean_token_accuracy); optional.
    torch::Tensor chosenEntropySums, rejectedEntropySums, chosenTop1;
    // The NLL term's token count (rpoAlpha > 0); 0 = this batch's chosen tokens. A data-parallel
    // shard gives its whole micro-batch's count, scaled by (its pairs / the shard's pairs), so
    // that the ranks' terms add up to the one of the whole micro-batch.
    double nllTokens = 0;
    // (N) each pair's share of annotators who did not give its training verdict, in [0, ½)
    // (float64); undefined = 0 for every pair. Used as LossOptions::agreement says.
    torch::Tensor disagreement;
    // (N) the chosen responses' summed log-probs without LD-DPO's weighting (for the sft term,
    // an NLL over every chosen token as TRL computes it); undefined = policyChosen.
    torch::Tensor policyChosenFull;
    // (N) WPO's weight of each pair, w(chosen)·w(rejected) (detached); undefined = 1. Every
    // term's per-pair loss is multiplied by it, as TRL's use_weighting does.
    torch::Tensor pairWeights;
    // ORPO's NLL is over the whole chosen row, prompt and response, as TRL's ORPOTrainer
    // computes it: (N) the summed log-probs of the chosen rows' prompt tokens after the first
    // (with grad) and their count; undefined = response tokens only.
    torch::Tensor chosenPromptLogps, chosenPromptTokens;
    // ORPO's NLL token count, prompts included; 0 = this batch's. Data-parallel shards: as nllTokens.
    double orpoNllTokens = 0;
};

struct LossOutput {
    torch::Tensor loss;             // () Σ weight · mean over pairs of each term, differentiable
    torch::Tensor losses;           // (N) per-pair loss (Σ weight · term, weighted), detached
    torch::Tensor chosenRewards;    // (N) β·(logp_θ − logp_ref), detached (β·per-token logp for simpo, orpo)
    torch::Tensor rejectedRewards;  // (N)
    torch::Tensor chosenLogps, rejectedLogps;  // (N) what logps/* report (per-token for simpo, orpo), detached
    // () mean per-token NLL of the chosen responses (with orpo: of the chosen rows, prompt
    // included, ORPO's term); undefined without an sft term or orpo. Logged as nll_loss.
    torch::Tensor nll;
    // Further per-pair metrics, detached (orpo: log_odds_ratio, log_odds_chosen).
    std::map<std::string, torch::Tensor> perPair;
};

// The loss of docs/MATH.md's table for the batch, summed over the option's terms. Rewards are
// β times the summed log-ratios for every DPO loss (ipo and sigmoid_norm normalise by length
// inside the loss only, as TRL 1.x does). aot and aot_unpaired pair the batch's sorted
// log-ratios, so their per-pair losses belong to sorted positions, not to pairs.
LossOutput dpoLoss(const LossInputs& in, const LossOptions& options);

// Sums of the per-batch metrics over a logging interval; mean() gives TRL's numbers.
// Pair-weighted means for the per-pair metrics, token-weighted for logits/*, entropy (over the
// chosen and the rejected response tokens) and mean_token_accuracy (over the chosen ones).
class MetricAccumulator {
public:
    // Adds one (micro-)batch; its loss (a mean over its pairs) counts once per pair.
    void add(const LossInputs& in, const LossOutput& out, const LossOptions& options);
    // Adds a scalar averaged over the calls that add it (grad_norm, tokens_per_second).
    void addScalar(const std::string& name, double value);
    bool empty() const { return pairs_ == 0 && scalars_.empty(); }
    int64_t pairs() const { return pairs_; }
    // docs/MATH.md's names: loss, rewards/chosen, rewards/rejected, rewards/margins,
    // rewards/accuracies, logps/chosen, logps/rejected, logits/chosen, logits/rejected,
    // entropy, mean_token_accuracy, nll_loss (with RPO), and the added scalars.
    std::map<std::string, double> mean() const;
    void clear();
    // Keeps each added pair's rewards and response lengths (evaluations: the per-pair health
    // detectors). Off by default; clear() empties the list.
    void keepPairs(bool keep) { keepPairs_ = keep; }
    const std::vector<PairOutcome>& pairOutcomes() const { return pairOutcomes_; }

    // Raw state, so that a checkpoint can carry a half-finished logging interval.
    std::map<std::string, double> state() const;
    void restore(const std::map<std::string, double>& state);

private:
    int64_t pairs_ = 0;
    double chosenTokens_ = 0, rejectedTokens_ = 0;  // of the batches with per-token sums
    std::map<std::string, double> sums_;  // pair-weighted sums (token-weighted for logits/*)
    std::map<std::string, std::pair<double, double>> scalars_;  // sum, count
    bool keepPairs_ = false;
    std::vector<PairOutcome> pairOutcomes_;
};

}  // namespace dpowb::train
