#pragma once
// The explorer's window: layout and actions over an ExplorerController, which owns the model,
// the plan, the imatrix and the background jobs.
//
//   toolbars    the plan bar (preset, rules, undo) and the compute bar (backend, threads)
//   centre      the start page until a model is open; then the restore and file-changed
//               banners above a splitter: left the tensor list (TensorPanel) over the
//               precision map, right the tabs Plots, Budget, Quality and Model
//   status bar  messages, the job indicator, the model's summary and the size ledger
//   menus       File, Edit, Analysis, View, Help (MainWindowActions builds them and runs their
//               dialogs)
//
// Nothing here reads a model or builds a plan: views draw the controller's document, and
// tests reach state through controller() (or construct an ExplorerController alone).

#include <QMainWindow>

class QSplitter;
class QStackedWidget;
class QTabWidget;

namespace qs::gui {

class BudgetPanel;
class EvalPanel;
class ExplorerController;
class ExplorerStatusBar;
class MainWindowActions;
class ModelInfoPanel;
class ModelWatcher;
class PlanToolBar;
class PlotsPanel;
class PrecisionMapPanel;
class RestoreBar;
class StartPage;
class TensorPanel;

class MainWindow final : public QMainWindow {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MainWindow)

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// The explorer's state: model, plan document, imatrix, jobs, recent files, export.
    ExplorerController* controller() const { return m_controller; }
    /// The tensor list (selection, grouping, filter) the Edit and View menus act on.
    TensorPanel* tensorPanel() const { return m_tensors; }

    /// What File > Open, Open Recent, drop and the start page do: ask first when the plan has
    /// unsaved edits (Save Recipe / Discard / Cancel), then open.
    void openFileAsked(const QString& path);
    void openDemoAsked();
    /// Ask what to do with unsaved plan edits before `action` (e.g. "quitting"); true when the
    /// caller may go on (nothing unsaved, saved as a recipe, or discarded).
    bool confirmDiscard(const QString& action);
    /// Show the right-hand tab "plots", "budget", "quality" or "model".
    void showTab(const QString& name);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    friend class MainWindowActions;

    QWidget* buildModelPage();
    void restoreSettings();
    void saveSettings() const;
    void onModelLoaded();
    void onLoadFailed(const QString& path, const QString& message);
    void updateTitle();
    /// Enable what needs a model; Export only when the plan can be written (else its tooltip
    /// says why).
    void updateActions();

    ExplorerController* m_controller = nullptr;
    MainWindowActions* m_actions = nullptr;
    PlanToolBar* m_planBar = nullptr;
    QStackedWidget* m_stack = nullptr;
    StartPage* m_startPage = nullptr;
    QWidget* m_modelPage = nullptr;
    RestoreBar* m_restoreBar = nullptr;
    ModelWatcher* m_watcher = nullptr;
    QSplitter* m_splitter = nullptr;
    QSplitter* m_leftSplit = nullptr;
    TensorPanel* m_tensors = nullptr;
    PrecisionMapPanel* m_mapPanel = nullptr;
    QTabWidget* m_tabs = nullptr;
    PlotsPanel* m_plots = nullptr;
    BudgetPanel* m_budgetPanel = nullptr;
    EvalPanel* m_evalPanel = nullptr;
    ModelInfoPanel* m_info = nullptr;
    ExplorerStatusBar* m_status = nullptr;
};

}  // namespace qs::gui
