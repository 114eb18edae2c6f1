#include "formats/decode.h"

#include <algorithm>

#include "parallel/parallel.h"

namespace qs::formats {

namespace {

/// Values per parallel chunk, at least. Each parallel call pays for a task arena (tens to
/// hundreds of microseconds), so tensors up to this size decode on the calling thread; larger
/// ones split into chunks big enough (~20-100 us of work) that scheduling costs little.
constexpr int64_t kValuesPerChunk = 1 << 16;

Error badInput(const std::string& tensorName, const std::string& message) {
    return makeError(ErrorCode::BadInput, message, {}, kNoOffset, tensorName);
}

/// Bytes per row of `rowLength` values, or an Error.
Result<int64_t> rowBytesOf(const TypeTraits& t, int64_t rowLength, const std::string& name) {
    if (!t.decode) {
        return badInput(name, "cannot decode tensor type " + std::string(t.name));
    }
    if (rowLength <= 0 || rowLength % t.blockSize != 0) {
        return badInput(name, "row length " + std::to_string(rowLength) +
                                  " is not a positive multiple of the " + std::string(t.name) +
                                  " block size " + std::to_string(t.blockSize));
    }
    const auto bytes = byteSize(t.type, uint64_t(rowLength));
    if (!bytes || *bytes > uint64_t(INT64_MAX)) {
        return badInput(name, "row length " + std::to_string(rowLength) + " is too large");
    }
    return int64_t(*bytes);
}

}  // namespace

Status decodeRows(TensorType type, std::span<const uint8_t> src, std::span<float> dst,
                  int64_t rowLength, int threads, const std::string& tensorName) {
    const TypeTraits& t = traits(type);
    auto rowBytesR = rowBytesOf(t, rowLength, tensorName);
    if (!rowBytesR) return rowBytesR.error();
    const int64_t rowBytes = *rowBytesR;

    if (src.size() % uint64_t(rowBytes) != 0) {
        return badInput(tensorName, std::string(t.name) + " data of " + std::to_string(src.size()) +
                                        " bytes is not a whole number of rows of " +
                                        std::to_string(rowBytes) + " bytes");
    }
    const int64_t rows = int64_t(src.size() / uint64_t(rowBytes));
    if (uint64_t(rows) > dst.size() / uint64_t(rowLength)) {
        return badInput(tensorName, "output of " + std::to_string(dst.size()) +
                                        " floats is too small for " + std::to_string(rows) +
                                        " rows of " + std::to_string(rowLength));
    }

    // Chunks of whole rows: each writes its own slice of dst and reads its own slice of src.
    const int64_t grain = std::max<int64_t>(1, kValuesPerChunk / rowLength);
    const DecodeFn decode = t.decode;
    const uint8_t* in = src.data();
    float* out = dst.data();
    parallel::parallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
        decode(in + begin * rowBytes, out + begin * rowLength, (end - begin) * rowLength);
    });
    return {};
}

Result<std::vector<float>> decodeToFloat(TensorType type, std::span<const uint8_t> src,
                                         int64_t rowLength, int64_t nRows, int threads,
                                         const std::string& tensorName) {
    const TypeTraits& t = traits(type);
    auto rowBytesR = rowBytesOf(t, rowLength, tensorName);
    if (!rowBytesR) return rowBytesR.error();
    if (nRows < 0 || (nRows > 0 && *rowBytesR > INT64_MAX / nRows) ||
        (nRows > 0 && rowLength > INT64_MAX / nRows)) {
        return badInput(tensorName, "row count " + std::to_string(nRows) + " is invalid");
    }
    const uint64_t expected = uint64_t(*rowBytesR * nRows);
    if (src.size() != expected) {
        return badInput(tensorName, std::string(t.name) + " data is " + std::to_string(src.size()) +
                                        " bytes, expected " + std::to_string(expected) + " for " +
                                        std::to_string(nRows) + " rows of " +
                                        std::to_string(rowLength));
    }
    std::vector<float> out(size_t(rowLength * nRows));
    QS_TRY(decodeRows(type, src, out, rowLength, threads, tensorName));
    return out;
}

}  // namespace qs::formats
