// Default (CPU, single-threaded) reductions of quant::Backend: the core/stats code itself.
#include "quant/backend.h"

#include <string>

namespace qs::quant {

Status Backend::histogram(std::span<const float> values, stats::Histogram& hist) {
    hist.add(values);
    return {};
}

Status Backend::errorSums(std::span<const float> ref, std::span<const float> deq, int64_t rowLength,
                          const float* importance, stats::ErrorSums& sums) {
    if (rowLength <= 0 || ref.size() != deq.size() || int64_t(ref.size()) % rowLength != 0) {
        return makeError(ErrorCode::BadUsage, "error sums need equal spans of whole rows of " +
                                                  std::to_string(rowLength) + " values");
    }
    const int64_t rows = int64_t(ref.size()) / rowLength;
    for (int64_t r = 0; r < rows; ++r) {
        stats::ErrorSums row;
        row.addRow(ref.data() + r * rowLength, deq.data() + r * rowLength, rowLength, importance);
        sums.merge(row);
    }
    return {};
}

}  // namespace qs::quant
