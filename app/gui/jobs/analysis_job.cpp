#include "jobs/analysis_job.h"

#include <cmath>
#include <exception>
#include <mutex>

#include "backend_choice.h"
#include "model/model.h"
#include "quant/backend.h"
#include "quant/engine.h"

namespace qs::gui {

/// What the work hands over: measured pairs not yet published, the first error, a backend note.
struct AnalysisJob::Results {
    std::mutex mutex;
    QList<AnalysisEntry> pending;
    QString error;
    QString note;
};

AnalysisJob::AnalysisJob(AnalysisParams params, QObject* parent)
    : BackgroundJob(parent), m_params(std::move(params)), m_results(std::make_shared<Results>()) {}

AnalysisJob::~AnalysisJob() = default;

void AnalysisJob::start() {
    quint64 total = 0;
    for (const AnalysisItem& item : m_params.items) {
        if (item.index < m_params.model->tensors().size()) {
            total += m_params.model->tensors()[item.index].nbytes;
        }
    }
    progressBlock()->total = total;
    run([params = m_params, progress = progressBlock(), results = m_results, total] {
        try {
            QString note;
            std::unique_ptr<qs::quant::Backend> backend = makeBackend(params.backend, &note);
            if (!note.isEmpty()) {
                std::lock_guard<std::mutex> lock(results->mutex);
                results->note = note;
            }
            quint64 before = 0;
            for (const AnalysisItem& item : params.items) {
                if (progress->cancel.cancelled()) return;
                const auto& tensors = params.model->tensors();
                if (item.index >= tensors.size()) continue;
                const qs::model::TensorInfo& t = tensors[item.index];
                progress->setItem(t.name);
                const bool sample =
                    params.sampling && (!params.sampling->exact || params.perExpert) &&
                    (params.perExpert || uint64_t(t.nElements) > params.sampling->exactBelowValues);
                if (sample) {
                    qs::quant::ErrorEstimateOptions eo;
                    eo.sampling = *params.sampling;
                    eo.imatrix = params.imatrix.get();
                    eo.threads = params.threads;
                    eo.cancel = &progress->cancel;
                    eo.perExpert = params.perExpert;
                    eo.quantizer = item.quantizer;
                    auto r = qs::quant::estimateTensorErrorCached(
                        *params.model, item.index, item.type, eo, params.cache.get());
                    before += t.nbytes;
                    progress->report(before, total, {});
                    std::lock_guard<std::mutex> lock(results->mutex);
                    if (r) {
                        AnalysisEntry e{item.index, item.type,     {}, r->sampled, r->stdError,
                                        r->experts, item.quantizer};
                        e.metrics.nmse = r->nmse;
                        e.metrics.weightedNmse = r->weightedNmse;
                        e.metrics.snrDb =
                            r->nmse > 0 ? -10.0 * std::log10(r->nmse) : double(INFINITY);
                        e.metrics.rmse = e.metrics.maxAbsErr = e.metrics.weightedRmse = NAN;
                        e.metrics.cosine = NAN;
                        results->pending.append(e);
                    } else if (r.error().code == qs::ErrorCode::Cancelled) {
                        return;
                    } else if (results->error.isEmpty()) {
                        results->error = QString::fromStdString(r.error().what());
                    }
                    continue;
                }
                qs::quant::QuantizeOptions options;
                options.threads = params.threads;
                options.backend = backend.get();
                options.imatrix = params.imatrix.get();
                options.metrics = true;
                options.quantizer = item.quantizer;
                options.cancel = &progress->cancel;
                options.progress = [progress, before, total](const qs::quant::Progress& p) {
                    return progress->report(before + p.doneBytes, total, {});
                };
                qs::Result<qs::quant::TensorResult> r =
                    qs::quant::quantizeTensor(*params.model, item.index, item.type, options);
                before += t.nbytes;
                progress->report(before, total, {});
                std::lock_guard<std::mutex> lock(results->mutex);
                if (r && !backend && params.cache) {
                    // Measured on every row by the CPU engine: an exact entry of the shared cache
                    // (it answers any sampled question of the optimizer's jobs too).
                    qs::quant::TensorErrorEstimate x;
                    x.index = item.index;
                    x.type = item.type;
                    x.rowsMeasured = x.rowsTotal = uint64_t(t.rowCount());
                    x.nmse = r->metrics.nmse;
                    x.weightedNmse = r->metrics.weightedNmse;
                    qs::quant::ErrorSampling exact;
                    exact.exact = true;
                    params.cache->insert(x, exact, false, item.quantizer,
                                         qs::quant::imatrixKeyOf(params.imatrix.get(), t.name));
                }
                if (r) {
                    results->pending.append(
                        {item.index, item.type, r->metrics, false, 0, {}, item.quantizer});
                } else if (r.error().code == qs::ErrorCode::Cancelled) {
                    return;
                } else if (results->error.isEmpty()) {
                    results->error = QString::fromStdString(r.error().what());
                }
            }
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(results->mutex);
            results->error =
                QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        } catch (...) {
            std::lock_guard<std::mutex> lock(results->mutex);
            results->error = QStringLiteral("internal error");
        }
    });
}

void AnalysisJob::onTick() {
    QList<AnalysisEntry> batch;
    {
        std::lock_guard<std::mutex> lock(m_results->mutex);
        batch.swap(m_results->pending);
    }
    if (!batch.isEmpty()) emit resultsReady(batch);
}

void AnalysisJob::deliver() {
    QString error;
    QString note;
    {
        std::lock_guard<std::mutex> lock(m_results->mutex);
        error = m_results->error;
        note = m_results->note;
    }
    emit ended(isCancelled(), error, note);
}

}  // namespace qs::gui
