#pragma once
// The one reader of llama.cpp's GGUF imatrix entries (`<name>.in_sum2` and `<name>.counts`,
// F32), shared by loadImatrix (importance = sum / count) and loadImatrixSums (the raw sums).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace qs::quant::detail {

/// One entry as stored: sums (columns x matrices, matrix-major) and counts (one per matrix).
struct GgufImatrixEntry {
    std::vector<float> sums;
    std::vector<float> counts;
    uint64_t sumsAt = 0;      ///< file offset of the first sum
    uint64_t countsAt = 0;    ///< file offset of the first count
    uint64_t infoOffset = 0;  ///< file offset of the sums' tensor info
};

struct GgufImatrix {
    std::map<std::string, GgufImatrixEntry> entries;  ///< by weight name
    std::vector<std::string> datasets;
    uint32_t chunkCount = 0;
    uint32_t chunkSize = 0;
};

/// The entries and keys of the GGUF imatrix at `path`, or nullopt (no error) when the file is
/// not a GGUF (then it may be a legacy imatrix.dat). Errors (naming the file, the entry and the
/// offset): an unreadable or malformed file, no entries, sums without counts or counts without
/// sums, a type other than F32, sums that do not split into the count's matrices.
Result<std::optional<GgufImatrix>> readGgufImatrix(const std::string& path);

}  // namespace qs::quant::detail
