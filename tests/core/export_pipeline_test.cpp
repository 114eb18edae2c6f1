// The pipelined export (reading, encoding and writing overlapped): the same file bytes and the
// same error metrics as the one-chunk-at-a-time export, on 1 and 2 threads, on a model of many
// small tensors and a few large ones (several chunks each, a last chunk shorter than the
// others, an expert tensor whose chunks stop at its imatrix slices), single-file and split; an
// error in the middle names the tensor and leaves nothing behind. Also parallel::orderedPipeline
// itself: every item once, consumed in order, slots never shared.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "formats/half.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "parallel/parallel.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "test_util.h"

using namespace qs;
using formats::TensorType;
namespace fs = std::filesystem;

namespace {

struct Spec {
    std::string name;
    std::vector<int64_t> shape;
    TensorType source;
    TensorType target;
    bool nan = false;  ///< one value NaN (row `nanRow`, column 5)
    int64_t nanRow = 2;
};

// Deterministic weights with a few outliers, as real weights have.
std::vector<float> weights(size_t n, uint32_t seed) {
    std::vector<float> v(n);
    uint32_t s = seed * 2654435761u + 12345u;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        const float u = float(s >> 8) / float(1u << 24) - 0.5f;
        x = (s & 1023u) == 7u ? u * 40.0f : u * std::exp(float((s >> 3) & 3u) - 1.5f);
    }
    return v;
}

// 72 small tensors (norms copied as they are, 256 x 8 weights), and four large ones: F16
// 4096 x 300 (chunks of 128 rows: 128, 128, 44), F16 2560 x 520, F32 256 x 2100, and an
// expert tensor 256 x 300 x 4 (slices of 300 rows).
std::vector<Spec> mixedSpecs() {
    std::vector<Spec> s;
    const TensorType small[] = {TensorType::Q4_K,   TensorType::Q8_0, TensorType::Q6_K,
                                TensorType::IQ4_NL, TensorType::Q5_0, TensorType::Q3_K};
    for (int i = 0; i < 24; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        s.push_back({b + "attn_norm.weight", {256}, TensorType::F32, TensorType::F32});
        s.push_back({b + "attn_q.weight", {256, 8}, TensorType::F32, small[i % 6]});
        s.push_back({b + "attn_k.weight", {256, 3}, TensorType::F16, small[(i + 1) % 6]});
        if (i == 5) {
            s.push_back({"big.a.weight", {4096, 300}, TensorType::F16, TensorType::Q6_K});
        }
        if (i == 11) {
            s.push_back({"big.b.weight", {2560, 520}, TensorType::F16, TensorType::Q8_0});
            s.push_back({"blk.11.ffn_down_exps.weight",
                         {256, 300, 4},
                         TensorType::F16,
                         TensorType::IQ4_XS});
        }
        if (i == 17) s.push_back({"big.c.weight", {256, 2100}, TensorType::F32, TensorType::Q4_K});
    }
    return s;
}

std::string writeModel(const test::TempDir& dir, const std::vector<Spec>& specs) {
    io::GgufWriter w;
    EXPECT_TRUE(w.setKv("general.architecture", io::GgufValue::string("llama")).ok());
    for (const auto& s : specs) EXPECT_TRUE(w.addTensor(s.name, s.shape, s.source).ok()) << s.name;
    const std::string path = dir.file("in.gguf");
    EXPECT_TRUE(w.open(path).ok());
    uint32_t seed = 1;
    for (const auto& s : specs) {
        int64_t n = 1;
        for (auto d : s.shape) n *= d;
        auto v = weights(size_t(n), seed++);
        if (s.nan) v[size_t(s.nanRow * s.shape[0] + 5)] = NAN;
        std::vector<uint8_t> bytes;
        if (s.source == TensorType::F16) {
            bytes.resize(v.size() * 2);
            for (size_t i = 0; i < v.size(); ++i) {
                const uint16_t h = formats::floatToHalf(v[i]);
                std::memcpy(bytes.data() + 2 * i, &h, 2);
            }
        } else {
            bytes.resize(v.size() * 4);
            std::memcpy(bytes.data(), v.data(), bytes.size());
        }
        EXPECT_TRUE(w.writeTensorData(bytes).ok()) << s.name;
    }
    EXPECT_TRUE(w.commit().ok());
    return path;
}

quant::Plan planOf(const model::Model& m, const std::vector<Spec>& specs) {
    quant::Plan plan;
    plan.ftype = quant::Ftype::Q4_K_M;
    for (const auto& t : m.tensors()) {
        quant::TensorChoice c;
        for (const auto& s : specs) {
            if (s.name == t.name) c.type = c.requested = s.target;
        }
        plan.tensors.push_back(c);
    }
    return plan;
}

quant::Imatrix imatrixOf(const model::Model& m) {
    quant::Imatrix im;
    im.path = "pipeline.imatrix";
    for (const auto& t : m.tensors()) {
        if (t.shape.size() < 2 || t.name.find("attn_k") != std::string::npos) continue;
        const int64_t slices = t.shape.size() > 2 ? t.shape[2] : 1;
        auto v = weights(size_t(t.rowLength() * slices), 99);
        for (auto& x : v) x = x * x + 0.01f;
        im.entries[t.name] = v;
    }
    return im;
}

struct Exported {
    std::vector<std::vector<uint8_t>> files;
    std::vector<quant::TensorResult> tensors;
    bool pipelined = false;
};

Exported exportWith(const model::Model& m, const quant::Plan& plan, const std::string& out,
                    int threads, bool pipeline, const quant::Imatrix* im = nullptr,
                    quant::SplitOptions split = {}) {
    quant::QuantizeOptions qo;
    qo.threads = threads;
    qo.pipeline = pipeline;
    qo.imatrix = im;
    qo.split = split;
    auto s = quant::exportGguf(m, plan, out, qo);
    EXPECT_TRUE(s.ok()) << s.error().what();
    Exported e;
    if (!s) return e;
    for (const auto& shard : s->shards) {
        e.files.push_back(test::readFile(shard.path));
        EXPECT_EQ(e.files.back().size(), shard.predictedBytes) << shard.path;
        fs::remove(shard.path);
    }
    e.tensors = s->tensors;
    e.pipelined = s->pipelined;
    return e;
}

void expectSame(const Exported& a, const Exported& b, const std::string& what) {
    ASSERT_EQ(a.files.size(), b.files.size()) << what;
    for (size_t i = 0; i < a.files.size(); ++i) {
        EXPECT_TRUE(a.files[i] == b.files[i]) << what << ": file " << i << " differs";
    }
    ASSERT_EQ(a.tensors.size(), b.tensors.size()) << what;
    for (size_t i = 0; i < a.tensors.size(); ++i) {
        const auto& x = a.tensors[i];
        const auto& y = b.tensors[i];
        EXPECT_EQ(x.index, y.index) << what;
        EXPECT_EQ(x.type, y.type) << what;
        EXPECT_EQ(x.bytes, y.bytes) << what;
        EXPECT_EQ(x.copied, y.copied) << what;
        EXPECT_EQ(x.usedImatrix, y.usedImatrix) << what;
        // Rows summed one by one and merged in row order either way: the same doubles.
        EXPECT_EQ(x.sums.count, y.sums.count) << what;
        EXPECT_EQ(x.sums.sumSqErr, y.sums.sumSqErr) << what << " " << i;
        EXPECT_EQ(x.sums.wSumSqErr, y.sums.wSumSqErr) << what << " " << i;
        EXPECT_EQ(x.sums.maxAbsErr, y.sums.maxAbsErr) << what << " " << i;
    }
}

TEST(ExportPipeline, SameBytesAndMetricsAsOneChunkAtATimeOnOneAndTwoThreads) {
    test::TempDir dir;
    const auto specs = mixedSpecs();
    auto m = model::openModel(writeModel(dir, specs));
    ASSERT_TRUE(m.ok()) << m.error().what();
    ASSERT_GT(m->tensors().size(), 70u);
    const auto plan = planOf(*m, specs);
    const std::string out = dir.file("out.gguf");
    const auto reference = exportWith(*m, plan, out, 2, false);
    EXPECT_FALSE(reference.pipelined);
    ASSERT_EQ(reference.tensors.size(), m->tensors().size());
    for (int threads : {1, 2, 3}) {
        const auto piped = exportWith(*m, plan, out, threads, true);
        EXPECT_TRUE(piped.pipelined);
        expectSame(piped, reference, "threads " + std::to_string(threads));
    }
    // With an importance matrix (per slice for the expert tensor): chunks stop at slices.
    const auto im = imatrixOf(*m);
    const auto refIm = exportWith(*m, plan, out, 2, false, &im);
    for (int threads : {1, 2}) {
        expectSame(exportWith(*m, plan, out, threads, true, &im), refIm,
                   "imatrix, threads " + std::to_string(threads));
    }
    EXPECT_FALSE(refIm.files.at(0) == reference.files.at(0));  // the imatrix changed the bytes
    // Only the input is left.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(ExportPipeline, SplitExportWritesTheSameShards) {
    test::TempDir dir;
    const auto specs = mixedSpecs();
    auto m = model::openModel(writeModel(dir, specs));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto plan = planOf(*m, specs);
    quant::SplitOptions split;
    split.maxTensors = 7;
    const std::string out = dir.file("out.gguf");
    const auto reference = exportWith(*m, plan, out, 2, false, nullptr, split);
    ASSERT_GT(reference.files.size(), 10u);
    for (int threads : {1, 2}) {
        expectSame(exportWith(*m, plan, out, threads, true, nullptr, split), reference,
                   "split, threads " + std::to_string(threads));
    }
}

// A bad value in a later chunk of a tensor is named by its row in the tensor, not in the chunk
// (4096 x 300 F16: chunks of 128 rows, the NaN in the second).
TEST(ExportPipeline, ErrorRowCountsFromTheTensorNotTheChunk) {
    test::TempDir dir;
    std::vector<Spec> specs{
        {"blk.0.attn_norm.weight", {256}, TensorType::F32, TensorType::F32},
        {"big.weight", {4096, 300}, TensorType::F16, TensorType::Q4_K, true, 200}};
    auto m = model::openModel(writeModel(dir, specs));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto plan = planOf(*m, specs);
    for (formats::Quantizer q : {formats::Quantizer::Ggml, formats::Quantizer::Best}) {
        quant::QuantizeOptions qo;
        qo.threads = 2;
        qo.quantizer = q;
        auto s = quant::exportGguf(*m, plan, dir.file("out.gguf"), qo);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error().tensor, "big.weight") << s.error().what();
        EXPECT_NE(s.error().message.find("row 200, column 5"), std::string::npos)
            << s.error().what();
    }
}

TEST(ExportPipeline, ErrorInTheMiddleNamesTheTensorAndLeavesNothing) {
    test::TempDir dir;
    auto specs = mixedSpecs();
    specs.insert(specs.begin() + 40,
                 {"blk.bad.weight", {256, 4}, TensorType::F32, TensorType::Q4_K, true});
    auto m = model::openModel(writeModel(dir, specs));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto plan = planOf(*m, specs);
    for (int threads : {1, 2}) {
        quant::QuantizeOptions qo;
        qo.threads = threads;
        auto s = quant::exportGguf(*m, plan, dir.file("out.gguf"), qo);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error().code, ErrorCode::BadInput);
        EXPECT_EQ(s.error().tensor, "blk.bad.weight") << s.error().what();
        EXPECT_NE(s.error().message.find("row 2, column 5"), std::string::npos) << s.error().what();
        EXPECT_EQ(s.error().file, m->path());
        EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
    }
    // Cancelled from the progress callback after a few chunks: the same, Cancelled (the bad
    // tensor copied as it is this time, so that only the cancellation stops the export).
    auto copyBad = plan;
    copyBad.tensors[size_t(m->indexOf("blk.bad.weight"))].type = TensorType::F32;
    for (int threads : {1, 2}) {
        quant::QuantizeOptions qo;
        qo.threads = threads;
        int calls = 0;
        qo.progress = [&](const quant::Progress& p) {
            EXPECT_LE(p.doneBytes, p.totalBytes);
            return ++calls < 30;
        };
        auto s = quant::exportGguf(*m, copyBad, dir.file("out.gguf"), qo);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error().code, ErrorCode::Cancelled);
        EXPECT_EQ(calls, 30);
        EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
    }
}

TEST(ExportPipeline, ProgressReachesTheTotalInOrder) {
    test::TempDir dir;
    const auto specs = mixedSpecs();
    auto m = model::openModel(writeModel(dir, specs));
    ASSERT_TRUE(m.ok());
    const auto plan = planOf(*m, specs);
    quant::QuantizeOptions qo;
    qo.threads = 2;
    uint64_t last = 0, total = 0;
    size_t lastPosition = 0;
    qo.progress = [&](const quant::Progress& p) {
        EXPECT_GE(p.doneBytes, last);
        EXPECT_GE(p.tensorIndex, lastPosition);
        last = p.doneBytes;
        lastPosition = p.tensorIndex;
        total = p.totalBytes;
        return true;
    };
    auto s = quant::exportGguf(*m, plan, dir.file("out.gguf"), qo);
    ASSERT_TRUE(s.ok()) << s.error().what();
    EXPECT_EQ(last, total);
    EXPECT_EQ(total, s->sourceBytes);
    EXPECT_GT(s->stages.encode, 0.0);
    EXPECT_GT(s->stages.read, 0.0);
}

TEST(OrderedPipeline, EveryItemOnceConsumedInOrderSlotsNeverShared) {
    for (int threads : {1, 2, 4}) {
        for (size_t slots : {size_t(1), size_t(3), size_t(8)}) {
            const size_t items = 500;
            size_t produced = 0;
            std::vector<size_t> slotItem(slots);
            std::vector<std::atomic<int>> busy(slots);
            std::vector<size_t> consumed;
            std::atomic<bool> shared{false};
            parallel::orderedPipeline(
                threads, slots,
                [&](size_t slot) {
                    if (produced == items) return false;
                    if (busy[slot].fetch_add(1) != 0) shared = true;
                    slotItem[slot] = produced++;
                    return true;
                },
                [&](size_t slot) { slotItem[slot] = slotItem[slot] * 2 + 1; },
                [&](size_t slot) {
                    consumed.push_back((slotItem[slot] - 1) / 2);
                    busy[slot].fetch_sub(1);
                });
            EXPECT_FALSE(shared) << threads << " " << slots;
            ASSERT_EQ(consumed.size(), items) << threads << " " << slots;
            for (size_t i = 0; i < items; ++i) EXPECT_EQ(consumed[i], i);
        }
    }
}

}  // namespace
