// AVX-512 and AVX2 kernels of the F16 / BF16 encoders fused with the input check
// (plain_kernels.h).
//
// F16: the F16C conversion with round-to-nearest-even (vcvtps2ph, immediate rounding), which
// rounds every finite float, subnormal halves and overflow to infinity included, as the scalar
// floatToHalf does (and quiets a NaN the same way; NaN rows are refused by the caller anyway).
// BF16: the scalar code's integer round-to-nearest-even, lane-wise. The largest |x| is an
// integer max over the bits with the sign cleared, as in the scalar loop.

#include <cstdint>
#include <cstring>

#include "formats/codecs/plain/plain_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns that the deliberately undefined operand of its own AVX-512 intrinsics
// (_mm512_undefined_*) is used uninitialized once they are inlined into a target("avx512f")
// function (GCC bug 105593, fixed in GCC 13): a false positive, silenced for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define QS_PLAIN_X86 1
#define QS_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define QS_T256 __attribute__((target("avx2,fma,f16c")))
#endif

namespace qs::formats::detail::plain {

#if defined(QS_PLAIN_X86)

namespace {

QS_T512 uint32_t f16_512(const float* src, uint8_t* dst, int64_t n) {
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff);
    __m512i m = _mm512_setzero_si512();
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(src + i);
        m = _mm512_max_epi32(m, _mm512_and_si512(_mm512_castps_si512(x), absMask));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i),
                            _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    return uint32_t(_mm512_reduce_max_epi32(m));
}

QS_T512 uint32_t bf16_512(const float* src, uint8_t* dst, int64_t n) {
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff);
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    __m512i m = _mm512_setzero_si512();
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        const __m512i x = _mm512_loadu_si512(src + i);
        m = _mm512_max_epi32(m, _mm512_and_si512(x, absMask));
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(x, 16), one);
        const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(bias, odd)), 16);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), _mm512_cvtepi32_epi16(r));
    }
    return uint32_t(_mm512_reduce_max_epi32(m));
}

QS_T512 uint32_t maxAbs512(const float* src, uint8_t* /*dst*/, int64_t n) {
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff);
    __m512i m0 = _mm512_setzero_si512(), m1 = m0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_epi32(m0, _mm512_and_si512(_mm512_loadu_si512(src + i), absMask));
        m1 = _mm512_max_epi32(m1, _mm512_and_si512(_mm512_loadu_si512(src + i + 16), absMask));
    }
    if (i + 16 <= n) {
        m0 = _mm512_max_epi32(m0, _mm512_and_si512(_mm512_loadu_si512(src + i), absMask));
    }
    return uint32_t(_mm512_reduce_max_epi32(_mm512_max_epi32(m0, m1)));
}

QS_T256 inline uint32_t hmaxEpi32(__m256i v) {
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4e));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xb1));
    return uint32_t(_mm_cvtsi128_si32(m));
}

QS_T256 uint32_t f16_256(const float* src, uint8_t* dst, int64_t n) {
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff);
    __m256i m = _mm256_setzero_si256();
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(src + i);
        m = _mm256_max_epi32(m, _mm256_and_si256(_mm256_castps_si256(x), absMask));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i),
                         _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    return hmaxEpi32(m);
}

QS_T256 uint32_t bf16_256(const float* src, uint8_t* dst, int64_t n) {
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff);
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    __m256i m = _mm256_setzero_si256();
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        m = _mm256_max_epi32(m, _mm256_and_si256(x, absMask));
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
        const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(bias, odd)), 16);
        // The rounded values fit 16 bits: an unsigned pack, then the two lanes' halves joined.
        const __m256i p = _mm256_packus_epi32(r, r);
        const __m256i q = _mm256_permute4x64_epi64(p, 0x08);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_castsi256_si128(q));
    }
    return hmaxEpi32(m);
}

QS_T256 uint32_t maxAbs256(const float* src, uint8_t* /*dst*/, int64_t n) {
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff);
    __m256i m = _mm256_setzero_si256();
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        m = _mm256_max_epi32(m, _mm256_and_si256(x, absMask));
    }
    return hmaxEpi32(m);
}

constexpr HalfKernels kAvx512{16, f16_512, bf16_512, maxAbs512};
constexpr HalfKernels kAvx2{8, f16_256, bf16_256, maxAbs256};

}  // namespace

const HalfKernels* halfKernelsAvx512() {
    return &kAvx512;
}
const HalfKernels* halfKernelsAvx2() {
    return &kAvx2;
}

#else

const HalfKernels* halfKernelsAvx512() {
    return nullptr;
}
const HalfKernels* halfKernelsAvx2() {
    return nullptr;
}

#endif

}  // namespace qs::formats::detail::plain
