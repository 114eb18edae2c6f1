// Decoders of the ternary quants (TQ1_0, TQ2_0: values in {-1, 0, +1} times an fp16 scale) and
// of MXFP4 (OCP microscaling FP4: E2M1 values sharing one E8M0 power-of-two scale).

#include <bit>
#include <cmath>
#include <cstring>

#include "formats/codecs/lowbit/lowbit.h"
#include "formats/half.h"
#include "formats/iq_grids.h"

namespace qs::formats {

using namespace blocks;

namespace {

/// Ternary digit k (0 = most significant) of a TQ1_0 byte. The byte stores
/// ceil(t * 256 / 3^5) for the 5-digit base-3 number t, i.e. a fixed-point fraction of 1;
/// multiplying by 3^k (mod 256) shifts digit k to the top and * 3 >> 8 extracts it. This is
/// ggml's integer arithmetic exactly, including the uint8_t wrap-around.
inline int trit(uint8_t byte, uint8_t pow3) {
    const uint8_t q = uint8_t(byte * pow3);
    return int((uint16_t(q) * 3u) >> 8);
}

constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};

/// E8M0 exponent byte -> 2^(e - 128), i.e. half the MX scale 2^(e - 127), matching ggml's
/// GGML_E8M0_TO_FP32_HALF: the FP4 table is stored doubled, so the scale is halved. For
/// e < 2 the result is a float subnormal (2^-128, 2^-127). e = 255 (NaN in the OCP spec) gives
/// 2^127 rather than NaN, as in ggml.
inline float e8m0ToFloatHalf(uint8_t e) {
    const uint32_t bits = e < 2 ? (0x00200000u << e) : (uint32_t(e - 1) << 23);
    return std::bit_cast<float>(bits);
}

/// UE4M3 scale byte -> float, halved (ggml's ggml_ue4m3_to_fp32): 0 and 0x7f give 0.
inline float ue4m3ToFloatHalf(uint8_t x) {
    if (x == 0 || x == 0x7f) return 0.0f;
    const int e = (x >> 3) & 0xf;
    const int m = x & 0x7;
    const float raw = e == 0 ? std::ldexp(float(m), -9) : std::ldexp(1.0f + float(m) / 8.0f, e - 7);
    return raw * 0.5f;
}

}  // namespace

float ue4m3HalfValue(uint8_t x) {
    return ue4m3ToFloatHalf(x);
}

// ==========================================================================================
// NVFP4: per sub-block of 16, x = fp4x2[nibble] * ue4m3(d[s]) / 2.
// ==========================================================================================
void decodeNVFP4(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / 64;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockNVFP4>(src + i * int64_t(sizeof(BlockNVFP4)));
        for (int s = 0; s < 4; ++s) {
            const float d = ue4m3ToFloatHalf(b.d[s]);
            float* y = dst + i * 64 + s * 16;
            for (int j = 0; j < 8; ++j) {
                y[j] = float(iq::kFp4Values[b.qs[s * 8 + j] & 0x0f]) * d;
                y[j + 8] = float(iq::kFp4Values[b.qs[s * 8 + j] >> 4]) * d;
            }
        }
    }
}

// ==========================================================================================
// Q1_0: one sign bit per value, x = +-d.  Q2_0: x = (q - 1) * d, q in 0..3.
// ==========================================================================================
void decodeQ1_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / 128;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ1_0>(src + i * int64_t(sizeof(BlockQ1_0)));
        const float d = halfToFloat(b.d);
        for (int j = 0; j < 128; ++j) dst[i * 128 + j] = ((b.qs[j / 8] >> (j % 8)) & 1) ? d : -d;
    }
}

void decodeQ2_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / 64;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ2_0>(src + i * int64_t(sizeof(BlockQ2_0)));
        const float d = halfToFloat(b.d);
        for (int j = 0; j < 64; ++j) {
            const int q = (b.qs[j / 4] >> (2 * (j % 4))) & 3;
            dst[i * 64 + j] = float(q - 1) * d;
        }
    }
}

// ==========================================================================================
// TQ1_0: 256 trits. qs[0..31] hold values 0-159 (digit k of byte m is value 32 k + m),
// qs[32..47] values 160-239 (digit k of byte 32 + m is value 160 + 16 k + m), qh[0..3] values
// 240-255 (digit k of byte m is value 240 + 4 k + m). x = (t - 1) * d.
// ==========================================================================================
void decodeTQ1_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockTQ1_0>(src + i * int64_t(sizeof(BlockTQ1_0)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int k = 0; k < 5; ++k) {
            for (int m = 0; m < 32; ++m) *y++ = float(trit(b.qs[m], kPow3[k]) - 1) * d;
        }
        for (int k = 0; k < 5; ++k) {
            for (int m = 0; m < 16; ++m) *y++ = float(trit(b.qs[32 + m], kPow3[k]) - 1) * d;
        }
        for (int k = 0; k < 4; ++k) {
            for (int m = 0; m < 4; ++m) *y++ = float(trit(b.qh[m], kPow3[k]) - 1) * d;
        }
    }
}

// ==========================================================================================
// TQ2_0: 2-bit codes q in {0, 1, 2}; bit pair l of byte 32 h + m is value 128 h + 32 l + m.
// x = (q - 1) * d.
// ==========================================================================================
void decodeTQ2_0(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockTQ2_0>(src + i * int64_t(sizeof(BlockTQ2_0)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int h = 0; h < 2; ++h) {
            const uint8_t* qs = b.qs + 32 * h;
            for (int l = 0; l < 4; ++l) {
                for (int m = 0; m < 32; ++m) y[m] = float(int((qs[m] >> (2 * l)) & 3) - 1) * d;
                y += 32;
            }
        }
    }
}

// ==========================================================================================
// MXFP4: x = fp4x2[nibble] * 2^(e - 128); nibble layout as Q4_0 (low nibbles = values 0-15)
// ==========================================================================================
void decodeMXFP4(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockMXFP4>(src + i * int64_t(sizeof(BlockMXFP4)));
        const float d = e8m0ToFloatHalf(b.e);
        float* y = dst + i * kQK32;
        for (int j = 0; j < 16; ++j) {
            y[j] = float(iq::kFp4Values[b.qs[j] & 0x0f]) * d;
            y[j + 16] = float(iq::kFp4Values[b.qs[j] >> 4]) * d;
        }
    }
}

}  // namespace qs::formats
