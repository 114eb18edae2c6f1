#pragma once
// Measuring the sensitivity table (every quantizable tensor in every candidate type, sampled or
// exact, cached on disk; or the KL probes of the KL objective) off the GUI thread, for the
// budget optimizer. A BackgroundJob.

#include <memory>

#include <QString>

#include "jobs/background_job.h"
#include "quant/sampled_error.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
struct SensitivityTable;
}  // namespace qs::quant

namespace qs::gui {

struct SensitivityParams {
    std::shared_ptr<const qs::model::Model> model;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;
    bool exact = false;
    int threads = 0;
    QString cacheDir;  ///< empty: the core's default ($XDG_CACHE_HOME/quantscope)
    /// The KL objective: per-tensor KL probes on the first `klCtx` tokens of `klText` replace
    /// the weight errors (qs::eval::klSensitivityOfText).
    bool kl = false;
    std::string klText;
    int64_t klCtx = 128;
    /// The explorer's error atlas's cache and sampling (ErrorAtlas::sharedCache()): every cell
    /// goes through SensitivityOptions::sharedCache, so what the atlas measured is not read
    /// again and what this job measures the atlas (and the next job) finds. Null: the
    /// optimizer's own sampler and disk cache.
    std::shared_ptr<qs::quant::ErrorEstimateCache> sharedCache;
    qs::quant::ErrorSampling sharedSampling;
};

class SensitivityJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SensitivityJob)

public:
    explicit SensitivityJob(SensitivityParams params, QObject* parent = nullptr);
    ~SensitivityJob() override;

    /// Queue the measurement. Progress counts source bytes measured (then KL probes).
    void start();
    const SensitivityParams& params() const { return m_params; }

signals:
    /// The table is measured (for params().model, with params().imatrix).
    void succeeded(std::shared_ptr<const qs::quant::SensitivityTable> table);
    void failed(const QString& message, bool cancelled);

private:
    struct Result;
    void deliver() override;

    SensitivityParams m_params;
    std::shared_ptr<Result> m_result;
};

}  // namespace qs::gui
