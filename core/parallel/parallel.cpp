#include "parallel/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace qs::parallel {

namespace {

std::atomic<int> g_workerNice{0};

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

}  // namespace

void setWorkerNice(int nice) {
    g_workerNice.store(std::clamp(nice, 0, 19), std::memory_order_relaxed);
}

int workerNice() {
    return g_workerNice.load(std::memory_order_relaxed);
}

void lowerThisThreadPriority() {
    thread_local int applied = 0;
    const int nice = workerNice();
    if (nice <= applied) return;
    // Linux: PRIO_PROCESS with a thread id sets that thread's nice value alone.
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    if (::setpriority(PRIO_PROCESS, tid, nice) == 0) applied = nice;
}

const char* runtimeName() {
#ifdef QS_PARALLEL_STD_THREADS
    return "std::thread";
#else
    return "oneTBB";
#endif
}

int defaultThreads() {
    return std::max(1, tbb::info::default_concurrency());
}

void parallelFor(int threads, int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (threads <= 0) threads = defaultThreads();
    grain = std::max<int64_t>(1, grain);
    if (threads == 1 || n <= grain) {
        fn(0, n);
        return;
    }
#ifdef QS_PARALLEL_STD_THREADS
    // ThreadSanitizer builds: Debian's libtbb is not instrumented, so TSan cannot see TBB's
    // synchronisation and reports its task recycling as races. Plain threads joined here are
    // fully visible to TSan, so our own code's accesses are checked exactly.
    const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
    std::vector<std::thread> pool;
    for (int64_t c = 1; c < chunks; ++c) {
        pool.emplace_back([&, c] {
            lowerThisThreadPriority();
            fn(n * c / chunks, n * (c + 1) / chunks);
        });
    }
    fn(0, n / chunks);
    for (auto& t : pool) t.join();
    return;
#endif
    // TBB's workers take the worker priority (setWorkerNice) with their first chunk; the calling
    // thread keeps its own (it may be one that must stay responsive).
    const std::thread::id caller = std::this_thread::get_id();
    arenaFor(threads).execute([&] {
        tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain),
                          [&](const tbb::blocked_range<int64_t>& r) {
                              if (std::this_thread::get_id() != caller) lowerThisThreadPriority();
                              fn(r.begin(), r.end());
                          });
    });
}

void orderedPipeline(int threads, size_t slots, const std::function<bool(size_t)>& produce,
                     const std::function<void(size_t)>& work,
                     const std::function<void(size_t)>& consume) {
    if (threads <= 0) threads = defaultThreads();
    slots = std::max<size_t>(1, slots);
    size_t next = 0;  // the next item's number (produce runs one item at a time)
    if (threads == 1 || slots == 1) {
        for (;; ++next) {
            const size_t slot = next % slots;
            if (!produce(slot)) return;
            work(slot);
            consume(slot);
        }
    }
#ifdef QS_PARALLEL_STD_THREADS
    // ThreadSanitizer builds: rounds of `slots` items, produced in order, worked on plain
    // threads (parallelFor), consumed in order. Less overlap, the same results, visible to TSan.
    for (bool more = true; more;) {
        size_t n = 0;
        while (n < slots && (more = produce(n))) ++n;
        parallelFor(threads, int64_t(n), 1, [&](int64_t a, int64_t b) {
            for (int64_t i = a; i < b; ++i) work(size_t(i));
        });
        for (size_t i = 0; i < n; ++i) consume(i);
    }
    return;
#endif
    // oneTBB: at most `slots` live tokens, and the last stage is serial in order, so item k has
    // left the pipeline before item k + slots is produced into the same slot.
    const std::thread::id caller = std::this_thread::get_id();
    auto lower = [caller] {
        if (std::this_thread::get_id() != caller) lowerThisThreadPriority();
    };
    arenaFor(threads).execute([&] {
        tbb::parallel_pipeline(
            slots,
            tbb::make_filter<void, size_t>(tbb::filter_mode::serial_in_order,
                                           [&](tbb::flow_control& fc) -> size_t {
                                               lower();
                                               const size_t slot = next % slots;
                                               if (!produce(slot)) {
                                                   fc.stop();
                                                   return 0;
                                               }
                                               ++next;
                                               return slot;
                                           }) &
                tbb::make_filter<size_t, size_t>(tbb::filter_mode::parallel,
                                                 [&](size_t slot) {
                                                     lower();
                                                     work(slot);
                                                     return slot;
                                                 }) &
                tbb::make_filter<size_t, void>(tbb::filter_mode::serial_in_order, [&](size_t slot) {
                    lower();
                    consume(slot);
                }));
    });
}

}  // namespace qs::parallel
