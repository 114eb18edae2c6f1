#pragma once
// Runtime choice of the SIMD level of the encoders that have vectorised kernels (IQ4_NL,
// IQ4_XS, the legacy types' importance searches). Every level gives the same bytes: the
// kernels run the scalar reference's float operations in its order, lane by lane, with no
// fused multiply-add (the *_simd.cpp files are built with -ffp-contract=off).
//
// The level is the best the CPU runs, unless a test forces a lower one (forceEncodeSimdLevel)
// to compare every level's bytes on the same machine.

namespace qs::formats::detail {

enum class EncodeSimdLevel : int {
    Scalar = 0,  ///< portable C++ (the reference or the scalar fast path)
    Avx2 = 1,    ///< x86 AVX2 + FMA + F16C (8 float lanes)
    Avx512 = 2,  ///< x86 AVX-512 F/BW/DQ/VL (16 float lanes)
};

/// The best level this CPU runs (checked once).
EncodeSimdLevel cpuEncodeSimdLevel();
/// The level the encoders use now: the forced one (clamped to the CPU's) or the CPU's best.
EncodeSimdLevel encodeSimdLevel();
/// Testing switch: use at most `level` from now on (process-wide; set it before encoding,
/// not while other threads encode). Returns the level actually in effect.
EncodeSimdLevel forceEncodeSimdLevel(EncodeSimdLevel level);
/// Back to the CPU's best level.
void resetEncodeSimdLevel();
/// "scalar", "avx2" or "avx512".
const char* encodeSimdLevelName(EncodeSimdLevel level);

}  // namespace qs::formats::detail
