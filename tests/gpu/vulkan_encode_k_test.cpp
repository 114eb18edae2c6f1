// The K-quant and IQ4 encoders of the Vulkan backend (gpu/shaders/encode_k.comp), and the
// importance-weighted legacy encoders, against the CPU engine's encoders on lavapipe, with and
// without importance: golden tensors (and ggml's own bytes), real tensors of a synthetic tiny
// model, forced chunking with rows split across chunks, edge values, and double-buffered
// against one-at-a-time chunks. The acceptance bar is >= 99.9% identical blocks and the tensor RMSE
// within 0.1% (bit-identical for IQ4_NL); on lavapipe every block is identical, and the tests
// print the measured figures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "gpu_test_util.h"
#include "io/gguf_reader.h"
#include "io/mapped_file.h"
#include "synth/synth.h"

namespace qs::gpu::test {
namespace {

using formats::TensorType;

// The K-quants and IQ4 (encode_k.comp), and the legacy quants, whose importance path is the
// weighted scale search of encode_k.comp (their plain path is encode.comp's, tested with these
// inputs too).
const std::vector<TensorType> kKTypes = {TensorType::Q2_K,   TensorType::Q3_K, TensorType::Q4_K,
                                         TensorType::Q5_K,   TensorType::Q6_K, TensorType::IQ4_NL,
                                         TensorType::IQ4_XS, TensorType::Q4_0, TensorType::Q4_1,
                                         TensorType::Q5_0,   TensorType::Q5_1};

std::string name(TensorType t) {
    return std::string(formats::typeName(t));
}

std::string goldenStem(TensorType t) {
    std::string s(formats::typeName(t));
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s.size() > 2 && s.substr(s.size() - 2) == "_k") s.back() = 'K';
    return s;
}

std::vector<uint8_t> cpuEncode(TensorType t, const std::vector<float>& src, int64_t rowLength,
                               const float* importance) {
    const auto& tr = formats::traits(t);
    std::vector<uint8_t> out(src.size() / size_t(tr.blockSize) * size_t(tr.blockBytes));
    Status s = formats::encodeRows(t, src, out, rowLength, importance, 1);
    EXPECT_TRUE(s.ok()) << s.error().what();
    return out;
}

std::vector<float> decode(TensorType t, const std::vector<uint8_t>& q, int64_t rowLength) {
    const auto& tr = formats::traits(t);
    std::vector<float> out(q.size() / size_t(tr.blockBytes) * size_t(tr.blockSize));
    Status s = formats::decodeRows(t, q, out, rowLength, 1);
    EXPECT_TRUE(s.ok()) << s.error().what();
    return out;
}

/// How a GPU encoding compares with the CPU's.
struct Agreement {
    int64_t blocks = 0, identical = 0, firstDiff = -1;
    double rmseCpu = 0, rmseGpu = 0;
    double identicalShare() const { return blocks ? double(identical) / double(blocks) : 1.0; }
    double rmseRelDelta() const {
        return rmseCpu > 0 ? std::fabs(rmseGpu - rmseCpu) / rmseCpu : std::fabs(rmseGpu);
    }
};

Agreement compare(TensorType t, const std::vector<float>& x, const std::vector<uint8_t>& cpu,
                  const std::vector<uint8_t>& gpu, int64_t rowLength) {
    const auto& tr = formats::traits(t);
    Agreement a;
    a.blocks = int64_t(cpu.size()) / tr.blockBytes;
    for (int64_t b = 0; b < a.blocks; ++b) {
        const bool same = std::memcmp(cpu.data() + b * tr.blockBytes,
                                      gpu.data() + b * tr.blockBytes, size_t(tr.blockBytes)) == 0;
        a.identical += same;
        if (!same && a.firstDiff < 0) a.firstDiff = b;
    }
    const std::vector<float> dc = decode(t, cpu, rowLength), dg = decode(t, gpu, rowLength);
    double sc = 0, sg = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        sc += (double(dc[i]) - x[i]) * (double(dc[i]) - x[i]);
        sg += (double(dg[i]) - x[i]) * (double(dg[i]) - x[i]);
    }
    a.rmseCpu = std::sqrt(sc / double(x.size()));
    a.rmseGpu = std::sqrt(sg / double(x.size()));
    return a;
}

/// The acceptance bar of docs/GPU.md.
void expectAgreement(TensorType t, const Agreement& a, const std::string& what) {
    std::printf(
        "[ encode_k ] %-7s %-28s blocks %7lld identical %8.4f%%  rmse cpu %.6e gpu %.6e "
        "delta %.2e first diff %lld\n",
        name(t).c_str(), what.c_str(), (long long)a.blocks, 100.0 * a.identicalShare(), a.rmseCpu,
        a.rmseGpu, a.rmseRelDelta(), (long long)a.firstDiff);
    if (t == TensorType::IQ4_NL) {
        EXPECT_EQ(a.identical, a.blocks) << what;
    } else {
        EXPECT_GE(a.identicalShare(), 0.999) << what;
        EXPECT_LE(a.rmseRelDelta(), 1e-3) << what;
    }
}

TEST_F(VulkanFixture, EncodeKGoldenMatchesCpuAndGgml) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    constexpr int64_t kRow = 4096;
    const std::vector<float> w = readFloats(goldenDir() / "weights.f32");
    const std::vector<float> imp = readFloats(goldenDir() / "imatrix.f32");
    ASSERT_EQ(imp.size(), size_t(kRow));
    for (TensorType t : kKTypes) {
        ASSERT_TRUE(be->canEncode(t)) << name(t);
        for (bool withImp : {false, true}) {
            const std::string what = withImp ? "golden imat" : "golden plain";
            SCOPED_TRACE(name(t) + " " + what);
            const float* qw = withImp ? imp.data() : nullptr;
            const std::vector<uint8_t> cpu = cpuEncode(t, w, kRow, qw);
            std::vector<uint8_t> gpu(cpu.size(), 0xee);
            Status s = be->encodeRows(t, w, gpu, kRow, qw, "golden");
            ASSERT_TRUE(s.ok()) << s.error().what();
            expectAgreement(t, compare(t, w, cpu, gpu, kRow), what);
            // ggml's own bytes (plain/ and imat/ in tests/data/golden).
            const std::vector<uint8_t> ggml =
                readBytes(goldenDir() / (withImp ? "imat" : "plain") / (goldenStem(t) + ".q"));
            expectAgreement(t, compare(t, w, ggml, gpu, kRow), what + " vs ggml");
        }
    }
}

/// The F16 matrices of a tiny synthetic model, decoded to float.
struct SynthTensor {
    std::string name;
    int64_t rowLength;
    std::vector<float> values;
};

std::vector<SynthTensor> tinySynthMatrices(const std::filesystem::path& dir) {
    const std::string path = (dir / "tiny.gguf").string();
    synth::SynthOptions o;
    o.threads = 2;
    Status s = synth::writeSynthModel(o, path);
    EXPECT_TRUE(s.ok()) << s.error().what();
    auto file = io::MappedFile::open(path);
    EXPECT_TRUE(file.ok());
    if (!file.ok()) return {};
    auto gguf = io::parseGguf(file->bytes(), path);
    EXPECT_TRUE(gguf.ok());
    if (!gguf.ok()) return {};
    std::vector<SynthTensor> out;
    for (const auto& ti : gguf->tensors) {
        // One of each kind of layer-0 matrix (row lengths 256 and 768), a few 100K weights.
        if (ti.name.rfind("blk.0.", 0) != 0 || ti.shape.size() != 2) continue;
        const auto* tr = formats::ggufTraitsOf(ti.typeId);
        if (!tr || tr->type != TensorType::F16) continue;
        SynthTensor t{ti.name, ti.shape[0], std::vector<float>(ti.nElements)};
        const auto bytes = file->bytes().subspan(gguf->dataOffset + ti.offset, ti.nbytes);
        Status d = formats::decodeRows(TensorType::F16, bytes, t.values, ti.shape[0], 1);
        EXPECT_TRUE(d.ok());
        out.push_back(std::move(t));
    }
    return out;
}

TEST_F(VulkanFixture, EncodeKSynthTensorsMatchCpu) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    TempDir dir;
    const std::vector<SynthTensor> tensors = tinySynthMatrices(dir.path());
    ASSERT_GE(tensors.size(), 5u);
    std::mt19937 rng(7);
    std::gamma_distribution<float> gamma(0.5f, 2.0f);  // imatrix-like: positive, heavy-tailed
    uint32_t pick = 0;
    for (TensorType t : kKTypes) {
        // Two tensors per type (different ones per type) keep lavapipe's time down.
        for (int k = 0; k < 2; ++k) {
            const SynthTensor& st = tensors[(pick++) % tensors.size()];
            if (st.rowLength % formats::traits(t).blockSize != 0) continue;
            std::vector<float> imp(size_t(st.rowLength));
            for (float& v : imp) v = gamma(rng);
            for (bool withImp : {false, true}) {
                const std::string what = st.name + (withImp ? " imat" : "");
                SCOPED_TRACE(name(t) + " " + what);
                const float* qw = withImp ? imp.data() : nullptr;
                const std::vector<uint8_t> cpu = cpuEncode(t, st.values, st.rowLength, qw);
                std::vector<uint8_t> gpu(cpu.size(), 0xee);
                Status s = be->encodeRows(t, st.values, gpu, st.rowLength, qw, st.name);
                ASSERT_TRUE(s.ok()) << s.error().what();
                expectAgreement(t, compare(t, st.values, cpu, gpu, st.rowLength), what);
            }
        }
    }
}

/// Blocks that probe the searches' corner cases: zeros, constants, one outlier, halves, tiny
/// and huge magnitudes, all-positive and all-negative groups.
std::vector<float> edgeValues(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t g = 0; g < n / 16; ++g) {
        float* y = x.data() + 16 * g;
        const int kind = int(rng() % 10);
        for (int j = 0; j < 16; ++j) {
            switch (kind) {
            case 0: y[j] = 0.0f; break;
            case 1: y[j] = 0.25f; break;
            case 2: y[j] = j == 3 ? 40.0f : uni(rng) * 0.01f; break;
            case 3: y[j] = float(int(rng() % 17) - 8) * 0.5f; break;
            case 4: y[j] = uni(rng) * 1e-7f; break;
            case 5: y[j] = uni(rng) * 1e3f; break;
            case 6: y[j] = std::fabs(uni(rng)) + 0.5f; break;
            case 7: y[j] = -std::fabs(uni(rng)) - 0.5f; break;
            default: y[j] = uni(rng) / (0.02f + std::fabs(uni(rng))); break;
            }
        }
    }
    return x;
}

TEST_F(VulkanFixture, EncodeKChunkedRowsSplitAndEdgeValues) {
    // 40 KiB bindings hold 10K floats: a 16384-value row is split across chunks (so the
    // importance column of a chunk's first block is not 0), and every dispatch is a 2D grid.
    m_options.maxChunkBytes = 40 << 10;
    m_options.maxWorkgroupsPerDim = 2;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    constexpr int64_t kRow = 16384, kRows = 3;
    const std::vector<float> x = edgeValues(kRow * kRows, 11);
    std::mt19937 rng(5);
    std::vector<float> imp(static_cast<size_t>(kRow));
    for (size_t i = 0; i < imp.size(); ++i) imp[i] = i % 97 == 0 ? 0.0f : float(rng() % 1000) / 7.f;
    for (TensorType t : kKTypes) {
        for (bool withImp : {false, true}) {
            const std::string what = withImp ? "edge chunked imat" : "edge chunked";
            SCOPED_TRACE(name(t) + " " + what);
            const float* qw = withImp ? imp.data() : nullptr;
            const std::vector<uint8_t> cpu = cpuEncode(t, x, kRow, qw);
            std::vector<uint8_t> gpu(cpu.size(), 0xee);
            Status s = be->encodeRows(t, x, gpu, kRow, qw, "edge");
            ASSERT_TRUE(s.ok()) << s.error().what();
            EXPECT_GT(be->lastChunkCount(), kRows);
            expectAgreement(t, compare(t, x, cpu, gpu, kRow), what);
        }
    }
}

TEST_F(VulkanFixture, OverlappedChunksMatchSynchronousChunks) {
    // Double-buffered chunks (the default) against one chunk at a time: same bytes and floats,
    // both equal to the CPU's. 32 KiB bindings: the 16 x 4096 golden tensor takes 8+ chunks.
    m_options.maxChunkBytes = 32 << 10;
    VulkanBackend* overlapped = open();
    ASSERT_NE(overlapped, nullptr);
    DeviceOptions syncOptions = m_options;
    syncOptions.overlapChunks = false;
    auto sync = VulkanBackend::create(syncOptions);
    ASSERT_TRUE(sync.ok()) << sync.error().what();
    constexpr int64_t kRow = 4096;
    const std::vector<float> w = readFloats(goldenDir() / "weights.f32");
    const std::vector<float> imp = readFloats(goldenDir() / "imatrix.f32");
    for (TensorType t : {TensorType::Q8_0, TensorType::Q4_K, TensorType::IQ4_XS}) {
        SCOPED_TRACE(name(t));
        const std::vector<uint8_t> cpu = cpuEncode(t, w, kRow, imp.data());
        std::vector<uint8_t> a(cpu.size()), b(cpu.size());
        ASSERT_TRUE(overlapped->encodeRows(t, w, a, kRow, imp.data(), "t").ok());
        EXPECT_GT(overlapped->lastChunkCount(), 2);
        ASSERT_TRUE((*sync)->encodeRows(t, w, b, kRow, imp.data(), "t").ok());
        EXPECT_EQ(overlapped->lastChunkCount(), (*sync)->lastChunkCount());
        EXPECT_TRUE(a == cpu);
        EXPECT_TRUE(b == cpu);
        std::vector<float> da(w.size()), db(w.size());
        ASSERT_TRUE(overlapped->decodeRows(t, a, da, kRow, "t").ok());
        ASSERT_TRUE((*sync)->decodeRows(t, a, db, kRow, "t").ok());
        EXPECT_EQ(std::memcmp(da.data(), db.data(), da.size() * 4), 0);
        EXPECT_EQ(std::memcmp(da.data(), decode(t, cpu, kRow).data(), da.size() * 4), 0);
    }
    expectValidationClean((*sync)->device());
}

TEST_F(VulkanFixture, EncodeKRejectsBadInputAsCpuDoes) {
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    std::vector<float> x(512, 0.5f);
    std::vector<uint8_t> y(2 * 144);
    // An fp16 super-scale that overflows: the CPU reports the row, and so must the GPU.
    for (int j = 256; j < 512; ++j) x[size_t(j)] = j % 2 ? 3e9f : -3e9f;
    Status s = be->encodeRows(TensorType::Q4_K, x, y, 256, nullptr, "big");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
    EXPECT_NE(std::string(s.error().what()).find("row 1"), std::string::npos) << s.error().what();
    std::vector<uint8_t> yc(y.size());
    Status c = formats::encodeRows(TensorType::Q4_K, x, yc, 256, nullptr, 1);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(std::string(c.error().message), std::string(s.error().message));
    // A negative importance is refused before anything runs.
    std::vector<float> imp(256, 1.0f);
    imp[7] = -1.0f;
    std::vector<float> ok(256, 0.5f);
    std::vector<uint8_t> y1(144);
    s = be->encodeRows(TensorType::Q4_K, ok, y1, 256, imp.data(), "imp");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
}

}  // namespace
}  // namespace qs::gpu::test
