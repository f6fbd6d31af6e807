#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace dpowb::train {

double lrMultiplier(const std::string& type, int64_t step, int64_t warmupSteps, int64_t totalSteps) {
    if (type != "constant" && type != "linear" && type != "cosine")
        throw Error("unknown --lr-scheduler-type \"" + type + "\": use constant, linear or cosine");
    if (step < warmupSteps) return double(step) / double(std::max<int64_t>(1, warmupSteps));
    if (type == "constant") return 1.0;
    const double decaySteps = double(std::max<int64_t>(1, totalSteps - warmupSteps));
    const double progress = double(step - warmupSteps) / decaySteps;
    if (type == "linear") return std::max(0.0, double(totalSteps - step) / decaySteps);
    // HF's default of half a cycle: from 1 down to 0 at the last step.
    return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

}  // namespace dpowb::train
