#pragma once
// What every background job of the explorer shares (export, error measurement, sensitivity,
// evaluation): the work runs on Qt's global thread pool and shares only a Progress block with
// the job object (cancel token, bytes or steps done, the current item), so deleting the job
// while the work runs is safe: the work is cancelled at its next check and its result dropped.
// A GUI-side timer publishes progress with the time left at about 20 Hz (docs/STYLE.md §3
// item 12), and the job's own result signals are emitted by deliver() on the GUI thread, then
// finished().
// Work threads run at the lower priority of qs::parallel's workers, so the window stays
// responsive while every core works.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>

#include "quant/engine.h"

namespace qs::gui {

class BackgroundJob : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(BackgroundJob)

public:
    /// Shared by the job and its work; outlives whichever ends first.
    struct Progress {
        qs::quant::CancelToken cancel;
        std::atomic<quint64> done{0};
        std::atomic<quint64> total{0};
        /// Record progress (thread-safe); false once the job is cancelled.
        bool report(quint64 doneNow, quint64 totalNow, std::string_view item);
        void setItem(std::string_view item);
        std::string item() const;

    private:
        mutable std::mutex m_mutex;
        std::string m_item;
    };

    ~BackgroundJob() override;

    /// Ask the work to stop; the job then ends with its failure signal (cancelled).
    void requestCancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    bool isCancelled() const { return m_progress->cancel.cancelled(); }

    /// Stop and forget a job whose result no longer matters (a new model, a new setting): its
    /// signals to `receiver` are cut, it is cancelled and deleted once control returns.
    static void abandon(BackgroundJob* job, QObject* receiver);

    /// Seconds left from the elapsed time and the share done; negative while unknown (nothing
    /// done yet, or less than 0.3 s of history).
    static double etaSeconds(qint64 elapsedMs, quint64 done, quint64 total);

signals:
    /// Done of total (bytes or steps), the current item, and the seconds left (< 0: unknown).
    void progress(qint64 done, qint64 total, const QString& item, double etaSeconds);
    /// After the job's terminal signal.
    void finished();

protected:
    explicit BackgroundJob(QObject* parent);
    /// Run `work` on the global pool (at the workers' lower priority). `work` must hold what it
    /// needs by value or shared pointer: never the job itself.
    void run(std::function<void()> work);
    /// The progress block to hand to the work.
    const std::shared_ptr<Progress>& progressBlock() const { return m_progress; }
    /// Called on the GUI thread at every tick before progress is published (e.g. to hand over
    /// partial results).
    virtual void onTick() {}
    /// Called on the GUI thread when the work has returned: emit the result signals.
    virtual void deliver() = 0;

private:
    void publish();

    std::shared_ptr<Progress> m_progress;
    QFutureWatcher<void> m_watcher;
    QTimer m_timer;
    QElapsedTimer m_clock;
};

}  // namespace qs::gui
