#pragma once
// The scale searches and rounding helpers that ggml's quantizers share (make_qkx2_quants /
// make_qkx3_quants, make_qx_quants, make_qp_quants, make_q3_quants, nearest_int): used by the
// legacy quants' importance paths and by the K-quants. Bit-exact with ggml.

#include <cstdint>
#include <cstring>

namespace qs::formats::detail {

/// ggml's nearest_int: round to nearest, ties to even, by adding 1.5 * 2^23 (valid for
/// |v| <= 4194303, as in ggml).
inline int nearestInt(float v) {
    const float biased = v + 12582912.f;
    uint32_t bits;
    std::memcpy(&bits, &biased, sizeof bits);
    return int(bits & 0x007fffffu) - 0x00400000;
}

/// Scale search with a minimum over n <= 32 values (ggml's make_qkx2_quants, and
/// make_qkx3_quants with weights: the two agree once min is clamped to <= 0). `weights` is
/// required. Writes levels 0..nmax to L and -min to *negMin; returns the scale. `fast` selects
/// the candidate-parallel evaluation (identical result).
float searchScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* negMin, float rmin, float rdelta, int nstep, bool useMad, bool fast);
/// Symmetric scale search over n <= 32 values (ggml's make_qx_quants with rmse_type 1; weights
/// x^2 when `weights` is null). Writes L[i] in 0..2*nmax-1; returns the scale.
float searchScaleSym(int n, int nmax, const float* x, int8_t* L, const float* weights, bool fast);
/// ggml's make_qp_quants: n positive values onto levels 0..nmax with weights (required);
/// writes L and returns the scale. L is uint8_t as in ggml, so a (never expected) negative
/// level wraps exactly as ggml's does.
float fitPositiveLevels(int n, int nmax, const float* x, uint8_t* L, const float* weights);
/// ggml's make_q3_quants with do_rmse: a symmetric group (Q3_K without importance) with
/// weights x^2, then up to 5 rounds of coordinate descent; writes L[i] in 0..2*nmax-1 and
/// returns the scale.
float fitQ3Group(int n, int nmax, const float* x, int8_t* L);

}  // namespace qs::formats::detail
