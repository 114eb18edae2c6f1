#pragma once
// Vectorised F16 / BF16 conversion fused with the input check (plain/encode_simd.cpp), one
// set per SIMD level; encode.cpp picks the set. Each converts the first n - n % Width values
// exactly as the scalar code does and returns their largest |x| as float bits.

#include <cstdint>

namespace qs::formats::detail::plain {

using MaxAbsFn = uint32_t (*)(const float* src, uint8_t* dst, int64_t n);

struct HalfKernels {
    int width;  ///< values per step; the caller converts the n % width tail
    MaxAbsFn f16, bf16;
    /// The input check alone (dst unused): largest |x| bits of the first n - n % width values.
    MaxAbsFn maxAbs;
};

/// The AVX-512 and AVX2 sets; nullptr where not built (not x86).
const HalfKernels* halfKernelsAvx512();
const HalfKernels* halfKernelsAvx2();

}  // namespace qs::formats::detail::plain
