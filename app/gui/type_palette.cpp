#include "type_palette.h"

#include <QPainter>
#include <QPixmap>

#include "formats/encoders.h"

namespace qs::gui {

using qs::formats::TensorType;

namespace {

struct TypeColour {
    TensorType type;
    QRgb rgb;
};

// Floats are neutral slate, 8 to 5 bits run blue to teal, 4 bits green to yellow, 3 bits
// orange, 2 bits red, below 2 bits crimson to violet: the eye reads "warmer = more lossy"
// without the legend. Listed from most to least precise (the order menus show).
constexpr TypeColour kColours[] = {
    {TensorType::F32, 0x4b5563},   {TensorType::F16, 0x6b7a8f},     {TensorType::BF16, 0x94a3b8},
    {TensorType::Q8_0, 0x1e40af},  {TensorType::Q6_K, 0x2f7fd8},    {TensorType::Q5_K, 0x0f9488},
    {TensorType::Q5_1, 0x2cb5a6},  {TensorType::Q5_0, 0x6fd3c6},    {TensorType::Q4_K, 0x2e9e4f},
    {TensorType::Q4_1, 0x7cc04b},  {TensorType::Q4_0, 0xb7d968},    {TensorType::NVFP4, 0x9ccc3b},
    {TensorType::MXFP4, 0xd4e157}, {TensorType::IQ4_XS, 0xeab308},  {TensorType::IQ4_NL, 0xf5d565},
    {TensorType::IQ3_S, 0xf59e0b}, {TensorType::Q3_K, 0xf08a24},    {TensorType::IQ3_XXS, 0xea6a1a},
    {TensorType::Q2_K, 0xdc3b3b},  {TensorType::IQ2_S, 0xe25555},   {TensorType::IQ2_XS, 0xc62a4a},
    {TensorType::Q2_0, 0xf07178},  {TensorType::IQ2_XXS, 0xb0203c}, {TensorType::TQ2_0, 0xd9467a},
    {TensorType::IQ1_M, 0x9d174d}, {TensorType::TQ1_0, 0xa21caf},   {TensorType::IQ1_S, 0x7e1d8f},
    {TensorType::Q1_0, 0x5b21b6},
};

}  // namespace

const QList<TensorType>& writableTypes() {
    static const QList<TensorType> kTypes = [] {
        QList<TensorType> out;
        for (const TypeColour& c : kColours) {
            if (qs::formats::canEncode(c.type)) out.append(c.type);
        }
        return out;
    }();
    return kTypes;
}

QColor typeColor(TensorType type) {
    for (const TypeColour& c : kColours) {
        if (c.type == type) return QColor::fromRgb(c.rgb);
    }
    return QColor::fromRgb(0xc8c8c8);
}

QColor textColorOn(const QColor& background) {
    // Relative luminance with the sRGB weights; 0.55 keeps white text on the mid blues.
    const double l =
        0.2126 * background.redF() + 0.7152 * background.greenF() + 0.0722 * background.blueF();
    return l > 0.55 ? QColor(Qt::black) : QColor(Qt::white);
}

QString typeLabel(TensorType type) {
    return QString::fromUtf8(qs::formats::typeName(type));
}

QIcon typeSwatch(TensorType type, bool warn) {
    QPixmap pm(14, 14);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(QPen(typeColor(type).darker(140), 1));
    p.setBrush(typeColor(type));
    p.drawRoundedRect(QRectF(1.5, 1.5, 11, 11), 2, 2);
    if (warn) {
        // A small orange triangle in the lower right corner: "not the type you asked for".
        p.setPen(QPen(QColor(0x7c2d12), 1));
        p.setBrush(QColor(0xfb923c));
        const QPointF tri[] = {{13.5, 6.5}, {13.5, 13.5}, {6.5, 13.5}};
        p.drawPolygon(tri, 3);
    }
    p.end();
    return QIcon(pm);
}

}  // namespace qs::gui
