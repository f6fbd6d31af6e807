// Sampling settings, without LibTorch: shared by generation (generate.h) and the compare API
// (eval/compare.h) that the GUI includes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dpowb::model {

struct SamplingOptions {
    int64_t maxNewTokens = 64;
    double temperature = 1.0;  // 0 = greedy
    int64_t topK = 0;          // 0 = off
    double topP = 1.0;         // 1 = off
    double repetitionPenalty = 1.0;
    uint64_t seed = 0;
    std::vector<std::string> stopStrings;

    // Throws dpowb::Error naming the setting that is out of range.
    void validate() const;
};

}  // namespace dpowb::model
