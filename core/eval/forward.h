#pragma once
// The reference forward pass of a llama-family model over one context, computed the way
// llama.cpp's CPU backend computes it: RMSNorm (sum of squares in double), RoPE with ggml's
// iterative angles (adjacent pairs for llama/mistral, NEOX halves for qwen2), grouped-query
// attention with a causal mask, SwiGLU, and, by default, the F16 KV cache llama.cpp uses (q, k,
// v and the attention weights rounded to F16 where its matmuls round them). Weight rows are
// decoded on the fly; every stage runs in parallel over rows or heads.

#include <cstdint>
#include <functional>
#include <span>

#include "eval/llama_model.h"
#include "quant/engine.h"

namespace qs::eval {

struct ForwardOptions {
    int threads = 0;           ///< 0 = all cores
    bool emulateGgml = true;   ///< round activations to the weight's vec_dot type
    bool kvCacheF16 = true;    ///< llama.cpp's default F16 KV cache; false = F32 attention
    const quant::CancelToken* cancel = nullptr;
    /// Called after each layer; doneBytes/totalBytes count layers (plus one for the output).
    quant::ProgressFn progress;
};

/// Receives the logits of positions [pos, pos + n), n rows of nVocab floats.
using LogitsFn = std::function<void(int64_t pos, int64_t n, const float* logits)>;

/// Run `tokens` (positions 0 .. n-1 of one context) and hand the logits of every position from
/// `logitsFrom` on to `consume`, in order, a few positions at a time. Errors: a token id outside
/// the vocabulary, cancellation.
Status forward(const LlamaModel& model, std::span<const int32_t> tokens,
               const ForwardOptions& options, const LogitsFn& consume, int64_t logitsFrom = 0);

} // namespace qs::eval
