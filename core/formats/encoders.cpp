// Encoder dispatch and the whole-tensor driver: input validation, row-parallel encoding and
// the output check ggml performs after quantizing (ggml_validate_row_data: no NaN/Inf scale).

#include "formats/encoders.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "formats/half.h"
#include "parallel/parallel.h"

namespace qs::formats {

namespace {

struct EncoderPair {
    EncodeFn fast;
    EncodeFn reference;
};

EncoderPair encodersOf(TensorType t) {
    using namespace detail;
    switch (t) {
    case TensorType::F32: return {encodeF32, encodeF32};
    case TensorType::F16: return {encodeF16, encodeF16};
    case TensorType::BF16: return {encodeBF16, encodeBF16};
    case TensorType::Q8_0: return {encodeQ8_0, encodeQ8_0};
    case TensorType::Q4_0: return {encodeQ4_0, encodeQ4_0Ref};
    case TensorType::Q4_1: return {encodeQ4_1, encodeQ4_1Ref};
    case TensorType::Q5_0: return {encodeQ5_0, encodeQ5_0Ref};
    case TensorType::Q5_1: return {encodeQ5_1, encodeQ5_1Ref};
    case TensorType::Q2_K: return {encodeQ2_K, encodeQ2_KRef};
    case TensorType::Q3_K: return {encodeQ3_K, encodeQ3_KRef};
    case TensorType::Q4_K: return {encodeQ4_K, encodeQ4_KRef};
    case TensorType::Q5_K: return {encodeQ5_K, encodeQ5_KRef};
    case TensorType::Q6_K: return {encodeQ6_K, encodeQ6_KRef};
    case TensorType::IQ4_NL: return {encodeIQ4_NL, encodeIQ4_NLRef};
    case TensorType::IQ4_XS: return {encodeIQ4_XS, encodeIQ4_XSRef};
    default: return {nullptr, nullptr};
    }
}

/// Minimum values per parallel task (exposed to the benchmark through the same arithmetic).
constexpr int64_t kEncodeGrainValues = 16384;

/// Byte offsets of the fp16 scale fields inside one block (ggml_validate_row_data checks these
/// for NaN/Inf). Empty for F32 (validated on input) and F16/BF16 (every element is checked).
struct ScaleFields {
    int count = 0;
    int offsets[2] = {0, 0};
};

ScaleFields scaleFieldsOf(TensorType t) {
    switch (t) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS: return {1, {0, 0}};
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K: return {2, {0, 2}};
    case TensorType::Q2_K: return {2, {80, 82}};
    case TensorType::Q3_K: return {1, {108, 0}};
    case TensorType::Q6_K: return {1, {208, 0}};
    default: return {};
    }
}

inline uint16_t load16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

inline bool halfIsFinite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

/// Index of the first non-finite value of a row, or -1. The common all-finite case is one
/// branch-free (vectorisable) pass over the exponent bits.
int64_t firstNonFinite(const float* x, int64_t n) {
    uint32_t anyBad = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, x + i, sizeof bits);
        anyBad |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (!anyBad) return -1;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) return i;
    }
    return -1;
}

/// Index of the first bad value of an encoded row (a non-finite scale, or an F16/BF16 element
/// that overflowed), in units of blocks (or elements for F16/BF16), or -1.
int64_t firstBadOutput(TensorType t, const uint8_t* row, int64_t nBlocks, int64_t blockBytes) {
    if (t == TensorType::F16 || t == TensorType::BF16) {
        const uint16_t expMask = t == TensorType::F16 ? 0x7c00u : 0x7f80u;
        uint32_t anyBad = 0;
        for (int64_t i = 0; i < nBlocks; ++i) {
            anyBad |= uint32_t((load16(row + 2 * i) & expMask) == expMask);
        }
        if (!anyBad) return -1;
        for (int64_t i = 0; i < nBlocks; ++i) {
            if ((load16(row + 2 * i) & expMask) == expMask) return i;
        }
        return -1;
    }
    const ScaleFields f = scaleFieldsOf(t);
    for (int64_t b = 0; b < nBlocks; ++b) {
        for (int k = 0; k < f.count; ++k) {
            if (!halfIsFinite(load16(row + b * blockBytes + f.offsets[k]))) return b;
        }
    }
    return -1;
}

/// Lowers `slot` to `value` if smaller (the first failing row wins, whatever the schedule).
void atomicMin(std::atomic<int64_t>& slot, int64_t value) {
    int64_t cur = slot.load(std::memory_order_relaxed);
    while (value < cur && !slot.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
    }
}

Status encodeRowsWith(TensorType t, bool reference, std::span<const float> src,
                      std::span<uint8_t> dst, int64_t rowLength, const float* importance,
                      int threads, const std::string& tensorName) {
    const EncoderPair pair = encodersOf(t);
    const EncodeFn fn = reference ? pair.reference : pair.fast;
    const std::string name(typeName(t));
    if (!fn) {
        return makeError(ErrorCode::BadUsage, "cannot encode tensor type " + name, {},
                         kNoOffset, tensorName);
    }
    const TypeTraits& tr = traits(t);
    if (rowLength <= 0 || rowLength % tr.blockSize != 0) {
        return makeError(ErrorCode::BadInput,
                         "row length " + std::to_string(rowLength) +
                             " is not a positive multiple of the " + name + " block size " +
                             std::to_string(tr.blockSize),
                         {}, kNoOffset, tensorName);
    }
    if (int64_t(src.size()) % rowLength != 0) {
        return makeError(ErrorCode::BadUsage,
                         std::to_string(src.size()) + " values do not form rows of " +
                             std::to_string(rowLength),
                         {}, kNoOffset, tensorName);
    }
    const int64_t rows = int64_t(src.size()) / rowLength;
    const int64_t blocksPerRow = rowLength / tr.blockSize;
    const int64_t rowBytes = blocksPerRow * tr.blockBytes;
    if (int64_t(dst.size()) != rows * rowBytes) {
        return makeError(ErrorCode::BadUsage,
                         "output holds " + std::to_string(dst.size()) + " bytes, " + name +
                             " needs " + std::to_string(rows * rowBytes),
                         {}, kNoOffset, tensorName);
    }
    if (importance) {
        for (int64_t j = 0; j < rowLength; ++j) {
            if (!std::isfinite(importance[j]) || importance[j] < 0) {
                return makeError(ErrorCode::BadInput,
                                 "importance of column " + std::to_string(j) +
                                     " is negative, NaN or infinite",
                                 {}, kNoOffset, tensorName);
            }
        }
    }

    constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
    std::atomic<int64_t> badInputRow{kNone}, badOutputRow{kNone};
    // Chunks of at least 16K values: encoding costs 0.1-10 us per value-block, so even the
    // cheapest type amortises a task, and a 4096-wide tensor of 16 rows still splits in four.
    const int64_t grain = std::max<int64_t>(1, kEncodeGrainValues / rowLength);
    parallel::parallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* x = src.data() + r * rowLength;
            uint8_t* y = dst.data() + r * rowBytes;
            if (firstNonFinite(x, rowLength) >= 0) {
                atomicMin(badInputRow, r);
                std::memset(y, 0, size_t(rowBytes));
                continue;
            }
            fn(x, y, rowLength, importance);
            if (t != TensorType::F32 && firstBadOutput(t, y, t == TensorType::F16 ||
                                                                 t == TensorType::BF16
                                                             ? rowLength
                                                             : blocksPerRow,
                                                       tr.blockBytes) >= 0) {
                atomicMin(badOutputRow, r);
            }
        }
    });
    const int64_t badIn = badInputRow.load();
    if (badIn != kNone) {
        const int64_t col = firstNonFinite(src.data() + badIn * rowLength, rowLength);
        return makeError(ErrorCode::BadInput,
                         "value at row " + std::to_string(badIn) + ", column " +
                             std::to_string(col) + " is NaN or infinite",
                         {}, kNoOffset, tensorName);
    }
    const int64_t badOut = badOutputRow.load();
    if (badOut != kNone) {
        return makeError(ErrorCode::BadInput,
                         "encoding row " + std::to_string(badOut) + " as " + name +
                             " gives a NaN or infinite scale (values out of fp16 range)",
                         {}, kNoOffset, tensorName);
    }
    return {};
}

} // namespace

EncodeFn encoderOf(TensorType t) { return encodersOf(t).fast; }
EncodeFn referenceEncoderOf(TensorType t) { return encodersOf(t).reference; }
bool canEncode(TensorType t) { return encodersOf(t).fast != nullptr; }

Status encodeRows(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                  int64_t rowLength, const float* importance, int threads,
                  const std::string& tensorName) {
    return encodeRowsWith(t, false, src, dst, rowLength, importance, threads, tensorName);
}

Status encodeRowsReference(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                           int64_t rowLength, const float* importance, int threads,
                           const std::string& tensorName) {
    return encodeRowsWith(t, true, src, dst, rowLength, importance, threads, tensorName);
}

} // namespace qs::formats
