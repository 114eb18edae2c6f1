#include "format_utils.h"

#include <QLocale>

#include "workflow/format.h"

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
    // The CLI's formatter, at about three significant digits like `ls -h`.
    return QString::fromStdString(
        qs::workflow::formatBytes(bytes, qs::workflow::BytePrecision::Significant));
}

QString formatBpw(quint64 bytes, qint64 elements) {
    if (elements <= 0) return QStringLiteral("–");
    return numberLocale().toString(8.0 * double(bytes) / double(elements), 'f', 2);
}

}  // namespace qs::gui
