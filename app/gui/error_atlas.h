#pragma once
// The error atlas: the measured quantization error of (tensor, type) pairs for the open model,
// shared by the table's Error column, the error-per-tensor plot and the plan totals. It follows
// the PlanDocument: after an edit (debounced) it measures, in one background AnalysisJob, every
// pair the current plan and the comparison plan need that it has not measured yet, so an edit
// that goes back to a type seen before costs nothing. Copies (target type = source type) are
// lossless and never measured. A new model or imatrix clears it.
//
// A pair is measured with the quantizer of the plan that asks for it (Plan::quantizer: ggml's
// encoders or the best quantizer's search), so a best plan's error is the best quantizer's. For
// a best plan the atlas also measures the same types under ggml (fast beside the search), so
// quantizerGain() can say how much lower the plan's error is than ggml's.
//
// Scale: tensors above a size threshold are estimated from a seeded, stratified sample of rows
// (quant/sampled_error.h) with a standard error, shown as "≈ 8.1e-03 ± 2.9 %" (± the 95 %
// interval's half-width), so a 405B model's
// plan is measured in a minute, not hours. refineNow() (and, with refine-on-idle, a few seconds
// after the atlas falls idle) re-measures the sampled pairs exactly, smallest tensors first;
// "exact everywhere" measures every pair exactly from the start. measureExperts() estimates
// every expert of a 3-D `*_exps` tensor on its own (a GGUF tensor still has one type).

#include <memory>
#include <optional>
#include <vector>

#include <QHash>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QTimer>

#include "quant/ftype.h"
#include "quant/plan.h"
#include "quant/sampled_error.h"
#include "stats/metrics.h"

namespace qs::gui {

class AnalysisJob;
class PlanDocument;
struct AnalysisEntry;

class ErrorAtlas final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ErrorAtlas)

public:
    /// Delay between the last edit and the start of a measuring job.
    static constexpr int kDebounceMs = 150;

    explicit ErrorAtlas(PlanDocument* doc, QObject* parent = nullptr);
    ~ErrorAtlas() override;

    /// The error of tensor `index` in `type` written by `quantizer`: zero metrics for a copy,
    /// nothing while unmeasured.
    std::optional<qs::stats::ErrorMetrics> find(
        size_t index, qs::formats::TensorType type,
        qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml) const;
    /// The error of tensor `index` in its type in `plan`, written by the plan's quantizer.
    std::optional<qs::stats::ErrorMetrics> find(const qs::quant::Plan& plan, size_t index) const;

    /// A plan's error summed over tensors: sum of (weighted) NMSE x parameters / parameters of
    /// the measured tensors, and the share of quantized parameters measured so far.
    struct Totals {
        double nmse = 0;          ///< parameter-weighted mean NMSE of the measured tensors
        double weightedNmse = 0;  ///< the same with the imatrix weighting
        double coverage = 1;      ///< measured parameters / parameters that need measuring
        qint64 pending = 0;       ///< tensors still to measure
    };
    Totals totalsOf(const qs::quant::Plan& plan) const;
    /// For a plan written by the best quantizer: its (weighted) RMSE over the whole plan divided
    /// by the same plan's under ggml's encoders (below 1: the gain), once every tensor of both is
    /// measured; nullopt for a ggml plan or while measuring.
    std::optional<double> quantizerGain(const qs::quant::Plan& plan) const;

    /// A second plan to compare with (a preset built with llama.cpp's rules), or none.
    void setComparisonPreset(std::optional<qs::quant::Ftype> preset);
    std::optional<qs::quant::Ftype> comparisonPreset() const { return m_comparePreset; }
    /// Any second plan of this model (e.g. imported from a quantized file), named `label`.
    void setComparisonPlan(qs::quant::Plan plan, const QString& label);
    /// "Q4_K_M", a file name, or empty without a comparison.
    const QString& comparisonLabel() const { return m_compareLabel; }
    /// The comparison plan (empty when there is none).
    const qs::quant::Plan& comparisonPlan() const { return m_compare; }

    /// Measure automatically after each edit (the default), or only on analyseNow().
    void setAutoAnalyse(bool on);
    bool autoAnalyse() const { return m_auto; }
    /// Start measuring what is missing now (no-op when nothing is or a job runs).
    void analyseNow();
    /// Stop the job in flight (what was measured so far is kept).
    void cancel();
    bool isRunning() const { return !m_job.isNull(); }
    /// The job in flight, or null.
    AnalysisJob* job() const;
    /// Pairs still to measure for the current and the comparison plan.
    qsizetype missingCount() const;
    /// Number of pairs measured.
    qsizetype size() const { return m_metrics.size(); }

    /// Backend and threads of the jobs that start from now on.
    void setBackend(const QString& spec, int threads);

    /// Whether the error of tensor `index` in `type` is a sampled estimate, and its standard
    /// error (absolute, of the weighted NMSE shown); nullopt when exact or unmeasured.
    std::optional<double> sampledStdError(
        size_t index, qs::formats::TensorType type,
        qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml) const;
    /// "≈ 8.1e-03 ± 2.9 %" for a sampled estimate (± the half-width of its 95 % interval, 1.96 x
    /// `stdError`, relative; the cell's and the column's tooltips say "(95 %)"), "8.1e-03" for
    /// an exact one.
    static QString formatError(double value, std::optional<double> stdError);
    /// Measure every pair exactly from now on (sampled ones are refined).
    void setExactEverywhere(bool on);
    bool exactEverywhere() const { return m_exactEverywhere; }
    /// Refine the sampled estimates toward exact when idle for a few seconds.
    void setRefineOnIdle(bool on);
    bool refineOnIdle() const { return m_refineOnIdle; }
    /// Re-measure the sampled pairs of the current and comparison plans exactly.
    void refineNow();
    /// Pairs whose error is a sampled estimate.
    qsizetype sampledCount() const { return m_sampled.size(); }
    /// Tensors above this many values are sampled (unless exact everywhere).
    void setSampling(const qs::quant::ErrorSampling& sampling);
    const qs::quant::ErrorSampling& sampling() const { return m_sampling; }

    /// The cache of every estimate of this model (sampled ones, and the exact ones of the CPU
    /// engine), for the optimizer's jobs to share (SensitivityOptions::sharedCache) with
    /// sampling(). Replaced (not cleared) when the model or imatrix changes: a job holding the
    /// old one keeps it. Reopening the same unchanged file (path, size, time) keeps it.
    std::shared_ptr<qs::quant::ErrorEstimateCache> sharedCache() const { return m_cache; }

    /// Estimate each expert of tensor `index` (a 3-D `*_exps` tensor) in its planned type.
    void measureExperts(size_t index);
    /// The per-expert errors of tensor `index` in `type`, or null while unmeasured.
    const std::vector<qs::quant::ExpertError>* experts(
        size_t index, qs::formats::TensorType type,
        qs::formats::Quantizer quantizer = qs::formats::Quantizer::Ggml) const;

signals:
    /// New measurements arrived (or the atlas was cleared).
    void updated();
    /// Emitted just before updated(): the tensors whose measurements arrived, in ascending
    /// order, or none when every tensor's may have changed (the atlas was cleared).
    void tensorsMeasured(const std::vector<size_t>& tensors);
    void jobStarted(qs::gui::AnalysisJob* job);
    /// A job ended: cancelled, or with the first error of a pair (empty if none), and a
    /// backend note (e.g. the Vulkan device could not be opened).
    void jobFinished(bool cancelled, const QString& error, const QString& note);

private:
    /// The quantizer that really writes `type`: types without a best search are ggml's either way.
    static qs::formats::Quantizer writer(qs::formats::Quantizer q, qs::formats::TensorType type) {
        return qs::formats::hasBestSearch(type) ? q : qs::formats::Quantizer::Ggml;
    }
    static quint64 key(size_t index, qs::formats::TensorType type, qs::formats::Quantizer q) {
        // Type ids stay below 2048 (safetensors-only types are 1000+).
        return (quint64(index) << 12) | (quint64(writer(q, type)) << 11) | quint64(type);
    }
    void clear();
    /// The open model's file: absolute path, size and modification time (empty: none).
    QString modelIdentity() const;
    void rebuildComparison();
    void schedule();
    void onResults(const QList<AnalysisEntry>& entries);
    /// The plans whose pairs are measured: the document's (and, for a best plan, the same plan
    /// under ggml's encoders) and the comparison plan.
    std::vector<qs::quant::Plan> measuredPlans() const;
    std::vector<struct AnalysisItem> missingItems() const;
    std::vector<struct AnalysisItem> sampledItems() const;
    enum class JobKind { Measure, Experts, Refine };
    void startJob(std::vector<struct AnalysisItem> items, JobKind kind);

    PlanDocument* m_doc;
    QHash<quint64, qs::stats::ErrorMetrics> m_metrics;
    QHash<quint64, double> m_sampled;  ///< pairs estimated from a sample: their std error
    QHash<quint64, std::vector<qs::quant::ExpertError>> m_experts;
    std::vector<size_t> m_expertRequests;
    std::shared_ptr<qs::quant::ErrorEstimateCache> m_cache;
    QString m_cacheModel;  ///< modelIdentity() of the model m_cache belongs to
    qs::quant::ErrorSampling m_sampling;
    bool m_exactEverywhere = false;
    bool m_refineOnIdle = false;
    bool m_refineRequested = false;
    bool m_refineInterrupted = false;  ///< an edit stopped a refinement: measure the edit
    JobKind m_jobKind = JobKind::Measure;
    QTimer m_idle;
    std::optional<qs::quant::Ftype> m_comparePreset;
    qs::quant::Plan m_compare;
    QString m_compareLabel;
    QPointer<AnalysisJob> m_job;
    QTimer m_debounce;
    bool m_auto = true;
    QString m_backend = QStringLiteral("cpu");
    int m_threads = 0;
};

}  // namespace qs::gui
