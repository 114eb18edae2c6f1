// Decoders of the legacy (pre-K) quants: blocks of 32 values with one fp16 scale (and min).
//
// Bit-exactness with ggml's dequantize_row_*: each value is computed with the same float
// operations in the same order, float(q) * d (+ m), with no fused multiply-add.

#include <cstring>

#include "formats/codecs/legacy/legacy.h"
#include "formats/half.h"

namespace qs::formats {

using namespace blocks;

// ==========================================================================================
// Q4_0: x = (nibble - 8) * d; byte j holds element j (low nibble) and j + 16 (high nibble)
// ==========================================================================================
void decodeQ4_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ4_0>(src + i * int64_t(sizeof(BlockQ4_0)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK32;
        for (int j = 0; j < 16; ++j) {
            y[j] = float(int(b.qs[j] & 0x0f) - 8) * d;
            y[j + 16] = float(int(b.qs[j] >> 4) - 8) * d;
        }
    }
}

// ==========================================================================================
// Q4_1: x = nibble * d + m
// ==========================================================================================
void decodeQ4_1(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ4_1>(src + i * int64_t(sizeof(BlockQ4_1)));
        const float d = halfToFloat(b.d);
        const float m = halfToFloat(b.m);
        float* y = dst + i * kQK32;
        for (int j = 0; j < 16; ++j) {
            y[j] = float(b.qs[j] & 0x0f) * d + m;
            y[j + 16] = float(b.qs[j] >> 4) * d + m;
        }
    }
}

// ==========================================================================================
// Q5_0: x = (q - 16) * d with q = nibble | bit j of qh << 4 (elements 0-15 use qh bits 0-15,
// elements 16-31 bits 16-31)
// ==========================================================================================
void decodeQ5_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ5_0>(src + i * int64_t(sizeof(BlockQ5_0)));
        const float d = halfToFloat(b.d);
        uint32_t qh;
        std::memcpy(&qh, b.qh, sizeof(qh));
        float* y = dst + i * kQK32;
        for (int j = 0; j < 16; ++j) {
            const int hi0 = int((qh >> j) & 1u) << 4;
            const int hi1 = int((qh >> (j + 16)) & 1u) << 4;
            y[j] = float((int(b.qs[j] & 0x0f) | hi0) - 16) * d;
            y[j + 16] = float((int(b.qs[j] >> 4) | hi1) - 16) * d;
        }
    }
}

// ==========================================================================================
// Q5_1: x = q * d + m, q 5 bits as in Q5_0
// ==========================================================================================
void decodeQ5_1(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ5_1>(src + i * int64_t(sizeof(BlockQ5_1)));
        const float d = halfToFloat(b.d);
        const float m = halfToFloat(b.m);
        uint32_t qh;
        std::memcpy(&qh, b.qh, sizeof(qh));
        float* y = dst + i * kQK32;
        for (int j = 0; j < 16; ++j) {
            const int hi0 = int((qh >> j) & 1u) << 4;
            const int hi1 = int((qh >> (j + 16)) & 1u) << 4;
            y[j] = float(int(b.qs[j] & 0x0f) | hi0) * d + m;
            y[j + 16] = float(int(b.qs[j] >> 4) | hi1) * d + m;
        }
    }
}

// ==========================================================================================
// Q8_0: x = q * d
// ==========================================================================================
void decodeQ8_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ8_0>(src + i * int64_t(sizeof(BlockQ8_0)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK32;
        for (int j = 0; j < 32; ++j) y[j] = float(b.qs[j]) * d;
    }
}

// ==========================================================================================
// Q8_1: x = q * d. ggml has no to_float for Q8_1 (it is the activation format of the Q4_1/Q5_1
// dot products); the meaning follows quantize_row_q8_1_ref, and `s` is ignored.
// ==========================================================================================
void decodeQ8_1(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ8_1>(src + i * int64_t(sizeof(BlockQ8_1)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK32;
        for (int j = 0; j < 32; ++j) y[j] = float(b.qs[j]) * d;
    }
}

}  // namespace qs::formats
