#include "wrapped_rich_label.h"

#include <QAbstractTextDocumentLayout>
#include <QEvent>
#include <QPaintEvent>
#include <QPainter>
#include <QTextOption>
#include <cmath>

namespace qs::gui {

WrappedRichLabel::WrappedRichLabel(QWidget* parent) : QWidget(parent) {
    m_doc.setDocumentMargin(0);
    m_doc.setDefaultFont(font());
    QTextOption wrap;
    wrap.setWrapMode(QTextOption::WordWrap);
    m_doc.setDefaultTextOption(wrap);
    QSizePolicy policy(QSizePolicy::Preferred, QSizePolicy::Preferred);
    policy.setHeightForWidth(true);
    setSizePolicy(policy);
}

void WrappedRichLabel::setText(const QString& html) {
    if (html == m_text) return;
    m_text = html;
    const int w = width() > 0 ? width() : hintWidth();
    const int before = m_laidOutWidth > 0 ? heightForWidth(w) : -1;
    // The document keeps its text width: the new text is laid out once, at this width.
    layoutAt(w);
    m_doc.setHtml(html);
    // The layout above only needs asking when the height the text takes changed.
    if (heightForWidth(w) != before || before < 0) {
        ++m_layoutRequests;
        updateGeometry();
    }
    update();
}

void WrappedRichLabel::layoutAt(int width) const {
    if (width == m_laidOutWidth) return;
    m_doc.setTextWidth(width);
    m_laidOutWidth = width;
}

int WrappedRichLabel::heightForWidth(int width) const {
    if (m_text.isEmpty()) return fontMetrics().height();
    layoutAt(std::max(1, width));
    return std::max(fontMetrics().height(), int(std::ceil(m_doc.size().height())));
}

int WrappedRichLabel::hintWidth() const {
    // Not the text's width: the label takes the width its layout gives it and wraps there.
    return fontMetrics().averageCharWidth() * 40;
}

QSize WrappedRichLabel::sizeHint() const {
    const int w = width() > 0 ? width() : hintWidth();
    return {hintWidth(), heightForWidth(w)};
}

QSize WrappedRichLabel::minimumSizeHint() const {
    return {fontMetrics().averageCharWidth() * 8, fontMetrics().height()};
}

void WrappedRichLabel::paintEvent(QPaintEvent* event) {
    QPainter painter(this);
    painter.setClipRegion(event->region());
    layoutAt(width());
    QAbstractTextDocumentLayout::PaintContext context;
    context.palette = palette();
    context.palette.setColor(QPalette::Text, palette().color(foregroundRole()));
    context.clip = event->rect();
    m_doc.documentLayout()->draw(&painter, context);
}

void WrappedRichLabel::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::FontChange) {
        m_doc.setDefaultFont(font());
        m_laidOutWidth = -1;
        updateGeometry();
    }
}

}  // namespace qs::gui
