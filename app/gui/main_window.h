#pragma once
// The main window: a tensor table (filterable, sortable) beside the model's metadata, a status
// bar with the model's totals, and the File menu (open, recent files, demo model). Models are
// opened in the background (OpenModelJob); the window only draws.

#include <memory>
#include <vector>

#include <QMainWindow>
#include <QPointer>
#include <QStringList>

#include "formats/type_table.h"
#include "quant/engine.h"

class QDialog;
class QFrame;
class QLabel;
class QLineEdit;
class QMenu;
class QProgressBar;
class QComboBox;
class QSpinBox;
class QTabWidget;
class QSplitter;
class QStackedWidget;
class QTreeView;

namespace qs::model {
class Model;
}
namespace qs::quant {
struct ImatrixSums;
}

namespace qs::gui {

class BudgetPanel;
class EvalPanel;
class ErrorAtlas;
class JobIndicator;
class MetadataView;
class ModelWatcher;
class ExportJob;
class ImatrixJob;
struct ImatrixOutcome;
class OpenModelJob;
class PlanDocument;
class PlanToolBar;
class PlotsPanel;
class PrecisionMapPanel;
class SizeLedger;
class PlanAutosave;
class StartPage;
class TensorFilterProxy;
class TensorTableModel;
class TensorTreeModel;
struct OpenOutcome;
struct OpenParams;

class MainWindow final : public QMainWindow {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MainWindow)

public:
    /// How many paths File > Open Recent keeps.
    static constexpr int kMaxRecentFiles = 10;
    /// QSettings key of the recent-file list (most recent first).
    static constexpr const char* kRecentFilesKey = "recentFiles";

    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Open `path` in the background; emits modelLoaded or loadFailed later. A newer open
    /// supersedes one still running (its result is dropped). A failed open keeps the model
    /// already shown and reports the error in a message box and the status bar.
    void openFile(const QString& path);
    /// Open the tiny synthetic demo model, writing it to the cache first if it is missing.
    void openDemo();
    /// What the user's File > Open, Open Recent, drop and start page do: ask first when the plan
    /// has unsaved edits (Save Recipe / Discard / Cancel), then open.
    void openFileAsked(const QString& path);
    void openDemoAsked();
    /// Ask what to do with unsaved plan edits before `action` (e.g. "quitting"); true when the
    /// caller may go on (nothing unsaved, saved as a recipe, or discarded).
    bool confirmDiscard(const QString& action);

    /// The model shown, or null.
    const qs::model::Model* model() const { return m_model.get(); }
    /// Whether an open is in progress.
    bool isLoading() const { return !m_job.isNull(); }
    /// Recent files from QSettings, most recent first.
    QStringList recentFiles() const;

    // Views, for tests and for later panels.
    /// The tensor view: grouped by layer (the default) or flat, see setGroupedByLayer().
    QTreeView* tensorView() const { return m_tensorView; }
    TensorTreeModel* tensorTree() const { return m_treeModel; }
    TensorFilterProxy* tensorProxy() const { return m_proxy; }
    QLineEdit* tensorFilter() const { return m_filter; }
    MetadataView* metadataView() const { return m_metadata; }
    /// The permanent status-bar label with format, tensor count and totals.
    QLabel* statusSummary() const { return m_statusSummary; }
    /// The plan being edited (with its undo stack), the plan toolbar and the size ledger.
    PlanDocument* planDocument() const { return m_doc; }
    PlanToolBar* planToolBar() const { return m_planBar; }
    SizeLedger* sizeLedger() const { return m_ledger; }
    PrecisionMapPanel* precisionMapPanel() const { return m_mapPanel; }
    PlotsPanel* plotsPanel() const { return m_plots; }
    /// Measured errors of the plan (and of the comparison plan), filled in the background.
    ErrorAtlas* errorAtlas() const { return m_atlas; }
    /// The "Budget" tab: sensitivity, the optimizer's slider and its size-against-error chart.
    BudgetPanel* budgetPanel() const { return m_budgetPanel; }
    /// The "Quality" tab: perplexity and KL divergence of the plan against the original.
    EvalPanel* evalPanel() const { return m_evalPanel; }
    /// Show the right-hand tab "plots", "budget", "quality" or "model".
    void showTab(const QString& name);
    JobIndicator* jobIndicator() const { return m_jobIndicator; }
    /// The empty window's start page (open, open folder, demo, recent models).
    StartPage* startPage() const { return m_startPage; }
    /// The plan's autosave, and the banner that offers an unsaved plan back on opening.
    PlanAutosave* autosave() const { return m_autosave; }
    QFrame* restoreBar() const { return m_restoreBar; }
    /// The banner that says the open model's file changed on disk (and offers to reopen it).
    ModelWatcher* modelWatcher() const { return m_watcher; }
    /// The compute backend choice ("cpu", "vulkan:N" as item data) and the CPU thread count.
    QComboBox* backendCombo() const { return m_backendCombo; }
    QSpinBox* threadsSpin() const { return m_threadsSpin; }
    /// The backend spec jobs use now ("cpu" or "vulkan:N").
    QString backendSpec() const;

    /// Group the tensor view by layer (blk.0 ... blk.N, embeddings, output, norms) or list the
    /// tensors flat in file order. Kept in QSettings.
    void setGroupedByLayer(bool grouped);
    bool isGroupedByLayer() const;
    /// Tensors the view shows (the filter applied), and the view index of tensor `tensor`.
    int visibleTensorCount() const;
    QModelIndex viewIndexOfTensor(size_t tensor, int column = 0) const;

    /// Model indices of the tensors selected in the table (source rows, ascending). A selected
    /// layer row stands for its tensors that the filter shows.
    std::vector<size_t> selectedTensors() const;
    /// Select tensors `indices` in the view (and show the first).
    void selectTensors(const std::vector<size_t>& indices);
    /// Set every selected tensor to `type` as one undo step (the table's "Set type ▸").
    void setSelectedType(qs::formats::TensorType type);
    /// Lock or unlock the selected tensors (one undo step).
    void setSelectedLocked(bool locked);
    /// Load an imatrix (GGUF or legacy .dat) for the open model; empty on success, else the
    /// error. It weights the error column and the export's quantizers.
    QString loadImatrixFrom(const QString& path);
    void clearImatrix();
    /// Analysis > Compute Importance: an imatrix from `textPath` (empty: the built-in sample
    /// text) by our forward pass, in the background (cancellable through the job indicator).
    /// On success it becomes the plan's imatrix (the Importance column, the error atlas, the
    /// optimizer and the export use it at once); emits importanceFinished. False (nothing
    /// starts) without a model, while one runs, or when the text cannot be read.
    bool startImportance(const QString& textPath = {});
    ImatrixJob* importanceJob() const;
    /// The sums and counts of the last computed imatrix (null before one), and writing them in
    /// llama.cpp's GGUF imatrix format: empty on success, else the error.
    std::shared_ptr<const qs::quant::ImatrixSums> computedImportance() const {
        return m_importanceSums;
    }
    QString saveImportanceTo(const QString& path);
    /// Analysis > Importance per Layer: a chart of llama-imatrix's per-layer statistics of the
    /// computed imatrix (mean Σ(act²) as bars, cosine similarity to the previous layer as a
    /// line), in a window of its own; null before an imatrix was computed.
    QDialog* showImportanceChart();
    /// Replace the plan by the per-tensor types of a quantized GGUF file of this model (one
    /// undo step). Empty on success, else the error (a missing tensor, another shape...).
    QString importPlanFrom(const QString& path);
    /// Compare the plan with the plan of a quantized GGUF file in the error plot.
    QString compareWithFile(const QString& path);
    /// The export dialog's default path: beside the model, named after the plan
    /// ("model-Q4_K_M.gguf" for a preset, "model-mix-4.83bpw.gguf" otherwise).
    QString suggestedExportPath() const;

    /// File > Export GGUF (disabled, with the reason as tooltip, when the plan cannot be written).
    QAction* exportAction() const { return m_exportAction; }
    /// What the export dialog says about the plan: size, bits per weight, error, backend, and
    /// with `split` every shard's exact size (named after `path` when given).
    QString exportSummary(const qs::quant::SplitOptions& split = {},
                          const QString& path = {}) const;

    /// Export the plan to `path` in the background with a progress dialog; emits
    /// exportFinished. False (and nothing starts) without a model or while one runs. With
    /// `split`, shards named after `path` as llama.cpp's gguf-split names them.
    bool startExport(const QString& path, const qs::quant::SplitOptions& split = {});
    /// The export in progress, or null.
    ExportJob* exportJob() const;
    /// Save the plan as a recipe / replace it by a recipe (one undo step). Empty on success,
    /// else the error message.
    QString saveRecipeTo(const QString& path);
    QString loadRecipeFrom(const QString& path);

signals:
    /// A model was opened and is now shown.
    void modelLoaded(const QString& path);
    /// Opening `path` failed with `message` (the core Error's what()).
    void loadFailed(const QString& path, const QString& message);
    /// An export ended: written (`ok`), cancelled or failed (`message` says which).
    void exportFinished(bool ok, const QString& path, const QString& message);
    /// A Compute Importance job ended: `ok`, or failed / cancelled (`message` says which).
    void importanceFinished(bool ok, const QString& message);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildMenus();
    void buildCentral();
    void buildComputeBar();
    void restoreSettings();
    void saveSettings() const;
    void chooseImatrix();
    void chooseImportanceText();
    void chooseSaveImportance();
    void onImportanceDone(const ImatrixOutcome& outcome);
    void startOpen(const OpenParams& params);
    void onOpenSucceeded(const OpenOutcome& outcome);
    void onOpenFailed(const QString& path, const QString& message);
    void showModel(std::shared_ptr<const qs::model::Model> model, const QString& path);
    void setBusy(bool busy, const QString& message = {});
    void chooseFile();
    void chooseFolder();
    void showAbout();
    void addRecentFile(const QString& path);
    void removeRecentFile(const QString& path);
    void clearRecentFiles();
    void rebuildRecentMenu();
    void updateFilterCount();
    void showTensorMenu(const QPoint& pos);
    void chooseExport();
    /// Save the plan as a recipe through a file dialog; true when it was saved.
    bool chooseSaveRecipe();
    void updateTitle();
    /// Enable what needs a model; Export only when the plan can be written (else its tooltip
    /// says why).
    void updateActions();
    void chooseLoadRecipe();
    void makeCurrentTensor(size_t index);

    std::shared_ptr<const qs::model::Model> m_model;
    QPointer<OpenModelJob> m_job;

    TensorTableModel* m_tableModel = nullptr;
    TensorTreeModel* m_treeModel = nullptr;
    QAction* m_groupAction = nullptr;
    TensorFilterProxy* m_proxy = nullptr;
    QStackedWidget* m_stack = nullptr;
    QWidget* m_emptyPage = nullptr;
    StartPage* m_startPage = nullptr;
    QWidget* m_modelPage = nullptr;
    QFrame* m_restoreBar = nullptr;
    QLabel* m_restoreText = nullptr;
    PlanAutosave* m_autosave = nullptr;
    ModelWatcher* m_watcher = nullptr;
    QSplitter* m_splitter = nullptr;
    QTreeView* m_tensorView = nullptr;
    QLineEdit* m_filter = nullptr;
    QLabel* m_filterCount = nullptr;
    QLabel* m_modelFacts = nullptr;
    MetadataView* m_metadata = nullptr;
    QLabel* m_statusSummary = nullptr;
    PlanDocument* m_doc = nullptr;
    PlanToolBar* m_planBar = nullptr;
    SizeLedger* m_ledger = nullptr;
    PrecisionMapPanel* m_mapPanel = nullptr;
    PlotsPanel* m_plots = nullptr;
    ErrorAtlas* m_atlas = nullptr;
    BudgetPanel* m_budgetPanel = nullptr;
    EvalPanel* m_evalPanel = nullptr;
    QTabWidget* m_tabs = nullptr;
    JobIndicator* m_jobIndicator = nullptr;
    QComboBox* m_backendCombo = nullptr;
    QSpinBox* m_threadsSpin = nullptr;
    QSplitter* m_leftSplit = nullptr;
    QAction* m_autoAnalyse = nullptr;
    QPointer<ExportJob> m_export;
    QPointer<ImatrixJob> m_imatrixJob;
    std::shared_ptr<const qs::quant::ImatrixSums> m_importanceSums;
    QAction* m_exportAction = nullptr;
    QList<QAction*> m_modelActions;  // enabled only with a model
    QProgressBar* m_busy = nullptr;
    QMenu* m_recentMenu = nullptr;
    QString m_lastDir;
};

}  // namespace qs::gui
