// Mixed precision for training: float32 master weights and AdamW state, the forward passes (and
// the loss) under autocast in bfloat16, the backward pass outside autocast, as PyTorch's AMP
// recipe has it. The same scope works on CUDA and on the CPU (CPU autocast), which is how the
// tests check it on a machine without a GPU.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

#include "common/error.h"

namespace dpowb::train {

struct MixedPrecision {
    bool enabled = false;
    c10::DeviceType device = c10::DeviceType::CUDA;
    c10::ScalarType dtype = c10::ScalarType::BFloat16;
};

// What a training run with --dtype `dtype` on `device` uses: float32 = off; bfloat16 = autocast
// on that device (weights stay float32). float16 is refused: without dynamic loss scaling its
// gradients underflow.
inline MixedPrecision trainingPrecision(const std::string& dtype, const c10::Device& device) {
    MixedPrecision mp;
    mp.device = device.type();
    if (dtype == "float32" || dtype == "fp32") return mp;
    if (dtype == "bfloat16" || dtype == "bf16") {
        mp.enabled = true;
        mp.dtype = c10::ScalarType::BFloat16;
        return mp;
    }
    if (dtype == "float16" || dtype == "fp16")
        throw Error("--dtype float16 is not offered for training: without dynamic loss scaling small gradients "
                    "underflow to zero; use --dtype bfloat16 (same speed on GPUs from Ampere on) or float32");
    throw Error("unknown dtype \"" + dtype + "\" (expected float32, bfloat16 or float16)");
}

// Autocast on for the scope's lifetime; the previous state (enabled flag and dtype of that
// device) comes back on exit, exceptions included, and the cast-weight cache is cleared when the
// outermost scope ends. A disabled MixedPrecision makes it a no-op.
class AutocastScope {
public:
    explicit AutocastScope(const MixedPrecision& mp) : mp_(mp) {
        if (!mp_.enabled) return;
        wasEnabled_ = at::autocast::is_autocast_enabled(mp_.device);
        previous_ = at::autocast::get_autocast_dtype(mp_.device);
        at::autocast::set_autocast_enabled(mp_.device, true);
        at::autocast::set_autocast_dtype(mp_.device, mp_.dtype);
        at::autocast::increment_nesting();
    }
    ~AutocastScope() {
        if (!mp_.enabled) return;
        at::autocast::set_autocast_enabled(mp_.device, wasEnabled_);
        at::autocast::set_autocast_dtype(mp_.device, previous_);
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    }
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

private:
    MixedPrecision mp_;
    bool wasEnabled_ = false;
    c10::ScalarType previous_ = c10::ScalarType::BFloat16;
};

}  // namespace dpowb::train
