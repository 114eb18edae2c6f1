#include "quant/analysis.h"

#include <algorithm>
#include <cmath>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "quant/imatrix.h"

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
    // A tensor of more than kWholeValues values (405B: up to 2.1 billion) is analysed on rows
    // spread evenly over it, kWholeValues values in all: histograms of a sample, so that memory
    // stays bounded (the whole tensor as floats would be 4 bytes a value, several times over).
    const int64_t rowLength = t.rowLength();
    const int64_t allRows = t.rowCount();
    const int64_t kept =
        uint64_t(t.nElements) > kWholeValues
            ? std::clamp<int64_t>(int64_t(kWholeValues) / std::max<int64_t>(1, rowLength), 1,
                                  allRows)
            : allRows;
    std::vector<int64_t> rowsKept;
    std::vector<uint8_t> scratch;
    Result<std::span<const uint8_t>> bytes = std::span<const uint8_t>{};
    std::vector<uint8_t> sampleBytes;
    if (kept == allRows) {
        bytes = m.copyRows(t, 0, allRows, scratch);
        if (!bytes) return bytes.error();
    } else {
        for (int64_t k = 0; k < kept; ++k) {
            const int64_t r = k * allRows / kept;
            auto row = m.copyRows(t, r, 1, scratch);
            if (!row) return row.error();
            sampleBytes.insert(sampleBytes.end(), row->begin(), row->end());
            rowsKept.push_back(r);
        }
        bytes = std::span<const uint8_t>(sampleBytes);
    }
    m.releaseTensor(t);  // the copy is ours: the map's pages can go
    auto ref = formats::decodeToFloat(t.type, *bytes, rowLength, kept, options.threads, t.name);
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
    Result<std::vector<float>> deq = std::vector<float>{};
    if (rowsKept.empty()) {
        auto res = quantizeTensor(m, index, *type, options, &q);
        if (!res) return res.error();
        a.metrics = res->metrics;
        a.bytes = res->bytes;
        deq = formats::decodeToFloat(*type, q, rowLength, allRows, options.threads, t.name);
    } else {
        // The sampled rows, each with its importance (per column, or per column and expert).
        const auto rowBytes = formats::byteSize(*type, uint64_t(rowLength));
        if (!rowBytes || *type == t.type || !formats::canEncode(*type)) {
            return makeError(
                ErrorCode::BadUsage,
                "cannot analyse " + std::string(formats::typeName(*type)) + " for this tensor",
                m.path(), t.offset, t.name);
        }
        const std::vector<float>* im = options.imatrix ? options.imatrix->find(t.name) : nullptr;
        const int64_t perSlice = t.shape.size() == 3 ? t.shape[1] : allRows;
        q.resize(size_t(*rowBytes));
        deq = std::vector<float>(ref->size());
        stats::ErrorSums sums;
        for (size_t k = 0; k < rowsKept.size(); ++k) {
            const float* imp = nullptr;
            if (im && int64_t(im->size()) == rowLength) imp = im->data();
            if (im && int64_t(im->size()) > rowLength &&
                int64_t(im->size()) >= (rowsKept[k] / perSlice + 1) * rowLength) {
                imp = im->data() + (rowsKept[k] / perSlice) * rowLength;
            }
            const std::span<const float> row(ref->data() + k * size_t(rowLength),
                                             size_t(rowLength));
            const std::span<float> out(deq->data() + k * size_t(rowLength), size_t(rowLength));
            QS_TRY(formats::encodeRows(*type, row, q, rowLength, imp, 1, t.name));
            QS_TRY(formats::decodeRows(*type, q, out, rowLength, 1, t.name));
            sums.addRow(row.data(), out.data(), rowLength, imp);
        }
        a.metrics = stats::metricsOf(sums);
        a.bytes = *formats::byteSize(*type, uint64_t(t.nElements));
    }
    a.type = *type;
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
