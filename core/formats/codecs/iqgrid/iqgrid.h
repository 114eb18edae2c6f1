#pragma once
// The grid i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M: groups of 4 or 8
// values are indices into fixed codebooks (iq_grids.h). Layout, decoders (decode.cpp) and
// encoders (grid_search.*, encode_iq2_iq3.cpp, encode_iq1.cpp). IQ2_XXS, IQ2_XS and IQ1_S
// require importance.

#include <cstddef>
#include <cstdint>

#include "formats/codecs/block.h"
#include "formats/type_table.h"

namespace qs::formats::blocks {

/// IQ2_XXS: per 32 values two uint32: 4 grid indices (bytes), then 4x7 sign bits + 4-bit scale.
struct BlockIQ2_XXS {
    uint16_t d;       ///< fp16 super-scale
    uint16_t qs[32];  ///< packed indices, signs and scales
};
static_assert(sizeof(BlockIQ2_XXS) == 66);  // 2.0625 bpw

/// IQ2_XS: per 8 values a uint16: 9-bit grid index, 7-bit sign index; 4-bit scales per 16.
struct BlockIQ2_XS {
    uint16_t d;         ///< fp16 super-scale
    uint16_t qs[32];    ///< grid index | sign index << 9
    uint8_t scales[8];  ///< two 4-bit scales per 32 values
};
static_assert(sizeof(BlockIQ2_XS) == 74);  // 2.3125 bpw

/// IQ2_S: 10-bit grid indices (8 low bits in qs, 2 high in qh), explicit sign bytes.
struct BlockIQ2_S {
    uint16_t d;         ///< fp16 super-scale
    uint8_t qs[64];     ///< 32 grid index low bytes, then 32 sign bytes
    uint8_t qh[8];      ///< high index bits, 2 per group of 8
    uint8_t scales[8];  ///< two 4-bit scales per 32 values
};
static_assert(sizeof(BlockIQ2_S) == 82);  // 2.5625 bpw

/// IQ3_XXS: 64 grid index bytes, then per 32 values a uint32 of 4x7 sign bits + 4-bit scale.
struct BlockIQ3_XXS {
    uint16_t d;      ///< fp16 super-scale
    uint8_t qs[96];  ///< grid indices, then scales and signs
};
static_assert(sizeof(BlockIQ3_XXS) == 98);  // 3.0625 bpw

/// IQ3_S: 9-bit grid indices, explicit signs, 4-bit scales per 32 values.
struct BlockIQ3_S {
    uint16_t d;         ///< fp16 super-scale
    uint8_t qs[64];     ///< grid index low bytes
    uint8_t qh[8];      ///< 9th index bits
    uint8_t signs[32];  ///< one sign bit per value
    uint8_t scales[4];  ///< two 4-bit scales per 64 values
};
static_assert(sizeof(BlockIQ3_S) == 110);  // 3.4375 bpw

/// IQ1_S: 11-bit indices into the ternary grid; per 32 values a uint16 with the 3 high index
/// bits of each group of 8, a 3-bit scale and the sign of the delta.
struct BlockIQ1_S {
    uint16_t d;      ///< fp16 super-scale
    uint8_t qs[32];  ///< grid index low bytes
    uint16_t qh[8];  ///< high index bits | scale << 12 | delta sign << 15
};
static_assert(sizeof(BlockIQ1_S) == 50);  // 1.5625 bpw

/// IQ1_M: like IQ1_S with 3-bit scales per 16 values; the fp16 super-scale is split into
/// the top nibbles of the four uint16 scale words.
struct BlockIQ1_M {
    uint8_t qs[32];     ///< grid index low bytes
    uint8_t qh[16];     ///< per 8 values: 3 high index bits + delta sign bit
    uint8_t scales[8];  ///< four uint16: 4x3-bit scales + one nibble of the fp16 scale
};
static_assert(sizeof(BlockIQ1_M) == 56);  // 1.75 bpw
static_assert(offsetof(BlockIQ1_M, scales) == 48);

}  // namespace qs::formats::blocks

namespace qs::formats {

// Decoders (the type table's DecodeFn): n values, a multiple of the block size.
void decodeIQ2_XXS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ2_XS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ2_S(const uint8_t* src, float* dst, int64_t n);
void decodeIQ3_XXS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ3_S(const uint8_t* src, float* dst, int64_t n);
void decodeIQ1_S(const uint8_t* src, float* dst, int64_t n);
void decodeIQ1_M(const uint8_t* src, float* dst, int64_t n);

namespace detail {
// Encoders (the type table's EncodeFn); *Ref is the scalar reference where a fast path exists.
void encodeIQ2_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ2_XS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ2_S(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ3_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ3_S(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ1_S(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ1_M(const float* src, uint8_t* dst, int64_t n, const float* importance);
/// Builds the grid maps and neighbour lists `t` needs (once; later calls return at once).
void prepareGridTables(TensorType t);
}  // namespace detail

}  // namespace qs::formats
