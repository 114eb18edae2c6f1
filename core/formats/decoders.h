#pragma once
// Row decoders, one per GGUF tensor type: `n` values (a multiple of the type's block size) from
// `src` into `dst`. Bit-exact with ggml's dequantize_row_* (ggml/src/ggml-quants.c) and proven
// against ggml's own outputs in tests/data/golden. Pure functions, thread-safe.

#include <cstdint>

namespace qs::formats {

void decodeF32(const uint8_t* src, float* dst, int64_t n);
void decodeF16(const uint8_t* src, float* dst, int64_t n);
void decodeBF16(const uint8_t* src, float* dst, int64_t n);
void decodeF64(const uint8_t* src, float* dst, int64_t n);
void decodeI8(const uint8_t* src, float* dst, int64_t n);
void decodeI16(const uint8_t* src, float* dst, int64_t n);
void decodeI32(const uint8_t* src, float* dst, int64_t n);
void decodeI64(const uint8_t* src, float* dst, int64_t n);
void decodeU8(const uint8_t* src, float* dst, int64_t n);       // also BOOL
void decodeF8_E4M3(const uint8_t* src, float* dst, int64_t n);  // OCP FP8 E4M3FN (no inf)
void decodeF8_E5M2(const uint8_t* src, float* dst, int64_t n);  // OCP FP8 E5M2

void decodeQ4_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ4_1(const uint8_t* src, float* dst, int64_t n);
void decodeQ5_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ5_1(const uint8_t* src, float* dst, int64_t n);
void decodeQ8_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ8_1(const uint8_t* src, float* dst, int64_t n);

void decodeQ2_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ3_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ4_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ5_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ6_K(const uint8_t* src, float* dst, int64_t n);
void decodeQ8_K(const uint8_t* src, float* dst, int64_t n);

void decodeIQ4_NL(const uint8_t* src, float* dst, int64_t n);
void decodeIQ4_XS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ2_XXS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ2_XS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ2_S(const uint8_t* src, float* dst, int64_t n);
void decodeIQ3_XXS(const uint8_t* src, float* dst, int64_t n);
void decodeIQ3_S(const uint8_t* src, float* dst, int64_t n);
void decodeIQ1_S(const uint8_t* src, float* dst, int64_t n);
void decodeIQ1_M(const uint8_t* src, float* dst, int64_t n);

void decodeTQ1_0(const uint8_t* src, float* dst, int64_t n);
void decodeTQ2_0(const uint8_t* src, float* dst, int64_t n);
void decodeMXFP4(const uint8_t* src, float* dst, int64_t n);
/// A UE4M3 scale byte as NVFP4 uses it (halved; 0 and 0x7f are 0), for the encoder.
float ue4m3HalfValue(uint8_t x);
void decodeNVFP4(const uint8_t* src, float* dst, int64_t n);
void decodeQ1_0(const uint8_t* src, float* dst, int64_t n);
void decodeQ2_0(const uint8_t* src, float* dst, int64_t n);

}  // namespace qs::formats
