#pragma once
// The Analysis menu's actions for sampled errors (issue 19): "Refine Errors to Exact", "Refine
// When Idle" and "Exact Errors Everywhere", the last two kept in the settings.

class QMenu;

namespace qs::gui {

class ErrorAtlas;

/// Append the three actions to `menu` (object names refineErrors, refineOnIdle,
/// exactEverywhere) and apply the saved settings to `atlas`.
void addRefineActions(QMenu* menu, ErrorAtlas* atlas);

}  // namespace qs::gui
