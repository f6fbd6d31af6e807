// Named training presets: the run form's "Preset" list and `dpowb train --preset` both take
// their configurations from here. Torch-free (compiled into the light `dpowb` too, with
// config.cpp).
#pragma once

#include <string>
#include <vector>

#include "train/trainer.h"

namespace dpowb::train {

struct PresetInfo {
    std::string name;   // as `--preset` takes it: demo, lora-real-model, full-fine-tune
    std::string title;  // as the run form lists it
};

// Every preset, in the order the form lists them (the demo first).
const std::vector<PresetInfo>& presets();

// The configuration of the named preset. The demo trains builtin:tiny (demoPreset()); the
// others leave `model` empty for the caller to fill. Throws dpowb::Error naming the presets
// there are when `name` is not one of them.
TrainConfig presetConfig(const std::string& name);

}  // namespace dpowb::train
