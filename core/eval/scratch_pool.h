#pragma once
// Scratch vectors of the forward pass reused across calls: a product or layer takes one from a
// small process-wide pool and gives it back when done, so that the next call finds its pages
// already mapped (a fresh multi-megabyte vector costs a page fault and a zeroing per 4 KiB on
// every layer). A call made inside another's parallel loop simply takes another vector.
// Contents are unspecified: the user writes before it reads.

#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

namespace qs::eval::detail {

template <typename T>
class PooledVector {
public:
    /// A vector of at least n elements (size() == n) from the pool.
    explicit PooledVector(size_t n) {
        {
            std::lock_guard lock(mutex());
            auto& pool = free();
            if (!pool.empty()) {
                v_ = std::move(pool.back());
                pool.pop_back();
            }
        }
        v_.resize(n);
    }
    ~PooledVector() {
        // Kept: at most 8 vectors of at most 256 MiB each.
        if (v_.capacity() * sizeof(T) > (size_t(256) << 20)) return;
        std::lock_guard lock(mutex());
        if (free().size() < 8) free().push_back(std::move(v_));
    }
    PooledVector(const PooledVector&) = delete;
    PooledVector& operator=(const PooledVector&) = delete;

    std::vector<T>& vec() { return v_; }
    T* data() { return v_.data(); }

private:
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    static std::vector<std::vector<T>>& free() {
        static std::vector<std::vector<T>> pool;
        return pool;
    }
    std::vector<T> v_;
};

}  // namespace qs::eval::detail
