#include "parallel/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

namespace qs::parallel {

namespace {

// One arena per thread count, created once and kept: building an arena per call costs more
// than decoding a small tensor. task_arena::execute is thread-safe, so callers may share one.
tbb::task_arena& arenaFor(int threads) {
    static std::mutex mutex;
    static std::map<int, std::unique_ptr<tbb::task_arena>> arenas;
    std::lock_guard lock(mutex);
    auto& a = arenas[threads];
    if (!a) a = std::make_unique<tbb::task_arena>(threads);
    return *a;
}

} // namespace

int defaultThreads() { return std::max(1, tbb::info::default_concurrency()); }

void parallelFor(int threads, int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (threads <= 0) threads = defaultThreads();
    grain = std::max<int64_t>(1, grain);
    if (threads == 1 || n <= grain) {
        fn(0, n);
        return;
    }
    arenaFor(threads).execute([&] {
        tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain),
                          [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); });
    });
}

} // namespace qs::parallel
