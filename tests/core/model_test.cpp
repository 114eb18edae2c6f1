// Model: opening real files, layer/role recognition, synth models round-tripping exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "formats/half.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "synth/synth.h"
#include "test_util.h"

using namespace qs;
using namespace qs::model;
using formats::TensorType;

namespace {

TEST(TensorNaming, RecognisesLlamaCppNames) {
    struct Case {
        const char* name;
        int layer;
        TensorRole role;
    } cases[] = {
        {"token_embd.weight", -1, TensorRole::TokenEmbd},
        {"output.weight", -1, TensorRole::Output},
        {"output_norm.weight", -1, TensorRole::OutputNorm},
        {"rope_freqs.weight", -1, TensorRole::RopeFreqs},
        {"blk.0.attn_q.weight", 0, TensorRole::AttnQ},
        {"blk.12.attn_k.weight", 12, TensorRole::AttnK},
        {"blk.3.attn_v.bias", 3, TensorRole::AttnV},
        {"blk.3.attn_qkv.weight", 3, TensorRole::AttnQkv},
        {"blk.7.attn_output.weight", 7, TensorRole::AttnOutput},
        {"blk.7.attn_norm.weight", 7, TensorRole::AttnNorm},
        {"blk.7.attn_q_norm.weight", 7, TensorRole::AttnQNorm},
        {"blk.7.ffn_norm.weight", 7, TensorRole::FfnNorm},
        {"blk.1.ffn_gate.weight", 1, TensorRole::FfnGate},
        {"blk.1.ffn_up.weight", 1, TensorRole::FfnUp},
        {"blk.1.ffn_down.weight", 1, TensorRole::FfnDown},
        {"blk.9.ffn_gate_inp.weight", 9, TensorRole::FfnGateInp},
        {"blk.9.ffn_gate_exps.weight", 9, TensorRole::FfnGateExps},
        {"blk.9.ffn_up_exps.weight", 9, TensorRole::FfnUpExps},
        {"blk.9.ffn_down_exps.weight", 9, TensorRole::FfnDownExps},
        {"blk.9.ffn_down_shexp.weight", 9, TensorRole::FfnDownShexp},
        {"blk.x.attn_q.weight", -1, TensorRole::Other},
        {"something.else", -1, TensorRole::Other},
    };
    for (const auto& c : cases) {
        const auto ni = classifyTensorName(c.name);
        EXPECT_EQ(ni.layer, c.layer) << c.name;
        EXPECT_EQ(ni.role, c.role) << c.name;
        EXPECT_EQ(ni.expert, -1) << c.name;
    }
    EXPECT_EQ(roleName(TensorRole::FfnDownExps), "ffn_down_exps");
}

TEST(TensorNaming, RecognisesHuggingFaceNames) {
    struct Case {
        const char* name;
        int layer;
        TensorRole role;
        int expert;
    } cases[] = {
        {"model.embed_tokens.weight", -1, TensorRole::TokenEmbd, -1},
        {"lm_head.weight", -1, TensorRole::Output, -1},
        {"model.norm.weight", -1, TensorRole::OutputNorm, -1},
        {"model.layers.0.self_attn.q_proj.weight", 0, TensorRole::AttnQ, -1},
        {"model.layers.31.self_attn.k_proj.weight", 31, TensorRole::AttnK, -1},
        {"model.layers.2.self_attn.v_proj.bias", 2, TensorRole::AttnV, -1},
        {"model.layers.2.self_attn.o_proj.weight", 2, TensorRole::AttnOutput, -1},
        {"model.layers.2.input_layernorm.weight", 2, TensorRole::AttnNorm, -1},
        {"model.layers.2.post_attention_layernorm.weight", 2, TensorRole::FfnNorm, -1},
        {"model.layers.4.mlp.gate_proj.weight", 4, TensorRole::FfnGate, -1},
        {"model.layers.4.mlp.up_proj.weight", 4, TensorRole::FfnUp, -1},
        {"model.layers.4.mlp.down_proj.weight", 4, TensorRole::FfnDown, -1},
        {"model.layers.5.mlp.gate.weight", 5, TensorRole::FfnGateInp, -1},
        {"model.layers.5.mlp.experts.17.gate_proj.weight", 5, TensorRole::FfnGateExps, 17},
        {"model.layers.5.mlp.experts.3.down_proj.weight", 5, TensorRole::FfnDownExps, 3},
        {"model.layers.6.block_sparse_moe.experts.7.w1.weight", 6, TensorRole::FfnGateExps, 7},
        {"model.layers.6.block_sparse_moe.experts.7.w2.weight", 6, TensorRole::FfnDownExps, 7},
        {"model.layers.6.block_sparse_moe.experts.7.w3.weight", 6, TensorRole::FfnUpExps, 7},
        {"model.layers.6.block_sparse_moe.gate.weight", 6, TensorRole::FfnGateInp, -1},
        {"model.layers.6.mlp.shared_expert.up_proj.weight", 6, TensorRole::FfnUpShexp, -1},
        {"language_model.model.layers.1.self_attn.q_proj.weight", 1, TensorRole::AttnQ, -1},
    };
    for (const auto& c : cases) {
        const auto ni = classifyTensorName(c.name);
        EXPECT_EQ(ni.layer, c.layer) << c.name;
        EXPECT_EQ(ni.role, c.role) << c.name;
        EXPECT_EQ(ni.expert, c.expert) << c.name;
    }
}

TEST(Model, OpensRealGgufWithLayersAndRoles) {
    auto m = openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    EXPECT_EQ(m->format(), ModelFormat::Gguf);
    EXPECT_EQ(m->hparams().architecture, "llama");
    EXPECT_EQ(m->hparams().blockCount, 5u);
    EXPECT_EQ(m->hparams().embeddingLength, 64u);
    EXPECT_EQ(m->hparams().feedForwardLength, 172u);
    EXPECT_EQ(m->hparams().headCount, 8u);
    EXPECT_EQ(m->hparams().headCountKv, 4u);
    EXPECT_EQ(m->hparams().vocabSize, 512u);
    EXPECT_EQ(m->tensors().size(), 48u);
    EXPECT_EQ(m->totalElements(), 292800);
    int perRole[32] = {};
    for (const auto& t : m->tensors()) {
        if (t.name.starts_with("blk.")) {
            EXPECT_GE(t.layer, 0) << t.name;
        }
        EXPECT_NE(t.role, TensorRole::Other) << t.name;
        ++perRole[int(t.role)];
        EXPECT_EQ(m->tensorData(t).size(), t.nbytes);
    }
    EXPECT_EQ(perRole[int(TensorRole::AttnQ)], 5);
    EXPECT_EQ(perRole[int(TensorRole::FfnDown)], 5);
    const auto idx = m->indexOf("blk.2.ffn_down.weight");
    ASSERT_GE(idx, 0);
    const auto& t = m->tensors()[size_t(idx)];
    EXPECT_EQ(t.shape, (std::vector<int64_t>{172, 64}));
    EXPECT_EQ(t.layer, 2);
    EXPECT_EQ(t.rowLength(), 172);
    EXPECT_EQ(t.rowCount(), 64);
    EXPECT_EQ(m->indexOf("nope"), -1);
    // output.weight is a byte-identical copy of token_embd.weight in this file.
    const auto& emb = m->tensors()[size_t(m->indexOf("token_embd.weight"))];
    const auto& out = m->tensors()[size_t(m->indexOf("output.weight"))];
    ASSERT_EQ(emb.nbytes, out.nbytes);
    EXPECT_EQ(0, std::memcmp(m->tensorData(emb).data(), m->tensorData(out).data(), emb.nbytes));
}

TEST(Model, OpenReportsMissingAndForeignFiles) {
    auto a = openModel("/definitely/not/here.gguf");
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what().find("/definitely/not/here.gguf"), std::string::npos);
    test::TempDir dir;
    test::writeFile(dir.file("text.bin"), {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
    auto b = openModel(dir.file("text.bin"));
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().exitCode(), 2);
}

// ------------------------------------------------------------------------------------------
// Synthetic models
// ------------------------------------------------------------------------------------------

TEST(Synth, TinyRoundTripsExactlyAndIsDeterministic) {
    test::TempDir dir;
    const std::string a = dir.file("a.gguf"), b = dir.file("b.gguf"), c = dir.file("c.gguf");
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 7, 1}, a).ok());
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 7, 2}, b).ok());
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 8, 2}, c).ok());
    const auto bytesA = test::readFile(a);
    EXPECT_EQ(bytesA, test::readFile(b)) << "thread count changed the bytes";
    EXPECT_NE(bytesA, test::readFile(c)) << "seed had no effect";

    auto m = openModel(a);
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto spec = synth::specOf(synth::SynthPreset::Tiny);
    EXPECT_EQ(m->hparams().blockCount, spec.layers);
    EXPECT_EQ(m->hparams().embeddingLength, spec.embd);
    EXPECT_EQ(m->hparams().vocabSize, spec.vocab);
    EXPECT_EQ(m->tensors().size(), 3u + 9u * spec.layers);
    EXPECT_EQ(m->find("tokenizer.ggml.tokens")->size(), spec.vocab);
    EXPECT_EQ(m->find("tokenizer.ggml.scores")->size(), spec.vocab);
    EXPECT_EQ(m->find("tokenizer.ggml.token_type")->size(), spec.vocab);
    // llama.cpp aborts on a vocabulary with duplicate pieces (llama-vocab.cpp asserts it).
    const auto& tokens = m->find("tokenizer.ggml.tokens")->strings();
    std::set<std::string> unique(tokens.begin(), tokens.end());
    EXPECT_EQ(unique.size(), tokens.size());
    // Byte-fallback tokens exist, as llama.cpp's SPM tokenizer needs <0x0A> for newlines.
    EXPECT_NE(std::find(tokens.begin(), tokens.end(), "<0x0A>"), tokens.end());

    // Read -> write again -> the very same bytes (every metadata value and tensor kept).
    io::GgufWriter w(m->alignment());
    for (const auto& kv : m->metadata()) ASSERT_TRUE(w.setKv(kv.key, kv.value).ok());
    for (const auto& t : m->tensors()) ASSERT_TRUE(w.addTensor(t.name, t.shape, t.type).ok());
    ASSERT_TRUE(w.open(dir.file("copy.gguf")).ok());
    for (const auto& t : m->tensors()) ASSERT_TRUE(w.writeTensorData(m->tensorData(t)).ok());
    ASSERT_TRUE(w.commit().ok());
    EXPECT_EQ(test::readFile(dir.file("copy.gguf")), bytesA);

    // Alignment and sizes: every tensor starts on a 32-byte boundary and is exactly sized.
    for (const auto& t : m->tensors()) {
        EXPECT_EQ(t.offset % 32, 0u) << t.name;
        const bool norm = t.name.find("norm") != std::string::npos;
        EXPECT_EQ(t.type, norm ? TensorType::F32 : TensorType::F16) << t.name;
        EXPECT_EQ(t.nbytes, uint64_t(t.nElements) * (norm ? 4 : 2)) << t.name;
        EXPECT_EQ(t.rowLength() % 256, 0) << t.name << ": K-quants must be able to hold it";
    }
}

// The weights have the statistics of real checkpoints: heavy tails (excess kurtosis) and a
// few input channels with much larger magnitude.
TEST(Synth, WeightsAreHeavyTailedWithOutlierChannels) {
    test::TempDir dir;
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 0}, dir.file("t.gguf")).ok());
    auto m = openModel(dir.file("t.gguf"));
    ASSERT_TRUE(m.ok());
    const auto& t = m->tensors()[size_t(m->indexOf("blk.1.attn_q.weight"))];
    const auto data = m->tensorData(t);
    const int64_t cols = t.rowLength(), rows = t.rowCount();
    std::vector<double> colMs(size_t(cols), 0.0);
    double s2 = 0, s4 = 0;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
            uint16_t h;
            std::memcpy(&h, data.data() + 2 * (r * cols + c), 2);
            const double x = formats::halfToFloat(h);
            ASSERT_TRUE(std::isfinite(x));
            colMs[size_t(c)] += x * x / double(rows);
            s2 += x * x;
            s4 += x * x * x * x;
        }
    }
    const double n = double(rows * cols);
    const double kurtosis = (s4 / n) / ((s2 / n) * (s2 / n));
    EXPECT_GT(kurtosis, 6.0) << "weights are not heavy-tailed";
    std::vector<double> sorted = colMs;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    EXPECT_GT(sorted.back(), 20.0 * median) << "no outlier input channel";
    const auto outliers =
        std::count_if(colMs.begin(), colMs.end(), [&](double v) { return v > 20.0 * median; });
    EXPECT_LE(outliers, cols / 16) << "too many outlier channels";
}

}  // namespace
