#pragma once
// Importance matrices as llama.cpp's llama-imatrix writes them: the GGUF format (tensors
// `<name>.in_sum2` and `<name>.counts`, keys imatrix.datasets / chunk_count / chunk_size) and
// the legacy `imatrix.dat` (entries of name, ncall, values). Loaded values are what
// llama-quantize feeds its quantizers: in_sum2 / count (GGUF) or value / ncall (legacy), one
// float per input column (times the number of experts for 3-D expert tensors).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"

namespace qs::quant {

struct Imatrix {
    /// Tensor name (as in the model, e.g. "blk.0.attn_q.weight") -> importance per column.
    std::map<std::string, std::vector<float>> entries;
    std::vector<std::string> datasets;
    uint32_t chunkCount = 0;
    uint32_t chunkSize = 0;
    bool legacy = false;
    std::string path;

    /// Importance for a tensor, or nullptr when there is no entry.
    const std::vector<float>* find(const std::string& tensor) const;
};

/// Load either format (GGUF is tried first, as llama.cpp does). Errors name the file, the entry
/// and the offset: truncated data, non-finite values, mismatched sums and counts.
Result<Imatrix> loadImatrix(const std::string& path);

/// Check that an imatrix belongs to a model: every entry that names a tensor of the model has
/// the right length (row length, or row length x experts). An imatrix for another model (no
/// entry matches, or lengths differ) is an error naming the first offending tensor.
Status checkImatrixFor(const Imatrix& im, const model::Model& m);

/// Write an imatrix in llama.cpp's GGUF format (sums = values x count, counts = count) or the
/// legacy format. Used by tests and by tools that compute importances.
Status saveImatrixGguf(const Imatrix& im, const std::string& path, float count = 1.0f);
Status saveImatrixLegacy(const Imatrix& im, const std::string& path, int32_t ncall = 1);

}  // namespace qs::quant
