#pragma once
// Whole-tensor decoding: any GGUF tensor type to float32, row by row, in parallel.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::formats {

/// Decode the rows of `src` (rows of `rowLength` values of `type`, back to back, exactly as a
/// GGUF tensor stores them) into the first rows * rowLength floats of `dst`. The row count is
/// src.size() / (bytes per row). Runs on `threads` threads (0 = all cores) over chunks of whole
/// rows; the result does not depend on the thread count. Reads `src` in place (no copy).
/// Returns a BadInput Error naming `tensorName` if rowLength is not a positive multiple of the
/// type's block size, src is not a whole number of rows, dst is too small, or the type has no
/// decoder.
Status decodeRows(TensorType type, std::span<const uint8_t> src, std::span<float> dst,
                  int64_t rowLength, int threads, const std::string& tensorName = {});

/// Decode exactly `nRows` rows of `rowLength` values into a new vector. Like decodeRows, but
/// src.size() must also equal the byte size of nRows rows.
Result<std::vector<float>> decodeToFloat(TensorType type, std::span<const uint8_t> src,
                                         int64_t rowLength, int64_t nRows, int threads,
                                         const std::string& tensorName = {});

}  // namespace qs::formats
