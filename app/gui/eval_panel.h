#pragma once
// The Quality tab: how the plan changes the model's predictions, measured by the core's own
// forward pass (qs::eval): perplexity of a text under the plan and under the original, the KL
// divergence of the plan's next-token distribution from the original's (mean, 99th percentile,
// max), top-1 agreement, and the KL at every position as a plot. Runs as a cancellable job; the
// original's run is kept (top-k log-probabilities only) and reused for every later plan on the
// same text and context, and each evaluation is added to a history table to compare plans.

#include <memory>

#include <QPointer>
#include <QString>
#include <QWidget>

#include "eval/plan_eval.h"

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace qs::gui {

class EvalJob;
class PlanDocument;

class EvalPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(EvalPanel)

public:
    EvalPanel(PlanDocument* doc, QWidget* parent = nullptr);
    ~EvalPanel() override;

    /// The built-in sample text (resources/eval/sample.txt).
    static QString sampleText();

    /// Score this text from now on (empty path: the built-in sample). Empty on success, else
    /// why the file cannot be read.
    QString setTextFile(const QString& path);
    /// The text scored now (UTF-8).
    const std::string& text() const { return m_text; }
    /// Evaluate the current plan (no-op while a job runs or without a model).
    void evaluate();
    bool isEvaluating() const { return !m_job.isNull(); }
    EvalJob* job() const;
    /// The last evaluation (null before the first).
    const qs::eval::PlanEvaluation* last() const { return m_last.get(); }
    /// How many evaluations ran the original model (the reference is reused when it can be).
    int referenceRuns() const { return m_referenceRuns; }

    QSpinBox* contextSpin() const { return m_ctx; }
    QPushButton* evaluateButton() const { return m_evaluate; }
    QCustomPlot* klPlot() const { return m_plot; }
    QTableWidget* history() const { return m_history; }
    QLabel* summary() const { return m_summary; }

signals:
    void jobStarted(qs::gui::EvalJob* job);
    void jobFinished(bool ok, const QString& message);
    /// An evaluation finished; last() holds it.
    void evaluated();
    /// A different text is scored from now on.
    void textChanged();

private:
    void reset();
    void onResult(std::shared_ptr<const qs::eval::PlanEvaluation> e, const QString& label,
                  quint64 fileBytes);
    void chooseText();

    PlanDocument* m_doc;
    QString m_textPath;  ///< empty: the sample
    std::string m_text;
    std::shared_ptr<const qs::eval::ReferenceCache> m_reference;
    QString m_referenceKey;  ///< what the reference was made on (model, text, ctx)
    std::shared_ptr<const qs::eval::PlanEvaluation> m_last;
    int m_referenceRuns = 0;
    QPointer<EvalJob> m_job;

    QComboBox* m_textCombo = nullptr;
    QSpinBox* m_ctx = nullptr;
    QPushButton* m_evaluate = nullptr;
    QLabel* m_summary = nullptr;
    QCustomPlot* m_plot = nullptr;
    QTableWidget* m_history = nullptr;
};

}  // namespace qs::gui
