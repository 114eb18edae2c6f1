#pragma once
// Batched K-quant scale searches, vectorised ACROSS groups: each SIMD lane runs one group's
// (sub-block's) search in exactly the scalar order of operations of scale_search.cpp (same
// float operations, same order, no fused multiply-add), with the comparisons as lane masks, so
// the results are bit-identical to the scalar reference (and to ggml). Runtime dispatch picks
// AVX-512 (16 lanes), AVX2 (8 lanes), a portable 4-lane vector path, or the scalar code.

#include <cstdint>

namespace qs::formats::detail {

/// Dispatch levels of the batched searches, lowest first.
enum class KSimdLevel : int {
    Scalar = 0,  ///< the scalar searches of scale_search.cpp, one group after the other
    Vec4 = 1,    ///< portable 4-lane vectors (SSE2 on x86-64, NEON on ARM)
    Avx2 = 2,    ///< 8 lanes
    Avx512 = 3,  ///< 16 lanes (AVX-512F/BW/VL/DQ)
};

/// The highest level this CPU runs (checked once).
KSimdLevel kquantSimdSupported();
/// The level the K-quant encoders use now: the supported one unless forced lower.
KSimdLevel kquantSimdLevel();
/// Forces a level (tests, benchmarks), clamped to the supported one; returns the previous.
/// Process-wide; set it before encoding, not while other threads encode.
KSimdLevel setKQuantSimdLevel(KSimdLevel level);
/// Name of a level ("scalar", "vec4", "avx2", "avx512").
const char* kquantSimdLevelName(KSimdLevel level);

/// searchScaleMin over `count` consecutive groups of n <= 32 values: group g is x + g * n with
/// weights w + g * n (required); writes its levels to L + g * n, its scale to scales[g] and
/// its -min to negMins[g].
void searchScaleMinBatch(KSimdLevel level, int count, int n, int nmax, const float* x,
                         const float* w, uint8_t* L, float* scales, float* negMins, float rmin,
                         float rdelta, int nstep, bool useMad);
/// searchScaleSym over `count` consecutive groups of n <= 32 values (weights x^2 when w is
/// null); levels to L + g * n, scale to scales[g].
void searchScaleSymBatch(KSimdLevel level, int count, int n, int nmax, const float* x,
                         const float* w, int8_t* L, float* scales);
/// fitQ3Group over `count` consecutive groups of n <= 32 values.
void fitQ3GroupBatch(KSimdLevel level, int count, int n, int nmax, const float* x, int8_t* L,
                     float* scales);

/// Q3_K without importance for `blocks` whole super-blocks of 256 values at x, written to dst
/// (110 bytes each): the fused kernel of q3k_simd.cpp (search, block scales, requantization
/// and packing in registers, four super-blocks interleaved). Returns false, writing nothing,
/// when `level` has no such kernel (below AVX-512): the caller takes the batched path.
bool encodeQ3_KPlainBlocks(KSimdLevel level, const float* x, int64_t blocks, uint8_t* dst);

/// ggml's importance weights w[i] = qw[i] * sqrt(sigma2 + x[i]^2) for n values.
void importanceWeightsBatch(KSimdLevel level, int n, const float* x, const float* qw, float sigma2,
                            float* w);
/// The K-quants' final pass over `groups` groups of len values with scale d[g] (and offset
/// dm[g], or none when dm is null): for d[g] != 0, L[i] = clamp(nearestInt((x[i] + dm[g]) /
/// d[g]), lo, hi) + offset as a byte (x[i] / d[g] without dm); groups with d[g] == 0 keep L.
void requantizeBatch(KSimdLevel level, int groups, int len, const float* x, const float* d,
                     const float* dm, int lo, int hi, int offset, uint8_t* L);

}  // namespace qs::formats::detail
