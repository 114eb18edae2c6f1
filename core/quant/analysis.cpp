#include "quant/analysis.h"

#include <algorithm>
#include <cmath>

#include "formats/decode.h"

namespace qs::quant {

Result<TensorAnalysis> analyzeTensor(const model::Model& m, size_t index,
                                     std::optional<formats::TensorType> type, int bins,
                                     const QuantizeOptions& options) {
    if (index >= m.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "tensor index out of range", m.path());
    }
    if (bins < 1 || bins > 1 << 20) {
        return makeError(ErrorCode::BadUsage, "histogram bins must be between 1 and 1048576");
    }
    const auto& t = m.tensors()[index];
    // A guarded copy, not a view into the map: a file truncated under us is an error naming
    // the file, tensor and offset (docs/ROBUSTNESS.md), and a changed one is refused.
    if (auto st = m.checkUnchanged(); !st) {
        st.error().tensor = t.name;
        return st.error();
    }
    std::vector<uint8_t> scratch;
    auto bytes = m.copyRows(t, 0, t.rowCount(), scratch);
    if (!bytes) return bytes.error();
    m.releaseTensor(t);  // the copy is ours: the map's pages can go
    auto ref = formats::decodeToFloat(t.type, *bytes, t.rowLength(), t.rowCount(), options.threads,
                                      t.name);
    if (!ref) {
        ref.error().file = m.path();
        return ref.error();
    }
    // Histograms on the backend's reduction when it has one (identical counts), else here.
    Backend* red = options.backend && options.backend->hasReductions() ? options.backend : nullptr;
    auto fill = [&](stats::Histogram& h, std::span<const float> values) -> Status {
        if (red) return red->histogram(values, h);
        h.add(values);
        return {};
    };
    TensorAnalysis a;
    a.index = index;
    auto [lo, hi] = stats::finiteRange(*ref);
    a.min = lo;
    a.max = hi;
    double sum = 0, sumSq = 0;
    for (float v : *ref) {
        if (std::isfinite(v)) {
            sum += v;
            sumSq += double(v) * v;
        }
    }
    const double n = double(std::max<size_t>(1, ref->size()));
    a.mean = sum / n;
    a.stddev = std::sqrt(std::max(0.0, sumSq / n - a.mean * a.mean));
    // A symmetric range keeps 0 on a bin edge, which is how weights are read.
    const double r = std::max({std::fabs(double(lo)), std::fabs(double(hi)), 1e-30});
    const double edge = std::nextafter(r, INFINITY);
    a.original = stats::Histogram(-edge, edge, bins);
    QS_TRY(fill(a.original, *ref));
    if (!type) return a;

    std::vector<uint8_t> q;
    auto res = quantizeTensor(m, index, *type, options, &q);
    if (!res) return res.error();
    a.type = *type;
    a.metrics = res->metrics;
    a.bytes = res->bytes;
    auto deq =
        formats::decodeToFloat(*type, q, t.rowLength(), t.rowCount(), options.threads, t.name);
    if (!deq) return deq.error();
    a.decoded = stats::Histogram(-edge, edge, bins);
    QS_TRY(fill(a.decoded, *deq));
    double maxErr = 0;
    for (size_t i = 0; i < deq->size(); ++i) {
        maxErr = std::max(maxErr, std::fabs(double((*deq)[i]) - double((*ref)[i])));
    }
    const double eEdge = std::nextafter(std::max(maxErr, 1e-30), INFINITY);
    a.error = stats::Histogram(-eEdge, eEdge, bins);
    std::vector<float> err(deq->size());
    for (size_t i = 0; i < err.size(); ++i) err[i] = (*deq)[i] - (*ref)[i];
    QS_TRY(fill(a.error, err));
    return a;
}

}  // namespace qs::quant
