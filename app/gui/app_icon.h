#pragma once
// The application icon, drawn in code so that no SVG image plugin is needed at run time. The
// same drawing is in resources/icons/quantscope.svg for desktop integration; the packaged PNG
// sizes are rendered from this code at build time.

#include <QIcon>
#include <QImage>

namespace qs::gui {

/// The Quantscope icon as a square `size` x `size` image with alpha.
QImage appIconImage(int size);

/// The Quantscope icon at the usual sizes (16 to 256 pixels).
QIcon appIcon();

}  // namespace qs::gui
