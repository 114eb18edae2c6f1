#pragma once
// The application icon, drawn in code so that no SVG image plugin is needed at run time. The
// same drawing is in resources/icons/quantscope.svg for desktop integration.

#include <QIcon>

namespace qs::gui {

/// The Quantscope icon at the usual sizes (16 to 256 pixels).
QIcon appIcon();

} // namespace qs::gui
