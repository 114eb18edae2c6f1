// Hugging Face -> GGUF conversion (core/convert): the real stories260K in HF layout converts to
// the very tensors of stories260K.gguf; tiny models of every supported architecture (written
// by convert/hf_synth in transformers' layout) convert with llama.cpp's names, shapes, types
// and metadata keys; virtual tensors (q/k permutation, stacked experts, Gemma's norm + 1,
// retyped norms, rope_freqs) read back right; bad folders are refused, naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "convert/hf_convert.h"
#include "convert/hf_synth.h"
#include "formats/decode.h"
#include "io/model_loaders.h"
#include "io/safetensors_reader.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "test_util.h"

using namespace qs;
using formats::TensorType;
namespace fs = std::filesystem;

namespace {

// Export a converted model with llama.cpp's --outtype rule.
Status convertTo(const model::Model& m, convert::OutType o, const std::string& out) {
    const auto resolved = convert::resolveOutType(m, o);
    quant::Plan plan;
    plan.ftype = static_cast<quant::Ftype>(convert::fileTypeOf(resolved));
    for (const auto& t : m.tensors()) {
        quant::TensorChoice c;
        c.type = c.requested = convert::convertedType(t, resolved);
        c.origin = quant::Origin::Manual;
        plan.tensors.push_back(c);
    }
    quant::QuantizeOptions qo;
    qo.metrics = false;
    auto s = quant::exportGguf(m, plan, out, qo);
    if (!s) return s.error();
    return {};
}

std::vector<float> rowsOf(const model::Model& m, const model::TensorInfo& t) {
    std::vector<uint8_t> scratch;
    auto b = m.readTensor(t, scratch);
    EXPECT_TRUE(b.ok()) << b.error().what();
    if (!b) return {};
    auto v = formats::decodeToFloat(t.type, *b, t.rowLength(), t.rowCount(), 1, t.name);
    EXPECT_TRUE(v.ok());
    return v ? *v : std::vector<float>{};
}

const model::TensorInfo& tensor(const model::Model& m, const std::string& name) {
    const auto i = m.indexOf(name);
    EXPECT_GE(i, 0) << name;
    return m.tensors()[size_t(std::max<int64_t>(0, i))];
}

// The metadata keys llama.cpp's converter writes for our tiny configs (no tokenizer files),
// per GGUF architecture (docs/CONVERT.md lists them).
std::set<std::string> expectedKeys(const std::string& hf) {
    std::set<std::string> k = {"general.architecture", "general.type",
                               "general.name",         "general.size_label",
                               "general.file_type",    "general.quantization_version"};
    auto add = [&](const std::string& arch, std::initializer_list<const char*> keys) {
        for (const char* s : keys) k.insert(arch + "." + s);
    };
    if (hf == "Gemma2ForCausalLM") {
        add("gemma2",
            {"context_length", "embedding_length", "block_count", "feed_forward_length",
             "attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
             "attention.key_length", "attention.value_length", "attn_logit_softcapping",
             "final_logit_softcapping", "attention.sliding_window"});
        return k;
    }
    if (hf == "Phi3ForCausalLM") {
        add("phi3", {"context_length", "rope.scaling.original_context_length", "embedding_length",
                     "feed_forward_length", "block_count", "attention.head_count",
                     "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
                     "rope.dimension_count", "rope.freq_base", "attention.sliding_window"});
        return k;
    }
    const std::string a = hf == "Qwen2ForCausalLM"      ? "qwen2"
                          : hf == "Qwen3ForCausalLM"    ? "qwen3"
                          : hf == "Qwen3MoeForCausalLM" ? "qwen3moe"
                          : hf == "Gemma3ForCausalLM"   ? "gemma3"
                                                        : "llama";
    add(a, {"block_count", "context_length", "embedding_length", "feed_forward_length",
            "attention.head_count", "attention.head_count_kv", "rope.freq_base",
            "attention.layer_norm_rms_epsilon"});
    if (a == "llama") add(a, {"vocab_size", "rope.dimension_count"});
    if (hf == "MixtralForCausalLM" || a == "qwen3moe")
        add(a, {"expert_count", "expert_used_count"});
    if (a == "qwen3" || a == "qwen3moe" || a == "gemma3") {
        add(a, {"attention.key_length", "attention.value_length"});
    }
    if (a == "qwen3moe") add(a, {"expert_feed_forward_length"});
    if (a == "gemma3") add(a, {"rope.freq_base_swa", "attention.sliding_window"});
    return k;
}

std::set<std::string> keysOf(const model::Model& m) {
    std::set<std::string> s;
    for (const auto& kv : m.metadata()) s.insert(kv.key);
    return s;
}

}  // namespace

TEST(ConvertHf, Stories260KConvertsToTheGgufTensorsBitForBit) {
    auto m = model::openModel(test::dataPath("models/stories260K-hf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    EXPECT_EQ(m->format(), model::ModelFormat::Gguf);
    EXPECT_EQ(m->convertedFrom(), "LlamaForCausalLM");
    EXPECT_EQ(m->find("tokenizer.ggml.model"), nullptr);
    ASSERT_FALSE(m->conversionNotes().empty());  // says it has no vocabulary
    test::TempDir dir;
    const std::string out = dir.file("stories.gguf");
    ASSERT_TRUE(convertTo(*m, convert::OutType::F32, out).ok());

    auto a = model::openModel(out);
    auto b = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->tensors().size(), 47u);
    EXPECT_LT(a->indexOf("output.weight"), 0);  // left to the tie, as llama.cpp's converter does
    for (const auto& t : a->tensors()) {
        const auto i = b->indexOf(t.name);
        ASSERT_GE(i, 0) << t.name;
        const auto& u = b->tensors()[size_t(i)];
        EXPECT_EQ(t.shape, u.shape) << t.name;
        EXPECT_EQ(t.type, u.type) << t.name;
        ASSERT_EQ(t.nbytes, u.nbytes) << t.name;
        EXPECT_EQ(0, std::memcmp(a->tensorData(t).data(), b->tensorData(u).data(), t.nbytes))
            << t.name;
    }
    for (const auto& t : b->tensors()) {
        if (t.name != "output.weight") EXPECT_GE(a->indexOf(t.name), 0) << t.name;
    }
    auto keys = expectedKeys("LlamaForCausalLM");
    keys.insert({"llama.attention.key_length", "llama.attention.value_length"});  // head_dim given
    EXPECT_EQ(keysOf(*a), keys);
}

TEST(ConvertHf, OpensThroughFolderConfigIndexAndShard) {
    test::TempDir dir;
    convert::HfSynthOptions o;
    o.architecture = "Qwen2ForCausalLM";
    o.shards = 3;
    ASSERT_TRUE(convert::writeHfSynthModel(o, dir.path()).ok());
    for (const std::string& p :
         {dir.path().string(), dir.file("config.json"), dir.file("model.safetensors.index.json"),
          dir.file("model-00002-of-00003.safetensors")}) {
        auto m = model::openModel(p);
        ASSERT_TRUE(m.ok()) << p << ": " << m.error().what();
        EXPECT_EQ(m->convertedFrom(), "Qwen2ForCausalLM") << p;
        EXPECT_EQ(m->hparams().architecture, "qwen2");
        EXPECT_EQ(m->files().size(), 3u);
        EXPECT_GE(m->indexOf("blk.1.attn_q.bias"), 0);
    }
}

TEST(ConvertHf, EveryArchitectureConvertsWithLlamaCppNamesAndKeys) {
    for (const auto& arch : convert::supportedHfArchitectures()) {
        for (TensorType dt : {TensorType::BF16, TensorType::F16, TensorType::F32}) {
            SCOPED_TRACE(arch + " " + std::string(formats::typeName(dt)));
            test::TempDir dir;
            convert::HfSynthOptions o;
            o.architecture = arch;
            o.dtype = dt;
            o.shards = dt == TensorType::F16 ? 2 : 1;
            ASSERT_TRUE(convert::writeHfSynthModel(o, dir.file("hf")).ok());
            auto raw = io::loadSafetensorsModel(dir.file("hf"));
            auto m = convert::convertHfModel(dir.file("hf"));
            ASSERT_TRUE(m.ok()) << m.error().what();
            ASSERT_TRUE(raw.ok());
            EXPECT_EQ(keysOf(*m), expectedKeys(arch));

            // Names and shapes, as llama.cpp loads them.
            const auto& hp = m->hparams();
            EXPECT_EQ(hp.blockCount, 2u);
            EXPECT_EQ(tensor(*m, "token_embd.weight").shape, (std::vector<int64_t>{64, 512}));
            const bool tied = arch.starts_with("Qwen") || arch.starts_with("Gemma");
            EXPECT_EQ(m->indexOf("output.weight") >= 0, !tied);
            const bool moe = arch == "MixtralForCausalLM" || arch == "Qwen3MoeForCausalLM";
            for (int l = 0; l < 2; ++l) {
                const std::string b = "blk." + std::to_string(l) + ".";
                EXPECT_GE(m->indexOf(b + "attn_norm.weight"), 0);
                EXPECT_GE(m->indexOf(b + (arch == "Phi3ForCausalLM" ? "attn_qkv.weight"
                                                                    : "attn_q.weight")),
                          0);
                EXPECT_GE(m->indexOf(b + "attn_output.weight"), 0);
                if (moe) {
                    EXPECT_EQ(tensor(*m, b + "ffn_gate_exps.weight").shape,
                              (std::vector<int64_t>{64, 128, 4}));
                    EXPECT_EQ(tensor(*m, b + "ffn_down_exps.weight").shape,
                              (std::vector<int64_t>{128, 64, 4}));
                    EXPECT_EQ(tensor(*m, b + "ffn_gate_inp.weight").type, TensorType::F32);
                } else {
                    EXPECT_GE(m->indexOf(b + "ffn_down.weight"), 0);
                }
                if (arch.starts_with("Gemma")) {
                    EXPECT_GE(m->indexOf(b + "post_attention_norm.weight"), 0);
                    EXPECT_GE(m->indexOf(b + "post_ffw_norm.weight"), 0);
                }
                EXPECT_EQ(tensor(*m, b + "attn_norm.weight").type, TensorType::F32);
            }
            EXPECT_EQ(m->indexOf("rope_freqs.weight") >= 0, arch == "LlamaForCausalLM");
            // The converted bytes of every tensor, exported with --outtype auto, are what
            // readRows makes, and F32 tensors and norms are F32 as llama.cpp writes them.
            const std::string out = dir.file("out.gguf");
            ASSERT_TRUE(convertTo(*m, convert::OutType::Auto, out).ok());
            auto g = model::openModel(out);
            ASSERT_TRUE(g.ok()) << g.error().what();
            EXPECT_EQ(g->tensors().size(), m->tensors().size());
            EXPECT_EQ(keysOf(*g), expectedKeys(arch));  // what inspect --json lists
            for (const auto& t : g->tensors()) {
                const auto& s = tensor(*m, t.name);
                EXPECT_EQ(t.shape, s.shape) << t.name;
                const TensorType want =
                    convert::convertedType(s, convert::resolveOutType(*m, convert::OutType::Auto));
                EXPECT_EQ(t.type, want) << t.name;
                if (t.type == s.type) {
                    std::vector<uint8_t> scratch;
                    auto bytes = m->readTensor(s, scratch);
                    ASSERT_TRUE(bytes.ok());
                    ASSERT_EQ(bytes->size(), t.nbytes) << t.name;
                    EXPECT_EQ(0, std::memcmp(bytes->data(), g->tensorData(t).data(), t.nbytes))
                        << t.name;
                }
            }

            // Virtual tensors against the original HF rows.
            auto rawRows = [&](const std::string& n) { return rowsOf(*raw, tensor(*raw, n)); };
            if (arch == "LlamaForCausalLM" || arch == "MistralForCausalLM") {
                // q: 4 heads of 16 rows; GGUF row h*16 + 2i + j is HF row h*16 + j*8 + i.
                const auto q = rowsOf(*m, tensor(*m, "blk.1.attn_q.weight"));
                const auto hq = rawRows("model.layers.1.self_attn.q_proj.weight");
                for (int h = 0; h < 4; ++h) {
                    for (int i = 0; i < 8; ++i) {
                        for (int j = 0; j < 2; ++j) {
                            const int r = h * 16 + 2 * i + j, s = h * 16 + j * 8 + i;
                            EXPECT_EQ(0,
                                      std::memcmp(&q[size_t(r * 64)], &hq[size_t(s * 64)], 64 * 4));
                        }
                    }
                }
            }
            if (moe) {
                const auto up = rowsOf(*m, tensor(*m, "blk.0.ffn_up_exps.weight"));
                for (int e = 0; e < 4; ++e) {
                    const auto he = rawRows(arch == "MixtralForCausalLM"
                                                ? "model.layers.0.block_sparse_moe.experts." +
                                                      std::to_string(e) + ".w3.weight"
                                                : "model.layers.0.mlp.experts." +
                                                      std::to_string(e) + ".up_proj.weight");
                    EXPECT_EQ(0, std::memcmp(&up[size_t(e) * he.size()], he.data(), he.size() * 4))
                        << e;
                }
            }
            if (arch.starts_with("Gemma")) {
                const auto n = rowsOf(*m, tensor(*m, "blk.0.ffn_norm.weight"));
                const auto hn = rawRows("model.layers.0.pre_feedforward_layernorm.weight");
                for (size_t k = 0; k < n.size(); ++k) EXPECT_EQ(n[k], hn[k] + 1.0f);
            }
        }
    }
}

TEST(ConvertHf, Llama3RopeFreqsAreLlamaCppsValues) {
    test::TempDir dir;
    convert::HfSynthOptions o;  // llama, head_dim 16, rope_theta 500000, llama3 factor 8
    ASSERT_TRUE(convert::writeHfSynthModel(o, dir.path()).ok());
    auto m = convert::convertHfModel(dir.path());
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto f = rowsOf(*m, tensor(*m, "rope_freqs.weight"));
    ASSERT_EQ(f.size(), 8u);
    // dim 16: freq_k = 500000^(-2k/16); wavelength 2*pi/freq against 8192/4 and 8192/1.
    EXPECT_EQ(f[0], 1.0f);  // short wavelengths are kept
    EXPECT_EQ(f[7], 8.0f);  // long ones are divided by the factor
    for (float x : f) EXPECT_TRUE(x >= 1.0f && x <= 8.0f);
}

TEST(ConvertHf, BadFoldersAreRefusedNamingTheFile) {
    test::TempDir dir;
    convert::HfSynthOptions o;
    o.shards = 2;
    const std::string d = dir.file("m");
    ASSERT_TRUE(convert::writeHfSynthModel(o, d).ok());
    ASSERT_TRUE(convert::convertHfModel(d).ok());

    // Unknown architecture: named, with the supported list.
    {
        test::TempDir t;
        convert::HfSynthOptions p;
        ASSERT_TRUE(convert::writeHfSynthModel(p, t.path()).ok());
        std::ifstream in(t.file("config.json"));
        auto j = nlohmann::json::parse(in);
        j["architectures"] = {"GPTNeoXForCausalLM"};
        std::ofstream(t.file("config.json")) << j.dump();
        auto m = convert::convertHfModel(t.path());
        ASSERT_FALSE(m.ok());
        EXPECT_NE(m.error().message.find("GPTNeoXForCausalLM"), std::string::npos);
        EXPECT_NE(m.error().message.find("Qwen3MoeForCausalLM"), std::string::npos);
        EXPECT_EQ(m.error().exitCode(), 2);
    }
    // Config that disagrees with the tensors.
    {
        test::TempDir t;
        convert::HfSynthOptions p;
        ASSERT_TRUE(convert::writeHfSynthModel(p, t.path()).ok());
        std::ifstream in(t.file("config.json"));
        auto j = nlohmann::json::parse(in);
        j["intermediate_size"] = 96;
        std::ofstream(t.file("config.json")) << j.dump();
        auto m = convert::convertHfModel(t.path());
        ASSERT_FALSE(m.ok());
        EXPECT_NE(m.error().message.find("disagrees with config.json"), std::string::npos);
        EXPECT_NE(m.error().file.find("model.safetensors"), std::string::npos);
        EXPECT_EQ(m.error().exitCode(), 2);
    }
    // Truncated shard.
    {
        const std::string shard = d + "/model-00002-of-00002.safetensors";
        const auto size = fs::file_size(shard);
        fs::resize_file(shard, size - 100);
        auto m = convert::convertHfModel(d);
        ASSERT_FALSE(m.ok());
        EXPECT_NE(m.error().file.find("model-00002-of-00002.safetensors"), std::string::npos);
        EXPECT_EQ(m.error().exitCode(), 2);
        fs::remove(shard);  // and missing
        auto n = convert::convertHfModel(d);
        ASSERT_FALSE(n.ok());
        EXPECT_NE(n.error().what().find("model-00002-of-00002.safetensors"), std::string::npos);
        EXPECT_EQ(n.error().exitCode(), 2);
    }
}
