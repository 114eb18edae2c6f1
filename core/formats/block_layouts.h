#pragma once
// Byte layout of one block of every block-quantized GGUF type, field for field as ggml's
// src/ggml-common.h declares it (field names spelled as ggml spells them). Multi-byte fields
// are little-endian in the file; `half` fields hold raw IEEE fp16 bits (see half.h).
//
// The structs contain only uint8_t/int8_t/uint16_t/int16_t arrays and scalars, laid out so that
// the natural layout has no padding: the static_asserts on sizeof prove it, so they are packed
// without compiler attributes (which would make references to members unaligned). A decoder
// copies a block out of the (possibly unaligned, memory-mapped) source with loadBlock() and then
// reads the fields by name.

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace qs::formats::blocks {

// Loading a block by memcpy reinterprets little-endian file bytes as host integers.
static_assert(std::endian::native == std::endian::little,
              "block decoders assume a little-endian host (as ggml does)");

/// Values per super-block of the K-quants, i-quants and ternary quants (ggml's QK_K).
inline constexpr int kQK_K = 256;
/// Values per block of the legacy quants, IQ4_NL and MXFP4.
inline constexpr int kQK32 = 32;

/// Copy one block from `src` (any alignment) into a struct.
template <typename Block>
inline Block loadBlock(const uint8_t* src) {
    static_assert(std::is_trivially_copyable_v<Block>);
    Block b;
    std::memcpy(&b, src, sizeof(Block));
    return b;
}

// ------------------------------------------------------------------------------------------
// Legacy quants: blocks of 32
// ------------------------------------------------------------------------------------------

/// Q4_0: x = d * (q - 8); low nibbles are elements 0-15, high nibbles 16-31.
struct BlockQ4_0 {
    uint16_t d;      ///< fp16 scale
    uint8_t qs[16];  ///< nibbles
};
static_assert(sizeof(BlockQ4_0) == 18);  // 4.5 bpw

/// Q4_1: x = d * q + m.
struct BlockQ4_1 {
    uint16_t d;      ///< fp16 scale
    uint16_t m;      ///< fp16 minimum
    uint8_t qs[16];  ///< nibbles
};
static_assert(sizeof(BlockQ4_1) == 20);  // 5.0 bpw

/// Q5_0: x = d * (q - 16), q = nibble | (bit of qh) << 4.
struct BlockQ5_0 {
    uint16_t d;      ///< fp16 scale
    uint8_t qh[4];   ///< 5th bits, element j in bit j of the little-endian uint32
    uint8_t qs[16];  ///< low nibbles
};
static_assert(sizeof(BlockQ5_0) == 22);  // 5.5 bpw

/// Q5_1: x = d * q + m, q 5 bits as in Q5_0.
struct BlockQ5_1 {
    uint16_t d;      ///< fp16 scale
    uint16_t m;      ///< fp16 minimum
    uint8_t qh[4];   ///< 5th bits
    uint8_t qs[16];  ///< low nibbles
};
static_assert(sizeof(BlockQ5_1) == 24);  // 6.0 bpw

/// Q8_0: x = d * q.
struct BlockQ8_0 {
    uint16_t d;     ///< fp16 scale
    int8_t qs[32];  ///< quants
};
static_assert(sizeof(BlockQ8_0) == 34);  // 8.5 bpw

/// Q8_1: x = d * q; s = d * sum(q) is a dot-product helper, not needed to decode.
struct BlockQ8_1 {
    uint16_t d;     ///< fp16 scale
    uint16_t s;     ///< fp16 d * sum(qs)
    int8_t qs[32];  ///< quants
};
static_assert(sizeof(BlockQ8_1) == 36);  // 9.0 bpw

// ------------------------------------------------------------------------------------------
// K-quants: super-blocks of 256
// ------------------------------------------------------------------------------------------

/// Q2_K: 16 sub-blocks of 16, x = d * (scale & 15) * q - dmin * (scale >> 4).
struct BlockQ2_K {
    uint8_t scales[16];  ///< 4-bit scale (low) and 4-bit min (high) per sub-block
    uint8_t qs[64];      ///< 2-bit quants
    uint16_t d;          ///< fp16 super-scale of the scales
    uint16_t dmin;       ///< fp16 super-scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84);  // 2.625 bpw

/// Q3_K: 16 sub-blocks of 16, x = d * (scale - 32) * (q - 4 * !hbit).
struct BlockQ3_K {
    uint8_t hmask[32];   ///< high bit of each quant
    uint8_t qs[64];      ///< low 2 bits
    uint8_t scales[12];  ///< sixteen 6-bit scales, packed
    uint16_t d;          ///< fp16 super-scale
};
static_assert(sizeof(BlockQ3_K) == 110);  // 3.4375 bpw

/// Q4_K: 8 sub-blocks of 32, x = d * sc * q - dmin * m.
struct BlockQ4_K {
    uint16_t d;          ///< fp16 super-scale of the scales
    uint16_t dmin;       ///< fp16 super-scale of the mins
    uint8_t scales[12];  ///< eight 6-bit scales and eight 6-bit mins, packed
    uint8_t qs[128];     ///< nibbles
};
static_assert(sizeof(BlockQ4_K) == 144);  // 4.5 bpw

/// Q5_K: as Q4_K with a 5th bit per quant.
struct BlockQ5_K {
    uint16_t d;          ///< fp16 super-scale of the scales
    uint16_t dmin;       ///< fp16 super-scale of the mins
    uint8_t scales[12];  ///< as Q4_K
    uint8_t qh[32];      ///< 5th bits
    uint8_t qs[128];     ///< low nibbles
};
static_assert(sizeof(BlockQ5_K) == 176);  // 5.5 bpw

/// Q6_K: 16 sub-blocks of 16, x = d * scale * (q - 32).
struct BlockQ6_K {
    uint8_t ql[128];    ///< low 4 bits
    uint8_t qh[64];     ///< high 2 bits
    int8_t scales[16];  ///< 8-bit signed scales
    uint16_t d;         ///< fp16 super-scale
};
static_assert(sizeof(BlockQ6_K) == 210);  // 6.5625 bpw

/// Q8_K: x = d * q with a float (not fp16) scale. ggml's intermediate for dot products.
struct BlockQ8_K {
    float d;            ///< fp32 scale
    int8_t qs[256];     ///< quants
    int16_t bsums[16];  ///< sums of 16 quants (dot-product helper, not needed to decode)
};
static_assert(sizeof(BlockQ8_K) == 292);  // 9.125 bpw

// ------------------------------------------------------------------------------------------
// i-quants
// ------------------------------------------------------------------------------------------

/// IQ4_NL: x = d * kvalues_iq4nl[nibble], nibble layout as Q4_0.
struct BlockIQ4_NL {
    uint16_t d;      ///< fp16 scale
    uint8_t qs[16];  ///< nibbles (table indices)
};
static_assert(sizeof(BlockIQ4_NL) == 18);  // 4.5 bpw

/// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales, x = d * (ls - 32) * kvalues_iq4nl[nibble].
struct BlockIQ4_XS {
    uint16_t d;           ///< fp16 super-scale
    uint16_t scales_h;    ///< high 2 bits of the 8 scales
    uint8_t scales_l[4];  ///< low 4 bits of the 8 scales
    uint8_t qs[128];      ///< nibbles
};
static_assert(sizeof(BlockIQ4_XS) == 136);  // 4.25 bpw

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

// ------------------------------------------------------------------------------------------
// Ternary and FP4
// ------------------------------------------------------------------------------------------

/// TQ1_0: base-3 digits, 5 per byte in qs and 4 per byte in qh; x = d * (t - 1).
struct BlockTQ1_0 {
    uint8_t qs[48];  ///< 5 trits per byte (240 values)
    uint8_t qh[4];   ///< 4 trits per byte (16 values)
    uint16_t d;      ///< fp16 scale
};
static_assert(sizeof(BlockTQ1_0) == 54);  // 1.6875 bpw

/// TQ2_0: 2 bits per value; x = d * (q - 1).
struct BlockTQ2_0 {
    uint8_t qs[64];  ///< 2-bit quants
    uint16_t d;      ///< fp16 scale
};
static_assert(sizeof(BlockTQ2_0) == 66);  // 2.0625 bpw

/// MXFP4 (OCP microscaling): x = 2^(e - 127) * fp4[nibble], nibble layout as Q4_0.
struct BlockMXFP4 {
    uint8_t e;       ///< E8M0 shared exponent
    uint8_t qs[16];  ///< E2M1 nibbles
};
static_assert(sizeof(BlockMXFP4) == 17);  // 4.25 bpw

/// NVFP4: four sub-blocks of 16 values, each with a UE4M3 scale; nibble layout per sub-block
/// as Q4_0 (low nibbles are values 0-7 of the sub-block, high nibbles 8-15).
struct BlockNVFP4 {
    uint8_t d[4];    ///< UE4M3 scales (halved, as ggml's kvalues are doubled)
    uint8_t qs[32];  ///< E2M1 nibbles
};
static_assert(sizeof(BlockNVFP4) == 36);  // 4.5 bpw

/// Q1_0: x = bit ? d : -d, bit j of the block in bit j % 8 of byte j / 8.
struct BlockQ1_0 {
    uint16_t d;      ///< fp16 scale (mean |x|)
    uint8_t qs[16];  ///< sign bits of 128 values
};
static_assert(sizeof(BlockQ1_0) == 18);  // 1.125 bpw

/// Q2_0: x = (q - 1) * d, q 2 bits (value j in bits 2 (j % 4) of byte j / 4).
struct BlockQ2_0 {
    uint16_t d;      ///< fp16 scale (max |x|)
    uint8_t qs[16];  ///< 2-bit codes of 64 values
};
static_assert(sizeof(BlockQ2_0) == 18);  // 2.25 bpw

}  // namespace qs::formats::blocks
