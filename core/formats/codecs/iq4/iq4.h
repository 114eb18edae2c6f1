#pragma once
// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table (iq_grids.h). Layout,
// decoders (decode.cpp) and encoders (encode.cpp).

#include <cstddef>
#include <cstdint>

#include "formats/codecs/block.h"

namespace qs::formats::blocks {

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

}  // namespace qs::formats::blocks

namespace qs::formats {

// Decoders (the type table's DecodeFn): n values, a multiple of the block size.
void decodeIQ4_NL(const uint8_t* src, float* dst, int64_t n);
void decodeIQ4_XS(const uint8_t* src, float* dst, int64_t n);

namespace detail {
// Encoders (the type table's EncodeFn); *Ref is the scalar reference where a fast path exists.
void encodeIQ4_NL(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ4_XS(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ4_NLRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeIQ4_XSRef(const float* src, uint8_t* dst, int64_t n, const float* importance);
}  // namespace detail

}  // namespace qs::formats
