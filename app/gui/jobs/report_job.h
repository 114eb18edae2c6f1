#pragma once
// The Variants tab's job: every variant of the list measured against the original on one text
// (qs::report::runReport: the original run once, each plan quantized in memory, each imported
// file mapped), or the variants of a finished report exported as GGUF files, each with its
// recipe under quantize.recipe (qs::report::exportVariants). The same job shape as the others:
// shared State, ~20 Hz progress, cancel on delete.

#include <memory>
#include <string>
#include <vector>

#include <QString>

#include "jobs/background_job.h"

#include "report/variants.h"

namespace qs::gui {

struct ReportParams {
    std::shared_ptr<const qs::model::Model> model;
    std::vector<qs::report::VariantSpec> specs;
    std::string text;      ///< UTF-8 text to score
    std::string textName;  ///< shown in the report
    int64_t ctx = 512;
    int threads = 0;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;
    /// Export mode: the variants of this report are written into exportDir instead.
    std::shared_ptr<const qs::report::Report> report;
    std::string exportDir;
};

class ReportJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ReportJob)

public:
    explicit ReportJob(ReportParams params, QObject* parent = nullptr);
    ~ReportJob() override;

    /// Measure (or, with params.report and exportDir, export). Progress counts steps (measure)
    /// or bytes (export).
    void start();

signals:
    /// The report (in export mode: with the files' paths and sizes).
    void succeeded(std::shared_ptr<const qs::report::Report> report);
    void failed(const QString& message, bool cancelled);

private:
    struct Outcome;
    void deliver() override;

    ReportParams m_params;
    std::shared_ptr<Outcome> m_outcome;
};

}  // namespace qs::gui
