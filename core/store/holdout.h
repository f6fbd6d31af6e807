// A test split for a project that has none: "hold out N % as test", seeded and recorded, so
// that a run on imported data has pairs to evaluate on.
#pragma once

#include <cstdint>
#include <string>

#include "store/project.h"

namespace dpowb::store {

struct HoldOutResult {
    int64_t moved = 0;      // pairs moved from train to test
    int64_t remaining = 0;  // trainable pairs left in train
};

// Moves `percent` % (rounded, at least one) of the train pairs whose current verdict is a or b
// (the pairs a run trains on) to the test split, in one transaction. Which pairs is decided by
// SHA-256(seed, content hash): the same project and seed pick the same pairs whatever their
// ids or import order. The choice is recorded in meta `test_holdout` (percent, seed, pairs,
// time). Refuses (dpowb::Error, project unchanged) when the project has test pairs already,
// when percent is not in (0, 50], or when fewer than two trainable pairs exist.
HoldOutResult holdOutTestSplit(Project& project, double percent, uint64_t seed);

}  // namespace dpowb::store
