#pragma once
// The compute backend interface the engine drives: decode rows of any type to float and encode
// float rows to a type we write. The CPU backend (oneTBB) is always there; the Vulkan backend
// (gpu/) implements the same interface and must give the same results within the tolerances of
// docs/GPU.md. A backend object is used by one job at a time.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "formats/type_table.h"
#include "stats/metrics.h"

namespace qs::quant {

class Backend {
public:
    virtual ~Backend() = default;
    /// "cpu (2 threads)", "vulkan:0 llvmpipe (LLVM 15.0.6, 256 bits)" ...
    virtual std::string name() const = 0;
    /// Whether encodeRows supports `type`.
    virtual bool canEncode(formats::TensorType type) const = 0;
    /// Whether decodeRows supports `type`.
    virtual bool canDecode(formats::TensorType type) const = 0;
    /// Decode whole rows (src.size() a multiple of the row's byte size) into dst.
    virtual Status decodeRows(formats::TensorType type, std::span<const uint8_t> src,
                              std::span<float> dst, int64_t rowLength,
                              const std::string& tensorName) = 0;
    /// Encode whole rows of `rowLength` floats into dst; `importance` (rowLength floats, may be
    /// null) weights the scale search as llama.cpp's imatrix does.
    virtual Status encodeRows(formats::TensorType type, std::span<const float> src,
                              std::span<uint8_t> dst, int64_t rowLength, const float* importance,
                              const std::string& tensorName) = 0;

    // Reductions (optional). The defaults run core/stats on the calling thread, so a backend
    // that does not override them still gives the CPU's results; the CPU backend runs them on
    // its threads, the Vulkan backend on the device.

    /// Whether histogram() and errorSums() run on this backend's own compute (callers that
    /// have the data on the CPU anyway may skip a backend that only offers the defaults).
    virtual bool hasReductions() const { return false; }
    /// Add `values` to `hist` (its range and bin count as constructed): exactly the counts of
    /// stats::Histogram::add.
    virtual Status histogram(std::span<const float> values, stats::Histogram& hist);
    /// Accumulate the error sums of decoded rows `deq` against `ref` (whole rows of
    /// rowLength; `importance` per column or null) into `sums`, as stats::ErrorSums::addRow per
    /// row merged in row order does. A backend may sum in another order: results then agree
    /// within 1e-12 relative (maxAbsErr and count exactly).
    virtual Status errorSums(std::span<const float> ref, std::span<const float> deq,
                             int64_t rowLength, const float* importance, stats::ErrorSums& sums);
};

/// The CPU backend on `threads` threads (0 = all cores).
std::unique_ptr<Backend> makeCpuBackend(int threads);

}  // namespace qs::quant
