#include "jobs/eval_job.h"

#include <atomic>
#include <exception>

#include <QtConcurrent/QtConcurrentRun>

#include "eval/tokenizer.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "quant/engine.h"
#include "quant/imatrix.h"

namespace qs::gui {

struct EvalJob::State {
    qs::quant::CancelToken cancel;
    std::atomic<quint64> done{0};
    std::atomic<quint64> total{0};
};

EvalJob::EvalJob(EvalParams params, QObject* parent)
    : QObject(parent), m_params(std::move(params)), m_state(std::make_shared<State>()) {
    connect(&m_watcher, &QFutureWatcher<EvalOutcome>::finished, this, &EvalJob::deliver);
    m_timer.setInterval(50);
    connect(&m_timer, &QTimer::timeout, this, &EvalJob::publish);
}

EvalJob::~EvalJob() {
    m_state->cancel.cancel();
}

void EvalJob::start() {
    m_clock.start();
    m_timer.start();
    m_watcher.setFuture(QtConcurrent::run([params = m_params, state = m_state] {
        qs::parallel::lowerThisThreadPriority();
        EvalOutcome out;
        try {
            qs::Result<qs::eval::Tokenizer> tok = qs::eval::Tokenizer::fromModel(*params.model);
            if (!tok) {
                out.error = QString::fromStdString(tok.error().what());
                return out;
            }
            const std::vector<int32_t> tokens = tok->encode(params.text, tok->addBosDefault());
            qs::eval::EvalOptions o;
            o.ctx = params.ctx;
            o.forward.threads = params.threads;
            o.imatrix = params.imatrix.get();
            o.forward.cancel = &state->cancel;
            o.forward.progress = [state](const qs::quant::Progress& p) {
                state->done.store(p.doneBytes, std::memory_order_relaxed);
                state->total.store(p.totalBytes, std::memory_order_relaxed);
                return !state->cancel.cancelled();
            };
            qs::Result<qs::eval::PlanEvaluation> r = qs::eval::evaluatePlan(
                *params.model, params.plan, tokens, o, params.reference.get());
            if (r) {
                out.evaluation = std::make_shared<const qs::eval::PlanEvaluation>(std::move(r).value());
            } else {
                out.cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out.error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            out.error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
        return out;
    }));
}

void EvalJob::requestCancel() {
    m_state->cancel.cancel();
}

void EvalJob::publish() {
    const quint64 done = m_state->done.load();
    const quint64 total = m_state->total.load();
    const double elapsed = double(m_clock.elapsed()) / 1000.0;
    const double eta = done > 0 && total > done && elapsed > 0.3
                           ? elapsed * double(total - done) / double(done)
                           : -1.0;
    emit progress(qint64(done), qint64(total), QString(), eta);
}

void EvalJob::deliver() {
    m_timer.stop();
    const EvalOutcome out = m_watcher.result();
    if (out.evaluation && !m_state->cancel.cancelled()) {
        emit succeeded(out.evaluation);
    } else {
        emit failed(out.error.isEmpty() ? tr("cancelled") : out.error,
                    out.cancelled || m_state->cancel.cancelled());
    }
    emit finished();
}

} // namespace qs::gui
