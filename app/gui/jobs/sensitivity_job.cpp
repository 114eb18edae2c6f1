#include "jobs/sensitivity_job.h"

#include <exception>

#include "eval/kl_sensitivity.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/sensitivity.h"

namespace qs::gui {

struct SensitivityJob::Result {
    std::shared_ptr<const qs::quant::SensitivityTable> table;
    QString error;
    bool cancelled = false;
};

SensitivityJob::SensitivityJob(SensitivityParams params, QObject* parent)
    : BackgroundJob(parent), m_params(std::move(params)), m_result(std::make_shared<Result>()) {}

SensitivityJob::~SensitivityJob() = default;

void SensitivityJob::start() {
    run([params = m_params, progress = progressBlock(), out = m_result] {
        try {
            qs::quant::SensitivityOptions o;
            o.imatrix = params.imatrix.get();
            o.exact = params.exact;
            o.threads = params.threads;
            o.cacheDir = params.cacheDir.toStdString();
            o.sharedCache = params.sharedCache.get();  // the job's copy keeps it alive
            o.sharedSampling = params.sharedSampling;
            o.cancel = &progress->cancel;
            o.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(p.doneBytes, p.totalBytes, p.tensor);
            };
            qs::Result<qs::quant::SensitivityTable> r =
                qs::quant::measureSensitivity(*params.model, o);
            if (r && params.kl) {
                qs::eval::KlSensitivityOptions ko;
                ko.eval.ctx = params.klCtx;
                ko.eval.forward.threads = params.threads;
                ko.eval.forward.cancel = &progress->cancel;
                ko.eval.imatrix = params.imatrix.get();
                ko.progress = o.progress;
                r = qs::eval::klSensitivityOfText(*params.model, *r, params.klText, ko);
            }
            if (r) {
                out->table =
                    std::make_shared<const qs::quant::SensitivityTable>(std::move(r).value());
            } else {
                out->cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out->error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            out->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
    });
}

void SensitivityJob::deliver() {
    const bool cancelled = m_result->cancelled || isCancelled();
    if (m_result->table && !cancelled) {
        emit succeeded(m_result->table);
    } else {
        emit failed(m_result->error.isEmpty() ? tr("cancelled") : m_result->error, cancelled);
    }
}

}  // namespace qs::gui
