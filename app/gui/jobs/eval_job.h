#pragma once
// Evaluating a plan off the GUI thread: the text tokenized with the model's own tokenizer, the
// original model run once for a reference (kept by the caller and passed back, so the next plan
// on the same text and context costs only its own run), the plan's weights quantized in memory,
// and perplexity, KL divergence and top-1 agreement measured (qs::eval::evaluatePlan). The same
// job shape as the others: shared State, ~20 Hz progress, cancel on delete.

#include <memory>

#include <QString>

#include "jobs/background_job.h"

#include "eval/plan_eval.h"
#include "quant/plan.h"

namespace qs::model {
class Model;
}

namespace qs::gui {

struct EvalParams {
    std::shared_ptr<const qs::model::Model> model;
    qs::quant::Plan plan;
    std::string text;  ///< UTF-8 text to score
    int64_t ctx = 512;
    int threads = 0;
    std::shared_ptr<const qs::eval::ReferenceCache> reference;  ///< reuse when it matches
    std::shared_ptr<const qs::quant::Imatrix> imatrix;          ///< quantize as the export would
};

class EvalJob final : public BackgroundJob {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(EvalJob)

public:
    explicit EvalJob(EvalParams params, QObject* parent = nullptr);
    ~EvalJob() override;

    /// Queue the evaluation. Progress counts steps (reference layers, tensors quantized, layers).
    void start();

signals:
    void succeeded(std::shared_ptr<const qs::eval::PlanEvaluation> evaluation);
    void failed(const QString& message, bool cancelled);

private:
    struct Outcome;
    void deliver() override;

    EvalParams m_params;
    std::shared_ptr<Outcome> m_outcome;
};

}  // namespace qs::gui
