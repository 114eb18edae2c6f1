#pragma once
// Analysis of one tensor for the plots and `quantscope-cli stats`: the histogram of its
// weights, and for a candidate type the decoded-after-quantization histogram, the error
// histogram and the error metrics. Two passes over the tensor so that every histogram has the
// exact range of its data.

#include <cstdint>
#include <optional>

#include "common/result.h"
#include "model/model.h"
#include "quant/engine.h"
#include "stats/metrics.h"

namespace qs::quant {

struct TensorAnalysis {
    size_t index = 0;
    stats::Histogram original;  ///< weights as stored (decoded to float)
    float min = 0, max = 0;     ///< finite range of the weights
    double mean = 0, stddev = 0;
    std::optional<formats::TensorType> type;  ///< candidate type, when asked
    stats::Histogram decoded;                 ///< same bins as `original`
    stats::Histogram error;                   ///< symmetric range +-max |error|
    stats::ErrorMetrics metrics;
    uint64_t bytes = 0;  ///< size in the candidate type
};

/// Tensors above this many values are analysed on kWholeValues values' worth of rows spread
/// evenly over the tensor (histograms and metrics of that sample), so memory stays bounded.
inline constexpr uint64_t kWholeValues = uint64_t(1) << 24;

/// Analyse tensor `index`; with `type`, quantize it (with the imatrix in `options`, if any) and
/// measure. `bins` >= 1.
Result<TensorAnalysis> analyzeTensor(const model::Model& m, size_t index,
                                     std::optional<formats::TensorType> type, int bins,
                                     const QuantizeOptions& options);

}  // namespace qs::quant
