// Q3_K without importance (ggml's quantize_row_q3_K_ref), whole super-blocks in AVX-512
// registers: one super-block is one set of 16 lanes, lane g its sub-block g of 16 values, so
// the block's scale quantization, the requantization and the packing stay in vectors too, and
// four super-blocks run interleaved (make_q3_quants' coordinate descent is one long dependency
// chain per lane: four independent chains keep the pipelines busy).
//
// Every lane runs the scalar code's float operations in its order (scale_search.cpp's
// fitQ3Group and kquants/encode.cpp's scalesQ3_KPlain / finishQ3_K): no fused multiply-add
// (this file is built with -ffp-contract=off), nearestInt emulated bit for bit, the int8
// truncation of the scale levels kept. Two things are kept per value instead of recomputed:
// w * x * L and w * L * L for the current level (the products the scalar loop forms again
// each round, the same floats), and sumlx * sumlx (the square the scalar test forms). The
// bytes are the scalar encoder's (EncodeGolden.*, EncodeVsGgml.*, KQuantSimd.*).

#include <cstdint>
#include <cstring>

#include "formats/codecs/kquants/kquants.h"
#include "formats/codecs/kquants/search_simd.h"
#include "formats/half.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// GCC 12 warns that the deliberately undefined operand of its own AVX-512 intrinsics is used
// uninitialized once inlined into a target function (GCC bug 105593): a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define QS_Q3_X86 1
#define QS_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define QS_I512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) inline
#endif

namespace qs::formats::detail {

#if defined(QS_Q3_X86)

namespace {

using blocks::BlockQ3_K;

/// In place: r[i] lane g becomes r[g] lane i.
QS_I512 void transpose16(__m512* r) {
    __m512 t[16];
    for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    // Row group k (rows 4k..4k+3), column c of each 128-bit quarter q: column 4q + c.
    __m512 u[16];
    for (int k = 0; k < 4; ++k) {
        u[4 * k + 0] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        u[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
        u[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        u[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
    }
    // Quarters 0, 2 (a0, b0) and 1, 3 (a1, b1) of each row group pair, then whole columns.
    for (int c = 0; c < 4; ++c) {
        const __m512 a0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 a1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 b0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 b1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(a0, b0, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(a0, b0, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(a1, b1, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(a1, b1, 0xDD);
    }
}

/// nearestInt per lane, bit-exact for every input (the low mantissa bits of v + 1.5 * 2^23).
QS_I512 __m512i nearest(__m512 v) {
    const __m512 biased = _mm512_add_ps(v, _mm512_set1_ps(12582912.f));
    return _mm512_sub_epi32(
        _mm512_and_si512(_mm512_castps_si512(biased), _mm512_set1_epi32(0x007fffff)),
        _mm512_set1_epi32(0x00400000));
}

/// float(clamp(nearestInt(v), -4, 3)).
QS_I512 __m512 level(__m512 v) {
    const __m512i l =
        _mm512_max_epi32(_mm512_set1_epi32(-4), _mm512_min_epi32(_mm512_set1_epi32(3), nearest(v)));
    return _mm512_cvtepi32_ps(l);
}

QS_I512 __m512 absPs(__m512 v) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

/// The state of one super-block's 16 coordinate descents, lane g for sub-block g.
struct Set {
    __m512 x[16];             ///< x[i] lane g: value i of sub-block g
    __m512 w[16];             ///< x * x
    __m512 wx[16];            ///< w * x
    __m512 L[16];             ///< the current level (-4..3) as a float
    __m512 wxL[16];           ///< wx * L
    __m512 wLL[16];           ///< w * L * L
    __m512 sumlx, suml2, sq;  ///< sq = sumlx * sumlx
    __mmask16 flat, active;
};

/// make_q3_quants' first guess for the 16 sub-blocks of the super-block at xb.
QS_I512 void start(const float* xb, Set& s) {
    for (int g = 0; g < 16; ++g) s.x[g] = _mm512_loadu_ps(xb + 16 * g);
    transpose16(s.x);
    // The value of largest magnitude, the first on ties.
    __m512 amax = _mm512_setzero_ps(), mx = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) {
        const __mmask16 gt = _mm512_cmp_ps_mask(absPs(s.x[i]), amax, _CMP_GT_OQ);
        amax = _mm512_mask_mov_ps(amax, gt, absPs(s.x[i]));
        mx = _mm512_mask_mov_ps(mx, gt, s.x[i]);
    }
    s.flat = _mm512_cmp_ps_mask(amax, _mm512_set1_ps(1e-15f), _CMP_LT_OQ);
    s.active = __mmask16(~s.flat);
    const __m512 iscale = _mm512_div_ps(_mm512_set1_ps(-4.f), mx);
    __m512 sumlx = _mm512_setzero_ps(), suml2 = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) {
        const __m512 x = s.x[i];
        const __m512 w = _mm512_mul_ps(x, x);
        const __m512 wx = _mm512_mul_ps(w, x);
        const __m512 l = level(_mm512_mul_ps(iscale, x));
        s.w[i] = w;
        s.wx[i] = wx;
        s.L[i] = l;
        s.wxL[i] = _mm512_mul_ps(wx, l);
        s.wLL[i] = _mm512_mul_ps(_mm512_mul_ps(w, l), l);
        sumlx = _mm512_add_ps(sumlx, s.wxL[i]);
        suml2 = _mm512_add_ps(suml2, s.wLL[i]);
    }
    s.sumlx = sumlx;
    s.suml2 = suml2;
    s.sq = _mm512_mul_ps(sumlx, sumlx);
}

/// One coordinate step on value i of every active lane; returns the lanes that changed.
QS_I512 __mmask16 step(Set& s, int i) {
    const __m512 slx = _mm512_sub_ps(s.sumlx, s.wxL[i]);
    const __m512 sl2 = _mm512_sub_ps(s.suml2, s.wLL[i]);
    const __mmask16 pos = _mm512_mask_cmp_ps_mask(s.active, slx, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 newL = level(_mm512_div_ps(_mm512_mul_ps(s.x[i], sl2), slx));
    const __mmask16 differs = _mm512_mask_cmp_ps_mask(pos, newL, s.L[i], _CMP_NEQ_UQ);
    const __m512 nwx = _mm512_mul_ps(s.wx[i], newL);
    const __m512 nwll = _mm512_mul_ps(_mm512_mul_ps(s.w[i], newL), newL);
    const __m512 slx2 = _mm512_add_ps(slx, nwx);
    const __m512 sl22 = _mm512_add_ps(sl2, nwll);
    const __mmask16 posl2 = _mm512_mask_cmp_ps_mask(differs, sl22, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 s2 = _mm512_mul_ps(slx2, slx2);
    const __mmask16 upd = _mm512_mask_cmp_ps_mask(posl2, _mm512_mul_ps(s2, s.suml2),
                                                  _mm512_mul_ps(s.sq, sl22), _CMP_GT_OQ);
    s.sumlx = _mm512_mask_mov_ps(s.sumlx, upd, slx2);
    s.suml2 = _mm512_mask_mov_ps(s.suml2, upd, sl22);
    s.sq = _mm512_mask_mov_ps(s.sq, upd, s2);
    s.L[i] = _mm512_mask_mov_ps(s.L[i], upd, newL);
    s.wxL[i] = _mm512_mask_mov_ps(s.wxL[i], upd, nwx);
    s.wLL[i] = _mm512_mask_mov_ps(s.wLL[i], upd, nwll);
    return upd;
}

/// scalesQ3_KPlain and finishQ3_K for the super-block at xb, whose search is done.
QS_I512 void finish(const float* xb, Set& s, uint8_t* out) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 S = _mm512_div_ps(s.sumlx, s.suml2);
    S = _mm512_maskz_mov_ps(__mmask16(~s.flat & _mm512_cmp_ps_mask(s.suml2, zero, _CMP_GT_OQ)), S);
    // The sub-block scale of largest magnitude, the first on ties; a NaN never wins.
    const __m512 aS = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(S, S, _CMP_ORD_Q), absPs(S));
    const float amax = _mm512_reduce_max_ps(aS);
    alignas(64) float sv[16];
    _mm512_store_ps(sv, S);
    BlockQ3_K y;
    std::memset(y.scales, 0, sizeof y.scales);
    __m512 d = zero;
    if (amax > 0.f) {
        const int first = __builtin_ctz(_mm512_cmp_ps_mask(aS, _mm512_set1_ps(amax), _CMP_EQ_OQ));
        const float iscale = -32.f / sv[first];
        // int8_t(nearestInt(iscale * s)), clamped to -32..31, + 32.
        __m512i l = nearest(_mm512_mul_ps(_mm512_set1_ps(iscale), S));
        l = _mm512_srai_epi32(_mm512_slli_epi32(l, 24), 24);
        l = _mm512_max_epi32(_mm512_set1_epi32(-32), _mm512_min_epi32(_mm512_set1_epi32(31), l));
        l = _mm512_add_epi32(l, _mm512_set1_epi32(32));
        y.d = floatToHalf(1 / iscale);
        const float dAll = halfToFloat(y.d);
        d = _mm512_mul_ps(_mm512_set1_ps(dAll),
                          _mm512_cvtepi32_ps(_mm512_sub_epi32(l, _mm512_set1_epi32(32))));
        // Low nibbles: bytes 0-7 hold sub-blocks j and j + 8; high 2 bits: byte 8 + j % 4,
        // bits 2 * (j / 4).
        const __m512i low = _mm512_and_si512(l, _mm512_set1_epi32(0xF));
        const __m512i nib =
            _mm512_or_si512(low, _mm512_slli_epi32(_mm512_shuffle_i32x4(low, low, 0xEE), 4));
        const __m512i shifts = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
        __m512i hi = _mm512_sllv_epi32(_mm512_srli_epi32(l, 4), shifts);
        hi = _mm512_or_si512(hi, _mm512_shuffle_i32x4(hi, hi, 0xEE));  // quarters 0|2, 1|3
        hi = _mm512_or_si512(hi, _mm512_shuffle_i32x4(hi, hi, 0x01));  // quarter 0: all four
        alignas(16) uint8_t nb[16], hb[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(nb), _mm512_cvtepi32_epi8(nib));
        _mm_store_si128(reinterpret_cast<__m128i*>(hb), _mm512_cvtepi32_epi8(hi));
        std::memcpy(y.scales, nb, 8);
        std::memcpy(y.scales + 8, hb, 4);
    } else {
        y.d = floatToHalf(0.f);
    }
    // Natural order: N[g] lane i is the level + 4 of value 16 g + i.
    __m512i N[16];
    alignas(64) float dv[16];
    _mm512_store_ps(dv, d);
    const __mmask16 dz = _mm512_cmp_ps_mask(d, zero, _CMP_EQ_OQ);
    if (dz != 0) {  // some sub-blocks keep the search's levels (0 for a flat one)
        __m512 Ls[16];
        for (int i = 0; i < 16; ++i) {
            Ls[i] = _mm512_castsi512_ps(_mm512_maskz_add_epi32(
                __mmask16(~s.flat), _mm512_cvtps_epi32(s.L[i]), _mm512_set1_epi32(4)));
        }
        transpose16(Ls);
        for (int g = 0; g < 16; ++g) N[g] = _mm512_castps_si512(Ls[g]);
    }
    for (int g = 0; g < 16; ++g) {
        if (dz & (1u << g)) continue;
        const __m512i l =
            nearest(_mm512_div_ps(_mm512_loadu_ps(xb + 16 * g), _mm512_set1_ps(dv[g])));
        N[g] = _mm512_add_epi32(
            _mm512_max_epi32(_mm512_set1_epi32(-4), _mm512_min_epi32(_mm512_set1_epi32(3), l)),
            _mm512_set1_epi32(4));
    }
    // qs[32 h + 16 c + i]: the low 2 bits of values 128 h + 32 k + 16 c + i (group 8h+2k+c)
    // at bits 2k; hmask[16 c + i] bit 4h + k: their high bit.
    const __m512i three = _mm512_set1_epi32(3);
    for (int c = 0; c < 2; ++c) {
        __m512i hm = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            __m512i q = _mm512_setzero_si512();
            for (int k = 0; k < 4; ++k) {
                const __m512i v = N[8 * h + 2 * k + c];
                q = _mm512_or_si512(q, _mm512_slli_epi32(_mm512_and_si512(v, three), 2 * k));
                hm = _mm512_or_si512(hm, _mm512_slli_epi32(_mm512_srli_epi32(v, 2), 4 * h + k));
            }
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y.qs + 32 * h + 16 * c),
                             _mm512_cvtepi32_epi8(q));
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y.hmask + 16 * c), _mm512_cvtepi32_epi8(hm));
    }
    std::memcpy(out, &y, sizeof y);
}

/// P super-blocks at once.
template <int P>
QS_T512 void blocksAvx512(const float* x, uint8_t* dst) {
    Set s[P];
    for (int p = 0; p < P; ++p) start(x + 256 * p, s[p]);
    for (int itry = 0; itry < 5; ++itry) {
        bool any = false;
        for (int p = 0; p < P; ++p) any = any || s[p].active != 0;
        if (!any) break;
        __mmask16 changed[P] = {};
        for (int i = 0; i < 16; ++i) {
            for (int p = 0; p < P; ++p) {
                if (s[p].active != 0) changed[p] |= step(s[p], i);
            }
        }
        for (int p = 0; p < P; ++p) s[p].active &= changed[p];
    }
    for (int p = 0; p < P; ++p) finish(x + 256 * p, s[p], dst + p * sizeof(BlockQ3_K));
}

}  // namespace

bool encodeQ3_KPlainBlocks(KSimdLevel level, const float* x, int64_t blocks, uint8_t* dst) {
    if (level < KSimdLevel::Avx512 || kquantSimdSupported() < KSimdLevel::Avx512) return false;
    constexpr int64_t kB = int64_t(sizeof(BlockQ3_K));
    int64_t b = 0;
    for (; b + 4 <= blocks; b += 4) blocksAvx512<4>(x + 256 * b, dst + kB * b);
    for (; b < blocks; ++b) blocksAvx512<1>(x + 256 * b, dst + kB * b);
    return true;
}

#else

bool encodeQ3_KPlainBlocks(KSimdLevel, const float*, int64_t, uint8_t*) {
    return false;
}

#endif

}  // namespace qs::formats::detail
