#pragma once
// Exporting the plan as GGUF off the GUI thread (a BackgroundJob: deleting it while the export
// runs cancels the export, which then leaves no file).

#include <memory>

#include <QString>

#include "jobs/background_job.h"

#include "quant/engine.h"
#include "quant/plan.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

/// What to export.
struct ExportParams {
    std::shared_ptr<const qs::model::Model> model;
    qs::quant::Plan plan;
    QString outPath;
    int threads = 0;                                    ///< 0 = all cores
    QString backend = QStringLiteral("cpu");            ///< "cpu" or "vulkan:N"
    std::shared_ptr<const qs::quant::Imatrix> imatrix;  ///< optional
    qs::quant::SplitOptions split;                      ///< one file (default) or shards
};

/// What an export produced.
struct ExportOutcome {
    bool ok = false;
    bool cancelled = false;
    QString path;   ///< the file written (the first shard of a split export)
    int files = 1;  ///< files written (shards)
    QString error;  ///< Error::what() on failure
    QString note;   ///< e.g. the Vulkan device could not be opened: the CPU did it
    quint64 fileBytes = 0;
    double seconds = 0;
};

class ExportJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ExportJob)

public:
    explicit ExportJob(ExportParams params, QObject* parent = nullptr);
    ~ExportJob() override;

    /// Queue the export and return at once. Progress counts source bytes; the item is the
    /// tensor being written.
    void start();

signals:
    void succeeded(const qs::gui::ExportOutcome& outcome);
    void failed(const QString& message, bool cancelled);

private:
    void deliver() override;

    ExportParams m_params;
    std::shared_ptr<ExportOutcome> m_outcome;
};

}  // namespace qs::gui
