#pragma once
// The explorer's vocabulary of target types: which types it offers for writing (best precision
// first) and one fixed colour per type, shared by the table swatches, the precision map, the
// footprint plot and their legends, so a type looks the same everywhere.

#include <QColor>
#include <QIcon>
#include <QList>
#include <QString>

#include "formats/type_table.h"

namespace qs::gui {

/// Types the explorer offers as targets, from most to least precise: F32 F16 BF16 Q8_0 Q6_K
/// Q5_K Q5_1 Q5_0 Q4_K Q4_1 Q4_0 IQ4_XS IQ4_NL Q3_K Q2_K (those the core can encode).
const QList<qs::formats::TensorType>& writableTypes();

/// The colour of a type: cool for high precision, warm for low; grey for types not offered.
QColor typeColor(qs::formats::TensorType type);

/// Black or white, whichever reads better on `background`.
QColor textColorOn(const QColor& background);

/// ggml's name of a type as a QString ("Q4_K").
QString typeLabel(qs::formats::TensorType type);

/// A small square swatch of the type's colour; with `warn`, a corner marker for a fallback.
QIcon typeSwatch(qs::formats::TensorType type, bool warn = false);

}  // namespace qs::gui
