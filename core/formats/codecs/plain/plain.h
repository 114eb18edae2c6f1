#pragma once
// The unquantized element types: IEEE floats, integers and the two OCP FP8 formats (decode
// only: safetensors), and the F32 / F16 / BF16 encoders.

#include <cstddef>
#include <cstdint>

#include "formats/codecs/block.h"

namespace qs::formats {

// Decoders (the type table's DecodeFn): n values, a multiple of the block size.
void decodeF32(const uint8_t* src, float* dst, int64_t n);
void decodeF16(const uint8_t* src, float* dst, int64_t n);
void decodeBF16(const uint8_t* src, float* dst, int64_t n);
void decodeF64(const uint8_t* src, float* dst, int64_t n);
void decodeI8(const uint8_t* src, float* dst, int64_t n);
void decodeI16(const uint8_t* src, float* dst, int64_t n);
void decodeI32(const uint8_t* src, float* dst, int64_t n);
void decodeI64(const uint8_t* src, float* dst, int64_t n);
void decodeU8(const uint8_t* src, float* dst, int64_t n);
void decodeF8_E4M3(const uint8_t* src, float* dst, int64_t n);
void decodeF8_E5M2(const uint8_t* src, float* dst, int64_t n);

namespace detail {
// Encoders (the type table's EncodeFn); *Ref is the scalar reference where a fast path exists.
void encodeF32(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeF16(const float* src, uint8_t* dst, int64_t n, const float* importance);
void encodeBF16(const float* src, uint8_t* dst, int64_t n, const float* importance);
/// F16 / BF16 conversion fused with the input check: converts like encodeF16/encodeBF16 and
/// returns the largest |x| as float bits (one pass instead of two; the check is what ggml's
/// converter does not do).
uint32_t encodeF16MaxAbs(const float* src, uint8_t* dst, int64_t n);
uint32_t encodeBF16MaxAbs(const float* src, uint8_t* dst, int64_t n);
/// The input check alone: the largest |x| of n values as float bits (>= 0x7f800000: the
/// values hold NaN or Inf), vectorised where the CPU allows (encode_simd.h).
uint32_t rowMaxAbsBits(const float* x, int64_t n);
}  // namespace detail

}  // namespace qs::formats
