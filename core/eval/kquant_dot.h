#pragma once
// Integer dot products of the 256-wide K-quants (Q3_K, Q4_K, Q5_K, Q6_K) and IQ4_XS with
// Q8_K-quantized activations, rounded and summed exactly as the x86 kernels of llama.cpp's CPU
// backend sum them (docs/EVAL_NUMERICS.md):
//  - Q4_K in a tensor of a multiple of 8 rows: the "repack" buffer's interleaved 8x8 GEMM for
//    each group of four activation rows (one float fused multiply-add per 64 values) and its
//    GEMV for the remaining rows and for every expert (one per super-block);
//  - the others (and Q4_K elsewhere): ggml_vec_dot_*_q8_K's AVX2 order, eight int32 lanes of
//    scaled 4-value products fused into eight float accumulators per super-block, then a fixed
//    horizontal sum (the Q4_K/Q5_K minimum terms on the side).
// The integer sums are exact, so only the float steps need to follow ggml; an AVX-512 kernel
// (Q4_K, Q5_K, Q6_K; eval/kquant_dot_avx512.h), an AVX2 kernel (chosen at run time) and a
// portable one give identical results.

#include <cstdint>

#include "eval/llama_model.h"

namespace qs::eval::detail {

/// The kernel levels, best last. The level only picks the kernel: the order emulated (which of
/// llama.cpp's kernels) follows the CPU, so every level gives the same bits.
enum class KDotLevel : int { Portable = 0, Avx2 = 1, Avx512 = 2 };

/// The best level this CPU runs (Avx512: AVX-512 F, BW, VL and VNNI).
KDotLevel kquantDotSupported();

/// The level in use: the supported one unless a test lowered it.
KDotLevel kquantDotLevel();

/// Uses `level`, clamped to the supported one (tests; thread-safe, but set it between runs).
void setKQuantDotLevel(KDotLevel level);

/// "portable", "avx2" or "avx512".
const char* kquantDotLevelName(KDotLevel level);

/// The fewest tokens for which a product takes the AVX-512 kernel (below: AVX2, the same bits).
inline constexpr int64_t kAvx512MinTokensRepacked = 12;
inline constexpr int64_t kAvx512MinTokensVecDot = 24;

/// Weight types with an integer Q8_K product here.
bool kquantIntDotType(formats::TensorType t);

/// y (nTok x w.rows) = x (nTok x w.cols) times w transposed, w of a kquantIntDotType type.
/// `expert`: a slice of a 3-D expert tensor (llama.cpp's MUL_MAT_ID: GEMV for every row).
void matmulKQuant(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                  bool expert);

/// The same product for one weight row and one activation row through the portable kernel
/// (tests compare it with the dispatched one). `gemmOrder`: the repacked GEMM's order.
float dotKQuantPortable(formats::TensorType type, const uint8_t* row, const float* x, int64_t n,
                        bool repacked, bool gemmOrder);

}  // namespace qs::eval::detail
