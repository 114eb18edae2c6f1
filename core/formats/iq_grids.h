#pragma once
// Codebooks of the grid-based i-quants (IQ1_S/M, IQ2_XXS/XS/S, IQ3_XXS/S) and the small value
// tables of IQ4_NL/IQ4_XS and MXFP4. These are constants of the file format, not tunables:
// a quant stores indices into them, so a decoder must use exactly these values.
//
// Each grid entry packs 8 (uint64_t) or 4 (uint32_t) byte-sized values, element j in byte j
// (least significant first), matching how ggml reads them through a byte pointer on a
// little-endian host. gridByte() extracts them portably.

#include <bit>
#include <cstdint>

namespace qs::formats::iq {

/// IQ2_XXS codebook: 256 entries of 8 magnitudes in {8, 25, 43}.
extern const uint64_t kIq2xxsGrid[256];
/// IQ2_XS codebook: 512 entries of 8 magnitudes in {8, 25, 43}.
extern const uint64_t kIq2xsGrid[512];
/// IQ2_S codebook: 1024 entries of 8 magnitudes in {8, 25, 43}.
extern const uint64_t kIq2sGrid[1024];
/// IQ3_XXS codebook: 256 entries of 4 odd magnitudes in 4..62.
extern const uint32_t kIq3xxsGrid[256];
/// IQ3_S codebook: 512 entries of 4 odd magnitudes in 1..15.
extern const uint32_t kIq3sGrid[512];
/// IQ1_S / IQ1_M codebook: 2048 entries of 8 signed bytes in {-1, 0, +1}.
extern const uint64_t kIq1sGrid[2048];

/// Byte j (0 = least significant) of a grid entry.
constexpr uint32_t gridByte(uint64_t entry, int j) {
    return uint32_t(entry >> (8 * j)) & 0xffu;
}

/// Sign patterns of the IQ2/IQ3 quants: a 7-bit index stores signs of 7 values; the 8th sign
/// is implied by even parity (the count of negatives is always even). Bit j set = value j < 0.
/// Equal to ggml's ksigns_iq2xs table, computed here instead of listed.
constexpr uint8_t signsOf(uint32_t index7) {
    const uint32_t parity = uint32_t(std::popcount(index7 & 127u)) & 1u;
    return uint8_t((index7 & 127u) | (parity << 7));
}

/// IQ4_NL / IQ4_XS non-linear 4-bit values (ggml's kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

/// FP4 (E2M1) values, doubled so they are integers (ggml's kvalues_fp4): 0, 0.5, 1, 1.5, 2,
/// 3, 4, 6 times two, then the negatives. The MXFP4 scale is halved to compensate.
inline constexpr int8_t kFp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/// IQ1_S / IQ1_M grid shift: each value is (grid + delta) or (grid - delta).
inline constexpr float kIq1Delta = 0.125f;

}  // namespace qs::formats::iq
