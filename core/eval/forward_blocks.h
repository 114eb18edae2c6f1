#pragma once
// Building blocks of the forward pass shared by every architecture (internal to core/eval):
// RMSNorm as ggml computes it, the dense gated FFN (SwiGLU or gemma's GEGLU) and the
// mixture-of-experts FFN (softmax router, top-k, renormalised weights, experts decoded on demand).

#include <cstdint>
#include <vector>

#include "eval/activation_observer.h"
#include "eval/llama_model.h"

namespace qs::eval::detail {

/// ggml_vec_soft_max_f32 as llama.cpp's CPU build runs it: y[i] = exp(x[i] - max) and their sum,
/// lanes of 16 (AVX-512 build) or 8 (AVX2 build) through ggml_v_expf, each lane group reduced
/// in float and added in double, the rest with expf (all of it with expf without AVX2).
double ggmlSoftMax(int n, float* y, const float* x, float max);

/// out[r] = x[r] / rms(x[r]) * w for nRows rows of n values (ggml_rms_norm then ggml_mul; the
/// sum of squares in double). x and out may alias.
void rmsNorm(const float* x, float* out, const std::vector<float>& w, int64_t nRows, int64_t n,
             float eps, int threads);

/// out (nTok x nEmbd) = the layer's dense FFN of h (nTok x nEmbd).
void denseFfn(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok, float* out,
              int threads, bool emulateGgml, ActivationObserver* observer = nullptr);

/// out (nTok x nEmbd) = the layer's mixture of experts on h, as llama.cpp's build_moe_ffn with
/// softmax gating and norm_w (qwen3moe, mixtral): router logits, softmax, the top-k experts by
/// ggml's argsort (ties: as std::sort orders them there), their probabilities divided by their
/// sum (clamped at 6.1e-5), each expert's SwiGLU output scaled by its weight, summed in top-k
/// order. Only the rows of the experts some token is routed to are decoded.
void moeFfn(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok, float* out,
            int threads, bool emulateGgml, ActivationObserver* observer = nullptr);

/// Experts routed per token, as moeFfn selects them (nTok x nExpertUsed ids, then weights).
void routeExperts(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok,
                  int threads, bool emulateGgml, std::vector<int32_t>& selected,
                  std::vector<float>& weights);

}  // namespace qs::eval::detail
