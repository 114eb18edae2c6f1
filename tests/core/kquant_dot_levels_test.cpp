// The K-quant x Q8_K products at every kernel level this CPU runs (portable, AVX2, AVX-512),
// forced one after the other, against the portable kernel's product for the same order, bit
// for bit. The weights are random block bytes (every quant, scale and minimum value the
// formats allow, Q6_K's scale -128 included) and encoded rows; the row counts leave ragged
// groups of 16 (and of 8, which decides llama.cpp's Q4_K repacking); the token counts leave
// ragged GEMM groups of four; activations include an all-zero row and large outliers.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../common/weight_view_util.h"
#include "eval/cpu_features.h"
#include "eval/kquant_dot.h"
#include "eval/matmul.h"
#include "formats/half.h"
#include "formats/type_table.h"

using namespace qs;
using eval::detail::KDotLevel;
using formats::TensorType;

namespace {

struct LevelGuard {
    ~LevelGuard() { eval::detail::setKQuantDotLevel(KDotLevel::Avx512); }
};

std::vector<KDotLevel> levels() {
    std::vector<KDotLevel> out;
    for (int l = 0; l <= int(eval::detail::kquantDotSupported()); ++l) out.push_back(KDotLevel(l));
    return out;
}

/// Byte offsets of a block's float16 scale(s): d, and dmin (-1 when none).
void scaleOffsets(TensorType t, int& d, int& dmin) {
    dmin = -1;
    switch (t) {
    case TensorType::Q4_K:
    case TensorType::Q5_K:
        d = 0;
        dmin = 2;
        break;
    case TensorType::Q6_K: d = 208; break;
    case TensorType::Q3_K: d = 108; break;
    default: d = 0; break;  // IQ4_XS
    }
}

/// Random block bytes with finite scales of random sign and size.
std::vector<uint8_t> randomBlocks(TensorType t, int64_t rows, int64_t cols, uint32_t seed) {
    const auto& tr = formats::traits(t);
    const int64_t blocks = rows * cols / tr.blockSize;
    std::mt19937 rng(seed);
    std::vector<uint8_t> out(size_t(blocks * tr.blockBytes));
    for (auto& b : out) b = uint8_t(rng());
    std::uniform_real_distribution<float> mag(1e-4f, 0.05f);
    int d = 0, dmin = -1;
    scaleOffsets(t, d, dmin);
    for (int64_t i = 0; i < blocks; ++i) {
        uint8_t* blk = out.data() + i * tr.blockBytes;
        for (int off : {d, dmin}) {
            if (off < 0) continue;
            const uint16_t h = formats::floatToHalf(rng() % 4 == 0 ? -mag(rng) : mag(rng));
            std::memcpy(blk + off, &h, 2);
        }
    }
    return out;
}

std::vector<float> activations(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(size_t(rows * cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) * (i % 97 == 5 ? 40.0f : 1.0f);
    // Token 1: all zero (a zero Q8_K scale); token 2's first block: one value dominates.
    if (rows > 1) std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f);
    if (rows > 2) x[size_t(2 * cols + 3)] = -1e4f;
    return x;
}

/// Every product of `w` (encoded as `bytes`) at every level against the portable kernel.
void expectEveryLevelMatches(TensorType t, const std::vector<uint8_t>& bytes, int64_t rows,
                             int64_t cols, const std::vector<float>& x, int64_t nTok) {
    LevelGuard guard;
    const auto v = test::weightView(t, bytes, rows, cols);
    for (const bool expert : {false, true}) {
        // llama.cpp repacks Q4_K on x86 with AVX2 when the row count is a multiple of 8.
        const bool repacked = t == TensorType::Q4_K && eval::cpuHasAvx2Fma() && rows % 8 == 0;
        const int64_t gemmTokens = repacked && !expert ? nTok - nTok % 4 : 0;
        std::vector<float> ref(size_t(nTok * rows));
        for (int64_t tk = 0; tk < nTok; ++tk) {
            for (int64_t r = 0; r < rows; ++r) {
                ref[size_t(tk * rows + r)] =
                    eval::detail::dotKQuantPortable(t, v.storedRow(r).data(), x.data() + tk * cols,
                                                    cols, repacked, tk < gemmTokens);
            }
        }
        for (const KDotLevel level : levels()) {
            eval::detail::setKQuantDotLevel(level);
            ASSERT_EQ(eval::detail::kquantDotLevel(), level);
            SCOPED_TRACE(std::string(formats::typeName(t)) + " " +
                         eval::detail::kquantDotLevelName(level) + " rows " + std::to_string(rows) +
                         " tokens " + std::to_string(nTok) + (expert ? " expert" : ""));
            for (const int threads : {1, 2}) {
                std::vector<float> y(size_t(nTok * rows), -1.0f);
                eval::matmul(v, x.data(), nTok, y.data(), threads, true, expert);
                int differ = 0;
                for (size_t i = 0; i < y.size(); ++i) {
                    if (test::floatBits(y[i]) != test::floatBits(ref[i]) && differ++ < 3) {
                        ADD_FAILURE()
                            << "row " << int64_t(i) % rows << " token " << int64_t(i) / rows << ": "
                            << y[i] << " vs portable " << ref[i];
                    }
                }
                EXPECT_EQ(differ, 0);
            }
        }
    }
}

const TensorType kTypes[] = {TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                             TensorType::IQ4_XS};

}  // namespace

TEST(KQuantDotLevels, LevelSwitchClampsAndNames) {
    LevelGuard guard;
    const KDotLevel top = eval::detail::kquantDotSupported();
    EXPECT_EQ(eval::detail::kquantDotLevel(), top);
    eval::detail::setKQuantDotLevel(KDotLevel::Portable);
    EXPECT_EQ(eval::detail::kquantDotLevel(), KDotLevel::Portable);
    eval::detail::setKQuantDotLevel(KDotLevel::Avx512);
    EXPECT_EQ(eval::detail::kquantDotLevel(), top);
    EXPECT_STREQ(eval::detail::kquantDotLevelName(KDotLevel::Avx512), "avx512");
    std::printf("K-quant dot level supported here: %s\n", eval::detail::kquantDotLevelName(top));
}

TEST(KQuantDotLevels, RandomBlocksEveryLevelBitIdentical) {
    // 40 rows: Q4_K repacked, two full groups of 16 and one of 8; 21 rows: vec_dot order and a
    // group of 5. 7 tokens (below the AVX-512 kernels' minimum: AVX2) and 27 (AVX-512): GEMM
    // groups of four and three GEMV tokens.
    static_assert(eval::detail::kAvx512MinTokensRepacked <= 27 &&
                  eval::detail::kAvx512MinTokensVecDot <= 27);
    const int64_t cols = 512;
    for (const int64_t nTok : {7, 27}) {
        const auto x = activations(nTok, cols, 3);
        for (const TensorType t : kTypes) {
            for (const int64_t rows : {40, 21}) {
                const auto bytes = randomBlocks(t, rows, cols, uint32_t(rows) + uint32_t(t));
                expectEveryLevelMatches(t, bytes, rows, cols, x, nTok);
            }
        }
    }
}

TEST(KQuantDotLevels, EncodedRowsEveryLevelBitIdentical) {
    // Encoded weights on the small model's widths; token counts on both sides of the AVX-512
    // kernels' minimum, ragged GEMM groups among them.
    for (const int64_t cols : {768, 2048}) {
        const int64_t rows = cols == 768 ? 48 : 17;
        std::mt19937 rng{uint32_t(cols)};
        std::normal_distribution<float> nd(0.0f, 0.02f);
        std::vector<float> w(size_t(rows * cols));
        for (auto& f : w) f = nd(rng);
        for (const TensorType t : {TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
            const auto bytes = test::encodeWeights(t, w, cols);
            for (const int64_t nTok : {1, 2, 3, 5, 11, 12, 13, 23, 24, 25, 30}) {
                if (cols == 2048 && nTok % 2 == 0) continue;
                const auto x = activations(nTok, cols, uint32_t(nTok));
                expectEveryLevelMatches(t, bytes, rows, cols, x, nTok);
            }
        }
    }
}
