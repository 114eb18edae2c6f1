#include "plot_style.h"

#include <qcustomplot.h>
#include <QPixmap>

#include <cmath>

#include "plot_ticks.h"

namespace qs::gui {

bool isDark(const QPalette& palette) {
    return palette.color(QPalette::Base).lightness() < 128;
}

QColor referenceColor(const QPalette& palette) {
    return isDark(palette) ? QColor(0xd1d5db) : QColor(0x334155);
}

void applyPlotPalette(QCustomPlot* plot, const QPalette& palette) {
    keepTickLabelsApart(plot);  // every styled plot also keeps its tick labels apart
    const QColor base = palette.color(QPalette::Base);
    const QColor text = palette.color(QPalette::Text);
    QColor grid = palette.color(QPalette::Mid);
    grid.setAlpha(isDark(palette) ? 110 : 90);
    QColor subGrid = grid;
    subGrid.setAlpha(grid.alpha() / 2);
    plot->setBackground(QBrush(base));
    for (QCPAxisRect* rect : plot->axisRects()) {
        rect->setBackground(QBrush(base));
        for (QCPAxis* a : rect->axes()) {
            a->setBasePen(QPen(text, 1));
            a->setTickPen(QPen(text, 1));
            a->setSubTickPen(QPen(text, 1));
            a->setTickLabelColor(text);
            a->setLabelColor(text);
            a->grid()->setPen(QPen(grid, 1, Qt::DotLine));
            a->grid()->setSubGridPen(QPen(subGrid, 1, Qt::DotLine));
            a->grid()->setZeroLinePen(QPen(grid, 1));
        }
    }
    plot->legend->setBrush(QBrush(base));
    plot->legend->setTextColor(text);
    if (plot->legend->borderPen().style() != Qt::NoPen) plot->legend->setBorderPen(QPen(text, 0.8));
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i) {
        if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i))) {
            t->setTextColor(text);
        }
    }
    plot->replot(QCustomPlot::rpQueuedReplot);
}

QCPScatterStyle blittedScatter(const QCPScatterStyle& style, const QPen& pen,
                               qreal devicePixelRatio) {
    if (devicePixelRatio != 1.0 || style.shape() == QCPScatterStyle::ssPixmap ||
        style.shape() == QCPScatterStyle::ssNone) {
        return style;
    }
    const QPen outline = style.isPenDefined() ? style.pen() : pen;
    // Odd, so that the shape's centre is a pixel's centre.
    int side = int(std::ceil(style.size() + outline.widthF())) + 2;
    side |= 1;
    QPixmap pixmap(side, side);
    pixmap.fill(Qt::transparent);
    {
        QCPPainter painter(&pixmap);
        painter.setRenderHint(QPainter::Antialiasing);
        style.applyTo(&painter, outline);
        style.drawShape(&painter, side / 2.0, side / 2.0);
    }
    return QCPScatterStyle(pixmap);
}

}  // namespace qs::gui
