#pragma once
// The only door to oneTBB. Every parallel job runs in its own task_arena sized by the caller's
// thread count, each chunk writes a disjoint slice of the output, and threads == 1 runs a plain
// loop (for debugging and golden tests). Results never depend on the thread count.

#include <cstddef>
#include <cstdint>
#include <functional>

namespace qs::parallel {

/// What runs the parallel loops in this build: "oneTBB", or "std::thread" in ThreadSanitizer
/// builds (QS_PARALLEL_STD_THREADS).
const char* runtimeName();

/// Number of threads to use when the caller passes 0 ("all cores").
int defaultThreads();

/// Run the worker threads of parallel loops (and threads that call lowerThisThreadPriority) at
/// a lower scheduling priority: Linux nice value `nice` (1..19; 0, the default, leaves them
/// alone). The desktop application sets it so that its GUI thread, which never runs parallel
/// work, stays responsive while a job keeps every core busy. The CLI leaves it at 0.
void setWorkerNice(int nice);
int workerNice();
/// Give the calling thread the worker nice value (once per thread; no-op when it is 0). For
/// the threads that start background jobs: they take part in their loops too.
void lowerThisThreadPriority();

/// Call fn(begin, end) over [0, n) in chunks of at least `grain` items, on `threads` threads
/// (0 = default). Blocks until done. fn must be thread-safe across disjoint ranges.
void parallelFor(int threads, int64_t n, int64_t grain,
                 const std::function<void(int64_t begin, int64_t end)>& fn);

/// An ordered pipeline over items 0, 1, 2, ... on `threads` threads (0 = default), at most
/// `slots` items in flight. `produce(slot)` runs on one item at a time, in item order, and returns
/// false when there is no next item; `work(slot)` runs on up to `threads` items at once;
/// `consume(slot)` runs on one item at a time, in item order. Item k has slot k % slots: no
/// other item holds that slot while k is in flight, so per-slot buffers need no locks. The three
/// stages of different items overlap (one item is read while others are encoded and an earlier
/// one is written). No exceptions: a stage records a failure in its slot, and the caller's
/// produce returns false once it should stop. Blocks until every produced item is consumed.
/// threads == 1 runs produce, work, consume item after item on the calling thread.
void orderedPipeline(int threads, size_t slots, const std::function<bool(size_t slot)>& produce,
                     const std::function<void(size_t slot)>& work,
                     const std::function<void(size_t slot)>& consume);

}  // namespace qs::parallel
