#pragma once
// F32 weights times F32 activations in the order of llama.cpp's CPU backend (ggml-cpu), so that
// F32 models give llama.cpp's activations bit for bit (what an importance matrix equal to
// llama-imatrix's needs). ggml_compute_forward_mul_mat first offers the product to llamafile's
// tinyBLAS, which takes it when the row length is a multiple of the vector width W (16 in the
// AVX-512 builds, 8 in the AVX2 builds) and the weight's row count (ne01) a multiple of 4: each
// output is one chain of W-lane fused multiply-adds over the row, then the build's horizontal
// sum. Otherwise (and for experts: MUL_MAT_ID never uses tinyBLAS) each output is
// ggml_vec_dot_f32: four W-lane fused chains over the first multiple of 4W values, reduced
// (0+2) + (1+3) lane-wise and horizontally, the leftover values added one by one into the
// float sum as the compiled kernel adds them (see matmul_f32.cpp).

#include <cstdint>

#include "eval/llama_model.h"

namespace qs::eval::detail {

/// y (nTok x w.rows) = x (nTok x w.cols) times the F32 weight w transposed, as above.
/// `expertSlice`: one expert of a 3-D tensor (ggml_vec_dot_f32 for every product).
void matmulF32Ggml(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                   bool expertSlice);

/// The two kernels for one product, on this CPU's vector width (exposed for tests).
float dotF32TinyBlas(const float* w, const float* x, int64_t n);
float dotF32VecDot(const float* w, const float* x, int64_t n);

}  // namespace qs::eval::detail
