// Learning-rate schedules as in Hugging Face transformers' get_scheduler: a linear warm-up
// from 0, then constant, linear decay to 0, or half a cosine to 0. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace dpowb::train {

// Multiplier of the base learning rate for optimizer step `step` (0-based) of `totalSteps`.
// Like HF's LambdaLR, step 0 of a warm-up uses 0: the first update does not move the weights.
// `type`: constant | linear | cosine (throws dpowb::Error otherwise).
double lrMultiplier(const std::string& type, int64_t step, int64_t warmupSteps, int64_t totalSteps);

}  // namespace dpowb::train
