#pragma once
// The K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K: super-blocks of 256 values with sub-block
// scales. Layout, decoders (decode.cpp) and encoders (encode.cpp; scale searches shared with
// the legacy quants in codecs/scale_search.h).

#include <cstddef>
#include <cstdint>

#include "formats/codecs/block.h"

namespace qs::formats::blocks {

/// Q2_K: 16 sub-blocks of 16, x = d * (scale & 15) * q - dmin * (scale >> 4).
struct BlockQ2_K {
    uint8_t scales[16];  ///< 4-bit scale (low) and 4-bit min (high) per sub-block
    uint8_t qs[64];      ///< 2-bit quants
    uint16_t d;          ///< fp16 super-scale of the scales
    uint16_t dmin;       ///< fp16 super-scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84);  // 2.625 bpw
static_assert(offsetof(BlockQ2_K, d) == 80);
static_assert(offsetof(BlockQ2_K, dmin) == 82);

/// Q3_K: 16 sub-blocks of 16, x = d * (scale - 32) * (q - 4 * !hbit).
struct BlockQ3_K {
    uint8_t hmask[32];   ///< high bit of each quant
    uint8_t qs[64];      ///< low 2 bits
    uint8_t scales[12];  ///< sixteen 6-bit scales, packed
    uint16_t d;          ///< fp16 super-scale
};
static_assert(sizeof(BlockQ3_K) == 110);  // 3.4375 bpw
static_assert(offsetof(BlockQ3_K, d) == 108);

/// Q4_K: 8 sub-blocks of 32, x = d * sc * q - dmin * m.
struct BlockQ4_K {
    uint16_t d;          ///< fp16 super-scale of the scales
    uint16_t dmin;       ///< fp16 super-scale of the mins
    uint8_t scales[12];  ///< eight 6-bit scales and eight 6-bit mins, packed
    uint8_t qs[128];     ///< nibbles
};
static_assert(sizeof(BlockQ4_K) == 144);  // 4.5 bpw
static_assert(offsetof(BlockQ4_K, dmin) == 2);

/// Q5_K: as Q4_K with a 5th bit per quant.
struct BlockQ5_K {
    uint16_t d;          ///< fp16 super-scale of the scales
    uint16_t dmin;       ///< fp16 super-scale of the mins
    uint8_t scales[12];  ///< as Q4_K
    uint8_t qh[32];      ///< 5th bits
    uint8_t qs[128];     ///< low nibbles
};
static_assert(sizeof(BlockQ5_K) == 176);  // 5.5 bpw
static_assert(offsetof(BlockQ5_K, dmin) == 2);

/// Scale and min j (0..7) of a Q4_K/Q5_K block from its 12 packed bytes (ggml's
/// get_scale_min_k4). Sub-blocks 0-3 keep their 6 bits in the low bits of bytes 0-3 (scales)
/// and 4-7 (mins); sub-blocks 4-7 take their low 4 bits from the nibbles of bytes 8-11 and
/// their top 2 bits from the spare top 2 bits of bytes 0-7.
inline void scaleMinK4(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/// Q6_K: 16 sub-blocks of 16, x = d * scale * (q - 32).
struct BlockQ6_K {
    uint8_t ql[128];    ///< low 4 bits
    uint8_t qh[64];     ///< high 2 bits
    int8_t scales[16];  ///< 8-bit signed scales
    uint16_t d;         ///< fp16 super-scale
};
static_assert(sizeof(BlockQ6_K) == 210);  // 6.5625 bpw
static_assert(offsetof(BlockQ6_K, d) == 208);

/// Q8_K: x = d * q with a float (not fp16) scale. ggml's intermediate for dot products.
struct BlockQ8_K {
    float d;            ///< fp32 scale
    int8_t qs[256];     ///< quants
    int16_t bsums[16];  ///< sums of 16 quants (dot-product helper, not needed to decode)
};
static_assert(sizeof(BlockQ8_K) == 292);  // 9.125 bpw

}  // namespace qs::formats::blocks

namespace qs::formats {

// Decoders (the type table's DecodeFn): n values, a multiple of the block size.
void decodeQ2_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ3_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ4_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ5_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ6_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ8_K(const uint8_t* src, float* dst, int64_t n);

namespace detail {
// Encoders (the type table's EncodeFn); *Ref is the scalar reference where a fast path exists.
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
}  // namespace detail

}  // namespace qs::formats
