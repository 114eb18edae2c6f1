#pragma once
// Importance matrices as raw sums, the form llama.cpp's llama-imatrix collects and writes in its
// GGUF format: per tensor the sum of squared input activations per column (`<name>.in_sum2`,
// ne = [columns, matrices]) and the rows that went into the sums (`<name>.counts`, ne = [1,
// matrices]); a 3-D expert tensor has one matrix and one count per expert, counting the tokens
// routed to it. Keys: general.type = "imatrix", imatrix.datasets, imatrix.chunk_count,
// imatrix.chunk_size. Several files merge by adding sums and counts (llama-imatrix --in-file),
// and the importance llama-quantize uses is sum / count, 1 for a matrix never reached (an
// expert no token was routed to), which is reported as a warning.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "quant/imatrix.h"

namespace qs::quant {

struct ImatrixSums {
    struct Entry {
        std::vector<double> sums;    ///< columns x matrices, matrix-major
        std::vector<double> counts;  ///< one per matrix (1 for a 2-D weight)
        int64_t columns() const {
            return counts.empty() ? 0 : int64_t(sums.size() / counts.size());
        }
    };
    std::map<std::string, Entry> entries;  ///< by weight name (blk.0.attn_q.weight)
    std::vector<std::string> datasets;
    uint32_t chunkCount = 0;
    uint32_t chunkSize = 0;
};

/// Read a GGUF imatrix (raw sums and counts) or a legacy imatrix.dat (sums = the stored values,
/// counts = its call count). Errors name the file, the entry and the byte offset.
Result<ImatrixSums> loadImatrixSums(const std::string& path);

/// Write llama.cpp's GGUF imatrix: entries in name order, in_sum2 then counts, F32.
/// The file appears complete or not at all.
Status saveImatrixSums(const ImatrixSums& im, const std::string& path);

/// Add `b` to `a` (sums and counts; datasets appended, chunk counts added). Entries must have
/// the same columns and matrices; a single count meets per-expert counts by broadcasting, as
/// llama-imatrix does. Errors name the entry.
Status mergeImatrixSums(ImatrixSums& a, const ImatrixSums& b);

/// What llama-quantize uses: sum / count per column; a matrix with count 0 gets 1.0 and a
/// warning naming the tensor and the experts never routed to.
Imatrix importanceOf(const ImatrixSums& im, std::vector<std::string>* warnings = nullptr);

/// llama-imatrix --show-statistics for one tensor: over the matrices with a count, the mean
/// squared activation per column (sum / count).
struct ImatrixTensorStats {
    std::string tensor;     ///< full name
    std::string layer;      ///< "12", or "-" outside a block
    std::string shortName;  ///< "attn_q"
    float sumSq = 0, minSq = 0, maxSq = 0, mean = 0, stddev = 0;
    float active = 0;  ///< fraction of columns above 1e-5
    int elements = 0;
    float entropy = 0, entropyNorm = 0;  ///< bits; percent of log2(elements)
    float zd = 0;                        ///< fraction of columns with a z-score above 1
    float cossim = 0;  ///< cosine similarity of the sums with the same tensor one layer up
    bool hasPrevious = false;
};
struct ImatrixLayerStats {
    int layer = -1;                                   ///< -1: tensors outside blocks
    float meanSumSq = 0, meanZd = 0, meanCossim = 0;  ///< weighted by columns
    int elements = 0;
};
struct ImatrixStatistics {
    std::vector<ImatrixTensorStats> tensors;  ///< llama.cpp's order: by short name, larger first
    std::vector<ImatrixLayerStats> layers;    ///< by layer
};
ImatrixStatistics imatrixStatistics(const ImatrixSums& im);

}  // namespace qs::quant
