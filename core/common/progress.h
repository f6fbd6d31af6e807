// Progress and cancellation for long operations, without Qt: a callback and an atomic flag.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "common/error.h"

namespace dpowb {

struct Progress {
    // Called with work done and total (total 0 = unknown) and a short phase name. May be
    // called from a worker thread; keep it cheap. May be empty.
    std::function<void(int64_t done, int64_t total, const std::string& phase)> report;
    // When set and true, the operation stops at its next check and throws Cancelled.
    const std::atomic<bool>* cancel = nullptr;

    void operator()(int64_t done, int64_t total, const std::string& phase) const {
        if (report) report(done, total, phase);
    }
    bool cancelled() const { return cancel && cancel->load(std::memory_order_relaxed); }
    void throwIfCancelled() const {
        if (cancelled()) throw Cancelled();
    }
};

}  // namespace dpowb
