// Encoders of the round-to-nearest low-bit types: the ternary TQ1_0 and TQ2_0, the FP4 types
// MXFP4 (E8M0 scale per 32) and NVFP4 (UE4M3 scale per 16), and the 1- and 2-bit Q1_0 and
// Q2_0. Each follows ggml's quantize_row_*_ref (ggml_quantize_chunk ignores importance for all
// of them), byte for byte: same float operations, same libm rounding functions, same integer
// wrap-arounds.

#include <cmath>
#include <cstring>

#include "formats/block_layouts.h"
#include "formats/decoders.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/iq_grids.h"

namespace qs::formats::detail {

using namespace blocks;

namespace {

inline void putHalf(uint8_t* p, float v) {
    const uint16_t h = floatToHalf(v);
    std::memcpy(p, &h, 2);
}

inline float absMax(const float* x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
    return amax;
}

/// Ternary digit of x / d: lroundf(x * id) + 1 (0, 1, 2 for -1, 0, +1).
inline int tritOf(float x, float id) { return int(std::lround(x * id)) + 1; }

/// ceil(q * 256 / 243) truncated to a byte, as ggml stores a 5-trit number.
inline uint8_t packTrits(uint32_t q) { return uint8_t((q * 256u + 242u) / 243u); }

/// ggml's best_index_mxfp4: the nearest of the 16 doubled FP4 values times e (first on ties).
inline int nearestFp4(float x, float e) {
    int best = 0;
    float bestErr = std::fabs(float(iq::kFp4Values[0]) * e - x);
    for (int i = 1; i < 16; ++i) {
        const float err = std::fabs(float(iq::kFp4Values[i]) * e - x);
        if (err < bestErr) {
            best = i;
            bestErr = err;
        }
    }
    return best;
}

/// ggml's ggml_fp32_to_ue4m3 (x > 0 rounds to the nearest UE4M3 code; <= 0 or NaN gives 0).
inline uint8_t toUe4m3(float x) {
    if (!(x > 0.0f)) return 0;
    if (x > 448.0f) x = 448.0f;
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    const int fexp = int((bits >> 23) & 0xff) - 127;
    const int fman = int((bits >> 20) & 0x7);
    int e = fexp + 7;
    if (e <= 0) {
        int man = int(x * 512.0f + 0.5f);
        if (man > 7) man = 7;
        if (man < 1) return 0;
        return uint8_t(man);
    }
    if (e >= 15) return 0x7e;
    int m = fman + int((bits >> 19) & 1);
    if (m > 7) {
        m = 0;
        ++e;
        if (e >= 15) return 0x7e;
    }
    return uint8_t((e << 3) | m);
}

inline float e8m0Half(uint8_t e) {
    const uint32_t bits = e < 2 ? (0x00200000u << e) : (uint32_t(e - 1) << 23);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

} // namespace

void encodeTQ1_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockTQ1_0));
        const float d = absMax(x, kQK_K);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        // qs[0..31]: 5 trits of values m + 32 n; qs[32..47]: of 160 + m + 16 n.
        for (int m = 0; m < 32; ++m) {
            uint32_t q = 0;
            for (int k = 0; k < 5; ++k) q = uint8_t(q * 3 + uint32_t(tritOf(x[m + 32 * k], id)));
            y[m] = packTrits(q);
        }
        for (int m = 0; m < 16; ++m) {
            uint32_t q = 0;
            for (int k = 0; k < 5; ++k) q = uint8_t(q * 3 + uint32_t(tritOf(x[160 + m + 16 * k], id)));
            y[32 + m] = packTrits(q);
        }
        // qh[0..3]: 4 trits of 240 + j + 4 m, then shifted to the top digit.
        for (int j = 0; j < 4; ++j) {
            uint32_t q = 0;
            for (int m = 0; m < 4; ++m) q = uint8_t(q * 3 + uint32_t(tritOf(x[240 + j + 4 * m], id)));
            q = uint8_t(q * 3);
            y[48 + j] = packTrits(q);
        }
        putHalf(y + 52, d);
    }
}

void encodeTQ2_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockTQ2_0));
        const float d = absMax(x, kQK_K);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int h = 0; h < 2; ++h) {
            for (int m = 0; m < 32; ++m) {
                uint32_t q = 0;
                for (int k = 0; k < 4; ++k) q += uint32_t(tritOf(x[128 * h + m + 32 * k], id) & 3) << (2 * k);
                y[32 * h + m] = uint8_t(q);
            }
        }
        putHalf(y + 64, d);
    }
}

void encodeMXFP4(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / kQK32; ++ib) {
        const float* x = src + ib * kQK32;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockMXFP4));
        float amax = 0.0f;
        for (int j = 0; j < kQK32; ++j) {
            if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
        }
        // ggml converts the float exponent to uint8_t; on x86-64 that goes through a 32-bit
        // integer (a negative exponent for tiny blocks wraps), which this reproduces.
        const uint8_t e =
            amax > 0.0f ? uint8_t(int32_t(std::floor(std::log2(amax)) - 2 + 127)) : uint8_t(0);
        const float d = e8m0Half(e);
        y[0] = e;
        for (int j = 0; j < 16; ++j) {
            y[1 + j] = uint8_t(nearestFp4(x[j], d) | (nearestFp4(x[16 + j], d) << 4));
        }
    }
}

void encodeNVFP4(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / 64; ++ib) {
        uint8_t* y = dst + ib * int64_t(sizeof(BlockNVFP4));
        for (int s = 0; s < 4; ++s) {
            const float* xb = src + ib * 64 + s * 16;
            float amax = 0.0f;
            for (int j = 0; j < 16; ++j) {
                if (amax < std::fabs(xb[j])) amax = std::fabs(xb[j]);
            }
            const uint8_t ue = toUe4m3(amax / 6.0f);
            y[s] = ue;
            const float d = ue4m3HalfValue(ue);
            for (int j = 0; j < 8; ++j) {
                y[4 + s * 8 + j] = uint8_t(nearestFp4(xb[j], d) | (nearestFp4(xb[8 + j], d) << 4));
            }
        }
    }
}

void encodeQ1_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / 128; ++ib) {
        const float* x = src + ib * 128;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockQ1_0));
        float sumAbs = 0.0f;
        for (int j = 0; j < 128; ++j) sumAbs += std::fabs(x[j]);
        putHalf(y, sumAbs / 128);
        std::memset(y + 2, 0, 16);
        for (int j = 0; j < 128; ++j) {
            if (x[j] >= 0.0f) y[2 + j / 8] = uint8_t(y[2 + j / 8] | (1u << (j % 8)));
        }
    }
}

void encodeQ2_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / 64; ++ib) {
        const float* x = src + ib * 64;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockQ2_0));
        float amax = 0.0f;
        for (int j = 0; j < 64; ++j) {
            const float a = std::fabs(x[j]);
            if (a > amax) amax = a;
        }
        const float d = amax;
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        putHalf(y, d);
        std::memset(y + 2, 0, 16);
        for (int j = 0; j < 64; ++j) {
            int q = int(std::round(x[j] * id)) + 1;
            q = q < 0 ? 0 : q > 3 ? 3 : q;
            y[2 + j / 4] = uint8_t(y[2 + j / 4] | (q << (2 * (j % 4))));
        }
    }
}

} // namespace qs::formats::detail
