#pragma once
// A word-wrapped rich-text line (legends, totals) that changes its text without asking the
// window for a new layout. QLabel::setText() always calls updateGeometry(): the layouts above
// it ask every word-wrapped rich-text label for its size hint again, at several widths, and a
// plan change on a 126-layer model paid a few milliseconds of text layout for each. This one
// lays its text out once at its own width, and asks for a new layout only when the text's
// height at that width changed; its width never depends on the text.

#include <QTextDocument>
#include <QWidget>

namespace qs::gui {

class WrappedRichLabel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(WrappedRichLabel)

public:
    explicit WrappedRichLabel(QWidget* parent = nullptr);

    /// Rich text (Qt's HTML subset), wrapped at word boundaries.
    void setText(const QString& html);
    QString text() const { return m_text; }
    /// The text without markup (what a screen reader or a test reads).
    QString plainText() const { return m_doc.toPlainText(); }

    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int width) const override;
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;
    /// How many times a text change asked for a new layout (its height changed).
    int layoutRequests() const { return m_layoutRequests; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    /// Lay the text out at `width` (no work when it already is).
    void layoutAt(int width) const;
    int hintWidth() const;

    QString m_text;
    mutable QTextDocument m_doc;
    mutable int m_laidOutWidth = -1;
    int m_layoutRequests = 0;
};

}  // namespace qs::gui
