#pragma once
// The forward pass's products over decoded weight rows (eval/matmul.h's matmul for F16, BF16 and
// every type it does not take in integer kernels): a chunk of rows is decoded to float and each
// token of the batch meets it. F16 rows against F16-rounded activations are summed in ggml's
// order (tinyBLAS's W-lane chains, or ggml_vec_dot_f16 for experts and rows of no multiple of
// W; W = 16 where llama.cpp loads an AVX-512 build, else 8): every F16 x F16 product is exact in
// float, so the bits depend only on that order, never on the kernel that keeps it. The kernels
// are chosen per CPU (portable, AVX2, AVX-512 micro-kernels); tests force each level.

#include <cstdint>

#include "eval/llama_model.h"
#include "eval/matmul.h"

namespace qs::eval::detail {

/// The kernels of the decoded-row products, from the portable bodies to the AVX-512
/// micro-kernels. For F16 weights every level gives the same bits.
enum class DecodedLevel { Portable = 0, Avx2 = 1, Avx512 = 2 };

/// The highest level this CPU runs (and the default).
DecodedLevel decodedLevelSupported();
/// The level matmul takes now.
DecodedLevel decodedLevel();
/// Forces a level (clamped to the supported one); for tests, between products.
void setDecodedLevel(DecodedLevel level);

/// matmul's path for the decoded rows: activations rounded by `ar` (None: plain float products),
/// then y (nTok x w.rows) = x (nTok x w.cols) times w transposed. `expertSlice`: one expert of a
/// 3-D tensor (F16 then in ggml_vec_dot_f16's order for every product).
void matmulDecoded(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                   ActRounding ar, bool expertSlice);

}  // namespace qs::eval::detail
