#pragma once
// Vectorised whole-row kernels of the legacy quants' plain paths (no importance), one set per
// SIMD level (legacy/encode_simd.cpp). Each writes the bytes of the scalar encoder in
// legacy/encode.cpp (see encode_simd.h); encode.cpp picks the set.

#include <cstdint>

namespace qs::formats::detail::legacy {

/// Encodes n values (whole blocks) and returns their largest |x| as float bits, the input
/// check fused in (>= 0x7f800000: NaN or Inf, and the output is then unspecified).
using RowFn = uint32_t (*)(const float* src, uint8_t* dst, int64_t n);

struct PlainKernels {
    RowFn q8_0, q4_0, q4_1, q5_0, q5_1;
};

/// The AVX-512 and AVX2 sets; nullptr where not built (not x86).
const PlainKernels* plainKernelsAvx512();
const PlainKernels* plainKernelsAvx2();

}  // namespace qs::formats::detail::legacy

namespace qs::formats::detail::legacy {

/// The importance searches with 16- or 8-lane candidates (legacy/search_simd.cpp): the same
/// contract and results as searchScaleSym (n <= 32, weights required) and searchScaleMin
/// (n <= 32, nstep <= 39) of scale_search.h.
struct SearchKernels {
    float (*sym)(int n, int nmax, const float* x, int8_t* L, const float* qw);
    float (*min)(int n, int nmax, const float* x, const float* w, uint8_t* L, float* negMin,
                 float rmin, float rdelta, int nstep, bool useMad);
};

const SearchKernels* searchKernelsAvx512();
const SearchKernels* searchKernelsAvx2();

}  // namespace qs::formats::detail::legacy
