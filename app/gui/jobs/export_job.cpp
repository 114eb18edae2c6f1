#include "jobs/export_job.h"

#include <exception>

#include "backend_choice.h"
#include "model/model.h"
#include "quant/backend.h"
#include "quant/engine.h"

namespace qs::gui {

ExportJob::ExportJob(ExportParams params, QObject* parent)
    : BackgroundJob(parent),
      m_params(std::move(params)),
      m_outcome(std::make_shared<ExportOutcome>()) {}

ExportJob::~ExportJob() = default;

void ExportJob::start() {
    run([params = m_params, progress = progressBlock(), out = m_outcome] {
        out->path = params.outPath;
        try {
            std::unique_ptr<qs::quant::Backend> backend = makeBackend(params.backend, &out->note);
            qs::quant::QuantizeOptions options;
            options.threads = params.threads;
            options.backend = backend.get();
            options.imatrix = params.imatrix.get();
            options.metrics = false;
            options.split = params.split;
            options.cancel = &progress->cancel;
            options.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(p.doneBytes, p.totalBytes, p.tensor);
            };
            qs::Result<qs::quant::ExportSummary> r = qs::quant::exportGguf(
                *params.model, params.plan, params.outPath.toStdString(), options);
            if (r) {
                out->ok = true;
                out->fileBytes = r->fileBytes;
                out->files = int(r->shards.size());
                if (!r->shards.empty()) out->path = QString::fromStdString(r->shards.front().path);
                out->seconds = r->seconds;
                // E.g. temporaries of killed exports removed from the folder: say so.
                for (const std::string& n : r->notes) {
                    if (!out->note.isEmpty()) out->note += QStringLiteral("; ");
                    out->note += QString::fromStdString(n);
                }
            } else {
                out->cancelled = r.error().code == qs::ErrorCode::Cancelled;
                out->error = QString::fromStdString(r.error().what());
            }
        } catch (const std::exception& e) {
            out->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        } catch (...) {
            out->error = QStringLiteral("internal error");
        }
    });
}

void ExportJob::deliver() {
    if (m_outcome->ok) {
        emit succeeded(*m_outcome);
    } else {
        emit failed(m_outcome->error, m_outcome->cancelled || isCancelled());
    }
}

}  // namespace qs::gui
