#pragma once
// Plots follow the system's light or dark palette: background, axes, ticks, labels, grid,
// legends and titles take the palette's colours, and the series colours that must contrast with
// the background (the "original" lines) pick a light or dark variant. Call styleFor() when a
// plot is made and again on QEvent::PaletteChange.

#include <QColor>
#include <QPalette>

class QCustomPlot;

namespace qs::gui {

/// Whether `palette` is a dark one (its base colour is dark).
bool isDark(const QPalette& palette);

/// Apply `palette` to every axis rect, legend and text element of `plot`, then replot.
void applyPlotPalette(QCustomPlot* plot, const QPalette& palette);

/// The colour of reference series ("original" weights and sizes): dark slate on light
/// backgrounds, light grey on dark ones.
QColor referenceColor(const QPalette& palette);

}  // namespace qs::gui
