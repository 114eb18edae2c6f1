#include "eval/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

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
    case TensorType::BOOL:
        return ActRounding::None;
    case TensorType::F16:
        return ActRounding::F16;
    case TensorType::BF16:
        return ActRounding::BF16;
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::Q8_1:
    case TensorType::IQ4_NL:
    case TensorType::MXFP4:
        return ActRounding::Q8_0;  // Q8_1 for Q4_1/Q5_1 holds the same values
    default:
        return ActRounding::Q8_K;
    }
}

void roundActivations(ActRounding r, float* x, int64_t n) {
    switch (r) {
    case ActRounding::None:
        return;
    case ActRounding::F16:
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
__attribute__((target_clones("avx2", "default"))) void dot1x4(const float* w, const float* x0,
                                                               const float* x1, const float* x2,
                                                               const float* x3, int64_t n,
                                                               float* out) {
    V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const V8 wv = load8(w + i);
        a0 += wv * load8(x0 + i);
        a1 += wv * load8(x1 + i);
        a2 += wv * load8(x2 + i);
        a3 += wv * load8(x3 + i);
    }
    float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
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

__attribute__((target_clones("avx2", "default"))) float dot1(const float* a, const float* b,
                                                              int64_t n) {
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

} // namespace

float dotF32(const float* a, const float* b, int64_t n) { return dot1(a, b, n); }

void matmul(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
            bool emulateGgml) {
    const int64_t C = w.cols, R = w.rows;
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
    const auto decode = formats::traits(w.type).decode;
    // Rows per chunk: about 64 KiB of decoded floats, so the chunk stays in L2 while every
    // token passes over it.
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
            constexpr int64_t kTile = 32;
            for (int64_t t0 = 0; t0 < nTok; t0 += kTile) {
                const int64_t t1 = std::min(nTok, t0 + kTile);
                for (int64_t r = r0; r < r1; ++r) {
                    const float* wr = wf.data() + (r - r0) * C;
                    int64_t t = t0;
                    for (; t + 4 <= t1; t += 4) {
                        dot1x4(wr, xa + t * C, xa + (t + 1) * C, xa + (t + 2) * C,
                               xa + (t + 3) * C, C, tmp);
                        for (int k = 0; k < 4; ++k) y[(t + k) * R + r] = tmp[k];
                    }
                    for (; t < t1; ++t) y[t * R + r] = dot1(wr, xa + t * C, C);
                }
            }
        }
    });
}

} // namespace qs::eval
