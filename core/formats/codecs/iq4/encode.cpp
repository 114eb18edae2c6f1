// Encoders of the non-linear 4-bit quants IQ4_NL (blocks of 32, one fp16 scale) and IQ4_XS
// (super-blocks of 256: an fp16 super-scale and eight 6-bit block scales).
//
// Both reproduce ggml's quantize_row_iq4_nl_impl as called by quantize_iq4_nl/quantize_iq4_xs
// (ntry = 7; with or without importance: ggml_quantize_chunk never takes the _ref path with
// ntry = -1 for these types). Without importance the weights are x^2, with importance
// qw * sqrt(sigma2 + x^2) where sigma2 = 2 * mean x^2 over the (super-)block.
//
// The fast path evaluates the 16 trial scales of a block at once and replaces ggml's binary
// search for the nearest table value (best_index_int8) by a table on floor(x): the table
// values are integers, so floor(x) fixes the bracketing pair and the same float comparison
// ggml makes then picks the same index. Results are identical to the reference.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "formats/codecs/encode_simd.h"
#include "formats/codecs/iq4/iq4.h"
#include "formats/codecs/iq4/iq4_kernels.h"
#include "formats/codecs/scale_search.h"
#include "formats/half.h"
#include "formats/iq_grids.h"

namespace qs::formats::detail {

using namespace blocks;

namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr const int8_t* kValues = iq::kIq4nlValues;

/// ggml's best_index_int8 over the 16 sorted table values: binary search, then the nearer
/// of the two bracketing values (the upper one on ties).
inline int bestIndexRef(float x) {
    if (x <= float(kValues[0])) return 0;
    if (x >= float(kValues[15])) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < float(kValues[mav])) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    return x - float(kValues[mu - 1]) < float(kValues[mu]) - x ? mu - 1 : mu;
}

/// For each floor(x) in [-128, 127]: the upper bracketing index mu (smallest k >= 1 with
/// value[k] > floor(x), at most 15). Valid because the values are integers.
struct BracketTable {
    std::array<uint8_t, 256> mu{};
    constexpr BracketTable() {
        for (int f = -128; f < 128; ++f) {
            int k = 1;
            while (k < 15 && kValues[k] <= f) ++k;
            mu[size_t(f + 128)] = uint8_t(k);
        }
    }
};
constexpr BracketTable kBracket{};

/// Exact floor of x clamped to [-128, 127] (x is bounded by ~135 by construction).
inline int clampedFloor(float x) {
    x = x < -128.f ? -128.f : x;
    x = x > 127.f ? 127.f : x;
    int t = int(x);
    t -= int(float(t) > x);
    return t;
}

/// bestIndexRef without branches on the data: same result for every finite x.
inline int bestIndexFast(float x) {
    const int mu = kBracket.mu[size_t(clampedFloor(x) + 128)];
    return x - float(kValues[mu - 1]) < float(kValues[mu]) - x ? mu - 1 : mu;
}

/// The nearest table value itself (as float), for the scale search.
inline float nearestValueFast(float x) {
    return float(kValues[bestIndexFast(x)]);
}

/// One 32-value block's scale search (the per-block part of quantize_row_iq4_nl_impl with
/// ntry = 7). Returns the block scale, 0 for an all-zero block.
template <bool Fast>
float searchBlockScale(const float* xb, const float* weight) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
        const float ax = std::fabs(xb[j]);
        if (ax > amax) {
            amax = ax;
            max = xb[j];
        }
    }
    if (amax < kGroupMaxEps) return 0.f;
    constexpr int ntry = 7;
    const float v0 = float(kValues[0]);
    float d = -max / v0;
    if constexpr (!Fast) {
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = float(kValues[bestIndexRef(id * xb[j])]);
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; ++itry) {
            id = float(itry + kValues[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; ++j) {
                const float q = float(kValues[bestIndexRef(id * xb[j])]);
                sumqx += weight[j] * q * xb[j];
                sumq2 += weight[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        return d;
    } else {
        // Lane 0: ggml's first guess; lanes 1-15: itry = -7..7 in ggml's order.
        constexpr int NS = 16;
        float id[NS], sumqx[NS], sumq2[NS];
        id[0] = 1 / d;
        for (int k = 1; k < NS; ++k) id[k] = float(k - 1 - ntry + kValues[0]) / max;
        for (int k = 0; k < NS; ++k) sumqx[k] = sumq2[k] = 0;
        for (int j = 0; j < 32; ++j) {
            const float x = xb[j], w = weight[j];
            for (int k = 0; k < NS; ++k) {
                const float q = nearestValueFast(id[k] * x);
                sumqx[k] += w * q * x;
                sumq2[k] += w * q * q;
            }
        }
        d = sumq2[0] > 0 ? sumqx[0] / sumq2[0] : 0.f;
        float best = d * sumqx[0];
        for (int k = 1; k < NS; ++k) {
            if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
                d = sumqx[k] / sumq2[k];
                best = d * sumqx[k];
            }
        }
        return d;
    }
}

template <bool Fast>
inline int bestIndex(float x) {
    if constexpr (Fast) {
        return bestIndexFast(x);
    } else {
        return bestIndexRef(x);
    }
}

/// Block weights: x^2 without importance, qw * sqrt(sigma2 + x^2) with it.
inline void blockWeights(const float* xb, const float* qw, float sigma2, float* weight) {
    if (qw) {
        for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    } else {
        for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
    }
}

inline float superBlockSigma2(const float* x, int n) {
    float sigma2 = 0;
    for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / float(n);
    return sigma2;
}

/// Nibble packing of the indices of id * xb[j]: low nibbles values 0-15, high nibbles 16-31.
template <bool Fast>
void packIndices(const float* xb, float id, uint8_t* q4) {
    uint8_t L[32];
    for (int j = 0; j < 32; ++j) L[j] = uint8_t(bestIndex<Fast>(id * xb[j]));
    for (int j = 0; j < 16; ++j) q4[j] = uint8_t(L[j] | (L[16 + j] << 4));
}

constexpr iq4::Kernels kScalarFast{searchBlockScale<true>, packIndices<true>};
constexpr iq4::Kernels kScalarRef{searchBlockScale<false>, packIndices<false>};

/// The fast kernels of the current SIMD level.
const iq4::Kernels& fastKernels() {
    const EncodeSimdLevel level = encodeSimdLevel();
    const iq4::Kernels* k = nullptr;
    if (level == EncodeSimdLevel::Avx512) k = iq4::kernelsAvx512();
    if (level == EncodeSimdLevel::Avx2) k = iq4::kernelsAvx2();
    return k ? *k : kScalarFast;
}

// ==========================================================================================
// IQ4_NL
// ==========================================================================================

void encodeIQ4_NLAny(const iq4::Kernels& k, const float* src, uint8_t* dst, int64_t n,
                     const float* importance) {
    const int64_t nb = n / 32;
    float weight[32];
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float* xb = src + 32 * ib;
        const float* qw = importance ? importance + 32 * ib : nullptr;
        blockWeights(xb, qw, superBlockSigma2(xb, 32), weight);
        const float d = k.searchScale(xb, weight);
        BlockIQ4_NL y;
        y.d = floatToHalf(d);
        // One block per super-block: ggml requantizes with the unrounded scale.
        const float id = d != 0.f ? 1 / d : 0;
        k.packIndices(xb, id, y.qs);
        std::memcpy(dst + ib * int64_t(sizeof(BlockIQ4_NL)), &y, sizeof y);
    }
}

// ==========================================================================================
// IQ4_XS
// ==========================================================================================

void encodeIQ4_XSAny(const iq4::Kernels& k, const float* src, uint8_t* dst, int64_t n,
                     const float* importance) {
    const int64_t nb = n / kQK_K;
    float weight[32], scales[8];
    for (int64_t ibl = 0; ibl < nb; ++ibl) {
        const float* x = src + kQK_K * ibl;
        const float sigma2 = superBlockSigma2(x, kQK_K);
        float maxScale = 0, amaxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* qw = importance ? importance + kQK_K * ibl + 32 * ib : nullptr;
            blockWeights(x + 32 * ib, qw, sigma2, weight);
            scales[ib] = k.searchScale(x + 32 * ib, weight);
            const float absD = std::fabs(scales[ib]);
            if (absD > amaxScale) {
                amaxScale = absD;
                maxScale = scales[ib];
            }
        }
        BlockIQ4_XS y{};
        // 6-bit block scales relative to d = -max_scale / 32; ggml requantizes with this
        // unrounded d times the integer scale, not with the stored fp16 value.
        const float d = -maxScale / 32;
        y.d = floatToHalf(d);
        const float id = d != 0.f ? 1 / d : 0.f;
        for (int ib = 0; ib < 8; ++ib) {
            int l = nearestInt(id * scales[ib]);
            l = std::max(-32, std::min(31, l));
            const float dl = d * float(l);
            const float idl = dl != 0.f ? 1 / dl : 0.f;
            const float* xb = x + 32 * ib;
            k.packIndices(xb, idl, y.qs + 16 * ib);
            l += 32;
            const uint8_t lLow = uint8_t(l & 0xf), lHigh = uint8_t(l >> 4);
            if (ib % 2 == 0) {
                y.scales_l[ib / 2] = lLow;
            } else {
                y.scales_l[ib / 2] = uint8_t(y.scales_l[ib / 2] | (lLow << 4));
            }
            y.scales_h = uint16_t(y.scales_h | (lHigh << 2 * (ib % 8)));
        }
        std::memcpy(dst + ibl * int64_t(sizeof(BlockIQ4_XS)), &y, sizeof y);
    }
}

}  // namespace

void encodeIQ4_NL(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeIQ4_NLAny(fastKernels(), src, dst, n, importance);
}
void encodeIQ4_NLRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeIQ4_NLAny(kScalarRef, src, dst, n, importance);
}
void encodeIQ4_XS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeIQ4_XSAny(fastKernels(), src, dst, n, importance);
}
void encodeIQ4_XSRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeIQ4_XSAny(kScalarRef, src, dst, n, importance);
}

}  // namespace qs::formats::detail
