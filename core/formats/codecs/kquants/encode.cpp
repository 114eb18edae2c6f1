// Encoders of the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
//
// Without importance each type follows ggml's quantize_row_qX_K_ref; with importance, ggml's
// quantize_row_qX_K_impl (weights qw[j] * sqrt(sigma2 + x[j]^2), two-level scales fitted by a
// weighted search). Every float operation is written in ggml's order and with ggml's types
// (int -> float conversions, int8/uint8 truncations), so the bytes match ggml's exactly; no
// fused multiply-add is allowed (the build is ISO C++, which keeps -ffp-contract=off).
//
// The encoders work on chunks of super-blocks: first the weights of every group (sub-block) of
// the chunk, then all the groups' scale searches at once, then each block's scales and
// packing. The searches are where the time goes; the neighbouring groups are independent, so
// the fast path runs them across SIMD lanes, one group per lane (search_simd.h, bit-identical,
// dispatched at run time); the reference path runs ggml's scalar searches one after the other.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/codecs/kquants/kquants.h"
#include "formats/codecs/kquants/search_simd.h"
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
/// Values of a sub-block whose scale is zero keep their levels from the search.
inline void requantizeK4(KSimdLevel level, const float* x, const uint8_t* scales, uint16_t dBits,
                         uint16_t mBits, int nmax, uint8_t* L) {
    const float dAll = halfToFloat(dBits), mAll = halfToFloat(mBits);
    float d[8], dm[8];
    for (int j = 0; j < kQK_K / 32; ++j) {
        int sc, m;
        scaleMinK4(j, scales, sc, m);
        d[j] = dAll * float(sc);
        dm[j] = mAll * float(m);
    }
    requantizeBatch(level, 8, 32, x, d, dm, 0, nmax, 0, L);
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

/// The scale searches of one encode call: ggml's scalar reference one group after the other,
/// or the batched searches at a dispatch level.
struct Searcher {
    bool ref;
    KSimdLevel level;

    void min(int count, int n, int nmax, const float* x, const float* w, uint8_t* L, float* sc,
             float* negMin, float rmin, float rdelta, int nstep, bool useMad) const {
        if (!ref) {
            searchScaleMinBatch(level, count, n, nmax, x, w, L, sc, negMin, rmin, rdelta, nstep,
                                useMad);
            return;
        }
        for (int g = 0; g < count; ++g) {
            sc[g] = searchScaleMin(n, nmax, x + g * n, w + g * n, L + g * n, negMin + g, rmin,
                                   rdelta, nstep, useMad, false);
        }
    }
    void sym(int count, int n, int nmax, const float* x, const float* w, int8_t* L,
             float* sc) const {
        if (!ref) {
            searchScaleSymBatch(level, count, n, nmax, x, w, L, sc);
            return;
        }
        for (int g = 0; g < count; ++g) {
            sc[g] = searchScaleSym(n, nmax, x + g * n, L + g * n, w ? w + g * n : nullptr, false);
        }
    }
    void q3(int count, int n, int nmax, const float* x, int8_t* L, float* sc) const {
        if (!ref) {
            fitQ3GroupBatch(level, count, n, nmax, x, L, sc);
            return;
        }
        for (int g = 0; g < count; ++g) sc[g] = fitQ3Group(n, nmax, x + g * n, L + g * n);
    }
};

Searcher fastSearcher() {
    return Searcher{false, kquantSimdLevel()};
}
Searcher refSearcher() {
    return Searcher{true, KSimdLevel::Scalar};
}

/// Super-blocks per chunk: the groups of a chunk are searched together.
constexpr int kChunk = 8;

/// Runs body(x, blocks, first) over the row's super-blocks in chunks of kChunk.
template <typename Body>
void forChunks(const float* x, int64_t n, Body&& body) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; i += kChunk) {
        const int blocks = int(std::min<int64_t>(kChunk, nb - i));
        body(x + i * kQK_K, blocks, i);
    }
}

/// ggml's importance weights qw * sqrt(sigma2 + x^2) for `blocks` super-blocks, sigma2 =
/// sigmaScale * mean x^2 per super-block; sw[g] sums the weights of each group of `groupLen`.
void importanceWeights(KSimdLevel level, const float* x, const float* qw, int blocks,
                       float sigmaScale, int groupLen, float* w, float* sw) {
    for (int b = 0; b < blocks; ++b) {
        const float* xb = x + b * kQK_K;
        const float sigma2 = sigmaScale * sumSquares(xb, kQK_K) / float(kQK_K);
        importanceWeightsBatch(level, kQK_K, xb, qw + b * kQK_K, sigma2, w + b * kQK_K);
    }
    for (int g = 0; g < blocks * kQK_K / groupLen; ++g) {
        float sumw = 0;
        for (int l = 0; l < groupLen; ++l) sumw += w[g * groupLen + l];
        sw[g] = sumw;
    }
}

// ==========================================================================================
// Q2_K
// ==========================================================================================

/// quantize_row_q2_K_ref: per 16 values a min/scale search with weights |x| (mean absolute
/// deviation), then 4-bit scales and mins relative to their maxima.
void scalesQ2_KPlain(const float* scales, const float* mins, BlockQ2_K& y) {
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < 16; ++j) {
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
}

/// quantize_row_q2_K_impl: the 4-bit scales and mins fitted by make_qp_quants weighted by
/// each sub-block's total weight.
void scalesQ2_KImportance(const float* scales, const float* mins, const float* sw, BlockQ2_K& y) {
    uint8_t Ls[16], Lm[16];
    const float dm0 = fitPositiveLevels(16, 15, scales, Ls, sw);
    const float mm0 = fitPositiveLevels(16, 15, mins, Lm, sw);
    storeHalf(y.d, dm0);
    storeHalf(y.dmin, mm0);
    for (int j = 0; j < 16; ++j) y.scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
}

/// Requantizes against the stored scales and packs (both Q2_K paths).
void packQ2_K(KSimdLevel level, const float* x, uint8_t* L, BlockQ2_K& y) {
    const float dAll = halfToFloat(y.d), mAll = halfToFloat(y.dmin);
    float d[16], dm[16];
    for (int j = 0; j < 16; ++j) {
        d[j] = dAll * float(y.scales[j] & 0xF);
        dm[j] = mAll * float(y.scales[j] >> 4);
    }
    requantizeBatch(level, 16, 16, x, d, dm, 0, 3, 0, L);
    pack2Bit(L, y.qs);
}

void encodeQ2_KWith(const Searcher& s, const float* src, uint8_t* dst, int64_t n,
                    const float* importance) {
    forChunks(src, n, [&](const float* x, int blocks, int64_t first) {
        float w[kChunk * kQK_K], scales[kChunk * 16], mins[kChunk * 16], sw[kChunk * 16];
        uint8_t L[kChunk * kQK_K];
        const int groups = blocks * 16;
        if (importance) {
            importanceWeights(s.level, x, importance + first * kQK_K, blocks, 1.f, 16, w, sw);
            s.min(groups, 16, 3, x, w, L, scales, mins, -0.9f, 0.05f, 36, false);
        } else {
            for (int l = 0; l < blocks * kQK_K; ++l) w[l] = std::fabs(x[l]);
            s.min(groups, 16, 3, x, w, L, scales, mins, -0.5f, 0.1f, 15, true);
        }
        for (int b = 0; b < blocks; ++b) {
            BlockQ2_K y{};
            if (importance) {
                scalesQ2_KImportance(scales + 16 * b, mins + 16 * b, sw + 16 * b, y);
            } else {
                scalesQ2_KPlain(scales + 16 * b, mins + 16 * b, y);
            }
            packQ2_K(s.level, x + b * kQK_K, L + b * kQK_K, y);
            storeBlock(dst + (first + b) * int64_t(sizeof(BlockQ2_K)), y);
        }
    });
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
inline void finishQ3_K(KSimdLevel level, const float* x, BlockQ3_K& y, int8_t* L) {
    const float dAll = halfToFloat(y.d);
    float d[16];
    for (int j = 0; j < 16; ++j) {
        int8_t sc = int8_t(j < 8 ? y.scales[j] & 0xF : y.scales[j - 8] >> 4);
        sc = int8_t((sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        d[j] = dAll * float(sc);
    }
    requantizeBatch(level, 16, 16, x, d, nullptr, -4, 3, 4, reinterpret_cast<uint8_t*>(L));
    // High bit of value 32 * g + m goes to bit g of hmask[m]; levels are 0..7, so the bit is
    // L >> 2 and the low part L & 3 (ggml's "L > 3 ? L - 4" without a branch per value).
    // (Contiguous inner loops over m: the compiler vectorises them.)
    uint8_t hmask[32] = {};
    uint8_t Lu[kQK_K];
    for (int g = 0; g < kQK_K / 32; ++g) {
        for (int m = 0; m < 32; ++m) {
            const uint8_t v = uint8_t(L[32 * g + m]);
            hmask[m] = uint8_t(hmask[m] | ((v >> 2) << g));
            Lu[32 * g + m] = uint8_t(v & 3);
        }
    }
    std::memcpy(y.hmask, hmask, sizeof hmask);
    pack2Bit(Lu, y.qs);
}

/// quantize_row_q3_K_ref: after make_q3_quants per 16 values, 6-bit scales relative to the
/// largest-magnitude scale (whose sign is kept: the super-scale may be negative).
void scalesQ3_KPlain(const float* scales, BlockQ3_K& y) {
    float maxScale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
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
}

/// quantize_row_q3_K_impl: after make_qx_quants per 16 values with weights qw * sqrt(sigma2 +
/// x^2) (sigma2 = 2 * mean x^2), the 6-bit scales fitted by make_qx_quants weighted by each
/// sub-block's total weight.
void scalesQ3_KImportance(const float* scales, const float* sw, bool fast, BlockQ3_K& y) {
    int8_t Ls[16];
    const float dBlock = searchScaleSym(16, 32, scales, Ls, sw, fast);
    for (int j = 0; j < 16; ++j) packScaleQ3(y.scales, j, Ls[j]);
    storeHalf(y.d, dBlock);
}

void encodeQ3_KWith(const Searcher& s, const float* src, uint8_t* dst, int64_t n,
                    const float* importance) {
    forChunks(src, n, [&](const float* x, int blocks, int64_t first) {
        float w[kChunk * kQK_K], scales[kChunk * 16], sw[kChunk * 16];
        int8_t L[kChunk * kQK_K];
        const int groups = blocks * 16;
        if (importance) {
            importanceWeights(s.level, x, importance + first * kQK_K, blocks, 2.f, 16, w, sw);
            s.sym(groups, 16, 4, x, w, L, scales);
        } else {
            s.q3(groups, 16, 4, x, L, scales);
        }
        for (int b = 0; b < blocks; ++b) {
            BlockQ3_K y{};
            if (importance) {
                scalesQ3_KImportance(scales + 16 * b, sw + 16 * b, !s.ref, y);
            } else {
                scalesQ3_KPlain(scales + 16 * b, y);
            }
            finishQ3_K(s.level, x + b * kQK_K, y, L + b * kQK_K);
            storeBlock(dst + (first + b) * int64_t(sizeof(BlockQ3_K)), y);
        }
    });
}

// ==========================================================================================
// Q4_K and Q5_K (identical but for the level count and the 5th-bit packing)
// ==========================================================================================

/// quantize_row_q4_K_ref / quantize_row_q5_K_ref: after a min/scale search per 32 values
/// weighted by rms(x) + |x|, 6-bit scales and mins relative to their maxima.
void scalesK4Plain(const float* scales, const float* mins, uint8_t* scalesOut, uint16_t& dBits,
                   uint16_t& mBits) {
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < 8; ++j) {
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
}

/// quantize_row_q4_K_impl / quantize_row_q5_K_impl: after a finer min/scale search weighted by
/// qw * sqrt(sigma2 + x^2) (sigma2 = 2 * mean x^2), the 6-bit scales and mins fitted by
/// make_qp_quants weighted by each sub-block's total weight.
void scalesK4Importance(const float* scales, const float* mins, const float* sw, uint8_t* scalesOut,
                        uint16_t& dBits, uint16_t& mBits) {
    uint8_t Ls[8], Lm[8];
    const float dBlock = fitPositiveLevels(8, 63, scales, Ls, sw);
    const float mBlock = fitPositiveLevels(8, 63, mins, Lm, sw);
    for (int j = 0; j < 8; ++j) {
        // Q5_K clamps to 63 here, Q4_K does not; make_qp_quants never exceeds nmax anyway.
        packScalesK4(scalesOut, j, std::min<uint8_t>(63, Ls[j]), std::min<uint8_t>(63, Lm[j]));
    }
    dBits = floatToHalf(dBlock);
    mBits = floatToHalf(mBlock);
}

/// Both K4 types: the searches of a chunk, then each block's scales, requantization and
/// `pack(L, block)`.
template <typename Block, int Nmax, typename Pack>
void encodeK4With(const Searcher& s, const float* src, uint8_t* dst, int64_t n,
                  const float* importance, Pack&& pack) {
    forChunks(src, n, [&](const float* x, int blocks, int64_t first) {
        float w[kChunk * kQK_K], scales[kChunk * 8], mins[kChunk * 8], sw[kChunk * 8];
        uint8_t L[kChunk * kQK_K];
        const int groups = blocks * 8;
        if (importance) {
            importanceWeights(s.level, x, importance + first * kQK_K, blocks, 2.f, 32, w, sw);
            s.min(groups, 32, Nmax, x, w, L, scales, mins, -0.9f, 0.05f, 36, false);
        } else {
            for (int g = 0; g < groups; ++g) {
                const float avX = std::sqrt(sumSquares(x + 32 * g, 32) / 32);
                for (int l = 0; l < 32; ++l) w[32 * g + l] = avX + std::fabs(x[32 * g + l]);
            }
            if constexpr (Nmax == 15) {
                s.min(groups, 32, 15, x, w, L, scales, mins, -1.f, 0.1f, 20, false);
            } else {
                s.min(groups, 32, 31, x, w, L, scales, mins, -0.5f, 0.1f, 15, false);
            }
        }
        for (int b = 0; b < blocks; ++b) {
            Block y{};
            if (importance) {
                scalesK4Importance(scales + 8 * b, mins + 8 * b, sw + 8 * b, y.scales, y.d, y.dmin);
            } else {
                scalesK4Plain(scales + 8 * b, mins + 8 * b, y.scales, y.d, y.dmin);
            }
            uint8_t* Lb = L + b * kQK_K;
            requantizeK4(s.level, x + b * kQK_K, y.scales, y.d, y.dmin, Nmax, Lb);
            pack(Lb, y);
            storeBlock(dst + (first + b) * int64_t(sizeof(Block)), y);
        }
    });
}

void packQ4_K(const uint8_t* L, BlockQ4_K& y) {
    uint8_t* q = y.qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32) {
        for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
    }
}

/// Low nibbles as Q4_K; the 5th bit of values n+j and n+j+32 goes to bits 2k, 2k+1 of qh[j]
/// for the k-th 64-value group.
void packQ5_K(const uint8_t* L, BlockQ5_K& y) {
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
}

void encodeQ4_KWith(const Searcher& s, const float* src, uint8_t* dst, int64_t n,
                    const float* importance) {
    encodeK4With<BlockQ4_K, 15>(s, src, dst, n, importance, packQ4_K);
}
void encodeQ5_KWith(const Searcher& s, const float* src, uint8_t* dst, int64_t n,
                    const float* importance) {
    encodeK4With<BlockQ5_K, 31>(s, src, dst, n, importance, packQ5_K);
}

// ==========================================================================================
// Q6_K
// ==========================================================================================

/// quantize_row_q6_K_ref / quantize_row_q6_K_impl: after make_qx_quants per 16 values (weights
/// x^2 without importance, the raw importance with it: ggml does not use sigma2 here), 8-bit
/// signed scales relative to the largest-magnitude scale, requantization and packing.
void finishQ6_K(KSimdLevel level, const float* x, const float* scales, int8_t* L, uint8_t* dst) {
    BlockQ6_K y{};
    float maxScale = 0, maxAbsScale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        const float absScale = std::fabs(scales[ib]);
        if (absScale > maxAbsScale) {
            maxAbsScale = absScale;
            maxScale = scales[ib];
        }
    }
    if (maxAbsScale < kGroupMaxEps) {
        storeBlock(dst, y);  // all zero, d = +0
        return;
    }
    const float iscale = -128.f / maxScale;
    storeHalf(y.d, 1 / iscale);
    for (int ib = 0; ib < 16; ++ib) {
        y.scales[ib] = int8_t(std::min(127, nearestInt(iscale * scales[ib])));
    }
    const float dAll = halfToFloat(y.d);
    float d[16];
    for (int j = 0; j < 16; ++j) d[j] = dAll * float(y.scales[j]);
    requantizeBatch(level, 16, 16, x, d, nullptr, -32, 31, 32, reinterpret_cast<uint8_t*>(L));
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
    storeBlock(dst, y);
}

void encodeQ6_KWith(const Searcher& s, const float* src, uint8_t* dst, int64_t n,
                    const float* importance) {
    forChunks(src, n, [&](const float* x, int blocks, int64_t first) {
        float scales[kChunk * 16];
        int8_t L[kChunk * kQK_K];
        const float* qw = importance ? importance + first * kQK_K : nullptr;
        s.sym(blocks * 16, 16, 32, x, qw, L, scales);
        for (int b = 0; b < blocks; ++b) {
            finishQ6_K(s.level, x + b * kQK_K, scales + 16 * b, L + b * kQK_K,
                       dst + (first + b) * int64_t(sizeof(BlockQ6_K)));
        }
    });
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Entry points: the fast path at the current dispatch level, and the scalar reference.
// ------------------------------------------------------------------------------------------

void encodeQ2_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ2_KWith(fastSearcher(), src, dst, n, importance);
}
void encodeQ2_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ2_KWith(refSearcher(), src, dst, n, importance);
}
void encodeQ3_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance && encodeQ3_KPlainBlocks(kquantSimdLevel(), src, n / kQK_K, dst)) return;
    encodeQ3_KWith(fastSearcher(), src, dst, n, importance);
}
void encodeQ3_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ3_KWith(refSearcher(), src, dst, n, importance);
}
void encodeQ4_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ4_KWith(fastSearcher(), src, dst, n, importance);
}
void encodeQ4_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ4_KWith(refSearcher(), src, dst, n, importance);
}
void encodeQ5_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ5_KWith(fastSearcher(), src, dst, n, importance);
}
void encodeQ5_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ5_KWith(refSearcher(), src, dst, n, importance);
}
void encodeQ6_K(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ6_KWith(fastSearcher(), src, dst, n, importance);
}
void encodeQ6_KRef(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    encodeQ6_KWith(refSearcher(), src, dst, n, importance);
}

}  // namespace qs::formats::detail
