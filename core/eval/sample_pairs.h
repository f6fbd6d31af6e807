// Sampled pairs for labelling: for each prompt, one completion from the policy and one from the
// reference (same settings, same seed), made into a new unlabelled pair whose sides are drawn
// by a seeded coin and recorded in its metadata. `dpowb sample-pairs` and the compare view's
// "Sample pairs…" both make their pairs here, so the same prompts, models and seed give the
// same pairs in both.
//
// Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "eval/compare.h"
#include "store/types.h"

namespace dpowb::store {
class Project;
}

namespace dpowb::eval {

struct SamplePrompt {
    PromptInput input;
    std::string source;  // where it came from: FILE:LINE or pair:ID
};

// The distinct prompts (text and messages) of the project's pairs in `split`, in pair order;
// at most `limit` of them (0 = all). `chat` wraps a text prompt as one user message. Throws
// dpowb::Error when the split has no pairs.
std::vector<SamplePrompt> promptsFromSplit(store::Project& project, const std::string& split, bool chat,
                                           size_t limit = 0);

// Whether the policy's completion is side A of the pair sampled with `seed`: a fair coin that
// depends on the seed alone.
bool policyIsA(uint64_t seed);

struct SampledPair {
    store::Pair pair;  // source policy-vs-reference, unlabelled, in the given split
    bool policyIsA = false;
    std::string promptSource;
    Completion policy, reference;
};

// Pair k (0 <= k < n) takes prompt k mod prompts.size() and seed settings.seed + k for both
// models; its metadata records the sides ("a", "b"), the models, the run, the sampling settings,
// the seed, the prompt's source and each side's finish reason. `onPair(done, n)` after each
// pair. Throws dpowb::Cancelled when `progress` is cancelled.
std::vector<SampledPair> samplePairs(Comparer& comparer, const std::vector<SamplePrompt>& prompts, int64_t n,
                                     const SamplingSettings& settings, const std::string& split,
                                     const Progress& progress = {},
                                     const std::function<void(int64_t done, int64_t total)>& onPair = {});

}  // namespace dpowb::eval
