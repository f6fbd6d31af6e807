#include "train/loss_types.h"

#include "common/error.h"

namespace dpowb::train {

const std::vector<LossInfo>& lossTypes() {
    static const std::vector<LossInfo> table = {
        {LossType::Sigmoid, "sigmoid", "sigmoid (DPO)", "DPO; with label smoothing ε, conservative DPO (cDPO)", true},
        {LossType::Robust, "robust", "robust", "Robust DPO: unbiased under a label-flip rate ε < 0.5", true},
        {LossType::Hinge, "hinge", "hinge (SLiC)", "SLiC's hinge on the margin: pairs past 1/β stop pulling", false},
        {LossType::Ipo, "ipo", "ipo", "IPO: squared distance of the per-token margin from 1/(2β); resists overfitting", false},
        {LossType::SigmoidNorm, "sigmoid_norm", "sigmoid_norm (length-normalised)",
         "DPO on per-token log-ratios: long responses do not dominate", false},
        {LossType::ExoPair, "exo_pair", "exo_pair (EXO)", "EXO: reverse KL to the labels' (1 − ε, ε); needs ε > 0, e.g. 1e-3", true},
        {LossType::NcaPair, "nca_pair", "nca_pair (NCA)", "NCA: absolute rewards, keeps the chosen likelihood from falling", false},
        {LossType::BcoPair, "bco_pair", "bco_pair (BCO)", "BCO: chosen reward up, rejected reward down, each on its own", false},
        {LossType::SppoHard, "sppo_hard", "sppo_hard (SPPO)", "SPPO, hard labels: chosen log-ratio to 1/(2β), rejected to −1/(2β)", false},
        {LossType::Aot, "aot", "aot (paired AOT)", "AOT: the batch's sorted policy margins against the sorted reference ones", true},
        {LossType::AotUnpaired, "aot_unpaired", "aot_unpaired", "AOT, unpaired: sorted chosen log-ratios against sorted rejected ones", true},
        {LossType::ApoZero, "apo_zero", "apo_zero (APO)", "APO-zero: chosen better than the model's own outputs; raises chosen, lowers rejected", false},
        {LossType::ApoDown, "apo_down", "apo_down (APO)", "APO-down: chosen worse than the model's own outputs; lowers both, rejected more", false},
        {LossType::Discopop, "discopop", "discopop (DiscoPOP)", "DiscoPOP: logistic and exponential losses blended by the margin (τ)", false},
    };
    return table;
}

std::string lossNames(const char* separator) {
    std::string out;
    for (const auto& info : lossTypes()) {
        if (!out.empty()) out += separator;
        out += info.name;
    }
    return out;
}

LossType parseLossType(const std::string& name) {
    for (const auto& info : lossTypes())
        if (name == info.name) return info.type;
    throw Error("unknown loss \"" + name + "\": use one of " + lossNames());
}

const char* toString(LossType type) {
    for (const auto& info : lossTypes())
        if (info.type == type) return info.name;
    return "sigmoid";
}

}  // namespace dpowb::train
