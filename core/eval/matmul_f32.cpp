#include "eval/matmul_f32.h"

#include <algorithm>
#include <vector>

#include "eval/cpu_features.h"
#include "eval/ggml_math.h"
#include "formats/type_table.h"
#include "parallel/parallel.h"

namespace qs::eval::detail {

namespace {

// ggml_vec_dot_f32's reduction of its (pairwise added) accumulator: _mm512_reduce_add_ps in the
// AVX-512 builds; in the AVX2 builds halves added, then two _mm_hadd_ps.
template <int W>
[[gnu::always_inline]] inline float reduceVecDot(const float* v) {
    if constexpr (W == 16) {
        return reduceLanesGgml<16>(v);
    } else {
        return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    }
}

// tinyBLAS: one W-lane fused chain per output, four token rows side by side (their sums are
// independent; the weight row is read once).
template <int W>
[[gnu::always_inline]] inline void tinyBlasX4Body(const float* w, const float* const* x, int64_t n,
                                                  float* out) {
    float acc[4][W] = {};
    for (int64_t i = 0; i < n; i += W) {
        for (int k = 0; k < 4; ++k) {
            for (int l = 0; l < W; ++l)
                acc[k][l] = __builtin_fmaf(w[i + l], x[k][i + l], acc[k][l]);
        }
    }
    for (int k = 0; k < 4; ++k) out[k] = reduceLanesGgml<W>(acc[k]);
}

template <int W>
[[gnu::always_inline]] inline float tinyBlasBody(const float* w, const float* x, int64_t n) {
    float acc[W] = {};
    for (int64_t i = 0; i < n; i += W) {
        for (int l = 0; l < W; ++l) acc[l] = __builtin_fmaf(w[i + l], x[i + l], acc[l]);
    }
    return reduceLanesGgml<W>(acc);
}

template <int W>
[[gnu::always_inline]] inline float vecDotBody(const float* w, const float* x, int64_t n) {
    float s[4][W] = {};
    const int64_t np = n & ~int64_t(4 * W - 1);
    for (int64_t i = 0; i < np; i += 4 * W) {
        for (int j = 0; j < 4; ++j) {
            for (int l = 0; l < W; ++l) {
                s[j][l] = __builtin_fmaf(w[i + j * W + l], x[i + j * W + l], s[j][l]);
            }
        }
    }
    float v[W];
    for (int l = 0; l < W; ++l) v[l] = (s[0][l] + s[2][l]) + (s[1][l] + s[3][l]);
    float sum = reduceVecDot<W>(v);
    // The leftovers' `sumf += x[i]*y[i]`: GCC vectorizes it as an in-order reduction (16 and
    // then 8 lanes in the AVX-512 build, 8 and 4 in the AVX2 build) whose products are rounded
    // before the adds; only the last n % 8 (n % 4) values are contracted to scalar FMAs.
    const int64_t unfused = np + ((n - np) & ~int64_t(W == 16 ? 7 : 3));
    for (int64_t i = np; i < unfused; ++i) sum += roundedProduct(w[i], x[i]);
    for (int64_t i = unfused; i < n; ++i) sum = __builtin_fmaf(w[i], x[i], sum);
    return sum;
}

using X4Fn = void (*)(const float*, const float* const*, int64_t, float*);
using DotFn = float (*)(const float*, const float*, int64_t);

#if defined(__x86_64__) || defined(__i386__)
#define QS_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
QS_TARGET_AVX512 void tinyBlasX4W16(const float* w, const float* const* x, int64_t n, float* o) {
    tinyBlasX4Body<16>(w, x, n, o);
}
QS_TARGET_AVX512 float tinyBlasW16(const float* w, const float* x, int64_t n) {
    return tinyBlasBody<16>(w, x, n);
}
QS_TARGET_AVX512 float vecDotW16(const float* w, const float* x, int64_t n) {
    return vecDotBody<16>(w, x, n);
}
#undef QS_TARGET_AVX512
QS_EVAL_TARGET_AVX2 void tinyBlasX4W8(const float* w, const float* const* x, int64_t n, float* o) {
    tinyBlasX4Body<8>(w, x, n, o);
}
QS_EVAL_TARGET_AVX2 float tinyBlasW8(const float* w, const float* x, int64_t n) {
    return tinyBlasBody<8>(w, x, n);
}
QS_EVAL_TARGET_AVX2 float vecDotW8(const float* w, const float* x, int64_t n) {
    return vecDotBody<8>(w, x, n);
}
#endif
void tinyBlasX4Plain(const float* w, const float* const* x, int64_t n, float* o) {
    tinyBlasX4Body<8>(w, x, n, o);
}
float tinyBlasPlain(const float* w, const float* x, int64_t n) {
    return tinyBlasBody<8>(w, x, n);
}
float vecDotPlain(const float* w, const float* x, int64_t n) {
    return vecDotBody<8>(w, x, n);
}

struct Kernels {
    int width = 8;
    X4Fn tinyX4 = tinyBlasX4Plain;
    DotFn tiny = tinyBlasPlain;
    DotFn vecDot = vecDotPlain;
};

// The build llama.cpp would load here: AVX-512 (16 lanes), AVX2 (8 lanes), else the portable
// order of 8 lanes.
Kernels kernels() {
    Kernels k;
#if defined(__x86_64__) || defined(__i386__)
    if (cpuHasAvx2Fma() && cpuHasAvx512()) {
        k = {16, tinyBlasX4W16, tinyBlasW16, vecDotW16};
    } else if (cpuHasAvx2Fma()) {
        k = {8, tinyBlasX4W8, tinyBlasW8, vecDotW8};
    }
#endif
    return k;
}

}  // namespace

float dotF32TinyBlas(const float* w, const float* x, int64_t n) {
    return kernels().tiny(w, x, n);
}
float dotF32VecDot(const float* w, const float* x, int64_t n) {
    return kernels().vecDot(w, x, n);
}

void matmulF32Ggml(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                   bool expertSlice) {
    const int64_t C = w.cols, R = w.rows;
    static const Kernels k = kernels();
    // ggml's ne01: the whole tensor's rows (a fused tensor's views share its product).
    const int64_t tensorRows = w.rowBytes ? int64_t(w.data.size() / w.rowBytes) : 0;
    const bool tiny = !expertSlice && C % k.width == 0 && tensorRows % 4 == 0;
    const auto decode = formats::traits(w.type).decode;
    const int64_t rowsPerChunk = std::clamp<int64_t>(16384 / std::max<int64_t>(C, 1), 1, 64);
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        std::vector<float> wf(size_t(rowsPerChunk * C));
        float tmp[4];
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                decode(w.storedRow(r).data(), wf.data() + (r - r0) * C, C);
            }
            for (int64_t r = r0; r < r1; ++r) {
                const float* wr = wf.data() + (r - r0) * C;
                int64_t t = 0;
                if (tiny) {
                    for (; t + 4 <= nTok; t += 4) {
                        const float* xs[4] = {x + t * C, x + (t + 1) * C, x + (t + 2) * C,
                                              x + (t + 3) * C};
                        k.tinyX4(wr, xs, C, tmp);
                        for (int j = 0; j < 4; ++j) y[(t + j) * R + r] = tmp[j];
                    }
                    for (; t < nTok; ++t) y[t * R + r] = k.tiny(wr, x + t * C, C);
                } else {
                    for (; t < nTok; ++t) y[t * R + r] = k.vecDot(wr, x + t * C, C);
                }
            }
        }
    });
}

}  // namespace qs::eval::detail
