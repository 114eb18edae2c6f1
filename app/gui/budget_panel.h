#pragma once
// The budget panel (the "Budget" tab): fit the plan to a file size or bits-per-weight budget with
// the core's optimizer, and see where it stands. It measures the sensitivity table in the
// background (sampled, or exact; through the error atlas's cache, so what the atlas measured is
// not read again, or, without an atlas, cached on disk), prepares a
// PlanOptimizer on the current plan (locked tensors stay as they are) and then:
//  - the slider and the bpw field choose a budget; every move solves at once (the optimizer
//    re-solves in about a millisecond) and shows the size and error it would give;
//  - "Fit to budget" (or releasing the slider) applies that plan as one undo step;
//  - the chart plots size against error: the optimizer's curve, llama.cpp's presets scored by
//    the same objective, the current plan and the budget;
//  - "Fit (closed loop)" runs qs::eval::fitToBudget on the Quality tab's text as a cancellable
//    job: candidates of the budget's size (the presets of that size, the NMSE plan, the KL plan,
//    local moves) scored by the model's KL, never worse there than the preset; the candidates
//    are drawn with their measured KL (right axis) and the chosen plan applied as one undo step.

#include <memory>
#include <optional>
#include <vector>

#include <QElapsedTimer>
#include <QPointer>
#include <QWidget>

#include "quant/optimizer.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSlider;

namespace qs::quant {
struct SensitivityTable;
}
namespace qs::eval {
struct FitResult;
}

namespace qs::gui {

class PlanDocument;
class ErrorAtlas;
class FitJob;
class SensitivityJob;

class BudgetPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(BudgetPanel)

public:
    /// Presets scored on the chart.
    static const QStringList& chartPresets();
    /// Slider steps between the smallest and the largest plan.
    static constexpr int kSliderSteps = 1000;

    BudgetPanel(PlanDocument* doc, QWidget* parent = nullptr);
    ~BudgetPanel() override;

    /// The explorer's error atlas: the sensitivity and closed-loop jobs share its cache and
    /// sampling (ErrorAtlas::sharedCache), so neither reads a row the atlas (or the job before)
    /// measured. Without one they use the optimizer's own sampler and disk cache.
    void setErrorAtlas(ErrorAtlas* atlas);

    /// What the optimizer minimises: the weight error, or the KL divergence the model's own
    /// forward pass measures per tensor on the KL text (see setKlText). Changing it measures again.
    enum class Objective { Nmse, Kl };
    void setObjective(Objective objective);
    Objective objective() const;
    /// The text the KL probes score (the Quality tab's text).
    void setKlText(const std::string& text);
    QComboBox* objectiveCombo() const { return m_objective; }

    /// Measure the sensitivity table now (no-op while a measurement runs).
    void measure();
    bool isMeasuring() const { return !m_job.isNull(); }
    SensitivityJob* job() const;
    const qs::quant::SensitivityTable* table() const { return m_table.get(); }
    /// The optimizer on the current plan, prepared on demand (null without a table).
    const qs::quant::PlanOptimizer* optimizer();

    /// Choose a budget in bytes (clamped to what is feasible) and show its solution; `apply`
    /// also fits the plan to it. Returns the solution (nothing without a table).
    std::optional<qs::quant::OptimizeResult> setBudgetBytes(quint64 bytes, bool apply);
    /// The budget chosen (0 when none).
    quint64 budgetBytes() const { return m_budget; }
    /// Fit the plan to the chosen budget now (one undo step). False without a table.
    bool fitToBudget();

    QSlider* slider() const { return m_slider; }
    QDoubleSpinBox* bpwSpin() const { return m_bpw; }
    QPushButton* fitButton() const { return m_fit; }
    /// Fit to the chosen budget in a closed loop on the KL text (a FitJob): false without a
    /// model, a budget or a text, or while one runs. The chosen plan is applied when it ends.
    bool fitClosedLoop();
    FitJob* fitJob() const;
    bool isFitting() const { return !m_fitJob.isNull(); }
    /// The last closed loop's candidates and choice (null before one finished).
    const qs::eval::FitResult* closedLoopResult() const { return m_fitResult.get(); }
    QPushButton* closedLoopButton() const { return m_closedLoop; }
    QProgressBar* closedLoopProgress() const { return m_fitProgress; }
    QPushButton* measureButton() const { return m_measure; }
    QCheckBox* exactBox() const { return m_exact; }
    QCustomPlot* chart() const { return m_chart; }
    QLabel* summary() const { return m_summary; }
    QLabel* status() const { return m_status; }

    /// Where the cache of sensitivity measurements lives (QStandardPaths' cache folder).
    static QString cacheDir();

signals:
    void jobStarted(qs::gui::SensitivityJob* job);
    void jobFinished(bool ok, const QString& message);
    /// The optimizer is ready for the current model (after a measurement).
    void ready();
    /// The budget changed (0: none); the footprint plot draws it.
    void budgetChanged(quint64 bytes);
    /// A closed-loop fit ended (ok: its plan was applied).
    void closedLoopFinished(bool ok, const QString& message);

protected:
    /// Shown for the first time with a model: measure at once (the table is cached on disk).
    void showEvent(QShowEvent* event) override;

private:
    void reset();
    void onTable(std::shared_ptr<const qs::quant::SensitivityTable> table);
    void onSlider(int value);
    void onBpw(double bpw);
    void refreshChart();
    void onFit(std::shared_ptr<const qs::eval::FitResult> fit);
    void updateSummary(const std::optional<qs::quant::OptimizeResult>& r);
    /// Score llama.cpp's presets as the optimizer would see them: with the current locks kept
    /// (a locked tensor keeps its type in every plan), so markers and curve compare fairly.
    void scorePresets(const qs::quant::PlanOptimizer& opt);
    quint64 bytesAt(int sliderValue) const;
    int sliderAt(quint64 bytes) const;

    PlanDocument* m_doc;
    QPointer<ErrorAtlas> m_atlas;
    std::shared_ptr<const qs::quant::SensitivityTable> m_table;
    std::shared_ptr<const qs::model::Model> m_tableModel;  ///< the model the table measured
    std::optional<qs::quant::PlanOptimizer> m_optimizer;
    bool m_planDirty = true;  ///< the plan changed since the optimizer was prepared
    bool m_applying = false;  ///< our own replacePlan is running
    std::optional<qs::quant::OptimizeResult> m_lastResult;  ///< the solve at m_budget
    quint64 m_budget = 0;
    std::vector<qs::quant::CurvePoint> m_curve;
    std::vector<std::pair<QString, qs::quant::PlanScore>> m_presets;
    QPointer<SensitivityJob> m_job;
    QPointer<FitJob> m_fitJob;
    std::shared_ptr<const qs::eval::FitResult> m_fitResult;

    std::string m_klText;
    QElapsedTimer m_clock;  ///< since the measurement started
    QComboBox* m_objective = nullptr;
    QPushButton* m_measure = nullptr;
    QCheckBox* m_exact = nullptr;
    QLabel* m_status = nullptr;
    QSlider* m_slider = nullptr;
    QDoubleSpinBox* m_bpw = nullptr;
    QLabel* m_size = nullptr;
    QPushButton* m_fit = nullptr;
    QPushButton* m_closedLoop = nullptr;
    QProgressBar* m_fitProgress = nullptr;
    QCustomPlot* m_chart = nullptr;
    QLabel* m_summary = nullptr;
};

}  // namespace qs::gui
