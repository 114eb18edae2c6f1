#pragma once
// The quantization engine: tensor by tensor from the memory map, rows in parallel (oneTBB via
// qs::parallel), error metrics and histograms on the fly, progress and cancellation, and GGUF
// export through a temporary file. Memory stays near a few chunks of rows, not the model: a
// tensor is decoded, encoded, measured and written chunk by chunk. A CPU export overlaps the
// three (quant/export_pipeline.h): chunks of 2 MiB of floats are read, encoded on every thread
// and written in order, at most 2 x threads + 2 of them in flight. The bytes written never
// depend on the thread count or on the pipeline.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "quant/backend.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "stats/metrics.h"

namespace qs::quant {

/// Set from any thread to stop a job; the job polls it between chunks and returns Cancelled.
class CancelToken {
public:
    void cancel() { m_flag.store(true, std::memory_order_relaxed); }
    bool cancelled() const { return m_flag.load(std::memory_order_relaxed); }
    void reset() { m_flag.store(false, std::memory_order_relaxed); }

private:
    std::atomic<bool> m_flag{false};
};

/// Where a job is: bytes of source data done out of the total, and the current tensor.
struct Progress {
    uint64_t doneBytes = 0;
    uint64_t totalBytes = 0;
    size_t tensorIndex = 0;  ///< position in the job's order (0-based)
    size_t tensorCount = 0;
    std::string_view tensor;  ///< name of the tensor being worked on
};
/// Progress callback; returning false cancels the job. Called one call at a time, in order: from
/// the job's thread, or in a pipelined export from whichever of its threads writes the chunk.
using ProgressFn = std::function<bool(const Progress&)>;

/// How an export is cut into files, as llama.cpp cuts them (tools/gguf-split, llama-quantize
/// --keep-split). Shards are named `PREFIX-00001-of-0000n.gguf` (PREFIX: the output path without
/// its `.gguf`); the first holds all metadata and every shard the split keys (split.no,
/// split.count, split.tensors.count). At most one of the three may be set.
struct SplitOptions {
    /// gguf-split --split-max-size: a new shard starts when the next tensor would take the
    /// current shard's tensor data (each tensor padded to the alignment, header not counted)
    /// past this many bytes. 0 = no limit. A tensor larger than the limit gets a shard alone.
    uint64_t maxBytes = 0;
    /// gguf-split --split-max-tensors: at most this many tensors per shard. 0 = no limit.
    uint32_t maxTensors = 0;
    /// llama-quantize --keep-split: the input's shards, tensor for tensor (tensors in shard and
    /// offset order, as llama.cpp); an unsplit input gives one file at the output path, its
    /// tensors in the input's order as llama-quantize --keep-split writes them.
    bool keepSplit = false;

    bool active() const { return maxBytes > 0 || maxTensors > 0 || keepSplit; }
};

/// Parse gguf-split's SIZE syntax: an integer followed by M (10^6 bytes) or G (10^9 bytes),
/// e.g. 500M, 2G (a plain integer is taken as bytes).
Result<uint64_t> parseSplitSize(const std::string& text);

struct QuantizeOptions {
    int threads = 0;  ///< CPU threads, 0 = all cores
    /// Compute backend (not owned); null = the CPU backend on `threads`. A type the backend
    /// cannot encode or decode runs on the CPU for that tensor.
    Backend* backend = nullptr;
    const Imatrix* imatrix = nullptr;  ///< importance per column (optional)
    bool metrics = true;               ///< compute error metrics while quantizing
    const CancelToken* cancel = nullptr;
    ProgressFn progress;
    SplitOptions split;  ///< exportGguf: one file (default) or shards
    /// The encoder family; exportGguf takes the plan's. Best runs on the CPU (the GPU backend
    /// has ggml's encoders only).
    formats::Quantizer quantizer = formats::Quantizer::Ggml;
    /// exportGguf: refuse before writing anything when the target's file system has less free
    /// space than the exact size of the export (io::checkFreeSpace). Off for file systems
    /// that report their free space wrongly.
    bool spaceCheck = true;
    /// exportGguf on the CPU (no backend): read, encode and write overlapped, chunks of a few
    /// rows encoded on every thread while earlier chunks are written (the default). false: one
    /// chunk at a time, each encoded on all threads, then written. The same bytes either way.
    bool pipeline = true;
};

/// What quantizing one tensor gave.
struct TensorResult {
    size_t index = 0;  ///< tensor index in the model
    formats::TensorType type = formats::TensorType::F32;
    uint64_t bytes = 0;   ///< bytes of the quantized data
    bool copied = false;  ///< source bytes copied as they are (same type)
    bool usedImatrix = false;
    /// Chunks encoded by QuantizeOptions::backend and by the CPU (the CPU takes what the
    /// backend cannot encode, e.g. the grid i-quants on Vulkan, or a chunk it refuses).
    /// Both 0 for a copied tensor. encoderName() says which engine did the tensor.
    int64_t backendChunks = 0;
    int64_t cpuChunks = 0;
    /// "cpu", "backend" or "mixed" (chunks on both); "none" for a copied tensor.
    const char* encoderName() const {
        return backendChunks && cpuChunks ? "mixed"
               : backendChunks            ? "backend"
               : cpuChunks                ? "cpu"
                                          : "none";
    }
    stats::ErrorSums sums;
    stats::ErrorMetrics metrics;
};

/// Quantize tensor `index` of `model` to `type`. The quantized bytes are appended to `out` when
/// it is not null. Errors: a shape the type cannot hold, a type we cannot write, non-finite
/// input, cancellation.
Result<TensorResult> quantizeTensor(const model::Model& model, size_t index,
                                    formats::TensorType type, const QuantizeOptions& options,
                                    std::vector<uint8_t>* out = nullptr);

/// The GGUF writer for an export, with metadata and tensor infos declared but nothing written:
/// the input metadata (minus split.*), general.quantization_version = 2 and general.file_type
/// as llama-quantize sets them, quantize.imatrix.* when an imatrix is used, and the tensors in
/// llama.cpp's order with the planned types. Its fileSize() is the exact size of the export.
Result<std::unique_ptr<io::GgufWriter>> prepareExport(const model::Model& model, const Plan& plan,
                                                      const Imatrix* imatrix);

/// Exact size in bytes of the file exportGguf would write.
Result<uint64_t> predictFileSize(const model::Model& model, const Plan& plan,
                                 const Imatrix* imatrix = nullptr);

/// One file of an export: where it goes, its writer (metadata and tensor infos declared,
/// nothing written) and the model tensors it holds in file order.
struct ExportShard {
    std::string path;  ///< empty when no output path was given
    std::unique_ptr<io::GgufWriter> writer;
    std::vector<size_t> tensors;  ///< model tensor indices, in file order
};

/// The files of an export cut by `split` (one when split is inactive, or --keep-split of an
/// unsplit model): prepareExport's writer, cut as gguf-split cuts it, with the split keys set.
/// `outPath` may be empty (a dry run without -o): the shards then have no paths. Errors: more
/// than one split option, a split of more than 65535 files.
Result<std::vector<ExportShard>> prepareSplitExport(const model::Model& model, const Plan& plan,
                                                    const Imatrix* imatrix,
                                                    const SplitOptions& split,
                                                    const std::string& outPath);

/// What prepareSplitExport predicts for one file: its exact size before anything is written.
struct ShardPrediction {
    std::string path;
    uint64_t fileBytes = 0;
    size_t tensorCount = 0;
};
Result<std::vector<ShardPrediction>> predictShards(const model::Model& model, const Plan& plan,
                                                   const Imatrix* imatrix,
                                                   const SplitOptions& split,
                                                   const std::string& outPath);

/// One file an export wrote.
struct ShardSummary {
    std::string path;
    uint64_t fileBytes = 0;       ///< size on disk after the commit
    uint64_t predictedBytes = 0;  ///< what predictShards said before writing
    size_t tensorCount = 0;
};

/// Where an export's time went. The pipelined export (ExportSummary::pipelined) counts CPU
/// seconds of the threads that did each stage (per-thread CPU clocks, so a loaded machine does
/// not inflate them); one chunk at a time counts the wall seconds of each stage. `sync` is wall
/// time either way (mostly waiting for the disk).
struct StageSeconds {
    double read = 0;    ///< guarded copies of the source rows (page faults of the map included)
    double decode = 0;  ///< the source rows to floats (F16, BF16, a quantized source)
    double encode = 0;  ///< encoding, and the error metrics when asked
    double write = 0;   ///< handing the encoded bytes to the file (its buffers, write(2))
    double sync = 0;    ///< finishing the files: flush and fsync
};

struct ExportSummary {
    uint64_t fileBytes = 0;            ///< all files together
    std::vector<ShardSummary> shards;  ///< one per file written, in shard order
    uint64_t sourceBytes = 0;
    double seconds = 0;
    std::vector<TensorResult> tensors;  ///< in llama.cpp's tensor order
    std::vector<std::string> warnings;  ///< e.g. a tensor without an imatrix entry
    /// Things done on the way the user should hear of: stale temporary files of killed
    /// exports removed from the output folder (io::removeStaleTemporaries).
    std::vector<std::string> notes;
    /// Thread-seconds per stage; with `seconds` and the thread count, the idle share follows.
    StageSeconds stages;
    bool pipelined = false;  ///< read, encode and write overlapped (QuantizeOptions::pipeline)
};

/// Before anything is written: the model's files must be unchanged since they were opened
/// (and they are checked again before every chunk, and read through guarded copies, so a file
/// truncated or replaced during the export ends it with an error naming the file and tensor);
/// stale temporaries of killed exports are removed from the output folder (summary.notes); the
/// free space must hold the exact size (options.spaceCheck).
/// Quantize the model by `plan` into a GGUF at `outPath` (temporary file, fsync, rename), or,
/// with options.split, into shards named after outPath. On error or cancellation nothing is left
/// at outPath or beside it: every shard is written and fsynced to a temporary file first, and
/// only when all are complete are they renamed into place, the first shard (the one llama.cpp
/// loads) last. The input is never written: an output path that is an input file is refused.
Result<ExportSummary> exportGguf(const model::Model& model, const Plan& plan,
                                 const std::string& outPath, const QuantizeOptions& options);

}  // namespace qs::quant
