#include "jobs/export_job.h"

#include <exception>

#include "backend_choice.h"
#include "model/model.h"
#include "quant/backend.h"
#include "quant/engine.h"
#include "workflow/request.h"
#include "workflow/run.h"

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
            // The CLI's checks, before anything is written: rows the types hold, types we
            // write, an imatrix where llama.cpp requires one. Re-quantizing is the user's
            // explicit choice here (the explorer shows the source types): said in the note.
            qs::workflow::Request request;
            request.model = params.model.get();
            request.imatrix = params.imatrix.get();
            request.allowRequantize = true;
            request.threads = params.threads;
            qs::Result<qs::workflow::ValidatedPlan> plan =
                qs::workflow::validate(request, params.plan, /*forWriting=*/true);
            if (!plan) {
                out->error = QString::fromStdString(plan.error().what());
                return;
            }
            if (!plan->requantizeWarning.empty()) {
                if (!out->note.isEmpty()) out->note += QStringLiteral("; ");
                out->note += QString::fromStdString(plan->requantizeWarning);
            }
            qs::workflow::ExportOptions options;
            options.backend = backend.get();
            options.metrics = false;
            options.cancel = &progress->cancel;
            options.progress = [progress](const qs::quant::Progress& p) {
                return progress->report(p.doneBytes, p.totalBytes, p.tensor);
            };
            qs::Result<qs::quant::ExportSummary> r = qs::workflow::exportPlan(
                *plan, params.outPath.toStdString(), params.split, options);
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
