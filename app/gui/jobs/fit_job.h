#pragma once
// Fit to budget in a closed loop (qs::eval::fitToBudget) off the GUI thread: the weight-error
// table (cached on disk), then the candidates of one size scored by the model's KL on a text.
// A BackgroundJob; progress counts evaluations.

#include <memory>
#include <string>
#include <vector>

#include <QString>

#include "eval/budget_fit.h"
#include "jobs/background_job.h"
#include "quant/sampled_error.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct Imatrix;
}

namespace qs::gui {

struct FitParams {
    std::shared_ptr<const qs::model::Model> model;
    std::shared_ptr<const qs::quant::Imatrix> imatrix;
    std::string text;              ///< the calibration text (the Quality tab's)
    qs::eval::FitOptions options;  ///< target, presets, bounds (progress/cancel set by the job)
    bool exact = false;            ///< weight-error table on every row
    QString cacheDir;              ///< sensitivity cache (empty: the core's default)
    /// The error atlas's cache and sampling, as SensitivityParams::sharedCache (null: the disk
    /// cache).
    std::shared_ptr<qs::quant::ErrorEstimateCache> sharedCache;
    qs::quant::ErrorSampling sharedSampling;
};

class FitJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(FitJob)

public:
    explicit FitJob(FitParams params, QObject* parent = nullptr);
    ~FitJob() override;

    void start();
    const FitParams& params() const { return m_params; }

signals:
    void succeeded(std::shared_ptr<const qs::eval::FitResult> result);
    void failed(const QString& message, bool cancelled);

private:
    struct Result;
    void deliver() override;

    FitParams m_params;
    std::shared_ptr<Result> m_result;
};

}  // namespace qs::gui
