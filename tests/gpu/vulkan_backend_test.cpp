// VulkanBackend against the CPU codecs on lavapipe: decode and encode must be bit-identical
// (golden tensors from ggml, synthetic tensors, forced chunking and 2D grids, edge values).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/type_table.h"
#include "gpu_test_util.h"

namespace qs::gpu::test {
namespace {

using formats::TensorType;

constexpr int64_t kGoldenRow = 4096;

const std::vector<TensorType> kDecodeTypes = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,   TensorType::Q4_0,
    TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K,   TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

const std::vector<TensorType> kEncodeTypes = {TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                                              TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                              TensorType::Q5_1};

/// Golden file stem: ggml's type name in lower case except the K of K-quants ("q4_K").
std::string goldenStem(TensorType t) {
    std::string s(formats::typeName(t));
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s.size() > 2 && s.substr(s.size() - 2) == "_k") s.back() = 'K';
    return s;
}

std::string name(TensorType t) {
    return std::string(formats::typeName(t));
}

/// Index of the first float whose bits differ, or -1.
int64_t firstBitDifference(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return 0;
    for (size_t i = 0; i < a.size(); ++i) {
        uint32_t x, y;
        std::memcpy(&x, &a[i], 4);
        std::memcpy(&y, &b[i], 4);
        if (x != y) return int64_t(i);
    }
    return -1;
}

int64_t firstByteDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    if (a.size() != b.size()) return 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) return int64_t(i);
    }
    return -1;
}

std::vector<float> cpuDecode(TensorType t, const std::vector<uint8_t>& src, int64_t rowLength) {
    const auto& tr = formats::traits(t);
    const int64_t values = int64_t(src.size()) / tr.blockBytes * tr.blockSize;
    std::vector<float> out(static_cast<size_t>(values));
    Status s = formats::decodeRows(t, src, out, rowLength, 1);
    EXPECT_TRUE(s.ok()) << s.error().what();
    return out;
}

std::vector<uint8_t> cpuEncode(TensorType t, const std::vector<float>& src, int64_t rowLength,
                               Status* status = nullptr) {
    const auto& tr = formats::traits(t);
    std::vector<uint8_t> out(src.size() / size_t(tr.blockSize) * size_t(tr.blockBytes));
    Status s = formats::encodeRowsReference(t, src, out, rowLength, nullptr, 1);
    if (status) {
        *status = s;
    } else {
        EXPECT_TRUE(s.ok()) << s.error().what();
    }
    return out;
}

/// Random blocks of type t whose fp16 scale fields (and F16/BF16 values) are finite, so that
/// no NaN reaches the float arithmetic (NaN payloads are not part of the bit-exact contract).
std::vector<uint8_t> randomBlocks(TensorType t, int64_t values, uint32_t seed) {
    const auto& tr = formats::traits(t);
    const int64_t blocks = values / tr.blockSize;
    std::vector<uint8_t> b(size_t(blocks * tr.blockBytes));
    std::mt19937 rng(seed);
    for (auto& v : b) v = uint8_t(rng());
    std::vector<int> halfFields;
    switch (t) {
    case TensorType::F16:
    case TensorType::BF16: halfFields = {0}; break;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K: halfFields = {0, 2}; break;
    case TensorType::Q2_K: halfFields = {80, 82}; break;
    case TensorType::Q3_K: halfFields = {108}; break;
    case TensorType::Q6_K: halfFields = {208}; break;
    case TensorType::F32: break;  // bit copy on both sides: anything goes
    default: halfFields = {0}; break;
    }
    for (int64_t i = 0; i < blocks; ++i) {
        // Clearing the top exponent bit keeps an fp16 (or bf16) finite.
        for (int f : halfFields) b[size_t(i * tr.blockBytes + f + 1)] &= 0xbf;
    }
    return b;
}

// ------------------------------------------------------------------------------------------
// Decode
// ------------------------------------------------------------------------------------------

TEST_F(VulkanFixture, DecodeGoldenBitIdenticalToCpuAndGgml) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    for (const char* set : {"plain", "imat"}) {
        for (TensorType t : kDecodeTypes) {
            SCOPED_TRACE(std::string(set) + " " + name(t));
            std::vector<uint8_t> q;
            std::vector<float> ggml;
            if (t == TensorType::F32) {
                q = readBytes(goldenDir() / "weights.f32");
            } else {
                q = readBytes(goldenDir() / set / (goldenStem(t) + ".q"));
                ggml = readFloats(goldenDir() / set / (goldenStem(t) + ".deq.f32"));
            }
            ASSERT_FALSE(q.empty());
            const std::vector<float> cpu = cpuDecode(t, q, kGoldenRow);
            std::vector<float> gpu(cpu.size(), -1.0f);
            Status s = be->decodeRows(t, q, gpu, kGoldenRow, "golden");
            ASSERT_TRUE(s.ok()) << s.error().what();
            const int64_t diff = firstBitDifference(cpu, gpu);
            EXPECT_EQ(diff, -1) << "first difference at value " << diff << ": cpu "
                                << cpu[size_t(std::max<int64_t>(diff, 0))] << " gpu "
                                << gpu[size_t(std::max<int64_t>(diff, 0))];
            if (!ggml.empty()) EXPECT_EQ(firstBitDifference(ggml, gpu), -1);
        }
    }
}

TEST_F(VulkanFixture, DecodeChunkedAnd2DGridBitIdentical) {
    // 64 KiB bindings hold 16K output floats: a 64 x 4096 tensor takes 16 chunks, and with at
    // most 4 workgroups per dimension every dispatch is a 2D grid.
    m_options.maxChunkBytes = 64 << 10;
    m_options.maxWorkgroupsPerDim = 4;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    struct Shape {
        int64_t rowLength, rows;
    };
    // Rows that fit a chunk; a row larger than a chunk (split at block boundaries); and for
    // plain types an odd row length (partial last unit in every chunk).
    const std::vector<Shape> shapes = {{4096, 64}, {32768, 3}};
    uint32_t seed = 1;
    for (TensorType t : kDecodeTypes) {
        std::vector<Shape> all = shapes;
        if (!formats::traits(t).quantized) all.push_back({4099, 37});
        for (const Shape& sh : all) {
            SCOPED_TRACE(name(t) + " rowLength " + std::to_string(sh.rowLength));
            const auto q = randomBlocks(t, sh.rowLength * sh.rows, seed++);
            const std::vector<float> cpu = cpuDecode(t, q, sh.rowLength);
            std::vector<float> gpu(cpu.size(), -1.0f);
            Status s = be->decodeRows(t, q, gpu, sh.rowLength, "synthetic");
            ASSERT_TRUE(s.ok()) << s.error().what();
            EXPECT_GT(be->lastChunkCount(), 1);
            EXPECT_EQ(firstBitDifference(cpu, gpu), -1);
        }
    }
}

TEST_F(VulkanFixture, DecodeThroughput) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    const int64_t rowLength = 4096, rows = 2048;  // 8M values, 32 MiB of floats
    for (TensorType t : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K,
                         TensorType::F16}) {
        const auto q = randomBlocks(t, rowLength * rows, 7);
        std::vector<float> gpu(size_t(rowLength * rows));
        ASSERT_TRUE(be->decodeRows(t, q, gpu, rowLength, "warmup").ok());  // builds pipeline
        const auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(be->decodeRows(t, q, gpu, rowLength, "timed").ok());
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("[ throughput ] %s decode on %s: %.1f Mvalues/s (%.1f ms for 8M values)\n",
                    name(t).c_str(), be->name().c_str(), double(rowLength * rows) / s / 1e6,
                    s * 1e3);
        EXPECT_EQ(firstBitDifference(cpuDecode(t, q, rowLength), gpu), -1);
    }
}

TEST_F(VulkanFixture, UnsupportedTypesAreCleanBadUsage) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    for (TensorType t : kDecodeTypes) EXPECT_TRUE(be->canDecode(t)) << name(t);
    for (TensorType t : kEncodeTypes) EXPECT_TRUE(be->canEncode(t)) << name(t);
    EXPECT_FALSE(be->canDecode(TensorType::Q8_K));     // no file type: no shader
    EXPECT_FALSE(be->canEncode(TensorType::IQ2_XXS));  // grid search: the CPU's
    EXPECT_FALSE(be->canEncode(TensorType::F32));

    std::vector<uint8_t> q(292 * 4);
    std::vector<float> out(1024);
    Status s = be->decodeRows(TensorType::Q8_K, q, out, 1024, "blk.0.attn_q.weight");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadUsage);
    EXPECT_EQ(s.error().tensor, "blk.0.attn_q.weight");

    std::vector<float> x(256, 0.5f);
    std::vector<uint8_t> y(66);
    s = be->encodeRows(TensorType::IQ2_XXS, x, y, 256, nullptr, "t");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadUsage);

    // Not whole rows.
    s = be->decodeRows(TensorType::Q8_0, std::vector<uint8_t>(35), out, 32, "t");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
}

// ------------------------------------------------------------------------------------------
// Encode
// ------------------------------------------------------------------------------------------

TEST_F(VulkanFixture, EncodeGoldenBitIdenticalToCpuAndGgml) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    const std::vector<float> w = readFloats(goldenDir() / "weights.f32");
    ASSERT_EQ(w.size(), size_t(16 * kGoldenRow));
    for (TensorType t : kEncodeTypes) {
        SCOPED_TRACE(name(t));
        const std::vector<uint8_t> cpu = cpuEncode(t, w, kGoldenRow);
        std::vector<uint8_t> gpu(cpu.size(), 0xee);
        Status s = be->encodeRows(t, w, gpu, kGoldenRow, nullptr, "golden");
        ASSERT_TRUE(s.ok()) << s.error().what();
        EXPECT_EQ(firstByteDifference(cpu, gpu), -1);
        // ggml's own bytes (plain/ is ggml's reference algorithm for these types).
        const std::vector<uint8_t> ggml = readBytes(goldenDir() / "plain" / (goldenStem(t) + ".q"));
        EXPECT_EQ(firstByteDifference(ggml, gpu), -1);
    }
}

TEST_F(VulkanFixture, EncodeImportanceIgnoredWhereGgmlIgnoresIt) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    const std::vector<float> w = readFloats(goldenDir() / "weights.f32");
    const std::vector<float> imp = readFloats(goldenDir() / "imatrix.f32");
    for (TensorType t : {TensorType::Q8_0, TensorType::F16, TensorType::BF16}) {
        const std::vector<uint8_t> cpu = cpuEncode(t, w, kGoldenRow);
        std::vector<uint8_t> gpu(cpu.size());
        ASSERT_TRUE(be->encodeRows(t, w, gpu, kGoldenRow, imp.data(), "t").ok());
        EXPECT_EQ(firstByteDifference(cpu, gpu), -1) << name(t);
    }
}

/// Values that probe every rounding decision: exact halves after scaling, zeros, blocks of one
/// repeated value, fp16-subnormal magnitudes, values near the fp16 maximum, random heavy tails.
std::vector<float> edgeValues(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t b = 0; b < n / 32; ++b) {
        float* y = x.data() + 32 * b;
        const int kind = int(b % 8);
        for (int j = 0; j < 32; ++j) {
            switch (kind) {
            case 0: y[j] = 0.0f; break;
            case 1: y[j] = j == 5 ? -127.0f : float(j % 16) - 7.5f; break;  // many ties
            case 2: y[j] = float(int(rng() % 33) - 16) * 0.5f; break;       // halves
            case 3: y[j] = uni(rng) * 1e-6f; break;                         // fp16 subnormal d
            case 4: y[j] = uni(rng) * 6e4f; break;                          // near fp16 max
            case 5: y[j] = 0.25f; break;                                    // constant block
            case 6: y[j] = uni(rng) * std::pow(10.0f, float(int(rng() % 12) - 8)); break;
            default: y[j] = uni(rng) / (0.01f + std::fabs(uni(rng))); break;
            }
        }
    }
    return x;
}

TEST_F(VulkanFixture, EncodeChunkedEdgeValuesBitIdentical) {
    m_options.maxChunkBytes = 48 << 10;  // 12K input floats per chunk
    m_options.maxWorkgroupsPerDim = 3;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    for (TensorType t : kEncodeTypes) {
        for (int64_t rowLength : {int64_t(4096), int64_t(32768), int64_t(96)}) {
            SCOPED_TRACE(name(t) + " rowLength " + std::to_string(rowLength));
            const int64_t rows = rowLength == 32768 ? 2 : (rowLength == 96 ? 200 : 40);
            const std::vector<float> x = edgeValues(rowLength * rows, uint32_t(rowLength));
            const std::vector<uint8_t> cpu = cpuEncode(t, x, rowLength);
            std::vector<uint8_t> gpu(cpu.size(), 0xee);
            Status s = be->encodeRows(t, x, gpu, rowLength, nullptr, "edge");
            ASSERT_TRUE(s.ok()) << s.error().what();
            EXPECT_GT(be->lastChunkCount(), 1);
            EXPECT_EQ(firstByteDifference(cpu, gpu), -1);
        }
    }
}

TEST_F(VulkanFixture, EncodeF16AndBf16EveryExponent) {
    // Random bit patterns over every finite exponent (fp32 denormals, fp16 subnormal range,
    // rounding ties, the overflow threshold): the integer conversions must equal half.h.
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    std::mt19937 rng(42);
    const int64_t n = 1 << 20;
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        uint32_t bits = rng();
        const uint32_t exp = uint32_t(i % 255);  // 0..254: finite only
        bits = (bits & 0x807fffffu) | (exp << 23);
        if (i % 7 == 0) bits &= 0xffffe000u | (1u << 12);  // exact fp16 ties
        std::memcpy(&x[size_t(i)], &bits, 4);
    }
    for (TensorType t : {TensorType::F16, TensorType::BF16}) {
        // Bits the CPU produces element by element (overflow to inf included, which the row
        // check would otherwise reject), compared with the shader's raw output.
        std::vector<uint8_t> cpu(size_t(2 * n));
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t h = t == TensorType::F16 ? formats::floatToHalf(x[size_t(i)])
                                                    : formats::floatToBf16(x[size_t(i)]);
            std::memcpy(&cpu[size_t(2 * i)], &h, 2);
        }
        std::vector<uint8_t> gpu(cpu.size());
        Status s = be->encodeRows(t, x, gpu, 1024, nullptr, "bits");
        if (!s.ok()) {
            // An overflow row is reported as the CPU would; the bytes were still written.
            EXPECT_EQ(s.error().code, ErrorCode::BadInput) << s.error().what();
        }
        EXPECT_EQ(firstByteDifference(cpu, gpu), -1) << name(t);
    }
}

TEST_F(VulkanFixture, EncodeRejectsNonFiniteAsCpuDoes) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    std::vector<float> x(128, 1.0f);
    x[70] = std::nanf("");
    std::vector<uint8_t> y(4 * 34);
    Status s = be->encodeRows(TensorType::Q8_0, x, y, 64, nullptr, "nan");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
    EXPECT_NE(s.error().message.find("row 1, column 6"), std::string::npos) << s.error().what();

    // A finite value whose Q8_0 scale overflows fp16.
    std::vector<float> big(32, 1e8f);
    std::vector<uint8_t> yb(34);
    Status cpu;
    cpuEncode(TensorType::Q8_0, big, 32, &cpu);
    s = be->encodeRows(TensorType::Q8_0, big, yb, 32, nullptr, "big");
    ASSERT_FALSE(s.ok());
    ASSERT_FALSE(cpu.ok());
    EXPECT_EQ(s.error().code, cpu.error().code);
    EXPECT_EQ(s.error().message, cpu.error().message);
}

}  // namespace
}  // namespace qs::gpu::test
