#include "error_atlas_actions.h"

#include <QAction>
#include <QMenu>
#include <QSettings>
#include <QTreeView>

#include "error_atlas.h"
#include "tensor_tree_model.h"

namespace qs::gui {

void addRefineActions(QMenu* menu, ErrorAtlas* atlas) {
    QSettings settings;
    QAction* refine =
        menu->addAction(ErrorAtlas::tr("&Refine Errors to Exact"), atlas, &ErrorAtlas::refineNow);
    refine->setObjectName(QStringLiteral("refineErrors"));
    refine->setToolTip(
        ErrorAtlas::tr("Measure every row of the tensors whose error was "
                       "estimated from a sample, smallest first"));

    QAction* idle = menu->addAction(ErrorAtlas::tr("Refine When &Idle"));
    idle->setObjectName(QStringLiteral("refineOnIdle"));
    idle->setCheckable(true);
    idle->setToolTip(ErrorAtlas::tr("Refine sampled errors a few seconds after measuring stops"));
    idle->setChecked(settings.value(QStringLiteral("analysis/refineOnIdle"), false).toBool());
    atlas->setRefineOnIdle(idle->isChecked());
    QObject::connect(idle, &QAction::toggled, atlas, [atlas](bool on) {
        QSettings().setValue(QStringLiteral("analysis/refineOnIdle"), on);
        atlas->setRefineOnIdle(on);
    });

    QAction* exact = menu->addAction(ErrorAtlas::tr("E&xact Errors Everywhere"));
    exact->setObjectName(QStringLiteral("exactEverywhere"));
    exact->setCheckable(true);
    exact->setToolTip(
        ErrorAtlas::tr("Measure every row of every tensor (slow on models of 100 GB and more)"));
    exact->setChecked(settings.value(QStringLiteral("analysis/exact"), false).toBool());
    atlas->setExactEverywhere(exact->isChecked());
    QObject::connect(exact, &QAction::toggled, atlas, [atlas](bool on) {
        QSettings().setValue(QStringLiteral("analysis/exact"), on);
        atlas->setExactEverywhere(on);
    });
}

void expandGroups(QTreeView* view, const TensorTreeModel* tree) {
    view->collapseAll();
    if (tree->isGrouped()) view->expandToDepth(0);
}

}  // namespace qs::gui
