// Encoders of the legacy quants (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), blocks of 32.
//
// Without importance each quant reproduces ggml's quantize_row_qX_Y_ref exactly (max-magnitude
// or min/max scale, then truncation of x/d + 0.5 offsets); that is what llama-quantize writes
// without an imatrix, and our bytes equal ggml's. With importance, Q4_0/Q5_0 follow ggml's
// quantize_row_q4_0_impl/q5_0_impl (make_qx_quants with weights qw * sqrt(sigma2 + x^2), sigma2
// the row's mean square) and Q4_1/Q5_1 quantize_row_q4_1_impl/q5_1_impl (make_qkx3_quants).
// Q8_0 ignores importance, as ggml does.
//
// The plain paths and the importance searches run the vectorised kernels of encode_simd.cpp and
// search_simd.cpp where the CPU has AVX2 or AVX-512 (same bytes; encode_simd.h picks the
// level); the *Ref entry points and the Scalar level keep the scalar code below (Q8_0 has no
// separate reference: its Scalar level is the reference). encodeQ*MaxAbs, at the end, fuse the
// plain paths with encodeRows' NaN/Inf check.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "formats/codecs/encode_simd.h"
#include "formats/codecs/legacy/legacy.h"
#include "formats/codecs/legacy/legacy_kernels.h"
#include "formats/codecs/plain/plain.h"
#include "formats/codecs/scale_search.h"
#include "formats/half.h"

namespace qs::formats::detail {

using namespace blocks;

namespace {

template <typename Block>
inline void storeBlock(uint8_t* dst, const Block& b) {
    std::memcpy(dst, &b, sizeof(Block));
}

/// Store fp16 bits at `p` (any alignment). The plain encoders write straight into the output:
/// building a block on the stack and copying it costs a store-forwarding stall per block.
inline void putHalf(uint8_t* p, float v) {
    const uint16_t h = floatToHalf(v);
    std::memcpy(p, &h, 2);
}

/// C's (int8_t)(float) for values in range: truncation toward zero.
inline int truncToInt(float v) {
    return int(v);
}

/// Sum of squares of a whole row in ggml's order, divided by the row length (ggml's sigma2 of
/// the legacy quants' importance paths).
inline float rowSigma2(const float* x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
    return s / float(n);
}

/// Importance weights of one block: qw * sqrt(sigma2 + x^2).
inline void blockWeights(const float* xb, const float* qw, float sigma2, float* weight) {
    for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

/// Q5 high bits: bit j of the little-endian uint32 is the 5th bit of value j.
inline void packQ5(const uint8_t* L, uint8_t* qs, uint8_t* qhOut) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        const uint8_t xi0 = L[j], xi1 = L[j + 16];
        qs[j] = uint8_t((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
        qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
        qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(qhOut, &qh, sizeof qh);
}

// Four float lanes (GCC/Clang vector extension, SSE2 on x86-64) for the block reductions.
typedef float V4 __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));

inline V4 load4(const float* p) {
    V4 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

/// The first value of the block equal to `v` (only needed to recover the sign of a zero).
inline float firstEqual(const float* xb, float v) {
    int j = 0;
    while (xb[j] != v) ++j;
    return xb[j];
}

/// The value of largest magnitude in a block (the first one on ties; +0 for an all-zero
/// block), as ggml's `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` loop finds it. The
/// maximum magnitude is an exact, order-free reduction, so it is computed four lanes wide.
inline float signedAbsMax(const float* xb) {
    const V4i absMask = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    V4 a = V4(V4i(load4(xb)) & absMask);
    for (int k = 4; k < 32; k += 4) {
        const V4 v = V4(V4i(load4(xb + k)) & absMask);
        a = a < v ? v : a;
    }
    float amax = 0.0f;
    for (int l = 0; l < 4; ++l) amax = amax < a[l] ? a[l] : amax;
    if (amax == 0.0f) return 0.0f;
    int j = 0;
    while (std::fabs(xb[j]) != amax) ++j;
    return xb[j];
}

/// Block minimum and maximum as ggml's `if (v < min) min = v; if (v > max) max = v;` loop
/// (from +-FLT_MAX) finds them: that loop keeps the first of equal values, which matters only
/// for the sign of a zero, so the extremes are reduced four lanes wide and a zero result takes
/// the sign of the block's first zero.
inline void blockMinMax(const float* xb, float& min, float& max) {
    V4 mn = load4(xb), mx = mn;
    for (int k = 4; k < 32; k += 4) {
        const V4 v = load4(xb + k);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    min = 3.402823466e+38f;
    max = -3.402823466e+38f;
    for (int l = 0; l < 4; ++l) {
        if (mn[l] < min) min = mn[l];
        if (mx[l] > max) max = mx[l];
    }
    if (min == 0.0f) min = firstEqual(xb, 0.0f);
    if (max == 0.0f) max = firstEqual(xb, 0.0f);
}

/// The vectorised plain kernels of the current SIMD level, or nullptr for the scalar code.
const legacy::PlainKernels* plainKernels() {
    switch (encodeSimdLevel()) {
    case EncodeSimdLevel::Avx512: return legacy::plainKernelsAvx512();
    case EncodeSimdLevel::Avx2: return legacy::plainKernelsAvx2();
    case EncodeSimdLevel::Scalar: break;
    }
    return nullptr;
}

/// The vectorised importance searches of the current SIMD level, or nullptr for the scalar
/// code (the reference entry points pass fast = false and never use them).
const legacy::SearchKernels* searchKernels(bool fast) {
    if (!fast) return nullptr;
    switch (encodeSimdLevel()) {
    case EncodeSimdLevel::Avx512: return legacy::searchKernelsAvx512();
    case EncodeSimdLevel::Avx2: return legacy::searchKernelsAvx2();
    case EncodeSimdLevel::Scalar: break;
    }
    return nullptr;
}

/// ggml's make_qx_quants with weights over one block of 32.
inline float blockScaleSym(int nmax, const float* xb, int8_t* L, const float* weight,
                           const legacy::SearchKernels* k, bool fast) {
    return k ? k->sym(32, nmax, xb, L, weight) : searchScaleSym(32, nmax, xb, L, weight, fast);
}

}  // namespace

// ==========================================================================================
// Q8_0: d = amax / 127, q = round(x / d) (quantize_row_q8_0_ref; importance ignored)
// ==========================================================================================

void encodeQ8_0(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    if (const auto* k = plainKernels()) {
        k->q8_0(src, dst, n);
        return;
    }
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ8_0));
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) {
            const float a = std::fabs(xb[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ8_0, d), d);
        uint8_t* qs = out + offsetof(BlockQ8_0, qs);
        for (int j = 0; j < 32; ++j) {
            // roundf (half away from zero) without a libm call: truncate, then step away from
            // zero when the exact remainder is at least one half.
            const float v = xb[j] * id;
            int r = int(v);
            const float frac = v - float(r);
            r += int(frac >= 0.5f) - int(frac <= -0.5f);
            qs[j] = uint8_t(int8_t(r));
        }
    }
}

// ==========================================================================================
// Q4_0: d = max / -8 with max the signed largest-magnitude value; q = min(15, trunc(x/d + 8.5))
// ==========================================================================================

namespace {
void encodeQ4_0Plain(const float* src, uint8_t* dst, int64_t n) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ4_0));
        const float d = signedAbsMax(xb) / -8;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ4_0, d), d);
        uint8_t* qs = out + offsetof(BlockQ4_0, qs);
        for (int j = 0; j < 16; ++j) {
            const int xi0 = std::min(15, truncToInt(xb[j] * id + 8.5f));
            const int xi1 = std::min(15, truncToInt(xb[16 + j] * id + 8.5f));
            qs[j] = uint8_t(xi0 | (xi1 << 4));
        }
    }
}

/// quantize_row_q4_0_impl: a weighted symmetric scale search per block.
void encodeQ4_0Importance(const float* src, uint8_t* dst, int64_t n, const float* qwRow,
                          bool fast) {
    const float sigma2 = rowSigma2(src, n);
    const legacy::SearchKernels* k = searchKernels(fast);
    float weight[32];
    int8_t L[32];
    const int64_t nb = n / 32;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float* xb = src + 32 * ib;
        blockWeights(xb, qwRow + 32 * ib, sigma2, weight);
        BlockQ4_0 y;
        y.d = floatToHalf(blockScaleSym(8, xb, L, weight, k, fast));
        for (int j = 0; j < 16; ++j) y.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
        storeBlock(dst + ib * int64_t(sizeof(BlockQ4_0)), y);
    }
}
}  // namespace

void encodeQ4_0(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) {
        if (const auto* k = plainKernels()) {
            k->q4_0(src, dst, n);
            return;
        }
    }
    if (importance) {
        encodeQ4_0Importance(src, dst, n, importance, true);
    } else {
        encodeQ4_0Plain(src, dst, n);
    }
}
void encodeQ4_0Ref(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQ4_0Importance(src, dst, n, importance, false);
    } else {
        encodeQ4_0Plain(src, dst, n);
    }
}

// ==========================================================================================
// Q4_1: d = (max - min) / 15, m = min; q = min(15, trunc((x - min)/d + 0.5))
// ==========================================================================================

namespace {
void encodeQ4_1Plain(const float* src, uint8_t* dst, int64_t n) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ4_1));
        float min, max;
        blockMinMax(xb, min, max);
        const float d = (max - min) / 15;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ4_1, d), d);
        putHalf(out + offsetof(BlockQ4_1, m), min);
        uint8_t* qs = out + offsetof(BlockQ4_1, qs);
        for (int j = 0; j < 16; ++j) {
            const int xi0 = std::min(15, truncToInt((xb[j] - min) * id + 0.5f));
            const int xi1 = std::min(15, truncToInt((xb[16 + j] - min) * id + 0.5f));
            qs[j] = uint8_t(xi0 | (xi1 << 4));
        }
    }
}

/// quantize_row_q4_1_impl / q5_1_impl: make_qkx3_quants per block (the caller packs).
template <int Nmax, typename Block, typename Pack>
void encodeQx_1Importance(const float* src, uint8_t* dst, int64_t n, const float* qwRow, bool fast,
                          Pack pack) {
    const float sigma2 = rowSigma2(src, n);
    const legacy::SearchKernels* k = searchKernels(fast);
    float weight[32];
    uint8_t L[32];
    const int64_t nb = n / 32;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float* xb = src + 32 * ib;
        blockWeights(xb, qwRow + 32 * ib, sigma2, weight);
        float negMin;
        const float d =
            k ? k->min(32, Nmax, xb, weight, L, &negMin, -0.9f, 0.05f, 36, false)
              : searchScaleMin(32, Nmax, xb, weight, L, &negMin, -0.9f, 0.05f, 36, false, fast);
        Block y;
        y.d = floatToHalf(d);
        y.m = floatToHalf(-negMin);
        pack(L, y);
        storeBlock(dst + ib * int64_t(sizeof(Block)), y);
    }
}

void packQ4_1(const uint8_t* L, BlockQ4_1& y) {
    for (int j = 0; j < 16; ++j) y.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
}
void packQ5_1(const uint8_t* L, BlockQ5_1& y) {
    packQ5(L, y.qs, y.qh);
}
}  // namespace

void encodeQ4_1(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) {
        if (const auto* k = plainKernels()) {
            k->q4_1(src, dst, n);
            return;
        }
    }
    if (importance) {
        encodeQx_1Importance<15, BlockQ4_1>(src, dst, n, importance, true, packQ4_1);
    } else {
        encodeQ4_1Plain(src, dst, n);
    }
}
void encodeQ4_1Ref(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQx_1Importance<15, BlockQ4_1>(src, dst, n, importance, false, packQ4_1);
    } else {
        encodeQ4_1Plain(src, dst, n);
    }
}

// ==========================================================================================
// Q5_0: d = max / -16; q = min(31, trunc(x/d + 16.5)), 5th bits in qh
// ==========================================================================================

namespace {
void encodeQ5_0Plain(const float* src, uint8_t* dst, int64_t n) {
    const int64_t nb = n / 32;
    uint8_t L[32];
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ5_0));
        const float d = signedAbsMax(xb) / -16;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ5_0, d), d);
        for (int j = 0; j < 32; ++j) L[j] = uint8_t(std::min(31, truncToInt(xb[j] * id + 16.5f)));
        packQ5(L, out + offsetof(BlockQ5_0, qs), out + offsetof(BlockQ5_0, qh));
    }
}

/// quantize_row_q5_0_impl: a weighted symmetric scale search per block.
void encodeQ5_0Importance(const float* src, uint8_t* dst, int64_t n, const float* qwRow,
                          bool fast) {
    const float sigma2 = rowSigma2(src, n);
    const legacy::SearchKernels* k = searchKernels(fast);
    float weight[32];
    int8_t L[32];
    uint8_t Lu[32];
    const int64_t nb = n / 32;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float* xb = src + 32 * ib;
        blockWeights(xb, qwRow + 32 * ib, sigma2, weight);
        BlockQ5_0 y;
        y.d = floatToHalf(blockScaleSym(16, xb, L, weight, k, fast));
        for (int j = 0; j < 32; ++j) Lu[j] = uint8_t(L[j]);
        packQ5(Lu, y.qs, y.qh);
        storeBlock(dst + ib * int64_t(sizeof(BlockQ5_0)), y);
    }
}
}  // namespace

void encodeQ5_0(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) {
        if (const auto* k = plainKernels()) {
            k->q5_0(src, dst, n);
            return;
        }
    }
    if (importance) {
        encodeQ5_0Importance(src, dst, n, importance, true);
    } else {
        encodeQ5_0Plain(src, dst, n);
    }
}
void encodeQ5_0Ref(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQ5_0Importance(src, dst, n, importance, false);
    } else {
        encodeQ5_0Plain(src, dst, n);
    }
}

// ==========================================================================================
// Q5_1: d = (max - min) / 31, m = min; q = trunc((x - min)/d + 0.5) (no clamp, as in ggml)
// ==========================================================================================

namespace {
void encodeQ5_1Plain(const float* src, uint8_t* dst, int64_t n) {
    const int64_t nb = n / 32;
    uint8_t L[32];
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ5_1));
        float min, max;
        blockMinMax(xb, min, max);
        const float d = (max - min) / 31;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ5_1, d), d);
        putHalf(out + offsetof(BlockQ5_1, m), min);
        for (int j = 0; j < 32; ++j) L[j] = uint8_t(truncToInt((xb[j] - min) * id + 0.5f));
        packQ5(L, out + offsetof(BlockQ5_1, qs), out + offsetof(BlockQ5_1, qh));
    }
}
}  // namespace

void encodeQ5_1(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) {
        if (const auto* k = plainKernels()) {
            k->q5_1(src, dst, n);
            return;
        }
    }
    if (importance) {
        encodeQx_1Importance<31, BlockQ5_1>(src, dst, n, importance, true, packQ5_1);
    } else {
        encodeQ5_1Plain(src, dst, n);
    }
}
void encodeQ5_1Ref(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQx_1Importance<31, BlockQ5_1>(src, dst, n, importance, false, packQ5_1);
    } else {
        encodeQ5_1Plain(src, dst, n);
    }
}

// ==========================================================================================
// Plain paths fused with the input check (encodeRows)
// ==========================================================================================

namespace {
/// The vectorised kernel where there is one; else the check, then the scalar encoder (which
/// must not see NaN: its first-maximum search assumes finite values).
template <legacy::RowFn legacy::PlainKernels::*Kernel>
uint32_t encodeChecked(const float* src, uint8_t* dst, int64_t n,
                       void (*encode)(const float*, uint8_t*, int64_t, const float*)) {
    if (const auto* k = plainKernels()) return (k->*Kernel)(src, dst, n);
    const uint32_t m = rowMaxAbsBits(src, n);
    if (m < 0x7f800000u) encode(src, dst, n, nullptr);
    return m;
}
}  // namespace

uint32_t encodeQ8_0MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    return encodeChecked<&legacy::PlainKernels::q8_0>(src, dst, n, encodeQ8_0);
}
uint32_t encodeQ4_0MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    return encodeChecked<&legacy::PlainKernels::q4_0>(src, dst, n, encodeQ4_0);
}
uint32_t encodeQ4_1MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    return encodeChecked<&legacy::PlainKernels::q4_1>(src, dst, n, encodeQ4_1);
}
uint32_t encodeQ5_0MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    return encodeChecked<&legacy::PlainKernels::q5_0>(src, dst, n, encodeQ5_0);
}
uint32_t encodeQ5_1MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    return encodeChecked<&legacy::PlainKernels::q5_1>(src, dst, n, encodeQ5_1);
}

}  // namespace qs::formats::detail
