#pragma once
// Row encoders (float -> ggml blocks), one per tensor type we can write, with optional
// per-column importance weights (an imatrix: one float per input channel of the row).
//
// Every encoder reproduces the path ggml's ggml_quantize_chunk() takes for that type:
//  - without importance: the quantize_row_*_ref routine (or, for IQ4_NL / IQ4_XS, the
//    quantize_iq4_* routine with no weights), byte for byte;
//  - with importance: the quantize_*_impl routine that consumes quant_weights, byte for byte.
// Q8_0, F16, BF16, F32, TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0 and Q2_0 ignore importance, as ggml
// does.
//
// Two implementations exist behind the same signature: the scalar reference (a direct rendering
// of ggml's algorithm) and the fast path (same arithmetic, evaluated candidate-parallel so the
// compiler can vectorise it). Both give identical bytes; the tests prove it. The grid i-quants,
// the ternary, FP4, Q1_0 and Q2_0 types have one implementation each (already candidate-parallel,
// see codecs/iqgrid and codecs/lowbit), proven byte-identical to ggml itself. The per-type
// encoders live with their family under codecs/ (codecs/codecs.h lists them).

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::formats {

/// The encoder for `t` (fast path where one exists), or nullptr if we cannot write `t`: the type
/// table's `encode` (EncodeFn, see type_table.h).
EncodeFn encoderOf(TensorType t);
/// The scalar reference encoder for `t` (the type table's `encodeReference`), or nullptr.
EncodeFn referenceEncoderOf(TensorType t);
/// True if `t` has an encoder.
bool canEncode(TensorType t);
/// True if ggml refuses to encode `t` without an importance matrix (IQ2_XXS, IQ2_XS, IQ1_S);
/// encodeRows then returns BadInput naming the tensor.
bool requiresImportance(TensorType t);

/// Encode a whole tensor of `src.size() / rowLength` rows in parallel (chunks of rows with
/// disjoint outputs; bytes are identical for any thread count). `dst` must hold exactly
/// rows * rowBytes bytes; `importance` is rowLength floats or nullptr; threads 0 = default.
/// Returns BadInput naming `tensorName` if the row length is not a multiple of the block size,
/// the input (or importance) holds NaN/Inf, or an output scale is NaN/Inf (the check of
/// ggml_validate_row_data); BadUsage if `t` cannot be encoded or the spans do not fit. Error
/// messages number rows from `firstRow` (the tensor row of `src`'s first row, when `src` is a
/// chunk of a larger tensor).
Status encodeRows(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                  int64_t rowLength, const float* importance, int threads,
                  const std::string& tensorName = {}, int64_t firstRow = 0);

/// The argument checks encodeRows makes before it encodes, for other backends to make the same
/// with the same messages: BadInput if the row length is not a positive multiple of the block
/// size, an importance value is negative, NaN or Inf, or `t` needs importance and has none;
/// BadUsage if `srcValues` is not whole rows or `dstBytes` is not their encoded size. Returns
/// the row count.
Result<int64_t> checkEncodeArgs(TensorType t, size_t srcValues, size_t dstBytes, int64_t rowLength,
                                const float* importance, const std::string& tensorName = {});

/// The check ggml_validate_row_data makes on an encoded row of `rowLength` values of `t`: the
/// index of the first block whose fp16 scale (at its block struct's offset) is NaN or Inf, or
/// -1. For F16 / BF16 the index of the first NaN/Inf element; -1 for types without an fp16
/// scale (F32, MXFP4, NVFP4). encodeRows applies it; other backends call it on their output.
int64_t firstNonFiniteScale(TensorType t, const uint8_t* row, int64_t rowLength);

/// Like encodeRows but with the scalar reference encoders (for tests and debugging).
Status encodeRowsReference(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                           int64_t rowLength, const float* importance, int threads,
                           const std::string& tensorName = {});

}  // namespace qs::formats
