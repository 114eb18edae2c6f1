#pragma once
// The explorer's state without its window: the open model (opened in the background), the plan
// being edited (PlanDocument, with the imatrix and the autosave), the error atlas that measures
// it, the background jobs that read the model (open, compute importance, export), the recent
// files, plan import, recipes and the export request. MainWindow lays out views over it and
// turns menu actions into its calls; tests drive it alone, offscreen, or through
// MainWindow::controller().
//
// Every path-taking call returns an empty QString on success, else the error to show.

#include <memory>

#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>

#include "quant/engine.h"

namespace qs::model {
class Model;
}
namespace qs::quant {
struct ImatrixSums;
}

namespace qs::gui {

class ErrorAtlas;
class ExportJob;
class ImatrixJob;
class OpenModelJob;
class PlanAutosave;
class PlanDocument;
struct ExportOutcome;
struct ImatrixOutcome;
struct OpenOutcome;
struct OpenParams;

class ExplorerController final : public QObject {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ExplorerController)

public:
    /// How many paths File > Open Recent keeps.
    static constexpr int kMaxRecentFiles = 10;
    /// QSettings key of the recent-file list (most recent first).
    static constexpr const char* kRecentFilesKey = "recentFiles";

    explicit ExplorerController(QObject* parent = nullptr);
    ~ExplorerController() override;

    // ---- the model ----
    /// Open `path` in the background; emits modelLoaded or loadFailed later. A newer open
    /// supersedes one still running (its result is dropped). A failed open keeps the model.
    void openFile(const QString& path);
    /// Open the tiny synthetic demo model, writing it to the cache first if it is missing.
    void openDemo();
    /// The model shown, or null; whether an open is in progress.
    const qs::model::Model* model() const { return m_model.get(); }
    const std::shared_ptr<const qs::model::Model>& sharedModel() const { return m_model; }
    bool isLoading() const { return !m_openJob.isNull(); }

    // ---- the plan and what measures it ----
    PlanDocument* document() const { return m_doc; }
    ErrorAtlas* errorAtlas() const { return m_atlas; }
    PlanAutosave* autosave() const { return m_autosave; }

    /// Where jobs run: "cpu" or "vulkan:N" (`label` is what the export summary names) and the
    /// CPU thread count (0: all cores). The error atlas follows at once.
    void setCompute(const QString& backendSpec, const QString& label, int threads);
    QString backendSpec() const { return m_backendSpec; }
    int threads() const { return m_threads; }

    // ---- recent files (QSettings) ----
    QStringList recentFiles() const;
    void addRecentFile(const QString& path);
    void removeRecentFile(const QString& path);
    void clearRecentFiles();

    // ---- imatrix and importance ----
    /// Load an imatrix (GGUF or legacy .dat) checked against the open model; it weights the
    /// error column, the optimizer and the export's quantizers.
    QString loadImatrixFrom(const QString& path);
    void clearImatrix();
    /// Compute an imatrix from `textPath` (empty: the built-in sample text) by our forward pass,
    /// in the background. On success it becomes the plan's imatrix; emits importanceFinished.
    /// False (nothing starts) without a model, while one runs, or when the text cannot be read.
    bool startImportance(const QString& textPath = {});
    ImatrixJob* importanceJob() const;
    /// The sums and counts of the last computed imatrix (null before one), and writing them in
    /// llama.cpp's GGUF imatrix format.
    std::shared_ptr<const qs::quant::ImatrixSums> computedImportance() const {
        return m_importanceSums;
    }
    QString saveImportanceTo(const QString& path);

    // ---- plans from files, recipes ----
    /// Replace the plan by the per-tensor types of a quantized GGUF file of this model.
    QString importPlanFrom(const QString& path);
    /// Measure the plan of a quantized GGUF file of this model as the atlas's comparison plan;
    /// emits comparisonLoaded.
    QString compareWithFile(const QString& path);
    /// Save the plan as a recipe (marks it saved) / replace it by a recipe (one undo step).
    QString saveRecipeTo(const QString& path);
    QString loadRecipeFrom(const QString& path);

    // ---- export ----
    /// Beside the model, named after the plan ("model-Q4_K_M.gguf", "model-mix-4.83bpw.gguf").
    QString suggestedExportPath() const;
    /// What the export dialog says about the plan: size, bits per weight, error, backend, and
    /// with `split` every shard's exact size (named after `path` when given).
    QString exportSummary(const qs::quant::SplitOptions& split = {},
                          const QString& path = {}) const;
    /// Export the plan to `path` in the background; emits exportStarted, then exportFinished.
    /// False (and nothing starts) without a model or while one runs.
    bool startExport(const QString& path, const qs::quant::SplitOptions& split = {});
    ExportJob* exportJob() const;

    /// Cancel what this controller runs in the background (error measurement, importance).
    void cancelJobs();

signals:
    /// A model was opened and is now the document's model.
    void modelLoaded(const QString& path);
    /// Opening `path` began / failed with `message` (the core Error's what()).
    void loadStarted(const QString& message);
    void loadFailed(const QString& path, const QString& message);
    void recentFilesChanged(const QStringList& files);
    /// An export began (for a progress view) / ended: written (`ok`), cancelled or failed.
    void exportStarted(qs::gui::ExportJob* job, const QString& path);
    void exportFinished(bool ok, const QString& path, const QString& message);
    /// A Compute Importance job began (for the job indicator) / ended.
    void importanceStarted(qs::gui::ImatrixJob* job);
    void importanceFinished(bool ok, const QString& message);
    /// The running Compute Importance job was dropped because another model was opened.
    void importanceAbandoned();
    /// compareWithFile loaded the plan of file `label` as the comparison plan.
    void comparisonLoaded(const QString& label);
    /// Something for the status bar, shown for `ms` milliseconds.
    void statusMessage(const QString& message, int ms);

private:
    void startOpen(const OpenParams& params);
    void onOpenSucceeded(const OpenOutcome& outcome);
    void onOpenFailed(const QString& path, const QString& message);
    void onImportanceDone(const ImatrixOutcome& outcome);

    std::shared_ptr<const qs::model::Model> m_model;
    PlanDocument* m_doc = nullptr;
    ErrorAtlas* m_atlas = nullptr;
    PlanAutosave* m_autosave = nullptr;
    QPointer<OpenModelJob> m_openJob;
    QPointer<ExportJob> m_export;
    QPointer<ImatrixJob> m_imatrixJob;
    std::shared_ptr<const qs::quant::ImatrixSums> m_importanceSums;
    QString m_backendSpec = QStringLiteral("cpu");
    QString m_backendLabel = QStringLiteral("CPU");
    int m_threads = 0;
};

}  // namespace qs::gui
