#pragma once
// Plots follow the system's light or dark palette: background, axes, ticks, labels, grid,
// legends and titles take the palette's colours, and the series colours that must contrast with
// the background (the "original" lines) pick a light or dark variant. Call styleFor() when a
// plot is made and again on QEvent::PaletteChange.

#include <QColor>
#include <QPalette>

class QCPScatterStyle;
class QCustomPlot;
class QPen;

namespace qs::gui {

/// Whether `palette` is a dark one (its base colour is dark).
bool isDark(const QPalette& palette);

/// Apply `palette` to every axis rect, legend and text element of `plot`, then replot.
void applyPlotPalette(QCustomPlot* plot, const QPalette& palette);

/// The colour of reference series ("original" weights and sizes): dark slate on light
/// backgrounds, light grey on dark ones.
QColor referenceColor(const QPalette& palette);

/// `style` pre-rendered once (antialiased) into a pixmap that every point blits: QCustomPlot
/// otherwise strokes each point's outline as a path, about a millisecond per thousand points
/// (and more with a dashed graph pen). `pen` outlines the shape where `style` has no pen of
/// its own. At a device pixel ratio other than 1, `style` itself (QCustomPlot centres a pixmap
/// by its size in device pixels).
QCPScatterStyle blittedScatter(const QCPScatterStyle& style, const QPen& pen,
                               qreal devicePixelRatio);

}  // namespace qs::gui
