#pragma once
// Matrix products of the forward pass: y[t][r] = dot(W row r, x[t]) for a weight of any
// decodable type. The weight is decoded a chunk of rows at a time (memory stays near the
// quantized size) and each chunk meets every token of the batch. Like ggml's CPU matmul, the
// activations are first rounded to the weight type's "vec_dot type": F16 for F16 weights, BF16
// for BF16, Q8_0 for the 32-block quants (Q4_0 .. Q8_0, IQ4_NL, MXFP4) and Q8_K for the
// 256-block k-quants and i-quants. For Q4_0, Q5_0, Q8_0, IQ4_NL (Q8_0) and Q4_1, Q5_1 (Q8_1)
// the products are summed exactly as ggml's AVX2 kernels sum them (eight int32 lanes of four
// products, fused into float accumulators per block), and F16 rows in ggml's lane order:
// llama.cpp's Q8_0 rounding of the next activations amplifies any other order into 1e-2 logit
// differences. Other types use float products of the rounded activations.

#include <cstdint>
#include <span>

#include "eval/llama_model.h"

namespace qs::eval {

/// How activations are rounded before a product with a weight.
enum class ActRounding { None, F16, BF16, Q8_0, Q8_K };

/// ggml's vec_dot type of a weight type, as rounding of the activations.
ActRounding activationRounding(formats::TensorType weightType);

/// Round `x` (n values; n a multiple of 32 for Q8_0 and 256 for Q8_K) in place as ggml
/// quantizes activations, then back to float.
void roundActivations(ActRounding r, float* x, int64_t n);

/// y (nTok x w.rows, row-major) = x (nTok x w.cols) times w transposed, on `threads` threads.
/// `emulateGgml` rounds the activations as above (off: plain float products). The K-quants
/// (Q3_K..Q6_K) and IQ4_XS then take integer products in the order of llama.cpp's x86 kernels
/// (eval/kquant_dot.h); `expertSlice` marks one expert of a 3-D tensor (llama.cpp's MUL_MAT_ID
/// runs the repacked Q4_K GEMV for every row).
void matmul(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
            bool emulateGgml = true, bool expertSlice = false);

/// Dot product of n floats (vectorized where the CPU allows).
float dotF32(const float* a, const float* b, int64_t n);

namespace detail {
/// The Q8_0-activation products of the 32-block quants (Q4_0 .. Q8_0, IQ4_NL) in the lane-order
/// kernel (AVX2 or portable). matmul takes eval/q8_gemm.h's int8 GEMM instead where the CPU
/// runs it; both give the same bits (tests compare them).
void matmulQ8IntLaneOrder(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                          bool expert);
}  // namespace detail

}  // namespace qs::eval
