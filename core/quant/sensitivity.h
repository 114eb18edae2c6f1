#pragma once
// The sensitivity atlas: for every quantizable tensor of a model and every candidate type, the
// error that tensor would get in that type, with the same encoders and decoders as the export
// (the bytes are those quantizeTensor writes) and the same sums as the engine's metrics.
//
// Two modes: exact (every row) and sampled: `sampleRows` rows drawn with probability
// proportional to their importance-weighted energy sum w x^2 (systematic PPS; one cheap decode
// pass finds the energies), the estimate being the mean relative row error over the sample and
// its standard error the sample's standard deviation over sqrt(n). Measurements are cached on disk,
// one small JSON file per tensor content and settings, so that reopening a model costs a hash of
// its data; a cache file that cannot be read or does not match its key is ignored and rewritten.
//
// The table is what the optimizer, the GUI heatmap and `quantscope-cli plan` read: it is a plain
// value, reusable across re-solves.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/sampled_error.h"

namespace qs::quant {

/// The error of one tensor in one candidate type.
struct SensitivityCell {
    formats::TensorType requested = formats::TensorType::F16;  ///< candidate as asked
    formats::TensorType type = formats::TensorType::F16;       ///< after the shape fallback
    bool valid = false;         ///< false when the type cannot be written for this tensor
    uint64_t bytes = 0;         ///< bytes of the tensor's data in `type` (unpadded)
    double nmse = 0;            ///< sum e^2 / sum x^2
    double weightedNmse = 0;    ///< sum w e^2 / sum w x^2 (= nmse without an imatrix)
    double stdError = 0;        ///< standard error of weightedNmse (0 in exact mode)
    uint64_t rowsMeasured = 0;  ///< rows the estimate is made of
};

struct TensorSensitivity {
    size_t index = 0;          ///< tensor index in the model
    bool quantizable = false;  ///< allowsQuantization(); other tensors have no cells
    bool fromCache = false;    ///< every cell came from the disk cache
    /// Measured by the shared sampler on a sample of its rows (TensorErrorEstimate::sampled):
    /// a large tensor under SensitivityOptions::sampleLarge, or any under sharedCache.
    bool sampled = false;
    std::vector<SensitivityCell> cells;  ///< one per SensitivityTable::types, same order
};

struct SensitivityTable {
    std::vector<formats::TensorType> types;  ///< the candidate (requested) types
    std::vector<TensorSensitivity> tensors;  ///< one per model tensor, model order
    bool exact = false;
    bool weighted = false;      ///< measured with an imatrix
    uint64_t rowsMeasured = 0;  ///< rows decoded and quantized (cache misses)
    size_t cacheHits = 0;       ///< tensors served from the cache
    size_t sampledTensors = 0;  ///< tensors with `sampled` set
    double seconds = 0;

    /// The cell of tensor `index` for candidate `requested`, or nullptr.
    const SensitivityCell* cell(size_t index, formats::TensorType requested) const;
};

struct SensitivityOptions {
    /// Candidate types as a user asks for them; each is mapped through the shape fallback per
    /// tensor. Empty = defaultCandidateTypes().
    std::vector<formats::TensorType> types;
    const Imatrix* imatrix = nullptr;
    bool exact = false;
    int64_t sampleRows = 64;  ///< rows per tensor in sampled mode (all rows when fewer)
    uint64_t seed = 1;        ///< sample draw; the result never depends on threads
    int threads = 0;
    bool useCache = true;
    std::string cacheDir;  ///< empty = defaultCacheDir()
    const CancelToken* cancel = nullptr;
    ProgressFn progress;  ///< bytes of source data measured out of the total
    /// The error atlas's sampler and cache (quant/sampled_error.h). When set, every cell is
    /// estimateTensorErrorCached(type) with `sharedSampling` (every row when `exact`): only the
    /// sampled rows are read (no whole-tensor pass, no disk cache, no PPS draw), and a cell the
    /// atlas or `stats --all` measured before with the same sampling and imatrix is a cache hit,
    /// as is, for them, a cell measured here. sampleRows and seed are then sharedSampling's.
    ErrorEstimateCache* sharedCache = nullptr;
    ErrorSampling sharedSampling;
    /// Without a sharedCache: tensors of more than sharedSampling.exactBelowValues values are
    /// measured as under sharedCache (the atlas's sampler, only the sampled rows read, no cache),
    /// the smaller ones as without it, so that a model whose tensors are all small gets the same
    /// table either way. What `plan` and `quantize --target-*` do unless --exact; ignored when
    /// `exact`.
    bool sampleLarge = false;
};

/// The types the optimizer considers by default: every type we write that llama.cpp's presets
/// use (K-quants, the legacy quants, IQ4_NL / IQ4_XS, Q8_0, F16).
std::vector<formats::TensorType> defaultCandidateTypes();

/// $XDG_CACHE_HOME/quantscope, else $HOME/.cache/quantscope, else the system temp directory's
/// quantscope folder.
std::string defaultCacheDir();

/// Measure every quantizable tensor of `model` in every candidate type. Errors: bad options,
/// an imatrix entry of the wrong length, non-finite weights, cancellation.
Result<SensitivityTable> measureSensitivity(const model::Model& model,
                                            const SensitivityOptions& options);

/// 64-bit content hash used by the cache keys (fast, not cryptographic).
uint64_t contentHash(const void* data, size_t size, uint64_t seed = 0);

}  // namespace qs::quant
