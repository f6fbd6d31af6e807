// The order in which a training run visits its pairs: shuffled with the run's seed, grouped
// by length (so that a batch carries little padding), the same on every machine. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace dpowb::train {

// A small counter-based generator (SplitMix64): the standard library's distributions are
// implementation-defined, and a run must shuffle identically everywhere to be reproducible.
class ShuffleRng {
public:
    explicit ShuffleRng(uint64_t seed) : state_(seed) {}
    uint64_t next();
    uint64_t below(uint64_t n);  // uniform in [0, n), n > 0
    template <class T>
    void shuffle(std::vector<T>& v) {
        for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
    }

private:
    uint64_t state_;
};

// Batches of example indices for one epoch. `lengths[i]` is the padded-row length of example
// i (prompt + longer response). Indices are shuffled, cut into groups of `groupBatches`
// batches, sorted by length inside each group (longest first), cut into batches, and the
// batches shuffled, like transformers' LengthGroupedSampler. The last batch may be smaller.
std::vector<std::vector<int64_t>> lengthGroupedBatches(const std::vector<int64_t>& lengths, int64_t batchSize,
                                                       uint64_t seed, int64_t epoch, int64_t groupBatches = 50);

}  // namespace dpowb::train
