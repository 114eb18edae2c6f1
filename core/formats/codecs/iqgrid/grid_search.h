#pragma once
// What the grid i-quant encoders share (encode_iq2_iq3.cpp, encode_iq1.cpp): the codebooks in
// the quantizer's form (built once per type by grid_search.cpp) and the trial-scale search of
// IQ2 / IQ3 with its neighbour lookups. Internal to the iqgrid family.
//
// The grid i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (sign-magnitude values
// on an E8 / D4 lattice codebook) and IQ1_S, IQ1_M (ternary codebook plus a shifted delta).
//
// Each reproduces the path ggml_quantize_chunk() takes for the type (quantize_iq*_impl in
// ggml-quants.c), byte for byte: every float operation is written in ggml's order with ggml's
// types and no fused multiply-add. The algorithms, per block of 16 or 32 values:
//  - fold the signs out (IQ2_XXS/XS, IQ3_XXS keep an even number of negatives by flipping the
//    least important value), weights from the importance (or x^2);
//  - try a range of trial scales; at each, round every group of 8 (or 4) values to lattice
//    levels, and if that point is not in the codebook take the best of its precomputed
//    nearest codebook neighbours; keep the scale with the best weighted fit;
//  - IQ1: an exact search over the two split points of the sorted values into {-1, 0, +1}.
//
// The codebooks are the decoders' grids (iq_grids.cpp). The map from a lattice point to its
// codebook index and the neighbour lists of off-codebook points are derived here from them, once
// per type, in parallel and deterministically: a point's neighbours are every codebook entry
// within its `nwant` smallest distinct squared distances, ordered by (distance, index), as ggml
// orders them (its qsort keys are unique, so the order is fixed).

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/codecs/iqgrid/iqgrid.h"
#include "formats/codecs/scale_search.h"
#include "formats/iq_grids.h"

namespace qs::formats::detail::grid {

using blocks::kQK_K;

constexpr float kEpsIq2 = 1e-15f;    // ggml's GROUP_MAX_EPS
constexpr float kEpsIq3xxs = 1e-8f;  // GROUP_MAX_EPS_IQ3_XXS
constexpr float kEpsIq2s = 1e-8f;    // GROUP_MAX_EPS_IQ2_S
constexpr float kEpsIq1m = 1e-7f;    // GROUP_MAX_EPS_IQ1_M
constexpr float kEpsIq1s = 1e-12f;   // GROUP_MAX_EPS_IQ1_S

/// IQ1 values of the three levels with a positive and a negative delta (ggml's x_p, x_m).
constexpr float kIq1xpTable[3] = {-1 + iq::kIq1Delta, iq::kIq1Delta, 1 + iq::kIq1Delta};
constexpr float kIq1xmTable[3] = {-1 - iq::kIq1Delta, -iq::kIq1Delta, 1 - iq::kIq1Delta};

// ------------------------------------------------------------------------------------------
// Codebook tables
// ------------------------------------------------------------------------------------------

/// Four float lanes (GCC/Clang vector extension: element-wise IEEE arithmetic, SSE2 on x86-64).
/// The neighbour searches evaluate four candidates at once, each lane in ggml's order of
/// operations, so every lane's result is the scalar result bit for bit.
typedef float V4 __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));
inline V4 splat(float v) {
    return V4{v, v, v, v};
}
inline V4i splat32(int32_t v) {
    return V4i{v, v, v, v};
}
inline V4i laneIndex(int32_t first) {
    return V4i{first, first + 1, first + 2, first + 3};
}
inline bool anyTrue(V4i m) {
    return (m[0] | m[1] | m[2] | m[3]) != 0;
}

/// One off-grid point's neighbours: entries nb[first .. first + count) of the index array and,
/// from float offset `qf`, their values transposed in chunks of four (chunk c, value i, lane).
struct NeighbourList {
    uint32_t first = 0;
    uint32_t count = 0;
    uint32_t qf = 0;
};

/// One codebook in the quantizer's form: each entry's values as odd positions 2l+1 of their
/// level l (what ggml's searches measure against), the map lattice point -> entry, and the
/// neighbour lists of points not in the codebook.
struct GridTables {
    int group = 8;             ///< values per codebook entry (8 or 4)
    int bits = 2;              ///< bits per level in a lattice point's index
    std::vector<int8_t> pos;   ///< entries * group: 2 * level + 1
    std::vector<int32_t> map;  ///< point -> entry (>= 0) or -(list + 1)
    std::vector<NeighbourList> lists;
    std::vector<uint16_t> nb;   ///< neighbour entry indices, by (distance, index)
    std::vector<float> qPos;    ///< transposed chunks: float(2l+1) (IQ2, IQ3)
    std::vector<float> qPlus;   ///< IQ1: the value of level l with +delta
    std::vector<float> qMinus;  ///< IQ1: with -delta
    const int8_t* entry(int j) const { return pos.data() + size_t(j) * size_t(group); }
    const NeighbourList& listOf(int32_t m) const { return lists[size_t(-m - 1)]; }
};

/// The codebook tables of each grid (built on first use, thread-safe; grid_search.cpp).
const GridTables& tablesIq2xxs();
const GridTables& tablesIq2xs();
const GridTables& tablesIq2s();
const GridTables& tablesIq3xxs();
const GridTables& tablesIq3s();
const GridTables& tablesIq1();

// ------------------------------------------------------------------------------------------
// IQ2 / IQ3 trial-scale search
// ------------------------------------------------------------------------------------------

/// The first of the smallest of d2[0..n) (ggml's sequential `if (d2 < best)` scan).
inline uint32_t firstMin(const float* d2, uint32_t n) {
    float best = FLT_MAX;
    uint32_t at = 0;
    for (uint32_t j = 0; j < n; ++j) {
        if (d2[j] < best) {
            best = d2[j];
            at = j;
        }
    }
    return at;
}

/// Weighted squared distances of x (G values) from scale * q for every neighbour of a list,
/// four at a time; lane j: sum_i w[i] * (scale * q_ij - x[i])^2 in ggml's order.
template <int G>
inline void neighbourDistances(const float* q, uint32_t count, const float* x, const float* w,
                               float scale, float* d2) {
    const V4 sc = splat(scale);
    for (uint32_t c = 0; c < (count + 3) / 4; ++c) {
        V4 acc = splat(0.f);
        for (int i = 0; i < G; ++i) {
            V4 qi;
            __builtin_memcpy(&qi, q + (size_t(c) * G + size_t(i)) * 4, sizeof qi);
            const V4 diff = sc * qi - splat(x[i]);
            acc += splat(w[i]) * diff * diff;
        }
        __builtin_memcpy(d2 + 4 * c, &acc, sizeof acc);
    }
}

/// ggml's iq2_find_best_neighbour / iq3_find_best_neighbour: the neighbour minimising the
/// weighted squared error at `scale` (first one on ties); writes its levels to L.
template <int G>
int bestNeighbour(const GridTables& t, const NeighbourList& nl, const float* xval, const float* w,
                  float scale, int8_t* L) {
    float d2[2048 + 4];
    neighbourDistances<G>(t.qPos.data() + nl.qf, nl.count, xval, w, scale, d2);
    const int best = t.nb[nl.first + firstMin(d2, nl.count)];
    const int8_t* pg = t.entry(best);
    for (int i = 0; i < G; ++i) L[i] = int8_t((pg[i] - 1) / 2);
    return best;
}

struct SearchConfig {
    int kMaxQ;         ///< levels 0..kMaxQ-1
    int isMin, isMax;  ///< trial steps
    float step;        ///< trial step size
    bool fromQp;       ///< IQ2_XXS: trials around make_qp_quants' scale, second pass always
    bool onGridInit;   ///< initial "on grid" flags (IQ3_S starts false)
    bool secondAll;    ///< the second pass re-rounds every group, not just the off-grid ones
};

/// Rounds the N values of a block at inverse scale `id` into L (levels), finding neighbours
/// at `scale` for off-grid groups; onGrid[k] says whether group k rounded onto the codebook.
template <int N, int G>
void roundBlock(const GridTables& t, const SearchConfig& c, const float* xval, const float* waux,
                float id, float scale, int8_t* L, bool* onGrid) {
    for (int k = 0; k < N / G; ++k) {
        int u = 0;
        for (int i = 0; i < G; ++i) {
            const int l = nearestInt(0.5f * (id * xval[G * k + i] - 1));
            L[G * k + i] = int8_t(std::max(0, std::min(c.kMaxQ - 1, l)));
            u |= L[G * k + i] << (t.bits * i);
        }
        const int32_t m = t.map[size_t(u)];
        onGrid[k] = m >= 0;
        if (m < 0) bestNeighbour<G>(t, t.listOf(m), xval + G * k, waux + G * k, scale, L + G * k);
    }
}

template <int N>
inline void fitSums(const float* weight, const float* xval, const int8_t* L, float& sumqx,
                    float& sumq2) {
    sumqx = 0;
    sumq2 = 0;
    for (int i = 0; i < N; ++i) {
        const float w = weight[i];
        const float q = float(2 * L[i] + 1);
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
}

/// The scale search of one block; L receives on-grid levels. Returns false for a block that
/// quantizes to zero (ggml then leaves its bytes zero), else true with *scaleOut (may be < 0).
template <int N, int G>
bool searchBlock(const GridTables& t, const SearchConfig& c, const float* xval, const float* weight,
                 const float* waux, float eps, int8_t* L, float* scaleOut) {
    constexpr int NG = N / G;
    float max = xval[0];
    for (int i = 1; i < N; ++i) max = max > xval[i] ? max : xval[i];
    std::memset(L, 0, N);
    if (max < eps) return false;
    float best = 0;
    float scale;
    float ref;  // what the trial inverse scales are relative to
    if (c.fromQp) {
        uint8_t Lqp[N];
        scale = fitPositiveLevels(N, c.kMaxQ + 1, xval, Lqp, weight);
        const float effMax = scale * float(c.kMaxQ);
        if (effMax <= 0) return false;
        for (int i = 0; i < N; ++i) L[i] = int8_t(Lqp[i]);
        ref = effMax;
    } else {
        scale = max / float(2 * c.kMaxQ - 1);
        ref = max;
    }
    bool onGrid[NG], onGridAux[NG];
    for (int k = 0; k < NG; ++k) onGrid[k] = c.onGridInit;
    int8_t Laux[N];
    for (int is = c.isMin; is <= c.isMax; ++is) {
        const float id = (float(2 * c.kMaxQ - 1) + float(is) * c.step) / ref;
        const float thisScale = 1 / id;
        roundBlock<N, G>(t, c, xval, waux, id, thisScale, Laux, onGridAux);
        float sumqx, sumq2;
        fitSums<N>(weight, xval, Laux, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            std::memcpy(L, Laux, N);
            std::memcpy(onGrid, onGridAux, sizeof onGrid);
        }
    }
    int offGrid = 0;
    for (int k = 0; k < NG; ++k) offGrid += !onGrid[k];
    if ((c.fromQp || offGrid > 0) && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < NG; ++k) {
            if (!c.secondAll && onGrid[k]) continue;
            int u = 0;
            for (int i = 0; i < G; ++i) {
                const int l = std::max(
                    0, std::min(c.kMaxQ - 1, nearestInt(0.5f * (id * xval[G * k + i] - 1))));
                L[G * k + i] = int8_t(l);
                u |= l << (t.bits * i);
            }
            const int32_t m = t.map[size_t(u)];
            if (m < 0)
                bestNeighbour<G>(t, t.listOf(m), xval + G * k, waux + G * k, scale, L + G * k);
        }
        float sumqx, sumq2;
        fitSums<N>(weight, xval, L, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    *scaleOut = scale;
    return true;
}

/// Codebook index of the (on-grid) levels of group k.
template <int G>
inline int gridIndexOf(const GridTables& t, const int8_t* L) {
    int u = 0;
    for (int i = 0; i < G; ++i) u |= L[i] << (t.bits * i);
    const int32_t m = t.map[size_t(u)];
    return m >= 0 ? m : 0;  // always on grid after the search
}

/// Sign-folded magnitudes of a group of 8 values; with `evenParity`, the least important value
/// keeps its sign wrong so that the count of negatives is even (ggml's IQ2_XXS/XS, IQ3_XXS).
inline uint8_t foldSigns(const float* xb, const float* weight, float* xval, bool evenParity) {
    int nflip = 0;
    uint8_t s = 0;
    for (int i = 0; i < 8; ++i) {
        if (xb[i] >= 0) {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            ++nflip;
            s |= uint8_t(1u << i);
        }
    }
    if (evenParity && (nflip % 2)) {
        int imin = 0;
        float min = weight[0] * xb[0] * xb[0];
        for (int i = 1; i < 8; ++i) {
            const float ax = weight[i] * xb[i] * xb[i];
            if (ax < min) {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= uint8_t(1u << imin);
    }
    return evenParity ? uint8_t(s & 127) : s;
}

inline float sumSquares256(const float* x) {
    float s = 0;
    for (int i = 0; i < kQK_K; ++i) s += x[i] * x[i];
    return s;
}

inline void putU16(uint8_t* p, uint16_t v) {
    std::memcpy(p, &v, 2);
}

inline int scaleLevel(float id, float scale, int maxL) {
    return std::max(0, std::min(maxL, nearestInt(0.5f * (id * scale - 1))));
}

}  // namespace qs::formats::detail::grid
