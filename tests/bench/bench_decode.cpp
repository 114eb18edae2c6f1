// Decode throughput per tensor type: decodeRows over ggml's golden tensors (16 rows x 4096
// values, tests/data/golden), on 1 and 2 threads. Reports values/s (items) and source bytes/s.
// Each golden tensor is decoded as is (64K values: small enough that decodeRows stays on one
// thread) and tiled 16 times (1M values, 256 rows: the size of a small real weight matrix,
// where a second thread pays off).
//
//   qs_bench_decode --benchmark_min_time=0.1
#include <benchmark/benchmark.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "formats/decode.h"
#include "formats/type_table.h"

namespace {

constexpr int64_t kCols = 4096;
constexpr int kTiles = 16;  ///< copies of a golden tensor in the large case

std::vector<uint8_t> readFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// One benchmark: decode `src` (rows of kCols values of `type`) on `threads` threads.
void benchDecode(benchmark::State& state, qs::formats::TensorType type,
                 const std::vector<uint8_t>* src, int threads) {
    const int64_t rowBytes = int64_t(*qs::formats::byteSize(type, uint64_t(kCols)));
    const int64_t rows = int64_t(src->size()) / rowBytes;
    std::vector<float> dst(size_t(rows * kCols));
    for (auto _ : state) {
        const auto s = qs::formats::decodeRows(type, *src, dst, kCols, threads);
        if (!s.ok()) {
            state.SkipWithError(s.error().what().c_str());
            break;
        }
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * rows * kCols);
    state.SetBytesProcessed(state.iterations() * int64_t(src->size()));
}

/// Register one benchmark per golden type (plain/ first, then the imatrix-only types) and
/// thread count. The sources live as long as the program.
void registerAll() {
    static std::deque<std::vector<uint8_t>> sources;  // deque: push_back keeps addresses
    const std::string root = std::string(QS_TEST_DATA_DIR) + "/golden/";
    const char* const files[] = {"plain/f16",    "plain/bf16",   "plain/q8_0",    "plain/q4_0",
                                 "plain/q4_1",   "plain/q5_0",   "plain/q5_1",    "plain/q2_K",
                                 "plain/q3_K",   "plain/q4_K",   "plain/q5_K",    "plain/q6_K",
                                 "plain/iq4_nl", "plain/iq4_xs", "plain/iq3_xxs", "plain/iq3_s",
                                 "plain/iq2_s",  "plain/iq1_m",  "plain/tq1_0",   "plain/tq2_0",
                                 "plain/mxfp4",  "imat/iq1_s",   "imat/iq2_xxs",  "imat/iq2_xs"};
    for (const char* file : files) {
        const std::string stem = std::string(file).substr(std::string(file).find('/') + 1);
        const auto type = qs::formats::typeFromName(stem);
        auto bytes = readFile(root + file + ".q");
        if (!type || bytes.empty()) {
            std::fprintf(stderr, "qs_bench_decode: missing %s%s.q\n", root.c_str(), file);
            continue;
        }
        std::vector<uint8_t> tiled;
        for (int k = 0; k < kTiles; ++k) tiled.insert(tiled.end(), bytes.begin(), bytes.end());
        sources.push_back(std::move(bytes));
        const auto* golden = &sources.back();
        sources.push_back(std::move(tiled));
        const auto* big = &sources.back();
        const std::string name = "decode/" + std::string(qs::formats::typeName(*type));
        for (const auto& [src, size] : {std::pair{golden, "64K"}, std::pair{big, "1M"}}) {
            for (int threads : {1, 2}) {
                const std::string full = name + "/" + size + "/threads:" + std::to_string(threads);
                benchmark::RegisterBenchmark(full.c_str(), benchDecode, *type, src, threads)
                    ->Unit(benchmark::kMicrosecond)
                    ->UseRealTime();
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    registerAll();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
