// Open time: a model opens to its tensor list by reading the header only, so the time depends
// on the header (tensor count, metadata such as the vocabulary), not on the file size.
// Models: synth tiny (8 MB), synth medium (2.2 GB, TinyLlama-1.1B shapes, 32k vocabulary) and
// the same medium with its data left sparse. QS_BENCH_DIR picks where they are written.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "model/model.h"
#include "synth/synth.h"

namespace {

std::string benchDir() {
    const char* d = std::getenv("QS_BENCH_DIR");
    std::filesystem::path p = d ? d : (std::filesystem::temp_directory_path() / "qs-bench");
    std::filesystem::create_directories(p);
    return p.string();
}

// Write a synth model once per process and return its path.
const std::string& modelPath(qs::synth::SynthPreset preset, bool sparse) {
    static std::string paths[3][2];
    std::string& p = paths[int(preset)][sparse ? 1 : 0];
    if (p.empty()) {
        const auto spec = qs::synth::specOf(preset);
        p = benchDir() + "/synth-" + spec.name + (sparse ? "-sparse" : "") + ".gguf";
        if (!std::filesystem::exists(p)) {
            qs::synth::SynthOptions o;
            o.preset = preset;
            o.zeroData = sparse;
            auto st = qs::synth::writeSynthModel(o, p);
            if (!st) std::abort();
        }
    }
    return p;
}

void openModel(benchmark::State& state, qs::synth::SynthPreset preset, bool sparse) {
    const std::string& path = modelPath(preset, sparse);
    size_t tensors = 0;
    for (auto _ : state) {
        auto m = qs::model::openModel(path);
        if (!m) {
            state.SkipWithError(m.error().what().c_str());
            return;
        }
        tensors = m->tensors().size();
        benchmark::DoNotOptimize(m->totalBytes());
    }
    state.counters["tensors"] = double(tensors);
    state.counters["file_MB"] = double(std::filesystem::file_size(path)) / 1e6;
}

BENCHMARK_CAPTURE(openModel, tiny, qs::synth::SynthPreset::Tiny, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(openModel, medium, qs::synth::SynthPreset::Medium, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(openModel, medium_sparse, qs::synth::SynthPreset::Medium, true)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
