#pragma once
// Evaluating a plan off the GUI thread: the text tokenized with the model's own tokenizer, the
// original model run once for a reference (kept by the caller and passed back, so the next plan
// on the same text and context costs only its own run), the plan's weights quantized in memory,
// and perplexity, KL divergence and top-1 agreement measured (qs::eval::evaluatePlan). The same
// job shape as the others: shared State, ~20 Hz progress, cancel on delete.

#include <memory>

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>

#include "eval/plan_eval.h"
#include "quant/plan.h"

namespace qs::model {
class Model;
}

namespace qs::gui {

struct EvalParams {
    std::shared_ptr<const qs::model::Model> model;
    qs::quant::Plan plan;
    std::string text;                                          ///< UTF-8 text to score
    int64_t ctx = 512;
    int threads = 0;
    std::shared_ptr<const qs::eval::ReferenceCache> reference;  ///< reuse when it matches
    std::shared_ptr<const qs::quant::Imatrix> imatrix;          ///< quantize as the export would
};

struct EvalOutcome {
    std::shared_ptr<const qs::eval::PlanEvaluation> evaluation;
    QString error;
    bool cancelled = false;
};

class EvalJob final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(EvalJob)

public:
    explicit EvalJob(EvalParams params, QObject* parent = nullptr);
    ~EvalJob() override;

    void start();
    void requestCancel();
    bool isRunning() const { return m_watcher.isRunning(); }

signals:
    void progress(qint64 done, qint64 total, const QString& what, double etaSeconds);
    void succeeded(std::shared_ptr<const qs::eval::PlanEvaluation> evaluation);
    void failed(const QString& message, bool cancelled);
    void finished();

private:
    struct State;
    void publish();
    void deliver();

    EvalParams m_params;
    std::shared_ptr<State> m_state;
    QFutureWatcher<EvalOutcome> m_watcher;
    QTimer m_timer;
    QElapsedTimer m_clock;
};

} // namespace qs::gui
