// Encoders of the round-to-nearest low-bit types: the ternary TQ1_0 and TQ2_0, the FP4 types
// MXFP4 (E8M0 scale per 32) and NVFP4 (UE4M3 scale per 16), and the 1- and 2-bit Q1_0 and
// Q2_0. Each follows ggml's quantize_row_*_ref (ggml_quantize_chunk ignores importance for all
// of them), byte for byte: same float operations, same libm rounding functions, same integer
// wrap-arounds.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "formats/codecs/lowbit/lowbit.h"
#include "formats/half.h"
#include "formats/iq_grids.h"

namespace qs::formats::detail {

using namespace blocks;

namespace {

inline void putHalf(uint8_t* p, float v) {
    const uint16_t h = floatToHalf(v);
    std::memcpy(p, &h, 2);
}

typedef float V4 __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));
inline V4 splat(float v) {
    return V4{v, v, v, v};
}

/// Largest |x| (the max of the magnitudes' bit patterns: exact, order-free, vectorisable; the
/// inputs are finite, checked by encodeRows).
inline float absMax(const float* x, int n) {
    int32_t m = 0;
    for (int j = 0; j < n; ++j) {
        int32_t b;
        std::memcpy(&b, x + j, 4);
        b &= 0x7fffffff;
        m = b > m ? b : m;
    }
    float f;
    std::memcpy(&f, &m, 4);
    return f;
}

/// Ternary digit of x / d: lroundf(x * id) + 1 (0, 1, 2 for -1, 0, +1), as ggml computes it.
inline int tritOf(float x, float id) {
    return int(std::lround(x * id)) + 1;
}

/// tritOf when |x * id| < 1.5 (x within the block's max magnitude d and id = 1/d finite): round
/// half away from zero of a value in (-1.5, 1.5) without a libm call.
inline int tritOfBounded(float x, float id) {
    const float v = x * id;
    return 1 + int(v >= 0.5f) - int(v <= -0.5f);
}

/// ceil(q * 256 / 243) truncated to a byte, as ggml stores a 5-trit number.
inline uint8_t packTrits(uint32_t q) {
    return uint8_t((q * 256u + 242u) / 243u);
}

/// ggml's best_index_mxfp4 for four values at once (lane per value): the nearest of the 16
/// doubled FP4 values times e, the first on ties, by ggml's comparisons in ggml's order.
///
/// Only half the table can win: for x >= 0 every negative entry's error |-k e - x| rounds to at
/// least x, the error of entry 0, so the strict comparison never takes it; for x < 0 the same
/// holds for the positive entries, and entry 8 + m's error is entry m's error for |x|. So the
/// search runs over entries 0..7 on |x| and maps m > 0 to 8 + m for negative x: same index.
inline V4i nearestFp4x4(V4 x, float e) {
    const V4 ev = splat(e);
    const V4i absMask = V4i{0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    const V4 ax = V4(V4i(x) & absMask);
    V4 best = ax;  // entry 0: |0 * e - |x|| = |x|
    V4i at = V4i{0, 0, 0, 0};
    for (int i = 1; i < 8; ++i) {
        const V4 err = V4(V4i(splat(float(iq::kFp4Values[i])) * ev - ax) & absMask);
        const V4i better = err < best;
        best = better ? err : best;
        at = better ? V4i{i, i, i, i} : at;
    }
    const V4i negative = x < splat(0.f);
    const V4i nonzero = at != V4i{0, 0, 0, 0};
    return (negative & nonzero) ? at + 8 : at;
}

/// Packs 2 x 4 nibble pairs: low nibbles from lo, high from hi.
inline void packFp4(const float* lo, const float* hi, float e, uint8_t* out) {
    V4 a, b;
    std::memcpy(&a, lo, sizeof a);
    std::memcpy(&b, hi, sizeof b);
    const V4i ia = nearestFp4x4(a, e), ib = nearestFp4x4(b, e);
    for (int l = 0; l < 4; ++l) out[l] = uint8_t(ia[l] | (ib[l] << 4));
}

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

}  // namespace

template <int (*Trit)(float, float)>
void tq1Blocks(const float* src, uint8_t* dst, int64_t n);

void encodeTQ1_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    tq1Blocks<tritOfBounded>(src, dst, n);
}

template <int (*Trit)(float, float)>
void tq1Blocks(const float* src, uint8_t* dst, int64_t n) {
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockTQ1_0));
        const float d = absMax(x, kQK_K);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (Trit == tritOfBounded && !std::isfinite(id)) {  // tiny d: libm's rounding of inf
            tq1Blocks<tritOf>(x, y, kQK_K);
            continue;
        }
        // qs[0..31]: 5 trits of values m + 32 n; qs[32..47]: of 160 + m + 16 n.
        for (int m = 0; m < 32; ++m) {
            uint32_t q = 0;
            for (int k = 0; k < 5; ++k) q = uint8_t(q * 3 + uint32_t(Trit(x[m + 32 * k], id)));
            y[offsetof(BlockTQ1_0, qs) + m] = packTrits(q);
        }
        for (int m = 0; m < 16; ++m) {
            uint32_t q = 0;
            for (int k = 0; k < 5; ++k)
                q = uint8_t(q * 3 + uint32_t(Trit(x[160 + m + 16 * k], id)));
            y[offsetof(BlockTQ1_0, qs) + 32 + m] = packTrits(q);
        }
        // qh[0..3]: 4 trits of 240 + j + 4 m, then shifted to the top digit.
        for (int j = 0; j < 4; ++j) {
            uint32_t q = 0;
            for (int m = 0; m < 4; ++m) q = uint8_t(q * 3 + uint32_t(Trit(x[240 + j + 4 * m], id)));
            q = uint8_t(q * 3);
            y[offsetof(BlockTQ1_0, qh) + j] = packTrits(q);
        }
        putHalf(y + offsetof(BlockTQ1_0, d), d);
    }
}

void encodeTQ2_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockTQ2_0));
        const float d = absMax(x, kQK_K);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const bool bounded = std::isfinite(id);
        for (int h = 0; h < 2; ++h) {
            for (int m = 0; m < 32; ++m) {
                uint32_t q = 0;
                for (int k = 0; k < 4; ++k) {
                    const float xv = x[128 * h + m + 32 * k];
                    q += uint32_t((bounded ? tritOfBounded(xv, id) : tritOf(xv, id)) & 3)
                         << (2 * k);
                }
                y[offsetof(BlockTQ2_0, qs) + 32 * h + m] = uint8_t(q);
            }
        }
        putHalf(y + offsetof(BlockTQ2_0, d), d);
    }
}

void encodeMXFP4(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / kQK32; ++ib) {
        const float* x = src + ib * kQK32;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockMXFP4));
        const float amax = absMax(x, kQK32);
        // ggml converts the float exponent to uint8_t; on x86-64 that goes through a 32-bit
        // integer (a negative exponent for tiny blocks wraps), which this reproduces.
        const uint8_t e =
            amax > 0.0f ? uint8_t(int32_t(std::floor(std::log2(amax)) - 2 + 127)) : uint8_t(0);
        const float d = e8m0Half(e);
        y[offsetof(BlockMXFP4, e)] = e;
        for (int j = 0; j < 16; j += 4)
            packFp4(x + j, x + 16 + j, d, y + offsetof(BlockMXFP4, qs) + j);
    }
}

void encodeNVFP4(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t ib = 0; ib < n / 64; ++ib) {
        uint8_t* y = dst + ib * int64_t(sizeof(BlockNVFP4));
        for (int s = 0; s < 4; ++s) {
            const float* xb = src + ib * 64 + s * 16;
            const float amax = absMax(xb, 16);
            const uint8_t ue = toUe4m3(amax / 6.0f);
            y[offsetof(BlockNVFP4, d) + s] = ue;
            const float d = ue4m3HalfValue(ue);
            for (int j = 0; j < 8; j += 4)
                packFp4(xb + j, xb + 8 + j, d, y + offsetof(BlockNVFP4, qs) + s * 8 + j);
        }
    }
}

void encodeQ1_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    const int64_t nb = n / 128;
    // The scale is a sequential sum (ggml's order): four blocks' sums run side by side.
    float sums[4];
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float* x = src + ib * 128;
        uint8_t* y = dst + ib * int64_t(sizeof(BlockQ1_0));
        if (ib % 4 == 0) {
            const int lanes = int(std::min<int64_t>(4, nb - ib));
            V4 acc = splat(0.f);
            if (lanes == 4) {
                for (int j = 0; j < 128; ++j) {
                    acc += V4{std::fabs(x[j]), std::fabs(x[128 + j]), std::fabs(x[256 + j]),
                              std::fabs(x[384 + j])};
                }
            } else {
                for (int j = 0; j < 128; ++j) {
                    V4 v = splat(0.f);
                    for (int l = 0; l < lanes; ++l) v[l] = std::fabs(x[l * 128 + j]);
                    acc += v;
                }
            }
            for (int l = 0; l < 4; ++l) sums[l] = acc[l];
        }
        const float sumAbs = sums[ib % 4];
        putHalf(y + offsetof(BlockQ1_0, d), sumAbs / 128);
        for (int b = 0; b < 16; ++b) {
            uint32_t byte = 0;
            for (int k = 0; k < 8; ++k) byte |= uint32_t(x[8 * b + k] >= 0.0f) << k;
            y[offsetof(BlockQ1_0, qs) + b] = uint8_t(byte);
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
        putHalf(y + offsetof(BlockQ2_0, d), d);
        uint8_t* qs = y + offsetof(BlockQ2_0, qs);
        std::memset(qs, 0, sizeof(BlockQ2_0::qs));
        const bool bounded = std::isfinite(id);
        for (int j = 0; j < 64; ++j) {
            int q;
            if (bounded) {
                q = tritOfBounded(x[j], id);  // |x * id| < 1.5: roundf is -1, 0 or 1
            } else {
                // (int)roundf as x86-64 converts: INT_MIN for NaN and out-of-range values.
                const float r = std::round(x[j] * id);
                q = (r >= -2147483648.f && r < 2147483648.f) ? int(r) + 1 : INT32_MIN + 1;
            }
            q = q < 0 ? 0 : q > 3 ? 3 : q;
            qs[j / 4] = uint8_t(qs[j / 4] | (q << (2 * (j % 4))));
        }
    }
}

}  // namespace qs::formats::detail
