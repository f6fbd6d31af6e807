// The loss types under TRL's names (trl.DPOConfig.loss_type) and what the CLI, the run form
// and the configuration check say of each; the formulas are in losses.cpp and docs/MATH.md.
//
// Torch-free (the light dpowb and the GUI's form use it).
#pragma once

#include <string>
#include <vector>

namespace dpowb::train {

// The losses under TRL's names (trl.DPOConfig.loss_type), formulas in docs/MATH.md.
enum class LossType {
    Sigmoid, Robust, Hinge, Ipo,
    SigmoidNorm, ExoPair, NcaPair, BcoPair, SppoHard, Aot, AotUnpaired, ApoZero, ApoDown, Discopop
};

// One row per loss: what the CLI, the run form and the configuration check show and accept.
struct LossInfo {
    LossType type;
    const char* name;     // TRL's loss_type
    const char* label;    // for the run form's list
    const char* summary;  // one line: what it does and when to use it
    bool labelSmoothing;  // takes --label-smoothing (ε)
};
const std::vector<LossInfo>& lossTypes();
std::string lossNames(const char* separator = ", ");  // "sigmoid, robust, …"

// A name of lossTypes(); throws dpowb::Error naming the accepted values.
LossType parseLossType(const std::string& name);
const char* toString(LossType type);

}  // namespace dpowb::train
