// Edit-to-pixels latency of the explorer: one edit of the plan on the `small` synth model
// (12 layers, 111 tensors, 32k vocabulary), then everything it touches redrawn: the size ledger
// (exact file size), the table's target columns, the precision map, the error plot, the
// footprint plot and the histogram plot. The goal is one frame (16 ms). The pieces are timed
// too, so a regression points at its cause. Runs on Qt's offscreen platform. The error atlas
// measures the whole model (and the Q8_0 comparison plan) once before timing, so the error plot
// draws every point; during the timed edits background measuring is off.
//
// Scale (issue 19), on the sparse fixtures of `synth --preset llama-405b` (126 layers, 1,137
// tensors, 812 GB apparent) and `--preset qwen3moe-30b-a3b` (48 layers of 128 experts, 579
// tensors), written once into $QS_BENCH_DIR (a few MB on disk):
//  - BM_OpenToPainted: a new window opens the file, applies Q4_K_M (as `quantscope F --preset
//    Q4_K_M` does) and is painted whole: tensor tree, precision map, plots. The error atlas has
//    only started then (its counter `atlas_running` says so): the errors fill in afterwards.
//  - BM_PresetChange: a whole-plan preset change (Q4_K_M <-> Q5_K_M) and the one frame of the
//    event loop that redraws the views it changed (ledger, tree, map and legend, error and
//    footprint plots; their paint events are counted), after the atlas measured Q4_K_M whole.
//    Its counter forced_ms (untimed) is everything painted again at once after that frame;
//    QS_BENCH_FORCED_PAINT=1 times the older, pessimistic definition instead: the edit, then
//    the queued events, an immediate replot of all three plots and a repaint of the whole
//    window (paintAll).
//  - BM_PaintDrag: one cell of a paint stroke on 126 layers / 1,137 tensors (or the MoE's 579).
//  - BM_ExpertsOfOneLayer (MoE): one layer's three `*_exps` tensors expanded in the tree and
//    their 3 x 128 experts measured (ErrorAtlas::measureExperts) and shown; a new layer each
//    iteration (nothing cached).
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <qcustomplot.h>
#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <QTreeView>

#include "application.h"
#include "budget_panel.h"
#include "error_atlas.h"
#include "error_plot.h"
#include "explorer_controller.h"
#include "main_window.h"
#include "model/model.h"
#include "plan_document.h"
#include "plots_panel.h"
#include "precision_map.h"
#include "quant/engine.h"
#include "quant/sensitivity.h"
#include "size_ledger.h"
#include "synth/synth.h"
#include "tensor_panel.h"
#include "tensor_table_model.h"
#include "tensor_tree_model.h"

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

bool g_smallOpened = false;  ///< fixture() was built (main closes it)

Fixture& fixture() {
    static Fixture f = [] {
        g_smallOpened = true;
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

// ---- Scale: the sparse 405B-shaped and 30B-A3B-shaped fixtures ----

enum class Large { L405B, Moe };

std::string largePath(Large which) {
    const char* d = std::getenv("QS_BENCH_DIR");
    std::filesystem::path dir = d ? d : (std::filesystem::temp_directory_path() / "qs-bench");
    std::filesystem::create_directories(dir);
    const std::string p =
        (dir / (which == Large::L405B ? "synth-l405b.gguf" : "synth-moe.gguf")).string();
    if (!std::filesystem::exists(p)) {
        qs::synth::SynthOptions o;
        o.preset = which == Large::L405B ? qs::synth::SynthPreset::Llama405B
                                         : qs::synth::SynthPreset::Qwen3Moe30B;
        if (!qs::synth::writeSynthModel(o, p)) std::abort();
    }
    return p;
}

/// Runs the event loop until `done` holds, checking every 10 ms. The loop sleeps in between
/// (a processEvents() spin would take a core from the jobs it waits for).
void waitFor(const std::function<bool()>& done) {
    while (!done()) {
        QEventLoop loop;
        QTimer::singleShot(10, &loop, &QEventLoop::quit);
        loop.exec();
    }
}

std::unique_ptr<qs::gui::MainWindow> openWindow(Large which) {
    auto w = std::make_unique<qs::gui::MainWindow>();
    w->resize(1440, 900);
    w->show();
    bool done = false;
    qs::gui::ExplorerController* c = w->controller();
    const QMetaObject::Connection loaded =
        QObject::connect(c, &qs::gui::ExplorerController::modelLoaded, w.get(), [c, &done] {
            c->document()->applyPreset(qs::quant::Ftype::Q4_K_M);  // as --preset Q4_K_M
            c->document()->markSaved();
            done = true;
        });
    QObject::connect(c, &qs::gui::ExplorerController::loadFailed, [] { std::abort(); });
    c->openFile(QString::fromStdString(largePath(which)));
    waitFor([&done] { return done; });
    QObject::disconnect(loaded);
    return w;
}

/// Everything the window shows painted now: queued replots delivered, then a synchronous paint
/// of the whole window (tree, map, plots, ledger) and an immediate replot of each plot.
double g_eventsMs = 0, g_replotMs = 0, g_repaintMs = 0;  ///< paintAll's phases, summed

void paintAll(qs::gui::MainWindow& w) {
    QElapsedTimer t;
    t.start();
    QCoreApplication::processEvents();
    QCoreApplication::processEvents();
    g_eventsMs += double(t.nsecsElapsed()) * 1e-6;
    t.restart();
    auto* plots = w.findChild<qs::gui::PlotsPanel*>();
    plots->errorPlot()->plot()->replot(QCustomPlot::rpImmediateRefresh);
    plots->footprintPlot()->replot(QCustomPlot::rpImmediateRefresh);
    plots->histogramPlot()->replot(QCustomPlot::rpImmediateRefresh);
    g_replotMs += double(t.nsecsElapsed()) * 1e-6;
    t.restart();
    w.findChild<qs::gui::PrecisionMapPanel*>()->map()->repaint();
    w.repaint();
    g_repaintMs += double(t.nsecsElapsed()) * 1e-6;
}

void reportPhases(benchmark::State& state) {
    const double n = double(std::max<benchmark::IterationCount>(1, state.iterations()));
    state.counters["events_ms"] = g_eventsMs / n;
    state.counters["replot_ms"] = g_replotMs / n;
    state.counters["repaint_ms"] = g_repaintMs / n;
}

/// One large model open at a time (the fixture of the scale benchmarks), its atlas complete
/// for Q4_K_M, then no background measuring while edits are timed.
struct LargeFixture {
    Large which = Large::L405B;
    std::unique_ptr<qs::gui::MainWindow> window;
    double atlasSeconds = 0;
};

LargeFixture& largeHolder() {
    static LargeFixture f;
    return f;
}

LargeFixture& largeFixture(Large which) {
    LargeFixture& f = largeHolder();
    if (f.window && f.which == which) return f;
    f.window.reset();
    f.which = which;
    QElapsedTimer clock;
    clock.start();
    f.window = openWindow(which);
    qs::gui::ErrorAtlas* atlas = f.window->controller()->errorAtlas();
    atlas->setComparisonPreset(std::nullopt);
    // QS_BENCH_SKIP_ATLAS=1 (profiling): time the edits without waiting for the errors.
    if (!qEnvironmentVariableIsEmpty("QS_BENCH_SKIP_ATLAS")) atlas->cancel();
    waitFor([atlas] {
        if (!qEnvironmentVariableIsEmpty("QS_BENCH_SKIP_ATLAS")) return true;
        atlas->analyseNow();
        return !atlas->isRunning() && atlas->missingCount() == 0;
    });
    atlas->setAutoAnalyse(false);
    f.atlasSeconds = double(clock.elapsed()) / 1000.0;
    // A settled window: the histogram of the tensor shown at open is made (with the atlas
    // skipped it would still be running, a second job beside the timed edits).
    auto* plots = f.window->findChild<qs::gui::PlotsPanel*>();
    waitFor([plots] { return !plots->isAnalysing(); });
    paintAll(*f.window);
    return f;
}

double processCpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

void BM_OpenToPainted(benchmark::State& state, Large which) {
    largePath(which);  // written before timing
    bool running = false;
    size_t tensors = 0;
    double loadedMs = 0, cpuMs = 0;
    g_eventsMs = g_replotMs = g_repaintMs = 0;
    for (auto _ : state) {
        QElapsedTimer clock;
        clock.start();
        const double cpu0 = processCpuSeconds();
        std::unique_ptr<qs::gui::MainWindow> w = openWindow(which);
        loadedMs += double(clock.nsecsElapsed()) * 1e-6;
        paintAll(*w);
        state.SetIterationTime(double(clock.nsecsElapsed()) * 1e-9);
        cpuMs += (processCpuSeconds() - cpu0) * 1e3;
        running = w->controller()->errorAtlas()->isRunning() ||
                  w->controller()->errorAtlas()->missingCount() > 0;
        tensors = w->controller()->document()->model()->tensors().size();
        w->controller()->errorAtlas()->cancel();
        w.reset();  // not timed: closing cancels the atlas's job
        QCoreApplication::processEvents();
    }
    state.counters["tensors"] = double(tensors);
    state.counters["atlas_running"] = running ? 1 : 0;  // the errors were still being measured
    // Wall time to the model shown (opened, preset applied), and CPU time of every thread of
    // the process (the open job, the GUI thread, the atlas's first rows), per open.
    state.counters["loaded_ms"] = loadedMs / double(state.iterations());
    state.counters["process_cpu_ms"] = cpuMs / double(state.iterations());
    reportPhases(state);
}

/// Counts the paint events of the views a plan change must redraw.
class PaintCounter final : public QObject {
public:
    explicit PaintCounter(qs::gui::MainWindow& w) {
        auto* plots = w.findChild<qs::gui::PlotsPanel*>();
        m_views = {w.tensorPanel()->view()->viewport(),
                   w.findChild<qs::gui::PrecisionMapPanel*>()->map(), plots->errorPlot()->plot(),
                   plots->footprintPlot(), w.findChild<qs::gui::PrecisionMapPanel*>()->legend()};
        for (QWidget* v : m_views) v->installEventFilter(this);
        m_painted.assign(m_views.size(), 0);
    }
    ~PaintCounter() override {
        for (QWidget* v : m_views) v->removeEventFilter(this);
    }
    void reset() { std::fill(m_painted.begin(), m_painted.end(), 0); }
    /// How many of the views were painted since reset().
    int painted() const {
        return int(std::count_if(m_painted.begin(), m_painted.end(), [](int n) { return n > 0; }));
    }
    int views() const { return int(m_views.size()); }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (event->type() == QEvent::Paint) {
            for (size_t i = 0; i < m_views.size(); ++i) m_painted[i] += m_views[i] == watched;
        }
        return false;
    }

private:
    std::vector<QWidget*> m_views;
    std::vector<int> m_painted;
};

/// One frame as the application's event loop makes it after an edit: the queued replots, the
/// layout requests and the window's update request, which paints every region the edit made
/// dirty (and nothing else).
void frame() {
    for (int i = 0; i < 3; ++i) QCoreApplication::processEvents();
}

void BM_PresetChange(benchmark::State& state, Large which) {
    // Timed: the edit and the frame that shows it (tree, map and its legend, error and
    // footprint plots, ledger; `views_painted` counts the five views whose paint events ran,
    // and the run aborts if one did not). `forced_ms` (not timed): the whole window and every
    // plot painted again at once (paintAll), an upper bound that paints unchanged widgets too.
    LargeFixture& f = largeFixture(which);
    qs::gui::PlanDocument* doc = f.window->controller()->document();
    PaintCounter counter(*f.window);
    const bool forcedPaint = !qEnvironmentVariableIsEmpty("QS_BENCH_FORCED_PAINT");
    bool flip = false;
    double painted = 0, forcedMs = 0;
    g_eventsMs = g_replotMs = g_repaintMs = 0;
    for (auto _ : state) {
        flip = !flip;
        counter.reset();
        doc->applyPreset(flip ? qs::quant::Ftype::Q5_K_M : qs::quant::Ftype::Q4_K_M);
        if (forcedPaint) {
            paintAll(*f.window);  // the definition before 1646dae: everything painted twice
        } else {
            frame();
        }
        state.PauseTiming();
        if (counter.painted() != counter.views()) std::abort();  // a view did not redraw
        painted += counter.painted();
        QElapsedTimer forced;
        forced.start();
        paintAll(*f.window);
        forcedMs += double(forced.nsecsElapsed()) * 1e-6;
        state.ResumeTiming();
    }
    const double n = double(std::max<benchmark::IterationCount>(1, state.iterations()));
    state.counters["views_painted"] = painted / n;
    state.counters["forced_ms"] = forcedMs / n;
    reportPhases(state);
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
    paintAll(*f.window);
    state.counters["tensors"] = double(doc->model()->tensors().size());
    state.counters["atlas_s"] = f.atlasSeconds;  // the fixture's open + Q4_K_M atlas, once
}

void BM_PresetChangeWhileMeasuring(benchmark::State& state, Large which) {
    // The same edit and frame as BM_PresetChange, in a window just opened: the error atlas
    // measures in the background (two job threads at a lower priority on the 2 cores) and
    // starts again for each new plan, its updates arriving between and during the frames.
    // The first 16 edits after the open, 250 ms apart (the atlas's 150 ms debounce passes, so
    // it measures each new plan); `atlas_running` says it was still measuring at the last one,
    // `worst_ms` is the slowest frame.
    largePath(which);
    std::unique_ptr<qs::gui::MainWindow> w = openWindow(which);
    paintAll(*w);
    qs::gui::PlanDocument* doc = w->controller()->document();
    qs::gui::ErrorAtlas* atlas = w->controller()->errorAtlas();
    PaintCounter counter(*w);
    bool flip = false, running = false;
    double worstMs = 0;
    for (auto _ : state) {
        flip = !flip;
        counter.reset();
        QElapsedTimer clock;
        clock.start();
        doc->applyPreset(flip ? qs::quant::Ftype::Q5_K_M : qs::quant::Ftype::Q4_K_M);
        frame();
        worstMs = std::max(worstMs, double(clock.nsecsElapsed()) * 1e-6);
        state.PauseTiming();
        if (counter.painted() != counter.views()) std::abort();
        running = atlas->isRunning();
        QEventLoop pace;  // the user's pace: the atlas works between the edits
        QTimer::singleShot(250, &pace, &QEventLoop::quit);
        pace.exec();
        state.ResumeTiming();
    }
    state.counters["atlas_running"] = running ? 1 : 0;
    state.counters["worst_ms"] = worstMs;  // the slowest of the edits' frames
    atlas->cancel();
}

void BM_PaintDragLarge(benchmark::State& state, Large which) {
    LargeFixture& f = largeFixture(which);
    qs::gui::PlanDocument* doc = f.window->controller()->document();
    const qs::model::Model& m = *doc->model();
    const size_t a = size_t(
        m.indexOf(which == Large::L405B ? "blk.100.ffn_down.weight" : "blk.40.attn_v.weight"));
    const int stroke = doc->beginStroke();
    bool flip = false;
    for (auto _ : state) {
        flip = !flip;
        doc->setTypes({a}, flip ? qs::formats::TensorType::Q5_K : qs::formats::TensorType::Q3_K,
                      stroke);
        f.window->findChild<qs::gui::PrecisionMapPanel*>()->map()->repaint();
        flush();
    }
    state.counters["tensors"] = double(m.tensors().size());
}

void BM_BudgetFit(benchmark::State& state, Large which) {
    // The Budget tab at 4.5 bits per weight: the sensitivity table (every quantizable tensor in
    // the 13 default types, through the atlas's sampler and cache: the Q4_K_M pairs the atlas
    // measured are hits), then the optimizer's plan applied. Once (a second run is all hits).
    LargeFixture& f = largeFixture(which);
    qs::gui::BudgetPanel* panel = f.window->findChild<qs::gui::BudgetPanel*>();
    qs::gui::PlanDocument* doc = f.window->controller()->document();
    const qs::model::Model& m = *doc->model();
    double fileBytes = 0;
    for (auto _ : state) {
        panel->measure();
        waitFor([panel] { return !panel->isMeasuring() && panel->table(); });
        const auto r = panel->setBudgetBytes(uint64_t(4.5 * double(m.totalElements()) / 8), true);
        if (!r || !r->feasible) std::abort();
        fileBytes = double(r->fileBytes);
        paintAll(*f.window);
    }
    state.counters["rows_read"] = double(panel->table()->rowsMeasured);
    state.counters["bpw"] = 8 * fileBytes / double(m.totalElements());
    doc->applyPreset(qs::quant::Ftype::Q4_K_M);
}

void BM_ExpertsOfOneLayer(benchmark::State& state) {
    LargeFixture& f = largeFixture(Large::Moe);
    qs::gui::ExplorerController* c = f.window->controller();
    qs::gui::ErrorAtlas* atlas = c->errorAtlas();
    qs::gui::TensorPanel* panel = f.window->tensorPanel();
    const qs::model::Model& m = *c->document()->model();
    int layer = 3;
    size_t experts = 0;
    for (auto _ : state) {
        ++layer;  // a layer not measured before
        std::vector<size_t> ts;
        for (const char* n : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}) {
            const int64_t t = m.indexOf("blk." + std::to_string(layer) + "." + n + ".weight");
            if (t < 0) std::abort();
            ts.push_back(size_t(t));
            const QModelIndex at =
                panel->proxy()->mapFromSource(panel->tree()->indexOfTensor(size_t(t)));
            panel->view()->expand(at.parent());
            panel->view()->expand(at);
            atlas->measureExperts(size_t(t));
        }
        const QModelIndex first =
            panel->proxy()->mapFromSource(panel->tree()->indexOfTensor(ts.front()));
        panel->view()->scrollTo(first, QAbstractItemView::PositionAtTop);
        waitFor([&] {
            for (size_t t : ts) {
                if (!atlas->experts(t, c->document()->plan().tensors[t].type,
                                    c->document()->plan().quantizer))
                    return false;
            }
            return !atlas->isRunning();
        });
        paintAll(*f.window);
        experts = 0;
        for (size_t t : ts)
            experts += atlas
                           ->experts(t, c->document()->plan().tensors[t].type,
                                     c->document()->plan().quantizer)
                           ->size();
    }
    state.counters["experts"] = double(experts);
}

// Registered by model, so that each large model is opened (and its atlas measured) once.
#define QS_LARGE(fn, name, which, ...) \
    BENCHMARK_CAPTURE(fn, name, which)->Unit(benchmark::kMillisecond) __VA_ARGS__
QS_LARGE(BM_OpenToPainted, l405b, Large::L405B, ->UseManualTime()->Iterations(5));
QS_LARGE(BM_OpenToPainted, moe, Large::Moe, ->UseManualTime()->Iterations(5));
QS_LARGE(BM_PresetChange, l405b, Large::L405B, ->UseRealTime());
QS_LARGE(BM_PresetChangeWhileMeasuring, l405b, Large::L405B, ->UseRealTime()->Iterations(16));
QS_LARGE(BM_PaintDragLarge, l405b, Large::L405B, ->UseRealTime());
QS_LARGE(BM_BudgetFit, l405b, Large::L405B, ->UseRealTime()->Iterations(1));
QS_LARGE(BM_PresetChange, moe, Large::Moe, ->UseRealTime());
QS_LARGE(BM_PresetChangeWhileMeasuring, moe, Large::Moe, ->UseRealTime()->Iterations(16));
QS_LARGE(BM_PaintDragLarge, moe, Large::Moe, ->UseRealTime());
QS_LARGE(BM_BudgetFit, moe, Large::Moe, ->UseRealTime()->Iterations(1));
BENCHMARK(BM_ExpertsOfOneLayer)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
#undef QS_LARGE

}  // namespace

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("QuantscopeBench"));
    QCoreApplication::setApplicationName(QStringLiteral("QuantscopeGuiBench"));
    qs::gui::applyProcessPolicy();  // as the application: workers yield to the GUI thread
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    largeHolder().window.reset();
    if (g_smallOpened) fixture().window.reset();
    return 0;
}
