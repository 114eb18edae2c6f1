#pragma once
// IEEE 754 binary16 and bfloat16 conversions, bit-exact with ggml's scalar paths:
// fp16 <-> fp32 with round-to-nearest-even (subnormals, inf and NaN kept), bf16 from fp32 with
// round-to-nearest-even and NaN quieted (ggml_compute_fp32_to_bf16), bf16 -> fp32 by shift.

#include <bit>
#include <cstdint>

namespace qs::formats {

/// fp16 bits -> float (exact).
inline float halfToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: value = man * 2^-24
            const float f = float(man) * 0x1p-24f;
            bits = sign | std::bit_cast<uint32_t>(f);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    return std::bit_cast<float>(bits);
}

/// float -> fp16 bits, round to nearest even; overflow gives inf, NaN stays NaN.
inline uint16_t floatToHalf(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // inf or NaN
        return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
    }
    if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520 -> inf
    if (ax < 0x38800000u) {                                  // below the smallest normal half
        // Subnormal or zero: add 0.5 (as float) so the FPU does the round-to-nearest-even.
        const float r = std::bit_cast<float>(ax) + 0.5f;
        return uint16_t(sign | uint16_t(std::bit_cast<uint32_t>(r) - 0x3f000000u));
    }
    const uint32_t mantOdd = (ax >> 13) & 1u;
    uint32_t v = ax + 0xc8000fffu + mantOdd;  // rebias exponent (-112 << 23) and round
    return uint16_t(sign | uint16_t(v >> 13));
}

/// bfloat16 bits -> float (exact).
inline float bf16ToFloat(uint16_t b) {
    return std::bit_cast<float>(uint32_t(b) << 16);
}

/// float -> bfloat16 bits as ggml does it: NaN -> quiet NaN, else round to nearest even.
inline uint16_t floatToBf16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 64u);
    return uint16_t((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

}  // namespace qs::formats
