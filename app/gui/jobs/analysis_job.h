#pragma once
// Measuring the quantization error of many (tensor, type) pairs off the GUI thread: the error
// atlas behind the table's Error column and the error-per-tensor plot. Each pair is one
// quantizeTensor() with metrics and no output (nothing is written), on the chosen backend, or,
// with `sampling` set and a tensor above its size threshold, the core sampler's estimate with a
// standard error (quant/sampled_error.h, through the shared cache). A
// BackgroundJob: results are handed over in batches at each tick (about 20 Hz), so a model of
// 10,000 tensors costs the event loop a few hundred signals, not 10,000.

#include <memory>
#include <optional>
#include <vector>

#include <QList>
#include <QString>

#include "jobs/background_job.h"

#include "formats/type_table.h"
#include "quant/sampled_error.h"
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
    /// Whose encoding is measured: ggml's or the best quantizer's.
    qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml;
};

/// What was measured for an item.
struct AnalysisEntry {
    size_t index = 0;
    qs::formats::TensorType type = qs::formats::TensorType::F32;
    qs::stats::ErrorMetrics metrics;
    bool sampled = false;  ///< estimated from a sample of rows (metrics hold nmse, snr only)
    double stdError = 0;   ///< standard error of the shown (weighted) NMSE, when sampled
    std::vector<qs::quant::ExpertError> experts;  ///< per expert of a 3-D `*_exps` tensor
    qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml;
};

struct AnalysisParams {
    std::shared_ptr<const qs::model::Model> model;
    std::vector<AnalysisItem> items;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;  ///< optional: weighted NMSE, imatrix quants
    QString backend = QStringLiteral("cpu");            ///< "cpu" or "vulkan:N"
    int threads = 0;                                    ///< CPU threads, 0 = all cores
    /// Sample tensors above the threshold (nullopt: every pair exact, on the backend).
    std::optional<qs::quant::ErrorSampling> sampling;
    /// Where estimates are kept (shared with other jobs of the same model, the optimizer's
    /// included): sampled ones, and the exact ones the CPU engine measured.
    std::shared_ptr<qs::quant::ErrorEstimateCache> cache;
    bool perExpert = false;  ///< per-expert estimates of 3-D expert tensors
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
