// safetensors through openModel: the real stories260K in Hugging Face layout equals the GGUF
// original byte for byte, a malformed config.json is refused, and every truncation of the real
// file is refused. (Dtypes, shards and the corrupt-file catalogue: safetensors_reader_test.cpp.)
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/model_loaders.h"
#include "io/safetensors_reader.h"
#include "model/model.h"
#include "test_util.h"

using namespace qs;
using formats::TensorType;

namespace {

// Bytes of a safetensors file with the given header JSON and data.
std::vector<uint8_t> stFile(const std::string& header, const std::vector<uint8_t>& data) {
    const uint64_t n = header.size();
    std::vector<uint8_t> out(8 + header.size() + data.size());
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, header.data(), header.size());
    if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
    return out;
}

TEST(Safetensors, ReadsRealStories260KWithConfig) {
    // The stored (Hugging Face) view; openModel gives the converted one (convert_test.cpp).
    auto m = io::loadSafetensorsModel(test::dataPath("models/stories260K-hf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    EXPECT_EQ(m->format(), model::ModelFormat::Safetensors);
    EXPECT_EQ(m->tensors().size(), 47u);
    EXPECT_EQ(m->totalElements(), 260032);
    const auto& hp = m->hparams();
    EXPECT_EQ(hp.architecture, "llama");
    EXPECT_EQ(hp.blockCount, 5u);
    EXPECT_EQ(hp.embeddingLength, 64u);
    EXPECT_EQ(hp.feedForwardLength, 172u);
    EXPECT_EQ(hp.headCount, 8u);
    EXPECT_EQ(hp.headCountKv, 4u);
    EXPECT_EQ(hp.vocabSize, 512u);
    EXPECT_NEAR(m->find("llama.attention.layer_norm_rms_epsilon")->asDouble().value(), 1e-5, 1e-12);
    const auto i = m->indexOf("model.layers.2.mlp.down_proj.weight");
    ASSERT_GE(i, 0);
    const auto& t = m->tensors()[size_t(i)];
    EXPECT_EQ(t.shape, (std::vector<int64_t>{172, 64}));  // ggml order: row length first
    EXPECT_EQ(t.layer, 2);
    EXPECT_EQ(t.role, model::TensorRole::FfnDown);
    EXPECT_EQ(t.type, TensorType::F32);
    // The same weights as the GGUF original, byte for byte.
    auto g = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(g.ok());
    const auto& gt = g->tensors()[size_t(g->indexOf("blk.2.ffn_down.weight"))];
    ASSERT_EQ(gt.nbytes, t.nbytes);
    EXPECT_EQ(0, std::memcmp(g->tensorData(gt).data(), m->tensorData(t).data(), t.nbytes));
    for (const auto& x : m->tensors()) {
        if (x.name.find("layers.") != std::string::npos) EXPECT_GE(x.layer, 0) << x.name;
        EXPECT_NE(x.role, model::TensorRole::Other) << x.name;
    }
}

TEST(Safetensors, MalformedConfigIsAnError) {
    test::TempDir dir;
    test::writeFile(dir.file("model.safetensors"),
                    stFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                           std::vector<uint8_t>(16, 0)));
    const std::string bad = "{ \"model_type\": ";
    test::writeFile(dir.file("config.json"), {bad.begin(), bad.end()});
    auto m = model::openModel(dir.path().string());
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().what().find("config.json"), std::string::npos) << m.error().what();
}

TEST(Safetensors, EveryTruncationOfTheRealFileIsRefused) {
    const auto bytes = test::readFile(test::dataPath("models/stories260K-hf/model.safetensors"));
    auto full = io::parseSafetensors(bytes, "full");
    ASSERT_TRUE(full.ok());
    const uint64_t lastEnd = full->tensors.back().begin + full->tensors.back().nbytes;
    for (size_t n = 0; n < lastEnd; n += (n < full->dataOffset + 16 ? 7 : 4093)) {
        EXPECT_FALSE(io::parseSafetensors({bytes.data(), n}, "cut").ok()) << n;
    }
}

}  // namespace
