// Encoders of IQ1_S and IQ1_M (quantize_iq1_s_impl and quantize_iq1_m_impl in ggml-quants.c,
// byte for byte): an exact search over the two split points of the sorted values into
// {-1, 0, +1} plus a shifted delta, then the nearest codebook entry of the ternary grid.

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "formats/codecs/iqgrid/grid_search.h"
#include "formats/half.h"

namespace qs::formats::detail {

using namespace blocks;
using namespace grid;

namespace {

// ------------------------------------------------------------------------------------------
// IQ1_S, IQ1_M
// ------------------------------------------------------------------------------------------

constexpr const float* kIq1xp = kIq1xpTable;
constexpr const float* kIq1xm = kIq1xmTable;

/// ggml's iq1_find_best_neighbour2: the neighbour with the least weighted squared error of
/// scale * xg[level] against x (first on ties); writes its levels to L.
int bestNeighbourIq1(const GridTables& t, const NeighbourList& nl, const float* x, const float* w,
                     float scale, const float* xg, int8_t* L) {
    float d2[2048 + 4];
    const std::vector<float>& q = xg == kIq1xpTable ? t.qPlus : t.qMinus;
    neighbourDistances<8>(q.data() + nl.qf, nl.count, x, w, scale, d2);
    const int best = t.nb[nl.first + firstMin(d2, nl.count)];
    const int8_t* pg = t.entry(best);
    for (int i = 0; i < 8; ++i) L[i] = int8_t((pg[i] - 1) / 2);
    return best;
}

/// Indices of the N values of xb sorted ascending, ties in index order (ggml sorts (value,
/// index) pairs with glibc's qsort, a stable merge sort for arrays this small).
template <int N>
void sortedOrder(const float* xb, int* idx) {
    // Insertion sort: stable, no allocation, and fast for 16 or 32 values.
    for (int j = 0; j < N; ++j) {
        const float v = xb[j];
        int k = j;
        while (k > 0 && v < xb[idx[k - 1]]) {
            idx[k] = idx[k - 1];
            --k;
        }
        idx[k] = j;
    }
}

void iq1sRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq1();
    constexpr int kBs = 32;
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ1_S));
        std::memset(y, 0, sizeof(BlockIQ1_S));
        uint8_t* qs = y + offsetof(BlockIQ1_S, qs);
        uint16_t qh[8] = {};
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = 2 * sumSquares256(xbl) / kQK_K;
        float scales[8];
        int8_t shifts[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + kBs * ib;
            const float* qw = qwRow + kQK_K * ibl + kBs * ib;
            float weight[kBs];
            for (int i = 0; i < kBs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            float max = std::fabs(xb[0]);
            for (int i = 1; i < kBs; ++i) max = max > std::fabs(xb[i]) ? max : std::fabs(xb[i]);
            if (max < kEpsIq1s) {
                scales[ib] = 0;
                shifts[ib] = 1;
                continue;
            }
            int idx[kBs];
            sortedOrder<kBs>(xb, idx);
            // Prefix sums, padded so that four-lane loads past the end stay in bounds.
            float sumx[kBs + 8] = {}, sumw[kBs + 8] = {};
            sumx[0] = sumw[0] = 0;
            for (int j = 0; j < kBs; ++j) {
                const int i = idx[j];
                sumx[j + 1] = sumx[j] + weight[i] * xb[i];
                sumw[j + 1] = sumw[j] + weight[i];
            }
            float bestScore = -FLT_MAX, scale = max;
            int besti1 = -1, besti2 = -1, bestShift = 0;
            // For each first split i1, all second splits i2 >= i1 four at a time (each lane in
            // ggml's order of operations), then ggml's sequential comparison over i2.
            float qxP[kBs + 4], q2P[kBs + 4], qxM[kBs + 4], q2M[kBs + 4];
            const float* xp = kIq1xp;
            const float* xm = kIq1xm;
            for (int i1 = 0; i1 <= kBs; ++i1) {
                const V4 best4 = splat(bestScore);  // see IQ1_M: rows with no candidate skip
                V4i anyPass = V4i{0, 0, 0, 0};
                const float ax = sumx[i1] - sumx[0], aw = sumw[i1] - sumw[0];
                const V4 ax4 = splat(ax), aw4 = splat(aw), sx1 = splat(sumx[i1]),
                         sw1 = splat(sumw[i1]), sxN = splat(sumx[kBs]), swN = splat(sumw[kBs]);
                for (int i2 = i1; i2 <= kBs; i2 += 4) {
                    V4 sx2, sw2;
                    __builtin_memcpy(&sx2, sumx + i2, sizeof sx2);
                    __builtin_memcpy(&sw2, sumw + i2, sizeof sw2);
                    const V4 bx = sx2 - sx1, cx = sxN - sx2, bw = sw2 - sw1, cw = swN - sw2;
                    const V4 qxp = ax4 * splat(xp[0]) + bx * splat(xp[1]) + cx * splat(xp[2]);
                    const V4 q2p = aw4 * splat(xp[0]) * splat(xp[0]) +
                                   bw * splat(xp[1]) * splat(xp[1]) +
                                   cw * splat(xp[2]) * splat(xp[2]);
                    const V4 qxm = ax4 * splat(xm[0]) + bx * splat(xm[1]) + cx * splat(xm[2]);
                    const V4 q2m = aw4 * splat(xm[0]) * splat(xm[0]) +
                                   bw * splat(xm[1]) * splat(xm[1]) +
                                   cw * splat(xm[2]) * splat(xm[2]);
                    __builtin_memcpy(qxP + i2, &qxp, sizeof qxp);
                    __builtin_memcpy(q2P + i2, &q2p, sizeof q2p);
                    __builtin_memcpy(qxM + i2, &qxm, sizeof qxm);
                    __builtin_memcpy(q2M + i2, &q2m, sizeof q2m);
                    const V4i valid = laneIndex(i2) <= splat32(kBs);
                    anyPass |= valid & (q2p > splat(0.f)) & (qxp * qxp > best4 * q2p);
                    anyPass |= valid & (q2m > splat(0.f)) & (qxm * qxm > best4 * q2m);
                }
                if (!anyTrue(anyPass)) continue;
                for (int i2 = i1; i2 <= kBs; ++i2) {
                    if (q2P[i2] > 0 && qxP[i2] * qxP[i2] > bestScore * q2P[i2]) {
                        scale = qxP[i2] / q2P[i2];
                        bestScore = scale * qxP[i2];
                        besti1 = i1;
                        besti2 = i2;
                        bestShift = 1;
                    }
                    if (q2M[i2] > 0 && qxM[i2] * qxM[i2] > bestScore * q2M[i2]) {
                        scale = qxM[i2] / q2M[i2];
                        bestScore = scale * qxM[i2];
                        besti1 = i1;
                        besti2 = i2;
                        bestShift = -1;
                    }
                }
            }
            if (besti1 < 0 || besti2 < 0 || bestShift == 0) {
                scales[ib] = 0;
                shifts[ib] = 1;
                continue;
            }
            int8_t L[kBs];
            for (int j = 0; j < besti1; ++j) L[idx[j]] = 0;
            for (int j = besti1; j < besti2; ++j) L[idx[j]] = 1;
            for (int j = besti2; j < kBs; ++j) L[idx[j]] = 2;
            if (scale < 0) {
                for (int j = 0; j < kBs; ++j) L[j] = int8_t(2 - L[j]);
                scale = -scale;
                bestShift = -bestShift;
            }
            bool allOnGrid = true;
            const float* xx = bestShift == 1 ? kIq1xp : kIq1xm;
            int index[4];
            for (int k = 0; k < kBs / 8; ++k) {
                int u = 0;
                for (int j = 0; j < 8; ++j) u |= L[8 * k + j] << (2 * j);
                const int32_t m = t.map[size_t(u)];
                if (m < 0) {
                    allOnGrid = false;
                    index[k] = bestNeighbourIq1(t, t.listOf(m), xb + 8 * k, weight + 8 * k, scale,
                                                xx, L + 8 * k);
                } else {
                    index[k] = m;
                }
            }
            if (!allOnGrid) {
                float sumqx = 0, sumq2 = 0;
                for (int k = 0; k < kBs / 8; ++k) {
                    const int8_t* pg = t.entry(index[k]);
                    for (int j = 0; j < 8; ++j) {
                        const float w = weight[8 * k + j];
                        const float q = xx[(pg[j] - 1) / 2];
                        sumqx += w * q * xb[8 * k + j];
                        sumq2 += w * q * q;
                    }
                }
                if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
            }
            uint16_t h = 0;
            for (int k = 0; k < kBs / 8; ++k) {
                qs[(kBs / 8) * ib + k] = uint8_t(index[k] & 255);
                h = uint16_t(h | ((index[k] >> 8) << (3 * k)));
            }
            qh[ib] = h;
            scales[ib] = scale;
            shifts[ib] = int8_t(bestShift);
            maxScale = std::max(maxScale, scale);
        }
        if (maxScale) {
            const float d = maxScale / 15;
            putU16(y + offsetof(BlockIQ1_S, d), floatToHalf(d * 1.125f));
            const float id = 1 / d;
            for (int ib = 0; ib < 8; ++ib) {
                int l = scaleLevel(id, scales[ib], 7);
                if (shifts[ib] == -1) l |= 8;
                qh[ib] = uint16_t(qh[ib] | (l << 12));
            }
        }
        std::memcpy(y + offsetof(BlockIQ1_S, qh), qh, sizeof qh);
    }
}

void iq1mRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq1();
    constexpr int kBs = 16;
    constexpr uint8_t kMasks[4] = {0x00, 0x80, 0x08, 0x88};
    const float* xp = kIq1xp;
    const float* xm = kIq1xm;
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ1_M));
        std::memset(y, 0, sizeof(BlockIQ1_M));
        uint8_t* qs = y + offsetof(BlockIQ1_M, qs);
        uint8_t* qh = y + offsetof(BlockIQ1_M, qh);
        uint16_t sc[4] = {};
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = 2 * sumSquares256(xbl) / kQK_K;
        float scales[16];
        int8_t shifts[16];
        float maxScale = 0;
        float weight[kBs];
        auto weightsOf = [&](int ib) {
            const float* xb = xbl + kBs * ib;
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + kBs * ib;
                for (int i = 0; i < kBs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < kBs; ++i) weight[i] = xb[i] * xb[i];
            }
        };
        for (int ib = 0; ib < 16; ++ib) {
            const float* xb = xbl + kBs * ib;
            weightsOf(ib);
            float max = std::fabs(xb[0]);
            for (int i = 1; i < kBs; ++i) max = max > std::fabs(xb[i]) ? max : std::fabs(xb[i]);
            if (max < kEpsIq1m) {
                scales[ib] = 0;
                shifts[ib] = 0;
                continue;
            }
            int idx[kBs];
            sortedOrder<kBs>(xb, idx);
            float bestScore = -FLT_MAX, scale = max;
            int besti1 = -1, besti2 = -1, bestK = -1;
            float px[2][kBs + 5], pw[2][kBs + 5];
            px[0][0] = px[1][0] = 0;
            pw[0][0] = pw[1][0] = 0;
            for (int j = 0; j < kBs; ++j) {
                const int i = idx[j];
                const int h = i < kBs / 2 ? 0 : 1;
                px[h][j + 1] = px[h][j] + weight[i] * xb[i];
                px[1 - h][j + 1] = px[1 - h][j];
                pw[h][j + 1] = pw[h][j] + weight[i];
                pw[1 - h][j + 1] = pw[1 - h][j];
            }
            const float txs[2] = {px[0][kBs], px[1][kBs]};
            const float tws[2] = {pw[0][kBs], pw[1][kBs]};
            const float p2 = xp[2], m2 = xm[2];
            const float cp1 = xp[0] * xp[0] - xp[1] * xp[1];
            const float cp2 = xp[1] * xp[1] - xp[2] * xp[2];
            const float cm1 = xm[0] * xm[0] - xm[1] * xm[1];
            const float cm2 = xm[1] * xm[1] - xm[2] * xm[2];
            // All second splits i2 >= i1 four at a time (lanes in ggml's order of operations),
            // then ggml's sequential comparison over i2 and the four sign combinations.
            for (int h = 0; h < 2; ++h) {
                for (int j = kBs + 1; j < kBs + 5; ++j) px[h][j] = pw[h][j] = 0;
            }
            float cqx[4][kBs + 4], cq2[4][kBs + 4];
            for (int i1 = 0; i1 <= kBs; ++i1) {
                // A row in which no candidate beats the best so far (tested in the vectors, as
                // the scan would) leaves everything unchanged: its scan is skipped.
                const V4 best4 = splat(bestScore);
                V4i anyPass = V4i{0, 0, 0, 0};
                for (int i2 = i1; i2 <= kBs; i2 += 4) {
                    V4 qxp[2], qxm[2], q2p[2], q2m[2];
                    for (int h = 0; h < 2; ++h) {
                        V4 px2, pw2;
                        __builtin_memcpy(&px2, &px[h][i2], sizeof px2);
                        __builtin_memcpy(&pw2, &pw[h][i2], sizeof pw2);
                        const V4 sx = splat(px[h][i1]) + px2;
                        qxp[h] = splat(txs[h] * p2) - sx;
                        qxm[h] = splat(txs[h] * m2) - sx;
                        q2p[h] = splat(tws[h] * p2 * p2 + pw[h][i1] * cp1) + pw2 * splat(cp2);
                        q2m[h] = splat(tws[h] * m2 * m2 + pw[h][i1] * cm1) + pw2 * splat(cm2);
                    }
                    const V4 vx[4] = {qxp[0] + qxp[1], qxp[0] + qxm[1], qxm[0] + qxp[1],
                                      qxm[0] + qxm[1]};
                    const V4 v2[4] = {q2p[0] + q2p[1], q2p[0] + q2m[1], q2m[0] + q2p[1],
                                      q2m[0] + q2m[1]};
                    const V4i valid = laneIndex(i2) <= splat32(kBs);
                    for (int k = 0; k < 4; ++k) {
                        __builtin_memcpy(&cqx[k][i2], &vx[k], sizeof vx[k]);
                        __builtin_memcpy(&cq2[k][i2], &v2[k], sizeof v2[k]);
                        anyPass |= valid & (v2[k] > splat(0.f)) & (vx[k] * vx[k] > best4 * v2[k]);
                    }
                }
                if (!anyTrue(anyPass)) continue;
                for (int i2 = i1; i2 <= kBs; ++i2) {
                    for (int k = 0; k < 4; ++k) {
                        if (cq2[k][i2] > 0 && cqx[k][i2] * cqx[k][i2] > bestScore * cq2[k][i2]) {
                            scale = cqx[k][i2] / cq2[k][i2];
                            bestScore = scale * cqx[k][i2];
                            besti1 = i1;
                            besti2 = i2;
                            bestK = k;
                        }
                    }
                }
            }
            if (besti1 < 0 || besti2 < 0 || bestK < 0) {
                scales[ib] = 0;
                shifts[ib] = 0;
                continue;
            }
            int8_t L[kBs];
            for (int j = 0; j < besti1; ++j) L[idx[j]] = 0;
            for (int j = besti1; j < besti2; ++j) L[idx[j]] = 1;
            for (int j = besti2; j < kBs; ++j) L[idx[j]] = 2;
            if (scale < 0) {
                for (int j = 0; j < kBs; ++j) L[j] = int8_t(2 - L[j]);
                scale = -scale;
                bestK = 3 - bestK;
            }
            auto deltaOf = [](int k, int shift) {
                return k == 0 ? (shift < 2 ? kIq1xp : kIq1xm) : (shift % 2 == 0 ? kIq1xp : kIq1xm);
            };
            bool allOnGrid = true;
            int index[2];
            for (int k = 0; k < 2; ++k) {
                const float* xx = deltaOf(k, bestK);
                int u = 0;
                for (int j = 0; j < 8; ++j) u |= L[8 * k + j] << (2 * j);
                const int32_t m = t.map[size_t(u)];
                if (m < 0) {
                    allOnGrid = false;
                    index[k] = bestNeighbourIq1(t, t.listOf(m), xb + 8 * k, weight + 8 * k, scale,
                                                xx, L + 8 * k);
                } else {
                    index[k] = m;
                }
            }
            if (!allOnGrid) {
                float sqx = 0, sq2 = 0;
                for (int k = 0; k < 2; ++k) {
                    const float* xx = deltaOf(k, bestK);
                    const int8_t* pg = t.entry(index[k]);
                    for (int j = 0; j < 8; ++j) {
                        const float w = weight[8 * k + j];
                        const float q = xx[(pg[j] - 1) / 2];
                        sqx += w * q * xb[8 * k + j];
                        sq2 += w * q * q;
                    }
                }
                if (sqx > 0 && sq2 > 0) scale = sqx / sq2;
            }
            qs[2 * ib + 0] = uint8_t(index[0] & 255);
            qs[2 * ib + 1] = uint8_t(index[1] & 255);
            qh[ib] = uint8_t((index[0] >> 8) | ((index[1] >> 8) << 4));
            scales[ib] = scale;
            shifts[ib] = int8_t(bestK);
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        float d = maxScale / 15;
        const float id = 1 / d;
        float sqx = 0, sq2 = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const int l = scaleLevel(id, scales[ib], 7);
            sc[ib / 4] = uint16_t(sc[ib / 4] | (l << (3 * (ib % 4))));
            qh[ib] |= kMasks[shifts[ib]];
            const float* xb = xbl + kBs * ib;
            weightsOf(ib);
            for (int k = 0; k < 2; ++k) {
                const float* xx =
                    k == 0 ? (shifts[ib] < 2 ? xp : xm) : (shifts[ib] % 2 == 0 ? xp : xm);
                const int g = qs[2 * ib + k] + ((qh[ib] << (8 - 4 * k)) & 0x700);
                const int8_t* pg = t.entry(g);
                for (int j = 0; j < 8; ++j) {
                    const float w = weight[8 * k + j];
                    const float q = xx[(pg[j] - 1) / 2] * float(2 * l + 1);
                    sqx += w * q * xb[8 * k + j];
                    sq2 += w * q * q;
                }
            }
        }
        if (sq2 > 0) d = sqx / sq2;
        const uint16_t s = floatToHalf(d * 1.1125f);
        sc[0] = uint16_t(sc[0] | ((s & 0x000f) << 12));
        sc[1] = uint16_t(sc[1] | ((s & 0x00f0) << 8));
        sc[2] = uint16_t(sc[2] | ((s & 0x0f00) << 4));
        sc[3] = uint16_t(sc[3] | ((s & 0xf000) << 0));
        std::memcpy(y + offsetof(BlockIQ1_M, scales), sc, sizeof sc);
    }
}

}  // namespace

void encodeIQ1_S(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) return;
    iq1sRow(src, dst, n, importance);
}
void encodeIQ1_M(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq1mRow(src, dst, n, importance);
}

}  // namespace qs::formats::detail
