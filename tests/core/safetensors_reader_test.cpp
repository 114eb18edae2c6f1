// safetensors reader: the real stories260K in Hugging Face layout (checked against the file's
// own JSON header), every dtype, a sharded model through its index, config.json as GGUF-style
// metadata, and a catalogue of corrupt files and folders, each refused with a clean Error that
// names the file, the tensor and the byte offset. Regression inputs for bugs found by review
// and fuzzing come last.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "io/model_loaders.h"
#include "io/safetensors_reader.h"
#include "model/model.h"
#include "test_util.h"

using namespace qs;
using formats::TensorType;

namespace {

// Bytes of a safetensors file with the given header JSON and data (length little-endian).
std::vector<uint8_t> stBytes(const std::string& header, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> out(8 + header.size() + data.size());
    for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
    std::memcpy(out.data() + 8, header.data(), header.size());
    if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
    return out;
}

void writeText(const std::string& path, const std::string& text) {
    test::writeFile(path, {text.begin(), text.end()});
}

// Data bytes 0, 1, 2, ... so that every tensor's span has recognizable contents.
std::vector<uint8_t> ramp(size_t n, uint8_t start = 0) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(start + i);
    return v;
}

const std::string kStoriesDir = test::dataPath("models/stories260K-hf");

TEST(SafetensorsReader, RealStories260KMatchesItsOwnHeader) {
    const std::string file = kStoriesDir + "/model.safetensors";
    const auto bytes = test::readFile(file);
    ASSERT_GT(bytes.size(), 8u);
    // The header decoded independently of the reader: the reference to check against.
    uint64_t hl = 0;
    std::memcpy(&hl, bytes.data(), 8);
    const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + long(hl));

    auto m = io::loadSafetensorsModel(kStoriesDir);
    ASSERT_TRUE(m.ok()) << m.error().what();
    EXPECT_EQ(m->format(), model::ModelFormat::Safetensors);
    EXPECT_EQ(m->version(), 0u);
    EXPECT_EQ(m->alignment(), 0u);
    EXPECT_EQ(m->path(), file);
    ASSERT_EQ(m->files().size(), 1u);
    ASSERT_EQ(m->tensors().size(), header.size() - 1);  // all but __metadata__
    EXPECT_EQ(m->tensors().size(), 2u + 5u * 9u);       // embeddings, norm, 5 blocks of 9
    EXPECT_EQ(m->totalElements(), 260032);

    uint64_t prevOffset = 0;
    std::set<int> layers;
    for (const auto& t : m->tensors()) {
        SCOPED_TRACE(t.name);
        ASSERT_TRUE(header.contains(t.name));
        const auto& h = header[t.name];
        EXPECT_EQ(h["dtype"], "F32");
        EXPECT_EQ(t.type, TensorType::F32);
        std::vector<int64_t> pt = h["shape"].get<std::vector<int64_t>>();
        EXPECT_EQ(t.shape, std::vector<int64_t>(pt.rbegin(), pt.rend()));  // ggml order
        const auto b = h["data_offsets"][0].get<uint64_t>();
        const auto e = h["data_offsets"][1].get<uint64_t>();
        EXPECT_EQ(t.offset, 8 + hl + b);  // absolute file offset
        EXPECT_EQ(t.nbytes, e - b);
        EXPECT_EQ(t.fileIndex, 0u);
        EXPECT_GE(t.offset, prevOffset);  // in the file's order of data offsets
        prevOffset = t.offset;
        EXPECT_EQ(m->tensorData(t).data(), m->files()[0].data() + t.offset);  // a view, no copy
        EXPECT_EQ(0, std::memcmp(m->tensorData(t).data(), bytes.data() + t.offset, t.nbytes));
        if (t.layer >= 0) layers.insert(t.layer);
    }
    EXPECT_EQ(layers, (std::set<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(m->tensors().front().name, "model.embed_tokens.weight");
    EXPECT_EQ(m->tensors().back().name, "model.norm.weight");
    const auto& down = m->tensors()[size_t(m->indexOf("model.layers.0.mlp.down_proj.weight"))];
    EXPECT_EQ(down.shape, (std::vector<int64_t>{172, 64}));
    EXPECT_EQ(down.rowLength(), 172);
    EXPECT_EQ(down.rowCount(), 64);
    EXPECT_EQ(down.offset, 8 + hl + 131328);
    const auto& k = m->tensors()[size_t(m->indexOf("model.layers.4.self_attn.k_proj.weight"))];
    EXPECT_EQ(k.shape, (std::vector<int64_t>{64, 32}));
    EXPECT_EQ(k.layer, 4);

    // config.json as GGUF-style metadata.
    auto str = [&](const char* key) { return m->find(key) ? m->find(key)->str() : "<absent>"; };
    auto u = [&](const char* key) { return m->find(key) ? m->find(key)->asUInt().value_or(0) : 0; };
    EXPECT_EQ(str("general.architecture"), "llama");
    EXPECT_EQ(u("llama.block_count"), 5u);
    EXPECT_EQ(u("llama.embedding_length"), 64u);
    EXPECT_EQ(u("llama.feed_forward_length"), 172u);
    EXPECT_EQ(u("llama.attention.head_count"), 8u);
    EXPECT_EQ(u("llama.attention.head_count_kv"), 4u);
    EXPECT_EQ(u("llama.context_length"), 512u);
    EXPECT_EQ(u("llama.vocab_size"), 512u);
    EXPECT_EQ(m->find("llama.block_count")->type(), io::GgufType::UInt32);
    ASSERT_NE(m->find("llama.rope.freq_base"), nullptr);
    EXPECT_EQ(m->find("llama.rope.freq_base")->type(), io::GgufType::Float32);
    EXPECT_FLOAT_EQ(float(m->find("llama.rope.freq_base")->asDouble().value()), 10000.0f);
    EXPECT_FLOAT_EQ(float(m->find("llama.attention.layer_norm_rms_epsilon")->asDouble().value()),
                    1e-5f);
    EXPECT_EQ(m->find("llama.expert_count"), nullptr);
    EXPECT_EQ(str("safetensors.metadata.format"), "pt");
    EXPECT_EQ(m->hparams().architecture, "llama");
    EXPECT_EQ(m->hparams().blockCount, 5u);
    EXPECT_EQ(m->hparams().headCountKv, 4u);
}

TEST(SafetensorsReader, OpensByFileAndByDirectoryAlike) {
    auto byDir = io::loadSafetensorsModel(kStoriesDir);
    auto byFile = io::loadSafetensorsModel(kStoriesDir + "/model.safetensors");
    ASSERT_TRUE(byDir.ok() && byFile.ok());
    EXPECT_EQ(byDir->path(), byFile->path());
    ASSERT_EQ(byDir->tensors().size(), byFile->tensors().size());
    for (size_t i = 0; i < byDir->tensors().size(); ++i) {
        EXPECT_EQ(byDir->tensors()[i].name, byFile->tensors()[i].name);
        EXPECT_EQ(byDir->tensors()[i].offset, byFile->tensors()[i].offset);
    }
}

struct Dtype {
    const char* name;
    TensorType type;
    int size;
};
const Dtype kDtypes[] = {{"F64", TensorType::F64, 8},         {"F32", TensorType::F32, 4},
                         {"F16", TensorType::F16, 2},         {"BF16", TensorType::BF16, 2},
                         {"F8_E4M3", TensorType::F8_E4M3, 1}, {"F8_E5M2", TensorType::F8_E5M2, 1},
                         {"I64", TensorType::I64, 8},         {"I32", TensorType::I32, 4},
                         {"I16", TensorType::I16, 2},         {"I8", TensorType::I8, 1},
                         {"U8", TensorType::U8, 1},           {"BOOL", TensorType::BOOL, 1}};

TEST(SafetensorsReader, EveryDtypeWithItsBytes) {
    test::TempDir dir;
    nlohmann::ordered_json h;
    h["__metadata__"] = {{"format", "pt"}, {"note", "every dtype"}};
    uint64_t off = 0;
    std::map<std::string, uint64_t> begins;
    // Listed in reverse data order: the reader must sort by offset, not trust the JSON order.
    std::vector<std::pair<std::string, nlohmann::ordered_json>> entries;
    for (const auto& d : kDtypes) {
        const uint64_t n = uint64_t(6 * d.size);
        entries.push_back(
            {std::string("t_") + d.name,
             {{"dtype", d.name}, {"shape", {2, 3}}, {"data_offsets", {off, off + n}}}});
        begins[std::string("t_") + d.name] = off;
        off += n;
    }
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) h[it->first] = it->second;
    const auto data = ramp(off, 7);
    const auto bytes = stBytes(h.dump(), data);
    test::writeFile(dir.file("all.safetensors"), bytes);

    auto parsed = io::parseSafetensors(bytes, "all.safetensors");
    ASSERT_TRUE(parsed.ok()) << parsed.error().what();
    EXPECT_EQ(parsed->headerLength, h.dump().size());
    EXPECT_EQ(parsed->dataOffset, 8 + h.dump().size());
    EXPECT_EQ(parsed->metadata.at("note"), "every dtype");
    ASSERT_EQ(parsed->tensors.size(), std::size(kDtypes));
    for (size_t i = 0; i < std::size(kDtypes); ++i) {
        EXPECT_EQ(parsed->tensors[i].name, std::string("t_") + kDtypes[i].name);  // data order
        EXPECT_EQ(parsed->tensors[i].shape, (std::vector<int64_t>{2, 3}));        // PyTorch order
        EXPECT_EQ(parsed->tensors[i].nElements, 6u);
    }

    auto m = io::loadSafetensorsModel(dir.file("all.safetensors"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    ASSERT_EQ(m->tensors().size(), std::size(kDtypes));
    for (const auto& d : kDtypes) {
        SCOPED_TRACE(d.name);
        const auto i = m->indexOf(std::string("t_") + d.name);
        ASSERT_GE(i, 0);
        const auto& t = m->tensors()[size_t(i)];
        EXPECT_EQ(t.type, d.type);
        EXPECT_EQ(t.nbytes, uint64_t(6 * d.size));
        EXPECT_EQ(t.nElements, 6);
        EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
        EXPECT_EQ(t.offset, parsed->dataOffset + begins[t.name]);
        const auto span = m->tensorData(t);
        ASSERT_EQ(span.size(), t.nbytes);
        EXPECT_EQ(0, std::memcmp(span.data(), data.data() + begins[t.name], t.nbytes));
    }
    EXPECT_EQ(m->find("safetensors.metadata.format")->str(), "pt");
    EXPECT_EQ(m->find("safetensors.metadata.note")->str(), "every dtype");
    EXPECT_EQ(m->find("general.architecture"), nullptr);  // no config.json beside it
}

TEST(SafetensorsReader, UnknownDtypesAreNamed) {
    for (const char* dtype : {"U16", "U32", "U64", "F8_E8M0", "F4", "f32", ""}) {
        const std::string h =
            std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[2],"data_offsets":[0,4]}})";
        auto r = io::parseSafetensors(stBytes(h, ramp(4)), "x.safetensors");
        ASSERT_FALSE(r.ok()) << dtype;
        EXPECT_EQ(r.error().tensor, "w");
        EXPECT_NE(r.error().message.find(std::string("unsupported dtype '") + dtype + "'"),
                  std::string::npos)
            << r.error().what();
    }
}

TEST(SafetensorsReader, ScalarAndEmptyTensors) {
    // shape [] is a scalar (one element), a zero dimension is an empty tensor with no bytes.
    const std::string h = R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                          R"("e":{"dtype":"F16","shape":[0,8],"data_offsets":[4,4]}})";
    test::TempDir dir;
    test::writeFile(dir.file("se.safetensors"), stBytes(h, ramp(4)));
    auto m = io::loadSafetensorsModel(dir.file("se.safetensors"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto& s = m->tensors()[size_t(m->indexOf("s"))];
    EXPECT_EQ(s.shape, (std::vector<int64_t>{1}));
    EXPECT_EQ(s.nElements, 1);
    const auto& e = m->tensors()[size_t(m->indexOf("e"))];
    EXPECT_EQ(e.shape, (std::vector<int64_t>{8, 0}));
    EXPECT_EQ(e.nbytes, 0u);
    EXPECT_EQ(e.nElements, 0);
}

// Two shards of three and two tensors, the index listing all five.
struct ShardedModel {
    test::TempDir dir;
    std::map<std::string, std::vector<uint8_t>> data;  // tensor -> its bytes

    void shard(const std::string& file, const std::vector<std::string>& names, uint8_t seed) {
        nlohmann::json h;
        h["__metadata__"] = {{"format", "pt"}};
        std::vector<uint8_t> bytes;
        for (size_t i = 0; i < names.size(); ++i) {
            const auto d = ramp(8 * (i + 1), uint8_t(seed + 16 * i));
            h[names[i]] = {{"dtype", "BF16"},
                           {"shape", {int(i + 1), 4}},
                           {"data_offsets", {bytes.size(), bytes.size() + d.size()}}};
            data[names[i]] = d;
            bytes.insert(bytes.end(), d.begin(), d.end());
        }
        test::writeFile(dir.file(file), stBytes(h.dump(), bytes));
    }
    std::string index(const std::map<std::string, std::string>& weightMap) {
        nlohmann::json idx;
        idx["metadata"] = {{"total_size", 0}};
        idx["weight_map"] = weightMap;
        writeText(dir.file("model.safetensors.index.json"), idx.dump(2));
        return dir.file("model.safetensors.index.json");
    }
};

const char* kShard1 = "model-00001-of-00002.safetensors";
const char* kShard2 = "model-00002-of-00002.safetensors";
const std::vector<std::string> kNames1 = {"model.embed_tokens.weight",
                                          "model.layers.0.self_attn.q_proj.weight",
                                          "model.layers.0.mlp.up_proj.weight"};
const std::vector<std::string> kNames2 = {"model.layers.1.mlp.up_proj.weight", "model.norm.weight"};

std::map<std::string, std::string> fullWeightMap() {
    std::map<std::string, std::string> wm;
    for (const auto& n : kNames1) wm[n] = kShard1;
    for (const auto& n : kNames2) wm[n] = kShard2;
    return wm;
}

TEST(SafetensorsReader, ShardedModelIsTheUnionOfItsShards) {
    ShardedModel s;
    s.shard(kShard1, kNames1, 10);
    s.shard(kShard2, kNames2, 100);
    const std::string idx = s.index(fullWeightMap());
    const std::string config = R"({"model_type": "mistral", "num_hidden_layers": 2,
        "hidden_size": 4, "num_attention_heads": 2, "_name_or_path": "tiny/mistral"})";
    writeText(s.dir.file("config.json"), config);

    for (const std::string& path : {idx, s.dir.path().string()}) {
        SCOPED_TRACE(path);
        auto m = io::loadSafetensorsModel(path);
        ASSERT_TRUE(m.ok()) << m.error().what();
        EXPECT_EQ(m->path(), idx);
        ASSERT_EQ(m->files().size(), 2u);
        ASSERT_EQ(m->tensors().size(), 5u);
        // Shard by shard, each in its data order.
        std::vector<std::string> order;
        for (const auto& t : m->tensors()) order.push_back(t.name);
        std::vector<std::string> want = kNames1;
        want.insert(want.end(), kNames2.begin(), kNames2.end());
        EXPECT_EQ(order, want);
        for (const auto& t : m->tensors()) {
            SCOPED_TRACE(t.name);
            const bool first = std::find(kNames1.begin(), kNames1.end(), t.name) != kNames1.end();
            EXPECT_EQ(t.fileIndex, first ? 0u : 1u);
            EXPECT_EQ(t.type, TensorType::BF16);
            EXPECT_EQ(t.shape[0], 4);
            const auto span = m->tensorData(t);
            ASSERT_EQ(span.size(), s.data[t.name].size());
            EXPECT_EQ(0, std::memcmp(span.data(), s.data[t.name].data(), span.size()));
        }
        // Mistral is the llama architecture to llama.cpp; head_count_kv defaults to head_count.
        EXPECT_EQ(m->find("general.architecture")->str(), "llama");
        EXPECT_EQ(m->find("general.name")->str(), "tiny/mistral");
        EXPECT_EQ(m->find("llama.attention.head_count_kv")->asUInt(), 2u);
        EXPECT_EQ(m->find("llama.block_count")->asUInt(), 2u);
        EXPECT_EQ(m->find("llama.feed_forward_length"), nullptr);
        // Both shards say format=pt: one key, not two.
        size_t formats = 0;
        for (const auto& kv : m->metadata()) formats += kv.key == "safetensors.metadata.format";
        EXPECT_EQ(formats, 1u);
    }
}

TEST(SafetensorsReader, ConfigArchitectureNames) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"model_type":"llama"})", "llama"},
        {R"({"model_type":"mistral"})", "llama"},
        {R"({"model_type":"mixtral"})", "llama"},
        {R"({"model_type":"qwen2"})", "qwen2"},
        {R"({"model_type":"qwen3"})", "qwen3"},
        {R"({"model_type":"gemma"})", "gemma"},
        {R"({"model_type":"phi3"})", "phi3"},
        {R"({"model_type":"qwen2_moe"})", "qwen2moe"},
        {R"({"architectures":["Qwen2ForCausalLM"]})", "qwen2"},
    };
    for (const auto& [config, arch] : cases) {
        test::TempDir dir;
        test::writeFile(
            dir.file("model.safetensors"),
            stBytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", ramp(4)));
        writeText(dir.file("config.json"), config);
        auto m = io::loadSafetensorsModel(dir.path().string());
        ASSERT_TRUE(m.ok()) << m.error().what();
        EXPECT_EQ(m->find("general.architecture")->str(), arch) << config;
    }
}

TEST(SafetensorsReader, ConfigMixtureOfExperts) {
    test::TempDir dir;
    test::writeFile(dir.file("model.safetensors"),
                    stBytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", ramp(4)));
    writeText(dir.file("config.json"), R"({"model_type":"mixtral","num_local_experts":8,
        "num_experts_per_tok":2,"num_attention_heads":32,"num_key_value_heads":8,
        "max_position_embeddings":32768.0,"rope_theta":1000000.0,"vocab_size":32000})");
    auto m = io::loadSafetensorsModel(dir.path().string());
    ASSERT_TRUE(m.ok()) << m.error().what();
    EXPECT_EQ(m->find("llama.expert_count")->asUInt(), 8u);
    EXPECT_EQ(m->find("llama.expert_used_count")->asUInt(), 2u);
    EXPECT_EQ(m->find("llama.attention.head_count_kv")->asUInt(), 8u);
    EXPECT_EQ(m->find("llama.context_length")->asUInt(), 32768u);  // integral float accepted
    EXPECT_FLOAT_EQ(float(m->find("llama.rope.freq_base")->asDouble().value()), 1e6f);
    EXPECT_EQ(m->hparams().expertCount, 8u);

    writeText(dir.file("config.json"), R"({"model_type":"qwen2_moe","num_experts":60})");
    auto q = io::loadSafetensorsModel(dir.path().string());
    ASSERT_TRUE(q.ok()) << q.error().what();
    EXPECT_EQ(q->find("qwen2moe.expert_count")->asUInt(), 60u);
}

TEST(SafetensorsReader, ConfigValueOfTheWrongKindIsNamed) {
    for (const char* config :
         {R"({"model_type":"llama","hidden_size":"64"})",
          R"({"model_type":"llama","hidden_size":-1})",
          R"({"model_type":"llama","hidden_size":4294967296})",
          R"({"model_type":"llama","hidden_size":1.5})", R"({"model_type":7})", R"([1, 2])"}) {
        test::TempDir dir;
        test::writeFile(
            dir.file("model.safetensors"),
            stBytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", ramp(4)));
        writeText(dir.file("config.json"), config);
        auto m = io::loadSafetensorsModel(dir.path().string());
        ASSERT_FALSE(m.ok()) << config;
        EXPECT_EQ(m.error().code, ErrorCode::BadInput);
        EXPECT_NE(m.error().what().find("config.json"), std::string::npos) << m.error().what();
    }
}

// ---------------------------------------------------------------------------------------------
// The corrupt-file catalogue.

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
    MissingShard,
    TensorMissingFromShard,
    MalformedConfig,
};

// What one corrupt case must produce.
struct Expect {
    std::string open;    ///< the path to open
    std::string file;    ///< a file name that must appear in what()
    std::string needle;  ///< a phrase of the message
    std::string tensor;  ///< Error::tensor
    uint64_t offset;     ///< Error::offset (kNoOffset where no offset applies)
};

const std::string kW16 = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";

// Writes the corrupt model of kind `c` into `dir` and says what opening it must report.
Expect makeCorrupt(Corrupt c, const test::TempDir& dir) {
    const auto data16 = ramp(16);
    const std::string st = dir.file("bad.safetensors");
    auto single = [&](const std::vector<uint8_t>& bytes, std::string needle, std::string tensor,
                      uint64_t offset) {
        test::writeFile(st, bytes);
        return Expect{st, "bad.safetensors", std::move(needle), std::move(tensor), offset};
    };
    switch (c) {
    case Corrupt::Truncated8: return single({1, 0, 0}, "shorter than the 8-byte", "", 0);
    case Corrupt::HeaderLenPastEnd:
        return single({0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'}, "runs past the end", "", 0);
    case Corrupt::MalformedJson: {
        const std::string h = R"({"w": {"dtype": "F32", "shape": [4]] })";
        // nlohmann stops at the stray ']' (index 35 of the header).
        return single(stBytes(h, data16), "malformed JSON", "", 8 + h.find("]]") + 1);
    }
    case Corrupt::NotAnObject: return single(stBytes("[1,2,3]", data16), "not an object", "", 8);
    case Corrupt::BadDtype:
        return single(stBytes(R"({"w":{"dtype":"U16","shape":[8],"data_offsets":[0,16]}})", data16),
                      "unsupported dtype 'U16'", "w", 9);  // the entry's key, "w" at byte 9
    case Corrupt::NegativeDim:
        return single(
            stBytes(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data16),
            "negative", "w", 9);
    case Corrupt::ShapeOverflow:
        return single(stBytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                              R"("data_offsets":[0,16]}})",
                              data16),
                      "overflows", "w", 9);
    case Corrupt::SizeMismatch: {
        const std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("w":{"dtype":"F32","shape":[4],"data_offsets":[4,16]}})";
        return single(stBytes(h, data16), "needs 16", "w", 8 + h.find("\"w\""));  // its key
    }
    case Corrupt::OffsetPastEnd:
        return single(
            stBytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[1000,1016]}})", data16),
            "past the end of the file", "w", 9);
    case Corrupt::Overlap: {
        const std::string h = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                              R"("x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
        // Where the overlapping data starts, in file bytes.
        return single(stBytes(h, data16), "overlaps tensor 'w'", "x", 8 + h.size() + 8);
    }
    case Corrupt::DuplicateName: {
        const std::string h = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                              R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        return single(stBytes(h, data16), "named twice", "w", 8 + h.rfind("\"w\""));
    }
    case Corrupt::MissingShard:
    case Corrupt::TensorMissingFromShard: {
        test::writeFile(dir.file("model-00001-of-00002.safetensors"), stBytes(kW16, data16));
        const std::string x = R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
        if (c == Corrupt::TensorMissingFromShard) {
            test::writeFile(dir.file("model-00002-of-00002.safetensors"), stBytes(x, data16));
        }
        nlohmann::json idx;
        idx["weight_map"] = {{"w", "model-00001-of-00002.safetensors"},
                             {"y", "model-00002-of-00002.safetensors"}};
        writeText(dir.file("model.safetensors.index.json"), idx.dump());
        if (c == Corrupt::MissingShard) {
            return {dir.path().string(), "model-00002-of-00002.safetensors", "missing shard", "",
                    kNoOffset};
        }
        return {dir.path().string(), "model-00002-of-00002.safetensors",
                "'y' listed in the index is missing from shard model-00002-of-00002", "y",
                kNoOffset};
    }
    case Corrupt::MalformedConfig: {
        test::writeFile(dir.file("model.safetensors"), stBytes(kW16, data16));
        const std::string cfg = "{ \"model_type\": \"llama\", \"hidden_size\": 64,, }";
        writeText(dir.file("config.json"), cfg);
        return {dir.path().string(), "config.json", "malformed config.json", "",
                cfg.find(",,") + 1};
    }
    }
    return {};
}

const std::pair<Corrupt, const char*> kCorruptCases[] = {
    {Corrupt::Truncated8, "Truncated8"},
    {Corrupt::HeaderLenPastEnd, "HeaderLenPastEnd"},
    {Corrupt::MalformedJson, "MalformedJson"},
    {Corrupt::NotAnObject, "NotAnObject"},
    {Corrupt::BadDtype, "BadDtype"},
    {Corrupt::NegativeDim, "NegativeDim"},
    {Corrupt::ShapeOverflow, "ShapeOverflow"},
    {Corrupt::SizeMismatch, "SizeMismatch"},
    {Corrupt::OffsetPastEnd, "OffsetPastEnd"},
    {Corrupt::Overlap, "Overlap"},
    {Corrupt::DuplicateName, "DuplicateName"},
    {Corrupt::MissingShard, "MissingShard"},
    {Corrupt::TensorMissingFromShard, "TensorMissingFromShard"},
    {Corrupt::MalformedConfig, "MalformedConfig"},
};

class SafetensorsReaderCorrupt : public ::testing::TestWithParam<std::pair<Corrupt, const char*>> {
};

TEST_P(SafetensorsReaderCorrupt, GivesCleanErrorNamingFileTensorAndOffset) {
    test::TempDir dir;
    const Expect want = makeCorrupt(GetParam().first, dir);
    auto m = io::loadSafetensorsModel(want.open);
    ASSERT_FALSE(m.ok());
    const Error& e = m.error();
    EXPECT_EQ(e.code, ErrorCode::BadInput) << e.what();
    EXPECT_EQ(e.exitCode(), 2);
    EXPECT_NE(e.file.find(want.file), std::string::npos) << e.what();
    EXPECT_NE(e.what().find(want.file), std::string::npos) << e.what();
    EXPECT_NE(e.message.find(want.needle), std::string::npos) << e.what();
    EXPECT_EQ(e.tensor, want.tensor) << e.what();
    EXPECT_EQ(e.offset, want.offset) << e.what();
    if (want.offset != kNoOffset) {
        EXPECT_LE(e.offset, std::filesystem::file_size(e.file)) << e.what();
    }
    // Single files give the same error through parseSafetensors directly.
    if (want.open.ends_with(".safetensors")) {
        auto p = io::parseSafetensors(test::readFile(want.open), "direct.safetensors");
        ASSERT_FALSE(p.ok());
        EXPECT_EQ(p.error().message, e.message);
        EXPECT_EQ(p.error().offset, e.offset);
        EXPECT_EQ(p.error().file, "direct.safetensors");
    }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, SafetensorsReaderCorrupt, ::testing::ValuesIn(kCorruptCases),
                         [](const auto& p) { return std::string(p.param.second); });

// ---------------------------------------------------------------------------------------------
// More refusals, and regressions.

TEST(SafetensorsReader, AllTensorProblemsAreCountedAndTheFirstInFileOrderReported) {
    // Three bad entries (z, a, m in file order; nlohmann would iterate a, m, z) and one good.
    const std::string h = R"({"z":{"dtype":"U16","shape":[2],"data_offsets":[0,4]},)"
                          R"("ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]},)"
                          R"("m":{"dtype":"F32","shape":[9],"data_offsets":[0,4]}})";
    auto r = io::parseSafetensors(stBytes(h, ramp(4)), "many.safetensors");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().tensor, "z");
    EXPECT_EQ(r.error().offset, 9u);
    EXPECT_NE(r.error().message.find("(and 2 more problems)"), std::string::npos)
        << r.error().what();
}

TEST(SafetensorsReader, ByteSizeOverflowIsRefused) {
    // 2^62 F64 elements are 2^65 bytes, which wrapped to 0 in a 64-bit product: an empty span
    // would have claimed 2^62 elements. Found reviewing the reader; now overflow-checked.
    const std::string h =
        R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})";
    auto r = io::parseSafetensors(stBytes(h, {}), "wrap.safetensors");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().tensor, "w");
    EXPECT_NE(r.error().message.find("overflows"), std::string::npos) << r.error().what();
    // And one that wrapped to a non-zero size: 2^61 + 1 I64 elements are 2^64 + 8 bytes, not 8.
    const std::string h2 =
        R"({"w":{"dtype":"I64","shape":[2305843009213693953],"data_offsets":[0,8]}})";
    EXPECT_FALSE(io::parseSafetensors(stBytes(h2, ramp(8)), "wrap2.safetensors").ok());
}

TEST(SafetensorsReader, FuzzCorpusRegressionInputsAreRefused) {
    // The inputs of the regressions above, kept in the fuzz corpus (tests/fuzz/corpus/safetensors)
    // so that every fuzz run starts from them too.
    const std::string dir = std::string(QS_TEST_DATA_DIR) + "/../fuzz/corpus/safetensors/";
    for (const char* name : {"regress-byte-size-wrap.bin", "regress-byte-size-wrap-nonzero.bin",
                             "regress-overlap-behind-empty.bin"}) {
        const auto bytes = test::readFile(dir + name);
        ASSERT_FALSE(bytes.empty()) << name;
        auto r = io::parseSafetensors(bytes, name);
        ASSERT_FALSE(r.ok()) << name;
        EXPECT_NE(r.error().offset, kNoOffset) << r.error().what();
        EXPECT_LE(r.error().offset, bytes.size()) << r.error().what();
    }
}

TEST(SafetensorsReader, OverlapBehindAnEmptyTensorOrANeighbourIsFound) {
    // An empty tensor between two overlapping ones hid the overlap when only neighbours were
    // compared; so did a long tensor followed by a short one inside it and a third after that.
    const std::string h1 = R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                           R"("e":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},)"
                           R"("b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})";
    auto r1 = io::parseSafetensors(stBytes(h1, ramp(16)), "e.safetensors");
    ASSERT_FALSE(r1.ok());
    EXPECT_EQ(r1.error().tensor, "b");
    const std::string h2 = R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                           R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
                           R"("c":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})";
    auto r2 = io::parseSafetensors(stBytes(h2, ramp(16)), "n.safetensors");
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.error().tensor, "b");
    EXPECT_NE(r2.error().message.find("(and 1 more problem)"), std::string::npos)
        << r2.error().what();
    // Adjacent and empty tensors at the same offset are fine.
    const std::string h3 = R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                           R"("e":{"dtype":"U8","shape":[0],"data_offsets":[8,8]},)"
                           R"("b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}})";
    EXPECT_TRUE(io::parseSafetensors(stBytes(h3, ramp(16)), "ok.safetensors").ok());
}

TEST(SafetensorsReader, MetadataMustBeStrings) {
    const std::string h = R"({"__metadata__":{"format":"pt","n":3},)"
                          R"("w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    auto r = io::parseSafetensors(stBytes(h, ramp(1)), "md.safetensors");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("'n' is not a string"), std::string::npos) << r.error().what();
    EXPECT_EQ(r.error().offset, 9u);
    EXPECT_EQ(r.error().tensor, "");
}

TEST(SafetensorsReader, MalformedEntriesAreRefused) {
    const char* headers[] = {
        R"({"w":[1]})",
        R"({"w":{"dtype":"F32","shape":[1]}})",
        R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})",
        R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
        R"({"w":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}})",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})",
        R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})",
        R"({"__metadata__":[1],"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} trailing)",
        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e400]}})",
    };
    for (const char* h : headers) {
        auto r = io::parseSafetensors(stBytes(h, ramp(4)), "m.safetensors");
        ASSERT_FALSE(r.ok()) << h;
        EXPECT_FALSE(r.error().message.empty());
        EXPECT_EQ(r.error().file, "m.safetensors");
        EXPECT_NE(r.error().offset, kNoOffset) << r.error().what();
        EXPECT_LE(r.error().offset, 8 + std::strlen(h) + 4) << r.error().what();
    }
}

TEST(SafetensorsReader, DeepNestingIsRefusedBeforeParsing) {
    // 10 MB of '[' took nlohmann seconds and hundreds of MB of nodes to reject; a header nests
    // three levels, so a scan refuses this at the first bracket past the limit.
    std::string h(10u << 20, '[');
    auto r = io::parseSafetensors(stBytes(h, {}), "deep.safetensors");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("nests deeper"), std::string::npos) << r.error().what();
    EXPECT_EQ(r.error().offset, 8u + 16u);
    // Brackets inside strings do not count; a plain header nests 3 levels.
    const std::string ok =
        R"({"__metadata__":{"k":"[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{{{"},)"
        R"("w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    EXPECT_TRUE(io::parseSafetensors(stBytes(ok, ramp(1)), "ok.safetensors").ok());
}

TEST(SafetensorsReader, HeaderOver100MBIsRefusedUnread) {
    // A 101 MB header length in a 101 MB mapping: refused from the 8 length bytes alone, so the
    // mapping's pages (zero-fill on demand) are never touched.
    const size_t size = (101u << 20) + 16;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    auto* b = static_cast<uint8_t*>(p);
    const uint64_t hl = 101u << 20;
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(hl >> (8 * i));
    auto r = io::parseSafetensors({b, size}, "huge.safetensors");
    ::munmap(p, size);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("exceeds 100 MB"), std::string::npos) << r.error().what();
    EXPECT_EQ(r.error().offset, 0u);
}

TEST(SafetensorsReader, EveryTruncationOfTheRealFileIsRefused) {
    const auto bytes = test::readFile(kStoriesDir + "/model.safetensors");
    auto full = io::parseSafetensors(bytes, "full");
    ASSERT_TRUE(full.ok()) << full.error().what();
    const uint64_t lastEnd = full->tensors.back().begin + full->tensors.back().nbytes;
    EXPECT_EQ(lastEnd, bytes.size());
    for (size_t n = 0; n < lastEnd; n += (n < full->dataOffset + 16 ? 1 : 4093)) {
        auto r = io::parseSafetensors({bytes.data(), n}, "cut");
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_TRUE(r.error().offset == kNoOffset || r.error().offset <= n) << r.error().what();
    }
}

TEST(SafetensorsReader, ShardedIndexProblems) {
    ShardedModel s;
    s.shard(kShard1, kNames1, 10);
    s.shard(kShard2, kNames2, 100);
    // A tensor listed under the wrong shard.
    auto wm = fullWeightMap();
    wm["model.norm.weight"] = kShard1;
    auto wrong = io::loadSafetensorsModel(s.index(wm));
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().tensor, "model.norm.weight");
    EXPECT_NE(wrong.error().message.find("(it is in " + std::string(kShard2) + ")"),
              std::string::npos)
        << wrong.error().what();
    // A shard name that leaves the folder.
    wm = fullWeightMap();
    wm["model.norm.weight"] = "../" + std::string(kShard2);
    auto escape = io::loadSafetensorsModel(s.index(wm));
    ASSERT_FALSE(escape.ok());
    EXPECT_NE(escape.error().message.find("not a plain file name"), std::string::npos);
    // No weight_map, or an empty one.
    writeText(s.dir.file("model.safetensors.index.json"), R"({"metadata":{}})");
    auto none = io::loadSafetensorsModel(s.dir.path().string());
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("weight_map"), std::string::npos);
    EXPECT_NE(none.error().what().find("model.safetensors.index.json"), std::string::npos);
    s.index({});
    EXPECT_FALSE(io::loadSafetensorsModel(s.dir.path().string()).ok());
    // A tensor in two shards.
    s.shard(kShard2, {"model.norm.weight", kNames1[0]}, 100);
    wm = fullWeightMap();
    wm.erase("model.layers.1.mlp.up_proj.weight");
    auto twice = io::loadSafetensorsModel(s.index(wm));
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.error().message.find("two shards"), std::string::npos);
    EXPECT_EQ(twice.error().tensor, kNames1[0]);
}

TEST(SafetensorsReader, EmptyDirectoryAndMissingFileAreClearErrors) {
    test::TempDir dir;
    auto empty = io::loadSafetensorsModel(dir.path().string());
    ASSERT_FALSE(empty.ok());
    EXPECT_NE(empty.error().message.find("model.safetensors"), std::string::npos);
    EXPECT_EQ(empty.error().file, dir.path().string());
    auto missing = io::loadSafetensorsModel(dir.file("nope.safetensors"));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().what().find("nope.safetensors"), std::string::npos);
}

}  // namespace
