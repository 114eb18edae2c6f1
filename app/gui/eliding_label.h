#pragma once
// A one-line label that elides its text to the width it gets instead of demanding the width of
// the whole text: status-bar readouts and panel headers never push the window wider than a
// 1024-pixel screen or move a splitter when their text grows. The full text is the tooltip
// (unless one is set) and stays what text() returns.

#include <QLabel>

namespace qs::gui {

class ElidingLabel : public QLabel {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ElidingLabel)

public:
    explicit ElidingLabel(QWidget* parent = nullptr, Qt::TextElideMode mode = Qt::ElideRight);

    /// The width below which the text is elided (the label's minimum).
    void setMinimumTextWidth(int pixels) {
        m_minWidth = pixels;
        updateGeometry();
    }
    QSize minimumSizeHint() const override;
    /// Whether the text does not fit and is drawn elided.
    bool isElided() const;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    Qt::TextElideMode m_mode;
    int m_minWidth = 60;
};

}  // namespace qs::gui
