#pragma once
// Building blocks of the forward pass shared by every architecture (internal to core/eval):
// RMSNorm as ggml computes it, the dense gated FFN (SwiGLU or gemma's GEGLU) and the
// mixture-of-experts FFN (softmax router, top-k, renormalised weights, experts decoded on demand).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "eval/llama_model.h"

namespace qs::eval::detail {

// ggml_v_expf, the vectorized expf of ggml's softmax, one lane at a time: the AVX-512 build's
// (result scaled by 2^n with scalef) and the AVX2 build's (2^n as bits, slow path past |n| 126).
[[gnu::always_inline]] inline float ggmlExpf(float x, bool avx512) {
    if (x != x) return x;
    const float r = 0x1.8p23f;
    const float z = __builtin_fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b =
        __builtin_fmaf(-n, 0x1.7f7d1cp-20f, __builtin_fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float p = __builtin_fmaf(__builtin_fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                   __builtin_fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
    if (avx512) {
        const float j = __builtin_fmaf(p, u, __builtin_fmaf(0x1.ffffecp-1f, b, 1.0f));
        if (!(std::fabs(n) > 192.0f)) return std::ldexp(j, int(n));
        return n <= 0.0f ? 0.0f : INFINITY;
    }
    const float j = __builtin_fmaf(p, u, 0x1.ffffecp-1f * b);
    uint32_t zb;
    std::memcpy(&zb, &z, 4);
    const uint32_t e = zb << 23;
    const uint32_t kb = e + 0x3f800000u;
    float k;
    std::memcpy(&k, &kb, 4);
    if (!(std::fabs(n) > 126.0f)) return __builtin_fmaf(j, k, k);
    if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const uint32_t s1b = g + 0x7f000000u, s2b = e - g;
    float s1, s2;
    std::memcpy(&s1, &s1b, 4);
    std::memcpy(&s2, &s2b, 4);
    return __builtin_fmaf(s2, j, s2) * s1;
}

/// ggml_vec_soft_max_f32 as llama.cpp's CPU build runs it: y[i] = exp(x[i] - max) and their sum,
/// lanes of 16 (AVX-512 build) or 8 (AVX2 build) through ggml_v_expf, each lane group reduced
/// in float and added in double, the rest with expf (all of it with expf without AVX2).
double ggmlSoftMax(int n, float* y, const float* x, float max);

/// out[r] = x[r] / rms(x[r]) * w for nRows rows of n values (ggml_rms_norm then ggml_mul; the
/// sum of squares in double). x and out may alias.
void rmsNorm(const float* x, float* out, const std::vector<float>& w, int64_t nRows, int64_t n,
             float eps, int threads);

/// out (nTok x nEmbd) = the layer's dense FFN of h (nTok x nEmbd).
void denseFfn(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok,
              float* out, int threads, bool emulateGgml);

/// out (nTok x nEmbd) = the layer's mixture of experts on h, as llama.cpp's build_moe_ffn with
/// softmax gating and norm_w (qwen3moe, mixtral): router logits, softmax, the top-k experts by
/// ggml's argsort (ties: as std::sort orders them there), their probabilities divided by their
/// sum (clamped at 6.1e-5), each expert's SwiGLU output scaled by its weight, summed in top-k
/// order. Only the rows of the experts some token is routed to are decoded.
void moeFfn(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok, float* out,
            int threads, bool emulateGgml);

/// Experts routed per token, as moeFfn selects them (nTok x nExpertUsed ids, then weights).
void routeExperts(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok,
                  int threads, bool emulateGgml, std::vector<int32_t>& selected,
                  std::vector<float>& weights);

} // namespace qs::eval::detail
