// Re-solve time of the budget optimizer's knapsack: 1,000 tensors x 12 types, sizes and errors
// shaped like a real model's (bits per weight 2.6..16, error falling ~4x per bit, per-tensor
// sensitivity spread over two decades). BM_Resolve: a new budget (the slider); BM_EditResolve:
// an edit (one tensor's options change, so hulls and segment order are rebuilt) then a solve.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "quant/knapsack.h"

namespace {

using qs::quant::KnapsackItem;
using qs::quant::KnapsackOption;
using qs::quant::KnapsackSolver;

std::vector<KnapsackItem> makeItems(int tensors, int types, uint64_t seed) {
    static const double kBpw[] = {2.625, 3.4375, 4.5, 4.5,  5.0, 5.5,
                                  6.0,   6.5625, 8.5, 4.25, 4.5, 16};
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> sens(0.0, 1.2), noise(0.0, 0.15);
    std::uniform_int_distribution<int> dim(1, 8);
    std::vector<KnapsackItem> items(static_cast<size_t>(tensors));
    for (auto& it : items) {
        const double params = 256.0 * 256 * dim(rng) * dim(rng);
        const double s = sens(rng);
        for (int k = 0; k < types; ++k) {
            const double bpw = kBpw[k % 12];
            KnapsackOption o;
            o.cost = uint64_t(std::ceil(params * bpw / 8 / 32) * 32);
            o.error = params * s * std::pow(4.0, -bpw) * noise(rng);
            it.options.push_back(o);
        }
    }
    return items;
}

void BM_Resolve(benchmark::State& state) {
    const KnapsackSolver solver(makeItems(int(state.range(0)), int(state.range(1)), 1));
    std::mt19937_64 rng(2);
    std::uniform_int_distribution<uint64_t> budget(solver.minCost(), solver.maxCost());
    for (auto _ : state) {
        auto s = solver.solve(budget(rng));
        benchmark::DoNotOptimize(s.error);
    }
}
BENCHMARK(BM_Resolve)->Args({1000, 12})->Args({300, 12})->Unit(benchmark::kMillisecond);

void BM_EditResolve(benchmark::State& state) {
    auto items = makeItems(int(state.range(0)), int(state.range(1)), 1);
    const uint64_t mid = [&] {
        KnapsackSolver s(items);
        return (s.minCost() + s.maxCost()) / 2;
    }();
    std::mt19937_64 rng(3);
    for (auto _ : state) {
        // The edit: one tensor locked to one option (its item has one choice left).
        auto edited = items;
        auto& it = edited[size_t(rng() % edited.size())];
        it.options = {it.options[rng() % it.options.size()]};
        KnapsackSolver solver(std::move(edited));
        auto s = solver.solve(mid);
        benchmark::DoNotOptimize(s.error);
    }
}
BENCHMARK(BM_EditResolve)->Args({1000, 12})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
