#pragma once
// The Variants tab (issue 25): a list of variants of the open model (the current plan,
// llama.cpp presets, closed-loop fits to a file size, quantized GGUF files of the same model
// imported), measured against the original in one cancellable job (qs::report::runReport: the
// original run once), shown in a sortable table (file, type/mix, size, bpw, KL mean, KL p99,
// top-1, perplexity) and a size-against-KL chart with the Pareto front; Export Report… writes
// the model-card report (ReportExporter), Export Variants… the GGUF files, each with its
// recipe under quantize.recipe.

#include <memory>
#include <string>
#include <vector>

#include <QPointer>
#include <QString>
#include <QWidget>

#include "report/variants.h"

class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace qs::gui {

class BackgroundJob;
class PlanDocument;
class ReportJob;

class VariantsPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(VariantsPanel)

public:
    enum Column { File, Type, Size, Bpw, KlMean, KlP99, Top1, Ppl, ColumnCount };

    VariantsPanel(PlanDocument* doc, QWidget* parent = nullptr);
    ~VariantsPanel() override;

    /// The text the variants are scored on (UTF-8) and its name in the report. Default: the
    /// Quality tab's built-in sample.
    void setText(std::string text, const QString& name);

    /// Add a variant (drops a finished report: its rows no longer match the list).
    void addVariant(qs::report::VariantSpec spec);
    void addCurrentPlan();
    /// Empty on success, else why (an unknown preset, a budget that does not parse).
    QString addPreset(const QString& name);
    QString addFit(const QString& budget);
    void addFile(const QString& path);
    void removeSelected();
    void clearVariants();
    const std::vector<qs::report::VariantSpec>& variants() const { return m_specs; }

    /// Measure every variant (no-op while a job runs, without a model or variants).
    void run();
    ReportJob* job() const;
    bool isRunning() const { return !m_job.isNull(); }
    /// The last finished report (null before the first, or after the list changed).
    const std::shared_ptr<const qs::report::Report>& report() const { return m_report; }

    /// Write the report into `dir` (the chart as PNG from the chart view). Empty on success.
    QString exportReport(const QString& dir);
    /// Export the report's variants as GGUF files into `dir` (a job). False when there is no
    /// report or a job runs.
    bool exportVariants(const QString& dir);

    /// Export Report… / Export Variants… with a folder dialog.
    void chooseExportReport();
    void chooseExportVariants();

    QTableWidget* table() const { return m_table; }
    QCustomPlot* chart() const { return m_chart; }
    QSpinBox* contextSpin() const { return m_ctx; }
    QPushButton* runButton() const { return m_run; }
    QLabel* status() const { return m_status; }

signals:
    void jobStarted(qs::gui::BackgroundJob* job);
    void jobFinished(bool ok, const QString& message);
    /// A report finished; report() holds it.
    void reportReady();
    /// Export Variants… finished; report() holds the files' paths.
    void variantsExported();

private:
    void buildUi();
    void startJob(ReportJob* job, const QString& what);
    void dropReport();
    void refreshTable();
    void refreshChart();
    void updateButtons();
    void chooseFile();

    PlanDocument* m_doc;
    std::vector<qs::report::VariantSpec> m_specs;
    std::shared_ptr<const qs::report::Report> m_report;
    std::string m_text;
    QString m_textName;
    QString m_lastDir;
    QPointer<ReportJob> m_job;

    QComboBox* m_presets = nullptr;
    QLineEdit* m_budget = nullptr;
    QSpinBox* m_ctx = nullptr;
    QPushButton* m_run = nullptr;
    QPushButton* m_exportReport = nullptr;
    QPushButton* m_exportVariants = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QTableWidget* m_table = nullptr;
    QCustomPlot* m_chart = nullptr;
};

}  // namespace qs::gui
