// The batched kernels of the forward pass's products. The AVX-512 VNNI int8 GEMM of the 32-block
// quants (eval/q8_gemm.h) against the lane-order kernel it replaces (bit for bit, every shape edge:
// rows not a multiple of 4, odd token counts, one token) and against ggml's own
// ggml_vec_dot_q8_0_q8_0 (libggml-cpu-zen4.so of the node-llama-cpp package, dlopened: the kernel
// llama.cpp runs on this CPU), bit for bit. The F16 product's 4 x 4 and 2 x 4 micro-kernels against
// its one-product kernel (a batch of one token).
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "../common/weight_view_util.h"
#include "eval/matmul.h"
#include "eval/q8_gemm.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/type_table.h"

using namespace qs;
using formats::TensorType;

namespace {

std::vector<float> values(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(size_t(rows * cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) * (i % 97 == 5 ? 12.0f : 1.0f);
    // A block of zeros (d = 0) in the first row.
    for (int j = 0; j < 32 && j < cols; ++j) x[size_t(j)] = 0;
    return x;
}

}  // namespace

TEST(Q8Gemm, EqualsLaneOrderKernel) {
    if (!eval::detail::q8GemmAvailable()) GTEST_SKIP() << "CPU without AVX-512 VNNI";
    struct Shape {
        int64_t rows, cols, nTok;
    };
    // 13 and 7 rows: never repacked, so Q4_0 / IQ4_NL take the GEMM too.
    for (const Shape s :
         {Shape{13, 256, 7}, Shape{7, 96, 1}, Shape{13, 64, 12}, Shape{5, 768, 2}}) {
        const auto w = values(s.rows, s.cols, 11);
        const auto x = values(s.nTok, s.cols, 12);
        for (TensorType t :
             {TensorType::Q8_0, TensorType::Q5_0, TensorType::Q4_0, TensorType::IQ4_NL}) {
            SCOPED_TRACE(std::string(formats::typeName(t)) + " rows " + std::to_string(s.rows) +
                         " cols " + std::to_string(s.cols) + " tokens " + std::to_string(s.nTok));
            ASSERT_TRUE(eval::detail::q8GemmType(t, false));
            const auto bytes = test::encodeWeights(t, w, s.cols);
            const auto v = test::weightView(t, bytes, s.rows, s.cols);
            std::vector<float> gemm(size_t(s.nTok * s.rows), -1.0f), lanes(gemm.size(), -2.0f);
            eval::detail::matmulQ8Gemm(v, x.data(), s.nTok, gemm.data(), 2);
            eval::detail::matmulQ8IntLaneOrder(v, x.data(), s.nTok, lanes.data(), 2, false);
            for (size_t i = 0; i < gemm.size(); ++i) {
                ASSERT_EQ(test::floatBits(gemm[i]), test::floatBits(lanes[i])) << "output " << i;
            }
            // And matmul's dispatch takes it.
            std::vector<float> dispatched(gemm.size());
            eval::matmul(v, x.data(), s.nTok, dispatched.data(), 1);
            for (size_t i = 0; i < gemm.size(); ++i)
                ASSERT_EQ(test::floatBits(dispatched[i]), test::floatBits(gemm[i]));
        }
    }
}

TEST(Q8Gemm, EdgeValuesAndTileShapesEqualLaneOrder) {
    // Every micro-kernel width (1 to 5 token pairs), several tiles of pairs and chunks of row
    // groups (1024 columns: 15 pairs per tile), and activations at the quantizer's edges:
    // NaN and inf (quantized to 0 with an infinite scale), values that round to a tie at
    // x * 127 / amax, subnormals, a block of -0, and weights of -128 (Q8_0's full range).
    if (!eval::detail::q8GemmAvailable()) GTEST_SKIP() << "CPU without AVX-512 VNNI";
    struct Shape {
        int64_t rows, cols, nTok;
    };
    for (const Shape s :
         {Shape{4, 64, 1}, Shape{6, 64, 3}, Shape{9, 96, 5}, Shape{11, 64, 7}, Shape{8, 64, 9},
          Shape{7, 128, 13}, Shape{66, 1024, 41}, Shape{130, 256, 64}}) {
        auto w = values(s.rows, s.cols, 51);
        auto x = values(s.nTok, s.cols, 52);
        const int64_t C = s.cols;
        auto set = [&](int64_t t, int64_t j, float f) {
            if (t < s.nTok && j < C) x[size_t(t * C + j)] = f;
        };
        set(0, 40, NAN);
        set(0, 70, 1e-42f);  // subnormal
        for (int j = 0; j < 32; ++j) set(1, 32 + j, -0.0f);
        set(1, 5, INFINITY);
        set(2, 33, -INFINITY);
        // Ties: amax 127 gives id 1, so x.5 values round to even.
        for (int j = 0; j < 32; ++j) set(s.nTok - 1, j, j == 0 ? 127.0f : float(j % 7) - 2.5f);
        std::vector<float> xNoNan = x;
        for (float& f : xNoNan) f = std::isnan(f) ? 0.0f : f;
        auto bytes = test::encodeWeights(TensorType::Q8_0, w, C);
        bytes[2] = 0x80;  // row 0, block 0, first quant: -128
        bytes[size_t(C / 32 * 34) + 10] = 0x80;
        const auto v = test::weightView(TensorType::Q8_0, bytes, s.rows, C);
        SCOPED_TRACE("rows " + std::to_string(s.rows) + " cols " + std::to_string(C) + " tokens " +
                     std::to_string(s.nTok));
        for (int threads : {1, 2}) {
            std::vector<float> gemm(size_t(s.nTok * s.rows), -1.0f), lanes(gemm.size(), -2.0f);
            eval::detail::matmulQ8Gemm(v, x.data(), s.nTok, gemm.data(), threads);
            // The GEMM quantizes a NaN to 0 and leaves it out of the block's maximum (the
            // lane-order kernel would carry it into a NaN product): its reference input has 0
            // there. An infinite activation makes its blocks' products NaN in both.
            eval::detail::matmulQ8IntLaneOrder(v, xNoNan.data(), s.nTok, lanes.data(), threads,
                                               false);
            for (size_t i = 0; i < gemm.size(); ++i) {
                const bool bothNan = std::isnan(gemm[i]) && std::isnan(lanes[i]);
                ASSERT_TRUE(bothNan || test::floatBits(gemm[i]) == test::floatBits(lanes[i]))
                    << "token " << int64_t(i) / s.rows << " row " << int64_t(i) % s.rows << ": "
                    << gemm[i] << " vs " << lanes[i];
            }
        }
    }
}

namespace {
struct GgmlTraitsCpu {
    void (*fromFloat)(const float* x, void* y, int64_t k);
    void (*vecDot)(int n, float* s, size_t bs, const void* x, size_t bx, const void* y, size_t by,
                   int nrc);
    int vecDotType;
    int64_t nrows;
};
}  // namespace

TEST(Q8GemmVsGgml, VecDotQ8_0BitIdentical) {
    if (!eval::detail::q8GemmAvailable()) GTEST_SKIP() << "CPU without AVX-512 VNNI";
    const std::string path = std::string(QS_TEST_DATA_DIR) +
                             "/../js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/"
                             "libggml-cpu-zen4.so";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_TRUE(h) << dlerror();
    auto init = reinterpret_cast<void (*)()>(dlsym(h, "ggml_cpu_init"));
    auto traits =
        reinterpret_cast<const GgmlTraitsCpu* (*)(int)>(dlsym(h, "ggml_get_type_traits_cpu"));
    ASSERT_TRUE(init && traits);
    init();
    const GgmlTraitsCpu* q8 = traits(int(TensorType::Q8_0));
    ASSERT_TRUE(q8 && q8->fromFloat && q8->vecDot);
    ASSERT_EQ(q8->vecDotType, int(TensorType::Q8_0));
    const int64_t rows = 9, cols = 2048, nTok = 5;
    const auto w = values(rows, cols, 31);
    const auto x = values(nTok, cols, 32);
    const auto bytes = test::encodeWeights(TensorType::Q8_0, w, cols);
    const auto v = test::weightView(TensorType::Q8_0, bytes, rows, cols);
    std::vector<float> ours(size_t(nTok * rows));
    eval::matmul(v, x.data(), nTok, ours.data(), 2);
    std::vector<uint8_t> xq(size_t(cols / 32 * 34));
    for (int64_t t = 0; t < nTok; ++t) {
        q8->fromFloat(x.data() + t * cols, xq.data(), cols);
        for (int64_t r = 0; r < rows; ++r) {
            float s = 0;
            q8->vecDot(int(cols), &s, 0, v.storedRow(r).data(), 0, xq.data(), 0, 1);
            EXPECT_EQ(test::floatBits(ours[size_t(t * rows + r)]), test::floatBits(s))
                << "token " << t << " row " << r;
        }
    }
    dlclose(h);
}

TEST(MatmulF16, BatchShapeDoesNotChangeBits) {
    // 11 rows (4 x 4 blocks, then a pair, then one), 9 tokens (two groups of four, then one).
    const int64_t rows = 11, cols = 320, nTok = 9;
    const auto w = values(rows, cols, 41);
    const auto x = values(nTok, cols, 42);
    std::vector<uint8_t> bytes(size_t(rows * cols * 2));
    for (size_t i = 0; i < w.size(); ++i) {
        const uint16_t h = formats::floatToHalf(w[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    const auto v = test::weightView(TensorType::F16, bytes, rows, cols);
    std::vector<float> batch(size_t(nTok * rows));
    eval::matmul(v, x.data(), nTok, batch.data(), 2);
    for (int64_t t = 0; t < nTok; ++t) {
        std::vector<float> one(static_cast<size_t>(rows));
        eval::matmul(v, x.data() + t * cols, 1, one.data(), 1);
        for (int64_t r = 0; r < rows; ++r) {
            ASSERT_EQ(test::floatBits(batch[size_t(t * rows + r)]), test::floatBits(one[size_t(r)]))
                << "token " << t << " row " << r;
        }
    }
}
