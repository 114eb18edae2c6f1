#pragma once
// Plot 2 of the explorer: the quantization error of every quantized tensor across the model,
// in layer order (log scale), for the current plan and, optionally, a second plan built from a
// llama.cpp preset ("compare with"). Points come from the ErrorAtlas and fill in as the
// background analysis measures them; the header sums each plan's error (parameter-weighted
// NMSE) with the share measured so far. Hovering a point names its tensor; clicking it makes
// that tensor current. Where points crowd (fewer than 3 pixels a point: a 405B model's 884
// quantized tensors, thousands in a large MoE) the "auto" view shows the current plan as a
// density map (plot_density.h) instead of points; "points" and "density" force either.

#include <memory>
#include <optional>
#include <vector>

#include <QWidget>

#include "wrapped_rich_label.h"

class QComboBox;
class QCustomPlot;
class QMouseEvent;

namespace qs::gui {

class DensityLayer;
class ErrorAtlas;
class PlanDocument;

class ErrorPlot final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ErrorPlot)

public:
    ErrorPlot(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent = nullptr);
    ~ErrorPlot() override;

    /// Points, a density map, or whichever reads better at the plot's size (saved setting).
    enum class View { Auto, Points, Density };
    void setView(View view);
    View view() const { return m_view; }
    /// Whether the density map is what is shown now.
    bool densityShown() const;
    const DensityLayer* density() const { return m_density.get(); }
    QComboBox* viewCombo() const { return m_viewCombo; }

    QCustomPlot* plot() const { return m_plot; }
    QComboBox* compareCombo() const { return m_compare; }
    WrappedRichLabel* totalsLabel() const { return m_totals; }

    /// Points drawn for the current plan and the comparison plan.
    int currentPointCount() const;
    int comparisonPointCount() const;

    /// Write every quantized tensor's error (both plans) as CSV. False on a write error.
    bool saveCsv(const QString& path) const;

    /// Rebuild the points and totals now (planChanged and the atlas' updated() call it).
    void refresh();
    /// Show a comparison with a plan of a file (the atlas holds the plan): a combo entry named
    /// `label` is selected.
    void showFileComparison(const QString& label);

    /// Combo data of the "Plan of a file…" entry and of a file's entry.
    static constexpr int kChooseFile = -2;
    static constexpr int kFileEntry = -1;

signals:
    /// A point was clicked: make tensor `index` current.
    void tensorActivated(size_t index);
    /// "Plan of a file…" was chosen: the window asks for the file (and calls
    /// showFileComparison, or nothing when the choice is abandoned).
    void compareFileRequested();

protected:
    void changeEvent(QEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void onHover(QMouseEvent* event);
    void onClick(QMouseEvent* event);
    /// Tensor index of the point nearest to the pixel, if within a few pixels.
    std::optional<size_t> pointAt(const QPointF& pixel) const;
    /// Points or density, as the view and the plot's width say; rebins the density map.
    void updateDensity();

    PlanDocument* m_doc;
    ErrorAtlas* m_atlas;
    QCustomPlot* m_plot = nullptr;
    QComboBox* m_compare = nullptr;
    WrappedRichLabel* m_totals = nullptr;
    qreal m_scatterDpr = 0;  // the pixel ratio the points' pixmaps were made for
    QComboBox* m_viewCombo = nullptr;
    std::unique_ptr<DensityLayer> m_density;
    View m_view = View::Auto;
    std::vector<size_t> m_order;  ///< x position -> tensor index
    int m_lastCompareIndex = 0;
};

}  // namespace qs::gui
