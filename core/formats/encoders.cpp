// Encoder dispatch and the whole-tensor driver: input validation, row-parallel encoding and
// the output check ggml performs after quantizing (ggml_validate_row_data: no NaN/Inf scale).

#include "formats/encoders.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>

#include "formats/codecs/codecs.h"
#include "formats/half.h"
#include "parallel/parallel.h"

namespace qs::formats {

namespace {

/// Minimum values per parallel task (exposed to the benchmark through the same arithmetic).
constexpr int64_t kEncodeGrainValues = 16384;

/// Byte offsets of the fp16 scale fields inside one block (ggml_validate_row_data checks these
/// for NaN/Inf). Empty for F32 (validated on input) and F16/BF16 (every element is checked).
struct ScaleFields {
    int count = 0;
    int offsets[2] = {0, 0};
};

ScaleFields scaleFieldsOf(TensorType t) {
    using namespace blocks;
    constexpr int kAtStart = 0;  // a `d` that leads its block (checked by the static_asserts)
    static_assert(offsetof(BlockQ8_0, d) == kAtStart && offsetof(BlockQ4_0, d) == kAtStart &&
                  offsetof(BlockQ5_0, d) == kAtStart && offsetof(BlockIQ4_NL, d) == kAtStart &&
                  offsetof(BlockIQ4_XS, d) == kAtStart && offsetof(BlockIQ2_XXS, d) == kAtStart &&
                  offsetof(BlockIQ2_XS, d) == kAtStart && offsetof(BlockIQ2_S, d) == kAtStart &&
                  offsetof(BlockIQ3_XXS, d) == kAtStart && offsetof(BlockIQ3_S, d) == kAtStart &&
                  offsetof(BlockIQ1_S, d) == kAtStart && offsetof(BlockQ1_0, d) == kAtStart &&
                  offsetof(BlockQ2_0, d) == kAtStart);
    switch (t) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS:
    case TensorType::IQ2_XXS:
    case TensorType::IQ2_XS:
    case TensorType::IQ2_S:
    case TensorType::IQ3_XXS:
    case TensorType::IQ3_S:
    case TensorType::IQ1_S:
    case TensorType::Q1_0:
    case TensorType::Q2_0: return {1, {kAtStart, 0}};
    case TensorType::TQ1_0: return {1, {int(offsetof(BlockTQ1_0, d)), 0}};
    case TensorType::TQ2_0: return {1, {int(offsetof(BlockTQ2_0, d)), 0}};
    case TensorType::Q4_1: return {2, {int(offsetof(BlockQ4_1, d)), int(offsetof(BlockQ4_1, m))}};
    case TensorType::Q5_1: return {2, {int(offsetof(BlockQ5_1, d)), int(offsetof(BlockQ5_1, m))}};
    case TensorType::Q4_K:
        return {2, {int(offsetof(BlockQ4_K, d)), int(offsetof(BlockQ4_K, dmin))}};
    case TensorType::Q5_K:
        return {2, {int(offsetof(BlockQ5_K, d)), int(offsetof(BlockQ5_K, dmin))}};
    case TensorType::Q2_K:
        return {2, {int(offsetof(BlockQ2_K, d)), int(offsetof(BlockQ2_K, dmin))}};
    case TensorType::Q3_K: return {1, {int(offsetof(BlockQ3_K, d)), 0}};
    case TensorType::Q6_K: return {1, {int(offsetof(BlockQ6_K, d)), 0}};
    default: return {};
    }
}

inline uint16_t load16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

inline bool halfIsFinite(uint16_t h) {
    return (h & 0x7c00u) != 0x7c00u;
}

/// Largest |x| of a row as float bits (a branch-free, vectorisable pass; integer max is
/// order-free). >= 0x7f800000 means the row holds NaN or Inf.
uint32_t maxAbsBits(const float* x, int64_t n) {
    return detail::rowMaxAbsBits(x, n);  // AVX2 / AVX-512 where the CPU has them
}

constexpr uint32_t kNonFiniteBits = 0x7f800000u;
/// Smallest |x| bits that round to Inf in F16 / BF16 (round to nearest even; see half.h).
constexpr uint32_t kF16OverflowBits = 0x477ff000u;
constexpr uint32_t kBf16OverflowBits = 0x7f7f8000u;

/// Index of the first non-finite value of a row, or -1.
int64_t firstNonFinite(const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) return i;
    }
    return -1;
}

}  // namespace

int64_t firstNonFiniteScale(TensorType t, const uint8_t* row, int64_t rowLength) {
    if (t == TensorType::F16 || t == TensorType::BF16) {
        const uint16_t mask = t == TensorType::F16 ? 0x7c00u : 0x7f80u;
        for (int64_t i = 0; i < rowLength; ++i) {
            if ((load16(row + 2 * i) & mask) == mask) return i;
        }
        return -1;
    }
    const TypeTraits& tr = traits(t);
    const int64_t nBlocks = rowLength / tr.blockSize;
    const int64_t blockBytes = tr.blockBytes;
    if (t == TensorType::IQ1_M) {
        // The fp16 super-scale is spread over the top nibbles of the four scale words.
        for (int64_t b = 0; b < nBlocks; ++b) {
            const uint8_t* sc = row + b * blockBytes + offsetof(blocks::BlockIQ1_M, scales);
            const uint16_t h =
                uint16_t((load16(sc) >> 12) | ((load16(sc + 2) >> 8) & 0x00f0) |
                         ((load16(sc + 4) >> 4) & 0x0f00) | (load16(sc + 6) & 0xf000));
            if (!halfIsFinite(h)) return b;
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

namespace {

/// Lowers `slot` to `value` if smaller (the first failing row wins, whatever the schedule).
void atomicMin(std::atomic<int64_t>& slot, int64_t value) {
    int64_t cur = slot.load(std::memory_order_relaxed);
    while (value < cur && !slot.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
    }
}

using FusedEncodeFn = uint32_t (*)(const float* src, uint8_t* dst, int64_t n);

/// The legacy plain encoder fused with the input check (codecs/legacy), or nullptr.
FusedEncodeFn fusedLegacy(TensorType t) {
    switch (t) {
    case TensorType::Q8_0: return detail::encodeQ8_0MaxAbs;
    case TensorType::Q4_0: return detail::encodeQ4_0MaxAbs;
    case TensorType::Q4_1: return detail::encodeQ4_1MaxAbs;
    case TensorType::Q5_0: return detail::encodeQ5_0MaxAbs;
    case TensorType::Q5_1: return detail::encodeQ5_1MaxAbs;
    default: return nullptr;
    }
}

Status encodeRowsWith(TensorType t, bool reference, std::span<const float> src,
                      std::span<uint8_t> dst, int64_t rowLength, const float* importance,
                      int threads, const std::string& tensorName, int64_t firstRow) {
    const TypeTraits& tr = traits(t);
    const EncodeFn fn = reference ? tr.encodeReference : tr.encode;
    const std::string name(typeName(t));
    if (!fn) {
        return makeError(ErrorCode::BadUsage, "cannot encode tensor type " + name, {}, kNoOffset,
                         tensorName);
    }
    auto rowsR = checkEncodeArgs(t, src.size(), dst.size(), rowLength, importance, tensorName);
    if (!rowsR) return rowsR.error();
    const int64_t rows = *rowsR;
    const int64_t blocksPerRow = rowLength / tr.blockSize;
    const int64_t rowBytes = blocksPerRow * tr.blockBytes;
    detail::prepareGridTables(t);  // outside the row loop: built once, in parallel

    constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
    std::atomic<int64_t> badInputRow{kNone}, badOutputRow{kNone};
    // Chunks of at least 16K values: encoding costs 0.1-10 us per value-block, so even the
    // cheapest type amortises a task, and a 4096-wide tensor of 16 rows still splits in four.
    const int64_t grain = std::max<int64_t>(1, kEncodeGrainValues / rowLength);
    parallel::parallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* x = src.data() + r * rowLength;
            uint8_t* y = dst.data() + r * rowBytes;
            // One pass over the input finds NaN/Inf and, for F16/BF16, values that would
            // round to Inf (the only way those outputs can fail ggml_validate_row_data).
            const bool plainHalf = t == TensorType::F16 || t == TensorType::BF16;
            // The legacy types' plain paths fuse the check into the encoder, too.
            // (Q8_0 ignores importance, as ggml does.)
            const FusedEncodeFn fused =
                reference || (importance && t != TensorType::Q8_0) ? nullptr : fusedLegacy(t);
            const uint32_t maxAbs = t == TensorType::F16 ? detail::encodeF16MaxAbs(x, y, rowLength)
                                    : t == TensorType::BF16
                                        ? detail::encodeBF16MaxAbs(x, y, rowLength)
                                    : fused ? fused(x, y, rowLength)
                                            : maxAbsBits(x, rowLength);
            if (maxAbs >= kNonFiniteBits) {
                atomicMin(badInputRow, r);
                std::memset(y, 0, size_t(rowBytes));
                continue;
            }
            if (!plainHalf && !fused) fn(x, y, rowLength, importance);
            const bool overflow = t == TensorType::F16    ? maxAbs >= kF16OverflowBits
                                  : t == TensorType::BF16 ? maxAbs >= kBf16OverflowBits
                                  // A fused legacy row below 65520 in magnitude cannot give
                                  // a non-finite fp16 scale or minimum: skip the block scan.
                                  : fused && maxAbs < kF16OverflowBits
                                      ? false
                                      : firstNonFiniteScale(t, y, rowLength) >= 0;
            if (overflow) atomicMin(badOutputRow, r);
        }
    });
    const int64_t badIn = badInputRow.load();
    if (badIn != kNone) {
        const int64_t col = firstNonFinite(src.data() + badIn * rowLength, rowLength);
        return makeError(ErrorCode::BadInput,
                         "value at row " + std::to_string(firstRow + badIn) + ", column " +
                             std::to_string(col) + " is NaN or infinite",
                         {}, kNoOffset, tensorName);
    }
    const int64_t badOut = badOutputRow.load();
    if (badOut != kNone) {
        return makeError(ErrorCode::BadInput,
                         "encoding row " + std::to_string(firstRow + badOut) + " as " + name +
                             " gives a NaN or infinite scale (values out of fp16 range)",
                         {}, kNoOffset, tensorName);
    }
    return {};
}

}  // namespace

Result<int64_t> checkEncodeArgs(TensorType t, size_t srcValues, size_t dstBytes, int64_t rowLength,
                                const float* importance, const std::string& tensorName) {
    const TypeTraits& tr = traits(t);
    const std::string name(typeName(t));
    if (rowLength <= 0 || rowLength % tr.blockSize != 0) {
        return makeError(ErrorCode::BadInput,
                         "row length " + std::to_string(rowLength) +
                             " is not a positive multiple of the " + name + " block size " +
                             std::to_string(tr.blockSize),
                         {}, kNoOffset, tensorName);
    }
    if (int64_t(srcValues) % rowLength != 0) {
        return makeError(
            ErrorCode::BadUsage,
            std::to_string(srcValues) + " values do not form rows of " + std::to_string(rowLength),
            {}, kNoOffset, tensorName);
    }
    const int64_t rows = int64_t(srcValues) / rowLength;
    const int64_t rowBytes = rowLength / tr.blockSize * tr.blockBytes;
    if (int64_t(dstBytes) != rows * rowBytes) {
        return makeError(ErrorCode::BadUsage,
                         "output holds " + std::to_string(dstBytes) + " bytes, " + name +
                             " needs " + std::to_string(rows * rowBytes),
                         {}, kNoOffset, tensorName);
    }
    if (importance) {
        for (int64_t j = 0; j < rowLength; ++j) {
            if (!std::isfinite(importance[j]) || importance[j] < 0) {
                return makeError(
                    ErrorCode::BadInput,
                    "importance of column " + std::to_string(j) + " is negative, NaN or infinite",
                    {}, kNoOffset, tensorName);
            }
        }
    }

    if (!importance && requiresImportance(t)) {
        return makeError(ErrorCode::BadInput,
                         name +
                             " needs an importance matrix (ggml refuses it without one): "
                             "pass --imatrix, or choose a type that does not need one "
                             "(e.g. IQ2_S, IQ3_XXS, Q2_K)",
                         {}, kNoOffset, tensorName);
    }
    return rows;
}

EncodeFn encoderOf(TensorType t) {
    return traits(t).encode;
}
EncodeFn referenceEncoderOf(TensorType t) {
    return traits(t).encodeReference;
}
bool canEncode(TensorType t) {
    return traits(t).encode != nullptr;
}

bool requiresImportance(TensorType t) {
    return traits(t).needsImportance;
}

Status encodeRows(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                  int64_t rowLength, const float* importance, int threads,
                  const std::string& tensorName, int64_t firstRow) {
    return encodeRowsWith(t, false, src, dst, rowLength, importance, threads, tensorName, firstRow);
}

Status encodeRowsReference(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                           int64_t rowLength, const float* importance, int threads,
                           const std::string& tensorName) {
    return encodeRowsWith(t, true, src, dst, rowLength, importance, threads, tensorName, 0);
}

}  // namespace qs::formats
