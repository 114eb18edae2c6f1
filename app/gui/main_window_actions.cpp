#include "main_window_actions.h"

#include <QAction>
#include <QApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeySequence>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QTreeView>

#include "error_atlas.h"
#include "error_atlas_actions.h"
#include "error_plot.h"
#include "explorer_controller.h"
#include "explorer_dialogs.h"
#include "export_dialog.h"
#include "jobs/export_job.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "plots_panel.h"
#include "start_page.h"
#include "tensor_panel.h"
#include "variants_panel.h"

namespace qs::gui {

MainWindowActions::MainWindowActions(MainWindow* window)
    : QObject(window), m_window(window), m_controller(window->controller()) {
    buildFileMenu();
    buildAnalysisMenu();
    buildViewMenus();
    connect(m_controller, &ExplorerController::recentFilesChanged, this,
            &MainWindowActions::rebuildRecentMenu);
    rebuildRecentMenu(m_controller->recentFiles());
    connect(m_controller, &ExplorerController::exportStarted, this,
            [this](ExportJob* job, const QString& path) {
                (new ExportProgressDialog(job, path, m_window))->show();
                connect(
                    job, &ExportJob::failed, this,
                    [this, path](const QString& error, bool cancelled) {
                        if (cancelled) return;
                        auto* box = new QMessageBox(
                            QMessageBox::Critical, tr("Export failed"),
                            tr("Quantscope could not export %1.").arg(QFileInfo(path).fileName()),
                            QMessageBox::Ok, m_window);
                        box->setInformativeText(error);
                        box->setAttribute(Qt::WA_DeleteOnClose);
                        box->open();
                    });
            });
    connect(m_window->m_plots->errorPlot(), &ErrorPlot::compareFileRequested, this,
            &MainWindowActions::chooseCompareFile);
}

void MainWindowActions::buildFileMenu() {
    QMenu* file = m_window->menuBar()->addMenu(tr("&File"));
    file->setToolTipsVisible(true);
    QAction* open = file->addAction(tr("&Open…"), this, &MainWindowActions::chooseFile);
    open->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    file->addAction(tr("Open &Folder…"), this, &MainWindowActions::chooseFolder)
        ->setToolTip(tr("A Hugging Face model folder (config.json and safetensors shards)"));
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    m_recentMenu->setToolTipsVisible(true);
    file->addAction(tr("Open &Demo Model"), m_window, &MainWindow::openDemoAsked);
    file->addSeparator();
    m_exportAction = file->addAction(tr("&Export GGUF…"), this, &MainWindowActions::chooseExport);
    m_exportAction->setObjectName(QStringLiteral("exportAction"));
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_modelActions << m_exportAction;
    m_modelActions << file->addAction(tr("&Save Recipe…"), this, [this] { chooseSaveRecipe(); });
    m_modelActions.back()->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_S));
    m_modelActions << file->addAction(tr("&Load Recipe…"), this,
                                      &MainWindowActions::chooseLoadRecipe);
    m_modelActions << file->addAction(tr("Import &Plan of a GGUF…"), this,
                                      &MainWindowActions::chooseImportPlan);
    m_modelActions.back()->setToolTip(
        tr("The per-tensor types of a quantized file of this "
           "model, e.g. one llama-quantize made"));
    m_modelActions << file->addAction(tr("E&xport Quant Report…"), this, [this] {
        auto* variants = m_window->findChild<VariantsPanel*>();
        m_window->m_tabs->setCurrentWidget(variants);
        if (variants->report()) variants->chooseExportReport();
    });
    file->addSeparator();
    m_modelActions << file->addAction(tr("Load &Imatrix…"), this,
                                      &MainWindowActions::chooseImatrix);
    m_modelActions.back()->setToolTip(tr("An importance matrix from llama-imatrix (GGUF or .dat)"));
    m_modelActions << file->addAction(tr("Clear I&matrix"), m_controller,
                                      &ExplorerController::clearImatrix);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), m_window, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setMenuRole(QAction::QuitRole);

    QMenu* edit = m_window->menuBar()->addMenu(tr("&Edit"));
    edit->addAction(m_window->m_planBar->undoAction());
    edit->addAction(m_window->m_planBar->redoAction());
    edit->addSeparator();
    TensorPanel* tensors = m_window->tensorPanel();
    m_modelActions << edit->addAction(tr("&Lock Selected"), tensors,
                                      [tensors] { tensors->setSelectedLocked(true); });
    m_modelActions.back()->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_modelActions << edit->addAction(tr("&Unlock Selected"), tensors,
                                      [tensors] { tensors->setSelectedLocked(false); });
    m_modelActions.back()->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L));
}

void MainWindowActions::buildAnalysisMenu() {
    ErrorAtlas* atlas = m_controller->errorAtlas();
    QMenu* analysis = m_window->menuBar()->addMenu(tr("&Analysis"));
    analysis->addAction(tr("&Measure Errors Now"), atlas, &ErrorAtlas::analyseNow)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_autoAnalyse = analysis->addAction(tr("Measure &Automatically"));
    m_autoAnalyse->setCheckable(true);
    m_autoAnalyse->setChecked(true);
    m_autoAnalyse->setToolTip(
        tr("Measure the error of every tensor after each edit, in the background"));
    connect(m_autoAnalyse, &QAction::toggled, atlas, &ErrorAtlas::setAutoAnalyse);
    analysis->addAction(tr("&Cancel Measuring"), atlas, &ErrorAtlas::cancel);
    addRefineActions(analysis, atlas);  // sampled errors: refine, idle, exact everywhere
    analysis->addSeparator();
    m_modelActions << analysis->addAction(tr("Compute &Importance…"), this,
                                          &MainWindowActions::chooseImportanceText);
    m_modelActions.back()->setToolTip(
        tr("Compute an importance matrix (imatrix) from a calibration text with the model's "
           "own forward pass"));
    m_modelActions << analysis->addAction(tr("&Save Importance Matrix…"), this,
                                          &MainWindowActions::chooseSaveImportance);
    m_modelActions << analysis->addAction(tr("Importance per &Layer…"), this,
                                          &MainWindowActions::showImportanceChart);
}

void MainWindowActions::buildViewMenus() {
    TensorPanel* tensors = m_window->tensorPanel();
    QMenu* view = m_window->menuBar()->addMenu(tr("&View"));
    view->addAction(tr("&Filter Tensors"), tensors, &TensorPanel::focusFilter)
        ->setShortcut(QKeySequence::Find);
    m_groupAction = view->addAction(tr("&Group by Layer"));
    m_groupAction->setCheckable(true);
    m_groupAction->setChecked(true);
    m_groupAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_G));
    m_groupAction->setToolTip(
        tr("Tensors under their layer (with per-layer totals), or one flat list"));
    connect(m_groupAction, &QAction::toggled, tensors, &TensorPanel::setGroupedByLayer);
    connect(tensors, &TensorPanel::groupingChanged, m_groupAction, &QAction::setChecked);
    view->addAction(tr("&Expand All"), tensors, [tensors] { tensors->view()->expandAll(); });
    view->addAction(tr("&Collapse All"), tensors, [tensors] { tensors->view()->collapseAll(); });

    QMenu* help = m_window->menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Quantscope"), this, &MainWindowActions::showAbout)
        ->setMenuRole(QAction::AboutRole);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt)
        ->setMenuRole(QAction::AboutQtRole);
}

void MainWindowActions::setModelActionsEnabled(bool enabled) {
    for (QAction* a : m_modelActions) a->setEnabled(enabled);
}

bool MainWindowActions::autoAnalyse() const {
    return m_autoAnalyse->isChecked();
}

void MainWindowActions::setAutoAnalyse(bool on) {
    m_autoAnalyse->setChecked(on);
    m_controller->errorAtlas()->setAutoAnalyse(on);
}

void MainWindowActions::rebuildRecentMenu(const QStringList& list) {
    m_recentMenu->clear();
    for (qsizetype i = 0; i < list.size(); ++i) {
        const QString& path = list[i];
        // Mnemonics 1..9, then 1&0 for the tenth.
        const QString number = i < 9 ? QStringLiteral("&%1").arg(i + 1) : QStringLiteral("1&0");
        const QString folder = QFileInfo(QFileInfo(path).absolutePath()).fileName();
        const QString name =
            QFileInfo(path).fileName().isEmpty() ? path : QFileInfo(path).fileName();
        QAction* a = m_recentMenu->addAction(
            number + QStringLiteral("  ") + name +
                (folder.isEmpty() ? QString() : QStringLiteral("   (%1)").arg(folder)),
            m_window, [this, path] { m_window->openFileAsked(path); });
        a->setToolTip(path);
        a->setStatusTip(path);
    }
    if (!list.isEmpty()) m_recentMenu->addSeparator();
    QAction* clear = m_recentMenu->addAction(tr("&Clear Menu"), m_controller,
                                             &ExplorerController::clearRecentFiles);
    clear->setEnabled(!list.isEmpty());
    m_recentMenu->setEnabled(true);
    m_window->m_startPage->setRecentFiles(list);
}

bool MainWindowActions::report(const QString& title, const QString& error) {
    if (error.isEmpty()) return true;
    QMessageBox::warning(m_window, title, error);
    return false;
}

// ---- what the actions ask ----------------------------------------------------------------------

void MainWindowActions::chooseFile() {
    const qs::model::Model* model = m_controller->model();
    const QString dir = m_lastDir.isEmpty() && model
                            ? QFileInfo(QString::fromStdString(model->path())).absolutePath()
                            : m_lastDir;
    const QString path = QFileDialog::getOpenFileName(
        m_window, tr("Open Model"), dir,
        tr("Models (*.gguf *.safetensors *.safetensors.index.json config.json);;All files (*)"));
    if (path.isEmpty()) return;
    m_lastDir = QFileInfo(path).absolutePath();
    m_window->openFileAsked(path);
}

void MainWindowActions::chooseFolder() {
    const QString dir =
        QFileDialog::getExistingDirectory(m_window, tr("Open Model Folder"), m_lastDir);
    if (dir.isEmpty()) return;
    m_lastDir = QFileInfo(dir).absolutePath();
    m_window->openFileAsked(dir);
}

void MainWindowActions::chooseExport() {
    if (!m_controller->model()) return;
    ExportDialog dialog(m_controller, m_window);
    if (dialog.exec() != QDialog::Accepted || dialog.path().isEmpty()) return;
    const auto split = dialog.split();
    if (!split) {
        report(tr("Export GGUF"), QString::fromStdString(split.error().what()));
        return;
    }
    m_controller->startExport(dialog.path(), *split);
}

bool MainWindowActions::chooseSaveRecipe() {
    const qs::model::Model* model = m_controller->model();
    if (!model) return false;
    const QFileInfo in(QString::fromStdString(model->path()));
    const QString suggested = in.absolutePath() + QLatin1Char('/') + in.completeBaseName() +
                              QLatin1Char('-') + m_controller->document()->planTag() +
                              QStringLiteral(".json");
    const QString path =
        QFileDialog::getSaveFileName(m_window, tr("Save Recipe"), suggested, tr("Recipe (*.json)"));
    if (path.isEmpty()) return false;
    return report(tr("Save Recipe"), m_controller->saveRecipeTo(path));
}

void MainWindowActions::chooseLoadRecipe() {
    if (!m_controller->model()) return;
    const QString path = QFileDialog::getOpenFileName(m_window, tr("Load Recipe"), QString(),
                                                      tr("Recipe (*.json);;All files (*)"));
    if (!path.isEmpty()) report(tr("Load Recipe"), m_controller->loadRecipeFrom(path));
}

void MainWindowActions::chooseImportPlan() {
    if (!m_controller->model()) return;
    const QString path = QFileDialog::getOpenFileName(m_window, tr("Import Plan"), m_lastDir,
                                                      tr("GGUF model (*.gguf)"));
    if (!path.isEmpty()) report(tr("Import Plan"), m_controller->importPlanFrom(path));
}

void MainWindowActions::chooseCompareFile() {
    const QString path = QFileDialog::getOpenFileName(m_window, tr("Compare with the Plan of"),
                                                      m_lastDir, tr("GGUF model (*.gguf)"));
    if (path.isEmpty()) return;
    report(tr("Compare"), m_controller->compareWithFile(path));
}

void MainWindowActions::chooseImatrix() {
    if (!m_controller->model()) return;
    const QString path =
        QFileDialog::getOpenFileName(m_window, tr("Load Imatrix"), m_lastDir,
                                     tr("Importance matrix (*.gguf *.dat);;All files (*)"));
    if (path.isEmpty()) return;
    m_lastDir = QFileInfo(path).absolutePath();
    report(tr("Load Imatrix"), m_controller->loadImatrixFrom(path));
}

void MainWindowActions::chooseImportanceText() {
    const qs::model::Model* model = m_controller->model();
    if (!model || m_controller->importanceJob()) return;
    ImportanceSourceDialog box(QFileInfo(QString::fromStdString(model->path())).fileName(),
                               m_window);
    box.exec();
    if (box.choice() == ImportanceSourceDialog::Choice::Sample) {
        m_controller->startImportance();
    } else if (box.choice() == ImportanceSourceDialog::Choice::File) {
        const QString path = QFileDialog::getOpenFileName(
            m_window, tr("Calibration Text"), m_lastDir, tr("Text (*.txt);;All files (*)"));
        if (path.isEmpty()) return;
        m_lastDir = QFileInfo(path).absolutePath();
        m_controller->startImportance(path);
    }
}

void MainWindowActions::chooseSaveImportance() {
    if (!m_controller->computedImportance()) {
        QMessageBox::information(
            m_window, tr("Save Importance Matrix"),
            tr("Compute the importance first (Analysis > Compute Importance)."));
        return;
    }
    const QString path = QFileDialog::getSaveFileName(m_window, tr("Save Importance Matrix"),
                                                      m_lastDir + QStringLiteral("/imatrix.gguf"),
                                                      tr("GGUF imatrix (*.gguf)"));
    if (!path.isEmpty()) report(tr("Save Importance Matrix"), m_controller->saveImportanceTo(path));
}

void MainWindowActions::showImportanceChart() {
    const auto sums = m_controller->computedImportance();
    if (!sums) {
        QMessageBox::information(
            m_window, tr("Importance per Layer"),
            tr("Compute the importance first (Analysis > Compute Importance)."));
        return;
    }
    auto* dialog = new ImportanceChartDialog(*sums, m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
}

void MainWindowActions::showAbout() {
    AboutDialog(m_window).exec();
}

}  // namespace qs::gui
