#include "train/loss_types.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/text_list.h"

namespace dpowb::train {

const std::vector<LossInfo>& lossTypes() {
    //                 type, name, label, summary, ε, reference, f-divergence
    static const std::vector<LossInfo> table = {
        {LossType::Sigmoid, "sigmoid", "sigmoid (DPO)", "DPO; with label smoothing ε, conservative DPO (cDPO)", true, true, true},
        {LossType::Robust, "robust", "robust", "Robust DPO: unbiased under a label-flip rate ε < 0.5", true, true, true},
        {LossType::Hinge, "hinge", "hinge (SLiC)", "SLiC's hinge on the margin: pairs past 1/β stop pulling", false, true, true},
        {LossType::Ipo, "ipo", "ipo", "IPO: squared distance of the per-token margin from 1/(2β); resists overfitting", false, true, true},
        {LossType::SigmoidNorm, "sigmoid_norm", "sigmoid_norm (length-normalised)",
         "DPO on per-token log-ratios: long responses do not dominate", false, true, true},
        {LossType::ExoPair, "exo_pair", "exo_pair (EXO)", "EXO: reverse KL to the labels' (1 − ε, ε); needs ε > 0, e.g. 1e-3", true, true, true},
        {LossType::NcaPair, "nca_pair", "nca_pair (NCA)", "NCA: absolute rewards, keeps the chosen likelihood from falling", false, true, false},
        {LossType::BcoPair, "bco_pair", "bco_pair (BCO)", "BCO: chosen reward up, rejected reward down, each on its own", false, true, false},
        {LossType::SppoHard, "sppo_hard", "sppo_hard (SPPO)", "SPPO, hard labels: chosen log-ratio to 1/(2β), rejected to −1/(2β)", false, true, false},
        {LossType::Aot, "aot", "aot (paired AOT)", "AOT: the batch's sorted policy margins against the sorted reference ones", true, true, false},
        {LossType::AotUnpaired, "aot_unpaired", "aot_unpaired", "AOT, unpaired: sorted chosen log-ratios against sorted rejected ones", true, true, false},
        {LossType::ApoZero, "apo_zero", "apo_zero (APO)", "APO-zero: chosen better than the model's own outputs; raises chosen, lowers rejected", false, true, false},
        {LossType::ApoDown, "apo_down", "apo_down (APO)", "APO-down: chosen worse than the model's own outputs; lowers both, rejected more", false, true, false},
        {LossType::Discopop, "discopop", "discopop (DiscoPOP)", "DiscoPOP: logistic and exponential losses blended by the margin (τ)", false, true, true},
        {LossType::Sft, "sft", "sft (NLL of chosen)", "The chosen responses' NLL per token; as a second term it keeps their likelihood up (RPO)", false, false, true},
        {LossType::Simpo, "simpo", "simpo (SimPO, no reference)",
         "SimPO: per-token log-prob margin above γ/β; no reference model, half the memory", true, false, false},
        {LossType::Orpo, "orpo", "orpo (ORPO, no reference)",
         "ORPO: NLL of chosen plus β × log-odds ratio; SFT and preference in one stage, no reference", false, false, false},
    };
    return table;
}

const LossInfo& lossInfo(LossType type) {
    for (const auto& info : lossTypes())
        if (info.type == type) return info;
    return lossTypes().front();
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

const char* toString(LossType type) { return lossInfo(type).name; }

std::string lossNamesWith(bool LossInfo::*flag) {
    std::string out;
    for (const auto& info : lossTypes())
        if (info.*flag) out += std::string(out.empty() ? "" : ", ") + info.name;
    return out;
}

std::vector<LossTerm> parseLossTerms(const std::string& list, const std::vector<double>& weights) {
    std::vector<LossTerm> terms;
    for (const std::string& name : splitCommaList(list)) {
        if (name.empty()) throw Error("--loss \"" + list + "\" has an empty name: list losses as sigmoid,bco_pair,sft");
        const LossType type = parseLossType(name);
        for (const auto& t : terms)
            if (t.type == type) throw Error("--loss names " + name + " twice: give each loss once, with its weight in --loss-weights");
        terms.push_back({type, 1.0});
    }
    if (!weights.empty()) {
        if (weights.size() != terms.size())
            throw Error("--loss-weights gives " + std::to_string(weights.size()) + " weights for " +
                        std::to_string(terms.size()) + " losses: give one per name of --loss, in its order");
        for (size_t i = 0; i < terms.size(); ++i) {
            if (!(weights[i] >= 0) || !std::isfinite(weights[i]))
                throw Error("--loss-weights: the weight of " + std::string(toString(terms[i].type)) +
                            " must be 0 or more");
            terms[i].weight = weights[i];
        }
    }
    bool refFree = false, withRef = false;
    for (const auto& t : terms) {
        if (t.type == LossType::Simpo || t.type == LossType::Orpo) refFree = true;
        if (lossInfo(t.type).reference) withRef = true;
    }
    if (refFree && withRef)
        throw Error("--loss: simpo and orpo train without a reference model and cannot be combined with losses that "
                    "need one; combine them with sft only");
    if (refFree && terms.size() > 1) {
        int n = 0;
        for (const auto& t : terms) n += (t.type == LossType::Simpo || t.type == LossType::Orpo) ? 1 : 0;
        if (n > 1) throw Error("--loss: use simpo or orpo, not both");
    }
    return terms;
}

std::vector<double> parseLossWeights(const std::string& list) {
    std::vector<double> weights;
    for (const std::string& item : splitCommaList(list)) {
        size_t used = 0;
        double w = 0;
        try {
            w = std::stod(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (item.empty() || used != item.size())
            throw Error("--loss-weights \"" + list + "\": give numbers separated by commas, one per loss, e.g. 0.8,0.2,1.0");
        weights.push_back(w);
    }
    return weights;
}

bool needsReference(const std::vector<LossTerm>& terms) {
    for (const auto& t : terms)
        if (lossInfo(t.type).reference) return true;
    return false;
}

FDivergence parseFDivergence(const std::string& name) {
    if (name == "reverse_kl") return FDivergence::ReverseKl;
    if (name == "forward_kl") return FDivergence::ForwardKl;
    if (name == "js_divergence") return FDivergence::JsDivergence;
    if (name == "alpha_divergence") return FDivergence::AlphaDivergence;
    throw Error("unknown --f-divergence-type \"" + name +
                "\": use reverse_kl (standard DPO), forward_kl, js_divergence or alpha_divergence");
}

const char* toString(FDivergence f) {
    switch (f) {
        case FDivergence::ReverseKl: return "reverse_kl";
        case FDivergence::ForwardKl: return "forward_kl";
        case FDivergence::JsDivergence: return "js_divergence";
        case FDivergence::AlphaDivergence: return "alpha_divergence";
    }
    return "reverse_kl";
}

}  // namespace dpowb::train
