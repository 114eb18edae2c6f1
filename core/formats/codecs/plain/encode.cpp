// Encoders of the plain float types F32, F16 and BF16 (importance ignored). F16 and BF16 round
// to nearest even, as ggml does. The fused convert-and-check entry points run the vectorised
// kernels of encode_simd.cpp where the CPU has AVX2 or AVX-512 (same bytes; encode_simd.h).

#include <cstring>

#include "formats/codecs/encode_simd.h"
#include "formats/codecs/plain/plain.h"
#include "formats/codecs/plain/plain_kernels.h"

namespace qs::formats::detail {

void encodeF32(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
}

namespace {
/// floatToHalf (half.h) without branches, so the row loop vectorises: every path is computed
/// and the answer selected. Bit-identical to floatToHalf for every float (checked over all
/// 2^32 inputs while writing it; the tests check a dense sweep).
inline uint16_t floatToHalfSelect(float f) {
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const int32_t ax = int32_t(x & 0x7fffffffu);  // < 2^31: signed compares are exact
    // Normal range: rebias the exponent and round to nearest even on bit 13.
    const uint32_t normal = (uint32_t(ax) + 0xc8000fffu + ((uint32_t(ax) >> 13) & 1u)) >> 13;
    // Below the smallest normal half: let the FPU round by adding 0.5.
    float axf;
    std::memcpy(&axf, &ax, sizeof axf);
    const float r = axf + 0.5f;
    uint32_t rb;
    std::memcpy(&rb, &r, sizeof rb);
    const uint32_t subnormal = rb - 0x3f000000u;
    const uint32_t nanBits = ax > 0x7f800000 ? 0x200u | ((uint32_t(ax) >> 13) & 0x3ffu) : 0u;
    const uint32_t special = 0x7c00u | nanBits;
    uint32_t res = ax < 0x38800000 ? subnormal : normal;
    res = ax >= 0x477ff000 ? 0x7c00u : res;
    res = ax >= 0x7f800000 ? special : res;
    return uint16_t(sign | res);
}

/// floatToBf16 (half.h) without branches: NaN quieted, otherwise round to nearest even.
inline uint16_t floatToBf16Select(float f) {
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    const uint32_t nan = (x >> 16) | 64u;
    const uint32_t rounded = (x + (0x7fffu + ((x >> 16) & 1u))) >> 16;
    return uint16_t((x & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}
}  // namespace

void encodeF16(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = floatToHalfSelect(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}

void encodeBF16(const float* src, uint8_t* dst, int64_t n, const float* /*importance*/) {
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = floatToBf16Select(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}

namespace {
/// The vectorised kernels of the current SIMD level, or nullptr for the scalar code.
const plain::HalfKernels* halfKernels() {
    switch (encodeSimdLevel()) {
    case EncodeSimdLevel::Avx512: return plain::halfKernelsAvx512();
    case EncodeSimdLevel::Avx2: return plain::halfKernelsAvx2();
    case EncodeSimdLevel::Scalar: break;
    }
    return nullptr;
}
}  // namespace

uint32_t rowMaxAbsBits(const float* x, int64_t n) {
    int32_t m = 0;  // |x| bits are < 2^31: a signed max is exact
    int64_t i = 0;
    if (const auto* k = halfKernels()) {
        i = n - n % k->width;
        m = int32_t(k->maxAbs(x, nullptr, i));
    }
    for (; i < n; ++i) {
        int32_t bits;
        std::memcpy(&bits, x + i, sizeof bits);
        bits &= 0x7fffffff;
        m = bits > m ? bits : m;
    }
    return uint32_t(m);
}

uint32_t encodeF16MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    int32_t m = 0;
    int64_t i = 0;
    if (const auto* k = halfKernels()) {
        i = n - n % k->width;
        m = int32_t(k->f16(src, dst, i));
    }
    for (; i < n; ++i) {
        int32_t bits;
        std::memcpy(&bits, src + i, sizeof bits);
        bits &= 0x7fffffff;
        m = bits > m ? bits : m;
        const uint16_t h = floatToHalfSelect(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
    return uint32_t(m);
}

uint32_t encodeBF16MaxAbs(const float* src, uint8_t* dst, int64_t n) {
    int32_t m = 0;
    int64_t i = 0;
    if (const auto* k = halfKernels()) {
        i = n - n % k->width;
        m = int32_t(k->bf16(src, dst, i));
    }
    for (; i < n; ++i) {
        int32_t bits;
        std::memcpy(&bits, src + i, sizeof bits);
        const uint32_t x = uint32_t(bits);
        bits &= 0x7fffffff;
        m = bits > m ? bits : m;
        // No NaN quieting here: a row holding NaN or Inf is refused by the caller (the max
        // says so), so plain round-to-nearest-even is exact for every row that is kept.
        const uint16_t h = uint16_t((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
        std::memcpy(dst + 2 * i, &h, 2);
    }
    return uint32_t(m);
}

}  // namespace qs::formats::detail
