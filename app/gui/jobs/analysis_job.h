#pragma once
// Measuring the quantization error of many (tensor, type) pairs off the GUI thread: the error
// atlas behind the table's Error column and the error-per-tensor plot. Each pair is one
// quantizeTensor() with metrics and no output (nothing is written), on the chosen backend. A
// BackgroundJob: results are handed over in batches at each tick (about 20 Hz), so a model of
// 10,000 tensors costs the event loop a few hundred signals, not 10,000.

#include <memory>
#include <vector>

#include <QList>
#include <QString>

#include "jobs/background_job.h"

#include "formats/type_table.h"
#include "stats/metrics.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

/// One tensor in one candidate type.
struct AnalysisItem {
    size_t index = 0;
    qs::formats::TensorType type = qs::formats::TensorType::F32;
};

/// What was measured for an item.
struct AnalysisEntry {
    size_t index = 0;
    qs::formats::TensorType type = qs::formats::TensorType::F32;
    qs::stats::ErrorMetrics metrics;
};

struct AnalysisParams {
    std::shared_ptr<const qs::model::Model> model;
    std::vector<AnalysisItem> items;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;  ///< optional: weighted NMSE, imatrix quants
    QString backend = QStringLiteral("cpu");            ///< "cpu" or "vulkan:N"
    int threads = 0;                                    ///< CPU threads, 0 = all cores
};

class AnalysisJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(AnalysisJob)

public:
    explicit AnalysisJob(AnalysisParams params, QObject* parent = nullptr);
    ~AnalysisJob() override;

    /// Queue the measurements. Progress counts source bytes; the item is the tensor measured.
    void start();
    const AnalysisParams& params() const { return m_params; }

signals:
    /// Pairs measured since the last batch.
    void resultsReady(const QList<qs::gui::AnalysisEntry>& entries);
    /// The job ended; `error` is empty unless a pair failed for another reason than a
    /// cancellation (the job goes on past such a pair and reports the first one). `note` says
    /// when the backend fell back to the CPU.
    void ended(bool cancelled, const QString& error, const QString& note);

private:
    struct Results;
    void onTick() override;
    void deliver() override;

    AnalysisParams m_params;
    std::shared_ptr<Results> m_results;
};

}  // namespace qs::gui

Q_DECLARE_METATYPE(qs::gui::AnalysisEntry)
