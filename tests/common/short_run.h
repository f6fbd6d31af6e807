// A short run of the demo preset (builtin:tiny on the demo pairs) for the GUI suites: no SFT
// warm-up and no reference pass before the first step, short sequences, a point on every step.
// Suites set what they test on top (steps, evaluations, names, paths).
#pragma once

#include <cstdint>

#include "train/trainer.h"

namespace dpowb::test {

inline train::TrainConfig shortDemoRun(int64_t steps) {
    train::TrainConfig c = train::TrainConfig::demoPreset();
    c.maxSteps = steps;
    c.sftEpochs = 0;
    c.precomputeRef = false;
    c.maxLength = 48;
    c.maxPromptLength = 24;
    c.batchSize = 4;
    c.loggingSteps = 1;
    return c;
}

}  // namespace dpowb::test
