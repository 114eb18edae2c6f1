// The tiled flash attention's AVX-512 kernel (eval/flash_tile.h) against the portable body it
// replaces on AVX-512 CPUs (flashTileAvx2W16, the order of llama.cpp's zen4 build, checked
// against llama.cpp's logits by EvalModern): bit for bit on every edge the forward pass meets
// (partial query and key tiles, tiles not aligned to 64 (ubatches), sliding windows that mask
// whole tiles and rows, head sizes 16 to 128 (value blocks of 1 to 4 vectors), grouped heads,
// scores far enough apart for ggml_v_expf's underflow branch, inf and NaN keys). And the
// portable body's three builds against each other where their sums agree (W = 8).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "eval/cpu_features.h"
#include "eval/flash_tile.h"
#include "formats/half.h"

using namespace qs;

namespace {

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// Equal bits, or both NaN (a NaN's payload is not part of the arithmetic's order).
bool sameFloat(float a, float b) {
    return bits(a) == bits(b) || (std::isnan(a) && std::isnan(b));
}

float roundF16(float x) {
    return formats::halfToFloat(formats::floatToHalf(x));
}

struct Case {
    int64_t nTok;
    int hd, H, Hkv, window;
    float scale;
    int64_t t0, t1;  // the tile's queries
    bool special;    // inf and NaN in a key, zero queries
};

// Runs one tile through both kernels on random data and compares every output float.
void checkTile(const Case& c, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t qStride = int64_t(c.H) * c.hd, kvStride = int64_t(c.Hkv) * c.hd;
    std::vector<float> q(size_t(c.nTok * qStride)), k(size_t(c.nTok * kvStride)),
        v(size_t(c.nTok * kvStride));
    for (float& f : q) f = nd(rng);
    for (float& f : k) f = roundF16(nd(rng));  // the forward pass's F16 cache
    for (float& f : v) f = roundF16(nd(rng));
    if (c.special) {
        k[size_t(3 * kvStride + 1)] = INFINITY;
        k[size_t(70 * kvStride + 2)] = NAN;
        for (int d = 0; d < c.hd; ++d) q[size_t(c.t0 * qStride + d)] = 0.0f;
    }
    const int group = c.H / c.Hkv;
    std::vector<float> keyTiles(size_t(eval::detail::keyTilesSize(c.Hkv, c.hd, c.nTok)));
    eval::detail::buildKeyTiles(k.data(), kvStride, c.Hkv, c.hd, c.nTok, keyTiles.data(), 2);
    std::vector<float> scratch(size_t(c.hd) * 64 * 3 + 64 * 64);
    for (int h = 0; h < c.H; ++h) {
        SCOPED_TRACE("head " + std::to_string(h));
        std::vector<float> ref(q.size(), -7.0f), fast(q.size(), -7.0f);
        eval::detail::flashTileAvx2W16(q.data(), k.data(), v.data(), qStride, kvStride, h, group,
                                       c.t0, c.t1, c.hd, c.scale, 0.0f, c.window, ref.data(),
                                       scratch.data());
        eval::detail::flashTileAvx512(q.data(), keyTiles.data(), v.data(), qStride, kvStride,
                                      c.nTok, h, group, c.t0, c.t1, c.hd, c.scale, c.window,
                                      fast.data(), scratch.data());
        for (size_t i = 0; i < ref.size(); ++i) {
            ASSERT_TRUE(sameFloat(ref[i], fast[i]))
                << "output " << i << " (token " << int64_t(i) / qStride << "): " << ref[i] << " vs "
                << fast[i];
        }
    }
}

}  // namespace

TEST(FlashTile, Avx512EqualsPortableBody) {
    if (!eval::cpuHasAvx2Fma() || !eval::cpuHasAvx512() ||
        !eval::detail::flashTileAvx512Available()) {
        GTEST_SKIP() << "CPU without AVX-512: the AVX-512 tile is not taken";
    }
    const Case cases[] = {
        {150, 64, 6, 2, 0, 0.125f, 64, 128, false},   // a full tile, two key tiles
        {150, 64, 6, 2, 0, 0.125f, 128, 150, false},  // the last, partial tile
        {200, 64, 4, 4, 0, 0.125f, 10, 74, false},    // a ubatch's tile, not aligned to 64
        {150, 80, 4, 2, 0, 0.11f, 64, 128, false},    // value blocks of 4 + 1 vectors
        {150, 16, 2, 1, 0, 0.25f, 64, 128, false},    // one vector per head
        {150, 128, 2, 1, 0, 0.09f, 64, 128, false},   // two value blocks of 4
        {200, 48, 3, 1, 37, 0.14f, 128, 192, false},  // sliding window: rows and tiles masked
        {200, 64, 2, 2, 5, 0.125f, 64, 100, false},   // a window shorter than a tile
        {150, 64, 2, 1, 0, 40.0f, 64, 128, false},    // exp arguments far below -192 * ln 2
        {150, 64, 2, 1, 0, 0.125f, 64, 128, true},    // inf and NaN keys, zero query
        {70, 32, 2, 1, 0, 0.2f, 1, 65, false},        // queries from position 1
    };
    uint32_t seed = 5;
    for (const Case& c : cases) {
        SCOPED_TRACE("nTok " + std::to_string(c.nTok) + " hd " + std::to_string(c.hd) + " window " +
                     std::to_string(c.window) + " tile " + std::to_string(c.t0) + ".." +
                     std::to_string(c.t1));
        checkTile(c, seed++);
    }
}

TEST(FlashTile, PortableBuildsAgree) {
    // The AVX2 + FMA build and the plain one of the 8-lane body: the same floats.
    if (!eval::cpuHasAvx2Fma()) GTEST_SKIP() << "CPU without AVX2 + FMA + F16C";
    const int64_t nTok = 130, hd = 32, H = 2, Hkv = 1;
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> q(size_t(nTok * H * hd)), k(size_t(nTok * Hkv * hd)), v(k.size());
    for (float& f : q) f = nd(rng);
    for (float& f : k) f = roundF16(nd(rng));
    for (float& f : v) f = roundF16(nd(rng));
    std::vector<float> scratch(size_t(hd) * 64 * 3 + 64 * 64);
    for (int64_t t0 : {int64_t(0), int64_t(64), int64_t(128)}) {
        const int64_t t1 = std::min(nTok, t0 + 64);
        std::vector<float> a(q.size()), b(q.size());
        for (int h = 0; h < H; ++h) {
            eval::detail::flashTileAvx2W8(q.data(), k.data(), v.data(), H * hd, Hkv * hd, h, 2, t0,
                                          t1, hd, 0.17f, 0.0f, 0, a.data(), scratch.data());
            eval::detail::flashTilePlain(q.data(), k.data(), v.data(), H * hd, Hkv * hd, h, 2, t0,
                                         t1, hd, 0.17f, 0.0f, 0, b.data(), scratch.data());
        }
        for (int64_t t = t0; t < t1; ++t) {
            for (int64_t i = 0; i < H * hd; ++i) {
                const size_t at = size_t(t * H * hd + i);
                ASSERT_EQ(bits(a[at]), bits(b[at])) << "token " << t << " value " << i;
            }
        }
    }
}
