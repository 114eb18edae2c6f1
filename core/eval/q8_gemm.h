#pragma once
// Cache-blocked matrix-matrix product of the 32-block quants (Q8_0, Q4_0, Q5_0, IQ4_NL) with
// Q8_0-quantized activations on AVX-512 VNNI, in the arithmetic of llama.cpp's tinyBLAS_Q0 and
// ggml_vec_dot_q8_0_q8_0 (docs/EVAL_NUMERICS.md): per 32-value block eight int32 lanes of four
// products each (exact), converted to float and fused-multiplied by d_w * d_x into eight float
// accumulators, then hsum ((0+4)+(2+6))+((1+5)+(3+7)). The results are bit-identical to the
// lane-order kernel of matmul.cpp; only the work is laid out differently: weights stay int8
// (Q8_0's bytes as they are), activations are stored as unsigned bytes x + 128 with the
// weight's -128 * sum correction as the accumulator's start, so that one vpdpbusd makes a
// block's lanes, and a micro-kernel runs four weight rows by ten tokens (two tokens per zmm).
// The activations are quantized once per call (AVX-512), each chunk of rows is packed into a
// per-thread buffer right before use.

#include <cstdint>

#include "eval/llama_model.h"

namespace qs::eval::detail {

/// True when the CPU runs the kernel (AVX-512 F, BW, VL, DQ and VNNI).
bool q8GemmAvailable();

/// Weight types the kernel takes: Q8_0 always; Q4_0 and IQ4_NL when llama.cpp would not repack
/// them (`repacked` false); Q5_0. (Types with a block minimum stay with the lane-order kernel.)
bool q8GemmType(formats::TensorType t, bool repacked);

/// y (nTok x w.rows) = x (nTok x w.cols) times w transposed; w.cols a multiple of 32 and
/// q8GemmAvailable() and q8GemmType(w.type, false) hold.
void matmulQ8Gemm(const WeightView& w, const float* x, int64_t nTok, float* y, int threads);

}  // namespace qs::eval::detail
