// safetensors: the real stories260K in Hugging Face layout, every dtype, sharded models, and a
// catalogue of corrupt files, each refused with the file, tensor and offset.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

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
    auto m = model::openModel(test::dataPath("models/stories260K-hf"));
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

TEST(Safetensors, EveryDtype) {
    test::TempDir dir;
    struct D {
        const char* name;
        TensorType type;
        int size;
    } dtypes[] = {{"F64", TensorType::F64, 8},     {"F32", TensorType::F32, 4},
                  {"F16", TensorType::F16, 2},     {"BF16", TensorType::BF16, 2},
                  {"F8_E4M3", TensorType::F8_E4M3, 1}, {"F8_E5M2", TensorType::F8_E5M2, 1},
                  {"I64", TensorType::I64, 8},     {"I32", TensorType::I32, 4},
                  {"I16", TensorType::I16, 2},     {"I8", TensorType::I8, 1},
                  {"U8", TensorType::U8, 1},       {"BOOL", TensorType::BOOL, 1}};
    nlohmann::ordered_json h;
    h["__metadata__"] = {{"format", "pt"}};
    uint64_t off = 0;
    for (const auto& d : dtypes) {
        h[std::string("t_") + d.name] = {{"dtype", d.name}, {"shape", {2, 3}},
                                         {"data_offsets", {off, off + uint64_t(6 * d.size)}}};
        off += uint64_t(6 * d.size);
    }
    std::vector<uint8_t> data(off, 0);
    test::writeFile(dir.file("all.safetensors"), stFile(h.dump(), data));
    auto m = model::openModel(dir.file("all.safetensors"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    ASSERT_EQ(m->tensors().size(), std::size(dtypes));
    for (const auto& d : dtypes) {
        const auto i = m->indexOf(std::string("t_") + d.name);
        ASSERT_GE(i, 0) << d.name;
        EXPECT_EQ(m->tensors()[size_t(i)].type, d.type) << d.name;
        EXPECT_EQ(m->tensors()[size_t(i)].nbytes, uint64_t(6 * d.size)) << d.name;
        EXPECT_EQ(m->tensors()[size_t(i)].shape, (std::vector<int64_t>{3, 2}));
    }
    EXPECT_EQ(m->find("safetensors.metadata.format")->str(), "pt");
}

TEST(Safetensors, ShardedModelThroughTheIndex) {
    test::TempDir dir;
    auto shard = [&](const std::string& file, const std::string& name, float value) {
        nlohmann::json h;
        h[name] = {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}};
        std::vector<uint8_t> data(16);
        for (int i = 0; i < 4; ++i) std::memcpy(data.data() + 4 * i, &value, 4);
        test::writeFile(dir.file(file), stFile(h.dump(), data));
    };
    shard("model-00001-of-00002.safetensors", "model.layers.0.mlp.up_proj.weight", 1.5f);
    shard("model-00002-of-00002.safetensors", "model.layers.1.mlp.up_proj.weight", -2.0f);
    nlohmann::json idx;
    idx["metadata"] = {{"total_size", 32}};
    idx["weight_map"] = {{"model.layers.0.mlp.up_proj.weight", "model-00001-of-00002.safetensors"},
                         {"model.layers.1.mlp.up_proj.weight", "model-00002-of-00002.safetensors"}};
    const std::string idxText = idx.dump();
    test::writeFile(dir.file("model.safetensors.index.json"), {idxText.begin(), idxText.end()});
    auto m = model::openModel(dir.path().string());
    ASSERT_TRUE(m.ok()) << m.error().what();
    ASSERT_EQ(m->tensors().size(), 2u);
    EXPECT_EQ(m->files().size(), 2u);
    for (const auto& [name, value] : {std::pair{"model.layers.0.mlp.up_proj.weight", 1.5f},
                                      std::pair{"model.layers.1.mlp.up_proj.weight", -2.0f}}) {
        const auto& t = m->tensors()[size_t(m->indexOf(name))];
        float v;
        std::memcpy(&v, m->tensorData(t).data() + 12, 4);
        EXPECT_EQ(v, value) << name;
    }
    // Missing shard and a tensor missing from its shard.
    std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
    auto missing = model::openModel(dir.file("model.safetensors.index.json"));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("missing shard"), std::string::npos) << missing.error().what();
    EXPECT_NE(missing.error().what().find("model-00002-of-00002.safetensors"), std::string::npos);
    shard("model-00002-of-00002.safetensors", "model.layers.9.mlp.up_proj.weight", 0.0f);
    auto absent = model::openModel(dir.file("model.safetensors.index.json"));
    ASSERT_FALSE(absent.ok());
    EXPECT_EQ(absent.error().tensor, "model.layers.1.mlp.up_proj.weight");
}

enum class Corrupt {
    Truncated8,
    HeaderLenPastEnd,
    MalformedJson,
    NotAnObject,
    BadDtype,
    NegativeDim,
    ShapeOverflow,
    SizeMismatch,
    OffsetPastEnd,
    Overlap,
    DuplicateName,
    MissingFields,
};

struct CorruptCase {
    Corrupt kind;
    const char* name;
    const char* needle;
    const char* tensor;
};

const CorruptCase kCases[] = {
    {Corrupt::Truncated8, "Truncated8", "shorter than the 8-byte", ""},
    {Corrupt::HeaderLenPastEnd, "HeaderLenPastEnd", "runs past the end", ""},
    {Corrupt::MalformedJson, "MalformedJson", "malformed JSON", ""},
    {Corrupt::NotAnObject, "NotAnObject", "not an object", ""},
    {Corrupt::BadDtype, "BadDtype", "unsupported dtype 'U16'", "w"},
    {Corrupt::NegativeDim, "NegativeDim", "negative", "w"},
    {Corrupt::ShapeOverflow, "ShapeOverflow", "overflows", "w"},
    {Corrupt::SizeMismatch, "SizeMismatch", "needs 16", "w"},
    {Corrupt::OffsetPastEnd, "OffsetPastEnd", "past the end of the file", "w"},
    {Corrupt::Overlap, "Overlap", "overlaps tensor", "x"},
    {Corrupt::DuplicateName, "DuplicateName", "named twice", "w"},
    {Corrupt::MissingFields, "MissingFields", "needs \"dtype\"", "w"},
};

std::vector<uint8_t> build(Corrupt c) {
    const std::vector<uint8_t> data16(16, 0);
    switch (c) {
    case Corrupt::Truncated8: return {1, 0, 0};
    case Corrupt::HeaderLenPastEnd: return {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    case Corrupt::MalformedJson: return stFile("{\"w\": {\"dtype\": \"F32\",", data16);
    case Corrupt::NotAnObject: return stFile("[1,2,3]", data16);
    case Corrupt::BadDtype:
        return stFile(R"({"w":{"dtype":"U16","shape":[8],"data_offsets":[0,16]}})", data16);
    case Corrupt::NegativeDim:
        return stFile(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data16);
    case Corrupt::ShapeOverflow:
        return stFile(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})",
                      data16);
    case Corrupt::SizeMismatch:
        return stFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}})", data16);
    case Corrupt::OffsetPastEnd:
        return stFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[1000,1016]}})", data16);
    case Corrupt::Overlap:
        return stFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                      R"("x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                      data16);
    case Corrupt::DuplicateName:
        return stFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      data16);
    case Corrupt::MissingFields: return stFile(R"({"w":{"dtype":"F32"}})", data16);
    }
    return {};
}

class SafetensorsCorrupt : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(SafetensorsCorrupt, GivesCleanErrorWithFileTensorAndOffset) {
    const auto& c = GetParam();
    test::TempDir dir;
    const std::string path = dir.file(std::string(c.name) + ".safetensors");
    test::writeFile(path, build(c.kind));
    auto m = model::openModel(path);
    ASSERT_FALSE(m.ok()) << c.name;
    EXPECT_EQ(m.error().code, ErrorCode::BadInput) << m.error().what();
    EXPECT_EQ(m.error().exitCode(), 2);
    EXPECT_NE(m.error().what().find(path), std::string::npos) << m.error().what();
    EXPECT_NE(m.error().message.find(c.needle), std::string::npos) << m.error().what();
    EXPECT_EQ(m.error().tensor, c.tensor) << m.error().what();
    EXPECT_NE(m.error().offset, kNoOffset) << m.error().what();
}

INSTANTIATE_TEST_SUITE_P(Catalogue, SafetensorsCorrupt, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CorruptCase>& p) {
                             return std::string(p.param.name);
                         });

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

} // namespace
