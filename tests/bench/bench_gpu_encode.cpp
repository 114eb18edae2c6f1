// Encode throughput per tensor type on every Vulkan device, with the CPU engine beside it:
// ggml's golden weights (16 rows x 4096 floats, tests/data/golden/weights.f32) tiled to
// 64 rows (256K values), without and with the golden imatrix. The GPU figures include the
// upload of the floats and the readback of the bytes (each encodeRows call is a whole job, as
// the engine issues it); the pipeline is built before timing. Counter "weights/s".
// EncodeGpuChunks/...: a 4M-value tensor in 1 MiB chunks (16 chunks of 256K floats) on each
// device with DeviceOptions::overlapChunks off and on, to measure the double buffering.
// Reduce/...: the backends' histogram (256 bins) and error sums (with importance) over the same
// 4M values.
//
//   qs_bench_gpu_encode --benchmark_min_time=0.5 [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "device_list.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "quant/backend.h"
#include "stats/metrics.h"
#include "vulkan_backend.h"

namespace {

using qs::formats::TensorType;

constexpr int64_t kCols = 4096;
constexpr int64_t kTile = 4;  // 16 golden rows x 4 = 64 rows

std::vector<float> readFloats(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(f),
                                  std::istreambuf_iterator<char>()};
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

const std::vector<float>& weights() {
    static const std::vector<float> w = [] {
        const auto g = readFloats(std::string(QS_TEST_DATA_DIR) + "/golden/weights.f32");
        std::vector<float> out;
        for (int k = 0; k < kTile; ++k) out.insert(out.end(), g.begin(), g.end());
        return out;
    }();
    return w;
}

const std::vector<float>& imatrix() {
    static const std::vector<float> w =
        readFloats(std::string(QS_TEST_DATA_DIR) + "/golden/imatrix.f32");
    return w;
}

void benchBackend(benchmark::State& state, qs::quant::Backend* backend, TensorType type,
                  bool withImatrix) {
    const auto& x = weights();
    if (x.empty() || imatrix().size() != size_t(kCols)) {
        state.SkipWithError("golden weights.f32 / imatrix.f32 missing");
        return;
    }
    std::vector<uint8_t> out(*qs::formats::byteSize(type, x.size()));
    const float* imp = withImatrix ? imatrix().data() : nullptr;
    // Warm-up outside the timing: pipeline creation, workspace allocation.
    if (auto s = backend->encodeRows(type, x, out, kCols, imp, "bench"); !s.ok()) {
        state.SkipWithError(s.error().what().c_str());
        return;
    }
    for (auto _ : state) {
        const auto s = backend->encodeRows(type, x, out, kCols, imp, "bench");
        if (!s.ok()) {
            state.SkipWithError(s.error().what().c_str());
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["weights/s"] = benchmark::Counter(double(state.iterations()) * double(x.size()),
                                                     benchmark::Counter::kIsRate);
}

const std::vector<float>& bigWeights() {
    static const std::vector<float> w = [] {
        std::vector<float> out;
        for (int k = 0; k < 16; ++k) out.insert(out.end(), weights().begin(), weights().end());
        return out;
    }();
    return w;
}

void benchChunks(benchmark::State& state, qs::quant::Backend* backend, TensorType type) {
    const auto& x = bigWeights();
    std::vector<uint8_t> out(*qs::formats::byteSize(type, x.size()));
    if (auto s = backend->encodeRows(type, x, out, kCols, nullptr, "bench"); !s.ok()) {
        state.SkipWithError(s.error().what().c_str());
        return;
    }
    for (auto _ : state) {
        const auto s = backend->encodeRows(type, x, out, kCols, nullptr, "bench");
        if (!s.ok()) {
            state.SkipWithError(s.error().what().c_str());
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["weights/s"] = benchmark::Counter(double(state.iterations()) * double(x.size()),
                                                     benchmark::Counter::kIsRate);
}

void benchHistogram(benchmark::State& state, qs::quant::Backend* backend) {
    const auto& x = bigWeights();
    for (auto _ : state) {
        qs::stats::Histogram h(-0.5, 0.5, 256);
        if (auto s = backend->histogram(x, h); !s.ok()) {
            state.SkipWithError(s.error().what().c_str());
            break;
        }
        benchmark::DoNotOptimize(h.bins.data());
    }
    state.counters["weights/s"] = benchmark::Counter(double(state.iterations()) * double(x.size()),
                                                     benchmark::Counter::kIsRate);
}

void benchErrorSums(benchmark::State& state, qs::quant::Backend* backend) {
    const auto& x = bigWeights();
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * 0.99f;
    for (auto _ : state) {
        qs::stats::ErrorSums sums;
        if (auto s = backend->errorSums(x, y, kCols, imatrix().data(), sums); !s.ok()) {
            state.SkipWithError(s.error().what().c_str());
            break;
        }
        benchmark::DoNotOptimize(sums.sumSqErr);
    }
    state.counters["weights/s"] = benchmark::Counter(double(state.iterations()) * double(x.size()),
                                                     benchmark::Counter::kIsRate);
}

std::vector<std::unique_ptr<qs::quant::Backend>>& backends() {
    static std::vector<std::unique_ptr<qs::quant::Backend>> b;
    return b;
}

void registerAll() {
    const TensorType types[] = {TensorType::Q8_0, TensorType::Q4_0,   TensorType::Q4_K,
                                TensorType::Q2_K, TensorType::Q3_K,   TensorType::Q5_K,
                                TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};
    auto& all = backends();
    all.push_back(qs::quant::makeCpuBackend(0));
    auto devices = qs::gpu::listDevices();
    if (devices.ok()) {
        for (size_t i = 0; i < devices->size(); ++i) {
            qs::gpu::DeviceOptions o;
            o.deviceIndex = int(i);
            auto be = qs::gpu::makeVulkanBackend(o);
            if (be.ok()) all.push_back(std::move(*be));
        }
    }
    const size_t plainCount = all.size();
    if (devices.ok()) {
        for (size_t i = 0; i < devices->size(); ++i) {
            for (const bool overlap : {false, true}) {
                qs::gpu::DeviceOptions o;
                o.deviceIndex = int(i);
                o.maxChunkBytes = 1 << 20;
                o.overlapChunks = overlap;
                auto be = qs::gpu::makeVulkanBackend(o);
                if (!be.ok()) continue;
                for (const TensorType t : {TensorType::Q8_0, TensorType::Q4_K}) {
                    const std::string label = "EncodeGpuChunks/" + (*be)->name() + "/" +
                                              std::string(qs::formats::typeName(t)) +
                                              "/overlap:" + (overlap ? "1" : "0");
                    benchmark::RegisterBenchmark(label.c_str(), benchChunks, be->get(), t)
                        ->UseRealTime()
                        ->Unit(benchmark::kMillisecond);
                }
                all.push_back(std::move(*be));
            }
        }
    }
    for (size_t b = 0; b < plainCount; ++b) {
        auto& be = all[b];
        benchmark::RegisterBenchmark(("Reduce/" + be->name() + "/histogram").c_str(),
                                     benchHistogram, be.get())
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("Reduce/" + be->name() + "/error_sums").c_str(),
                                     benchErrorSums, be.get())
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        for (const bool imat : {false, true}) {
            for (const TensorType t : types) {
                if (!be->canEncode(t)) continue;
                const std::string label = "EncodeGpu/" + be->name() + "/" +
                                          std::string(qs::formats::typeName(t)) +
                                          (imat ? "/imat" : "/plain");
                benchmark::RegisterBenchmark(label.c_str(), benchBackend, be.get(), t, imat)
                    ->UseRealTime()
                    ->Unit(benchmark::kMillisecond);
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
    backends().clear();
    return 0;
}
