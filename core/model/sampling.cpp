#include "model/sampling.h"

#include <cmath>

#include "common/error.h"
#include "common/number.h"

namespace dpowb::model {

void SamplingOptions::validate() const {
    if (maxNewTokens < 0) throw Error("max-new-tokens must be >= 0, got " + std::to_string(maxNewTokens));
    if (!(temperature >= 0) || !std::isfinite(temperature))
        throw Error("temperature must be >= 0 (0 = greedy), got " + numberText(temperature));
    if (topK < 0) throw Error("top-k must be >= 0 (0 = off), got " + std::to_string(topK));
    if (!(topP > 0 && topP <= 1)) throw Error("top-p must be in (0, 1] (1 = off), got " + numberText(topP));
    if (!(repetitionPenalty > 0) || !std::isfinite(repetitionPenalty))
        throw Error("repetition-penalty must be > 0 (1 = off), got " + numberText(repetitionPenalty));
    for (const auto& s : stopStrings)
        if (s.empty()) throw Error("a stop string must not be empty");
}

}  // namespace dpowb::model
