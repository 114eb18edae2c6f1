#include "eval/matmul_decoded.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns that the deliberately undefined operand of its own AVX-512 intrinsics
// (_mm512_undefined_*) is used uninitialized once they are inlined into a target("avx512f")
// function (GCC bug 105593, fixed in GCC 13): a false positive, silenced for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

#include "eval/cpu_features.h"
#include "eval/vec8.h"
#include "formats/half.h"
#include "formats/type_table.h"
#include "parallel/parallel.h"

namespace qs::eval {

using formats::TensorType;

namespace {

// The 8-wide vector helpers are internal and inlined: their ABI never crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"
using detail::DecodedLevel;
using detail::hsum;
using detail::load8;
using detail::V8;

// One weight row against four token rows: the row is loaded once per step.
[[gnu::always_inline]] inline void dot1x4Body(const float* w, const float* x0, const float* x1,
                                              const float* x2, const float* x3, int64_t n,
                                              float* out) {
    // Two accumulators per token: eight independent chains keep the adders busy.
    V8 a0 = {}, a1 = {}, a2 = {}, a3 = {}, b0 = {}, b1 = {}, b2 = {}, b3 = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const V8 wv = load8(w + i), wu = load8(w + i + 8);
        a0 += wv * load8(x0 + i);
        a1 += wv * load8(x1 + i);
        a2 += wv * load8(x2 + i);
        a3 += wv * load8(x3 + i);
        b0 += wu * load8(x0 + i + 8);
        b1 += wu * load8(x1 + i + 8);
        b2 += wu * load8(x2 + i + 8);
        b3 += wu * load8(x3 + i + 8);
    }
    for (; i + 8 <= n; i += 8) {
        const V8 wv = load8(w + i);
        a0 += wv * load8(x0 + i);
        a1 += wv * load8(x1 + i);
        a2 += wv * load8(x2 + i);
        a3 += wv * load8(x3 + i);
    }
    float s0 = hsum(a0 + b0), s1 = hsum(a1 + b1), s2 = hsum(a2 + b2), s3 = hsum(a3 + b3);
    for (; i < n; ++i) {
        s0 += w[i] * x0[i];
        s1 += w[i] * x1[i];
        s2 += w[i] * x2[i];
        s3 += w[i] * x3[i];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

[[gnu::always_inline]] inline float dot1Body(const float* a, const float* b, int64_t n) {
    V8 a0 = {}, a1 = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 += load8(a + i) * load8(b + i);
        a1 += load8(a + i + 8) * load8(b + i + 8);
    }
    for (; i + 8 <= n; i += 8) a0 += load8(a + i) * load8(b + i);
    float s = hsum(a0 + a1);
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

QS_EVAL_TARGET_AVX2 void dot1x4Avx2(const float* w, const float* x0, const float* x1,
                                    const float* x2, const float* x3, int64_t n, float* out) {
    dot1x4Body(w, x0, x1, x2, x3, n, out);
}
void dot1x4Plain(const float* w, const float* x0, const float* x1, const float* x2, const float* x3,
                 int64_t n, float* out) {
    dot1x4Body(w, x0, x1, x2, x3, n, out);
}
QS_EVAL_TARGET_AVX2 float dot1Avx2(const float* a, const float* b, int64_t n) {
    return dot1Body(a, b, n);
}
float dot1Plain(const float* a, const float* b, int64_t n) {
    return dot1Body(a, b, n);
}

using Dot1x4Fn = void (*)(const float*, const float*, const float*, const float*, const float*,
                          int64_t, float*);
using DotFn = float (*)(const float*, const float*, int64_t);

}  // namespace

float dotF32(const float* a, const float* b, int64_t n) {
    return (cpuHasAvx2Fma() ? dot1Avx2 : dot1Plain)(a, b, n);
}

namespace {

// F16 weights against F16-rounded activations, summed as ggml's CPU backend does (every
// product of two F16 values is exact in float, so only the order of the sums matters). Rows of
// a multiple of the vector width go through tinyBLAS (one accumulator of W lanes); other rows
// through ggml_vec_dot_f16 (4 * W values a step into four accumulators, reduced pairwise, the
// tail added in double). W is 16 where llama.cpp would pick an AVX-512 build, else 8.
template <int W>
[[gnu::always_inline]] inline float reduceLanes(const float* v) {
    if constexpr (W == 16) {
        // _mm512_reduce_add_ps: halves, quarters, then (0+2) + (1+3).
        float t3[8], t6[4];
        for (int i = 0; i < 8; ++i) t3[i] = v[8 + i] + v[i];
        for (int i = 0; i < 4; ++i) t6[i] = t3[4 + i] + t3[i];
        return (t6[0] + t6[2]) + (t6[1] + t6[3]);
    } else {
        // hsum_float_8 / tinyBLAS hsum: (i + i+4), then (0+2) + (1+3).
        return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
    }
}

template <int W, bool kVecDotOnly = false>
[[gnu::always_inline]] inline float dotF16Body(const float* a, const float* b, int64_t n) {
    if (!kVecDotOnly && n % W == 0) {
        float acc[W] = {};
        for (int64_t i = 0; i < n; i += W) {
            for (int l = 0; l < W; ++l) acc[l] += a[i + l] * b[i + l];
        }
        return reduceLanes<W>(acc);
    }
    float acc[4][W] = {};
    const int64_t np = n & ~int64_t(4 * W - 1);
    for (int64_t i = 0; i < np; i += 4 * W) {
        for (int j = 0; j < 4; ++j) {
            for (int l = 0; l < W; ++l) acc[j][l] += a[i + j * W + l] * b[i + j * W + l];
        }
    }
    double sum = 0;
    if (np > 0) {
        float v[W];
        for (int l = 0; l < W; ++l) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
        sum = double(reduceLanes<W>(v));
    }
    for (int64_t i = np; i < n; ++i) sum += double(a[i] * b[i]);
    return float(sum);
}
// Four token rows at once through the tinyBLAS order above (rows of a multiple of W): each
// token's sums are exactly those of dotF16Body, the four chains just run side by side.
template <int W>
[[gnu::always_inline]] inline void dotF16x4Body(const float* a, const float* const* b, int64_t n,
                                                float* out) {
    float acc[4][W] = {};
    for (int64_t i = 0; i < n; i += W) {
        for (int k = 0; k < 4; ++k) {
            // F16 x F16 products are exact in float: fused or not, the same sums.
            for (int l = 0; l < W; ++l) {
                acc[k][l] = __builtin_fmaf(a[i + l], b[k][i + l], acc[k][l]);
            }
        }
    }
    for (int k = 0; k < 4; ++k) out[k] = reduceLanes<W>(acc[k]);
}
#if defined(__x86_64__) || defined(__i386__)
// The AVX2 kernels with the accumulators in registers: W = 8 lanes is one __m256 per token,
// W = 16 two (lanes 0-7 and 8-15), exactly the lane sums of dotF16x4Body.
QS_EVAL_TARGET_AVX2 void dotF16x4Avx2x8(const float* a, const float* const* b, int64_t n,
                                        float* out) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 w = _mm256_loadu_ps(a + i);
        c0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b0 + i), c0);
        c1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b1 + i), c1);
        c2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b2 + i), c2);
        c3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b3 + i), c3);
    }
    alignas(32) float v[4][8];
    _mm256_store_ps(v[0], c0);
    _mm256_store_ps(v[1], c1);
    _mm256_store_ps(v[2], c2);
    _mm256_store_ps(v[3], c3);
    for (int k = 0; k < 4; ++k) out[k] = reduceLanes<8>(v[k]);
}
QS_EVAL_TARGET_AVX2 void dotF16x4Avx2x16(const float* a, const float* const* b, int64_t n,
                                         float* out) {
    __m256 l0 = _mm256_setzero_ps(), l1 = l0, l2 = l0, l3 = l0;
    __m256 h0 = l0, h1 = l0, h2 = l0, h3 = l0;
    const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    for (int64_t i = 0; i < n; i += 16) {
        const __m256 wl = _mm256_loadu_ps(a + i), wh = _mm256_loadu_ps(a + i + 8);
        l0 = _mm256_fmadd_ps(wl, _mm256_loadu_ps(b0 + i), l0);
        h0 = _mm256_fmadd_ps(wh, _mm256_loadu_ps(b0 + i + 8), h0);
        l1 = _mm256_fmadd_ps(wl, _mm256_loadu_ps(b1 + i), l1);
        h1 = _mm256_fmadd_ps(wh, _mm256_loadu_ps(b1 + i + 8), h1);
        l2 = _mm256_fmadd_ps(wl, _mm256_loadu_ps(b2 + i), l2);
        h2 = _mm256_fmadd_ps(wh, _mm256_loadu_ps(b2 + i + 8), h2);
        l3 = _mm256_fmadd_ps(wl, _mm256_loadu_ps(b3 + i), l3);
        h3 = _mm256_fmadd_ps(wh, _mm256_loadu_ps(b3 + i + 8), h3);
    }
    alignas(32) float v[4][16];
    _mm256_store_ps(v[0], l0);
    _mm256_store_ps(v[0] + 8, h0);
    _mm256_store_ps(v[1], l1);
    _mm256_store_ps(v[1] + 8, h1);
    _mm256_store_ps(v[2], l2);
    _mm256_store_ps(v[2] + 8, h2);
    _mm256_store_ps(v[3], l3);
    _mm256_store_ps(v[3] + 8, h3);
    for (int k = 0; k < 4; ++k) out[k] = reduceLanes<16>(v[k]);
}
#endif
template <int W>
void dotF16x4Plain(const float* a, const float* const* b, int64_t n, float* out) {
    dotF16x4Body<W>(a, b, n, out);
}

QS_EVAL_TARGET_AVX2 float dotF16Avx2x8(const float* a, const float* b, int64_t n) {
    return dotF16Body<8>(a, b, n);
}
QS_EVAL_TARGET_AVX2 float dotF16Avx2x16(const float* a, const float* b, int64_t n) {
    return dotF16Body<16>(a, b, n);
}
template <int W>
float dotF16Plain(const float* a, const float* b, int64_t n) {
    return dotF16Body<W>(a, b, n);
}
// ggml_vec_dot_f16 alone (llama.cpp's MUL_MAT_ID, the experts' products, never uses tinyBLAS).
QS_EVAL_TARGET_AVX2 float dotF16VecAvx2x8(const float* a, const float* b, int64_t n) {
    return dotF16Body<8, true>(a, b, n);
}
QS_EVAL_TARGET_AVX2 float dotF16VecAvx2x16(const float* a, const float* b, int64_t n) {
    return dotF16Body<16, true>(a, b, n);
}
template <int W>
float dotF16VecPlain(const float* a, const float* b, int64_t n) {
    return dotF16Body<W, true>(a, b, n);
}

// F16 weight rows to float with F16C (exact, as formats' decodeF16).
QS_EVAL_TARGET_AVX2 void decodeF16Avx2(const uint8_t* src, float* dst, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = formats::halfToFloat(h);
    }
}

#if defined(__x86_64__) || defined(__i386__)
constexpr bool kHaveAvx512Kernel = true;
// Two weight rows against four token rows in 16-lane zmm accumulators: per (row, token) the
// same sums as dotF16x4Body<16>, with each loaded value used twice or four times.
__attribute__((target("avx512f,avx2,fma,f16c"))) void dotF16x2x4Avx512(const float* w0,
                                                                       const float* w1,
                                                                       const float* const* b,
                                                                       int64_t n, float* out) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 a0 = _mm512_loadu_ps(w0 + i), a1 = _mm512_loadu_ps(w1 + i);
        const __m512 x0 = _mm512_loadu_ps(b0 + i), x1 = _mm512_loadu_ps(b1 + i);
        const __m512 x2 = _mm512_loadu_ps(b2 + i), x3 = _mm512_loadu_ps(b3 + i);
        c00 = _mm512_fmadd_ps(a0, x0, c00);
        c01 = _mm512_fmadd_ps(a0, x1, c01);
        c02 = _mm512_fmadd_ps(a0, x2, c02);
        c03 = _mm512_fmadd_ps(a0, x3, c03);
        c10 = _mm512_fmadd_ps(a1, x0, c10);
        c11 = _mm512_fmadd_ps(a1, x1, c11);
        c12 = _mm512_fmadd_ps(a1, x2, c12);
        c13 = _mm512_fmadd_ps(a1, x3, c13);
    }
    alignas(64) float v[8][16];
    const __m512 cs[8] = {c00, c01, c02, c03, c10, c11, c12, c13};
    for (int k = 0; k < 8; ++k) {
        _mm512_store_ps(v[k], cs[k]);
        out[k] = reduceLanes<16>(v[k]);
    }
}
// reduceLanes<16> of the 16 accumulators c[r][k] (row r, token k) at once, in its order:
// halves, quarters, then (0+2) + (1+3), each step one vector add over four or eight of them
// (IEEE addition is commutative, so a + b and b + a give the same bits). Token k's four rows
// go to y + k * ldy.
__attribute__((target("avx512f,avx2,fma,f16c"))) inline void reduceStore4x4(const __m512 (&c)[4][4],
                                                                            float* y, int64_t ldy) {
    __m512 q[4];  // q[r] 128-bit lane k: t6 of c[r][k]
    for (int r = 0; r < 4; ++r) {
        __m512 h[2];  // h[p]: t3 of c[r][2p] (lanes 0-1) and c[r][2p+1] (lanes 2-3)
        for (int p = 0; p < 2; ++p) {
            const __m512 lo = _mm512_shuffle_f32x4(c[r][2 * p], c[r][2 * p + 1], 0x44);
            const __m512 hi = _mm512_shuffle_f32x4(c[r][2 * p], c[r][2 * p + 1], 0xEE);
            h[p] = _mm512_add_ps(hi, lo);  // t3[i] = v[8 + i] + v[i]
        }
        const __m512 lo = _mm512_shuffle_f32x4(h[0], h[1], 0x88);
        const __m512 hi = _mm512_shuffle_f32x4(h[0], h[1], 0xDD);
        q[r] = _mm512_add_ps(hi, lo);  // t6[i] = t3[4 + i] + t3[i]
    }
    // Per 128-bit lane k: s01 = [t6[0] + t6[2], t6[1] + t6[3]] of rows 0 and 1, s23 of 2 and 3.
    const __m512 s01 =
        _mm512_add_ps(_mm512_shuffle_ps(q[0], q[1], 0x44), _mm512_shuffle_ps(q[0], q[1], 0xEE));
    const __m512 s23 =
        _mm512_add_ps(_mm512_shuffle_ps(q[2], q[3], 0x44), _mm512_shuffle_ps(q[2], q[3], 0xEE));
    // (t6[0] + t6[2]) + (t6[1] + t6[3]): lane k holds rows 0-3 of token k.
    const __m512 sum =
        _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x88), _mm512_shuffle_ps(s01, s23, 0xDD));
    _mm_storeu_ps(y, _mm512_castps512_ps128(sum));
    _mm_storeu_ps(y + ldy, _mm512_extractf32x4_ps(sum, 1));
    _mm_storeu_ps(y + 2 * ldy, _mm512_extractf32x4_ps(sum, 2));
    _mm_storeu_ps(y + 3 * ldy, _mm512_extractf32x4_ps(sum, 3));
}
// Four weight rows against four token rows: 16 accumulators, eight loads per 16 fused steps
// (the 2 x 4 kernel's six loads per eight left the loads, not the FMA units, the limit).
// Per (row, token) the same sums as dotF16x4Body<16>; y[k * ldy + r] = row r, token k.
__attribute__((target("avx512f,avx2,fma,f16c"))) void dotF16x4x4Avx512(const float* w, int64_t ldw,
                                                                       const float* const* b,
                                                                       int64_t n, float* y,
                                                                       int64_t ldy) {
    __m512 c[4][4];
    for (int i = 0; i < 4; ++i) {
        for (int k = 0; k < 4; ++k) c[i][k] = _mm512_setzero_ps();
    }
    const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 x0 = _mm512_loadu_ps(b0 + i), x1 = _mm512_loadu_ps(b1 + i);
        const __m512 x2 = _mm512_loadu_ps(b2 + i), x3 = _mm512_loadu_ps(b3 + i);
        for (int r = 0; r < 4; ++r) {
            const __m512 a = _mm512_loadu_ps(w + r * ldw + i);
            c[r][0] = _mm512_fmadd_ps(a, x0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, x1, c[r][1]);
            c[r][2] = _mm512_fmadd_ps(a, x2, c[r][2]);
            c[r][3] = _mm512_fmadd_ps(a, x3, c[r][3]);
        }
    }
    reduceStore4x4(c, y, ldy);
}
#else
constexpr bool kHaveAvx512Kernel = false;
inline void dotF16x2x4Avx512(const float*, const float*, const float* const*, int64_t, float*) {}
inline void dotF16x4x4Avx512(const float*, int64_t, const float* const*, int64_t, float*, int64_t) {
}
#endif

DecodedLevel supportedLevel() {
#if defined(__x86_64__) || defined(__i386__)
    if (cpuHasAvx2Fma()) return cpuHasAvx512() ? DecodedLevel::Avx512 : DecodedLevel::Avx2;
#endif
    return DecodedLevel::Portable;
}

std::atomic<int> gLevel{-1};  // -1: the supported level

// The kernels of one level; F16 ones in the CPU's lane order (W = 16 with AVX-512F, else 8).
struct Kernels {
    bool avx512 = false;  // the 4 x 4 and 2 x 4 micro-kernels
    int64_t f16Multiple = 8;
    DotFn dotF16 = nullptr, dotF16Vec = nullptr, dot1 = nullptr;
    Dot1x4Fn dot1x4 = nullptr;
    void (*dotF16x4)(const float*, const float* const*, int64_t, float*) = nullptr;
    void (*decodeF16)(const uint8_t*, float*, int64_t) = nullptr;
};

Kernels kernels(DecodedLevel level) {
    Kernels k;
    const bool w16 = cpuHasAvx2Fma() && cpuHasAvx512();  // llama.cpp's AVX-512 build
    k.f16Multiple = w16 ? 16 : 8;
    if (level == DecodedLevel::Portable) {
        k.dotF16 = w16 ? dotF16Plain<16> : dotF16Plain<8>;
        k.dotF16Vec = w16 ? dotF16VecPlain<16> : dotF16VecPlain<8>;
        k.dotF16x4 = w16 ? dotF16x4Plain<16> : dotF16x4Plain<8>;
        k.dot1 = dot1Plain;
        k.dot1x4 = dot1x4Plain;
        k.decodeF16 = formats::traits(TensorType::F16).decode;
        return k;
    }
#if defined(__x86_64__) || defined(__i386__)
    k.avx512 = kHaveAvx512Kernel && level == DecodedLevel::Avx512;
    k.dotF16 = w16 ? dotF16Avx2x16 : dotF16Avx2x8;
    k.dotF16Vec = w16 ? dotF16VecAvx2x16 : dotF16VecAvx2x8;
    k.dotF16x4 = w16 ? dotF16x4Avx2x16 : dotF16x4Avx2x8;
#endif
    k.dot1 = dot1Avx2;
    k.dot1x4 = dot1x4Avx2;
    k.decodeF16 = decodeF16Avx2;
    return k;
}

// Brings the stored bytes of the next chunk's rows towards the cache a few lines at a time while
// the current chunk is multiplied, so that decoding the next one does not wait on memory.
class RowPrefetch {
public:
    void start(const WeightView& w, int64_t r0, int64_t r1, int64_t steps) {
        w_ = &w;
        row_ = r0;
        end_ = r1;
        off_ = 0;
        const int64_t lines = (r1 - r0) * int64_t((w.rowBytes + 63) / 64);
        perStep_ = steps > 0 ? (lines + steps - 1) / steps : lines;
    }
    void step() {
        for (int64_t i = 0; i < perStep_ && row_ < end_; ++i) {
            const std::span<const uint8_t> bytes = w_->storedRow(row_);
            __builtin_prefetch(bytes.data() + off_, 0, 2);
            off_ += 64;
            if (off_ >= bytes.size()) {
                ++row_;
                off_ = 0;
            }
        }
    }

private:
    const WeightView* w_ = nullptr;
    int64_t row_ = 0, end_ = 0, perStep_ = 0;
    uint64_t off_ = 0;
};

}  // namespace

namespace detail {

DecodedLevel decodedLevelSupported() {
    return supportedLevel();
}

DecodedLevel decodedLevel() {
    const int l = gLevel.load(std::memory_order_relaxed);
    return l < 0 ? supportedLevel() : DecodedLevel(l);
}

void setDecodedLevel(DecodedLevel level) {
    gLevel.store(std::min(int(level), int(supportedLevel())), std::memory_order_relaxed);
}

int64_t kChunkFloats = 16384;
void matmulDecoded(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                   ActRounding ar, bool expertSlice) {
    const int64_t C = w.cols, R = w.rows;
    // Rows of a multiple of 1 KiB are kept one cache line apart from that stride (the decoded
    // weights always, the rounded activations where they are copied anyway): else the four
    // weight rows and four tokens the 4 x 4 kernel streams all fall into the same L1 sets.
    const int64_t padded = C % 256 == 0 ? C + 16 : C;
    const int64_t ldw = padded;
    std::vector<float> rounded;
    const float* xa = x;
    int64_t ldx = C;
    if (ar != ActRounding::None) {
        ldx = padded;
        rounded.resize(size_t(nTok * ldx));
        parallel::parallelFor(threads, nTok, 16, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) {
                float* row = rounded.data() + t * ldx;
                std::copy(x + t * C, x + (t + 1) * C, row);
                roundActivations(ar, row, C);
            }
        });
        xa = rounded.data();
    }
    const Kernels k = kernels(decodedLevel());
    const auto decode = w.type == TensorType::F16 ? k.decodeF16 : formats::traits(w.type).decode;
    // Experts' F16 rows: ggml_vec_dot_f16 per product; the others tinyBLAS's order where it runs.
    const bool f16VecDot = expertSlice && ar == ActRounding::F16;
    const DotFn dotF16 = f16VecDot ? k.dotF16Vec : k.dotF16;
    const int64_t f16Multiple = k.f16Multiple;
    const auto dotF16x4 = k.dotF16x4;
    const DotFn dot1 = k.dot1;
    const bool f16Pairs = k.avx512;
    constexpr int64_t kTile = 32;  // tokens that meet a row group in turn
    // Rows per chunk: about 64 KiB of decoded floats, so the chunk stays in L2 while every
    // token passes over it.
    // (A multiple of 4 where it can be, for the 4 x 4 kernel.)
    int64_t rowsPerChunk = std::clamp<int64_t>(kChunkFloats / std::max<int64_t>(C, 1), 1, 64);
    if (rowsPerChunk >= 4) rowsPerChunk -= rowsPerChunk % 4;
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        std::vector<float> wf(size_t(rowsPerChunk * ldw));
        float tmp[4];
        RowPrefetch next;
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                decode(w.storedRow(r).data(), wf.data() + (r - r0) * ldw, C);
            }
            // One prefetch step per four tokens of a row group (of up to four rows).
            next.start(w, std::min(R, r1), c + 1 < ce ? std::min(R, r1 + rowsPerChunk) : r1,
                       (r1 - r0 + 3) / 4 * ((nTok + 3) / 4));
            for (int64_t t0 = 0; t0 < nTok; t0 += kTile) {
                const int64_t t1 = std::min(nTok, t0 + kTile);
                int64_t rStart = r0;
                // Two rows by four tokens per step on AVX-512: for F16 in ggml's 16-lane order,
                // for the other float products (k-quants, i-quants, F32) as fused sums.
                if (f16Pairs && !f16VecDot && C % 16 == 0 &&
                    (ar == ActRounding::F16 || C % 64 == 0)) {
                    const int64_t tEnd = t0 + (t1 - t0) / 4 * 4;
                    for (; rStart + 4 <= r1; rStart += 4) {
                        const float* w0 = wf.data() + (rStart - r0) * ldw;
                        for (int64_t t = t0; t < tEnd; t += 4) {
                            next.step();
                            const float* xs[4] = {xa + t * ldx, xa + (t + 1) * ldx,
                                                  xa + (t + 2) * ldx, xa + (t + 3) * ldx};
                            dotF16x4x4Avx512(w0, ldw, xs, C, y + t * R + rStart, R);
                        }
                        for (int64_t t = tEnd; t < t1; ++t) {
                            const auto one = ar == ActRounding::F16 ? dotF16 : dot1;
                            for (int i = 0; i < 4; ++i) {
                                y[t * R + rStart + i] = one(w0 + i * ldw, xa + t * ldx, C);
                            }
                        }
                    }
                    for (; rStart + 2 <= r1; rStart += 2) {
                        const float* w0 = wf.data() + (rStart - r0) * ldw;
                        int64_t t = t0;
                        for (; t + 4 <= t1; t += 4) {
                            const float* xs[4] = {xa + t * ldx, xa + (t + 1) * ldx,
                                                  xa + (t + 2) * ldx, xa + (t + 3) * ldx};
                            float o8[8];
                            dotF16x2x4Avx512(w0, w0 + ldw, xs, C, o8);
                            for (int j = 0; j < 4; ++j) {
                                y[(t + j) * R + rStart] = o8[j];
                                y[(t + j) * R + rStart + 1] = o8[4 + j];
                            }
                        }
                        for (; t < t1; ++t) {
                            const auto one = ar == ActRounding::F16 ? dotF16 : dot1;
                            y[t * R + rStart] = one(w0, xa + t * ldx, C);
                            y[t * R + rStart + 1] = one(w0 + ldw, xa + t * ldx, C);
                        }
                    }
                }
                for (int64_t r = rStart; r < r1; ++r) {
                    next.step();
                    const float* wr = wf.data() + (r - r0) * ldw;
                    int64_t t = t0;
                    if (ar == ActRounding::F16) {
                        if (!f16VecDot && C % f16Multiple == 0) {
                            for (; t + 4 <= t1; t += 4) {
                                const float* xs[4] = {xa + t * ldx, xa + (t + 1) * ldx,
                                                      xa + (t + 2) * ldx, xa + (t + 3) * ldx};
                                dotF16x4(wr, xs, C, tmp);
                                for (int j = 0; j < 4; ++j) y[(t + j) * R + r] = tmp[j];
                            }
                        }
                        for (; t < t1; ++t) y[t * R + r] = dotF16(wr, xa + t * ldx, C);
                        continue;
                    }
                    for (; t + 4 <= t1; t += 4) {
                        k.dot1x4(wr, xa + t * ldx, xa + (t + 1) * ldx, xa + (t + 2) * ldx,
                                 xa + (t + 3) * ldx, C, tmp);
                        for (int j = 0; j < 4; ++j) y[(t + j) * R + r] = tmp[j];
                    }
                    for (; t < t1; ++t) y[t * R + r] = dot1(wr, xa + t * ldx, C);
                }
            }
        }
    });
}

}  // namespace detail

}  // namespace qs::eval
