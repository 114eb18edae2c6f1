// Error metrics and histograms on values whose answers are known by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "stats/metrics.h"

using namespace qs::stats;

namespace {

TEST(ErrorMetrics, KnownValues) {
    const float ref[] = {1, -2, 3, 0};
    const float deq[] = {1.5f, -2, 2, 0};  // errors 0.5, 0, -1, 0
    const float w[] = {4, 1, 1, 1};
    ErrorSums s;
    s.addRow(ref, deq, 4, nullptr);
    const auto m = metricsOf(s);
    EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(1.25 / 4));
    EXPECT_DOUBLE_EQ(m.nmse, 1.25 / 14.0);
    EXPECT_DOUBLE_EQ(m.snrDb, 10 * std::log10(14.0 / 1.25));
    EXPECT_DOUBLE_EQ(m.maxAbsErr, 1.0);
    EXPECT_DOUBLE_EQ(m.cosine, (1.5 + 4 + 6) / std::sqrt(14.0 * (2.25 + 4 + 4)));
    EXPECT_DOUBLE_EQ(m.weightedNmse, m.nmse);  // no importance: weights are 1
    ErrorSums ws;
    ws.addRow(ref, deq, 4, w);
    const auto wm = metricsOf(ws);
    EXPECT_DOUBLE_EQ(wm.weightedNmse, (4 * 0.25 + 1) / (4 * 1 + 4 + 9 + 0.0));
    EXPECT_DOUBLE_EQ(wm.weightedRmse, std::sqrt((4 * 0.25 + 1) / 7.0));
    EXPECT_DOUBLE_EQ(wm.rmse, m.rmse);
}

TEST(ErrorMetrics, MergeEqualsOneRow) {
    const float ref[] = {1, 2, 3, 4, 5, 6};
    const float deq[] = {1.1f, 2, 2.9f, 4, 5.2f, 6};
    ErrorSums whole, a, b;
    whole.addRow(ref, deq, 6, nullptr);
    a.addRow(ref, deq, 3, nullptr);
    b.addRow(ref + 3, deq + 3, 3, nullptr);
    a.merge(b);
    EXPECT_NEAR(metricsOf(a).rmse, metricsOf(whole).rmse, 1e-15);
    EXPECT_EQ(a.count, 6u);
    EXPECT_DOUBLE_EQ(a.maxAbsErr, whole.maxAbsErr);
}

TEST(ErrorMetrics, LosslessIsInfiniteSnr) {
    const float x[] = {1, 2};
    ErrorSums s;
    s.addRow(x, x, 2, nullptr);
    const auto m = metricsOf(s);
    EXPECT_EQ(m.rmse, 0.0);
    EXPECT_TRUE(std::isinf(m.snrDb));
    EXPECT_DOUBLE_EQ(m.cosine, 1.0);
}

TEST(Histogram, BinsEdgesAndOutliers) {
    Histogram h(-1.0, 1.0, 4);  // bins [-1,-.5) [-.5,0) [0,.5) [.5,1)
    const float v[] = {-1.0f, -0.75f, -0.5f, 0.0f, 0.49f, 0.5f, 0.99f, 1.0f, -3.0f, NAN};
    h.add(v);
    EXPECT_EQ(h.bins, (std::vector<uint64_t>{2, 1, 2, 2}));
    EXPECT_EQ(h.underflow, 1u);
    EXPECT_EQ(h.overflow, 1u);
    EXPECT_EQ(h.nonFinite, 1u);
    EXPECT_EQ(h.total(), 10u);
    EXPECT_DOUBLE_EQ(h.edge(2), 0.0);
    auto [lo, hi] = finiteRange(v);
    EXPECT_EQ(lo, -3.0f);
    EXPECT_EQ(hi, 1.0f);
}

}  // namespace
