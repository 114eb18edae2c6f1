#include "plot_ticks.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qs::gui {

namespace {

// Pixel extent of a label along the axis: its width on a horizontal axis, its height on a
// vertical one (labels are not rotated here).
double labelExtent(const QCPAxis* axis, const QString& label) {
    const QFontMetrics fm(axis->tickLabelFont());
    if (axis->orientation() == Qt::Horizontal) {
        int w = 0;
        for (const QString& line : label.split(QLatin1Char('\n')))
            w = std::max(w, fm.horizontalAdvance(line));
        return w;
    }
    return fm.height() * std::max<qsizetype>(1, label.count(QLatin1Char('\n')) + 1);
}

struct Span {
    double lo, hi;
};

bool spansApart(std::vector<Span> spans, int gap, size_t* at = nullptr) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.lo < b.lo; });
    for (size_t i = 1; i < spans.size(); ++i) {
        if (spans[i].lo < spans[i - 1].hi + gap) {
            if (at) *at = i;
            return false;
        }
    }
    return true;
}

Span spanOf(const QCPAxis* axis, double coord, double extent) {
    const double px = axis->coordToPixel(coord);
    return {px - extent / 2.0, px + extent / 2.0};
}

Span spanOf(const QCPAxis* axis, double coord, const QString& label) {
    return spanOf(axis, coord, labelExtent(axis, label));
}

}  // namespace

double SpacedTextTicker::extent(const QString& label) {
    if (m_font != m_axis->tickLabelFont()) {
        m_font = m_axis->tickLabelFont();
        m_extents.clear();
    }
    auto it = m_extents.constFind(label);
    if (it == m_extents.constEnd()) it = m_extents.insert(label, labelExtent(m_axis, label));
    return *it;
}

QVector<double> SpacedTextTicker::createTickVector(double tickStep, const QCPRange& range) {
    const QVector<double> all = QCPAxisTickerText::createTickVector(tickStep, range);
    if (!m_axis || all.size() < 2) return all;
    static constexpr int kStrides[] = {1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000};
    for (int stride : kStrides) {
        QVector<double> kept;
        std::vector<Span> spans;
        for (qsizetype i = 0; i < all.size(); i += stride) {
            kept.append(all[i]);
            spans.push_back(spanOf(m_axis, all[i], extent(mTicks.value(all[i]))));
        }
        if (spansApart(spans, 6)) return kept;
    }
    return {all.front()};
}

void keepTickLabelsApart(QCustomPlot* plot) {
    if (plot->property("qsTickSpacing").toBool()) return;
    plot->setProperty("qsTickSpacing", true);
    QObject::connect(plot, &QCustomPlot::beforeReplot, plot, [plot] {
        for (QCPAxisRect* rect : plot->axisRects()) {
            for (QCPAxis* axis : rect->axes()) {
                QSharedPointer<QCPAxisTicker> ticker = axis->ticker();
                if (!ticker || ticker.dynamicCast<QCPAxisTickerText>()) continue;
                const bool horizontal = axis->orientation() == Qt::Horizontal;
                const double length = horizontal ? rect->width() : rect->height();
                // The widest label drawn so far, or a typical one before the first replot.
                double label = labelExtent(axis, QStringLiteral("0.00e-00"));
                for (const QString& l : axis->tickVectorLabels())
                    label = std::max(label, labelExtent(axis, l));
                const double pitch = horizontal ? label * 1.5 : label * 1.8;
                const int count = std::clamp(int(length / std::max(1.0, pitch)), 1, 6);
                if (ticker->tickCount() != count) ticker->setTickCount(count);
            }
        }
    });
}

bool tickLabelsOverlap(const QCPAxis* axis, int gap, QString* why) {
    const QVector<double> ticks = axis->tickVector();
    const QVector<QString> labels = axis->tickVectorLabels();
    const QCPRange range = axis->range();
    std::vector<Span> spans;
    std::vector<QString> texts;
    for (qsizetype i = 0; i < ticks.size() && i < labels.size(); ++i) {
        if (labels[i].isEmpty() || !range.contains(ticks[i])) continue;
        spans.push_back(spanOf(axis, ticks[i], labels[i]));
        texts.push_back(labels[i]);
    }
    // Sort the texts with their spans.
    std::vector<size_t> order(spans.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&spans](size_t a, size_t b) { return spans[a].lo < spans[b].lo; });
    for (size_t k = 1; k < order.size(); ++k) {
        const Span& a = spans[order[k - 1]];
        const Span& b = spans[order[k]];
        if (b.lo < a.hi + gap) {
            if (why) {
                *why = QStringLiteral("'%1' at %2..%3 and '%4' at %5..%6")
                           .arg(texts[order[k - 1]])
                           .arg(a.lo)
                           .arg(a.hi)
                           .arg(texts[order[k]])
                           .arg(b.lo)
                           .arg(b.hi);
            }
            return true;
        }
    }
    return false;
}

}  // namespace qs::gui
