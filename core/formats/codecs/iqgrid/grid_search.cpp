// The codebook tables of the grid i-quant encoders, derived from the decoders' grids
// (iq_grids.cpp) once per type: see grid_search.h.

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/codecs/iqgrid/grid_search.h"
#include "parallel/parallel.h"

namespace qs::formats::detail {

namespace grid {

namespace {

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

}  // namespace

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
}  // namespace grid

using namespace grid;

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

}  // namespace qs::formats::detail
