// A bounded queue of batches between two threads of one import: the producer blocks while
// `depth` batches wait, so a slow consumer holds the producer back instead of piling up memory.
// Internal to core/store.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>

namespace dpowb::store {

template <typename T>
class BatchQueue {
public:
    explicit BatchQueue(size_t depth = 8) : depth_(depth) {}

    // False when the consumer gave up (the producer then stops).
    bool push(T&& batch) {
        std::unique_lock<std::mutex> lock(m_);
        notFull_.wait(lock, [&] { return aborted_ || batches_.size() < depth_; });
        if (aborted_) return false;
        batches_.push_back(std::move(batch));
        notEmpty_.notify_one();
        return true;
    }
    // False at the end: everything consumed and the producer done, or aborted.
    bool pop(T& batch) {
        std::unique_lock<std::mutex> lock(m_);
        notEmpty_.wait(lock, [&] { return closed_ || aborted_ || !batches_.empty(); });
        if (aborted_ || batches_.empty()) return false;
        batch = std::move(batches_.front());
        batches_.pop_front();
        notFull_.notify_one();
        return true;
    }
    // The producer is done.
    void close() {
        std::lock_guard<std::mutex> lock(m_);
        closed_ = true;
        notEmpty_.notify_all();
    }
    // Either side gives up: waiting batches are dropped and both sides stop waiting.
    void abort() {
        std::lock_guard<std::mutex> lock(m_);
        aborted_ = true;
        batches_.clear();
        notFull_.notify_all();
        notEmpty_.notify_all();
    }

private:
    const size_t depth_;
    std::mutex m_;
    std::condition_variable notEmpty_, notFull_;
    std::deque<T> batches_;
    bool closed_ = false, aborted_ = false;
};

}  // namespace dpowb::store
