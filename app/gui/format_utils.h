#pragma once
// Number formatting shared by every view, so that the table, the status bar and the tests
// render the same byte count the same way.

#include <QString>
#include <QtGlobal>

namespace qs::gui {

/// An integer with thousands separators ("4,194,304"); the user's locale, or ',' in the C locale.
QString formatCount(qint64 n);

/// A byte count in binary units ("512 B", "1.50 KiB", "12.3 MiB", "7.25 GiB").
QString formatBytes(quint64 bytes);

/// Bits per weight with two decimals ("4.50"); "–" when there are no elements.
/// The explorer's one definition of a plan's or a model's bits per weight is the WHOLE FILE:
/// 8 × file bytes (header and metadata included) / parameters, as `--target-bpw` and the Budget
/// tab use it. (llama.cpp's loader prints tensor data only, a little less on small models.)
/// Per-tensor columns use the tensor's own bytes.
QString formatBpw(quint64 bytes, qint64 elements);

}  // namespace qs::gui
