// Text generation with a KV cache: greedy, temperature, top-k, top-p, repetition penalty,
// seeded sampling, stop at EOS or a stop string, streaming to a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "model/model.h"

namespace dpowb::model {

struct GenerateOptions {
    int64_t maxNewTokens = 64;
    double temperature = 1.0;  // 0 = greedy
    int64_t topK = 0;          // 0 = off
    double topP = 1.0;         // 1 = off
    double repetitionPenalty = 1.0;
    uint64_t seed = 0;
    std::vector<std::string> stopStrings;
    bool stopAtEos = true;
};

struct GenerateResult {
    std::vector<text::TokenId> ids;    // the new tokens only
    std::string text;                  // their decoded text (stop string excluded)
    std::vector<double> tokenLogps;    // log-prob of each new token under the (unmodified) model
    std::string finishReason;          // "eos", "stop", "length", "cancelled"
};

// Streams each new piece of text (decoded incrementally, whole UTF-8 characters only).
using TokenCallback = std::function<void(const std::string& piece, text::TokenId id)>;

GenerateResult generate(Model& model, const std::vector<text::TokenId>& promptIds,
                        const GenerateOptions& options, const TokenCallback& onToken = {},
                        const Progress& progress = {});

}  // namespace dpowb::model
