#include "jobs/imatrix_job.h"

#include <chrono>
#include <exception>

#include "eval/imatrix_collect.h"
#include "eval/tokenizer.h"
#include "model/model.h"

namespace qs::gui {

struct ImatrixJob::Shared {
    ImatrixOutcome outcome;
    QString error;
    bool cancelled = false;
};

ImatrixJob::ImatrixJob(ImatrixParams params, QObject* parent)
    : BackgroundJob(parent), m_params(std::move(params)), m_shared(std::make_shared<Shared>()) {}

ImatrixJob::~ImatrixJob() = default;

void ImatrixJob::start() {
    run([params = m_params, progress = progressBlock(), out = m_shared] {
        try {
            const auto t0 = std::chrono::steady_clock::now();
            qs::Result<qs::eval::LlamaModel> lm = qs::eval::LlamaModel::bind(*params.model);
            if (!lm) {
                out->error = QString::fromStdString(lm.error().what());
                return;
            }
            qs::Result<qs::eval::Tokenizer> tok = qs::eval::Tokenizer::fromModel(*params.model);
            if (!tok) {
                out->error = QString::fromStdString(tok.error().what());
                return;
            }
            const bool addBos = tok->addBosDefault();
            const std::vector<int32_t> tokens = tok->encode(params.text, addBos);
            qs::eval::ImatrixOptions o;
            o.ctx = params.ctx;
            if (o.ctx <= 0) {
                o.ctx = 512;
                while (o.ctx > 16 && int64_t(tokens.size()) < 2 * o.ctx) o.ctx /= 2;
            }
            o.bos = addBos ? tok->bos() : -1;
            o.dataset = params.dataset;
            o.forward.threads = params.threads;
            o.forward.cancel = &progress->cancel;
            o.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(p.doneBytes, p.totalBytes, p.tensor);
            };
            qs::Result<qs::quant::ImatrixSums> r = qs::eval::computeImatrix(*lm, tokens, o);
            if (!r) {
                out->cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out->error = QString::fromStdString(r.error().what());
                return;
            }
            std::vector<std::string> warnings;
            auto importance =
                std::make_shared<qs::quant::Imatrix>(qs::quant::importanceOf(*r, &warnings));
            importance->path = params.dataset;
            for (const auto& w : warnings) out->outcome.warnings << QString::fromStdString(w);
            out->outcome.sums =
                std::make_shared<const qs::quant::ImatrixSums>(std::move(r).value());
            out->outcome.importance = std::move(importance);
            out->outcome.ctx = o.ctx;
            out->outcome.seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } catch (const std::exception& e) {
            out->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
    });
}

void ImatrixJob::deliver() {
    if (m_shared->outcome.importance && !isCancelled()) {
        emit succeeded(m_shared->outcome);
    } else {
        emit failed(m_shared->error.isEmpty() ? tr("cancelled") : m_shared->error,
                    m_shared->cancelled || isCancelled());
    }
}

}  // namespace qs::gui
