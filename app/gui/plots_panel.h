#pragma once
// The plots beside the table, drawn with QCustomPlot:
//  - the weight histogram of the current tensor, original against decoded-after-quantization in
//    its target type, with the quantization error's histogram below (one shared x alignment,
//    a log-scale toggle) and the error metrics in the title. analyzeTensor runs on the global
//    thread pool; a newer tensor cancels the job in flight and its result is dropped;
//  - the memory footprint per layer: bars stacked by target type (the map's colours) and the
//    original size per layer as a line, recomputed on every planChanged().
//  - between them, the error of every tensor across the model (ErrorPlot), the current plan
//    against a second plan, whose size per layer the footprint plot also draws.
// Every plot saves as PNG, PDF or CSV from its context menu.

#include <memory>
#include <optional>

#include <QWidget>

#include "file_size_cache.h"

class QCheckBox;
class QCPTextElement;
class QCustomPlot;
class QTimer;

namespace qs::quant {
class CancelToken;
}

namespace qs::gui {

class ErrorAtlas;
class ErrorPlot;
class PlanDocument;
class WrappedRichLabel;
struct AnalysisOutcome;

class PlotsPanel final : public QWidget {
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(PlotsPanel)

public:
    /// Histogram bins (the tiny model's smallest tensor has 64K values: plenty per bin).
    static constexpr int kBins = 120;

    PlotsPanel(PlanDocument* doc, ErrorAtlas* atlas, QWidget* parent = nullptr);
    ~PlotsPanel() override;

    /// Analyse tensor `index` in its planned type and plot it (cancels a job in flight).
    void showTensor(size_t index);
    /// The tensor shown (or being analysed), if any.
    std::optional<size_t> tensor() const { return m_index; }
    /// Whether the shown tensor's histogram is being made or about to be (a plan change
    /// re-analyses it once the edits pause).
    bool isAnalysing() const;
    /// How many analyses were started since the panel was made.
    int analysesStarted() const { return m_started; }

    QCustomPlot* histogramPlot() const { return m_hist; }
    QCustomPlot* footprintPlot() const { return m_footprint; }
    ErrorPlot* errorPlot() const { return m_errorPlot; }
    /// The footprint plot's title: the plan's and the original's totals (and the budget).
    QString footprintTitle() const;
    /// A file-size budget to show beside the totals (0: none).
    void setBudget(quint64 bytes);
    QCheckBox* logScaleBox() const { return m_log; }

    /// Save `plot` to `path`: PDF when it ends in .pdf, else PNG. False on a write error.
    static bool savePlot(QCustomPlot* plot, const QString& path);
    /// Save the data of `plot` as CSV: one row per point (series, x, x label, y). False on a
    /// write error. The error plot writes its own table (ErrorPlot::saveCsv).
    static bool savePlotCsv(QCustomPlot* plot, const QString& path);

signals:
    /// The histogram now shows the analysis of `index`.
    void histogramReady(size_t index);
    /// The analysis of `index` failed with `message`.
    void histogramFailed(size_t index, const QString& message);
    /// A point of the error plot was clicked.
    void tensorActivated(size_t index);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    void applyPalette();
    void startAnalysis();
    void deliver(const AnalysisOutcome& outcome);
    void applyLogScale();
    void updateFootprint();
    void onPlanChanged();
    void showPlotMenu(QCustomPlot* plot, const QPoint& pos);

    PlanDocument* m_doc;
    ErrorAtlas* m_atlas = nullptr;
    QString m_footprintCompare;  ///< the comparison drawn in the footprint (its label)
    QCustomPlot* m_hist = nullptr;
    QCustomPlot* m_footprint = nullptr;
    FileSizeCache m_fileSize;  ///< the footprint title's file size, header cached
    ErrorPlot* m_errorPlot = nullptr;
    QCPTextElement* m_footprintTitle = nullptr;
    quint64 m_budget = 0;
    QCheckBox* m_log = nullptr;
    WrappedRichLabel* m_metrics = nullptr;
    QTimer* m_reanalyse = nullptr;  ///< a plan change's re-analysis, once the edits pause
    std::optional<size_t> m_index;
    std::optional<uint32_t> m_analysedType;
    std::shared_ptr<qs::quant::CancelToken> m_cancel;
    quint64 m_serial = 0;
    bool m_running = false;
    int m_started = 0;
};

}  // namespace qs::gui
