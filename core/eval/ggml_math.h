#pragma once
// Scalar twins of the vector helpers of ggml's x86 CPU kernels that the evaluator follows bit
// for bit: ggml_v_expf (one lane of the AVX-512 and of the AVX2 build), the horizontal sums,
// and SiLU as ggml_vec_swiglu_f32 computes it. Every fused multiply-add of the vector code is
// an explicit std::fma here, so any build gives the same floats.

#include <cmath>
#include <cstdint>
#include <cstring>

namespace qs::eval {

// The horizontal sums of ggml's builds: _mm512_reduce_add_ps (halves, quarters, then
// (0+2) + (1+3)) and hsum_float_8 ((i + i+4), then (0+2) + (1+3)).
template <int W>
[[gnu::always_inline]] inline float reduceLanesGgml(const float* v) {
    if constexpr (W == 16) {
        float t3[8], t6[4];
        for (int i = 0; i < 8; ++i) t3[i] = v[8 + i] + v[i];
        for (int i = 0; i < 4; ++i) t6[i] = t3[4 + i] + t3[i];
        return (t6[0] + t6[2]) + (t6[1] + t6[3]);
    } else {
        return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
    }
}

[[gnu::always_inline]] inline float bitsToFloatLane(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// ggml_v_expf, one lane: the AVX-512 build's (2^n by scalef) and the AVX2 build's (2^n built in
// the exponent bits); both are polynomials with ggml's constants, evaluated with the same
// fused multiply-adds as the vector code.
[[gnu::always_inline]] inline float ggmlExpfAvx512Lane(float x) {
    const float r = 0x1.8p23f;
    const float z = std::fma(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
    if (!(std::fabs(n) <= 192.0f)) return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                      std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                             u, std::fma(0x1.ffffecp-1f, b, 1.0f));
    // j * 2^n: one multiplication by 2^n rounds the exact product once, as ldexp does, while
    // 2^n is a normal float (|n| <= 126 here covers every finite case but the extremes).
    const int ni = int(n);
    if (ni >= -126 && ni <= 127) return j * bitsToFloatLane(uint32_t(ni + 127) << 23);
    return std::ldexp(j, ni);
}
[[gnu::always_inline]] inline float bitsToFloat(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
[[gnu::always_inline]] inline uint32_t floatToBits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
[[gnu::always_inline]] inline float ggmlExpfAvx2Lane(float x) {
    const float r = 0x1.8p23f;
    const float z = std::fma(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
    const uint32_t e = floatToBits(z) << 23;
    const float k = bitsToFloat(e + floatToBits(1.0f));
    const float an = std::fabs(n);
    const float u = b * b;
    const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                      std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                             u, 0x1.ffffecp-1f * b);
    if (!(an > 126.0f)) return std::fma(j, k, k);
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = bitsToFloat(g + 0x7f000000u);
    if (an > 192.0f) return s1 * s1;
    const float s2 = bitsToFloat(e - g);
    return std::fma(s2, j, s2) * s1;
}

/// ggml_v_silu, one lane: x / (1 + ggml_v_expf(0 - x)) (W = 16: the AVX-512 build's expf).
template <int W>
[[gnu::always_inline]] inline float ggmlSiluLane(float x) {
    const float e = W == 16 ? ggmlExpfAvx512Lane(0.0f - x) : ggmlExpfAvx2Lane(0.0f - x);
    return x / (1.0f + e);
}

/// a * b rounded to float, never fused with what it is added to: GCC contracts C++ (even
/// -std=c++20) where the target has FMA, while some of ggml's sums are compiled unfused. The
/// empty asm makes the product a value the compiler must materialize.
[[gnu::always_inline]] inline float roundedProduct(float a, float b) {
    float p = a * b;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    asm("" : "+x"(p));
#else
    volatile float v = p;
    p = v;
#endif
    return p;
}

}  // namespace qs::eval
