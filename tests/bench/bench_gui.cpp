// Edit-to-pixels latency of the explorer: one edit of the plan on the `small` synth model
// (12 layers, 111 tensors, 32k vocabulary), then everything it touches redrawn: the size ledger
// (exact file size), the table's target columns, the precision map, the error plot, the
// footprint plot and the histogram plot. The goal is one frame (16 ms). The pieces are timed
// too, so a regression points at its cause. Runs on Qt's offscreen platform. The error atlas
// measures the whole model (and the Q8_0 comparison plan) once before timing, so the error plot
// draws every point; during the timed edits background measuring is off.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <qcustomplot.h>
#include <QApplication>

#include "error_atlas.h"
#include "error_plot.h"
#include "explorer_controller.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/engine.h"
#include "size_ledger.h"
#include "synth/synth.h"
#include "tensor_panel.h"

namespace {

struct Fixture {
    std::unique_ptr<qs::gui::MainWindow> window;
    size_t a = 0;  ///< two tensors the edits toggle (never the current one: no histogram job)
    size_t b = 0;
};

std::string modelPath() {
    const char* d = std::getenv("QS_BENCH_DIR");
    std::filesystem::path dir = d ? d : (std::filesystem::temp_directory_path() / "qs-bench");
    std::filesystem::create_directories(dir);
    const std::string p = (dir / "synth-small.gguf").string();
    if (!std::filesystem::exists(p)) {
        qs::synth::SynthOptions o;
        o.preset = qs::synth::SynthPreset::Small;
        if (!qs::synth::writeSynthModel(o, p)) std::abort();
    }
    return p;
}

Fixture& fixture() {
    static Fixture f = [] {
        Fixture x;
        x.window = std::make_unique<qs::gui::MainWindow>();
        x.window->resize(1600, 1000);
        x.window->show();
        bool done = false;
        QObject::connect(x.window.get()->controller(), &qs::gui::ExplorerController::modelLoaded,
                         [&done] { done = true; });
        QObject::connect(x.window.get()->controller(), &qs::gui::ExplorerController::loadFailed,
                         [] { std::abort(); });
        x.window->controller()->openFile(QString::fromStdString(modelPath()));
        while (!done) QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
        x.window->controller()->document()->applyPreset(qs::quant::Ftype::Q4_K_M);
        qs::gui::ErrorAtlas* atlas = x.window->controller()->errorAtlas();
        atlas->setComparisonPreset(qs::quant::Ftype::Q8_0);
        // Measure every tensor in Q4_K, Q6_K, Q5_K, Q3_K too (the types the edits use).
        for (auto preset : {qs::quant::Ftype::Q6_K, qs::quant::Ftype::Q5_K_M,
                            qs::quant::Ftype::Q3_K_M, qs::quant::Ftype::Q4_K_M}) {
            x.window->controller()->document()->applyPreset(preset);
            atlas->analyseNow();
            while (atlas->isRunning() || atlas->missingCount() > 0) {
                QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
                atlas->analyseNow();
            }
        }
        atlas->setAutoAnalyse(false);
        const qs::model::Model& m = *x.window->controller()->document()->model();
        x.a = size_t(m.indexOf("blk.5.ffn_down.weight"));
        x.b = size_t(m.indexOf("blk.7.attn_v.weight"));
        for (int i = 0; i < 20; ++i) QCoreApplication::processEvents();
        return x;
    }();
    return f;
}

void flush() {
    // Queued replots and paint events of everything the edit touched.
    QCoreApplication::processEvents();
    QCoreApplication::processEvents();
}

void BM_EditToPixels(benchmark::State& state) {
    Fixture& f = fixture();
    qs::gui::PlanDocument* doc = f.window->controller()->document();
    bool flip = false;
    for (auto _ : state) {
        flip = !flip;
        const auto type = flip ? qs::formats::TensorType::Q6_K : qs::formats::TensorType::Q4_K;
        doc->setTypes({f.a, f.b}, type);
        f.window->findChild<qs::gui::PrecisionMapPanel*>()->map()->repaint();
        f.window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->plot()->replot(
            QCustomPlot::rpImmediateRefresh);
        f.window->findChild<qs::gui::PlotsPanel*>()->footprintPlot()->replot(
            QCustomPlot::rpImmediateRefresh);
        f.window->findChild<qs::gui::PlotsPanel*>()->histogramPlot()->replot(
            QCustomPlot::rpImmediateRefresh);
        flush();
    }
    state.counters["tensors"] = double(doc->model()->tensors().size());
    state.counters["error_points"] =
        double(f.window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->currentPointCount() +
               f.window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->comparisonPointCount());
}
BENCHMARK(BM_EditToPixels)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PaintDrag(benchmark::State& state) {
    // A drag-paint stroke: every cell it crosses is an edit merged into one undo command.
    Fixture& f = fixture();
    qs::gui::PlanDocument* doc = f.window->controller()->document();
    const int stroke = doc->beginStroke();
    bool flip = false;
    for (auto _ : state) {
        flip = !flip;
        doc->setTypes({f.a}, flip ? qs::formats::TensorType::Q5_K : qs::formats::TensorType::Q3_K,
                      stroke);
        f.window->findChild<qs::gui::PrecisionMapPanel*>()->map()->repaint();
        flush();
    }
}
BENCHMARK(BM_PaintDrag)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PredictFileSize(benchmark::State& state) {
    Fixture& f = fixture();
    qs::gui::PlanDocument* doc = f.window->controller()->document();
    for (auto _ : state) {
        benchmark::DoNotOptimize(qs::quant::predictFileSize(*doc->model(), doc->plan()));
    }
}
BENCHMARK(BM_PredictFileSize)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MapRepaint(benchmark::State& state) {
    Fixture& f = fixture();
    for (auto _ : state) f.window->findChild<qs::gui::PrecisionMapPanel*>()->map()->repaint();
}
BENCHMARK(BM_MapRepaint)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ErrorPlotRefresh(benchmark::State& state) {
    Fixture& f = fixture();
    for (auto _ : state) {
        f.window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->refresh();
        f.window->findChild<qs::gui::PlotsPanel*>()->errorPlot()->plot()->replot(
            QCustomPlot::rpImmediateRefresh);
    }
}
BENCHMARK(BM_ErrorPlotRefresh)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FootprintReplot(benchmark::State& state) {
    Fixture& f = fixture();
    for (auto _ : state)
        f.window->findChild<qs::gui::PlotsPanel*>()->footprintPlot()->replot(
            QCustomPlot::rpImmediateRefresh);
}
BENCHMARK(BM_FootprintReplot)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_HistogramReplot(benchmark::State& state) {
    Fixture& f = fixture();
    for (auto _ : state)
        f.window->findChild<qs::gui::PlotsPanel*>()->histogramPlot()->replot(
            QCustomPlot::rpImmediateRefresh);
}
BENCHMARK(BM_HistogramReplot)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeBench"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeGuiBench"));
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    fixture().window.reset();
    return 0;
}
