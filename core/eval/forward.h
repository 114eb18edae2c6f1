#pragma once
// The reference forward pass of a decoder-only model over one context, computed the way
// llama.cpp's CPU backend computes it: RMSNorm (sum of squares in double), RoPE with ggml's
// iterative angles (adjacent pairs for llama/mistral, NEOX halves for the others; per-layer
// bases for sliding layers, rope_freqs / phi3 factors, attn_factor), optional per-head q/k
// norms, grouped-query attention with a causal mask (a sliding window on gemma's sliding layers,
// soft-capped scores on gemma2), SwiGLU or GEGLU or a mixture of experts (forward_blocks.h),
// gemma's post norms and final soft-capping. Attention by default is llama.cpp's CPU flash
// attention over its default F16 KV cache (what node-llama-cpp 3.22.1 runs: its logits are matched
// to 1e-5 here, also for quantized files, where any other rounding of the attention moves the Q8_0
// rounding of later activations and the logits by 1e-2): for 64 or more tokens with a head size
// that is a multiple of the SIMD width, ggml's tiled kernel (q in F32, F32 output sums, scores in
// key tiles of 64), else its row kernel (q and the output sums in F16). Weight rows are decoded on
// the fly; every stage runs in parallel over rows or heads.

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "eval/activation_observer.h"
#include "eval/llama_model.h"
#include "quant/engine.h"

namespace qs::eval {

/// How attention rounds, as one of llama.cpp's CPU configurations.
enum class Attention {
    FlashF16,  ///< flash attention over an F16 KV cache, tiled or by rows (llama.cpp's default)
    F16Cache,  ///< no flash attention, F16 KV cache: q and the softmax weights rounded to F16
    F32,       ///< exact float attention (F32 KV cache)
};

struct ForwardOptions {
    int threads = 0;          ///< 0 = all cores
    bool emulateGgml = true;  ///< round activations to the weight's vec_dot type
    Attention attention = Attention::FlashF16;
    const quant::CancelToken* cancel = nullptr;
    /// Called after each layer; doneBytes/totalBytes count layers (plus one for the output).
    quant::ProgressFn progress;
    /// Sees the input of every product with a `blk.*` weight (not the output head); null = none.
    ActivationObserver* observer = nullptr;
    /// Prefix reuse (the budget loop's probes): when `saveResidual` is set, the residual stream
    /// at the input of every layer l (T x nEmbd floats) is stored in (*saveResidual)[l], and at
    /// the output norm's input in [nLayer]. When `resumeResidual` is set, the layers before
    /// `resumeLayer` (> 0) are not run: the pass starts from (*resumeResidual)[resumeLayer], which
    /// must be a stream saved from a run of the same tokens whose weights before that layer equal
    /// these (the logits are then identical to a full run's).
    std::vector<std::vector<float>>* saveResidual = nullptr;
    const std::vector<std::vector<float>>* resumeResidual = nullptr;
    int resumeLayer = 0;
    /// The token ranges llama.cpp's ubatches would evaluate together (empty: the whole context
    /// as one): flash attention picks its tiled or row kernel per range, as llama.cpp does.
    std::vector<std::pair<int64_t, int64_t>> ubatches;
};

/// Receives the logits of positions [pos, pos + n), n rows of nVocab floats.
using LogitsFn = std::function<void(int64_t pos, int64_t n, const float* logits)>;

/// Run `tokens` (positions 0 .. n-1 of one context) and hand the logits of every position from
/// `logitsFrom` on to `consume`, in order, a few positions at a time. Errors: a token id outside
/// the vocabulary, cancellation.
Status forward(const LlamaModel& model, std::span<const int32_t> tokens,
               const ForwardOptions& options, const LogitsFn& consume, int64_t logitsFrom = 0);

}  // namespace qs::eval
