// Encode throughput per tensor type on ggml's golden weights (16 rows x 4096 floats,
// tests/data/golden/weights.f32), without and with the golden imatrix, on 1 and 2 threads:
// ours (encodeRows) and, in the same program, ggml's own ggml_quantize_chunk from llama.cpp's
// libggml-base.so (the node-llama-cpp npm build that made the golden files), loaded with
// dlopen. ggml gets the same row split over the same threads. Throughput is float input bytes/s.
//
// The bandwidth probe Encode/copy/threads:N reads the same float input and writes as many
// bytes (a memcpy per row, same split over the same threads): the ceiling of a memory-bound
// encoder. Each of our runs also reports copy_frac, its throughput as a fraction of that
// probe's (timed once per thread count and data set at start-up, best of a few runs). The
// golden data (256 KiB) stays in the L2 cache; the Encode/mid/... runs tile it to 4 MiB (past
// the 1 MiB L2, inside the 32 MiB L3) and the Encode/big/... runs to 64 MiB, so that the copy
// and the memory-bound types (F16, BF16, legacy plain) run at L3 and at DRAM speed, as they do
// on a real model.
//
//   qs_bench_encode --benchmark_min_time=0.2
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "formats/codecs/iqgrid/iqgrid.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "parallel/parallel.h"

namespace {

using qs::formats::TensorType;

constexpr int64_t kCols = 4096;

std::vector<float> readFloats(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(f),
                                  std::istreambuf_iterator<char>()};
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

const std::vector<float>& weights() {
    static const std::vector<float> w =
        readFloats(std::string(QS_TEST_DATA_DIR) + "/golden/weights.f32");
    return w;
}

/// The data sets: the golden weights (256 KiB, in L2), tiled to 4 MiB (L3) and to 64 MiB.
enum class Size { Golden = 0, Mid = 1, Big = 2 };

/// The golden weights tiled `times` times (rows of kCols).
std::vector<float> tiled(int times) {
    const auto& g = weights();
    std::vector<float> out;
    if (g.empty()) return out;
    out.reserve(g.size() * size_t(times));
    for (int k = 0; k < times; ++k) out.insert(out.end(), g.begin(), g.end());
    return out;
}

const std::vector<float>& dataOf(Size size) {
    static const std::vector<float> mid = tiled(16), big = tiled(256);
    return size == Size::Big ? big : size == Size::Mid ? mid : weights();
}

const std::vector<float>& imatrix() {
    static const std::vector<float> w =
        readFloats(std::string(QS_TEST_DATA_DIR) + "/golden/imatrix.f32");
    return w;
}

using GgmlQuantizeChunk = size_t (*)(int type, const float* src, void* dst, int64_t start,
                                     int64_t nrows, int64_t nPerRow, const float* imatrix);
using GgmlQuantizeInit = void (*)(int type);

void* ggmlHandle() {
    static void* h = std::filesystem::exists(QS_GGML_BASE_LIB)
                         ? dlopen(QS_GGML_BASE_LIB, RTLD_NOW | RTLD_LOCAL)
                         : nullptr;
    return h;
}

/// ggml_quantize_chunk from libggml-base.so, or nullptr if the library is missing.
GgmlQuantizeChunk ggmlQuantize() {
    static GgmlQuantizeChunk fn =
        ggmlHandle()
            ? reinterpret_cast<GgmlQuantizeChunk>(dlsym(ggmlHandle(), "ggml_quantize_chunk"))
            : nullptr;
    return fn;
}

/// ggml_quantize_init: builds the grid tables of a type (once); called before timing, as
/// prepareGridTables is for ours, so that neither side's one-time setup is measured.
void ggmlInit(TensorType t) {
    static auto fn =
        ggmlHandle() ? reinterpret_cast<GgmlQuantizeInit>(dlsym(ggmlHandle(), "ggml_quantize_init"))
                     : nullptr;
    if (fn) fn(int(t));
}

/// The probe: every row of the input copied into an output of the same size.
void copyRows(const std::vector<float>& x, std::vector<float>& out, int threads) {
    const int64_t rows = int64_t(x.size()) / kCols;
    const int64_t grain = std::max<int64_t>(1, 16384 / kCols);
    qs::parallel::parallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
        std::memcpy(out.data() + begin * kCols, x.data() + begin * kCols,
                    size_t((end - begin) * kCols) * sizeof(float));
    });
}

void benchCopy(benchmark::State& state, int threads, Size size) {
    const auto& x = dataOf(size);
    std::vector<float> out(x.size());
    for (auto _ : state) {
        copyRows(x, out, threads);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * int64_t(x.size() * sizeof(float)));
}

/// Copy throughput in bytes/s on `threads` threads: the best of 5 runs of 50 ms each.
double copyBytesPerSecond(int threads, Size size) {
    static double cached[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
    double& c = cached[int(size)][std::min(threads, 2)];
    if (c > 0) return c;
    const auto& x = dataOf(size);
    std::vector<float> out(x.size());
    for (int run = 0; run < 5; ++run) {
        int64_t calls = 0;
        const auto t0 = std::chrono::steady_clock::now();
        double secs = 0;
        do {
            copyRows(x, out, threads);
            benchmark::DoNotOptimize(out.data());
            ++calls;
            secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } while (secs < 0.05);
        c = std::max(c, double(calls) * double(x.size() * sizeof(float)) / secs);
    }
    return c;
}

void benchOurs(benchmark::State& state, TensorType type, bool withImatrix, int threads, Size size) {
    const auto& x = dataOf(size);
    if (x.empty()) {
        state.SkipWithError("golden weights.f32 missing");
        return;
    }
    std::vector<uint8_t> out(*qs::formats::byteSize(type, x.size()));
    const float* imp = withImatrix && size == Size::Golden ? imatrix().data() : nullptr;
    qs::formats::detail::prepareGridTables(type);
    const double copyBps = copyBytesPerSecond(threads, size);
    for (auto _ : state) {
        const auto s = qs::formats::encodeRows(type, x, out, kCols, imp, threads);
        if (!s.ok()) {
            state.SkipWithError(s.error().what().c_str());
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    const double bytes = double(state.iterations()) * double(x.size() * sizeof(float));
    state.SetBytesProcessed(int64_t(bytes));
    // A rate counter is divided by the run's time: bytes/s over the copy's bytes/s.
    state.counters["copy_frac"] = benchmark::Counter(bytes / copyBps, benchmark::Counter::kIsRate);
}

void benchGgml(benchmark::State& state, TensorType type, bool withImatrix, int threads) {
    const GgmlQuantizeChunk quantize = ggmlQuantize();
    if (!quantize) {
        state.SkipWithError("libggml-base.so not found (install tests/js node_modules)");
        return;
    }
    const auto& x = weights();
    if (x.empty()) {
        state.SkipWithError("golden weights.f32 missing");
        return;
    }
    const int64_t rows = int64_t(x.size()) / kCols;
    std::vector<uint8_t> out(*qs::formats::byteSize(type, x.size()));
    const float* imp = withImatrix ? imatrix().data() : nullptr;
    // Same chunking as encodeRows (16K values per task at least).
    const int64_t grain = std::max<int64_t>(1, 16384 / kCols);
    ggmlInit(type);
    for (auto _ : state) {
        qs::parallel::parallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
            quantize(int(type), x.data(), out.data(), begin * kCols, end - begin, kCols, imp);
        });
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * int64_t(x.size() * sizeof(float)));
}

void registerAll() {
    const TensorType types[] = {
        TensorType::F16,    TensorType::BF16,    TensorType::Q8_0,    TensorType::Q4_0,
        TensorType::Q4_1,   TensorType::Q5_0,    TensorType::Q5_1,    TensorType::Q2_K,
        TensorType::Q3_K,   TensorType::Q4_K,    TensorType::Q5_K,    TensorType::Q6_K,
        TensorType::IQ4_NL, TensorType::IQ4_XS,  TensorType::IQ2_XXS, TensorType::IQ2_XS,
        TensorType::IQ2_S,  TensorType::IQ3_XXS, TensorType::IQ3_S,   TensorType::IQ1_S,
        TensorType::IQ1_M,  TensorType::TQ1_0,   TensorType::TQ2_0,   TensorType::MXFP4,
        TensorType::NVFP4,  TensorType::Q1_0,    TensorType::Q2_0};
    for (const int threads : {1, 2}) {
        benchmark::RegisterBenchmark(("Encode/copy/threads:" + std::to_string(threads)).c_str(),
                                     benchCopy, threads, Size::Golden)
            ->UseRealTime();
    }
    for (const bool imat : {false, true}) {
        for (const TensorType t : types) {
            if (!imat && qs::formats::requiresImportance(t)) continue;  // ggml aborts
            for (const int threads : {1, 2}) {
                const std::string suffix = std::string(qs::formats::typeName(t)) +
                                           (imat ? "/imat" : "/plain") +
                                           "/threads:" + std::to_string(threads);
                benchmark::RegisterBenchmark(("Encode/ours/" + suffix).c_str(), benchOurs, t, imat,
                                             threads, Size::Golden)
                    ->UseRealTime();
                benchmark::RegisterBenchmark(("Encode/ggml/" + suffix).c_str(), benchGgml, t, imat,
                                             threads)
                    ->UseRealTime();
            }
        }
    }
    // L3- and DRAM-bound: the memory-bound types on 4 MiB and 64 MiB, beside a copy of the
    // same bytes.
    for (const auto& [size, label] : {std::pair{Size::Mid, "mid"}, std::pair{Size::Big, "big"}}) {
        for (const int threads : {1, 2}) {
            const std::string th = "/threads:" + std::to_string(threads);
            const std::string pre = std::string("Encode/") + label;
            benchmark::RegisterBenchmark((pre + "/copy" + th).c_str(), benchCopy, threads, size)
                ->UseRealTime();
            for (const TensorType t :
                 {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                  TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1}) {
                const std::string name =
                    pre + "/ours/" + std::string(qs::formats::typeName(t)) + "/plain" + th;
                benchmark::RegisterBenchmark(name.c_str(), benchOurs, t, false, threads, size)
                    ->UseRealTime();
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    registerAll();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
