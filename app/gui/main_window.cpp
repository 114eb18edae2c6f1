#include "main_window.h"

#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QVBoxLayout>

#include "budget_panel.h"
#include "compute_bar.h"
#include "error_atlas.h"
#include "error_plot.h"
#include "eval_panel.h"
#include "explorer_controller.h"
#include "explorer_dialogs.h"
#include "explorer_status_bar.h"
#include "format_utils.h"
#include "jobs/eval_job.h"
#include "jobs/sensitivity_job.h"
#include "main_window_actions.h"
#include "model/model.h"
#include "model_info_panel.h"
#include "model_watcher.h"
#include "plan_autosave.h"
#include "plan_document.h"
#include "plan_toolbar.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "restore_bar.h"
#include "size_ledger.h"
#include "start_page.h"
#include "tensor_panel.h"
#include "variants_panel.h"

namespace qs::gui {

namespace {

constexpr int kStatusMessageMs = 8000;

// The first local file among dropped URLs, or empty.
QString droppedFile(const QMimeData* mime) {
    if (!mime || !mime->hasUrls()) return {};
    for (const QUrl& url : mime->urls()) {
        if (url.isLocalFile()) return url.toLocalFile();
    }
    return {};
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(QStringLiteral("Quantscope"));
    setAcceptDrops(true);
    resize(1280, 800);
    m_controller = new ExplorerController(this);
    PlanDocument* doc = m_controller->document();
    m_planBar = new PlanToolBar(doc, m_controller->errorAtlas(), this);
    connect(doc, &PlanDocument::modifiedChanged, this, &MainWindow::updateTitle);
    addToolBar(Qt::TopToolBarArea, m_planBar);
    addToolBar(Qt::TopToolBarArea, new ComputeBar(m_controller, this));
    m_stack = new QStackedWidget(this);
    // Empty state: a start page with what to do first and the recent models.
    m_startPage = new StartPage(m_stack);
    m_stack->addWidget(m_startPage);
    m_modelPage = buildModelPage();
    m_stack->addWidget(m_modelPage);
    m_stack->setCurrentWidget(m_startPage);
    setCentralWidget(m_stack);
    m_actions = new MainWindowActions(this);
    connect(m_startPage, &StartPage::openFileRequested, m_actions, &MainWindowActions::chooseFile);
    connect(m_startPage, &StartPage::openFolderRequested, m_actions,
            &MainWindowActions::chooseFolder);
    connect(m_startPage, &StartPage::demoRequested, this, &MainWindow::openDemoAsked);
    connect(m_startPage, &StartPage::recentRequested, this, &MainWindow::openFileAsked);
    m_status = new ExplorerStatusBar(m_controller, m_budgetPanel, m_evalPanel, this);
    setStatusBar(m_status);
    // After the ledger's own connections: it has the new size when Export is updated.
    connect(doc, &PlanDocument::planChanged, this, &MainWindow::updateActions);
    connect(doc, &PlanDocument::imatrixChanged, this, &MainWindow::updateActions);
    connect(m_controller, &ExplorerController::modelLoaded, this, &MainWindow::onModelLoaded);
    connect(m_controller, &ExplorerController::loadFailed, this, &MainWindow::onLoadFailed);
    restoreSettings();
    updateActions();
}

MainWindow::~MainWindow() = default;

// ---- layout ----------------------------------------------------------------------------------

QWidget* MainWindow::buildModelPage() {
    PlanDocument* doc = m_controller->document();
    ErrorAtlas* atlas = m_controller->errorAtlas();
    m_splitter = new QSplitter(Qt::Horizontal, m_stack);
    m_splitter->setChildrenCollapsible(false);
    // Left: the tensor list above the precision map.
    m_leftSplit = new QSplitter(Qt::Vertical, m_splitter);
    m_leftSplit->setChildrenCollapsible(false);
    m_tensors = new TensorPanel(doc, atlas, m_leftSplit);
    // Right: the plots, the budget, the quality and the model's facts with its metadata.
    m_tabs = new QTabWidget(m_splitter);
    m_tabs->setObjectName(QStringLiteral("rightTabs"));
    m_tabs->setDocumentMode(true);
    m_plots = new PlotsPanel(doc, atlas, m_tabs);
    connect(m_controller, &ExplorerController::comparisonLoaded, m_plots->errorPlot(),
            &ErrorPlot::showFileComparison);
    connect(m_plots, &PlotsPanel::tensorActivated, m_tensors, &TensorPanel::makeCurrentTensor);
    connect(m_tensors, &TensorPanel::currentTensorChanged, m_plots, &PlotsPanel::showTensor);
    m_tabs->addTab(m_plots, tr("Plots"));
    m_budgetPanel = new BudgetPanel(doc, m_tabs);
    m_budgetPanel->setErrorAtlas(atlas);  // the optimizer's jobs share the atlas's cache
    m_tabs->addTab(m_budgetPanel, tr("Budget"));
    m_evalPanel = new EvalPanel(doc, m_tabs);
    m_tabs->addTab(m_evalPanel, tr("Quality"));
    m_tabs->addTab(new VariantsPanel(doc, m_tabs), tr("Variants"));  // quant reports
    // The budget's KL objective scores the Quality tab's text.
    m_budgetPanel->setKlText(m_evalPanel->text());
    connect(m_evalPanel, &EvalPanel::textChanged, this,
            [this] { m_budgetPanel->setKlText(m_evalPanel->text()); });
    connect(m_budgetPanel, &BudgetPanel::budgetChanged, m_plots, &PlotsPanel::setBudget);
    m_info = new ModelInfoPanel(m_tabs);
    m_tabs->addTab(m_info, tr("Model"));

    m_mapPanel = new PrecisionMapPanel(doc, atlas, m_leftSplit);
    m_leftSplit->addWidget(m_tensors);
    m_leftSplit->addWidget(m_mapPanel);
    m_leftSplit->setStretchFactor(0, 3);
    m_leftSplit->setStretchFactor(1, 2);
    connect(m_mapPanel->map(), &PrecisionMap::tensorsSelected, m_tensors,
            &TensorPanel::selectTensors);
    connect(m_mapPanel->map(), &PrecisionMap::tensorActivated, m_tensors,
            &TensorPanel::makeCurrentTensor);
    m_splitter->addWidget(m_leftSplit);
    m_splitter->addWidget(m_tabs);
    // The table needs the room (names, shapes, eight columns); the metadata values elide.
    m_splitter->setStretchFactor(0, 2);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({800, 480});
    // Explicit minimums: a splitter then ignores its children's size hints, which grow and
    // shrink with the texts they show, so the handles move only when the user drags them.
    m_leftSplit->setMinimumWidth(360);
    m_tabs->setMinimumWidth(320);
    m_tensors->setMinimumHeight(160);
    m_mapPanel->setMinimumHeight(120);

    // The model page: the banners (hidden unless needed) above the splitter.
    auto* page = new QWidget(m_stack);
    auto* pageLayout = new QVBoxLayout(page);
    pageLayout->setContentsMargins(0, 0, 0, 0);
    pageLayout->setSpacing(0);
    // An unsaved plan of this model (a crash, a kill) offered back.
    m_restoreBar = new RestoreBar(m_controller->autosave(), page);
    connect(m_restoreBar, &RestoreBar::restored, this, [this](const QString& error) {
        m_status->showMessage(error.isEmpty() ? tr("Restored the unsaved plan")
                                              : tr("Could not restore the plan: %1").arg(error),
                              kStatusMessageMs);
    });
    // The file changed on disk: stop what reads it, refuse to export, offer to reopen.
    m_watcher = new ModelWatcher(page);
    connect(m_watcher, &ModelWatcher::changed, this, [this](const QString& message) {
        m_controller->errorAtlas()->cancel();
        if (SensitivityJob* job = m_budgetPanel->job()) job->requestCancel();
        if (EvalJob* job = m_evalPanel->job()) job->requestCancel();
        updateActions();
        m_status->showMessage(message, 2 * kStatusMessageMs);
    });
    connect(m_watcher, &ModelWatcher::reopenRequested, this, &MainWindow::openFileAsked);
    pageLayout->addWidget(m_watcher);
    pageLayout->addWidget(m_restoreBar);
    pageLayout->addWidget(m_splitter, 1);
    return page;
}

// ---- settings --------------------------------------------------------------------------------

void MainWindow::restoreSettings() {
    QSettings settings;
    if (const QByteArray g = settings.value(QStringLiteral("window/geometry")).toByteArray();
        !g.isEmpty()) {
        restoreGeometry(g);
    }
    if (const QByteArray st = settings.value(QStringLiteral("window/state")).toByteArray();
        !st.isEmpty()) {
        restoreState(st);
    }
    if (const QByteArray sp = settings.value(QStringLiteral("window/splitter")).toByteArray();
        !sp.isEmpty()) {
        m_splitter->restoreState(sp);
    }
    if (const QByteArray sp = settings.value(QStringLiteral("window/leftSplitter")).toByteArray();
        !sp.isEmpty()) {
        m_leftSplit->restoreState(sp);
    }
    m_actions->setLastDir(settings.value(QStringLiteral("window/lastDir")).toString());
    m_tensors->setGroupedByLayer(
        settings.value(QStringLiteral("view/groupByLayer"), true).toBool());
    m_actions->setAutoAnalyse(settings.value(QStringLiteral("analysis/auto"), true).toBool());
}

void MainWindow::saveSettings() const {
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/splitter"), m_splitter->saveState());
    settings.setValue(QStringLiteral("window/leftSplitter"), m_leftSplit->saveState());
    settings.setValue(QStringLiteral("window/lastDir"), m_actions->lastDir());
    settings.setValue(QStringLiteral("analysis/auto"), m_actions->autoAnalyse());
}

// ---- the document's life cycle -----------------------------------------------------------------

void MainWindow::onModelLoaded() {
    const qs::model::Model* model = m_controller->model();
    m_watcher->watch(m_controller->sharedModel());
    // Show the page first so that the views below size their columns to their real width.
    m_stack->setCurrentWidget(model ? m_modelPage : static_cast<QWidget*>(m_startPage));
    m_tensors->showModel(model);
    m_info->showModel(model);
    m_status->setSummary(model ? ModelInfoPanel::summaryText(*model) : QString());
    updateTitle();
    m_restoreBar->offer();
    updateActions();
}

void MainWindow::onLoadFailed(const QString& path, const QString& message) {
    const QString name = QFileInfo(path).fileName().isEmpty() ? path : QFileInfo(path).fileName();
    // Not exec(): a modal loop would stall scripted runs and tests. The box deletes itself.
    auto* box =
        new QMessageBox(QMessageBox::Critical, tr("Could not open model"),
                        tr("Quantscope could not open %1.").arg(name), QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("openErrorBox"));
    box->setInformativeText(message);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::updateTitle() {
    const qs::model::Model* model = m_controller->model();
    if (!model) {
        setWindowTitle(QStringLiteral("Quantscope"));
        setWindowModified(false);
        return;
    }
    const QString name = QFileInfo(QString::fromStdString(model->path())).fileName();
    // "[*]" shows as "*" while the plan has unsaved edits (QWidget::windowModified); a split
    // model says how many files it is.
    QString title = QStringLiteral("Quantscope — %1[*]").arg(name);
    if (model->files().size() > 1) title += tr(" (%1 files)").arg(model->files().size());
    setWindowTitle(title);
    setWindowModified(m_controller->document()->isModified());
}

bool MainWindow::confirmDiscard(const QString& action) {
    const qs::model::Model* model = m_controller->model();
    if (!model || !m_controller->document()->isModified()) return true;
    UnsavedPlanDialog box(QFileInfo(QString::fromStdString(model->path())).fileName(), action,
                          this);
    switch (box.exec()) {
    case QMessageBox::Save: return m_actions->chooseSaveRecipe();
    case QMessageBox::Discard: m_controller->autosave()->discard(); return true;
    default: return false;
    }
}

void MainWindow::updateActions() {
    QAction* exportAction = m_actions->exportAction();
    m_actions->setModelActionsEnabled(m_controller->model() != nullptr);
    if (!m_controller->model()) {
        exportAction->setToolTip(tr("Open a model first"));
        return;
    }
    if (m_watcher->isChanged()) {
        exportAction->setEnabled(false);
        exportAction->setToolTip(tr("Cannot export: %1").arg(m_watcher->message()));
        return;
    }
    // The ledger predicts the exact file; when it cannot, the export cannot either.
    const bool known = m_status->ledger()->exactBytes() >= 0;
    exportAction->setEnabled(known);
    exportAction->setToolTip(known
                                 ? tr("Write the plan as a GGUF file (%1)")
                                       .arg(formatBytes(quint64(m_status->ledger()->exactBytes())))
                                 : tr("Cannot export: %1").arg(m_status->ledger()->sizeError()));
}

void MainWindow::openFileAsked(const QString& path) {
    if (confirmDiscard(tr("opening %1").arg(QFileInfo(path).fileName())))
        m_controller->openFile(path);
}

void MainWindow::openDemoAsked() {
    if (confirmDiscard(tr("opening the demo model"))) m_controller->openDemo();
}

void MainWindow::showTab(const QString& name) {
    QWidget* page = name == QLatin1String("budget")    ? static_cast<QWidget*>(m_budgetPanel)
                    : name == QLatin1String("quality") ? static_cast<QWidget*>(m_evalPanel)
                    : name == QLatin1String("model")   ? static_cast<QWidget*>(m_info)
                                                       : static_cast<QWidget*>(m_plots);
    m_tabs->setCurrentWidget(page);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (!confirmDiscard(tr("quitting"))) {
        event->ignore();
        return;
    }
    saveSettings();
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (!droppedFile(event->mimeData()).isEmpty()) {
        event->acceptProposedAction();
    } else {
        event->ignore();
    }
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QString path = droppedFile(event->mimeData());
    if (path.isEmpty()) {
        event->ignore();
        return;
    }
    event->acceptProposedAction();
    openFileAsked(path);
}

}  // namespace qs::gui
