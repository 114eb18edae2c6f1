#pragma once
// The fixture of the explorer's background-job tests (qs_gui_jobs_tests): a window with a
// model open, shared by the test files split by subject (jobs_*_test.cpp).

#include <QObject>
#include <QString>
#include <QTemporaryDir>

#include "model/model.h"
#include "quant/imatrix.h"
#include "quant/plan.h"

namespace qs::gui {
class MainWindow;
}

namespace qs::gui::jobs_test {

constexpr int kTimeoutMs = 60000;
/// The Budget tab's measurement (every tensor in 13 types, the KL probes on the Quality tab's
/// text): its jobs run at the workers' lowered priority (nice 10, as in the application), so on
/// a machine loaded by other processes (ctest -j2 beside a build) they may take minutes.
constexpr int kMeasureTimeoutMs = 180000;

qs::quant::Plan presetPlan(const qs::model::Model& m, qs::quant::Ftype f);
/// An imatrix for every quantizable 2-D tensor of `m`: positive, uneven importances.
qs::quant::Imatrix makeImatrix(const qs::model::Model& m);

}  // namespace qs::gui::jobs_test

class JobsTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void groupedViewSumsEachLayer();
    void ledgerEqualsCliDryRun();
    void atlasMeasuresWhatTheCoreMeasures();
    void errorPlotComparesWithSecondPlan();
    void mapColoursByError();
    void importAndCompareThePlanOfAFile();
    void qualityTabMatchesLlamaCppPerplexity();
    void budgetOnTheKlObjectiveBeatsThePresetsKl();
    void budgetOnTheKlObjectiveOnQwen3Moe();
    void budgetClosedLoopShowsCandidatesAndAppliesTheChoice();
    void budgetFitsEachPresetSizeWithLessError();
    void budgetKeepsLocksAndSliderSolvesLive();
    void budgetJobsShareTheAtlasCache();
    void goingBackToAMeasuredTypeCostsNothing();
    void cancelKeepsWhatWasMeasured();
    void locksSurvivePresetsAndUndo();
    void imatrixWeightsErrorAndExport();
    void foreignImatrixIsRefused();
    void computeImportanceFeedsThePlan();
    void runtimeEstimateFollowsSettings();
    void plotsSaveCsv();
    void exportSummaryNamesSizeAndError();
    void settingsPersist();
    void plotsFollowDarkPalette();
    void vulkanBackendExportsSameBytes();
    void eventLoopStaysResponsiveWhileQuantizingSmall();
    void cancelMidwayThroughLongExport();

private:
    bool waitForAtlas();
    void openModel(const QString& path);

    QTemporaryDir m_dir;
    QString m_tiny;
    QString m_small;
    qs::gui::MainWindow* m_window = nullptr;
};
