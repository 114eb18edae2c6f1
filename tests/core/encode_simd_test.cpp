// The vectorised encoders (AVX2, AVX-512) against the scalar reference, byte for byte, at every
// SIMD level this machine runs (each forced in turn through the internal switch), on random
// and heavy-tailed rows built to hit the edge cases: all-zero, constant, tiny and huge-range
// blocks, single spikes, and importance vectors with zeros.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "formats/codecs/encode_simd.h"
#include "formats/codecs/legacy/legacy.h"
#include "formats/codecs/plain/plain.h"
#include "formats/type_table.h"

namespace {

using qs::formats::TensorType;
using qs::formats::detail::EncodeSimdLevel;

constexpr int64_t kRowLength = 1024;  // 4 super-blocks of 256, 32 blocks of 32

/// Restores the CPU's best level when a test ends, pass or fail.
struct LevelGuard {
    ~LevelGuard() { qs::formats::detail::resetEncodeSimdLevel(); }
};

/// The levels to compare: every level up to the CPU's best.
std::vector<EncodeSimdLevel> levels() {
    std::vector<EncodeSimdLevel> out;
    for (int l = 0; l <= int(qs::formats::detail::cpuEncodeSimdLevel()); ++l) {
        out.push_back(EncodeSimdLevel(l));
    }
    return out;
}

/// Rows whose 32-value blocks cycle through the hard cases.
std::vector<float> hardRows(int rows, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    std::vector<float> x(size_t(rows) * kRowLength);
    for (size_t b = 0; b < x.size() / 32; ++b) {
        float* xb = x.data() + 32 * b;
        const int kind = int(rng() % 12);
        for (int j = 0; j < 32; ++j) {
            float v = normal(rng);
            switch (kind) {
            case 0:  // all zero
                v = 0.f;
                break;
            case 1:  // constant (positive or negative)
                v = (b % 2 ? -0.37f : 2.5f);
                break;
            case 2:  // tiny: around and below ggml's GROUP_MAX_EPS, subnormals
                v = uni(rng) * (j % 2 ? 1e-15f : 1e-39f);
                break;
            case 3:  // huge range within a block
                v = (j % 3 == 0 ? 1e9f : 1e-9f) * uni(rng);
                break;
            case 4:  // heavy tail: Cauchy-like
                v = std::tan(1.55f * uni(rng));
                break;
            case 5:  // one spike among zeros
                v = (j == int(b % 32) ? -7.f : 0.f);
                break;
            case 6:  // integers (exact ties of the table and rounding)
                v = float(int(rng() % 17) - 8);
                break;
            case 7:  // large magnitude
                v *= 3e4f;
                break;
            case 8:  // all positive
                v = std::fabs(v);
                break;
            case 9:  // all negative with a few zeros
                v = j % 5 == 0 ? 0.f : -std::fabs(v);
                break;
            default:  // plain Gaussian
                break;
            }
            xb[j] = v;
        }
    }
    return x;
}

/// An importance row with zeros: single zeros, whole zero blocks, and a wide dynamic range.
std::vector<float> hardImportance(uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uni(0.f, 1.f);
    std::vector<float> w(kRowLength);
    for (int64_t i = 0; i < kRowLength; ++i) {
        const int64_t block = i / 32;
        float v = uni(rng);
        if (block % 7 == 3) v = 0.f;         // a whole block without importance
        if (i % 11 == 0) v = 0.f;            // scattered zeros
        if (block % 5 == 1) v *= 1e6f;       // wide range
        if (block % 9 == 2) v = 1e-30f * v;  // tiny
        w[size_t(i)] = v;
    }
    return w;
}

void expectAllLevelsEqualReference(TensorType type) {
    const auto& t = qs::formats::traits(type);
    ASSERT_NE(t.encode, nullptr);
    ASSERT_NE(t.encodeReference, nullptr);
    LevelGuard guard;
    const int rows = 24;
    const auto x = hardRows(rows, 1234u + uint32_t(type));
    const auto imp = hardImportance(99u + uint32_t(type));
    const size_t rowBytes = size_t(*qs::formats::byteSize(type, kRowLength));
    for (const bool withImp : {false, true}) {
        const float* w = withImp ? imp.data() : nullptr;
        std::vector<uint8_t> ref(rowBytes * rows);
        for (int r = 0; r < rows; ++r) {
            t.encodeReference(x.data() + r * kRowLength, ref.data() + r * rowBytes, kRowLength, w);
        }
        // The reference entry point and the Scalar level's fast entry point are both scalar.
        std::vector<uint8_t> scalar(ref.size());
        ASSERT_EQ(qs::formats::detail::forceEncodeSimdLevel(EncodeSimdLevel::Scalar),
                  EncodeSimdLevel::Scalar);
        for (int r = 0; r < rows; ++r) {
            t.encode(x.data() + r * kRowLength, scalar.data() + r * rowBytes, kRowLength, w);
        }
        ASSERT_TRUE(scalar == ref) << t.name << ": scalar fast path differs from the reference";
        for (const EncodeSimdLevel level : levels()) {
            ASSERT_EQ(qs::formats::detail::forceEncodeSimdLevel(level), level);
            std::vector<uint8_t> out(ref.size(), 0xAB);
            for (int r = 0; r < rows; ++r) {
                t.encode(x.data() + r * kRowLength, out.data() + r * rowBytes, kRowLength, w);
            }
            // Row lengths that leave a partial group of blocks (the vector kernels work on
            // groups of up to 16 blocks): the whole input as one long row minus a few blocks.
            if (t.blockSize == 32 && !withImp) {
                const int64_t n = int64_t(x.size()) - 32 * 5;
                const size_t bytes = size_t(*qs::formats::byteSize(type, uint64_t(n)));
                std::vector<uint8_t> a(bytes), b(bytes);
                t.encodeReference(x.data(), a.data(), n, nullptr);
                t.encode(x.data(), b.data(), n, nullptr);
                EXPECT_TRUE(a == b) << t.name << " n=" << n << " level "
                                    << qs::formats::detail::encodeSimdLevelName(level);
            }
            for (size_t i = 0; i < out.size(); ++i) {
                if (out[i] != ref[i]) {
                    ADD_FAILURE() << t.name << (withImp ? " imat" : " plain") << " level "
                                  << qs::formats::detail::encodeSimdLevelName(level)
                                  << ": first differing byte " << i << " (row " << i / rowBytes
                                  << ", byte " << i % rowBytes << "): " << int(out[i]) << " vs "
                                  << int(ref[i]);
                    break;
                }
            }
        }
    }
}

TEST(EncodeSimd, LevelSwitchClampsToTheCpu) {
    LevelGuard guard;
    const EncodeSimdLevel cpu = qs::formats::detail::cpuEncodeSimdLevel();
    EXPECT_EQ(qs::formats::detail::encodeSimdLevel(), cpu);
    EXPECT_EQ(qs::formats::detail::forceEncodeSimdLevel(EncodeSimdLevel::Scalar),
              EncodeSimdLevel::Scalar);
    EXPECT_EQ(qs::formats::detail::forceEncodeSimdLevel(EncodeSimdLevel::Avx512), cpu);
    qs::formats::detail::resetEncodeSimdLevel();
    EXPECT_EQ(qs::formats::detail::encodeSimdLevel(), cpu);
    std::printf("[ info ] CPU encode SIMD level: %s\n",
                qs::formats::detail::encodeSimdLevelName(cpu));
}

TEST(EncodeSimd, IQ4_NLEveryLevelEqualsReference) {
    expectAllLevelsEqualReference(TensorType::IQ4_NL);
}
TEST(EncodeSimd, IQ4_XSEveryLevelEqualsReference) {
    expectAllLevelsEqualReference(TensorType::IQ4_XS);
}

TEST(EncodeSimd, LegacyEveryLevelEqualsReference) {
    for (const TensorType t : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
                               TensorType::Q5_0, TensorType::Q5_1}) {
        expectAllLevelsEqualReference(t);
    }
}

/// The legacy plain encoders fused with the input check (what encodeRows runs): the reference
/// bytes and rowMaxAbsBits' answer at every level; NaN and Inf rows are reported, not crashed on.
TEST(EncodeSimd, LegacyFusedCheckEveryLevel) {
    LevelGuard guard;
    using Fn = uint32_t (*)(const float*, uint8_t*, int64_t);
    const std::pair<TensorType, Fn> fns[] = {
        {TensorType::Q8_0, qs::formats::detail::encodeQ8_0MaxAbs},
        {TensorType::Q4_0, qs::formats::detail::encodeQ4_0MaxAbs},
        {TensorType::Q4_1, qs::formats::detail::encodeQ4_1MaxAbs},
        {TensorType::Q5_0, qs::formats::detail::encodeQ5_0MaxAbs},
        {TensorType::Q5_1, qs::formats::detail::encodeQ5_1MaxAbs}};
    const auto x = hardRows(4, 555u);
    for (const auto& [type, fn] : fns) {
        const auto& t = qs::formats::traits(type);
        for (const int64_t n : {int64_t(x.size()), int64_t(x.size()) - 32 * 7, int64_t(32)}) {
            const size_t bytes = size_t(*qs::formats::byteSize(type, uint64_t(n)));
            std::vector<uint8_t> ref(bytes);
            t.encodeReference(x.data(), ref.data(), n, nullptr);
            const uint32_t refMax = qs::formats::detail::rowMaxAbsBits(x.data(), n);
            for (const EncodeSimdLevel level : levels()) {
                qs::formats::detail::forceEncodeSimdLevel(level);
                std::vector<uint8_t> out(bytes, 0xAB);
                EXPECT_EQ(fn(x.data(), out.data(), n), refMax) << t.name << " n=" << n;
                EXPECT_TRUE(out == ref) << t.name << " n=" << n << " "
                                        << qs::formats::detail::encodeSimdLevelName(level);
                for (const float bad : {NAN, INFINITY, -INFINITY}) {
                    auto y = std::vector<float>(x.begin(), x.begin() + n);
                    y[size_t(n / 2)] = bad;
                    EXPECT_GE(fn(y.data(), out.data(), n), 0x7f800000u) << t.name << " " << bad;
                }
            }
        }
    }
}

/// The legacy plain kernels' per-block extremes, 16 blocks at a time: blocks where +a and -a
/// both occur (either first, at any position: Q4_0/Q5_0 take the first), several values of the
/// largest magnitude, zero blocks of +0 and -0 in either order, zero extremes next to values of
/// one sign (Q4_1/Q5_1 take the sign of the first zero), the extreme in the last position; on
/// 40 blocks (two groups of 16 and a tail), at every level, against the reference.
TEST(EncodeSimd, LegacySignedExtremesEveryLevel) {
    LevelGuard guard;
    std::mt19937 rng(77);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    const int blocks = 40;
    std::vector<float> x(size_t(blocks) * 32);
    for (int b = 0; b < blocks; ++b) {
        float* xb = x.data() + 32 * b;
        for (int j = 0; j < 32; ++j) xb[j] = uni(rng);
        const int p = int(rng() % 32), q = int((p + 1 + rng() % 31) % 32);
        switch (b % 10) {
        case 0: xb[p] = 3.f, xb[q] = -3.f; break;  // +a and -a
        case 1: xb[p] = -3.f, xb[q] = 3.f, xb[(q + 5) % 32] = -3.f; break;
        case 2: xb[31] = -2.f; break;  // extreme last
        case 3:                        // -0 before +0
            for (int j = 0; j < 32; ++j) xb[j] = j < p ? -0.f : 0.f;
            break;
        case 4:  // +0 before -0
            for (int j = 0; j < 32; ++j) xb[j] = j < p ? 0.f : -0.f;
            break;
        case 5:  // non-negative with zeros of both signs: the min is a zero
            for (int j = 0; j < 32; ++j) xb[j] = j == p ? -0.f : (j == q ? 0.f : std::fabs(xb[j]));
            break;
        case 6:  // non-positive with zeros: the max is a zero
            for (int j = 0; j < 32; ++j) xb[j] = j == p ? -0.f : (j == q ? 0.f : -std::fabs(xb[j]));
            break;
        case 7: xb[p] = 1.f, xb[q] = 1.f; break;  // the same largest value twice
        case 8:                                   // integers: many +-8 ties
            for (int j = 0; j < 32; ++j) xb[j] = float(int(rng() % 17) - 8);
            break;
        default: break;
        }
    }
    using Fn = uint32_t (*)(const float*, uint8_t*, int64_t);
    const std::pair<TensorType, Fn> fns[] = {
        {TensorType::Q8_0, qs::formats::detail::encodeQ8_0MaxAbs},
        {TensorType::Q4_0, qs::formats::detail::encodeQ4_0MaxAbs},
        {TensorType::Q4_1, qs::formats::detail::encodeQ4_1MaxAbs},
        {TensorType::Q5_0, qs::formats::detail::encodeQ5_0MaxAbs},
        {TensorType::Q5_1, qs::formats::detail::encodeQ5_1MaxAbs}};
    const int64_t n = int64_t(x.size());
    for (const auto& [type, fn] : fns) {
        const auto& t = qs::formats::traits(type);
        const size_t bytes = size_t(*qs::formats::byteSize(type, uint64_t(n)));
        std::vector<uint8_t> ref(bytes);
        t.encodeReference(x.data(), ref.data(), n, nullptr);
        for (const EncodeSimdLevel level : levels()) {
            qs::formats::detail::forceEncodeSimdLevel(level);
            std::vector<uint8_t> out(bytes, 0xAB);
            EXPECT_EQ(fn(x.data(), out.data(), n), qs::formats::detail::rowMaxAbsBits(x.data(), n));
            for (size_t i = 0; i < bytes; ++i) {
                if (out[i] != ref[i]) {
                    ADD_FAILURE() << t.name << " "
                                  << qs::formats::detail::encodeSimdLevelName(level)
                                  << ": first differing byte " << i << " (block "
                                  << i / size_t(t.blockBytes) << ")";
                    break;
                }
            }
        }
    }
}

/// F16 / BF16 with the fused input check: bytes and the returned max |x| bits at every level,
/// on lengths that leave a tail, over normal, subnormal, overflowing, infinite and NaN values.
TEST(EncodeSimd, HalfAndBf16EveryLevelEqualsScalar) {
    LevelGuard guard;
    std::vector<float> x = hardRows(2, 77u);
    const float specials[] = {65504.f,  65519.f,   65520.f, 1e5f,       -65520.f,   6.1e-5f,
                              6.0e-8f,  2.9e-8f,   3.0e-8f, -5.96e-8f,  1e-45f,     -0.f,
                              INFINITY, -INFINITY, NAN,     3.3895e38f, 1.0009766f, 1.0014648f};
    for (size_t i = 0; i < std::size(specials); ++i) x[7 * i + 3] = specials[i];
    for (size_t i = 0; i < x.size(); i += 97) {
        uint32_t bits = uint32_t(i) * 2654435761u;  // arbitrary bit patterns, NaNs included
        std::memcpy(&x[i], &bits, 4);
    }
    using Fn = uint32_t (*)(const float*, uint8_t*, int64_t);
    const std::pair<const char*, Fn> fns[] = {{"F16", qs::formats::detail::encodeF16MaxAbs},
                                              {"BF16", qs::formats::detail::encodeBF16MaxAbs}};
    for (const auto& [name, fn] : fns) {
        for (const int64_t n : {int64_t(x.size()), int64_t(x.size()) - 13, int64_t(5)}) {
            qs::formats::detail::forceEncodeSimdLevel(EncodeSimdLevel::Scalar);
            std::vector<uint8_t> ref(size_t(2 * n));
            const uint32_t refMax = fn(x.data(), ref.data(), n);
            for (const EncodeSimdLevel level : levels()) {
                qs::formats::detail::forceEncodeSimdLevel(level);
                std::vector<uint8_t> out(ref.size(), 0xAB);
                EXPECT_EQ(fn(x.data(), out.data(), n), refMax)
                    << name << " n=" << n << " " << qs::formats::detail::encodeSimdLevelName(level);
                EXPECT_TRUE(out == ref)
                    << name << " n=" << n << " " << qs::formats::detail::encodeSimdLevelName(level);
                EXPECT_EQ(qs::formats::detail::rowMaxAbsBits(x.data(), n), refMax)
                    << "rowMaxAbsBits n=" << n << " "
                    << qs::formats::detail::encodeSimdLevelName(level);
            }
        }
    }
}

}  // namespace
