#pragma once
// Tick labels that never overlap, from 4 to 200 layers and in any plot size:
// - SpacedTextTicker: a text ticker (layer labels) that keeps every k-th label, k the smallest
//   of 1, 2, 5, 10, 20, 50 ... whose labels stand apart at the axis's current pixel length;
// - keepTickLabelsApart(): before every replot, numeric and log axes get a tick count that
//   their length can hold (QCustomPlot's own tickers then choose the steps).
// tickLabelsOverlap() measures the labels an axis drew; the GUI tests call it.

#include <qcustomplot.h>
#include <QFont>
#include <QHash>
#include <QString>

namespace qs::gui {

class SpacedTextTicker final : public QCPAxisTickerText {
public:
    explicit SpacedTextTicker(QCPAxis* axis) : m_axis(axis) {}

protected:
    QVector<double> createTickVector(double tickStep, const QCPRange& range) override;

private:
    /// A label's extent along the axis, measured once per label and font (a replot of a
    /// 126-layer axis would otherwise shape every label's text again for each stride tried).
    double extent(const QString& label);

    QCPAxis* m_axis;
    QFont m_font;
    QHash<QString, double> m_extents;
};

/// Fit the tick count of every non-text axis of `plot` to its length before each replot.
/// Idempotent (connects once per plot).
void keepTickLabelsApart(QCustomPlot* plot);

/// Whether two tick labels of `axis`, as last drawn, overlap (with `gap` pixels between them);
/// `why` names the pair.
bool tickLabelsOverlap(const QCPAxis* axis, int gap = 2, QString* why = nullptr);

}  // namespace qs::gui
