#include "jobs/export_job.h"

#include <atomic>
#include <exception>
#include <mutex>

#include <QtConcurrent/QtConcurrentRun>

#include "backend_choice.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "quant/backend.h"
#include "quant/engine.h"

namespace qs::gui {

/// Shared by the job and its worker; outlives whichever ends first.
struct ExportJob::State {
    qs::quant::CancelToken cancel;
    std::atomic<quint64> done{0};
    std::atomic<quint64> total{0};
    std::mutex tensorMutex;
    std::string tensor;
};

ExportJob::ExportJob(ExportParams params, QObject* parent)
    : QObject(parent), m_params(std::move(params)), m_state(std::make_shared<State>()) {
    connect(&m_watcher, &QFutureWatcher<ExportOutcome>::finished, this, &ExportJob::deliver);
    m_timer.setInterval(50);
    connect(&m_timer, &QTimer::timeout, this, &ExportJob::publishProgress);
}

ExportJob::~ExportJob() {
    m_state->cancel.cancel();
}

void ExportJob::start() {
    m_timer.start();
    m_watcher.setFuture(QtConcurrent::run([params = m_params, state = m_state] {
        qs::parallel::lowerThisThreadPriority();
        ExportOutcome out;
        out.path = params.outPath;
        try {
            std::unique_ptr<qs::quant::Backend> backend = makeBackend(params.backend, &out.note);
            qs::quant::QuantizeOptions options;
            options.threads = params.threads;
            options.backend = backend.get();
            options.imatrix = params.imatrix.get();
            options.metrics = false;
            options.cancel = &state->cancel;
            options.progress = [state](const qs::quant::Progress& p) {
                state->done.store(p.doneBytes, std::memory_order_relaxed);
                state->total.store(p.totalBytes, std::memory_order_relaxed);
                {
                    std::lock_guard<std::mutex> lock(state->tensorMutex);
                    state->tensor.assign(p.tensor);
                }
                return !state->cancel.cancelled();
            };
            qs::Result<qs::quant::ExportSummary> r = qs::quant::exportGguf(
                *params.model, params.plan, params.outPath.toStdString(), options);
            if (r) {
                out.ok = true;
                out.fileBytes = r->fileBytes;
                out.seconds = r->seconds;
            } else {
                out.cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out.error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            out.error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        } catch (...) {
            out.error = QStringLiteral("internal error");
        }
        return out;
    }));
}

void ExportJob::requestCancel() {
    m_state->cancel.cancel();
}

void ExportJob::publishProgress() {
    QString tensor;
    {
        std::lock_guard<std::mutex> lock(m_state->tensorMutex);
        tensor = QString::fromStdString(m_state->tensor);
    }
    emit progress(qint64(m_state->done.load()), qint64(m_state->total.load()), tensor);
}

void ExportJob::deliver() {
    m_timer.stop();
    const ExportOutcome outcome = m_watcher.result();
    if (outcome.ok) {
        emit succeeded(outcome);
    } else {
        emit failed(outcome.error, outcome.cancelled || m_state->cancel.cancelled());
    }
    emit finished();
}

} // namespace qs::gui
