#include "eval/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "eval/cpu_features.h"
#include "eval/kquant_dot.h"
#include "eval/matmul_f32.h"
#include "eval/q8_gemm.h"
#include "formats/half.h"
#include "parallel/parallel.h"

namespace qs::eval {

using formats::TensorType;

ActRounding activationRounding(TensorType t) {
    switch (t) {
    case TensorType::F32:
    case TensorType::F64:
    case TensorType::I8:
    case TensorType::I16:
    case TensorType::I32:
    case TensorType::I64:
    case TensorType::F8_E4M3:
    case TensorType::F8_E5M2:
    case TensorType::U8:
    case TensorType::BOOL: return ActRounding::None;
    case TensorType::F16: return ActRounding::F16;
    case TensorType::BF16: return ActRounding::BF16;
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::Q8_1:
    case TensorType::IQ4_NL:
    case TensorType::MXFP4: return ActRounding::Q8_0;  // Q8_1 for Q4_1/Q5_1 holds the same values
    default: return ActRounding::Q8_K;
    }
}

namespace {
// F16 rounding with F16C: round to nearest even, subnormals, inf and NaN as floatToHalf.
QS_EVAL_TARGET_AVX2 void roundF16Avx2(float* x, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; ++i) x[i] = formats::halfToFloat(formats::floatToHalf(x[i]));
}
}  // namespace

void roundActivations(ActRounding r, float* x, int64_t n) {
    switch (r) {
    case ActRounding::None: return;
    case ActRounding::F16:
        if (cpuHasAvx2Fma()) {
            roundF16Avx2(x, n);
            return;
        }
        for (int64_t i = 0; i < n; ++i) x[i] = formats::halfToFloat(formats::floatToHalf(x[i]));
        return;
    case ActRounding::BF16:
        for (int64_t i = 0; i < n; ++i) x[i] = formats::bf16ToFloat(formats::floatToBf16(x[i]));
        return;
    case ActRounding::Q8_0:
        // ggml's x86 quantize_row_q8_0: scale 127 / amax, round to nearest even, the block
        // scale amax / 127 stored as F16.
        for (int64_t b = 0; b + 32 <= n; b += 32) {
            float amax = 0;
            for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
            const float d = amax / 127.0f;
            const float id = amax != 0 ? 127.0f / amax : 0.0f;
            const float dh = formats::halfToFloat(formats::floatToHalf(d));
            for (int j = 0; j < 32; ++j) x[b + j] = dh * std::nearbyint(x[b + j] * id);
        }
        return;
    case ActRounding::Q8_K:
        // quantize_row_q8_K: the value of largest magnitude maps to -127, float scale.
        for (int64_t b = 0; b + 256 <= n; b += 256) {
            float amax = 0, max = 0;
            for (int j = 0; j < 256; ++j) {
                const float ax = std::fabs(x[b + j]);
                if (ax > amax) {
                    amax = ax;
                    max = x[b + j];
                }
            }
            if (amax == 0) {
                std::fill(x + b, x + b + 256, 0.0f);
                continue;
            }
            const float iscale = -127.0f / max;
            const float d = 1.0f / iscale;
            for (int j = 0; j < 256; ++j) {
                const float q = std::min(127.0f, std::nearbyint(iscale * x[b + j]));
                x[b + j] = d * q;
            }
        }
        return;
    }
}

namespace {

// The 8-wide vector helpers are internal and inlined: their ABI never crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float V8 __attribute__((vector_size(32)));

inline V8 load8(const float* p) {
    V8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline float hsum(V8 v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

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

void dot1x4(const float* w, const float* x0, const float* x1, const float* x2, const float* x3,
            int64_t n, float* out) {
    static const bool avx2 = cpuHasAvx2Fma();
    (avx2 ? dot1x4Avx2 : dot1x4Plain)(w, x0, x1, x2, x3, n, out);
}
float dot1(const float* a, const float* b, int64_t n) {
    static const bool avx2 = cpuHasAvx2Fma();
    return (avx2 ? dot1Avx2 : dot1Plain)(a, b, n);
}

}  // namespace

float dotF32(const float* a, const float* b, int64_t n) {
    return dot1(a, b, n);
}

namespace {

// Weight types whose ggml dot product with Q8_0 activations is sum over blocks of
// d_w * d_x * (integer dot): their block starts with the F16 scale and decodes to d * q.
bool intDotType(TensorType t) {
    return t == TensorType::Q4_0 || t == TensorType::Q5_0 || t == TensorType::Q8_0 ||
           t == TensorType::IQ4_NL || t == TensorType::Q4_1 || t == TensorType::Q5_1;
}
// ... and those with a block minimum (F16 after the scale, decoding to d * q + m), dotted with
// Q8_1 activations: plus m_w * s_x, s_x = d_x * sum(q_x) rounded to F16.
bool hasMin(TensorType t) {
    return t == TensorType::Q4_1 || t == TensorType::Q5_1;
}

// Q8_0 blocks kept as float integers in "lane order": value 4l + e of a block sits at e * 8 + l,
// so that eight vector lanes hold ggml's eight int32 partial sums (each exact in float).
struct Q8Rows {
    std::vector<float> q;  // rows x C
    std::vector<float> d;  // rows x C/32
    std::vector<float> s;  // rows x C/32: Q8_1's F16 d * sum(q)
};

inline void storeLaneOrder(const float* q32, float* dst) {
    for (int l = 0; l < 8; ++l) {
        for (int e = 0; e < 4; ++e) dst[e * 8 + l] = q32[4 * l + e];
    }
}

Q8Rows quantizeQ8(const float* x, int64_t nTok, int64_t C, int threads) {
    Q8Rows out;
    out.q.resize(size_t(nTok * C));
    out.d.resize(size_t(nTok * (C / 32)));
    out.s.resize(out.d.size());
    parallel::parallelFor(threads, nTok, 16, [&](int64_t b, int64_t e) {
        float q[32];
        for (int64_t t = b; t < e; ++t) {
            for (int64_t blk = 0; blk < C / 32; ++blk) {
                const float* xb = x + t * C + blk * 32;
                float amax = 0;
                for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
                const float id = amax != 0 ? 127.0f / amax : 0.0f;
                out.d[size_t(t * (C / 32) + blk)] =
                    formats::halfToFloat(formats::floatToHalf(amax / 127.0f));
                int32_t sum = 0;
                for (int j = 0; j < 32; ++j) {
                    q[j] = std::nearbyint(xb[j] * id);
                    sum += int32_t(q[j]);
                }
                out.s[size_t(t * (C / 32) + blk)] =
                    formats::halfToFloat(formats::floatToHalf(amax / 127.0f * float(sum)));
                storeLaneOrder(q, out.q.data() + t * C + blk * 32);
            }
        }
    });
    return out;
}

// ggml's AVX2 q8_0 dot (and tinyBLAS's): per block eight int32 lanes of four products each,
// d_w * d_x fused-multiplied into eight float accumulators, then a fixed horizontal sum. One
// weight row against four token rows.
[[gnu::always_inline]] inline void dotQ8x4Body(const float* qw, const float* dw, const float* wm,
                                               const float* const* qx, const float* const* dx,
                                               const float* const* sx, int64_t nBlocks, float* out,
                                               bool repacked) {
    V8 acc[4] = {};
    float summs[4] = {0, 0, 0, 0};
    if (repacked) {
        // llama.cpp's repacked 8x8 GEMM/GEMV (Q4_0, IQ4_NL on x86): one fused step per block of
        // the block's integer sum (exact in float: at most 32 * 127 * 127) times d_w * d_x.
        float r[4] = {0, 0, 0, 0};
        for (int64_t b = 0; b < nBlocks; ++b) {
            const float* wb = qw + b * 32;
            const V8 w0 = load8(wb), w1 = load8(wb + 8), w2 = load8(wb + 16), w3 = load8(wb + 24);
            for (int k = 0; k < 4; ++k) {
                const float* xb = qx[k] + b * 32;
                const V8 sum = ((w0 * load8(xb) + w1 * load8(xb + 8)) + w2 * load8(xb + 16)) +
                               w3 * load8(xb + 24);
                const float isum = ((sum[0] + sum[1]) + (sum[2] + sum[3])) +
                                   ((sum[4] + sum[5]) + (sum[6] + sum[7]));
                r[k] = __builtin_fmaf(isum, dw[b] * dx[k][b], r[k]);
            }
        }
        for (int k = 0; k < 4; ++k) out[k] = r[k];
        return;
    }
    for (int64_t b = 0; b < nBlocks; ++b) {
        const float* wb = qw + b * 32;
        const V8 w0 = load8(wb), w1 = load8(wb + 8), w2 = load8(wb + 16), w3 = load8(wb + 24);
        for (int k = 0; k < 4; ++k) {
            const float* xb = qx[k] + b * 32;
            const V8 sum =
                ((w0 * load8(xb) + w1 * load8(xb + 8)) + w2 * load8(xb + 16)) + w3 * load8(xb + 24);
            const float d = dw[b] * dx[k][b];
            for (int l = 0; l < 8; ++l) acc[k][l] = __builtin_fmaf(d, sum[l], acc[k][l]);
            if (wm) summs[k] = __builtin_fmaf(wm[b], sx[k][b], summs[k]);
        }
    }
    for (int k = 0; k < 4; ++k) {
        const V8& a = acc[k];
        out[k] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])) + summs[k];
    }
}

QS_EVAL_TARGET_AVX2 void dotQ8x4Avx2(const float* qw, const float* dw, const float* wm,
                                     const float* const* qx, const float* const* dx,
                                     const float* const* sx, int64_t nBlocks, float* out,
                                     bool repacked) {
    dotQ8x4Body(qw, dw, wm, qx, dx, sx, nBlocks, out, repacked);
}
void dotQ8x4Plain(const float* qw, const float* dw, const float* wm, const float* const* qx,
                  const float* const* dx, const float* const* sx, int64_t nBlocks, float* out,
                  bool repacked) {
    dotQ8x4Body(qw, dw, wm, qx, dx, sx, nBlocks, out, repacked);
}

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
void dotF16x4Plain(const float* a, const float* const* b, int64_t n, float* out) {
    dotF16x4Body<8>(a, b, n, out);
}

QS_EVAL_TARGET_AVX2 float dotF16Avx2x8(const float* a, const float* b, int64_t n) {
    return dotF16Body<8>(a, b, n);
}
QS_EVAL_TARGET_AVX2 float dotF16Avx2x16(const float* a, const float* b, int64_t n) {
    return dotF16Body<16>(a, b, n);
}
float dotF16Plain(const float* a, const float* b, int64_t n) {
    return dotF16Body<8>(a, b, n);
}
// ggml_vec_dot_f16 alone (llama.cpp's MUL_MAT_ID, the experts' products, never uses tinyBLAS).
QS_EVAL_TARGET_AVX2 float dotF16VecAvx2x8(const float* a, const float* b, int64_t n) {
    return dotF16Body<8, true>(a, b, n);
}
QS_EVAL_TARGET_AVX2 float dotF16VecAvx2x16(const float* a, const float* b, int64_t n) {
    return dotF16Body<16, true>(a, b, n);
}
float dotF16VecPlain(const float* a, const float* b, int64_t n) {
    return dotF16Body<8, true>(a, b, n);
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

using DotFn = float (*)(const float*, const float*, int64_t);
DotFn dotF16Kernel() {
    if (!cpuHasAvx2Fma()) return dotF16Plain;
    return cpuHasAvx512() ? dotF16Avx2x16 : dotF16Avx2x8;
}
DotFn dotF16VecDotKernel() {
    if (!cpuHasAvx2Fma()) return dotF16VecPlain;
    return cpuHasAvx512() ? dotF16VecAvx2x16 : dotF16VecAvx2x8;
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
// Four weight rows against four token rows: 16 accumulators, eight loads per 16 fused steps
// (the 2 x 4 kernel's six loads per eight left the loads, not the FMA units, the limit).
// Per (row, token) the same sums as dotF16x4Body<16>.
__attribute__((target("avx512f,avx2,fma,f16c"))) void dotF16x4x4Avx512(const float* w, int64_t ldw,
                                                                       const float* const* b,
                                                                       int64_t n, float* out) {
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
    alignas(64) float v[16];
    for (int r = 0; r < 4; ++r) {
        for (int k = 0; k < 4; ++k) {
            _mm512_store_ps(v, c[r][k]);
            out[r * 4 + k] = reduceLanes<16>(v);
        }
    }
}
#else
constexpr bool kHaveAvx512Kernel = false;
inline void dotF16x2x4Avx512(const float*, const float*, const float* const*, int64_t, float*) {}
inline void dotF16x4x4Avx512(const float*, int64_t, const float* const*, int64_t, float*) {}
#endif

using Dot4Fn = void (*)(const float*, const float* const*, int64_t, float*);
/// The four-token kernel and its row-length multiple (0: none for this width).
Dot4Fn dotF16x4Kernel(int64_t* multiple) {
#if !defined(__x86_64__) && !defined(__i386__)
    *multiple = 8;
    return dotF16x4Plain;
#endif
    if (!cpuHasAvx2Fma()) {
        *multiple = 8;
        return dotF16x4Plain;
    }
    *multiple = cpuHasAvx512() ? 16 : 8;
    return cpuHasAvx512() ? dotF16x4Avx2x16 : dotF16x4Avx2x8;
}

// llama.cpp repacks Q4_0 and IQ4_NL tensors of a multiple of 8 rows (ggml's ne[1]; per expert
// for 3-D tensors) on x86 with AVX2: its 8x8 kernels sum per block.
bool q8Repacked(const WeightView& w, bool expert) {
    const int64_t tensorRows =
        expert ? w.rows : int64_t(w.rowBytes ? w.data.size() / w.rowBytes : 0);
    return cpuHasAvx2Fma() && (w.type == TensorType::Q4_0 || w.type == TensorType::IQ4_NL) &&
           tensorRows % 8 == 0;
}

}  // namespace

namespace detail {

void matmulQ8IntLaneOrder(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                          bool expert) {
    const int64_t C = w.cols, R = w.rows, nb = C / 32;
    const bool avx2 = cpuHasAvx2Fma();
    const bool repacked = q8Repacked(w, expert);
    const Q8Rows xq = quantizeQ8(x, nTok, C, threads);
    const auto& tr = formats::traits(w.type);
    const bool withMin = hasMin(w.type);
    const int64_t rowsPerChunk = std::clamp<int64_t>(16384 / std::max<int64_t>(C, 1), 1, 64);
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        std::vector<float> wf(static_cast<size_t>(C)), q(32);
        std::vector<float> wq(size_t(rowsPerChunk * C));
        std::vector<float> wd(size_t(rowsPerChunk * nb)), wm(size_t(rowsPerChunk * nb));
        const float* px[4];
        const float* pd[4];
        const float* ps[4];
        float tmp[4];
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                const uint8_t* src = w.storedRow(r).data();
                tr.decode(src, wf.data(), C);
                for (int64_t b = 0; b < nb; ++b) {
                    uint16_t h;
                    std::memcpy(&h, src + b * tr.blockBytes, 2);
                    const float d = formats::halfToFloat(h);
                    float m = 0;
                    if (withMin) {
                        std::memcpy(&h, src + b * tr.blockBytes + 2, 2);
                        m = formats::halfToFloat(h);
                    }
                    wd[size_t((r - r0) * nb + b)] = d;
                    wm[size_t((r - r0) * nb + b)] = m;
                    // The decoded value is d * q (+ m): q comes back by one division.
                    for (int j = 0; j < 32; ++j) {
                        const float v = wf[size_t(b * 32 + j)] - m;
                        q[size_t(j)] = d != 0 ? std::nearbyint(v / d) : 0.0f;
                    }
                    storeLaneOrder(q.data(), wq.data() + (r - r0) * C + b * 32);
                }
            }
            for (int64_t t0 = 0; t0 < nTok; t0 += 4) {
                const int64_t n = std::min<int64_t>(4, nTok - t0);
                for (int k = 0; k < 4; ++k) {
                    const int64_t t = t0 + std::min<int64_t>(k, n - 1);
                    px[k] = xq.q.data() + t * C;
                    pd[k] = xq.d.data() + t * nb;
                    ps[k] = xq.s.data() + t * nb;
                }
                for (int64_t r = r0; r < r1; ++r) {
                    (avx2 ? dotQ8x4Avx2 : dotQ8x4Plain)(
                        wq.data() + (r - r0) * C, wd.data() + (r - r0) * nb,
                        withMin ? wm.data() + (r - r0) * nb : nullptr, px, pd, ps, nb, tmp,
                        repacked);
                    for (int64_t k = 0; k < n; ++k) y[(t0 + k) * R + r] = tmp[k];
                }
            }
        }
    });
}

}  // namespace detail

void matmul(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
            bool emulateGgml, bool expertSlice) {
    const int64_t C = w.cols, R = w.rows;
    if (emulateGgml && intDotType(w.type)) {
        // The same sums, laid out as a cache-blocked int8 GEMM where the CPU runs AVX-512 VNNI.
        if (C % 32 == 0 && detail::q8GemmAvailable() &&
            detail::q8GemmType(w.type, q8Repacked(w, expertSlice))) {
            detail::matmulQ8Gemm(w, x, nTok, y, threads);
        } else {
            detail::matmulQ8IntLaneOrder(w, x, nTok, y, threads, expertSlice);
        }
        return;
    }
    if (emulateGgml && w.type == TensorType::F32) {
        detail::matmulF32Ggml(w, x, nTok, y, threads, expertSlice);
        return;
    }
    if (emulateGgml && detail::kquantIntDotType(w.type) && C % 256 == 0) {
        detail::matmulKQuant(w, x, nTok, y, threads, expertSlice);
        return;
    }
    const ActRounding ar = emulateGgml ? activationRounding(w.type) : ActRounding::None;
    std::vector<float> rounded;
    const float* xa = x;
    if (ar != ActRounding::None) {
        rounded.assign(x, x + nTok * C);
        parallel::parallelFor(threads, nTok, 16, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) roundActivations(ar, rounded.data() + t * C, C);
        });
        xa = rounded.data();
    }
    const auto decode = w.type == TensorType::F16 && cpuHasAvx2Fma()
                            ? decodeF16Avx2
                            : formats::traits(w.type).decode;
    // Experts' F16 rows: ggml_vec_dot_f16 per product; the others tinyBLAS's order where it runs.
    const bool f16VecDot = expertSlice && ar == ActRounding::F16;
    const DotFn dotF16 = f16VecDot ? dotF16VecDotKernel() : dotF16Kernel();
    int64_t f16Multiple = 8;
    const Dot4Fn dotF16x4 = dotF16x4Kernel(&f16Multiple);
    const bool f16Pairs = kHaveAvx512Kernel && cpuHasAvx2Fma() && cpuHasAvx512();
    // Rows per chunk: about 64 KiB of decoded floats, so the chunk stays in L2 while every
    // token passes over it.
    // (A multiple of 4 where it can be, for the 4 x 4 kernel.)
    int64_t rowsPerChunk = std::clamp<int64_t>(16384 / std::max<int64_t>(C, 1), 1, 64);
    if (rowsPerChunk >= 4) rowsPerChunk -= rowsPerChunk % 4;
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        std::vector<float> wf(size_t(rowsPerChunk * C));
        float tmp[4];
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                decode(w.storedRow(r).data(), wf.data() + (r - r0) * C, C);
            }
            constexpr int64_t kTile = 32;
            for (int64_t t0 = 0; t0 < nTok; t0 += kTile) {
                const int64_t t1 = std::min(nTok, t0 + kTile);
                int64_t rStart = r0;
                // Two rows by four tokens per step on AVX-512: for F16 in ggml's 16-lane order,
                // for the other float products (k-quants, i-quants, F32) as fused sums.
                if (f16Pairs && !f16VecDot && C % 16 == 0 &&
                    (ar == ActRounding::F16 || C % 64 == 0)) {
                    for (; rStart + 4 <= r1; rStart += 4) {
                        const float* w0 = wf.data() + (rStart - r0) * C;
                        int64_t t = t0;
                        for (; t + 4 <= t1; t += 4) {
                            const float* xs[4] = {xa + t * C, xa + (t + 1) * C, xa + (t + 2) * C,
                                                  xa + (t + 3) * C};
                            float o16[16];
                            dotF16x4x4Avx512(w0, C, xs, C, o16);
                            for (int i = 0; i < 4; ++i) {
                                for (int k = 0; k < 4; ++k)
                                    y[(t + k) * R + rStart + i] = o16[i * 4 + k];
                            }
                        }
                        for (; t < t1; ++t) {
                            const auto one = ar == ActRounding::F16 ? dotF16 : dot1;
                            for (int i = 0; i < 4; ++i) {
                                y[t * R + rStart + i] = one(w0 + i * C, xa + t * C, C);
                            }
                        }
                    }
                    for (; rStart + 2 <= r1; rStart += 2) {
                        const float* w0 = wf.data() + (rStart - r0) * C;
                        int64_t t = t0;
                        for (; t + 4 <= t1; t += 4) {
                            const float* xs[4] = {xa + t * C, xa + (t + 1) * C, xa + (t + 2) * C,
                                                  xa + (t + 3) * C};
                            float o8[8];
                            dotF16x2x4Avx512(w0, w0 + C, xs, C, o8);
                            for (int k = 0; k < 4; ++k) {
                                y[(t + k) * R + rStart] = o8[k];
                                y[(t + k) * R + rStart + 1] = o8[4 + k];
                            }
                        }
                        for (; t < t1; ++t) {
                            const auto one = ar == ActRounding::F16 ? dotF16 : dot1;
                            y[t * R + rStart] = one(w0, xa + t * C, C);
                            y[t * R + rStart + 1] = one(w0 + C, xa + t * C, C);
                        }
                    }
                }
                for (int64_t r = rStart; r < r1; ++r) {
                    const float* wr = wf.data() + (r - r0) * C;
                    int64_t t = t0;
                    if (ar == ActRounding::F16) {
                        if (!f16VecDot && C % f16Multiple == 0) {
                            for (; t + 4 <= t1; t += 4) {
                                const float* xs[4] = {xa + t * C, xa + (t + 1) * C,
                                                      xa + (t + 2) * C, xa + (t + 3) * C};
                                dotF16x4(wr, xs, C, tmp);
                                for (int k = 0; k < 4; ++k) y[(t + k) * R + r] = tmp[k];
                            }
                        }
                        for (; t < t1; ++t) y[t * R + r] = dotF16(wr, xa + t * C, C);
                        continue;
                    }
                    for (; t + 4 <= t1; t += 4) {
                        dot1x4(wr, xa + t * C, xa + (t + 1) * C, xa + (t + 2) * C, xa + (t + 3) * C,
                               C, tmp);
                        for (int k = 0; k < 4; ++k) y[(t + k) * R + r] = tmp[k];
                    }
                    for (; t < t1; ++t) y[t * R + r] = dot1(wr, xa + t * C, C);
                }
            }
        }
    });
}

}  // namespace qs::eval
