// The K-quant encoders' SIMD scale searches (formats/codecs/kquants/search_simd.h) against the
// scalar reference, at every dispatch level this CPU runs: the bytes must be identical on
// random and heavy-tailed rows, on all-zero, constant, tiny and huge-range blocks and on
// importance with zeros; and against ggml's own quantizer (libggml-base.so) when installed.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "formats/codecs/kquants/kquants.h"
#include "formats/codecs/kquants/search_simd.h"
#include "formats/encoders.h"
#include "formats/type_table.h"

namespace {

using qs::formats::TensorType;
using qs::formats::detail::KSimdLevel;

constexpr int64_t kQK = 256;

const TensorType kTypes[] = {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                             TensorType::Q6_K};

/// The levels this CPU runs, scalar first.
std::vector<KSimdLevel> levels() {
    std::vector<KSimdLevel> out;
    for (int l = 0; l <= int(qs::formats::detail::kquantSimdSupported()); ++l) {
        out.push_back(KSimdLevel(l));
    }
    return out;
}

/// Restores the dispatch level when a test ends.
struct LevelGuard {
    KSimdLevel saved = qs::formats::detail::kquantSimdLevel();
    ~LevelGuard() { qs::formats::detail::setKQuantSimdLevel(saved); }
};

/// Rows of 1024 values, one kind of super-block after the other: gaussian, heavy-tailed
/// (student-t like), all zero, constant (positive and negative), tiny (1e-20 .. 1e-30),
/// huge range (1e-8 next to 1e4), a single spike, all positive, all negative, subnormals,
/// and sub-blocks where one half is zero.
std::vector<float> nastyRows(int rows, uint32_t seed) {
    constexpr int64_t cols = 1024;
    std::mt19937 rng(seed);
    std::normal_distribution<float> gauss(0.f, 1.f);
    std::uniform_real_distribution<float> uni(0.f, 1.f);
    std::vector<float> x(size_t(rows * cols));
    const int64_t blocks = rows * cols / kQK;
    for (int64_t b = 0; b < blocks; ++b) {
        float* y = x.data() + b * kQK;
        const int kind = int((b + seed) % 12);
        const float scale = std::pow(10.f, float(int(rng() % 8) - 4));
        for (int64_t i = 0; i < kQK; ++i) {
            const float g = gauss(rng);
            float v = 0;
            switch (kind) {
            case 0: v = g * scale; break;
            case 1: v = g / std::sqrt(std::max(1e-3f, uni(rng))) * scale; break;
            case 2: v = 0.f; break;
            case 3: v = (b % 2 ? 0.37f : -2.5f) * scale; break;
            case 4: v = g * 1e-20f * std::pow(10.f, -float(i % 11)); break;
            case 5: v = g * (i % 3 == 0 ? 1e4f : 1e-8f); break;
            case 6: v = i == int64_t(b % kQK) ? 50.f * scale : 0.f; break;
            case 7: v = std::fabs(g) * scale; break;
            case 8: v = -std::fabs(g) * scale; break;
            case 9: v = g * 1e-41f; break;
            case 10: v = (i / 8) % 2 ? 0.f : g * scale; break;
            default: v = std::round(g * 3.f) * scale; break;
            }
            y[i] = v;
        }
    }
    return x;
}

/// Importance of 1024 columns with zeros, tiny and large values.
std::vector<float> nastyImportance(uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uni(0.f, 1.f);
    std::vector<float> w(1024);
    for (size_t i = 0; i < w.size(); ++i) {
        const float u = uni(rng);
        w[i] = (i / 64) % 5 == 0 ? 0.f : (i % 7 == 0 ? 1e-12f : u * u * 100.f);
    }
    for (size_t i = 512; i < 544; ++i) w[i] = 0.f;  // a whole Q4_K sub-block of zeros
    return w;
}

std::vector<uint8_t> encode(TensorType t, const std::vector<float>& x, int64_t cols,
                            const float* imp, bool reference) {
    std::vector<uint8_t> out(*qs::formats::byteSize(t, x.size()));
    const qs::Status st = reference ? qs::formats::encodeRowsReference(t, x, out, cols, imp, 1)
                                    : qs::formats::encodeRows(t, x, out, cols, imp, 1);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().what());
    return out;
}

std::string firstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    if (a.size() != b.size()) return "sizes differ";
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) return "first difference at byte " + std::to_string(i);
    }
    return {};
}

TEST(KQuantSimd, LevelSwitchClampsAndNames) {
    LevelGuard guard;
    const KSimdLevel top = qs::formats::detail::kquantSimdSupported();
    EXPECT_EQ(qs::formats::detail::kquantSimdLevel(), top);
    qs::formats::detail::setKQuantSimdLevel(KSimdLevel::Scalar);
    EXPECT_EQ(qs::formats::detail::kquantSimdLevel(), KSimdLevel::Scalar);
    qs::formats::detail::setKQuantSimdLevel(KSimdLevel::Avx512);
    EXPECT_EQ(qs::formats::detail::kquantSimdLevel(), top);
    EXPECT_STREQ(qs::formats::detail::kquantSimdLevelName(KSimdLevel::Avx2), "avx2");
    std::printf("K-quant SIMD level supported here: %s\n",
                qs::formats::detail::kquantSimdLevelName(top));
}

TEST(KQuantSimd, EveryLevelByteIdenticalToScalarReference) {
    LevelGuard guard;
    const auto imp = nastyImportance(5);
    for (uint32_t seed = 1; seed <= 2; ++seed) {
        // 13 rows of 1024: 52 super-blocks, so the chunks of 8 and the lanes of 16 end ragged.
        const auto x = nastyRows(13, seed);
        for (const TensorType t : kTypes) {
            for (const float* w : {static_cast<const float*>(nullptr), imp.data()}) {
                const auto ref = encode(t, x, 1024, w, true);
                for (const KSimdLevel level : levels()) {
                    qs::formats::detail::setKQuantSimdLevel(level);
                    SCOPED_TRACE(std::string(qs::formats::typeName(t)) + " " +
                                 qs::formats::detail::kquantSimdLevelName(level) +
                                 (w ? " imat" : " plain") + " seed " + std::to_string(seed));
                    EXPECT_EQ(firstDifference(encode(t, x, 1024, w, false), ref), "");
                }
            }
        }
    }
}

/// The batched searches directly, on every group count from 1 to 40 (every ragged batch
/// tail): levels, scales and mins against the scalar searches, bit for bit.
TEST(KQuantSimd, BatchedSearchesMatchScalarOnRaggedCounts) {
    namespace d = qs::formats::detail;
    const auto x = nastyRows(2, 9);  // 2048 values
    std::vector<float> w(x.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::fabs(x[i]) + float(i % 3);
    for (const KSimdLevel level : levels()) {
        SCOPED_TRACE(d::kquantSimdLevelName(level));
        for (int count = 1; count <= 40; ++count) {
            const int n = count % 2 ? 32 : 16;
            const float* xs = x.data() + 16 * count;  // a different window each time
            const float* ws = w.data() + 16 * count;
            std::vector<uint8_t> La(size_t(count * n)), Lb(size_t(count * n));
            const size_t c = size_t(count);
            std::vector<float> sa(c), sb(c), ma(c), mb(c);
            d::searchScaleMinBatch(level, count, n, 15, xs, ws, La.data(), sa.data(), ma.data(),
                                   -0.9f, 0.05f, 36, false);
            d::searchScaleMinBatch(KSimdLevel::Scalar, count, n, 15, xs, ws, Lb.data(), sb.data(),
                                   mb.data(), -0.9f, 0.05f, 36, false);
            EXPECT_EQ(La, Lb) << count;
            EXPECT_EQ(0, std::memcmp(sa.data(), sb.data(), sa.size() * 4)) << count;
            EXPECT_EQ(0, std::memcmp(ma.data(), mb.data(), ma.size() * 4)) << count;
            std::vector<int8_t> Ia(size_t(count * n)), Ib(size_t(count * n));
            d::searchScaleSymBatch(level, count, n, 32, xs, nullptr, Ia.data(), sa.data());
            d::searchScaleSymBatch(KSimdLevel::Scalar, count, n, 32, xs, nullptr, Ib.data(),
                                   sb.data());
            EXPECT_EQ(Ia, Ib) << count;
            EXPECT_EQ(0, std::memcmp(sa.data(), sb.data(), sa.size() * 4)) << count;
            d::fitQ3GroupBatch(level, count, n, 4, xs, Ia.data(), sa.data());
            d::fitQ3GroupBatch(KSimdLevel::Scalar, count, n, 4, xs, Ib.data(), sb.data());
            EXPECT_EQ(Ia, Ib) << count;
            EXPECT_EQ(0, std::memcmp(sa.data(), sb.data(), sa.size() * 4)) << count;
        }
    }
}

/// Q3_K plain's fused AVX-512 kernel (four super-blocks interleaved, then one at a time) on
/// the cases its own code paths take: super-blocks where some sub-blocks' quantized scale is 0
/// (they keep the search's levels), flat sub-blocks (levels 0), all-zero super-blocks (d = 0),
/// ties for the largest scale with opposite signs, values whose super-scale overflows fp16
/// (d = inf, so d * 0 is NaN), huge values (x^3 overflows), subnormals, on 1 to 9 super-blocks
/// per row (every split of the groups of four), at every level against the scalar reference.
TEST(KQuantSimd, Q3KPlainFusedKernelEdgeCases) {
    LevelGuard guard;
    std::mt19937 rng(17);
    std::normal_distribution<float> gauss(0.f, 1.f);
    const int kinds = 9;
    for (int blocks = 1; blocks <= 9; ++blocks) {
        std::vector<float> x(size_t(blocks) * kQK);
        for (int b = 0; b < blocks; ++b) {
            float* y = x.data() + int64_t(b) * kQK;
            const int kind = (b + blocks) % kinds;
            for (int i = 0; i < kQK; ++i) {
                const int g = i / 16;
                const float v = gauss(rng);
                switch (kind) {
                case 0: y[i] = v; break;
                case 1: y[i] = g == 3 ? v * 1e3f : (g == 5 ? v * 1e-6f : v); break;  // sc 0
                case 2: y[i] = g % 4 == 1 ? 0.f : v; break;                          // flat
                case 3: y[i] = 0.f; break;
                case 4: y[i] = g == 2 ? -y[i - 32] : v; break;  // g 2 = -(g 0): a tie
                case 5: y[i] = v * 4e8f; break;                 // fp16 d overflows
                case 6: y[i] = g % 2 ? v * 1e25f : v; break;    // x^3 overflows
                case 7: y[i] = v * 1e-40f; break;               // subnormal
                default: y[i] = g == 7 ? 1e-16f * v : std::round(v * 2.f); break;
                }
            }
        }
        // The encoders themselves: encodeRows would refuse the rows with an infinite scale.
        const int64_t n = int64_t(x.size());
        std::vector<uint8_t> ref(size_t(blocks) * sizeof(qs::formats::blocks::BlockQ3_K));
        qs::formats::detail::encodeQ3_KRef(x.data(), ref.data(), n, nullptr);
        for (const KSimdLevel level : levels()) {
            qs::formats::detail::setKQuantSimdLevel(level);
            SCOPED_TRACE(std::string(qs::formats::detail::kquantSimdLevelName(level)) + ", " +
                         std::to_string(blocks) + " blocks");
            std::vector<uint8_t> out(ref.size(), 0xAB);
            qs::formats::detail::encodeQ3_K(x.data(), out.data(), n, nullptr);
            EXPECT_EQ(firstDifference(out, ref), "");
        }
    }
}

// ggml_quantize_chunk from llama.cpp's libggml-base.so (node-llama-cpp's build), test-only.
using GgmlQuantizeChunk = size_t (*)(int type, const float* src, void* dst, int64_t start,
                                     int64_t nrows, int64_t nPerRow, const float* imatrix);

std::string ggmlPath() {
    return std::string(QS_TEST_DATA_DIR) +
           "/../js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";
}

TEST(KQuantSimd, EveryLevelByteIdenticalToGgml) {
    if (!std::filesystem::exists(ggmlPath())) GTEST_SKIP() << "no " << ggmlPath();
    void* h = dlopen(ggmlPath().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << dlerror();
    const auto quantize = reinterpret_cast<GgmlQuantizeChunk>(dlsym(h, "ggml_quantize_chunk"));
    ASSERT_NE(quantize, nullptr);
    LevelGuard guard;
    const auto x = nastyRows(6, 3);
    const auto imp = nastyImportance(8);
    for (const TensorType t : kTypes) {
        for (const float* w : {static_cast<const float*>(nullptr), imp.data()}) {
            std::vector<uint8_t> ggml(*qs::formats::byteSize(t, x.size()));
            quantize(int(t), x.data(), ggml.data(), 0, int64_t(x.size()) / 1024, 1024, w);
            for (const KSimdLevel level : levels()) {
                qs::formats::detail::setKQuantSimdLevel(level);
                SCOPED_TRACE(std::string(qs::formats::typeName(t)) + " " +
                             qs::formats::detail::kquantSimdLevelName(level) +
                             (w ? " imat" : " plain"));
                EXPECT_EQ(firstDifference(encode(t, x, 1024, w, false), ggml), "");
            }
        }
    }
    dlclose(h);
}

}  // namespace
