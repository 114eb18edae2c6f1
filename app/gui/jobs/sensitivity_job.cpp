#include "jobs/sensitivity_job.h"

#include <atomic>
#include <exception>
#include <mutex>

#include <QtConcurrent/QtConcurrentRun>

#include "eval/kl_sensitivity.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "quant/engine.h"
#include "quant/sensitivity.h"

namespace qs::gui {

struct SensitivityJob::State {
    qs::quant::CancelToken cancel;
    std::atomic<quint64> done{0};
    std::atomic<quint64> total{0};
    std::mutex mutex;
    std::string tensor;
    std::shared_ptr<const qs::quant::SensitivityTable> table;
    QString error;
    bool cancelled = false;
};

SensitivityJob::SensitivityJob(SensitivityParams params, QObject* parent)
    : QObject(parent), m_params(std::move(params)), m_state(std::make_shared<State>()) {
    connect(&m_watcher, &QFutureWatcher<void>::finished, this, &SensitivityJob::deliver);
    m_timer.setInterval(50);
    connect(&m_timer, &QTimer::timeout, this, &SensitivityJob::publish);
}

SensitivityJob::~SensitivityJob() {
    m_state->cancel.cancel();
}

void SensitivityJob::start() {
    m_clock.start();
    m_timer.start();
    m_watcher.setFuture(QtConcurrent::run([params = m_params, state = m_state] {
        qs::parallel::lowerThisThreadPriority();
        try {
            qs::quant::SensitivityOptions o;
            o.imatrix = params.imatrix.get();
            o.exact = params.exact;
            o.threads = params.threads;
            o.cacheDir = params.cacheDir.toStdString();
            o.cancel = &state->cancel;
            o.progress = [state](const qs::quant::Progress& p) {
                state->done.store(p.doneBytes, std::memory_order_relaxed);
                state->total.store(p.totalBytes, std::memory_order_relaxed);
                std::lock_guard<std::mutex> lock(state->mutex);
                state->tensor.assign(p.tensor);
                return !state->cancel.cancelled();
            };
            qs::Result<qs::quant::SensitivityTable> r = qs::quant::measureSensitivity(*params.model, o);
            if (r && params.kl) {
                qs::eval::KlSensitivityOptions ko;
                ko.eval.ctx = params.klCtx;
                ko.eval.forward.threads = params.threads;
                ko.eval.forward.cancel = &state->cancel;
                ko.eval.imatrix = params.imatrix.get();
                ko.progress = o.progress;
                r = qs::eval::klSensitivityOfText(*params.model, *r, params.klText, ko);
            }
            std::lock_guard<std::mutex> lock(state->mutex);
            if (r) {
                state->table = std::make_shared<const qs::quant::SensitivityTable>(std::move(r).value());
            } else {
                state->cancelled = r.error().code == qs::ErrorCode::Cancelled;
                state->error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(state->mutex);
            state->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
    }));
}

void SensitivityJob::requestCancel() {
    m_state->cancel.cancel();
}

void SensitivityJob::publish() {
    QString tensor;
    {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        tensor = QString::fromStdString(m_state->tensor);
    }
    const quint64 done = m_state->done.load();
    const quint64 total = m_state->total.load();
    const double elapsed = double(m_clock.elapsed()) / 1000.0;
    const double eta = done > 0 && total > done && elapsed > 0.3
                           ? elapsed * double(total - done) / double(done)
                           : -1.0;
    emit progress(qint64(done), qint64(total), tensor, eta);
}

void SensitivityJob::deliver() {
    m_timer.stop();
    std::shared_ptr<const qs::quant::SensitivityTable> table;
    QString error;
    bool cancelled = false;
    {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        table = m_state->table;
        error = m_state->error;
        cancelled = m_state->cancelled || m_state->cancel.cancelled();
    }
    if (table && !cancelled) {
        emit succeeded(table);
    } else {
        emit failed(error.isEmpty() ? tr("cancelled") : error, cancelled);
    }
    emit finished();
}

} // namespace qs::gui
