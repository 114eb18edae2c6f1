#include "plot_density.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::gui {

bool pointsCrowd(int points, int widthPixels) {
    return points > 0 && widthPixels > 0 && 3 * points > widthPixels;
}

DensityGrid binPoints(const QVector<double>& xs, const QVector<double>& ys, QCPRange x, QCPRange y,
                      int width, int height, int cellPixels) {
    DensityGrid g;
    cellPixels = std::max(1, cellPixels);
    g.nx = std::max(1, width / cellPixels);
    g.ny = std::max(1, height / cellPixels);
    g.x0 = x.lower;
    g.x1 = x.upper > x.lower ? x.upper : x.lower + 1;
    g.logY0 = std::log10(std::max(y.lower, std::numeric_limits<double>::min()));
    g.logY1 = std::log10(std::max(y.upper, std::numeric_limits<double>::min()));
    if (!(g.logY1 > g.logY0)) g.logY1 = g.logY0 + 1;
    g.counts.assign(size_t(g.nx) * size_t(g.ny), 0);
    const double sx = g.nx / (g.x1 - g.x0), sy = g.ny / (g.logY1 - g.logY0);
    for (qsizetype i = 0; i < std::min(xs.size(), ys.size()); ++i) {
        if (!(ys[i] > 0)) continue;
        const double fx = (xs[i] - g.x0) * sx, fy = (std::log10(ys[i]) - g.logY0) * sy;
        if (!(fx >= 0 && fx <= g.nx && fy >= 0 && fy <= g.ny)) continue;
        const int ix = std::min(g.nx - 1, int(fx)), iy = std::min(g.ny - 1, int(fy));
        int& c = g.counts[size_t(ix) + size_t(g.nx) * size_t(iy)];
        g.maxCount = std::max(g.maxCount, ++c);
        ++g.points;
    }
    return g;
}

DensityLayer::DensityLayer(QCustomPlot* plot, const QColor& color) : m_plot(plot) {
    QCPAxis* logAxis = plot->yAxis2;
    logAxis->setVisible(false);
    logAxis->setScaleType(QCPAxis::stLinear);
    const auto follow = [logAxis](const QCPRange& r) {
        if (r.lower > 0 && r.upper > 0) logAxis->setRange(std::log10(r.lower), std::log10(r.upper));
    };
    QObject::connect(plot->yAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), logAxis,
                     follow);
    follow(plot->yAxis->range());
    m_map = new QCPColorMap(plot->xAxis, logAxis);
    m_map->setName(QStringLiteral("density"));
    m_map->setInterpolate(false);
    m_map->setTightBoundary(true);
    m_map->setDataScaleType(QCPAxis::stLogarithmic);  // one point still shows beside a hundred
    QCPColorGradient gradient;
    gradient.setColorStopAt(0, color.lighter(185));
    gradient.setColorStopAt(1, color.darker(160));
    gradient.setNanHandling(QCPColorGradient::nhTransparent);
    m_map->setGradient(gradient);
    m_map->setLayer(QStringLiteral("grid"));  // under the graphs
    m_map->setVisible(false);
}

void DensityLayer::setPoints(const QVector<double>& xs, const QVector<double>& ys) {
    const QRect rect = m_plot->axisRect()->rect();
    const int w = rect.width() > 0 ? rect.width() : m_plot->width();
    const int h = rect.height() > 0 ? rect.height() : m_plot->height();
    m_grid = binPoints(xs, ys, m_plot->xAxis->range(), m_plot->yAxis->range(), w, h);
    const DensityGrid& g = m_grid;
    auto* data = m_map->data();
    data->setSize(g.nx, g.ny);
    // Cell centres: the map's range is that of the first and last cells' centres.
    const double cx = (g.x1 - g.x0) / g.nx, cy = (g.logY1 - g.logY0) / g.ny;
    data->setRange(QCPRange(g.x0 + cx / 2, g.x1 - cx / 2),
                   QCPRange(g.logY0 + cy / 2, g.logY1 - cy / 2));
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int iy = 0; iy < g.ny; ++iy) {
        for (int ix = 0; ix < g.nx; ++ix) {
            const int c = g.counts[size_t(ix) + size_t(g.nx) * size_t(iy)];
            data->setCell(ix, iy, c > 0 ? double(c) : nan);
        }
    }
    m_map->setDataRange(QCPRange(1, std::max(2, g.maxCount)));
}

void DensityLayer::setVisible(bool on) {
    m_map->setVisible(on);
}

bool DensityLayer::visible() const {
    return m_map->visible();
}

int DensityLayer::countAt(const QPointF& pixel) const {
    const DensityGrid& g = m_grid;
    if (!m_map->visible() || g.counts.empty()) return 0;
    const double x = m_plot->xAxis->pixelToCoord(pixel.x());
    const double ly = m_plot->yAxis2->pixelToCoord(pixel.y());
    const double fx = (x - g.x0) / (g.x1 - g.x0) * g.nx,
                 fy = (ly - g.logY0) / (g.logY1 - g.logY0) * g.ny;
    if (!(fx >= 0 && fx < g.nx && fy >= 0 && fy < g.ny)) return 0;
    return g.counts[size_t(fx) + size_t(g.nx) * size_t(fy)];
}

}  // namespace qs::gui
