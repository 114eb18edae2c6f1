#pragma once
// The table of every GGUF tensor type: ggml's type id, name, block size, bytes per block and
// bits per weight, plus pointers to its codec (codecs/<family>): the decoder (block bytes ->
// float) and the encoders (float -> block bytes, fast path and scalar reference). Ids and sizes
// mirror ggml's `ggml_type` enum and `type_traits` table (ggml/include/ggml.h, ggml/src/ggml.c) and
// must match them exactly: they are what a GGUF tensor info's `type` field means.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qs::formats {

/// ggml tensor type ids as stored in GGUF. Removed ids (4, 5, 31-33, 36-38) are not listed.
enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
    // Types that occur in safetensors files but have no ggml id. They are never valid in a GGUF
    // tensor info (ggufTraitsOf rejects them); ids start at 1000 to keep them apart.
    F8_E4M3 = 1000,
    F8_E5M2 = 1001,
    U8 = 1002,
    BOOL = 1003,
};

/// Decoder: `n` values (a multiple of blockSize) from `src` (n / blockSize blocks) into `dst`.
/// Never reads more than n / blockSize * blockBytes bytes. Thread-safe (pure function).
using DecodeFn = void (*)(const uint8_t* src, float* dst, int64_t n);

/// Encoder: one whole row of `n` values (a multiple of blockSize) from `src` into `dst`
/// (n / blockSize blocks). `importance` is n floats (one per column) or nullptr. Some types
/// derive statistics from the whole row (ggml's sigma2), so `n` must be the full row. Inputs
/// are finite (encodeRows checks). Thread-safe (pure function).
using EncodeFn = void (*)(const float* src, uint8_t* dst, int64_t n, const float* importance);

/// Static facts about one tensor type.
struct TypeTraits {
    TensorType type;
    std::string_view name;     ///< ggml's spelling: "F32", "Q4_K", "IQ4_NL" ...
    int64_t blockSize;         ///< values per block (1 for plain types)
    int64_t blockBytes;        ///< bytes per block
    bool quantized;            ///< true for block-quantized types
    DecodeFn decode;           ///< nullptr if we cannot decode this type
    EncodeFn encode;           ///< fast path; nullptr if we cannot encode this type
    EncodeFn encodeReference;  ///< scalar reference (same bytes); nullptr likewise
    bool needsImportance;      ///< ggml refuses to encode it without an imatrix
    /// Bits per weight: blockBytes * 8 / blockSize.
    double bitsPerWeight() const { return double(blockBytes) * 8.0 / double(blockSize); }
};

/// Traits of a known type id (including the safetensors-only ids), or nullptr if unknown.
const TypeTraits* traitsOf(uint32_t id);
/// Traits of a type id valid in a GGUF file, or nullptr for an unknown, removed or non-ggml id.
const TypeTraits* ggufTraitsOf(uint32_t id);
/// Traits of a type (always non-null for a TensorType value).
const TypeTraits& traits(TensorType type);
/// Every known type, in id order.
std::span<const TypeTraits> allTypes();
/// Parse a type name, case-insensitive ("q4_k", "Q4_K", "bf16"). nullopt if unknown.
std::optional<TensorType> typeFromName(std::string_view name);
/// ggml's name of a type.
inline std::string_view typeName(TensorType t) {
    return traits(t).name;
}

/// Bytes that `nElements` values occupy in `type`, or nullopt if nElements is not a multiple of
/// the block size or the product overflows.
std::optional<uint64_t> byteSize(TensorType type, uint64_t nElements);

}  // namespace qs::formats
