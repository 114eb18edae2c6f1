#include "app_icon.h"

#include <array>

#include <QImage>
#include <QLinearGradient>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>

namespace qs::gui {

// Drawn on a 256-unit canvas, mirroring resources/icons/quantscope.svg: a histogram of
// quantization levels under the smooth curve it approximates. A QImage, not a QPixmap, so that
// the build can render the PNG icons without a QGuiApplication (packaging/render_icons.cpp).
QImage appIconImage(int size) {
    QImage pm(size, size, QImage::Format_ARGB32_Premultiplied);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    p.scale(size / 256.0, size / 256.0);

    QLinearGradient bg(0, 0, 0, 256);
    bg.setColorAt(0.0, QColor(0x2b, 0x4c, 0x7e));
    bg.setColorAt(1.0, QColor(0x1f, 0x6f, 0xeb));
    p.setPen(Qt::NoPen);
    p.setBrush(bg);
    p.drawRoundedRect(QRectF(8, 8, 240, 240), 48, 48);

    static constexpr std::array<int, 5> kHeights = {44, 100, 148, 100, 44};
    p.setBrush(QColor(255, 255, 255, 230));
    for (size_t i = 0; i < kHeights.size(); ++i) {
        const double x = 34 + 40 * double(i);
        p.drawRoundedRect(QRectF(x, 204 - kHeights[i], 28, kHeights[i]), 4, 4);
    }

    QPainterPath curve;
    curve.moveTo(26, 200);
    curve.cubicTo(82, 200, 92, 48, 128, 48);
    curve.cubicTo(164, 48, 174, 200, 230, 200);
    p.setBrush(Qt::NoBrush);
    p.setPen(QPen(QColor(0xfb, 0xbf, 0x24), 10, Qt::SolidLine, Qt::RoundCap));
    p.drawPath(curve);
    p.end();
    return pm;
}

QIcon appIcon() {
    QIcon icon;
    for (int size : {16, 24, 32, 48, 64, 128, 256}) {
        icon.addPixmap(QPixmap::fromImage(appIconImage(size)));
    }
    return icon;
}

}  // namespace qs::gui
