#pragma once
// The density view of a scatter plot where points crowd (the error plot at hundreds to
// thousands of tensors: 884 quantized tensors of a 405B model, 5,000 in a large MoE): points are
// binned into cells of a few pixels, x linear and y in decades (log axes), and each cell is
// coloured by how many points it holds (QCPColorMap, empty cells transparent). The map is drawn
// on an axis pair of its own (the plot's x axis and a hidden linear y axis that follows log10
// of the log y axis), so that its cells are equal in log space.

#include <vector>

#include <qcustomplot.h>

namespace qs::gui {

/// Points per pixel of plot width beyond which a scatter is unreadable: fewer than 3 pixels a
/// point (a point is drawn 5 pixels wide).
bool pointsCrowd(int points, int widthPixels);

/// Points binned on a grid: nx x ny cells over [x0, x1] x [log10 y0, log10 y1].
struct DensityGrid {
    int nx = 0, ny = 0;
    double x0 = 0, x1 = 1, logY0 = 0, logY1 = 1;
    std::vector<int> counts;  ///< cell (ix, iy) at ix + nx * iy
    int points = 0;           ///< points binned (those with y > 0 inside the ranges)
    int maxCount = 0;
};

/// Bin the points (y > 0) into about `cellPixels`-pixel cells of a `width` x `height` area.
DensityGrid binPoints(const QVector<double>& xs, const QVector<double>& ys, QCPRange x, QCPRange y,
                      int width, int height, int cellPixels = 6);

/// A colour map layered under a plot's graphs, for the density view.
class DensityLayer {
public:
    /// Adds the map and its hidden y axis (yAxis2, kept at log10 of yAxis) to `plot`.
    DensityLayer(QCustomPlot* plot, const QColor& color);

    QCPColorMap* map() const { return m_map; }
    const DensityGrid& grid() const { return m_grid; }
    /// Rebin the points at the plot's current size and ranges; shows the map.
    void setPoints(const QVector<double>& xs, const QVector<double>& ys);
    void setVisible(bool on);
    bool visible() const;
    /// Points in the cell under `pixel` (0 outside the map or when hidden).
    int countAt(const QPointF& pixel) const;

private:
    QCustomPlot* m_plot;
    QCPColorMap* m_map;
    DensityGrid m_grid;
};

}  // namespace qs::gui
