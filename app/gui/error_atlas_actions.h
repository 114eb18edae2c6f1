#pragma once
// The Analysis menu's actions for sampled errors (issue 19): "Refine Errors to Exact", "Refine
// When Idle" and "Exact Errors Everywhere", the last two kept in the settings.

class QMenu;
class QTreeView;

namespace qs::gui {

class ErrorAtlas;

/// Append the three actions to `menu` (object names refineErrors, refineOnIdle,
/// exactEverywhere) and apply the saved settings to `atlas`.
void addRefineActions(QMenu* menu, ErrorAtlas* atlas);

class TensorTreeModel;
/// Expand the layer groups of the tensor view but not the expert tensors under them (a MoE
/// model would show tens of thousands of expert rows and measure them all); flat: collapse.
void expandGroups(QTreeView* view, const TensorTreeModel* tree);

}  // namespace qs::gui
