#include "train/batching.h"

#include <algorithm>
#include <numeric>

namespace dpowb::train {

uint64_t ShuffleRng::next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t ShuffleRng::below(uint64_t n) {
    // Rejection sampling keeps the draw unbiased.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
}

std::vector<std::vector<int64_t>> lengthGroupedBatches(const std::vector<int64_t>& lengths, int64_t batchSize,
                                                       uint64_t seed, int64_t epoch, int64_t groupBatches) {
    std::vector<int64_t> order(lengths.size());
    std::iota(order.begin(), order.end(), int64_t(0));
    ShuffleRng rng(seed * 0x100000001B3ULL + uint64_t(epoch) * 0x9E3779B97F4A7C15ULL + 1);
    rng.shuffle(order);
    const size_t group = size_t(std::max<int64_t>(1, batchSize * std::max<int64_t>(1, groupBatches)));
    for (size_t start = 0; start < order.size(); start += group) {
        auto first = order.begin() + start;
        auto last = order.begin() + std::min(order.size(), start + group);
        std::stable_sort(first, last, [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    }
    std::vector<std::vector<int64_t>> batches;
    for (size_t start = 0; start < order.size(); start += size_t(batchSize))
        batches.emplace_back(order.begin() + start, order.begin() + std::min(order.size(), start + size_t(batchSize)));
    // Keep the (possibly short) last batch last, so every other batch is full.
    if (batches.size() > 1 && batches.back().size() < size_t(batchSize)) {
        auto tail = std::move(batches.back());
        batches.pop_back();
        rng.shuffle(batches);
        batches.push_back(std::move(tail));
    } else {
        rng.shuffle(batches);
    }
    return batches;
}

}  // namespace dpowb::train
