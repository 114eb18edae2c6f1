#include "jobs/eval_job.h"

#include <exception>

#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"

namespace qs::gui {

struct EvalJob::Outcome {
    std::shared_ptr<const qs::eval::PlanEvaluation> evaluation;
    QString error;
    bool cancelled = false;
};

EvalJob::EvalJob(EvalParams params, QObject* parent)
    : BackgroundJob(parent), m_params(std::move(params)), m_outcome(std::make_shared<Outcome>()) {}

EvalJob::~EvalJob() = default;

void EvalJob::start() {
    run([params = m_params, progress = progressBlock(), out = m_outcome] {
        try {
            qs::Result<qs::eval::Tokenizer> tok = qs::eval::Tokenizer::fromModel(*params.model);
            if (!tok) {
                out->error = QString::fromStdString(tok.error().what());
                return;
            }
            const std::vector<int32_t> tokens = tok->encode(params.text, tok->addBosDefault());
            qs::eval::EvalOptions o;
            o.ctx = params.ctx;
            o.forward.threads = params.threads;
            o.imatrix = params.imatrix.get();
            o.forward.cancel = &progress->cancel;
            o.forward.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(p.doneBytes, p.totalBytes, p.tensor);
            };
            qs::Result<qs::eval::PlanEvaluation> r = qs::eval::evaluatePlan(
                *params.model, params.plan, tokens, o, params.reference.get());
            if (r) {
                out->evaluation =
                    std::make_shared<const qs::eval::PlanEvaluation>(std::move(r).value());
            } else {
                out->cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out->error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            out->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
    });
}

void EvalJob::deliver() {
    if (m_outcome->evaluation && !isCancelled()) {
        emit succeeded(m_outcome->evaluation);
    } else {
        emit failed(m_outcome->error.isEmpty() ? tr("cancelled") : m_outcome->error,
                    m_outcome->cancelled || isCancelled());
    }
}

}  // namespace qs::gui
