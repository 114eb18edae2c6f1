// The Vulkan backend on the types of issue 18: decoders for the grid i-quants (IQ1_S, IQ1_M,
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S), the ternary TQ1_0/TQ2_0, MXFP4, NVFP4, Q1_0 and
// Q2_0, bit-identical to the CPU decoders (hence ggml's to_float); encoders for the
// round-to-nearest ones (TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0), byte-identical to the CPU
// encoders (hence ggml's quantize_row_*_ref). The grid searches stay on the CPU: the backend
// refuses them and a whole export through the engine writes the CPU's bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "gpu_test_util.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "synth/synth.h"

namespace qs::gpu::test {
namespace {

using formats::TensorType;

constexpr int64_t kGoldenRow = 4096;

const std::vector<TensorType> kGridTypes = {
    TensorType::IQ1_S, TensorType::IQ1_M,   TensorType::IQ2_XXS, TensorType::IQ2_XS,
    TensorType::IQ2_S, TensorType::IQ3_XXS, TensorType::IQ3_S};
const std::vector<TensorType> kLowBitTypes = {TensorType::TQ1_0, TensorType::TQ2_0,
                                              TensorType::MXFP4, TensorType::NVFP4,
                                              TensorType::Q1_0,  TensorType::Q2_0};

std::vector<TensorType> newDecodeTypes() {
    std::vector<TensorType> all = kGridTypes;
    all.insert(all.end(), kLowBitTypes.begin(), kLowBitTypes.end());
    return all;
}

std::string name(TensorType t) {
    return std::string(formats::typeName(t));
}

std::string stem(TensorType t) {
    std::string s = name(t);
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

int64_t firstBitDifference(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], 4) != 0) return int64_t(i);
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
    std::vector<float> out(size_t(int64_t(src.size()) / tr.blockBytes * tr.blockSize));
    Status s = formats::decodeRows(t, src, out, rowLength, 1);
    EXPECT_TRUE(s.ok()) << s.error().what();
    return out;
}

std::vector<uint8_t> cpuEncode(TensorType t, const std::vector<float>& src, int64_t rowLength,
                               const float* importance = nullptr) {
    const auto& tr = formats::traits(t);
    std::vector<uint8_t> out(src.size() / size_t(tr.blockSize) * size_t(tr.blockBytes));
    Status s = formats::encodeRows(t, src, out, rowLength, importance, 1);
    EXPECT_TRUE(s.ok()) << s.error().what();
    return out;
}

/// Random blocks whose fp16 scales are finite (every other byte pattern is a valid block;
/// MXFP4's E8M0 takes all 256 exponents, 2^-128 to 2^127, and NVFP4's UE4M3 all bytes).
std::vector<uint8_t> randomBlocks(TensorType t, int64_t values, uint32_t seed) {
    const auto& tr = formats::traits(t);
    const int64_t blocks = values / tr.blockSize;
    std::vector<uint8_t> b(size_t(blocks * tr.blockBytes));
    std::mt19937 rng(seed);
    for (auto& v : b) v = uint8_t(rng());
    int half = 0;  // byte offset of the fp16 scale, -1 for none
    switch (t) {
    case TensorType::TQ1_0: half = 52; break;
    case TensorType::TQ2_0: half = 64; break;
    case TensorType::IQ1_M: half = 54; break;  // the scale's top nibble is in sc[3]'s top
    case TensorType::MXFP4:
    case TensorType::NVFP4: half = -1; break;
    default: break;
    }
    for (int64_t i = 0; half >= 0 && i < blocks; ++i) {
        b[size_t(i * tr.blockBytes + half + 1)] &= 0xbf;
    }
    return b;
}

const std::vector<float>& goldenWeights() {
    static const std::vector<float> w = readFloats(goldenDir() / "weights.f32");
    return w;
}

// ------------------------------------------------------------------------------------------
// Decode
// ------------------------------------------------------------------------------------------

TEST_F(VulkanFixture, DecodeIssue18TypesGoldenBitIdentical) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    for (TensorType t : newDecodeTypes()) EXPECT_TRUE(be->canDecode(t)) << name(t);
    int checkedGgml = 0;
    for (TensorType t : newDecodeTypes()) {
        for (const char* set : {"plain", "imat"}) {
            SCOPED_TRACE(name(t) + " " + set);
            std::vector<uint8_t> q = readBytes(goldenDir() / set / (stem(t) + ".q"));
            std::vector<float> ggml = readFloats(goldenDir() / set / (stem(t) + ".deq.f32"));
            if (q.empty()) {
                // ggml refuses IQ1_S, IQ2_XXS and IQ2_XS without an imatrix.
                const bool imat = std::string(set) == "imat";
                if (!imat && std::count(kGridTypes.begin(), kGridTypes.end(), t)) continue;
                // No ggml file (NVFP4, Q1_0, Q2_0): the CPU encoder's bytes, byte-identical
                // to ggml's (tests/core/encoders_test.cpp).
                const std::vector<float> imp = readFloats(goldenDir() / "imatrix.f32");
                q = cpuEncode(t, goldenWeights(), kGoldenRow, imat ? imp.data() : nullptr);
            } else {
                ++checkedGgml;
            }
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
    // 10 types x imat + 7 plain files of ggml's own bytes.
    EXPECT_GE(checkedGgml, 17);
}

TEST_F(VulkanFixture, DecodeIssue18TypesRandomBlocksChunkedAnd2DGrid) {
    m_options.maxChunkBytes = 64 << 10;
    m_options.maxWorkgroupsPerDim = 4;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    uint32_t seed = 100;
    for (TensorType t : newDecodeTypes()) {
        for (const auto& [rowLength, rows] : {std::pair<int64_t, int64_t>{4096, 64}, {32768, 3}}) {
            SCOPED_TRACE(name(t) + " rowLength " + std::to_string(rowLength));
            const auto q = randomBlocks(t, rowLength * rows, seed++);
            const std::vector<float> cpu = cpuDecode(t, q, rowLength);
            std::vector<float> gpu(cpu.size(), -1.0f);
            Status s = be->decodeRows(t, q, gpu, rowLength, "random");
            ASSERT_TRUE(s.ok()) << s.error().what();
            EXPECT_GT(be->lastChunkCount(), 1);
            const int64_t diff = firstBitDifference(cpu, gpu);
            EXPECT_EQ(diff, -1) << "first difference at value " << diff << ": cpu "
                                << cpu[size_t(std::max<int64_t>(diff, 0))] << " gpu "
                                << gpu[size_t(std::max<int64_t>(diff, 0))];
        }
    }
}

// ------------------------------------------------------------------------------------------
// Encode
// ------------------------------------------------------------------------------------------

TEST_F(VulkanFixture, EncodeLowBitGoldenBitIdenticalToCpuAndGgml) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    const std::vector<float>& w = goldenWeights();
    const std::vector<float> imp = readFloats(goldenDir() / "imatrix.f32");
    ASSERT_EQ(w.size(), size_t(16 * kGoldenRow));
    ASSERT_EQ(imp.size(), size_t(kGoldenRow));
    for (TensorType t : kLowBitTypes) {
        SCOPED_TRACE(name(t));
        ASSERT_TRUE(be->canEncode(t));
        const std::vector<uint8_t> cpu = cpuEncode(t, w, kGoldenRow);
        for (const float* importance : {static_cast<const float*>(nullptr), imp.data()}) {
            std::vector<uint8_t> gpu(cpu.size(), 0xee);
            Status s = be->encodeRows(t, w, gpu, kGoldenRow, importance, "golden");
            ASSERT_TRUE(s.ok()) << s.error().what();
            EXPECT_EQ(firstByteDifference(cpu, gpu), -1);  // importance ignored, as ggml
        }
        // ggml's own bytes where the golden set has them (TQ1_0, TQ2_0, MXFP4).
        const std::vector<uint8_t> ggml = readBytes(goldenDir() / "plain" / (stem(t) + ".q"));
        if (!ggml.empty()) EXPECT_EQ(firstByteDifference(ggml, cpu), -1);
    }
    for (TensorType t : kGridTypes) {
        EXPECT_FALSE(be->canEncode(t)) << name(t) << ": the grid searches stay on the CPU";
    }
}

/// Rows of awkward blocks: zeros, constants, one outlier, exact halves of the scale (trit and
/// FP4 ties), every MXFP4 binade's top bit patterns (where log2f rounds up), NVFP4 scales
/// across the UE4M3 range and clamp, tiny-but-normal and large magnitudes, negative zeros.
/// Magnitudes stay in [2^-100, 2^-100 * 2^224] for the FP4 types and within fp16 otherwise.
std::vector<float> edgeValues(int64_t rowLength, int64_t rows, uint32_t seed, bool fp4) {
    std::vector<float> v(size_t(rowLength * rows));
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t blocks = int64_t(v.size()) / 32;
    for (int64_t b = 0; b < blocks; ++b) {
        float* x = v.data() + b * 32;
        const int kind = int(b % 12);
        const float scale = std::ldexp(1.0f, int(rng() % 50) - 40);  // 2^-40 .. 2^9
        for (int j = 0; j < 32; ++j) x[j] = normal(rng) * scale;
        switch (kind) {
        case 0: std::fill(x, x + 32, 0.0f); break;
        case 1: std::fill(x, x + 32, 0.75f * scale); break;
        case 2:
            std::fill(x, x + 32, 0.0f);
            x[rng() % 32] = -3.0f * scale;
            break;
        case 3:  // halves: x = +-d/2 with d the block max (trit and Q2_0 ties)
            for (int j = 0; j < 32; ++j) {
                x[j] = (j % 3 == 0 ? 0.5f : j % 3 == 1 ? -0.5f : 1.0f) * scale;
            }
            break;
        case 4: {  // the top bit patterns of a binade as the block's max (MXFP4's log2f)
            // 2^-90 .. 2^124 (FP4), 2^-90 .. 2^14 (fp16 scales)
            const uint32_t e = 37 + uint32_t(rng() % (fp4 ? 215 : 105));
            const uint32_t mans[] = {0x7fffffu, 0x7ffffeu, 0x7ffff0u, 0x7fff00u, 0x7ff000u, 0u};
            const uint32_t bits = (e << 23) | mans[rng() % 6];
            float m;
            std::memcpy(&m, &bits, 4);
            for (int j = 0; j < 32; ++j) {
                x[j] = (0.25f + 0.75f * std::fmod(float(j) * 0.37f, 1.0f)) * m;
            }
            x[rng() % 32] = (rng() & 1) ? m : -m;
            break;
        }
        case 5:  // FP4 grid points and midpoints times a power of two
            for (int j = 0; j < 32; ++j) x[j] = float(int(rng() % 25) - 12) * 0.25f * scale;
            break;
        case 6:
            for (int j = 0; j < 32; ++j) x[j] = (j & 1) ? -0.0f : 0.0f;
            break;
        case 7:  // large (NVFP4's 448 clamp), within fp16 for the fp16-scaled types
            for (int j = 0; j < 32; ++j) x[j] = normal(rng) * 3000.0f;
            break;
        case 8:  // small but normal
            for (int j = 0; j < 32; ++j) x[j] = normal(rng) * 1e-25f;
            break;
        default: break;  // plain Gaussian at the random scale
        }
    }
    return v;
}

TEST_F(VulkanFixture, EncodeLowBitEdgeValuesChunkedBitIdentical) {
    m_options.maxChunkBytes = 16 << 10;
    m_options.maxWorkgroupsPerDim = 3;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    uint32_t seed = 7;
    for (TensorType t : kLowBitTypes) {
        for (const auto& [rowLength, rows] : {std::pair<int64_t, int64_t>{1024, 96}, {8192, 3}}) {
            SCOPED_TRACE(name(t) + " rowLength " + std::to_string(rowLength));
            const bool fp4 = t == TensorType::MXFP4 || t == TensorType::NVFP4;
            const std::vector<float> x = edgeValues(rowLength, rows, seed++, fp4);
            const std::vector<uint8_t> cpu = cpuEncode(t, x, rowLength);
            std::vector<uint8_t> gpu(cpu.size(), 0xee);
            Status s = be->encodeRows(t, x, gpu, rowLength, nullptr, "edge");
            ASSERT_TRUE(s.ok()) << s.error().what();
            EXPECT_GT(be->lastChunkCount(), 1);
            const int64_t diff = firstByteDifference(cpu, gpu);
            const int64_t bb = formats::traits(t).blockBytes;
            EXPECT_EQ(diff, -1) << "first difference at byte " << diff << " (block " << diff / bb
                                << ")";
        }
    }
}

TEST_F(VulkanFixture, EncodeLowBitTinyValuesGoToTheCpu) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    std::vector<float> x(256, 0.25f);
    x[77] = 1e-35f;  // below 2^-100: the device could flush its scales
    for (TensorType t : kLowBitTypes) {
        std::vector<uint8_t> y(
            size_t(256 / formats::traits(t).blockSize * formats::traits(t).blockBytes));
        Status s = be->encodeRows(t, x, y, 256, nullptr, "blk.3.ffn_up.weight");
        ASSERT_FALSE(s.ok()) << name(t);
        EXPECT_EQ(s.error().code, ErrorCode::BadUsage) << name(t);
        EXPECT_EQ(s.error().tensor, "blk.3.ffn_up.weight");
        EXPECT_NE(s.error().message.find("CPU"), std::string::npos) << s.error().message;
    }
}

// ------------------------------------------------------------------------------------------
// A whole export through the engine
// ------------------------------------------------------------------------------------------

/// The real backend, recording what it encoded and what it refused.
class RecordingBackend final : public quant::Backend {
public:
    explicit RecordingBackend(quant::Backend& inner) : m_inner(inner) {}
    std::string name() const override { return m_inner.name(); }
    bool canEncode(TensorType t) const override { return m_inner.canEncode(t); }
    bool canDecode(TensorType t) const override { return m_inner.canDecode(t); }
    Status decodeRows(TensorType t, std::span<const uint8_t> src, std::span<float> dst,
                      int64_t rowLength, const std::string& tensor) override {
        Status s = m_inner.decodeRows(t, src, dst, rowLength, tensor);
        if (s.ok()) decoded.insert(t);
        return s;
    }
    Status encodeRows(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance,
                      const std::string& tensor) override {
        Status s = m_inner.encodeRows(t, src, dst, rowLength, importance, tensor);
        if (s.ok()) encoded.insert(t);
        return s;
    }
    std::set<TensorType> encoded, decoded;

private:
    quant::Backend& m_inner;
};

TEST_F(VulkanFixture, ExportIssue18PresetsWriteTheCpuBytes) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    TempDir dir;
    const std::string src = (dir.path() / "tiny.gguf").string();
    synth::SynthOptions so;
    so.threads = 2;
    ASSERT_TRUE(synth::writeSynthModel(so, src).ok());
    auto model = model::openModel(src);
    ASSERT_TRUE(model.ok()) << model.error().what();
    quant::Imatrix im;
    std::mt19937 rng(5);
    std::gamma_distribution<float> gamma(0.5f, 2.0f);
    for (const auto& t : model->tensors()) {
        if (t.shape.size() != 2) continue;
        std::vector<float> v(size_t(t.rowLength()));
        for (float& x : v) x = gamma(rng);
        im.entries[t.name] = std::move(v);
    }
    struct Case {
        const char* ftype;
        bool imatrix;
        std::vector<TensorType> gpuEncoded;  // encoded by the device
        std::vector<TensorType> cpuEncoded;  // in the file, refused by the device (grids)
    };
    const std::vector<Case> cases = {
        {"TQ1_0", false, {TensorType::TQ1_0}, {}},    {"TQ2_0", false, {TensorType::TQ2_0}, {}},
        {"Q1_0", false, {TensorType::Q1_0}, {}},      {"Q2_0", false, {TensorType::Q2_0}, {}},
        {"IQ2_XXS", true, {}, {TensorType::IQ2_XXS}}, {"IQ1_M", true, {}, {TensorType::IQ1_M}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.ftype));
        const auto ftype = quant::ftypeFromName(c.ftype);
        ASSERT_TRUE(ftype.has_value());
        quant::PlanOptions po;
        po.ftype = *ftype;
        po.hasImatrix = c.imatrix;
        const quant::Plan plan = quant::buildPlan(*model, po);
        quant::QuantizeOptions cpuOpt;
        cpuOpt.threads = 2;
        cpuOpt.imatrix = c.imatrix ? &im : nullptr;
        cpuOpt.metrics = true;
        const std::string cpuPath = (dir.path() / (std::string("cpu-") + c.ftype)).string();
        auto cpu = quant::exportGguf(*model, plan, cpuPath, cpuOpt);
        ASSERT_TRUE(cpu.ok()) << cpu.error().what();

        RecordingBackend rec(*be);
        quant::QuantizeOptions gpuOpt = cpuOpt;
        gpuOpt.backend = &rec;
        const std::string gpuPath = (dir.path() / (std::string("gpu-") + c.ftype)).string();
        auto gpu = quant::exportGguf(*model, plan, gpuPath, gpuOpt);
        ASSERT_TRUE(gpu.ok()) << gpu.error().what();
        for (TensorType t : c.gpuEncoded) {
            EXPECT_TRUE(rec.encoded.count(t)) << name(t) << " not encoded on the device";
            EXPECT_TRUE(rec.decoded.count(t)) << name(t) << " not decoded on the device";
        }
        for (TensorType t : c.cpuEncoded) {
            EXPECT_FALSE(rec.encoded.count(t)) << name(t) << " should stay on the CPU";
            // The metrics decode the grid type on the device.
            EXPECT_TRUE(rec.decoded.count(t)) << name(t) << " not decoded on the device";
        }
        const auto a = readBytes(cpuPath), b = readBytes(gpuPath);
        ASSERT_FALSE(a.empty());
        EXPECT_EQ(firstByteDifference(a, b), -1) << "the files differ";
        ASSERT_EQ(cpu->tensors.size(), gpu->tensors.size());
        for (size_t i = 0; i < cpu->tensors.size(); ++i) {
            EXPECT_EQ(cpu->tensors[i].metrics.maxAbsErr, gpu->tensors[i].metrics.maxAbsErr) << i;
        }
    }
}

}  // namespace
}  // namespace qs::gpu::test
