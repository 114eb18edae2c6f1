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
// see encode_iqgrid.cpp and encode_ternary_fp4.cpp), proven byte-identical to ggml itself.

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::formats {

/// Encode one whole row of `n` values (a multiple of the type's block size) from `src` into
/// `dst` (n / blockSize blocks). `importance` is n floats (one per column) or nullptr. Some
/// types derive statistics from the whole row (ggml's sigma2), so `n` must be the full row.
using EncodeFn = void (*)(const float* src, uint8_t* dst, int64_t n, const float* importance);

/// The encoder for `t` (fast path where one exists), or nullptr if we cannot write `t`.
EncodeFn encoderOf(TensorType t);
/// The scalar reference encoder for `t`, or nullptr if we cannot write `t`.
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
/// ggml_validate_row_data); BadUsage if `t` cannot be encoded or the spans do not fit.
Status encodeRows(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                  int64_t rowLength, const float* importance, int threads,
                  const std::string& tensorName = {});

/// Like encodeRows but with the scalar reference encoders (for tests and debugging).
Status encodeRowsReference(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                           int64_t rowLength, const float* importance, int threads,
                           const std::string& tensorName = {});

namespace detail {
// Per-type entry points, defined in encode_legacy.cpp, encode_kquants.cpp and encode_iq4.cpp.
// The *Ref functions are the scalar reference; the others the fast path (where they differ).
void encodeF32(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeF16(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeBF16(const float* src, uint8_t* dst, int64_t n, const float* importance);
/// F16 / BF16 conversion fused with the input check: converts like encodeF16/encodeBF16 and
/// returns the largest |x| as float bits (one pass instead of two; the check is what ggml's
/// converter does not do).
uint32_t encodeF16MaxAbs(const float* src, uint8_t* dst, int64_t n);
uint32_t encodeBF16MaxAbs(const float* src, uint8_t* dst, int64_t n);
void encodeQ8_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_1(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_1(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_0Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_1Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_0Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_1Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);

void encodeQ2_K(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ3_K(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_K(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_K(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ6_K(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ2_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ3_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ6_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance);

void encodeIQ4_NL(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ4_XS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ4_NLRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ4_XSRef(const float* src, uint8_t* dst, int64_t n, const float* importance);

/// ggml's nearest_int: round to nearest, ties to even, by adding 1.5 * 2^23 (valid for
/// |v| <= 4194303, as in ggml).
inline int nearestInt(float v) {
    const float biased = v + 12582912.f;
    uint32_t bits;
    __builtin_memcpy(&bits, &biased, sizeof bits);
    return int(bits & 0x007fffffu) - 0x00400000;
}

/// Scale search with a minimum over n <= 32 values (ggml's make_qkx2_quants, and
/// make_qkx3_quants with weights: the two agree once min is clamped to <= 0). `weights` is
/// required. Writes levels 0..nmax to L and -min to *negMin; returns the scale. `fast` selects
/// the candidate-parallel evaluation (identical result).
float searchScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* negMin, float rmin, float rdelta, int nstep, bool useMad, bool fast);
/// Symmetric scale search over n <= 32 values (ggml's make_qx_quants with rmse_type 1; weights
/// x^2 when `weights` is null). Writes L[i] in 0..2*nmax-1; returns the scale.
float searchScaleSym(int n, int nmax, const float* x, int8_t* L, const float* weights, bool fast);
/// ggml's make_qp_quants: n positive values onto levels 0..nmax with weights (required);
/// writes L and returns the scale.
float fitPositiveLevels(int n, int nmax, const float* x, uint8_t* L, const float* weights);

// Grid i-quants (encode_iqgrid.cpp); IQ2_XXS, IQ2_XS and IQ1_S require importance.
void encodeIQ2_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ2_XS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ2_S(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ3_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ3_S(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ1_S(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ1_M(const float* src, uint8_t* dst, int64_t n, const float* importance);
// Round-to-nearest low-bit types (encode_ternary_fp4.cpp); importance is ignored, as in ggml.
void encodeTQ1_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeTQ2_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeMXFP4(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeNVFP4(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ1_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ2_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
/// Builds the grid maps and neighbour lists `t` needs (once; later calls return at once).
void prepareGridTables(TensorType t);
}  // namespace detail

}  // namespace qs::formats
