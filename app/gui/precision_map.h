#pragma once
// The precision map: the plan at a glance and a brush to edit it. Rows are layers (plus a
// "global" row for tensors outside the blocks: token_embd, output), columns are the roles
// present in the model (attn_q, attn_k, ..., ffn_down, experts); each cell is filled with its
// target type's colour (type_palette.h) and labelled with the type. Clicking a cell sets it to
// the paint type; a click-drag paints every cell it crosses as one undo step. Clicking a row or
// column header selects the whole layer or role. Painted with QPainter: a 100 x 10 grid costs
// one pass over the visible cells. "Colour by error" turns it into a heat map of the measured
// error of each cell's tensors in their planned types (the error atlas; log scale, green to red),
// the sensitivity of the plan at a glance.

#include <optional>
#include <utility>
#include <vector>

#include <QFont>
#include <QWidget>

#include "formats/type_table.h"
#include "wrapped_rich_label.h"

class QComboBox;

namespace qs::gui {

class ErrorAtlas;
class PlanDocument;

class PrecisionMap final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PrecisionMap)

public:
    PrecisionMap(PlanDocument* doc, QWidget* parent = nullptr);

    enum class ColourBy { Type, Error };
    /// What the cells show: their type (the default) or their measured error from `atlas`.
    void setColourBy(ColourBy mode);
    ColourBy colourBy() const { return m_colourBy; }
    void setErrorAtlas(ErrorAtlas* atlas);
    /// The parameter-weighted error of a cell's tensors in the plan (nothing while unmeasured
    /// or for a blank cell).
    std::optional<double> cellError(int row, int column) const;
    /// The heat colour of `error` between `lo` and `hi` (log scale): green, yellow, red.
    static QColor heatColor(double error, double lo, double hi);
    /// The smallest and largest non-zero cell error (nothing when none is measured).
    std::optional<std::pair<double, double>> errorRange() const;

    /// The type a click paints.
    qs::formats::TensorType paintType() const { return m_paintType; }
    void setPaintType(qs::formats::TensorType type) { m_paintType = type; }

    int rowCount() const { return int(m_rowLabels.size()); }
    int columnCount() const { return int(m_columnLabels.size()); }
    QString rowLabel(int row) const { return m_rowLabels.value(row); }
    QString columnLabel(int column) const { return m_columnLabels.value(column); }
    /// Model tensor indices of a cell (empty for a blank cell).
    const std::vector<size_t>& cellTensors(int row, int column) const;
    /// The cell's rectangle in widget coordinates; headers are above and left of the grid.
    QRect cellRect(int row, int column) const;
    QRect rowHeaderRect(int row) const;
    QRect columnHeaderRect(int column) const;
    /// The tensors of the current selection (a header click), ascending.
    const std::vector<size_t>& selection() const { return m_selection; }
    /// The keyboard's current cell (arrows move it, Space or Enter paints it with the paint
    /// type, Home/End go to the row's ends, Ctrl+Home/Ctrl+End to the grid's corners).
    std::pair<int, int> currentCell() const { return {m_curRow, m_curColumn}; }
    void setCurrentCell(int row, int column);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

signals:
    /// A row or column header was clicked: these tensors are now selected.
    void tensorsSelected(const std::vector<size_t>& indices);
    /// A cell was clicked (its first tensor), e.g. to show it in the table and the plots.
    void tensorActivated(size_t index);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void focusInEvent(QFocusEvent* event) override;
    void focusOutEvent(QFocusEvent* event) override;
    bool event(QEvent* event) override;

private:
    struct Hit {
        int row = -1;
        int column = -1;  ///< -1 with row >= 0: row header; row -1 with column >= 0: column header
    };
    void rebuildGrid();
    Hit hitTest(const QPoint& pos) const;
    void paintCell(int row, int column);
    int minCellWidth() const;
    int rowHeaderWidth() const;
    int cellWidth() const;
    int cellHeight() const;
    /// The fixed labels' text widths, measured once per font: cellRect() runs per cell and
    /// per paint, and shaping the text each time cost a 405B's map several ms (issue 19).
    struct LabelWidths {
        QFont font;
        int rowHeader = 0;
        int minCell = 0;
        bool valid = false;
    };
    const LabelWidths& labelWidths() const;

    PlanDocument* m_doc;
    ErrorAtlas* m_atlas = nullptr;
    ColourBy m_colourBy = ColourBy::Type;
    qs::formats::TensorType m_paintType = qs::formats::TensorType::Q4_K;
    QStringList m_rowLabels;
    QStringList m_columnLabels;
    std::vector<std::vector<size_t>> m_cells;  ///< row-major rows x columns
    std::vector<size_t> m_selection;
    int m_stroke = 0;                   ///< the paint gesture in progress (0: none)
    int m_curRow = 0, m_curColumn = 0;  ///< the keyboard's cell
    Hit m_lastPainted;
    mutable LabelWidths m_labelWidths;
};

/// The map with its controls: the paint-type combo, "Fill selection", and the colour legend.
class PrecisionMapPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PrecisionMapPanel)

public:
    PrecisionMapPanel(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent = nullptr);

    PrecisionMap* map() const { return m_map; }
    QComboBox* paintCombo() const { return m_paint; }
    /// "Type" or "Error" (kept in QSettings).
    QComboBox* colourCombo() const { return m_colour; }
    WrappedRichLabel* legend() const { return m_legend; }

private:
    void updateLegend();

    PlanDocument* m_doc;
    PrecisionMap* m_map = nullptr;
    QComboBox* m_paint = nullptr;
    QComboBox* m_colour = nullptr;
    WrappedRichLabel* m_legend = nullptr;
};

}  // namespace qs::gui
