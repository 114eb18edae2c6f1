// AVX-512 and AVX2 kernels of the legacy quants' plain paths (legacy_kernels.h): Q8_0, Q4_0,
// Q4_1, Q5_0 and Q5_1 without importance, one 32-value block per step.
//
// Each block takes the scalar encoder's float operations in its order (legacy/encode.cpp:
// ggml's quantize_row_qX_Y_ref): the block's largest magnitude, its min and max (exact,
// order-free reductions; the sign of a zero result is taken from the block's first zero, as
// ggml's sequential loop keeps it), the scale and its inverse in scalar code, then per value a
// multiply and a separate add (this file is compiled with -ffp-contract=off), truncation toward
// zero, and the same clamps. The bytes are the scalar encoder's.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "formats/codecs/legacy/legacy.h"
#include "formats/codecs/legacy/legacy_kernels.h"
#include "formats/half.h"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns that the deliberately undefined operand of its own AVX-512 intrinsics
// (_mm512_undefined_*) is used uninitialized once they are inlined into a target("avx512f")
// function (GCC bug 105593, fixed in GCC 13): a false positive, silenced for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define QS_LEGACY_X86 1
#define QS_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define QS_T256 __attribute__((target("avx2,fma")))
#endif

namespace qs::formats::detail::legacy {

#if defined(QS_LEGACY_X86)

namespace {

using namespace qs::formats::blocks;

inline void putHalf(uint8_t* p, float v) {
    const uint16_t h = floatToHalf(v);
    std::memcpy(p, &h, 2);
}

/// The first value of the block equal to `v` (recovers the sign of a zero).
inline float firstEqual(const float* xb, float v) {
    int j = 0;
    while (xb[j] != v) ++j;
    return xb[j];
}

// ==========================================================================================
// AVX-512: a block is two 16-lane vectors.
// ==========================================================================================

QS_T512 inline __m512 abs512(__m512 v) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

/// m = max(m, |x| bits) over `vectors` 16-float vectors from x (the input check: an integer
/// max, which sees NaN and Inf, unlike a float max).
QS_T512 inline __m512i absBits512(const float* x, int vectors, __m512i m) {
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff);
    for (int k = 0; k < vectors; ++k) {
        m = _mm512_max_epi32(m, _mm512_and_si512(_mm512_loadu_si512(x + 16 * k), absMask));
    }
    return m;
}

/// The block's value of largest magnitude, the first on ties (+0 for an all-zero block).
QS_T512 inline float signedAbsMax512(const float* xb, __m512 x0, __m512 x1) {
    const __m512 a0 = abs512(x0), a1 = abs512(x1);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    if (amax == 0.0f) return 0.0f;
    const __m512 am = _mm512_set1_ps(amax);
    const uint32_t eq = uint32_t(_mm512_cmp_ps_mask(a0, am, _CMP_EQ_OQ)) |
                        (uint32_t(_mm512_cmp_ps_mask(a1, am, _CMP_EQ_OQ)) << 16);
    return eq != 0 ? xb[__builtin_ctz(eq)] : amax;  // no match only for a NaN amax
}

QS_T512 inline void minMax512(const float* xb, __m512 x0, __m512 x1, float& min, float& max) {
    min = _mm512_reduce_min_ps(_mm512_min_ps(x0, x1));
    max = _mm512_reduce_max_ps(_mm512_max_ps(x0, x1));
    // ggml starts from +-FLT_MAX; a block is never empty, so min <= max is a block value.
    if (min == 0.0f) min = firstEqual(xb, 0.0f);
    if (max == 0.0f) max = firstEqual(xb, 0.0f);
}

/// trunc(x * id + add), clamped above by `hi` (no clamp when hi < 0).
QS_T512 inline __m512i levels512(__m512 x, __m512 id, __m512 add, int hi) {
    const __m512i l = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(x, id), add));
    return hi < 0 ? l : _mm512_min_epi32(l, _mm512_set1_epi32(hi));
}

/// Low nibbles from values 0-15, high nibbles from 16-31.
QS_T512 inline void packNibbles512(__m512i lo, __m512i hi, uint8_t* qs) {
    const __m512i m = _mm512_set1_epi32(0x0f);
    const __m512i b =
        _mm512_or_si512(_mm512_and_si512(lo, m), _mm512_slli_epi32(_mm512_and_si512(hi, m), 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(b));
}

/// Q5 high bits: bit j of the little-endian uint32 is bit 4 of value j.
QS_T512 inline void packHigh512(__m512i lo, __m512i hi, uint8_t* qh) {
    const __m512i bit = _mm512_set1_epi32(0x10);
    const uint32_t h = uint32_t(_mm512_test_epi32_mask(lo, bit)) |
                       (uint32_t(_mm512_test_epi32_mask(hi, bit)) << 16);
    std::memcpy(qh, &h, 4);
}

/// The bytes of four vectors of 16 integers in 0..255 (-128..127 when Signed), in order: q0's
/// 16, then q1's, q2's and q3's (two in-lane packs and one dword permute instead of four
/// vpmovdb, which the value pass was waiting on).
template <bool Signed>
QS_T512 inline __m512i bytes4x16(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
    const __m512i w01 = Signed ? _mm512_packs_epi32(q0, q1) : _mm512_packus_epi32(q0, q1);
    const __m512i w23 = Signed ? _mm512_packs_epi32(q2, q3) : _mm512_packus_epi32(q2, q3);
    const __m512i b = Signed ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
    // 128-bit lane L holds the dwords q0[4L..], q1[4L..], q2[4L..], q3[4L..].
    return _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
}

/// Stores the four 16-byte quarters of b at p[0], p[1], p[2], p[3].
QS_T512 inline void store4x16(__m512i b, uint8_t* p0, uint8_t* p1, uint8_t* p2, uint8_t* p3) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p0), _mm512_castsi512_si128(b));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p1), _mm512_extracti32x4_epi32(b, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p2), _mm512_extracti32x4_epi32(b, 2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p3), _mm512_extracti32x4_epi32(b, 3));
}

// The per-block scales of 16 blocks at once: the block extremes as one vector (a transpose
// tree of exact max/min steps), then the scale, its inverse and the fp16 rounding (F16C,
// round to nearest even, as floatToHalf) as vector operations, lane b for block b.

/// Per-block parameters of a group: inverse scale, min (Q*_1), fp16 scale and min.
struct Group16 {
    alignas(64) float id[16];
    alignas(64) float min[16];
    alignas(32) uint16_t d[16];
    alignas(32) uint16_t m[16];
};

template <bool Max>
QS_T512 inline __m512 op512(__m512 a, __m512 b) {
    return Max ? _mm512_max_ps(a, b) : _mm512_min_ps(a, b);
}

/// Lane b: the largest (smallest) element of v[b]. Exact: every step is a max (min).
template <bool Max>
QS_T512 inline __m512 reduce16x16(__m512* v) {
    __m512 r[8], s[4], t[2];
    for (int k = 0; k < 8; ++k) {  // lanes 0-7 from v[2k], 8-15 from v[2k+1]
        r[k] = op512<Max>(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                          _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
    }
    for (int k = 0; k < 4; ++k) {  // each 128-bit quarter: one block's 4 partials
        s[k] = op512<Max>(_mm512_shuffle_f32x4(r[2 * k], r[2 * k + 1], 0x88),
                          _mm512_shuffle_f32x4(r[2 * k], r[2 * k + 1], 0xDD));
    }
    for (int k = 0; k < 2; ++k) {  // pairs within each quarter
        t[k] = op512<Max>(_mm512_shuffle_ps(s[2 * k], s[2 * k + 1], 0x44),
                          _mm512_shuffle_ps(s[2 * k], s[2 * k + 1], 0xEE));
    }
    const __m512 u =
        op512<Max>(_mm512_shuffle_ps(t[0], t[1], 0x88), _mm512_shuffle_ps(t[0], t[1], 0xDD));
    // u holds the 16 results in the order the shuffles left them: put lane b at block b.
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, u);
}

/// id = d != 0 ? 1 / d : 0 and the fp16 bits of d, for 16 scales.
QS_T512 inline void inverseAndHalf(__m512 d, Group16& g) {
    const __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    _mm512_store_ps(g.id, _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d));
    _mm256_store_si256(reinterpret_cast<__m256i*>(g.d),
                       _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/// |x| as integer bits (the input check's max sees NaN and Inf, which a float max does not;
/// for finite values the integer order of the bits is the order of the magnitudes).
QS_T512 inline __m512i absBitsOf512(__m512 v) {
    return _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff));
}

/// The input check from the 16 blocks' extremes: max |x| = max(max, -min) per block for
/// finite values (an infinity is one too), any NaN (the unordered compares) as 0x7fc00000.
QS_T512 inline __m512i checkFromExtremes(__m512i mabs, __m512 mn, __m512 mx, __mmask16 nan) {
    const __m512 a = _mm512_max_ps(mx, _mm512_sub_ps(_mm512_setzero_ps(), mn));
    mabs = _mm512_max_epi32(mabs, absBitsOf512(a));
    return nan != 0 ? _mm512_max_epi32(mabs, _mm512_set1_epi32(0x7fc00000)) : mabs;
}

/// Q8_0 (Kind 0), Q4_0 / Q5_0 (Kind 1, divisor -8 / -16), Q4_1 / Q5_1 (Kind 2, 15 / 31) for
/// the 16 blocks at x, fused with the input check: `mabs` takes the largest |x| bits.
template <int Kind>
QS_T512 inline void group16(const float* x, float divisor, Group16& g, __m512i& mabs) {
    __m512 a[16];
    if constexpr (Kind == 2) {
        __m512 b[16];
        __mmask16 nan = 0;
        for (int k = 0; k < 16; ++k) {
            const __m512 x0 = _mm512_loadu_ps(x + 32 * k), x1 = _mm512_loadu_ps(x + 32 * k + 16);
            nan = __mmask16(nan | _mm512_cmp_ps_mask(x0, x1, _CMP_UNORD_Q));
            a[k] = _mm512_min_ps(x0, x1);
            b[k] = _mm512_max_ps(x0, x1);
        }
        const __m512 mn = reduce16x16<false>(a), mx = reduce16x16<true>(b);
        mabs = checkFromExtremes(mabs, mn, mx, nan);
        _mm512_store_ps(g.min, mn);
        alignas(64) float maxs[16];
        _mm512_store_ps(maxs, mx);
        // A zero extreme takes the sign of its block's first zero (ggml's sequential loop).
        const __mmask16 zmin = _mm512_cmp_ps_mask(mn, _mm512_setzero_ps(), _CMP_EQ_OQ);
        const __mmask16 zmax = _mm512_cmp_ps_mask(mx, _mm512_setzero_ps(), _CMP_EQ_OQ);
        for (int k = 0; k < 16; ++k) {
            if (zmin & (1u << k)) g.min[k] = firstEqual(x + 32 * k, 0.0f);
            if (zmax & (1u << k)) maxs[k] = firstEqual(x + 32 * k, 0.0f);
        }
        const __m512 minv = _mm512_load_ps(g.min);
        inverseAndHalf(
            _mm512_div_ps(_mm512_sub_ps(_mm512_load_ps(maxs), minv), _mm512_set1_ps(divisor)), g);
        _mm256_store_si256(reinterpret_cast<__m256i*>(g.m),
                           _mm512_cvtps_ph(minv, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    } else if constexpr (Kind == 1) {
        // The signed value of largest magnitude, the first on ties (+0 for a zero block):
        // from the block's max and min, the scalar search only where +a and -a both occur.
        __m512 b[16];
        __mmask16 nan = 0;
        for (int k = 0; k < 16; ++k) {
            const __m512 x0 = _mm512_loadu_ps(x + 32 * k), x1 = _mm512_loadu_ps(x + 32 * k + 16);
            nan = __mmask16(nan | _mm512_cmp_ps_mask(x0, x1, _CMP_UNORD_Q));
            a[k] = _mm512_min_ps(x0, x1);
            b[k] = _mm512_max_ps(x0, x1);
        }
        const __m512 mn = reduce16x16<false>(a), mx = reduce16x16<true>(b);
        mabs = checkFromExtremes(mabs, mn, mx, nan);
        const __m512 negMn = _mm512_sub_ps(_mm512_setzero_ps(), mn);
        const __mmask16 pos = _mm512_cmp_ps_mask(mx, negMn, _CMP_GT_OQ);
        const __mmask16 neg = _mm512_cmp_ps_mask(mx, negMn, _CMP_LT_OQ);
        const __mmask16 nz = _mm512_cmp_ps_mask(mx, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        __m512 sv = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(pos, mx), neg, mn);
        const __mmask16 tie = __mmask16(nz & ~pos & ~neg);  // +a and -a (or a NaN)
        if (tie != 0) {
            alignas(64) float am[16], mxs[16];
            _mm512_store_ps(am, _mm512_max_ps(mx, negMn));
            _mm512_store_ps(mxs, sv);
            for (int k = 0; k < 16; ++k) {
                if (!(tie & (1u << k))) continue;
                const float* xb = x + 32 * k;
                int j = 0;
                while (j < 31 && std::fabs(xb[j]) != am[k]) ++j;
                mxs[k] = xb[j];
            }
            sv = _mm512_load_ps(mxs);
        }
        inverseAndHalf(_mm512_div_ps(sv, _mm512_set1_ps(divisor)), g);
    } else {
        __m512i m = mabs;
        for (int k = 0; k < 16; ++k) {
            const __m512i b0 = absBitsOf512(_mm512_loadu_ps(x + 32 * k));
            const __m512i b1 = absBitsOf512(_mm512_loadu_ps(x + 32 * k + 16));
            const __m512i bm = _mm512_max_epi32(b0, b1);
            m = _mm512_max_epi32(m, bm);
            a[k] = _mm512_castsi512_ps(bm);  // |x| as a float (the row is refused on NaN)
        }
        mabs = m;
        inverseAndHalf(_mm512_div_ps(reduce16x16<true>(a), _mm512_set1_ps(divisor)), g);
    }
}

/// roundf(v) as an integer: truncate, then step away from zero when the remainder is >= 1/2.
QS_T512 inline __m512i roundAway512(__m512 v) {
    const __m512i one = _mm512_set1_epi32(1);
    __m512i r = _mm512_cvttps_epi32(v);
    const __m512 frac = _mm512_sub_ps(v, _mm512_cvtepi32_ps(r));
    r = _mm512_mask_add_epi32(r, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ), r,
                              one);
    return _mm512_mask_sub_epi32(r, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), r,
                                 one);
}

/// Q8_0 values of two blocks (xb, xb + 32) with inverse scales id0, id1.
QS_T512 inline void q8_0Values2(const float* xb, float id0, float id1, uint8_t* qs0, uint8_t* qs1) {
    const __m512 i0 = _mm512_set1_ps(id0), i1 = _mm512_set1_ps(id1);
    const __m512i b = bytes4x16<true>(roundAway512(_mm512_mul_ps(_mm512_loadu_ps(xb), i0)),
                                      roundAway512(_mm512_mul_ps(_mm512_loadu_ps(xb + 16), i0)),
                                      roundAway512(_mm512_mul_ps(_mm512_loadu_ps(xb + 32), i1)),
                                      roundAway512(_mm512_mul_ps(_mm512_loadu_ps(xb + 48), i1)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs0), _mm512_castsi512_si256(b));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs1), _mm512_extracti64x4_epi64(b, 1));
}

/// Q8_0 values of one block with inverse scale id.
QS_T512 inline void q8_0Values512(const float* xb, float id, uint8_t* qs) {
    const __m512i one = _mm512_set1_epi32(1);
    const __m512 half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f);
    const __m512 idv = _mm512_set1_ps(id);
    for (int h = 0; h < 2; ++h) {
        // roundf: truncate, then step away from zero when the remainder is >= one half.
        const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(xb + 16 * h), idv);
        __m512i r = _mm512_cvttps_epi32(v);
        const __m512 frac = _mm512_sub_ps(v, _mm512_cvtepi32_ps(r));
        r = _mm512_mask_add_epi32(r, _mm512_cmp_ps_mask(frac, half, _CMP_GE_OQ), r, one);
        r = _mm512_mask_sub_epi32(r, _mm512_cmp_ps_mask(frac, mhalf, _CMP_LE_OQ), r, one);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16 * h), _mm512_cvtepi32_epi8(r));
    }
}

QS_T512 uint32_t q8_0_512(const float* src, uint8_t* dst, int64_t n) {
    __m512i mabs = _mm512_setzero_si512();
    const int64_t nb = n / 32;
    int64_t i = 0;
    Group16 g;
    for (; i + 16 <= nb; i += 16) {
        group16<0>(src + 32 * i, 127.0f, g, mabs);
        for (int k = 0; k < 16; k += 2) {
            uint8_t* out = dst + (i + k) * int64_t(sizeof(BlockQ8_0));
            uint8_t* out1 = out + sizeof(BlockQ8_0);
            std::memcpy(out + offsetof(BlockQ8_0, d), &g.d[k], 2);
            std::memcpy(out1 + offsetof(BlockQ8_0, d), &g.d[k + 1], 2);
            q8_0Values2(src + 32 * (i + k), g.id[k], g.id[k + 1], out + offsetof(BlockQ8_0, qs),
                        out1 + offsetof(BlockQ8_0, qs));
        }
    }
    for (; i < nb; ++i) {
        const float* xb = src + 32 * i;
        mabs = absBits512(xb, 2, mabs);
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ8_0));
        const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs512(x0), abs512(x1)));
        const float d = amax / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ8_0, d), d);
        q8_0Values512(xb, id, out + offsetof(BlockQ8_0, qs));
    }
    return uint32_t(_mm512_reduce_max_epi32(mabs));
}

/// Q4_0 / Q5_0 levels of one block: trunc(x * id + add), clamped.
template <bool Five>
QS_T512 inline void qx_0Values512(const float* xb, float id, uint8_t* out) {
    using Block = std::conditional_t<Five, BlockQ5_0, BlockQ4_0>;
    const __m512 add = _mm512_set1_ps(Five ? 16.5f : 8.5f);
    const __m512 idv = _mm512_set1_ps(id);
    const __m512i lo = levels512(_mm512_loadu_ps(xb), idv, add, Five ? 31 : 15);
    const __m512i hi = levels512(_mm512_loadu_ps(xb + 16), idv, add, Five ? 31 : 15);
    packNibbles512(lo, hi, out + offsetof(Block, qs));
    if constexpr (Five) packHigh512(lo, hi, out + offsetof(BlockQ5_0, qh));
}

/// Q4_0 / Q5_0 levels of the four blocks at xb (inverse scales id[0..3]) into out[0..3].
template <bool Five>
QS_T512 inline void qx_0Values4(const float* xb, const float* id, uint8_t* const* out) {
    using Block = std::conditional_t<Five, BlockQ5_0, BlockQ4_0>;
    const __m512 add = _mm512_set1_ps(Five ? 16.5f : 8.5f);
    const __m512i m = _mm512_set1_epi32(0x0f);
    __m512i q[4];
    for (int j = 0; j < 4; ++j) {
        const __m512 idv = _mm512_set1_ps(id[j]);
        const __m512i lo = levels512(_mm512_loadu_ps(xb + 32 * j), idv, add, Five ? 31 : 15);
        const __m512i hi = levels512(_mm512_loadu_ps(xb + 32 * j + 16), idv, add, Five ? 31 : 15);
        q[j] =
            _mm512_or_si512(_mm512_and_si512(lo, m), _mm512_slli_epi32(_mm512_and_si512(hi, m), 4));
        if constexpr (Five) packHigh512(lo, hi, out[j] + offsetof(BlockQ5_0, qh));
    }
    store4x16(bytes4x16<false>(q[0], q[1], q[2], q[3]), out[0] + offsetof(Block, qs),
              out[1] + offsetof(Block, qs), out[2] + offsetof(Block, qs),
              out[3] + offsetof(Block, qs));
}

/// Q4_0 (Nmax 15, divisor -8, offset 8.5) and Q5_0 (31, -16, 16.5).
template <bool Five>
QS_T512 uint32_t qx_0_512(const float* src, uint8_t* dst, int64_t n) {
    __m512i mabs = _mm512_setzero_si512();
    using Block = std::conditional_t<Five, BlockQ5_0, BlockQ4_0>;
    const int64_t nb = n / 32;
    int64_t i = 0;
    Group16 g;
    for (; i + 16 <= nb; i += 16) {
        group16<1>(src + 32 * i, Five ? -16.0f : -8.0f, g, mabs);
        for (int k = 0; k < 16; k += 4) {
            uint8_t* out[4];
            for (int j = 0; j < 4; ++j) {
                out[j] = dst + (i + k + j) * int64_t(sizeof(Block));
                std::memcpy(out[j] + offsetof(Block, d), &g.d[k + j], 2);
            }
            qx_0Values4<Five>(src + 32 * (i + k), g.id + k, out);
        }
    }
    for (; i < nb; ++i) {
        const float* xb = src + 32 * i;
        mabs = absBits512(xb, 2, mabs);
        uint8_t* out = dst + i * int64_t(sizeof(Block));
        const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
        const float d = signedAbsMax512(xb, x0, x1) / (Five ? -16 : -8);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(Block, d), d);
        qx_0Values512<Five>(xb, id, out);
    }
    return uint32_t(_mm512_reduce_max_epi32(mabs));
}

/// Q4_1 / Q5_1 levels of one block: trunc((x - min) * id + 0.5), clamped for Q4_1.
template <bool Five>
QS_T512 inline void qx_1Values512(const float* xb, float min, float id, uint8_t* out) {
    using Block = std::conditional_t<Five, BlockQ5_1, BlockQ4_1>;
    const __m512 add = _mm512_set1_ps(0.5f);
    const __m512 idv = _mm512_set1_ps(id), mn = _mm512_set1_ps(min);
    const __m512i lo = levels512(_mm512_sub_ps(_mm512_loadu_ps(xb), mn), idv, add, Five ? -1 : 15);
    const __m512i hi =
        levels512(_mm512_sub_ps(_mm512_loadu_ps(xb + 16), mn), idv, add, Five ? -1 : 15);
    packNibbles512(lo, hi, out + offsetof(Block, qs));
    if constexpr (Five) packHigh512(lo, hi, out + offsetof(BlockQ5_1, qh));
}

/// Q4_1 / Q5_1 levels of the four blocks at xb (mins min[0..3], inverse scales id[0..3]).
template <bool Five>
QS_T512 inline void qx_1Values4(const float* xb, const float* min, const float* id,
                                uint8_t* const* out) {
    using Block = std::conditional_t<Five, BlockQ5_1, BlockQ4_1>;
    const __m512 add = _mm512_set1_ps(0.5f);
    const __m512i m = _mm512_set1_epi32(0x0f);
    __m512i q[4];
    for (int j = 0; j < 4; ++j) {
        const __m512 idv = _mm512_set1_ps(id[j]), mn = _mm512_set1_ps(min[j]);
        const __m512i lo =
            levels512(_mm512_sub_ps(_mm512_loadu_ps(xb + 32 * j), mn), idv, add, Five ? -1 : 15);
        const __m512i hi = levels512(_mm512_sub_ps(_mm512_loadu_ps(xb + 32 * j + 16), mn), idv, add,
                                     Five ? -1 : 15);
        q[j] =
            _mm512_or_si512(_mm512_and_si512(lo, m), _mm512_slli_epi32(_mm512_and_si512(hi, m), 4));
        if constexpr (Five) packHigh512(lo, hi, out[j] + offsetof(BlockQ5_1, qh));
    }
    store4x16(bytes4x16<false>(q[0], q[1], q[2], q[3]), out[0] + offsetof(Block, qs),
              out[1] + offsetof(Block, qs), out[2] + offsetof(Block, qs),
              out[3] + offsetof(Block, qs));
}

/// Q4_1 (divisor 15, clamp 15) and Q5_1 (divisor 31, no clamp).
template <bool Five>
QS_T512 uint32_t qx_1_512(const float* src, uint8_t* dst, int64_t n) {
    __m512i mabs = _mm512_setzero_si512();
    using Block = std::conditional_t<Five, BlockQ5_1, BlockQ4_1>;
    const int64_t nb = n / 32;
    int64_t i = 0;
    Group16 g;
    for (; i + 16 <= nb; i += 16) {
        group16<2>(src + 32 * i, Five ? 31.0f : 15.0f, g, mabs);
        for (int k = 0; k < 16; k += 4) {
            uint8_t* out[4];
            for (int j = 0; j < 4; ++j) {
                out[j] = dst + (i + k + j) * int64_t(sizeof(Block));
                std::memcpy(out[j] + offsetof(Block, d), &g.d[k + j], 2);
                std::memcpy(out[j] + offsetof(Block, m), &g.m[k + j], 2);
            }
            qx_1Values4<Five>(src + 32 * (i + k), g.min + k, g.id + k, out);
        }
    }
    for (; i < nb; ++i) {
        const float* xb = src + 32 * i;
        mabs = absBits512(xb, 2, mabs);
        uint8_t* out = dst + i * int64_t(sizeof(Block));
        const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
        float min, max;
        minMax512(xb, x0, x1, min, max);
        const float d = (max - min) / (Five ? 31 : 15);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(Block, d), d);
        putHalf(out + offsetof(Block, m), min);
        qx_1Values512<Five>(xb, min, id, out);
    }
    return uint32_t(_mm512_reduce_max_epi32(mabs));
}

// ==========================================================================================
// AVX2: a block is four 8-lane vectors.
// ==========================================================================================

struct Block256 {
    __m256 x[4];
};

QS_T256 inline Block256 load256(const float* xb) {
    return {{_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8), _mm256_loadu_ps(xb + 16),
             _mm256_loadu_ps(xb + 24)}};
}

QS_T256 inline __m256 abs256(__m256 v) {
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff)));
}

QS_T256 inline float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

QS_T256 inline float hmin256(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

QS_T256 inline float absMax256(const Block256& b) {
    return hmax256(_mm256_max_ps(_mm256_max_ps(abs256(b.x[0]), abs256(b.x[1])),
                                 _mm256_max_ps(abs256(b.x[2]), abs256(b.x[3]))));
}

QS_T256 inline float signedAbsMax256(const float* xb, const Block256& b) {
    const float amax = absMax256(b);
    if (amax == 0.0f) return 0.0f;
    const __m256 am = _mm256_set1_ps(amax);
    uint32_t eq = 0;
    for (int k = 0; k < 4; ++k) {
        eq |= uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(abs256(b.x[k]), am, _CMP_EQ_OQ)))
              << (8 * k);
    }
    return eq != 0 ? xb[__builtin_ctz(eq)] : amax;  // no match only for a NaN amax
}

QS_T256 inline void minMax256(const float* xb, const Block256& b, float& min, float& max) {
    min = hmin256(_mm256_min_ps(_mm256_min_ps(b.x[0], b.x[1]), _mm256_min_ps(b.x[2], b.x[3])));
    max = hmax256(_mm256_max_ps(_mm256_max_ps(b.x[0], b.x[1]), _mm256_max_ps(b.x[2], b.x[3])));
    if (min == 0.0f) min = firstEqual(xb, 0.0f);
    if (max == 0.0f) max = firstEqual(xb, 0.0f);
}

/// trunc((x - sub) * id + add) for the 32 values (trunc(x * id + add) when !Sub), clamped
/// above by `hi` (none when hi < 0).
template <bool Sub>
QS_T256 inline void levels256(const Block256& b, float sub, float id, float add, int hi,
                              int32_t* L) {
    const __m256 s = _mm256_set1_ps(sub), i = _mm256_set1_ps(id), a = _mm256_set1_ps(add);
    for (int k = 0; k < 4; ++k) {
        const __m256 x = Sub ? _mm256_sub_ps(b.x[k], s) : b.x[k];
        __m256i l = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(x, i), a));
        if (hi >= 0) l = _mm256_min_epi32(l, _mm256_set1_epi32(hi));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(L + 8 * k), l);
    }
}

inline void packNibbles(const int32_t* L, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = uint8_t((L[j] & 0x0f) | ((L[16 + j] & 0x0f) << 4));
}

inline void packHigh(const int32_t* L, uint8_t* qh) {
    uint32_t h = 0;
    for (int j = 0; j < 32; ++j) h |= uint32_t((L[j] >> 4) & 1) << j;
    std::memcpy(qh, &h, 4);
}

/// The largest |x| bits of n values (n a multiple of 8).
QS_T256 inline uint32_t absBits256(const float* x, int64_t n) {
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff);
    __m256i m = _mm256_setzero_si256();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
        m = _mm256_max_epi32(m, _mm256_and_si256(v, absMask));
    }
    __m128i r = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    r = _mm_max_epi32(r, _mm_shuffle_epi32(r, 0x4e));
    r = _mm_max_epi32(r, _mm_shuffle_epi32(r, 0xb1));
    return uint32_t(_mm_cvtsi128_si32(r));
}

QS_T256 void q8_0_256(const float* src, uint8_t* dst, int64_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f);
    alignas(32) int32_t L[32];
    for (int64_t i = 0; i < n / 32; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(BlockQ8_0));
        const Block256 b = load256(xb);
        const float d = absMax256(b) / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(BlockQ8_0, d), d);
        const __m256 idv = _mm256_set1_ps(id);
        for (int k = 0; k < 4; ++k) {
            const __m256 v = _mm256_mul_ps(b.x[k], idv);
            __m256i r = _mm256_cvttps_epi32(v);
            const __m256 frac = _mm256_sub_ps(v, _mm256_cvtepi32_ps(r));
            const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(frac, half, _CMP_GE_OQ));
            const __m256i down = _mm256_castps_si256(_mm256_cmp_ps(frac, mhalf, _CMP_LE_OQ));
            // The masks are -1 where true: subtracting `up` adds one, adding `down` takes one.
            r = _mm256_add_epi32(_mm256_sub_epi32(r, up), down);
            _mm256_store_si256(reinterpret_cast<__m256i*>(L + 8 * k), r);
        }
        int8_t* qs = reinterpret_cast<int8_t*>(out + offsetof(BlockQ8_0, qs));
        for (int j = 0; j < 32; ++j) qs[j] = int8_t(L[j]);
    }
}

template <bool Five>
QS_T256 void qx_0_256(const float* src, uint8_t* dst, int64_t n) {
    using Block = std::conditional_t<Five, BlockQ5_0, BlockQ4_0>;
    alignas(32) int32_t L[32];
    for (int64_t i = 0; i < n / 32; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(Block));
        const Block256 b = load256(xb);
        const float d = signedAbsMax256(xb, b) / (Five ? -16 : -8);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(Block, d), d);
        levels256<false>(b, 0.0f, id, Five ? 16.5f : 8.5f, Five ? 31 : 15, L);
        packNibbles(L, out + offsetof(Block, qs));
        if constexpr (Five) packHigh(L, out + offsetof(BlockQ5_0, qh));
    }
}

template <bool Five>
QS_T256 void qx_1_256(const float* src, uint8_t* dst, int64_t n) {
    using Block = std::conditional_t<Five, BlockQ5_1, BlockQ4_1>;
    alignas(32) int32_t L[32];
    for (int64_t i = 0; i < n / 32; ++i) {
        const float* xb = src + 32 * i;
        uint8_t* out = dst + i * int64_t(sizeof(Block));
        const Block256 b = load256(xb);
        float min, max;
        minMax256(xb, b, min, max);
        const float d = (max - min) / (Five ? 31 : 15);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(out + offsetof(Block, d), d);
        putHalf(out + offsetof(Block, m), min);
        levels256<true>(b, min, id, 0.5f, Five ? -1 : 15, L);
        packNibbles(L, out + offsetof(Block, qs));
        if constexpr (Five) packHigh(L, out + offsetof(BlockQ5_1, qh));
    }
}

constexpr PlainKernels kAvx512{q8_0_512, qx_0_512<false>, qx_1_512<false>, qx_0_512<true>,
                               qx_1_512<true>};
/// The AVX2 kernels with the input check as a first pass over the row.
template <void (*Encode)(const float*, uint8_t*, int64_t)>
QS_T256 uint32_t checked256(const float* src, uint8_t* dst, int64_t n) {
    const uint32_t m = absBits256(src, n);
    Encode(src, dst, n);
    return m;
}

constexpr PlainKernels kAvx2{checked256<q8_0_256>, checked256<qx_0_256<false>>,
                             checked256<qx_1_256<false>>, checked256<qx_0_256<true>>,
                             checked256<qx_1_256<true>>};

}  // namespace

const PlainKernels* plainKernelsAvx512() {
    return &kAvx512;
}
const PlainKernels* plainKernelsAvx2() {
    return &kAvx2;
}

#else

const PlainKernels* plainKernelsAvx512() {
    return nullptr;
}
const PlainKernels* plainKernelsAvx2() {
    return nullptr;
}

#endif

}  // namespace qs::formats::detail::legacy
