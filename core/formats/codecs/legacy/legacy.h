#pragma once
// The legacy (pre-K) quants Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1: blocks of 32 values with one
// fp16 scale (and min). Layout, decoders (decode.cpp) and encoders (encode.cpp).

#include <cstddef>
#include <cstdint>

#include "formats/codecs/block.h"

namespace qs::formats::blocks {

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
static_assert(offsetof(BlockQ4_1, m) == 2);

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
static_assert(offsetof(BlockQ5_1, m) == 2);

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

}  // namespace qs::formats::blocks

namespace qs::formats {

// Decoders (the type table's DecodeFn): n values, a multiple of the block size.
void decodeQ4_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ4_1(const uint8_t* src, float* dst, int64_t n);
void decodeQ5_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ5_1(const uint8_t* src, float* dst, int64_t n);
void decodeQ8_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ8_1(const uint8_t* src, float* dst, int64_t n);

namespace detail {
// Encoders (the type table's EncodeFn); *Ref is the scalar reference where a fast path exists.
void encodeQ8_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_1(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_0(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_1(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_0Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ4_1Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_0Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeQ5_1Ref(const float* src, uint8_t* dst, int64_t n, const float* importance);
/// The plain paths (no importance) fused with the input check, like encodeF16MaxAbs: encode
/// and return the largest |x| as float bits; when that is >= 0x7f800000 (NaN or Inf) the
/// output is unspecified and the caller discards the row.
uint32_t encodeQ8_0MaxAbs(const float* src, uint8_t* dst, int64_t n);
uint32_t encodeQ4_0MaxAbs(const float* src, uint8_t* dst, int64_t n);
uint32_t encodeQ4_1MaxAbs(const float* src, uint8_t* dst, int64_t n);
uint32_t encodeQ5_0MaxAbs(const float* src, uint8_t* dst, int64_t n);
uint32_t encodeQ5_1MaxAbs(const float* src, uint8_t* dst, int64_t n);
}  // namespace detail

}  // namespace qs::formats
