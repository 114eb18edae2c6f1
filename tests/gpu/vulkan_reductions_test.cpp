// The Vulkan backend's reductions against core/stats on lavapipe: histograms with identical
// counts (bin edges hit exactly, NaN/Inf, out-of-range values, shared-memory and global
// counters, chunking and 2D grids) and error sums within 1e-12 relative (count and max |e|
// exact), and the tensor analysis run through the backend.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "gpu_test_util.h"
#include "model/model.h"
#include "quant/analysis.h"
#include "synth/synth.h"

namespace qs::gpu::test {
namespace {

using formats::TensorType;

/// Heavy-tailed values plus the values that decide binning: every bin's edge (as double
/// rounded to float, and its float neighbours), lo, hi, -0, NaN and infinities.
std::vector<float> probeValues(const stats::Histogram& h, size_t random, uint32_t seed) {
    std::mt19937 rng(seed);
    std::student_t_distribution<float> heavy(3.0f);
    const float span = float(h.hi - h.lo);
    std::vector<float> v;
    for (size_t i = 0; i < random; ++i) {
        v.push_back(float(h.lo) + span * 0.5f + heavy(rng) * span * 0.15f);
    }
    const size_t stride = std::max<size_t>(1, h.bins.size() / 512);  // a few hundred edges
    for (size_t i = 0; i <= h.bins.size(); i += stride) {
        const float e = float(h.edge(i));
        v.push_back(e);
        v.push_back(std::nextafter(e, INFINITY));
        v.push_back(std::nextafter(e, -INFINITY));
    }
    for (float x : {float(h.lo), float(h.hi), -0.0f, 0.0f, FLT_MAX, -FLT_MAX,
                    std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY}) {
        v.push_back(x);
    }
    return v;
}

void expectSameHistogram(const stats::Histogram& cpu, const stats::Histogram& gpu,
                         const std::string& what) {
    EXPECT_EQ(cpu.underflow, gpu.underflow) << what;
    EXPECT_EQ(cpu.overflow, gpu.overflow) << what;
    EXPECT_EQ(cpu.nonFinite, gpu.nonFinite) << what;
    ASSERT_EQ(cpu.bins.size(), gpu.bins.size());
    size_t differing = 0;
    for (size_t i = 0; i < cpu.bins.size(); ++i) differing += cpu.bins[i] != gpu.bins[i];
    EXPECT_EQ(differing, 0u) << what << ": bins differ";
}

TEST_F(VulkanFixture, HistogramCountsIdenticalToCpu) {
    m_options.maxChunkBytes = 64 << 10;  // 16K values per chunk: several chunks
    m_options.maxWorkgroupsPerDim = 2;   // and 2D grids
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    struct Range {
        double lo, hi;
        int bins;
    };
    const double e = std::nextafter(0.0731, INFINITY);
    const std::vector<Range> ranges = {{-e, e, 1},      {-e, e, 7},       {-e, e, 64},
                                       {-e, e, 4093},                     // shared counters
                                       {-e, e, 5000},   {-e, e, 100000},  // global atomics
                                       {-0.3, 1.7, 33}, {1e-3, 2e-3, 10}, {-1e30, 1e30, 16}};
    uint32_t seed = 1;
    for (const Range& r : ranges) {
        char what[96];
        std::snprintf(what, sizeof what, "[%g, %g) x %d", r.lo, r.hi, r.bins);
        stats::Histogram cpu(r.lo, r.hi, r.bins), gpu(r.lo, r.hi, r.bins);
        const std::vector<float> v = probeValues(cpu, 40000, seed++);
        cpu.add(v);
        ASSERT_TRUE(be->histogram(v, gpu).ok());
        expectSameHistogram(cpu, gpu, what);
        EXPECT_EQ(gpu.total(), v.size());
        // Accumulates like Histogram::add: a second call adds on top.
        cpu.add(v);
        ASSERT_TRUE(be->histogram(v, gpu).ok());
        expectSameHistogram(cpu, gpu, std::string(what) + " twice");
    }
}

/// Relative difference, 0 when both are 0.
double rel(double a, double b) {
    const double d = std::fabs(a - b), m = std::max(std::fabs(a), std::fabs(b));
    return m > 0 ? d / m : 0.0;
}

void expectSums(const stats::ErrorSums& c, const stats::ErrorSums& g, const std::string& what) {
    EXPECT_EQ(c.count, g.count) << what;
    EXPECT_EQ(c.maxAbsErr, g.maxAbsErr) << what;
    EXPECT_LE(rel(c.sumSqRef, g.sumSqRef), 1e-12) << what;
    EXPECT_LE(rel(c.sumSqDeq, g.sumSqDeq), 1e-12) << what;
    EXPECT_LE(rel(c.sumSqErr, g.sumSqErr), 1e-12) << what;
    EXPECT_LE(rel(c.dot, g.dot), 1e-12) << what;
    EXPECT_LE(rel(c.wSumSqErr, g.wSumSqErr), 1e-12) << what;
    EXPECT_LE(rel(c.wSumSqRef, g.wSumSqRef), 1e-12) << what;
    EXPECT_LE(rel(c.wSum, g.wSum), 1e-12) << what;
    const stats::ErrorMetrics mc = stats::metricsOf(c), mg = stats::metricsOf(g);
    EXPECT_LE(rel(mc.rmse, mg.rmse), 1e-6) << what;
    EXPECT_LE(rel(mc.snrDb, mg.snrDb), 1e-6) << what;
    EXPECT_LE(rel(mc.cosine, mg.cosine), 1e-6) << what;
    EXPECT_LE(rel(mc.weightedNmse, mg.weightedNmse), 1e-6) << what;
    EXPECT_LE(rel(mc.weightedRmse, mg.weightedRmse), 1e-6) << what;
}

TEST_F(VulkanFixture, ErrorSumsMatchCpu) {
    m_options.maxChunkBytes = 24 << 10;  // 6K values per chunk: rows of 4096 split
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    if (!be->device().limits().shaderFloat64) {
        GTEST_SKIP() << "device lacks shaderFloat64: error sums run on the CPU there";
    }
    const std::vector<float> w = readFloats(goldenDir() / "weights.f32");
    const std::vector<float> imp = readFloats(goldenDir() / "imatrix.f32");
    constexpr int64_t kRow = 4096;
    for (TensorType t : {TensorType::Q4_K, TensorType::Q8_0, TensorType::IQ4_NL}) {
        std::vector<uint8_t> q(*formats::byteSize(t, w.size()));
        ASSERT_TRUE(formats::encodeRows(t, w, q, kRow, imp.data(), 1).ok());
        std::vector<float> deq(w.size());
        ASSERT_TRUE(formats::decodeRows(t, q, deq, kRow, 1).ok());
        for (const float* importance : {static_cast<const float*>(nullptr), imp.data()}) {
            std::string what(formats::typeName(t));
            if (importance) what += " weighted";
            stats::ErrorSums cpu, gpu;
            for (int64_t r = 0; r < int64_t(w.size()) / kRow; ++r) {
                stats::ErrorSums row;
                row.addRow(w.data() + r * kRow, deq.data() + r * kRow, kRow, importance);
                cpu.merge(row);
            }
            ASSERT_TRUE(be->errorSums(w, deq, kRow, importance, gpu).ok());
            expectSums(cpu, gpu, what);
        }
    }
    // Bad shapes are refused as the CPU refuses them.
    stats::ErrorSums s;
    EXPECT_FALSE(be->errorSums(std::vector<float>(10), std::vector<float>(10), 4, nullptr, s).ok());
}

TEST_F(VulkanFixture, ReductionsOfferedOnGpusOnly) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    const char* env = std::getenv("QS_VULKAN_REDUCTIONS");
    if (!env) EXPECT_EQ(be->hasReductions(), be->device().info().type != "cpu");
    m_options.reductions = 1;
    EXPECT_TRUE(open()->hasReductions());
    m_options.reductions = 0;
    EXPECT_FALSE(open()->hasReductions());
}

TEST_F(VulkanFixture, AnalysisThroughVulkanMatchesCpu) {
    m_options.reductions = 1;  // the engine and the analysis use the device's reductions
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    ASSERT_TRUE(be->hasReductions());
    TempDir dir;
    const std::string path = (dir.path() / "tiny.gguf").string();
    synth::SynthOptions so;
    so.threads = 2;
    ASSERT_TRUE(synth::writeSynthModel(so, path).ok());
    auto model = model::openModel(path);
    ASSERT_TRUE(model.ok());
    const int64_t index = model->indexOf("blk.0.ffn_down.weight");
    ASSERT_GE(index, 0);
    quant::QuantizeOptions cpuOpt;
    cpuOpt.threads = 2;
    quant::QuantizeOptions gpuOpt = cpuOpt;
    gpuOpt.backend = be;
    for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K}) {
        auto c = quant::analyzeTensor(*model, size_t(index), t, 256, cpuOpt);
        auto g = quant::analyzeTensor(*model, size_t(index), t, 256, gpuOpt);
        ASSERT_TRUE(c.ok() && g.ok());
        const std::string what(formats::typeName(t));
        expectSameHistogram(c->original, g->original, what + " original");
        expectSameHistogram(c->decoded, g->decoded, what + " decoded");
        expectSameHistogram(c->error, g->error, what + " error");
        EXPECT_LE(rel(c->metrics.rmse, g->metrics.rmse), 1e-6);
        EXPECT_LE(rel(c->metrics.cosine, g->metrics.cosine), 1e-6);
        EXPECT_EQ(c->metrics.maxAbsErr, g->metrics.maxAbsErr);
    }
}

}  // namespace
}  // namespace qs::gpu::test
