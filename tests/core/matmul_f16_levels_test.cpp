// The F16 products of the forward pass at every kernel level this CPU runs (portable bodies, AVX2,
// the AVX-512 4 x 4 and 2 x 4 micro-kernels with their vector reduction): bit for bit the sums of
// ggml's order, written out here independently of the kernels (tinyBLAS: one chain of W lanes
// per product and the build's horizontal sum; ggml_vec_dot_f16: four chains of W lanes, reduced,
// the tail added in double), on the edge shapes of the kernels' tiling: rows not a multiple of 4
// or 2, token counts not a multiple of 4, rows of no multiple of W, one token, long rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../common/weight_view_util.h"
#include "eval/cpu_features.h"
#include "eval/matmul.h"
#include "eval/matmul_decoded.h"
#include "formats/half.h"

using namespace qs;
using eval::detail::DecodedLevel;
using formats::TensorType;

namespace {

/// Restores the kernel level when a test ends.
struct LevelGuard {
    DecodedLevel saved = eval::detail::decodedLevel();
    ~LevelGuard() { eval::detail::setDecodedLevel(saved); }
};

std::vector<DecodedLevel> levels() {
    std::vector<DecodedLevel> out;
    for (int l = 0; l <= int(eval::detail::decodedLevelSupported()); ++l) {
        out.push_back(DecodedLevel(l));
    }
    return out;
}

float toHalfAndBack(float v) {
    return formats::halfToFloat(formats::floatToHalf(v));
}

/// The W-lane horizontal sums of llama.cpp's builds: _mm512_reduce_add_ps (W = 16) and
/// hsum_float_8 (W = 8).
float horizontal(const float* v, int W) {
    if (W == 16) {
        float t3[8], t6[4];
        for (int i = 0; i < 8; ++i) t3[i] = v[8 + i] + v[i];
        for (int i = 0; i < 4; ++i) t6[i] = t3[4 + i] + t3[i];
        return (t6[0] + t6[2]) + (t6[1] + t6[3]);
    }
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/// One F16 product in ggml's order; w and x already hold F16 values.
float reference(const float* w, const float* x, int64_t n, int W, bool vecDotOnly) {
    if (!vecDotOnly && n % W == 0) {
        float acc[16] = {};
        for (int64_t i = 0; i < n; i += W) {
            for (int l = 0; l < W; ++l) acc[l] = std::fma(w[i + l], x[i + l], acc[l]);
        }
        return horizontal(acc, W);
    }
    float acc[4][16] = {};
    const int64_t np = n / (4 * W) * (4 * W);
    for (int64_t i = 0; i < np; i += 4 * W) {
        for (int j = 0; j < 4; ++j) {
            for (int l = 0; l < W; ++l) {
                acc[j][l] = std::fma(w[i + j * W + l], x[i + j * W + l], acc[j][l]);
            }
        }
    }
    double sum = 0;
    if (np > 0) {
        float v[16];
        for (int l = 0; l < W; ++l) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
        sum = double(horizontal(v, W));
    }
    for (int64_t i = np; i < n; ++i) sum += double(w[i] * x[i]);
    return float(sum);
}

/// Values of every magnitude F16 holds: normal ones, big ones (sums near F16's top), subnormal
/// halves, exact zeros and a whole zero row.
std::vector<float> halfValues(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> v(size_t(rows * cols));
    for (size_t i = 0; i < v.size(); ++i) {
        float x = nd(rng);
        if (i % 31 == 3) x *= 3000.0f;
        if (i % 37 == 5) x *= 1e-6f;  // an F16 subnormal
        if (i % 41 == 7) x = 0;
        v[i] = x;
    }
    if (rows > 2) std::fill(v.begin() + cols, v.begin() + 2 * cols, 0.0f);
    return v;
}

}  // namespace

TEST(MatmulF16Levels, EveryLevelEqualsGgmlOrder) {
    LevelGuard guard;
    const int W = eval::cpuHasAvx2Fma() && eval::cpuHasAvx512() ? 16 : 8;
    struct Shape {
        int64_t rows, cols, nTok;
    };
    // Rows: 4 x 4 blocks then a pair then one (11, 7), fewer than four (3, 1); tokens: groups of
    // four and leftovers, one token, more than a 32-token tile (37); columns: multiples of 16,
    // 8 but not 16 (40: tinyBLAS order on AVX2 builds, vec-dot on AVX-512 ones), neither (20,
    // 72), long rows (2048).
    const Shape shapes[] = {{11, 64, 9},  {7, 320, 5},  {3, 16, 4},  {1, 48, 1},
                            {13, 40, 6},  {5, 20, 3},   {9, 72, 7},  {8, 2048, 4},
                            {6, 768, 37}, {21, 96, 33}, {4, 128, 2}, {2, 256, 11}};
    for (const Shape& s : shapes) {
        const auto wv = halfValues(s.rows, s.cols, uint32_t(s.rows * 131 + s.cols));
        auto xv = halfValues(s.nTok, s.cols, uint32_t(s.nTok * 17 + s.cols));
        std::vector<uint8_t> bytes(size_t(s.rows * s.cols * 2));
        std::vector<float> wh(wv.size());
        for (size_t i = 0; i < wv.size(); ++i) {
            const uint16_t h = formats::floatToHalf(wv[i]);
            std::memcpy(bytes.data() + 2 * i, &h, 2);
            wh[i] = formats::halfToFloat(h);
        }
        std::vector<float> xh(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) xh[i] = toHalfAndBack(xv[i]);
        const auto v = test::weightView(TensorType::F16, bytes, s.rows, s.cols);
        for (bool expert : {false, true}) {
            std::vector<float> want(size_t(s.nTok * s.rows));
            for (int64_t t = 0; t < s.nTok; ++t) {
                for (int64_t r = 0; r < s.rows; ++r) {
                    want[size_t(t * s.rows + r)] = reference(
                        wh.data() + r * s.cols, xh.data() + t * s.cols, s.cols, W, expert);
                }
            }
            for (DecodedLevel level : levels()) {
                SCOPED_TRACE("rows " + std::to_string(s.rows) + " cols " + std::to_string(s.cols) +
                             " tokens " + std::to_string(s.nTok) + " level " +
                             std::to_string(int(level)) + (expert ? " expert" : ""));
                eval::detail::setDecodedLevel(level);
                ASSERT_EQ(eval::detail::decodedLevel(), level);
                for (int threads : {1, 2}) {
                    std::vector<float> got(want.size(), -7.0f);
                    eval::matmul(v, xv.data(), s.nTok, got.data(), threads, true, expert);
                    for (size_t i = 0; i < got.size(); ++i) {
                        ASSERT_EQ(test::floatBits(got[i]), test::floatBits(want[i]))
                            << "token " << i / size_t(s.rows) << " row " << i % size_t(s.rows)
                            << " threads " << threads;
                    }
                }
            }
        }
    }
}

TEST(MatmulF16Levels, LevelIsClampedToTheCpu) {
    LevelGuard guard;
    eval::detail::setDecodedLevel(DecodedLevel::Avx512);
    EXPECT_EQ(eval::detail::decodedLevel(), eval::detail::decodedLevelSupported());
    eval::detail::setDecodedLevel(DecodedLevel::Portable);
    EXPECT_EQ(eval::detail::decodedLevel(), DecodedLevel::Portable);
}
