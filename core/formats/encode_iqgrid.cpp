// Encoders of the grid i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (sign-magnitude values
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

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/block_layouts.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/iq_grids.h"
#include "parallel/parallel.h"

namespace qs::formats::detail {

using namespace blocks;

namespace {

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

/// Builds the tables from decoded grid entries. `levelOf` maps a decoded byte to its level;
/// `maxLevel` is the largest level a search can produce (only such points are ever looked up).
template <typename Entry, typename LevelOf>
GridTables buildTables(const Entry* grid, int size, int group, int bits, int maxLevel, int nwant,
                       LevelOf levelOf, bool iq1 = false) {
    GridTables t;
    t.group = group;
    t.bits = bits;
    t.pos.resize(size_t(size) * size_t(group));
    t.map.assign(size_t(1) << (bits * group), -1);
    for (int j = 0; j < size; ++j) {
        int index = 0;
        for (int k = 0; k < group; ++k) {
            const int l = levelOf(iq::gridByte(uint64_t(grid[j]), k));
            t.pos[size_t(j) * size_t(group) + size_t(k)] = int8_t(2 * l + 1);
            index |= l << (bits * k);
        }
        t.map[size_t(index)] = j;
    }
    // Off-grid points whose levels are all <= maxLevel, in index order.
    std::vector<int32_t> points;
    for (int32_t i = 0; i < int32_t(t.map.size()); ++i) {
        if (t.map[size_t(i)] >= 0) continue;
        bool reachable = true;
        for (int k = 0; k < group; ++k)
            reachable &= ((i >> (bits * k)) & ((1 << bits) - 1)) <= maxLevel;
        if (reachable) points.push_back(i);
    }
    std::vector<std::vector<uint16_t>> lists(points.size());
    const int maxD2 = group * 16 * 16;
    parallel::parallelFor(0, int64_t(points.size()), 16, [&](int64_t b, int64_t e) {
        std::vector<int> d2(size_t(size), 0);
        std::vector<int> count(size_t(maxD2) + 1, 0);
        for (int64_t p = b; p < e; ++p) {
            const int32_t i = points[size_t(p)];
            int want[8];
            for (int k = 0; k < group; ++k)
                want[k] = 2 * ((i >> (bits * k)) & ((1 << bits) - 1)) + 1;
            std::fill(count.begin(), count.end(), 0);
            for (int j = 0; j < size; ++j) {
                const int8_t* pg = t.entry(j);
                int s = 0;
                for (int k = 0; k < group; ++k) s += (pg[k] - want[k]) * (pg[k] - want[k]);
                d2[size_t(j)] = s;
                ++count[size_t(s)];
            }
            // The nwant smallest distinct distances: every entry within them, by (d2, index).
            std::vector<uint16_t>& out = lists[size_t(p)];
            int have = 0;
            for (int d = 0; d <= maxD2 && have < nwant; ++d) {
                if (!count[size_t(d)]) continue;
                ++have;
                for (int j = 0; j < size; ++j) {
                    if (d2[size_t(j)] == d) out.push_back(uint16_t(j));
                }
            }
        }
    });
    for (size_t p = 0; p < points.size(); ++p) {
        NeighbourList nl;
        nl.first = uint32_t(t.nb.size());
        nl.count = uint32_t(lists[p].size());
        t.map[size_t(points[p])] = -int32_t(t.lists.size()) - 1;
        t.lists.push_back(nl);
        t.nb.insert(t.nb.end(), lists[p].begin(), lists[p].end());
    }
    // Transposed float values of every list, four neighbours per chunk (unused lanes 0).
    auto transpose = [&](std::vector<float>& out, auto valueOfPos) {
        for (NeighbourList& nl : t.lists) {
            nl.qf = uint32_t(out.size());
            const uint32_t chunks = (nl.count + 3) / 4;
            for (uint32_t c = 0; c < chunks; ++c) {
                for (int i = 0; i < group; ++i) {
                    for (uint32_t lane = 0; lane < 4; ++lane) {
                        const uint32_t j = 4 * c + lane;
                        out.push_back(j < nl.count ? valueOfPos(t.entry(t.nb[nl.first + j])[i])
                                                   : 0.f);
                    }
                }
            }
        }
    };
    if (iq1) {
        transpose(t.qMinus, [](int8_t p) { return kIq1xmTable[(p - 1) / 2]; });
        transpose(t.qPlus, [](int8_t p) { return kIq1xpTable[(p - 1) / 2]; });
    } else {
        transpose(t.qPos, [](int8_t p) { return float(p); });
    }
    return t;
}

/// Level of a decoded IQ2 grid byte: 8, 25, 43 -> 0, 1, 2.
int levelIq2(uint32_t v) {
    return v == 8 ? 0 : v == 25 ? 1 : 2;
}
/// IQ3_XXS: 4, 12, 20, 28, 36, 44, 52, 62 -> 0..7.
int levelIq3xxs(uint32_t v) {
    return v == 62 ? 7 : int(v - 4) / 8;
}
/// IQ3_S: 1, 3, ..., 15 -> 0..7.
int levelIq3s(uint32_t v) {
    return int(v - 1) / 2;
}
/// IQ1: int8 -1, 0, +1 -> 0, 1, 2.
int levelIq1(uint32_t v) {
    return int(int8_t(uint8_t(v))) + 1;
}

const GridTables& tablesIq2xxs() {
    static const GridTables t = buildTables(iq::kIq2xxsGrid, 256, 8, 2, 2, 2, levelIq2);
    return t;
}
const GridTables& tablesIq2xs() {
    static const GridTables t = buildTables(iq::kIq2xsGrid, 512, 8, 2, 2, 2, levelIq2);
    return t;
}
const GridTables& tablesIq2s() {
    static const GridTables t = buildTables(iq::kIq2sGrid, 1024, 8, 2, 2, 1, levelIq2);
    return t;
}
const GridTables& tablesIq3xxs() {
    static const GridTables t = buildTables(iq::kIq3xxsGrid, 256, 4, 3, 7, 2, levelIq3xxs);
    return t;
}
const GridTables& tablesIq3s() {
    static const GridTables t = buildTables(iq::kIq3sGrid, 512, 4, 3, 7, 3, levelIq3s);
    return t;
}
const GridTables& tablesIq1() {
    static const GridTables t = buildTables(iq::kIq1sGrid, 2048, 8, 2, 2, 3, levelIq1, true);
    return t;
}

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

// ------------------------------------------------------------------------------------------
// IQ2_XXS, IQ2_XS, IQ2_S
// ------------------------------------------------------------------------------------------

constexpr SearchConfig kCfgIq2xxs{3, -6, 6, 0.1f, true, true, true};
constexpr SearchConfig kCfgIq2xs{3, -9, 9, 0.1f, false, true, false};
constexpr SearchConfig kCfgIq2s{3, -9, 9, 0.1f, false, true, false};
constexpr SearchConfig kCfgIq3xxs{8, -15, 15, 0.2f, false, true, false};
constexpr SearchConfig kCfgIq3s{8, -9, 9, 0.2f, false, false, true};

void iq2xxsRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq2xxs();
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ2_XXS));
        std::memset(y, 0, sizeof(BlockIQ2_XXS));
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = sumSquares256(xbl) / kQK_K;
        uint32_t q2[16] = {};
        float scales[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            const float* qw = qwRow + kQK_K * ibl + 32 * ib;
            float weight[32], waux[32], xval[32];
            for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[4];
            for (int k = 0; k < 4; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, true);
            int8_t L[32];
            float scale = 0;
            if (!searchBlock<32, 8>(t, kCfgIq2xxs, xval, weight, waux, kEpsIq2, L, &scale)) {
                scales[ib] = 0;
                continue;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
            }
            for (int k = 0; k < 4; ++k) {
                q2[2 * ib + 0] |= uint32_t(gridIndexOf<8>(t, L + 8 * k)) << (8 * k);
                q2[2 * ib + 1] |= uint32_t(signs[k]) << (7 * k);
            }
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y, floatToHalf(d));
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ++ib)
            q2[2 * ib + 1] |= uint32_t(scaleLevel(id, scales[ib], 15)) << 28;
        std::memcpy(y + 2, q2, sizeof q2);
    }
}

/// IQ2_XS (evenParity, importance required) and IQ2_S (explicit signs, 10-bit indices).
template <bool IsS>
void iq2xsRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = IsS ? tablesIq2s() : tablesIq2xs();
    constexpr size_t kBlock = IsS ? sizeof(BlockIQ2_S) : sizeof(BlockIQ2_XS);
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(kBlock);
        std::memset(y, 0, kBlock);
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = IsS ? 2 * sumSquares256(xbl) / kQK_K : sumSquares256(xbl) / kQK_K;
        float scales[16];
        float maxScale = 0;
        uint16_t q2[32] = {};
        for (int ib = 0; ib < 16; ++ib) {
            const float* xb = xbl + 16 * ib;
            float weight[16], waux[16], xval[16];
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + 16 * ib;
                for (int i = 0; i < 16; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
            }
            for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[2];
            for (int k = 0; k < 2; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, !IsS);
            int8_t L[16];
            float scale = 0;
            if (!searchBlock<16, 8>(t, IsS ? kCfgIq2s : kCfgIq2xs, xval, weight, waux,
                                    IsS ? kEpsIq2s : kEpsIq2, L, &scale)) {
                scales[ib] = 0;
                continue;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 2; ++k)
                    signs[k] = IsS ? uint8_t(~signs[k]) : uint8_t(~signs[k] & 127);
            }
            for (int k = 0; k < 2; ++k) {
                const int g = gridIndexOf<8>(t, L + 8 * k);
                if constexpr (IsS) {
                    const int i8 = 2 * ib + k;
                    y[2 + i8] = uint8_t(g & 255);
                    y[2 + 64 + i8 / 4] |= uint8_t((g >> 8) << (2 * (i8 % 4)));
                    y[2 + 32 + i8] = signs[k];
                } else {
                    q2[2 * ib + k] = uint16_t(g | (signs[k] << 9));
                }
            }
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y, floatToHalf(IsS ? d * 0.9875f : d));
        const float id = 1 / d;
        uint8_t* sc = y + (IsS ? 2 + 64 + 8 : 2 + 64);
        for (int ib = 0; ib < 16; ++ib) {
            const int l = scaleLevel(id, scales[ib], 15);
            if (ib % 2 == 0)
                sc[ib / 2] = uint8_t(l);
            else
                sc[ib / 2] |= uint8_t(l << 4);
        }
        if constexpr (!IsS) std::memcpy(y + 2, q2, sizeof q2);
    }
}

// ------------------------------------------------------------------------------------------
// IQ3_XXS, IQ3_S
// ------------------------------------------------------------------------------------------

void iq3xxsRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq3xxs();
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ3_XXS));
        std::memset(y, 0, sizeof(BlockIQ3_XXS));
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = 2 * sumSquares256(xbl) / kQK_K;
        uint8_t q3[96] = {};
        uint32_t scalesAndSigns[8] = {};
        float scales[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            float weight[32], waux[32], xval[32];
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + 32 * ib;
                for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 32; ++i) weight[i] = xb[i] * xb[i];
            }
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[4];
            for (int k = 0; k < 4; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, true);
            int8_t L[32];
            float scale = 0;
            if (!searchBlock<32, 4>(t, kCfgIq3xxs, xval, weight, waux, kEpsIq3xxs, L, &scale)) {
                scales[ib] = 0;
                continue;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
            }
            for (int k = 0; k < 8; ++k) q3[8 * ib + k] = uint8_t(gridIndexOf<4>(t, L + 4 * k));
            scalesAndSigns[ib] = uint32_t(signs[0]) | (uint32_t(signs[1]) << 7) |
                                 (uint32_t(signs[2]) << 14) | (uint32_t(signs[3]) << 21);
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y, floatToHalf(d * 1.0125f));
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ++ib)
            scalesAndSigns[ib] |= uint32_t(scaleLevel(id, scales[ib], 15)) << 28;
        std::memcpy(y + 2, q3, 64);
        std::memcpy(y + 2 + 64, scalesAndSigns, sizeof scalesAndSigns);
    }
}

void iq3sRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq3s();
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ3_S));
        std::memset(y, 0, sizeof(BlockIQ3_S));
        uint8_t* qs = y + 2;
        uint8_t* qh = y + 2 + 64;
        uint8_t* signsOut = y + 2 + 64 + 8;
        uint8_t* sc = y + 2 + 64 + 8 + 32;
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = 2 * sumSquares256(xbl) / kQK_K;
        float scales[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            float weight[32], waux[32], xval[32];
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + 32 * ib;
                for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 32; ++i) weight[i] = xb[i] * xb[i];
            }
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[4];
            for (int k = 0; k < 4; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, false);
            float max = xval[0];
            for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
            int8_t L[32];
            float scale = 0;
            // ggml skips an all-zero block with `if (!max)` and, as it does, without advancing
            // its index and sign cursors: the next block's bytes land in this block's place.
            if (!max) {
                scales[ib] = 0;
                continue;
            }
            searchBlock<32, 4>(t, kCfgIq3s, xval, weight, waux, 0.f, L, &scale);
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k]);
            }
            for (int k = 0; k < 8; ++k) {
                const int g = gridIndexOf<4>(t, L + 4 * k);
                qs[k] = uint8_t(g & 255);
                qh[(ib * 8 + k) / 8] |= uint8_t((g >> 8) << ((ib * 8 + k) % 8));
            }
            qs += 8;
            for (int k = 0; k < 4; ++k) signsOut[k] = signs[k];
            signsOut += 4;
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y, floatToHalf(d * 1.033f));
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ib += 2) {
            const int l1 = scaleLevel(id, scales[ib], 15);
            const int l2 = scaleLevel(id, scales[ib + 1], 15);
            sc[ib / 2] = uint8_t(l1 | (l2 << 4));
        }
    }
}

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
        uint8_t* qs = y + 2;
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
            putU16(y, floatToHalf(d * 1.125f));
            const float id = 1 / d;
            for (int ib = 0; ib < 8; ++ib) {
                int l = scaleLevel(id, scales[ib], 7);
                if (shifts[ib] == -1) l |= 8;
                qh[ib] = uint16_t(qh[ib] | (l << 12));
            }
        }
        std::memcpy(y + 2 + 32, qh, sizeof qh);
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
        uint8_t* qs = y;
        uint8_t* qh = y + 32;
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
        std::memcpy(y + 48, sc, sizeof sc);
    }
}

}  // namespace

void prepareGridTables(TensorType t) {
    switch (t) {
    case TensorType::IQ2_XXS: (void)tablesIq2xxs(); break;
    case TensorType::IQ2_XS: (void)tablesIq2xs(); break;
    case TensorType::IQ2_S: (void)tablesIq2s(); break;
    case TensorType::IQ3_XXS: (void)tablesIq3xxs(); break;
    case TensorType::IQ3_S: (void)tablesIq3s(); break;
    case TensorType::IQ1_S:
    case TensorType::IQ1_M: (void)tablesIq1(); break;
    default: break;
    }
}

void encodeIQ2_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) return;  // refused by encodeRows (ggml requires an imatrix)
    iq2xxsRow(src, dst, n, importance);
}
void encodeIQ2_XS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) return;
    iq2xsRow<false>(src, dst, n, importance);
}
void encodeIQ2_S(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq2xsRow<true>(src, dst, n, importance);
}
void encodeIQ3_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq3xxsRow(src, dst, n, importance);
}
void encodeIQ3_S(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq3sRow(src, dst, n, importance);
}
void encodeIQ1_S(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) return;
    iq1sRow(src, dst, n, importance);
}
void encodeIQ1_M(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq1mRow(src, dst, n, importance);
}

}  // namespace qs::formats::detail
