#pragma once
// The "best" quantizer: the same block formats as ggml (llama.cpp loads the files unchanged),
// with a search that lowers the (importance-weighted) squared error of every block.
//
// ggml's quantizers pick scales by a fixed set of candidates and a greedy fit; the formats leave
// more freedom. Starting from ggml's own block, this search alternates three exact steps until
// the block error stops falling:
//   1. levels: given the scales, each value takes its nearest level (the exact optimum);
//   2. continuous scales: given the levels, each sub-block's scale (and min) by weighted least
//      squares, which makes the block error a small quadratic in each sub-block's scale and min;
//   3. integer scales: the fp16 super-scale (and super-min) from a grid around the best
//      continuous one, each sub-block's integer scale (and min) the best neighbour under that
//      quadratic.
// The final block is decoded with the type's own decoder and kept only if its error is below
// ggml's block, so no block (and no tensor) is ever worse than ggml's. Deterministic and
// thread-count independent (blocks are independent).
//
// Objective: sum_i w_i (x_i - y_i)^2 with w_i = 1 without an imatrix (plain squared error) and,
// with one, w_i = importance[column] * sqrt(sigma2 + x_i^2), sigma2 the row's mean square: the
// weighting ggml's own quantizers apply to an imatrix (bestRowWeights). Measured with
// llama.cpp, this beats llama.cpp's files in perplexity and KL where the imatrix alone as weight
// lowers the perplexity but raises the KL (docs/QUANTIZER.md).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::formats {

/// Which encoder family writes the blocks: ggml's (byte-identical to llama.cpp) or ours.
enum class Quantizer { Ggml, Best };

/// "ggml" | "best".
std::string_view quantizerName(Quantizer q);
/// Parse "ggml" / "best"; BadUsage naming the accepted values otherwise.
Result<Quantizer> parseQuantizer(std::string_view text);

/// True if the best quantizer has its own search for `t` (Q2_K..Q6_K, IQ4_NL, IQ4_XS, Q4_0,
/// Q4_1, Q5_0, Q5_1, Q8_0); other types are written by ggml's encoder under either choice.
bool hasBestSearch(TensorType t);

/// The mean square of a row (sigma2 above).
float rowMeanSquare(std::span<const float> row);
/// The best quantizer's weights for one row: importance[i] * sqrt(sigma2 + row[i]^2), with
/// importance 1 where `importance` is null. `out` has the row's length.
void bestRowWeights(std::span<const float> row, const float* importance, std::span<float> out);

/// As encodeRows, with the best quantizer where it has a search (ggml's bytes otherwise).
/// Same errors as encodeRows.
Status encodeRowsBest(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance, int threads,
                      const std::string& tensorName = {}, int64_t firstRow = 0);

/// encodeRows or encodeRowsBest by `q`.
Status encodeRowsWith(Quantizer q, TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance, int threads,
                      const std::string& tensorName = {});

}  // namespace qs::formats
