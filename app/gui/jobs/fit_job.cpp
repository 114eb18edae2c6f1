#include "jobs/fit_job.h"

#include <exception>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/sensitivity.h"

namespace qs::gui {

struct FitJob::Result {
    std::shared_ptr<const qs::eval::FitResult> fit;
    QString error;
    bool cancelled = false;
};

FitJob::FitJob(FitParams params, QObject* parent)
    : BackgroundJob(parent), m_params(std::move(params)), m_result(std::make_shared<Result>()) {}

FitJob::~FitJob() = default;

void FitJob::start() {
    run([params = m_params, progress = progressBlock(), out = m_result] {
        try {
            qs::quant::SensitivityOptions so;
            so.imatrix = params.imatrix.get();
            so.exact = params.exact;
            so.threads = params.options.threads;
            so.cacheDir = params.cacheDir.toStdString();
            so.sharedCache = params.sharedCache.get();  // the job's copy keeps it alive
            so.sharedSampling = params.sharedSampling;
            so.cancel = &progress->cancel;
            so.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(0, 1, "weight errors " + std::string(p.tensor));
            };
            qs::Result<qs::quant::SensitivityTable> table =
                qs::quant::measureSensitivity(*params.model, so);
            if (!table) {
                out->cancelled = table.error().code == qs::ErrorCode::Cancelled;
                out->error = QString::fromStdString(table.error().what());
                return;
            }
            qs::eval::FitOptions fo = params.options;
            fo.imatrix = params.imatrix.get();
            fo.cancel = &progress->cancel;
            fo.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(p.doneBytes, p.totalBytes, p.tensor);
            };
            qs::Result<qs::eval::FitResult> r =
                qs::eval::fitToBudgetOfText(*params.model, *table, params.text, fo);
            if (r) {
                out->fit = std::make_shared<const qs::eval::FitResult>(std::move(r).value());
            } else {
                out->cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out->error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            out->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
    });
}

void FitJob::deliver() {
    const bool cancelled = m_result->cancelled || isCancelled();
    if (m_result->fit && !cancelled) {
        emit succeeded(m_result->fit);
    } else {
        emit failed(m_result->error.isEmpty() ? tr("cancelled") : m_result->error, cancelled);
    }
}

}  // namespace qs::gui
