// quant::Backend's reductions on the CPU: the defaults are core/stats itself, and the CPU
// backend's parallel error sums equal the serial row-by-row sums exactly for any thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "quant/backend.h"
#include "stats/metrics.h"

namespace qs::quant {
namespace {

/// A backend that only has the interface's defaults (it is never asked to encode or decode).
class DefaultsOnly final : public Backend {
public:
    std::string name() const override { return "defaults"; }
    bool canEncode(formats::TensorType) const override { return false; }
    bool canDecode(formats::TensorType) const override { return false; }
    Status decodeRows(formats::TensorType, std::span<const uint8_t>, std::span<float>, int64_t,
                      const std::string&) override {
        return makeError(ErrorCode::BadUsage, "no codecs");
    }
    Status encodeRows(formats::TensorType, std::span<const float>, std::span<uint8_t>, int64_t,
                      const float*, const std::string&) override {
        return makeError(ErrorCode::BadUsage, "no codecs");
    }
};

struct Data {
    std::vector<float> ref, deq, imp;
};

Data makeData(int64_t rows, int64_t rowLength) {
    std::mt19937 rng(9);
    std::student_t_distribution<float> heavy(3.0f);
    Data d;
    for (int64_t i = 0; i < rows * rowLength; ++i) {
        const float x = heavy(rng) * 0.02f;
        d.ref.push_back(x);
        d.deq.push_back(x + heavy(rng) * 1e-3f);
    }
    for (int64_t j = 0; j < rowLength; ++j) d.imp.push_back(std::fabs(heavy(rng)));
    return d;
}

stats::ErrorSums serial(const Data& d, int64_t rowLength, const float* imp) {
    stats::ErrorSums s;
    for (size_t r = 0; r < d.ref.size() / size_t(rowLength); ++r) {
        stats::ErrorSums row;
        row.addRow(d.ref.data() + r * rowLength, d.deq.data() + r * rowLength, rowLength, imp);
        s.merge(row);
    }
    return s;
}

bool sameBits(const stats::ErrorSums& a, const stats::ErrorSums& b) {
    return a.count == b.count && std::memcmp(&a.sumSqRef, &b.sumSqRef, 8) == 0 &&
           std::memcmp(&a.sumSqDeq, &b.sumSqDeq, 8) == 0 &&
           std::memcmp(&a.sumSqErr, &b.sumSqErr, 8) == 0 && std::memcmp(&a.dot, &b.dot, 8) == 0 &&
           std::memcmp(&a.wSumSqErr, &b.wSumSqErr, 8) == 0 &&
           std::memcmp(&a.wSumSqRef, &b.wSumSqRef, 8) == 0 &&
           std::memcmp(&a.wSum, &b.wSum, 8) == 0 && a.maxAbsErr == b.maxAbsErr;
}

TEST(BackendReductions, CpuErrorSumsEqualSerialSumsForAnyThreadCount) {
    constexpr int64_t kRow = 512;
    const Data d = makeData(37, kRow);
    for (const float* imp : {static_cast<const float*>(nullptr), d.imp.data()}) {
        const stats::ErrorSums want = serial(d, kRow, imp);
        for (int threads : {1, 2, 3}) {
            auto cpu = makeCpuBackend(threads);
            ASSERT_TRUE(cpu->hasReductions());
            stats::ErrorSums got;
            ASSERT_TRUE(cpu->errorSums(d.ref, d.deq, kRow, imp, got).ok());
            EXPECT_TRUE(sameBits(want, got)) << threads << " threads";
        }
        DefaultsOnly def;
        EXPECT_FALSE(def.hasReductions());
        stats::ErrorSums got;
        ASSERT_TRUE(def.errorSums(d.ref, d.deq, kRow, imp, got).ok());
        EXPECT_TRUE(sameBits(want, got));
    }
}

TEST(BackendReductions, HistogramDefaultIsHistogramAdd) {
    const Data d = makeData(8, 256);
    std::vector<float> v = d.ref;
    v.push_back(std::numeric_limits<float>::quiet_NaN());
    v.push_back(5.0f);
    v.push_back(-5.0f);
    stats::Histogram want(-0.1, 0.1, 40), got(-0.1, 0.1, 40);
    want.add(v);
    auto cpu = makeCpuBackend(2);
    ASSERT_TRUE(cpu->histogram(v, got).ok());
    EXPECT_EQ(want.bins, got.bins);
    EXPECT_EQ(want.underflow, got.underflow);
    EXPECT_EQ(want.overflow, got.overflow);
    EXPECT_EQ(want.nonFinite, got.nonFinite);
    EXPECT_EQ(got.total(), v.size());
}

TEST(BackendReductions, ErrorSumsRefuseMismatchedShapes) {
    auto cpu = makeCpuBackend(1);
    stats::ErrorSums s;
    std::vector<float> a(10), b(12);
    EXPECT_EQ(cpu->errorSums(a, b, 5, nullptr, s).error().code, ErrorCode::BadUsage);
    EXPECT_EQ(cpu->errorSums(a, a, 4, nullptr, s).error().code, ErrorCode::BadUsage);
    EXPECT_EQ(cpu->errorSums(a, a, 0, nullptr, s).error().code, ErrorCode::BadUsage);
    EXPECT_EQ(s.count, 0u);
}

}  // namespace
}  // namespace qs::quant
