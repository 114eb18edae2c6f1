// The core pieces of llama-quantize's drop-in: the requantize refusal (issue 15), block pruning
// (--prune-layers) and metadata overrides (--override-kv) in the export's key order. The files
// themselves are compared with llama.cpp's in tests/cli/llama_quantize_compat_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "quant/plan_compare.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;

namespace {

Plan presetPlan(const model::Model& m, Ftype f) {
    PlanOptions po;
    po.ftype = f;
    return buildPlan(m, po);
}

TEST(Requantize, RefusedNamingTheFirstTensorInLlamaOrderAndWarnedWhenAllowed) {
    auto m = model::openModel(test::dataPath("models/reference-quants/stories260K-Q8_0.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const Plan q4 = presetPlan(*m, Ftype::Q4_0);
    auto st = checkRequantize(*m, q4, false);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::BadUsage);
    // output.weight stays Q8_0 (Q4_0's Q6_K falls back to Q8_0 on 64-wide rows): the first
    // re-quantized tensor in llama.cpp's order is token_embd.weight.
    EXPECT_EQ(st.error().tensor, "token_embd.weight");
    const auto idx = m->indexOf("token_embd.weight");
    ASSERT_GE(idx, 0);
    EXPECT_EQ(st.error().offset, m->tensors()[size_t(idx)].offset);
    EXPECT_NE(st.error().what().find("requantizing from type q8_0 is disabled"), std::string::npos);
    EXPECT_NE(st.error().what().find("--allow-requantize"), std::string::npos);
    EXPECT_TRUE(checkRequantize(*m, q4, true).ok());
    const std::string w = requantizeWarning(*m, q4);
    EXPECT_NE(w.find("token_embd.weight, q8_0 -> q4_0"), std::string::npos) << w;
    // The same type as stored copies, never re-quantizes.
    const Plan q8 = presetPlan(*m, Ftype::Q8_0);
    EXPECT_TRUE(checkRequantize(*m, q8, false).ok());
    EXPECT_TRUE(requantizeWarning(*m, q8).empty());
    // A float model is never refused.
    auto f = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(checkRequantize(*f, presetPlan(*f, Ftype::Q4_0), false).ok());
    EXPECT_EQ(llamaTypeName(formats::TensorType::Q4_K), "q4_K");
    EXPECT_EQ(llamaTypeName(formats::TensorType::IQ4_NL), "iq4_nl");
}

TEST(PruneBlocks, DropsAndRenumbersLikeLlamaCppKeepingTheLayerCountForMixing) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->tensors().size(), 48u);
    std::map<std::string, std::string> renamed;
    auto left = m->pruneBlocks({3, 1, 99, 1}, &renamed);  // unsorted, repeated, past the end
    ASSERT_TRUE(left.ok()) << left.error().what();
    EXPECT_EQ(*left, 3u);
    EXPECT_EQ(m->tensors().size(), 30u);
    EXPECT_EQ(m->hparams().blockCount, 5u);  // llama.cpp's mixing counts the original layers
    EXPECT_EQ(renamed.at("blk.2.attn_q.weight"), "blk.1.attn_q.weight");
    EXPECT_EQ(renamed.at("blk.4.ffn_down.weight"), "blk.2.ffn_down.weight");
    EXPECT_EQ(renamed.at("blk.0.attn_k.weight"), "blk.0.attn_k.weight");
    EXPECT_EQ(renamed.at("output.weight"), "output.weight");
    EXPECT_EQ(renamed.count("blk.1.attn_q.weight"), 0u);  // pruned
    EXPECT_GE(m->indexOf("blk.2.ffn_up.weight"), 0);
    EXPECT_EQ(m->indexOf("blk.3.ffn_up.weight"), -1);
    int maxLayer = -1;
    for (const auto& t : m->tensors()) maxLayer = std::max(maxLayer, t.layer);
    EXPECT_EQ(maxLayer, 2);
    // The pruned model's data is the original tensors' data.
    auto orig = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(orig.ok());
    const auto a = m->tensorData(m->tensors()[size_t(m->indexOf("blk.1.attn_q.weight"))]);
    const auto b = orig->tensorData(orig->tensors()[size_t(orig->indexOf("blk.2.attn_q.weight"))]);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
    EXPECT_FALSE(m->pruneBlocks({-1}).ok());
}

TEST(ExportKeys, OverridesFollowFileTypeAndFinalKeysComeLast) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    Plan p = presetPlan(*m, Ftype::Q8_0);
    p.kvOverrides.push_back({"general.name", io::GgufValue::string("renamed")});
    p.kvOverrides.push_back({"test.flag", io::GgufValue::boolean(true)});
    p.finalKv.push_back({"llama.block_count", io::GgufValue::u32(3)});
    auto w = prepareExport(*m, p, nullptr);
    ASSERT_TRUE(w.ok()) << w.error().what();
    const auto& kvs = (*w)->kvs();
    ASSERT_GE(kvs.size(), 5u);
    const size_t n = kvs.size();
    EXPECT_EQ(kvs[n - 5].key, "general.quantization_version");
    EXPECT_EQ(kvs[n - 4].key, "general.file_type");
    EXPECT_EQ(kvs[n - 3].key, "general.name");
    EXPECT_EQ(kvs[n - 3].value.str(), "renamed");
    EXPECT_EQ(kvs[n - 2].key, "test.flag");
    EXPECT_EQ(kvs[n - 1].key, "llama.block_count");
    EXPECT_EQ(std::count_if(kvs.begin(), kvs.end(),
                            [](const io::GgufKv& kv) {
                                return kv.key == "general.name" || kv.key == "llama.block_count";
                            }),
              2);
}

}  // namespace
