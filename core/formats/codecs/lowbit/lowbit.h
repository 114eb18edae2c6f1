#pragma once
// The round-to-nearest low-bit types: ternary TQ1_0 / TQ2_0, FP4 MXFP4 (E8M0 scale per 32) /
// NVFP4 (UE4M3 scale per 16), and the 1- and 2-bit Q1_0 / Q2_0. Importance is ignored, as in
// ggml. Layout, decoders (decode.cpp) and encoders (encode.cpp).

#include <cstddef>
#include <cstdint>

#include "formats/codecs/block.h"

namespace qs::formats::blocks {

/// TQ1_0: base-3 digits, 5 per byte in qs and 4 per byte in qh; x = d * (t - 1).
struct BlockTQ1_0 {
    uint8_t qs[48];  ///< 5 trits per byte (240 values)
    uint8_t qh[4];   ///< 4 trits per byte (16 values)
    uint16_t d;      ///< fp16 scale
};
static_assert(sizeof(BlockTQ1_0) == 54);  // 1.6875 bpw
static_assert(offsetof(BlockTQ1_0, d) == 52);

/// TQ2_0: 2 bits per value; x = d * (q - 1).
struct BlockTQ2_0 {
    uint8_t qs[64];  ///< 2-bit quants
    uint16_t d;      ///< fp16 scale
};
static_assert(sizeof(BlockTQ2_0) == 66);  // 2.0625 bpw
static_assert(offsetof(BlockTQ2_0, d) == 64);

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

namespace qs::formats {

// Decoders (the type table's DecodeFn): n values, a multiple of the block size.
void decodeTQ1_0(const uint8_t* src, float* dst, int64_t n);
void decodeTQ2_0(const uint8_t* src, float* dst, int64_t n);
void decodeMXFP4(const uint8_t* src, float* dst, int64_t n);
void decodeNVFP4(const uint8_t* src, float* dst, int64_t n);
void decodeQ1_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ2_0(const uint8_t* src, float* dst, int64_t n);
/// A UE4M3 scale byte as NVFP4 uses it (halved; 0 and 0x7f are 0), for the encoder.
float ue4m3HalfValue(uint8_t x);

namespace detail {
// Encoders (the type table's EncodeFn); *Ref is the scalar reference where a fast path exists.
void encodeTQ1_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeTQ2_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeMXFP4(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeNVFP4(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ1_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ2_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
}  // namespace detail

}  // namespace qs::formats
