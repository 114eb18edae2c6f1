#include "jobs/analysis_job.h"

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
struct AnalysisJob::State {
    qs::quant::CancelToken cancel;
    std::atomic<quint64> done{0};
    std::atomic<quint64> total{0};
    std::mutex mutex;              // guards the fields below
    std::string tensor;
    QList<AnalysisEntry> pending;  // measured, not yet published
    QString error;
    QString note;
};

AnalysisJob::AnalysisJob(AnalysisParams params, QObject* parent)
    : QObject(parent), m_params(std::move(params)), m_state(std::make_shared<State>()) {
    connect(&m_watcher, &QFutureWatcher<void>::finished, this, &AnalysisJob::deliver);
    m_timer.setInterval(50);
    connect(&m_timer, &QTimer::timeout, this, &AnalysisJob::publish);
}

AnalysisJob::~AnalysisJob() {
    m_state->cancel.cancel();
}

void AnalysisJob::start() {
    quint64 total = 0;
    for (const AnalysisItem& item : m_params.items) {
        if (item.index < m_params.model->tensors().size()) {
            total += m_params.model->tensors()[item.index].nbytes;
        }
    }
    m_state->total = total;
    m_clock.start();
    m_timer.start();
    m_watcher.setFuture(QtConcurrent::run([params = m_params, state = m_state] {
        qs::parallel::lowerThisThreadPriority();
        try {
            QString note;
            std::unique_ptr<qs::quant::Backend> backend = makeBackend(params.backend, &note);
            if (!note.isEmpty()) {
                std::lock_guard<std::mutex> lock(state->mutex);
                state->note = note;
            }
            quint64 before = 0;
            for (const AnalysisItem& item : params.items) {
                if (state->cancel.cancelled()) return;
                const auto& tensors = params.model->tensors();
                if (item.index >= tensors.size()) continue;
                const qs::model::TensorInfo& t = tensors[item.index];
                {
                    std::lock_guard<std::mutex> lock(state->mutex);
                    state->tensor = t.name;
                }
                qs::quant::QuantizeOptions options;
                options.threads = params.threads;
                options.backend = backend.get();
                options.imatrix = params.imatrix.get();
                options.metrics = true;
                options.cancel = &state->cancel;
                options.progress = [state, before](const qs::quant::Progress& p) {
                    state->done.store(before + p.doneBytes, std::memory_order_relaxed);
                    return !state->cancel.cancelled();
                };
                qs::Result<qs::quant::TensorResult> r =
                    qs::quant::quantizeTensor(*params.model, item.index, item.type, options);
                before += t.nbytes;
                state->done.store(before, std::memory_order_relaxed);
                std::lock_guard<std::mutex> lock(state->mutex);
                if (r) {
                    state->pending.append({item.index, item.type, r->metrics});
                } else if (r.error().code == qs::ErrorCode::Cancelled) {
                    return;
                } else if (state->error.isEmpty()) {
                    state->error = QString::fromStdString(r.error().what());
                }
            }
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(state->mutex);
            state->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        } catch (...) {
            std::lock_guard<std::mutex> lock(state->mutex);
            state->error = QStringLiteral("internal error");
        }
    }));
}

void AnalysisJob::requestCancel() {
    m_state->cancel.cancel();
}

void AnalysisJob::publish() {
    QList<AnalysisEntry> batch;
    QString tensor;
    {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        batch.swap(m_state->pending);
        tensor = QString::fromStdString(m_state->tensor);
    }
    if (!batch.isEmpty()) emit resultsReady(batch);
    const quint64 done = m_state->done.load();
    const quint64 total = m_state->total.load();
    double eta = -1;
    const double elapsed = double(m_clock.elapsed()) / 1000.0;
    // Wait for a little history before guessing.
    if (done > 0 && total > done && elapsed > 0.3) {
        eta = elapsed * double(total - done) / double(done);
    } else if (total > 0 && done >= total) {
        eta = 0;
    }
    emit progress(qint64(done), qint64(total), tensor, eta);
}

void AnalysisJob::deliver() {
    m_timer.stop();
    publish();
    QString error;
    QString note;
    {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        error = m_state->error;
        note = m_state->note;
    }
    emit finished(m_state->cancel.cancelled(), error, note);
}

} // namespace qs::gui
