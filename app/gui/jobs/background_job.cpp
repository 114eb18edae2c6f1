#include "jobs/background_job.h"

#include <algorithm>

#include <QCoreApplication>
#include <QPointer>
#include <QThread>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentRun>

#include "jobs/job_pool.h"

#include "parallel/parallel.h"

namespace qs::gui {

bool BackgroundJob::Progress::report(quint64 doneNow, quint64 totalNow, std::string_view item) {
    done.store(doneNow, std::memory_order_relaxed);
    total.store(totalNow, std::memory_order_relaxed);
    if (!item.empty()) setItem(item);
    return !cancel.cancelled();
}

void BackgroundJob::Progress::setItem(std::string_view item) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_item.assign(item);
}

std::string BackgroundJob::Progress::item() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_item;
}

BackgroundJob::BackgroundJob(QObject* parent)
    : QObject(parent), m_progress(std::make_shared<Progress>()) {
    connect(&m_watcher, &QFutureWatcher<void>::finished, this, [this] {
        m_timer.stop();
        publish();
        deliver();
        emit finished();
    });
    m_timer.setInterval(50);
    connect(&m_timer, &QTimer::timeout, this, &BackgroundJob::publish);
}

BackgroundJob::~BackgroundJob() {
    m_progress->cancel.cancel();
}

void BackgroundJob::requestCancel() {
    m_progress->cancel.cancel();
}

void BackgroundJob::abandon(BackgroundJob* job, QObject* receiver) {
    if (!job) return;
    job->disconnect(receiver);
    job->requestCancel();
    job->deleteLater();
}

double BackgroundJob::etaSeconds(qint64 elapsedMs, quint64 done, quint64 total) {
    const double elapsed = double(elapsedMs) / 1000.0;
    if (total > 0 && done >= total) return 0;
    if (done == 0 || total <= done || elapsed < 0.3) return -1;
    return elapsed * double(total - done) / double(done);
}

QThreadPool* jobThreadPool() {
    // Jobs start on the GUI thread only. Made again if the application was (a new one).
    static QPointer<QThreadPool> pool;
    if (!pool) {
        pool = new QThreadPool(QCoreApplication::instance());
        pool->setObjectName(QStringLiteral("quantscope-jobs"));
        pool->setMaxThreadCount(std::max(2, QThread::idealThreadCount()));
    }
    return pool.data();
}

void BackgroundJob::run(std::function<void()> work) {
    m_clock.start();
    m_timer.start();
    m_watcher.setFuture(QtConcurrent::run(jobThreadPool(), [work = std::move(work)] {
        qs::parallel::lowerThisThreadPriority();
        work();
    }));
}

void BackgroundJob::publish() {
    onTick();
    const quint64 done = m_progress->done.load();
    const quint64 total = m_progress->total.load();
    emit progress(qint64(done), qint64(total), QString::fromStdString(m_progress->item()),
                  etaSeconds(m_clock.elapsed(), done, total));
}

}  // namespace qs::gui
