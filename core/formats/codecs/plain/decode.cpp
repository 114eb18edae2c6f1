// Decoders of the unquantized element types: IEEE floats, integers and the two OCP FP8 formats.
// Every load goes through memcpy because tensor data in a memory-mapped file need not be
// aligned to the element size; compilers turn these memcpys into plain (unaligned) loads.

#include <array>
#include <bit>
#include <cstring>

#include "formats/codecs/plain/plain.h"
#include "formats/half.h"

namespace qs::formats {

namespace {

/// Convert n little-endian elements of type T to float with a plain cast (C++ rounding).
template <typename T>
inline void castRow(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, src + i * int64_t(sizeof(T)), sizeof(T));
        dst[i] = static_cast<float>(v);
    }
}

/// Decode table of an FP8 format: one float per byte value, so a row decode is a lookup.
using Fp8Table = std::array<float, 256>;

/// OCP FP8 E4M3FN: sign, 4 exponent bits (bias 7), 3 mantissa bits. No infinities; only
/// S.1111.111 is NaN, so the top exponent still encodes normal numbers up to 448.
constexpr float e4m3ToFloat(uint8_t b) {
    const uint32_t sign = uint32_t(b & 0x80u) << 24;
    const uint32_t exp = (b >> 3) & 0xfu;
    const uint32_t man = b & 0x7u;
    if (exp == 0xf && man == 0x7) return std::bit_cast<float>(sign | 0x7fc00000u);
    if (exp == 0) {
        // Subnormal: man * 2^-3 * 2^(1-7) = man * 2^-9, exact in float.
        const float mag = float(man) * 0x1p-9f;
        return sign ? -mag : mag;
    }
    return std::bit_cast<float>(sign | ((exp + 127u - 7u) << 23) | (man << 20));
}

/// OCP FP8 E5M2: sign, 5 exponent bits (bias 15), 2 mantissa bits; IEEE-like, with inf and
/// NaN at the top exponent. (It is the top byte of an fp16.)
constexpr float e5m2ToFloat(uint8_t b) {
    const uint32_t sign = uint32_t(b & 0x80u) << 24;
    const uint32_t exp = (b >> 2) & 0x1fu;
    const uint32_t man = b & 0x3u;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (man << 21));  // inf/NaN
    if (exp == 0) {
        // Subnormal: man * 2^-2 * 2^(1-15) = man * 2^-16, exact in float.
        const float mag = float(man) * 0x1p-16f;
        return sign ? -mag : mag;
    }
    return std::bit_cast<float>(sign | ((exp + 127u - 15u) << 23) | (man << 21));
}

constexpr Fp8Table makeTable(float (*fn)(uint8_t)) {
    Fp8Table t{};
    for (int i = 0; i < 256; ++i) t[size_t(i)] = fn(uint8_t(i));
    return t;
}

constexpr Fp8Table kE4M3 = makeTable(e4m3ToFloat);
constexpr Fp8Table kE5M2 = makeTable(e5m2ToFloat);

inline void lookupRow(const Fp8Table& table, const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i]];
}

}  // namespace

// ==========================================================================================
// F32: copy (bit patterns, NaN payloads included, are preserved)
// ==========================================================================================
void decodeF32(const uint8_t* src, float* dst, int64_t n) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
}

// ==========================================================================================
// F16 / BF16: exact widening
// ==========================================================================================
void decodeF16(const uint8_t* src, float* dst, int64_t n) {
    // The same arithmetic as halfToFloat(), written with selects instead of branches so the
    // compiler vectorises it (tests compare the two over all 65536 inputs).
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const uint32_t sign = uint32_t(h & 0x8000u) << 16;
        const uint32_t exp = h & 0x7c00u;
        const uint32_t man = h & 0x3ffu;
        const uint32_t normal = ((uint32_t(h) & 0x7fffu) << 13) + (112u << 23);  // rebias 15->127
        const uint32_t infNan = 0x7f800000u | (man << 13);
        const uint32_t subnormal = std::bit_cast<uint32_t>(float(int32_t(man)) * 0x1p-24f);
        const uint32_t isInfNan = 0u - uint32_t(exp == 0x7c00u);  // all ones or zero
        const uint32_t isSub = 0u - uint32_t(exp == 0);
        const uint32_t bits =
            (normal & ~(isInfNan | isSub)) | (infNan & isInfNan) | (subnormal & isSub);
        dst[i] = std::bit_cast<float>(sign | bits);
    }
}

void decodeBF16(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = bf16ToFloat(b);
    }
}

// ==========================================================================================
// F64: rounded to the nearest float (out of range -> inf), as a C cast does
// ==========================================================================================
void decodeF64(const uint8_t* src, float* dst, int64_t n) {
    castRow<double>(src, dst, n);
}

// ==========================================================================================
// Integers: converted to float (I32/I64 beyond 2^24 round to nearest even)
// ==========================================================================================
void decodeI8(const uint8_t* src, float* dst, int64_t n) {
    castRow<int8_t>(src, dst, n);
}
void decodeI16(const uint8_t* src, float* dst, int64_t n) {
    castRow<int16_t>(src, dst, n);
}
void decodeI32(const uint8_t* src, float* dst, int64_t n) {
    castRow<int32_t>(src, dst, n);
}
void decodeI64(const uint8_t* src, float* dst, int64_t n) {
    castRow<int64_t>(src, dst, n);
}
void decodeU8(const uint8_t* src, float* dst, int64_t n) {
    castRow<uint8_t>(src, dst, n);
}

// ==========================================================================================
// FP8 (safetensors only): table lookup
// ==========================================================================================
void decodeF8_E4M3(const uint8_t* src, float* dst, int64_t n) {
    lookupRow(kE4M3, src, dst, n);
}
void decodeF8_E5M2(const uint8_t* src, float* dst, int64_t n) {
    lookupRow(kE5M2, src, dst, n);
}

}  // namespace qs::formats
