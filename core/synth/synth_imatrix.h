#pragma once
// A plausible importance matrix for a llama-architecture model when no calibration run exists
// (tests, demos, benchmarks). llama-imatrix stores E[x_j^2], the mean square of input column j
// of every matrix; this synthesizes those statistics from the model itself and the known shape
// of real activations:
//  - inputs that come from an RMSNorm (attn_q/k/v, ffn_gate/up, output) are the normalized
//    residual stream times the norm's weight g: E[x_j^2] = g_j^2 v_j, where v_j (mean 1) is
//    log-normal across channels (sigma 0.6) with a few "massive activation" channels (0.4%,
//    30x) that are the same channels in every layer, as observed in real checkpoints;
//  - attn_output reads the attention output: a log-normal scale per head (sigma 0.5) times a
//    milder per-channel spread (sigma 0.3);
//  - ffn_down reads the SwiGLU product, heavy-tailed: log-normal per channel (sigma 1.0).
// token_embd has no entry (it is looked up, not multiplied), as in llama-imatrix's output.
// Deterministic in (model, seed).

#include <cstdint>

#include "common/result.h"
#include "model/model.h"
#include "quant/imatrix.h"

namespace qs::synth {

Result<quant::Imatrix> synthImatrix(const model::Model& model, uint64_t seed = 1);

}  // namespace qs::synth
