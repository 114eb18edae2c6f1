#pragma once
// Quantization error metrics and histograms. Accumulators are mergeable and summed in a fixed
// order (per row in double, rows joined in row order), so results are bit-identical for any
// thread count.

#include <cstdint>
#include <span>
#include <vector>

namespace qs::stats {

/// Sums from which every error metric follows. `add` one row at a time, `merge` in order.
struct ErrorSums {
    uint64_t count = 0;
    double sumSqRef = 0;   ///< sum x^2
    double sumSqDeq = 0;   ///< sum y^2
    double sumSqErr = 0;   ///< sum (y - x)^2
    double dot = 0;        ///< sum x y
    double wSumSqErr = 0;  ///< sum w_j (y - x)^2   (w = importance of column j)
    double wSumSqRef = 0;  ///< sum w_j x^2
    double wSum = 0;       ///< sum w_j over every value
    double maxAbsErr = 0;

    /// Accumulate one row: ref (original), deq (decoded after quantization), importance (per
    /// column, may be empty = all ones).
    void addRow(const float* ref, const float* deq, int64_t n, const float* importance);
    void merge(const ErrorSums& o);
};

/// The metrics a user reads.
struct ErrorMetrics {
    double rmse = 0;
    double nmse = 0;    ///< sum e^2 / sum x^2
    double snrDb = 0;   ///< 10 log10(sum x^2 / sum e^2); +inf when lossless
    double cosine = 1;  ///< cosine similarity of original and decoded
    double maxAbsErr = 0;
    double weightedNmse = 0;  ///< sum w e^2 / sum w x^2 (equals nmse without an imatrix)
    double weightedRmse = 0;  ///< sqrt(sum w e^2 / sum w), llama.cpp's golden-vector measure
};

ErrorMetrics metricsOf(const ErrorSums& s);

/// A fixed-bin histogram over [lo, hi); values outside go to underflow/overflow.
struct Histogram {
    double lo = -1, hi = 1;
    std::vector<uint64_t> bins;
    uint64_t underflow = 0, overflow = 0, nonFinite = 0;

    Histogram() = default;
    Histogram(double lo_, double hi_, int nBins) : lo(lo_), hi(hi_), bins(size_t(nBins), 0) {}
    void add(std::span<const float> values);
    void merge(const Histogram& o);
    uint64_t total() const;
    /// Left edge of bin i.
    double edge(size_t i) const { return lo + (hi - lo) * double(i) / double(bins.size()); }
};

/// Range [min, max] of finite values (0,0 when none).
std::pair<float, float> finiteRange(std::span<const float> values);

}  // namespace qs::stats
