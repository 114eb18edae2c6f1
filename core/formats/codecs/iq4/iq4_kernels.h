#pragma once
// Per-block kernels of the IQ4_NL / IQ4_XS encoders, one set per SIMD level. The encoders
// (encode.cpp) do the per-(super-)block bookkeeping in scalar code and call these for the
// work that dominates: the 16-scale search of a 32-value block and the final index pass.
// Every set gives the same results as the scalar reference (see encode_simd.h).

#include <cstdint>

namespace qs::formats::detail::iq4 {

struct Kernels {
    /// ggml's scale search of one 32-value block (quantize_row_iq4_nl_impl, ntry = 7) with
    /// the block's weights; 0 for an all-zero block.
    float (*searchScale)(const float* xb, const float* weight);
    /// Nearest-table indices of id * xb[j] for 32 values, packed as nibbles (low nibbles
    /// values 0-15, high nibbles 16-31) into q4[0..15].
    void (*packIndices)(const float* xb, float id, uint8_t* q4);
};

/// The AVX-512 and AVX2 kernels (iq4/encode_simd.cpp); nullptr where not built (not x86).
const Kernels* kernelsAvx512();
const Kernels* kernelsAvx2();

}  // namespace qs::formats::detail::iq4
