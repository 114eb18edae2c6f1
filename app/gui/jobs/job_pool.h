#pragma once
// The thread pool of the explorer's background work (BackgroundJob, the model open, the
// histogram analysis): its own pool, not Qt's global one. Qt's raster engine fills large
// polygons (QCustomPlot's graph fills) with helper tasks on the global pool and waits for them:
// with jobs holding every thread of that pool (two on two cores), a replot waited for a job to
// end (0.5 s per preset change on the 405B, docs/BENCHMARKS.md). The jobs' threads also run at
// the lowered worker priority for good (qs::parallel::lowerThisThreadPriority), which Qt's
// tasks must not inherit.

class QThreadPool;

namespace qs::gui {

/// Created on first use as a child of the QCoreApplication (destroyed, after waiting for its
/// tasks, with it); at least two threads, as many as the machine's cores.
QThreadPool* jobThreadPool();

}  // namespace qs::gui
