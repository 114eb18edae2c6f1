// The quantization engine: exports, exact sizes, cancellation leaving nothing, imatrix use and
// warnings, metrics, determinism.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;
using formats::TensorType;

namespace {

TEST(Engine, ExportsLlamaCppQ8_0ByteForByteWithMetrics) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    PlanOptions po;
    po.ftype = Ftype::Q8_0;
    const Plan plan = buildPlan(*m, po);
    test::TempDir dir;
    QuantizeOptions qo;
    qo.threads = 2;
    auto s = exportGguf(*m, plan, dir.file("q8.gguf"), qo);
    ASSERT_TRUE(s.ok()) << s.error().what();
    EXPECT_EQ(test::readFile(dir.file("q8.gguf")),
              test::readFile(test::dataPath("models/reference-quants/stories260K-Q8_0.gguf")));
    EXPECT_EQ(s->fileBytes, predictFileSize(*m, plan).value());
    ASSERT_EQ(s->tensors.size(), m->tensors().size());
    for (const auto& r : s->tensors) {
        const auto& t = m->tensors()[r.index];
        if (r.type == TensorType::Q8_0) {
            EXPECT_GT(r.metrics.snrDb, 35.0) << t.name;
            EXPECT_GT(r.metrics.cosine, 0.9999) << t.name;
        }
        if (r.copied) EXPECT_EQ(r.metrics.rmse, 0.0) << t.name;
    }
}

TEST(Engine, CancelLeavesNothingBehind) {
    test::TempDir dir;
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 0}, dir.file("in.gguf")).ok());
    auto m = model::openModel(dir.file("in.gguf"));
    ASSERT_TRUE(m.ok());
    PlanOptions po;
    po.ftype = Ftype::Q4_K_M;
    const Plan plan = buildPlan(*m, po);
    int calls = 0;
    QuantizeOptions qo;
    qo.progress = [&](const Progress& p) {
        EXPECT_LE(p.doneBytes, p.totalBytes);
        return ++calls < 5;  // stop after a few tensors
    };
    auto s = exportGguf(*m, plan, dir.file("out.gguf"), qo);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::Cancelled);
    EXPECT_EQ(calls, 5);
    // Only the input is left in the directory: no output, no temporary file.
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++files;
        EXPECT_EQ(e.path().filename(), "in.gguf");
    }
    EXPECT_EQ(files, 1u);
    // A cancel token set before the start stops at once.
    CancelToken token;
    token.cancel();
    QuantizeOptions q2;
    q2.cancel = &token;
    auto s2 = exportGguf(*m, plan, dir.file("out.gguf"), q2);
    ASSERT_FALSE(s2.ok());
    EXPECT_EQ(s2.error().code, ErrorCode::Cancelled);
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.gguf")));
}

TEST(Engine, ImatrixIsUsedAndMissingEntriesWarn) {
    test::TempDir dir;
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 2, 0}, dir.file("in.gguf")).ok());
    auto m = model::openModel(dir.file("in.gguf"));
    ASSERT_TRUE(m.ok());
    Imatrix im;
    im.path = "test.imatrix";
    const auto& q = m->tensors()[size_t(m->indexOf("blk.0.attn_q.weight"))];
    std::vector<float> w(size_t(q.rowLength()), 1.0f);
    for (size_t i = 0; i < w.size(); i += 7) w[i] = 50.0f;  // a few columns matter much more
    im.entries["blk.0.attn_q.weight"] = w;
    PlanOptions po;
    po.ftype = Ftype::Q4_K_M;
    const Plan plan = buildPlan(*m, po);
    QuantizeOptions qo;
    qo.imatrix = &im;
    auto s = exportGguf(*m, plan, dir.file("out.gguf"), qo);
    ASSERT_TRUE(s.ok()) << s.error().what();
    bool warned = false;
    for (const auto& wmsg : s->warnings)
        warned |= wmsg.find("blk.1.attn_q.weight") != std::string::npos;
    EXPECT_TRUE(warned);
    auto out = model::openModel(dir.file("out.gguf"));
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->find("quantize.imatrix.file")->str(), "test.imatrix");
    EXPECT_EQ(out->find("quantize.imatrix.entries_count")->asInt().value(), 1);
    // With the importance, the weighted error of that tensor is lower than without it.
    QuantizeOptions plain;
    auto a = quantizeTensor(*m, size_t(m->indexOf("blk.0.attn_q.weight")), TensorType::Q4_K, plain);
    ASSERT_TRUE(a.ok());
    auto b = quantizeTensor(*m, size_t(m->indexOf("blk.0.attn_q.weight")), TensorType::Q4_K, qo);
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(b->usedImatrix);
    EXPECT_FALSE(a->usedImatrix);
    EXPECT_LT(b->metrics.weightedNmse, a->metrics.weightedNmse);
}

TEST(Engine, RefusesOutputEqualToInputAndUnwritableTypes) {
    test::TempDir dir;
    std::filesystem::copy_file(test::dataPath("models/stories260K.gguf"), dir.file("m.gguf"));
    auto m = model::openModel(dir.file("m.gguf"));
    ASSERT_TRUE(m.ok());
    PlanOptions po;
    po.ftype = Ftype::Q8_0;
    const Plan plan = buildPlan(*m, po);
    auto s = exportGguf(*m, plan, dir.file("m.gguf"), {});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadUsage);
    auto r = quantizeTensor(*m, size_t(m->indexOf("blk.0.ffn_down.weight")), TensorType::Q4_0, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().tensor, "blk.0.ffn_down.weight");
    EXPECT_NE(r.error().message.find("cannot hold rows of 172"), std::string::npos);
}

}  // namespace
