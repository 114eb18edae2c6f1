// Encoders of the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) and the scale-search helpers they
// share with the legacy quants' importance paths.
//
// Without importance each type follows ggml's quantize_row_qX_K_ref; with importance, ggml's
// quantize_row_qX_K_impl (weights qw[j] * sqrt(sigma2 + x[j]^2), two-level scales fitted by a
// weighted search). Every float operation is written in ggml's order and with ggml's types
// (int -> float conversions, int8/uint8 truncations), so the bytes match ggml's exactly; no
// fused multiply-add is allowed (the build is ISO C++, which keeps -ffp-contract=off).
//
// The fast path differs only in the scale searches: ggml tries one candidate scale after the
// other, each summing over the sub-block in order. The candidates are independent of each
// other, so the fast path evaluates all of them at once, lane per candidate (the per-candidate
// sums keep ggml's order, so they are bit-identical), and then picks the winner with ggml's own
// sequential comparison. The compiler turns the candidate loops into SIMD code.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/codecs/kquants/kquants.h"
#include "formats/codecs/scale_search.h"
#include "formats/half.h"

namespace qs::formats::detail {

using namespace blocks;

namespace {

/// ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is treated as zero.
constexpr float kGroupMaxEps = 1e-15f;

inline void storeHalf(uint16_t& dst, float v) {
    dst = floatToHalf(v);
}

template <typename Block>
inline void storeBlock(uint8_t* dst, const Block& b) {
    std::memcpy(dst, &b, sizeof(Block));
}

/// Dispatch of the scale-min search to the reference or to a fast instantiation.
template <bool Fast>
inline float scaleMin(int n, int nmax, const float* x, const float* w, uint8_t* L, float* negMin,
                      float rmin, float rdelta, int nstep, bool useMad) {
    return searchScaleMin(n, nmax, x, w, L, negMin, rmin, rdelta, nstep, useMad, Fast);
}

/// Sum of squares in ggml's order.
inline float sumSquares(const float* x, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
    return s;
}

/// The 12-byte 6-bit scale/min packing of Q4_K and Q5_K (inverse of get_scale_min_k4).
inline void packScalesK4(uint8_t* scales, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        scales[j] = ls;
        scales[j + 4] = lm;
    } else {
        scales[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
        scales[j - 4] |= uint8_t((ls >> 4) << 6);
        scales[j - 0] |= uint8_t((lm >> 4) << 6);
    }
}

/// Final pass of Q4_K/Q5_K: requantize every value against the stored (fp16-rounded) scales.
inline void requantizeK4(const float* x, const uint8_t* scales, uint16_t dBits, uint16_t mBits,
                         int nmax, uint8_t* L) {
    const float dAll = halfToFloat(dBits), mAll = halfToFloat(mBits);
    for (int j = 0; j < kQK_K / 32; ++j) {
        int sc, m;
        scaleMinK4(j, scales, sc, m);
        const float d = dAll * float(sc);
        if (d == 0.f) continue;
        const float dm = mAll * float(m);
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearestInt((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = uint8_t(std::max(0, std::min(nmax, l)));
        }
    }
}

/// 2-bit packing shared by Q2_K and Q3_K: byte l of each 32-byte group holds values l, l+32,
/// l+64, l+96 of its 128-value half.
inline void pack2Bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kQK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                    (L[j + l + 96] << 6));
        }
    }
}

// ==========================================================================================
// Q2_K
// ==========================================================================================

/// quantize_row_q2_K_ref: per 16 values a min/scale search with weights |x| (mean absolute
/// deviation), then 4-bit scales and mins relative to their maxima.
template <bool Fast>
void encodeQ2_KPlain(const float* x, uint8_t* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    uint8_t L[kQK_K];
    float weights[16], mins[16], scales[16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ2_K y{};
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = scaleMin<Fast>(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f,
                                       0.1f, 15, true);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        if (maxScale > 0) {
            const float iscale = 15.f / maxScale;
            for (int j = 0; j < 16; ++j) y.scales[j] = uint8_t(nearestInt(iscale * scales[j]));
            storeHalf(y.d, maxScale / 15.f);
        } else {
            storeHalf(y.d, 0.f);
        }
        if (maxMin > 0) {
            const float iscale = 15.f / maxMin;
            for (int j = 0; j < 16; ++j) {
                y.scales[j] = uint8_t(y.scales[j] | (nearestInt(iscale * mins[j]) << 4));
            }
            storeHalf(y.dmin, maxMin / 15.f);
        } else {
            storeHalf(y.dmin, 0.f);
        }
        const float dAll = halfToFloat(y.d), mAll = halfToFloat(y.dmin);
        for (int j = 0; j < 16; ++j) {
            const float d = dAll * float(y.scales[j] & 0xF);
            if (d == 0.f) continue;
            const float dm = mAll * float(y.scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = uint8_t(std::max(0, std::min(3, l)));
            }
        }
        pack2Bit(L, y.qs);
        storeBlock(dst + i * int64_t(sizeof(BlockQ2_K)), y);
    }
}

/// quantize_row_q2_K_impl: weights qw * sqrt(sigma2 + x^2), a finer min/scale search, and the
/// 4-bit scales and mins fitted by make_qp_quants weighted by each sub-block's total weight.
template <bool Fast>
void encodeQ2_KImportance(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const int64_t nb = n / kQK_K;
    uint8_t L[kQK_K], Ls[16], Lm[16];
    float mins[16], scales[16], sw[16], weight[16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ2_K y{};
        const float sigma2 = sumSquares(x, kQK_K) / float(kQK_K);
        for (int j = 0; j < 16; ++j) {
            const float* qw = qwRow + kQK_K * i + 16 * j;
            for (int l = 0; l < 16; ++l) {
                weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            }
            sw[j] = 0;
            for (int l = 0; l < 16; ++l) sw[j] += weight[l];
            scales[j] = scaleMin<Fast>(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], -0.9f,
                                       0.05f, 36, false);
        }
        const float dm0 = fitPositiveLevels(16, 15, scales, Ls, sw);
        const float mm0 = fitPositiveLevels(16, 15, mins, Lm, sw);
        storeHalf(y.d, dm0);
        storeHalf(y.dmin, mm0);
        const float dm = halfToFloat(y.d), mm = halfToFloat(y.dmin);
        for (int j = 0; j < 16; ++j) y.scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
        for (int j = 0; j < 16; ++j) {
            const float d = dm * float(y.scales[j] & 0xF);
            if (d == 0.f) continue;
            const float m = mm * float(y.scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt((x[16 * j + ii] + m) / d);
                L[16 * j + ii] = uint8_t(std::max(0, std::min(3, l)));
            }
        }
        pack2Bit(L, y.qs);
        storeBlock(dst + i * int64_t(sizeof(BlockQ2_K)), y);
    }
}

// ==========================================================================================
// Q3_K
// ==========================================================================================

/// The sixteen 6-bit Q3_K scales (stored + 32): low nibbles in bytes 0-7, high 2 bits in 8-11.
inline void packScaleQ3(uint8_t* scales, int j, int l) {
    if (j < 8) {
        scales[j] = uint8_t(l & 0xF);
    } else {
        scales[j - 8] = uint8_t(scales[j - 8] | ((l & 0xF) << 4));
    }
    l >>= 4;
    scales[j % 4 + 8] = uint8_t(scales[j % 4 + 8] | (l << (2 * (j / 4))));
}

/// Shared tail of both Q3_K paths: requantize against the stored scales, split off the high
/// bit into hmask, pack the low 2 bits.
inline void finishQ3_K(const float* x, BlockQ3_K& y, int8_t* L) {
    const float dAll = halfToFloat(y.d);
    for (int j = 0; j < 16; ++j) {
        int8_t sc = int8_t(j < 8 ? y.scales[j] & 0xF : y.scales[j - 8] >> 4);
        sc = int8_t((sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        const float d = dAll * float(sc);
        if (d == 0.f) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = nearestInt(x[16 * j + ii] / d);
            L[16 * j + ii] = int8_t(std::max(-4, std::min(3, l)) + 4);
        }
    }
    // High bit of value 32 * g + m goes to bit g of hmask[m]; levels are 0..7, so the bit is
    // L >> 2 and the low part L & 3 (ggml's "L > 3 ? L - 4" without a branch per value).
    std::memset(y.hmask, 0, sizeof y.hmask);
    uint8_t Lu[kQK_K];
    for (int g = 0; g < kQK_K / 32; ++g) {
        for (int m = 0; m < 32; ++m) {
            const uint8_t v = uint8_t(L[32 * g + m]);
            y.hmask[m] = uint8_t(y.hmask[m] | ((v >> 2) << g));
            Lu[32 * g + m] = uint8_t(v & 3);
        }
    }
    pack2Bit(Lu, y.qs);
}

/// quantize_row_q3_K_ref: make_q3_quants per 16 values, then 6-bit scales relative to the
/// largest-magnitude scale (whose sign is kept: the super-scale may be negative).
void encodeQ3_KPlain(const float* x, uint8_t* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    int8_t L[kQK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ3_K y{};
        float maxScale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = fitQ3Group(16, 4, x + 16 * j, L + 16 * j);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax = scale;
                maxScale = scales[j];
            }
        }
        if (maxScale != 0.f) {
            const float iscale = -32.f / maxScale;
            for (int j = 0; j < 16; ++j) {
                int8_t l = int8_t(nearestInt(iscale * scales[j]));
                l = int8_t(std::max<int>(-32, std::min<int>(31, l)) + 32);
                packScaleQ3(y.scales, j, l);
            }
            storeHalf(y.d, 1 / iscale);
        } else {
            storeHalf(y.d, 0.f);
        }
        finishQ3_K(x, y, L);
        storeBlock(dst + i * int64_t(sizeof(BlockQ3_K)), y);
    }
}

/// quantize_row_q3_K_impl: make_qx_quants per 16 values with weights qw * sqrt(sigma2 + x^2)
/// (sigma2 = 2 * mean x^2), then the 6-bit scales fitted by make_qx_quants weighted by each
/// sub-block's total weight.
template <bool Fast>
void encodeQ3_KImportance(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const int64_t nb = n / kQK_K;
    int8_t L[kQK_K], Ls[16];
    float scales[16], weight[16], sw[16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ3_K y{};
        const float sigma2 = 2 * sumSquares(x, kQK_K) / float(kQK_K);
        for (int j = 0; j < 16; ++j) {
            const float* qw = qwRow + kQK_K * i + 16 * j;
            for (int l = 0; l < 16; ++l) {
                weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            }
            float sumw = 0;
            for (int l = 0; l < 16; ++l) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = searchScaleSym(16, 4, x + 16 * j, L + 16 * j, weight, Fast);
        }
        const float dBlock = searchScaleSym(16, 32, scales, Ls, sw, Fast);
        for (int j = 0; j < 16; ++j) packScaleQ3(y.scales, j, Ls[j]);
        storeHalf(y.d, dBlock);
        finishQ3_K(x, y, L);
        storeBlock(dst + i * int64_t(sizeof(BlockQ3_K)), y);
    }
}

// ==========================================================================================
// Q4_K and Q5_K (identical but for the level count and the 5th-bit packing)
// ==========================================================================================

/// quantize_row_q4_K_ref / quantize_row_q5_K_ref: per 32 values a min/scale search weighted by
/// rms(x) + |x|, then 6-bit scales and mins relative to their maxima.
template <bool Fast, int Nmax>
void fitK4Plain(const float* x, uint8_t* L, uint8_t* scalesOut, uint16_t& dBits, uint16_t& mBits) {
    float weights[32], mins[8], scales[8];
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < 8; ++j) {
        const float avX = std::sqrt(sumSquares(x + 32 * j, 32) / 32);
        for (int l = 0; l < 32; ++l) weights[l] = avX + std::fabs(x[32 * j + l]);
        if constexpr (Nmax == 15) {
            scales[j] = scaleMin<Fast>(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], -1.f,
                                       0.1f, 20, false);
        } else {
            scales[j] = scaleMin<Fast>(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], -0.5f,
                                       0.1f, 15, false);
        }
        if (scales[j] > maxScale) maxScale = scales[j];
        if (mins[j] > maxMin) maxMin = mins[j];
    }
    const float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
    const float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
    for (int j = 0; j < 8; ++j) {
        uint8_t ls = uint8_t(nearestInt(invScale * scales[j]));
        uint8_t lm = uint8_t(nearestInt(invMin * mins[j]));
        ls = std::min<uint8_t>(63, ls);
        lm = std::min<uint8_t>(63, lm);
        packScalesK4(scalesOut, j, ls, lm);
    }
    dBits = floatToHalf(maxScale / 63.f);
    mBits = floatToHalf(maxMin / 63.f);
    requantizeK4(x, scalesOut, dBits, mBits, Nmax, L);
}

/// quantize_row_q4_K_impl / quantize_row_q5_K_impl: weights qw * sqrt(sigma2 + x^2) with
/// sigma2 = 2 * mean x^2, a finer min/scale search, and the 6-bit scales and mins fitted by
/// make_qp_quants weighted by each sub-block's total weight.
template <bool Fast, int Nmax>
void fitK4Importance(const float* x, const float* qwBlock, uint8_t* L, uint8_t* scalesOut,
                     uint16_t& dBits, uint16_t& mBits) {
    float weights[32], mins[8], scales[8], sw[8];
    uint8_t Ls[8], Lm[8];
    const float sigma2 = 2 * sumSquares(x, kQK_K) / float(kQK_K);
    for (int j = 0; j < 8; ++j) {
        const float* qw = qwBlock + 32 * j;
        for (int l = 0; l < 32; ++l) {
            weights[l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
        }
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = scaleMin<Fast>(32, Nmax, x + 32 * j, weights, L + 32 * j, &mins[j], -0.9f,
                                   0.05f, 36, false);
    }
    const float dBlock = fitPositiveLevels(8, 63, scales, Ls, sw);
    const float mBlock = fitPositiveLevels(8, 63, mins, Lm, sw);
    for (int j = 0; j < 8; ++j) {
        // Q5_K clamps to 63 here, Q4_K does not; make_qp_quants never exceeds nmax anyway.
        packScalesK4(scalesOut, j, std::min<uint8_t>(63, Ls[j]), std::min<uint8_t>(63, Lm[j]));
    }
    dBits = floatToHalf(dBlock);
    mBits = floatToHalf(mBlock);
    requantizeK4(x, scalesOut, dBits, mBits, Nmax, L);
}

template <bool Fast>
void encodeQ4_KAny(const float* x, uint8_t* dst, int64_t n, const float* importance) {
    const int64_t nb = n / kQK_K;
    uint8_t L[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ4_K y{};
        if (importance) {
            fitK4Importance<Fast, 15>(x, importance + kQK_K * i, L, y.scales, y.d, y.dmin);
        } else {
            fitK4Plain<Fast, 15>(x, L, y.scales, y.d, y.dmin);
        }
        uint8_t* q = y.qs;
        for (int j = 0; j < kQK_K; j += 64, q += 32) {
            for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
        }
        storeBlock(dst + i * int64_t(sizeof(BlockQ4_K)), y);
    }
}

template <bool Fast>
void encodeQ5_KAny(const float* x, uint8_t* dst, int64_t n, const float* importance) {
    const int64_t nb = n / kQK_K;
    uint8_t L[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ5_K y{};
        if (importance) {
            fitK4Importance<Fast, 31>(x, importance + kQK_K * i, L, y.scales, y.d, y.dmin);
        } else {
            fitK4Plain<Fast, 31>(x, L, y.scales, y.d, y.dmin);
        }
        // Low nibbles as Q4_K; the 5th bit of values n+j and n+j+32 goes to bits 2k, 2k+1
        // of qh[j] for the k-th 64-value group.
        uint8_t* ql = y.qs;
        uint8_t m1 = 1, m2 = 2;
        for (int g = 0; g < kQK_K; g += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[g + j];
                if (l1 > 15) {
                    l1 -= 16;
                    y.qh[j] |= m1;
                }
                int l2 = L[g + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    y.qh[j] |= m2;
                }
                ql[j] = uint8_t(l1 | (l2 << 4));
            }
            m1 = uint8_t(m1 << 2);
            m2 = uint8_t(m2 << 2);
        }
        storeBlock(dst + i * int64_t(sizeof(BlockQ5_K)), y);
    }
}

// ==========================================================================================
// Q6_K
// ==========================================================================================

/// quantize_row_q6_K_ref / quantize_row_q6_K_impl: make_qx_quants per 16 values (weights x^2
/// without importance, the raw importance with it: ggml does not use sigma2 here), then 8-bit
/// signed scales relative to the largest-magnitude scale.
template <bool Fast>
void encodeQ6_KAny(const float* x, uint8_t* dst, int64_t n, const float* importance) {
    const int64_t nb = n / kQK_K;
    int8_t L[kQK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ6_K y{};
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const float* qw = importance ? importance + kQK_K * i + 16 * ib : nullptr;
            const float scale = searchScaleSym(16, 32, x + 16 * ib, L + 16 * ib, qw, Fast);
            scales[ib] = scale;
            const float absScale = std::fabs(scale);
            if (absScale > maxAbsScale) {
                maxAbsScale = absScale;
                maxScale = scale;
            }
        }
        if (maxAbsScale < kGroupMaxEps) {
            storeBlock(dst + i * int64_t(sizeof(BlockQ6_K)), y);  // all zero, d = +0
            continue;
        }
        const float iscale = -128.f / maxScale;
        storeHalf(y.d, 1 / iscale);
        for (int ib = 0; ib < 16; ++ib) {
            y.scales[ib] = int8_t(std::min(127, nearestInt(iscale * scales[ib])));
        }
        const float dAll = halfToFloat(y.d);
        for (int j = 0; j < 16; ++j) {
            const float d = dAll * float(y.scales[j]);
            if (d == 0.f) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt(x[16 * j + ii] / d);
                L[16 * j + ii] = int8_t(std::max(-32, std::min(31, l)) + 32);
            }
        }
        uint8_t* ql = y.ql;
        uint8_t* qh = y.qh;
        for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF;
                const uint8_t q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF;
                const uint8_t q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = uint8_t(q1 | (q3 << 4));
                ql[l + 32] = uint8_t(q2 | (q4 << 4));
                qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
        storeBlock(dst + i * int64_t(sizeof(BlockQ6_K)), y);
    }
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Entry points
// ------------------------------------------------------------------------------------------

void encodeQ2_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQ2_KImportance<true>(src, dst, n, importance);
    } else {
        encodeQ2_KPlain<true>(src, dst, n);
    }
}
void encodeQ2_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQ2_KImportance<false>(src, dst, n, importance);
    } else {
        encodeQ2_KPlain<false>(src, dst, n);
    }
}
void encodeQ3_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQ3_KImportance<true>(src, dst, n, importance);
    } else {
        encodeQ3_KPlain(src, dst, n);
    }
}
void encodeQ3_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (importance) {
        encodeQ3_KImportance<false>(src, dst, n, importance);
    } else {
        encodeQ3_KPlain(src, dst, n);
    }
}
void encodeQ4_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ4_KAny<true>(src, dst, n, importance);
}
void encodeQ4_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ4_KAny<false>(src, dst, n, importance);
}
void encodeQ5_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ5_KAny<true>(src, dst, n, importance);
}
void encodeQ5_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ5_KAny<false>(src, dst, n, importance);
}
void encodeQ6_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ6_KAny<true>(src, dst, n, importance);
}
void encodeQ6_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ6_KAny<false>(src, dst, n, importance);
}

}  // namespace qs::formats::detail
