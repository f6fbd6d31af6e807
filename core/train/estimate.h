// The memory a training run needs, estimated from the model's configuration and the run's
// options before anything is loaded: the run form shows it, `dpowb inspect` prints it.
// Shapes come from the architecture table (model/architectures.h), LoRA's targets are matched
// as applyLora matches them.
//
// Torch-free.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "train/trainer.h"

namespace dpowb::train {

// Peak memory of a run in bytes, by part. Activations are an upper bound at max length.
struct MemoryEstimate {
    double weights = 0, gradients = 0, optimizer = 0, reference = 0, activations = 0;
    int64_t parameters = 0;           // of the network
    int64_t trainableParameters = 0;  // all of them, or the LoRA adapters'
    double total() const { return weights + gradients + optimizer + reference + activations; }
};
MemoryEstimate estimateMemory(const model::ModelConfig& model, const TrainConfig& config);

// Parameters the LoRA adapters add for the configured target modules (0 for rank 0): r·(in +
// out) for every projection a target names (PEFT's rule: "c_proj" names GPT-2's attention and
// MLP output projections both).
int64_t loraParameterCount(const model::ModelConfig& model, const TrainConfig& config);

}  // namespace dpowb::train
