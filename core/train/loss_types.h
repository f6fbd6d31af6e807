// The loss types under TRL's names (trl.DPOConfig.loss_type, and SimPO and ORPO from TRL's CPO
// and ORPO trainers) and what the CLI, the run form and the configuration check say of each;
// the formulas are in losses.cpp and docs/MATH.md.
//
// Torch-free (the light dpowb and the GUI's form use it).
#pragma once

#include <string>
#include <vector>

namespace dpowb::train {

// The losses under TRL's names (trl.DPOConfig.loss_type), formulas in docs/MATH.md.
enum class LossType {
    Sigmoid, Robust, Hinge, Ipo,
    SigmoidNorm, ExoPair, NcaPair, BcoPair, SppoHard, Aot, AotUnpaired, ApoZero, ApoDown, Discopop,
    Sft,           // the NLL of the chosen responses as a term (TRL's "sft"; --rpo-alpha A adds it with weight A)
    Simpo, Orpo    // reference-free: SimPO (TRL's CPO loss_type="simpo") and ORPO (TRL's ORPOTrainer)
};

// One row per loss: what the CLI, the run form and the configuration check show and accept.
struct LossInfo {
    LossType type;
    const char* name;     // TRL's loss_type
    const char* label;    // for the run form's list
    const char* summary;  // one line: what it does and when to use it
    bool labelSmoothing;  // takes --label-smoothing (ε)
    bool reference;       // needs the reference model's log-probs
    bool fDivergence;     // built on the chosen − rejected score difference: takes --f-divergence-type
};
const std::vector<LossInfo>& lossTypes();
const LossInfo& lossInfo(LossType type);
std::string lossNames(const char* separator = ", ");  // "sigmoid, robust, …"
// The names of the losses with a flag set, e.g. lossNamesWith(&LossInfo::labelSmoothing).
std::string lossNamesWith(bool LossInfo::*flag);

// A name of lossTypes(); throws dpowb::Error naming the accepted values.
LossType parseLossType(const std::string& name);
const char* toString(LossType type);

// One term of a combined loss: TRL's loss_type list with loss_weights (MPO = sigmoid 0.8,
// bco_pair 0.2, sft 1.0). The loss is Σ weight · mean over pairs of the term's per-pair loss.
struct LossTerm {
    LossType type = LossType::Sigmoid;
    double weight = 1.0;
};
// "sigmoid,bco_pair,sft" with weights {0.8, 0.2, 1.0} (empty = 1 each). Throws dpowb::Error
// naming what to change: an unknown name, a repeated one, weights of another count, a weight
// below zero, SimPO or ORPO next to a loss that needs the reference.
std::vector<LossTerm> parseLossTerms(const std::string& list, const std::vector<double>& weights = {});
// "0.8,0.2,1" as --loss-weights gives it; throws dpowb::Error saying the form.
std::vector<double> parseLossWeights(const std::string& list);
// True when any term needs the reference model.
bool needsReference(const std::vector<LossTerm>& terms);

// TRL's f_divergence_type (f-DPO): which f-divergence regularises the policy towards the
// reference. Only the losses built on the score difference take another than reverse KL.
enum class FDivergence { ReverseKl, ForwardKl, JsDivergence, AlphaDivergence };
FDivergence parseFDivergence(const std::string& name);  // reverse_kl | forward_kl | js_divergence | alpha_divergence
const char* toString(FDivergence f);

}  // namespace dpowb::train
