#include "jobs/report_job.h"

#include <exception>
#include <filesystem>

#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"

namespace qs::gui {

struct ReportJob::Outcome {
    std::shared_ptr<const qs::report::Report> report;
    QString error;
    bool cancelled = false;
};

ReportJob::ReportJob(ReportParams params, QObject* parent)
    : BackgroundJob(parent), m_params(std::move(params)), m_outcome(std::make_shared<Outcome>()) {}

ReportJob::~ReportJob() = default;

namespace {

void measure(const ReportParams& params, const std::shared_ptr<BackgroundJob::Progress>& progress,
             qs::report::Report& out, QString& error, bool& cancelled) {
    qs::Result<qs::eval::Tokenizer> tok = qs::eval::Tokenizer::fromModel(*params.model);
    if (!tok) {
        error = QString::fromStdString(tok.error().what());
        return;
    }
    const std::vector<int32_t> tokens = tok->encode(params.text, tok->addBosDefault());
    qs::report::ReportOptions o;
    o.ctx = params.ctx;
    o.threads = params.threads;
    o.imatrix = params.imatrix.get();
    o.cancel = &progress->cancel;
    o.progress = [progress](const qs::quant::Progress& p) {
        return progress->report(p.doneBytes, p.totalBytes, p.tensor);
    };
    auto r = qs::report::runReport(*params.model, params.specs, tokens, o);
    if (!r) {
        cancelled = r.error().code == qs::ErrorCode::Cancelled;
        error = QString::fromStdString(r.error().what());
        return;
    }
    out = std::move(*r);
    out.textName = params.textName;
    if (params.imatrix) {
        out.imatrixName = std::filesystem::path(params.imatrix->path).filename().string();
    }
}

}  // namespace

void ReportJob::start() {
    run([params = m_params, progress = progressBlock(), out = m_outcome] {
        try {
            qs::report::Report rep;
            if (params.report) {
                rep = *params.report;
                qs::quant::QuantizeOptions qo;
                qo.threads = params.threads;
                qo.imatrix = params.imatrix.get();
                qo.metrics = false;
                qo.cancel = &progress->cancel;
                qo.progress = [progress](const qs::quant::Progress& p) {
                    return progress->report(p.doneBytes, p.totalBytes, p.tensor);
                };
                auto st = qs::report::exportVariants(*params.model, rep, params.exportDir, qo);
                if (!st) {
                    out->cancelled = st.error().code == qs::ErrorCode::Cancelled;
                    out->error = QString::fromStdString(st.error().what());
                    return;
                }
            } else {
                measure(params, progress, rep, out->error, out->cancelled);
                if (!out->error.isEmpty()) return;
            }
            out->report = std::make_shared<const qs::report::Report>(std::move(rep));
        } catch (const std::exception& e) {
            out->error = QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what()));
        }
    });
}

void ReportJob::deliver() {
    if (m_outcome->report && !isCancelled()) {
        emit succeeded(m_outcome->report);
    } else {
        emit failed(m_outcome->error.isEmpty() ? tr("cancelled") : m_outcome->error,
                    m_outcome->cancelled || isCancelled());
    }
}

}  // namespace qs::gui
