#pragma once
// Internal to core/quant (engine.cpp and export_pipeline.cpp): the checks every tensor of an
// export goes through, progress reporting, and the pipelined CPU export, which overlaps reading
// the source, encoding and writing the file (parallel::orderedPipeline): while one chunk is
// written, the cores encode the next ones, and the next chunks are read meanwhile. The bytes
// are those of the one-chunk-at-a-time export (rows are encoded independently of one another).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/plan.h"

namespace qs::quant::detail {

/// Progress and cancellation of a job: bytes of source done out of the total.
struct ProgressState {
    const QuantizeOptions& options;
    uint64_t done = 0;
    uint64_t total = 0;
    size_t position = 0;
    size_t count = 0;

    /// Cancelled (the token, or the callback said false) or ok; calls options.progress.
    Status report(std::string_view tensor) const;
};

/// The model's files must be the ones its plan was made for: checked before every chunk, so
/// that a file replaced, truncated or rewritten on disk ends the job with an error naming the
/// file and the tensor instead of mixing old and new bytes.
Status checkSource(const model::Model& m, const model::TensorInfo& t);

/// How one tensor is written, once checked against its planned type.
struct TensorSetup {
    bool copy = false;  ///< same type: the stored bytes as they are
    /// Importance per column (or per column and slice of rowsPerSlice rows, 3-D experts).
    const float* importance = nullptr;
    int64_t rowsPerSlice = 0;
    uint64_t srcRowBytes = 0;
    uint64_t dstRowBytes = 0;
};

/// The checks of a tensor before any of it is encoded: an encoder for the type (options.backend
/// or the CPU), rows the type's blocks divide, a decodable source, an imatrix entry of a usable
/// size. A tensor without an imatrix entry is encoded without importance and adds a warning.
Result<TensorSetup> setupTensor(const model::Model& m, size_t index, formats::TensorType type,
                                const QuantizeOptions& o, std::vector<std::string>* warnings);

/// Write the tensors of every shard (each opened before its first tensor and finished after
/// its last; the caller publishes them) on the CPU, reading, encoding and writing overlapped.
/// `o.backend` must be null. On error or cancellation the error of the first chunk (in file
/// order) that failed is returned and nothing is published. Fills summary.tensors, .shards,
/// .warnings, .notes and .stages.
Status exportPipelined(const model::Model& m, const Plan& plan, std::vector<ExportShard>& shards,
                       const QuantizeOptions& o, ExportSummary& summary);

}  // namespace qs::quant::detail
