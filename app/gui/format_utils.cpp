#include "format_utils.h"

#include <array>

#include <QLocale>

namespace qs::gui {

namespace {

// The default locale, but always with group separators: the C locale omits them by default,
// and a 7,000,000,000-parameter count is unreadable without them.
QLocale numberLocale() {
    QLocale loc;
    loc.setNumberOptions(loc.numberOptions() & ~QLocale::OmitGroupSeparator);
    return loc;
}

}  // namespace

QString formatCount(qint64 n) {
    return numberLocale().toString(n);
}

QString formatBytes(quint64 bytes) {
    static constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) return numberLocale().toString(bytes) + QStringLiteral(" B");
    double v = double(bytes);
    size_t unit = 0;
    while (v >= 1024.0 && unit + 1 < kUnits.size()) {
        v /= 1024.0;
        ++unit;
    }
    // Three significant digits at most, like `ls -h`, but never fewer than one decimal.
    const int decimals = v < 10.0 ? 2 : 1;
    return numberLocale().toString(v, 'f', decimals) + QLatin1Char(' ') +
           QLatin1String(kUnits[unit]);
}

QString formatBpw(quint64 bytes, qint64 elements) {
    if (elements <= 0) return QStringLiteral("–");
    return numberLocale().toString(8.0 * double(bytes) / double(elements), 'f', 2);
}

}  // namespace qs::gui
