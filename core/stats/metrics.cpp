#include "stats/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::stats {

void ErrorSums::addRow(const float* ref, const float* deq, int64_t n, const float* importance) {
    double ssr = 0, ssd = 0, sse = 0, d = 0, wsse = 0, wssr = 0, ws = 0, mx = 0;
    for (int64_t j = 0; j < n; ++j) {
        const double x = ref[j], y = deq[j], e = y - x;
        const double w = importance ? double(importance[j]) : 1.0;
        ssr += x * x;
        ssd += y * y;
        sse += e * e;
        d += x * y;
        wsse += w * e * e;
        wssr += w * x * x;
        ws += w;
        mx = std::max(mx, std::fabs(e));
    }
    count += uint64_t(n);
    sumSqRef += ssr;
    sumSqDeq += ssd;
    sumSqErr += sse;
    dot += d;
    wSumSqErr += wsse;
    wSumSqRef += wssr;
    wSum += ws;
    maxAbsErr = std::max(maxAbsErr, mx);
}

void ErrorSums::merge(const ErrorSums& o) {
    count += o.count;
    sumSqRef += o.sumSqRef;
    sumSqDeq += o.sumSqDeq;
    sumSqErr += o.sumSqErr;
    dot += o.dot;
    wSumSqErr += o.wSumSqErr;
    wSumSqRef += o.wSumSqRef;
    wSum += o.wSum;
    maxAbsErr = std::max(maxAbsErr, o.maxAbsErr);
}

ErrorMetrics metricsOf(const ErrorSums& s) {
    ErrorMetrics m;
    if (s.count == 0) return m;
    m.rmse = std::sqrt(s.sumSqErr / double(s.count));
    m.nmse = s.sumSqRef > 0 ? s.sumSqErr / s.sumSqRef : (s.sumSqErr > 0 ? 1.0 : 0.0);
    m.snrDb = s.sumSqErr > 0 ? 10.0 * std::log10(s.sumSqRef / s.sumSqErr)
                             : std::numeric_limits<double>::infinity();
    const double denom = std::sqrt(s.sumSqRef * s.sumSqDeq);
    m.cosine = denom > 0 ? s.dot / denom : (s.sumSqRef == s.sumSqDeq ? 1.0 : 0.0);
    m.maxAbsErr = s.maxAbsErr;
    m.weightedNmse = s.wSumSqRef > 0 ? s.wSumSqErr / s.wSumSqRef : m.nmse;
    m.weightedRmse = s.wSum > 0 ? std::sqrt(s.wSumSqErr / s.wSum) : m.rmse;
    return m;
}

void Histogram::add(std::span<const float> values) {
    const double scale = double(bins.size()) / (hi - lo);
    for (float v : values) {
        if (!std::isfinite(v)) {
            ++nonFinite;
        } else if (v < lo) {
            ++underflow;
        } else if (v >= hi) {
            ++overflow;
        } else {
            size_t b = size_t((double(v) - lo) * scale);
            if (b >= bins.size()) b = bins.size() - 1;
            ++bins[b];
        }
    }
}

void Histogram::merge(const Histogram& o) {
    for (size_t i = 0; i < bins.size() && i < o.bins.size(); ++i) bins[i] += o.bins[i];
    underflow += o.underflow;
    overflow += o.overflow;
    nonFinite += o.nonFinite;
}

uint64_t Histogram::total() const {
    uint64_t t = underflow + overflow + nonFinite;
    for (auto b : bins) t += b;
    return t;
}

std::pair<float, float> finiteRange(std::span<const float> values) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (float v : values) {
        if (std::isfinite(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    }
    if (lo > hi) return {0.0f, 0.0f};
    return {lo, hi};
}

}  // namespace qs::stats
