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
#include "eval/matmul_decoded.h"
#include "eval/matmul_f32.h"
#include "eval/q8_gemm.h"
#include "eval/vec8.h"
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
using detail::load8;
using detail::V8;

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
    const int64_t C = w.cols;
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
    detail::matmulDecoded(w, x, nTok, y, threads,
                          emulateGgml ? activationRounding(w.type) : ActRounding::None,
                          expertSlice);
}

}  // namespace qs::eval
