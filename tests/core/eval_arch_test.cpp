// core/eval beyond plain llama: bad models refused; the qwen2 architecture (NEOX RoPE, q/k/v
// biases) judged by llama.cpp on a qwen2 GGUF built from stories260K's weights plus small
// biases (that test needs Node.js with node-llama-cpp and skips otherwise).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval/evaluate.h"
#include "eval/tokenizer.h"
#include "io/gguf_writer.h"
#include "test_util.h"

using namespace qs;

namespace {

const std::string kJs = std::string(QS_TEST_DATA_DIR) + "/../js/";

// stories260K re-labelled as qwen2, with biases b[i] = 0.05 * sin(i * (seed + 1)).
Status writeQwen2(const std::string& out) {
    auto m = model::openModel(std::string(QS_TEST_DATA_DIR) + "/models/stories260K.gguf");
    if (!m) return m.error();
    io::GgufWriter w(m->alignment());
    for (const auto& kv : m->metadata()) {
        std::string key = kv.key;
        if (key.rfind("llama.", 0) == 0) key = "qwen2." + key.substr(6);
        QS_TRY(w.setKv(key,
                       key == "general.architecture" ? io::GgufValue::string("qwen2") : kv.value));
    }
    std::vector<std::pair<std::string, std::vector<float>>> biases;
    for (int l = 0; l < int(m->hparams().blockCount); ++l) {
        const std::pair<const char*, int> specs[] = {
            {"attn_q", 64}, {"attn_k", 32}, {"attn_v", 32}};
        for (int s = 0; s < 3; ++s) {
            std::vector<float> b(size_t(specs[s].second));
            for (size_t i = 0; i < b.size(); ++i) b[i] = 0.05f * std::sin(float(i * (s + 1) + l));
            biases.push_back({"blk." + std::to_string(l) + "." + specs[s].first + ".bias", b});
        }
    }
    for (const auto& t : m->tensors()) QS_TRY(w.addTensor(t.name, t.shape, t.type));
    for (const auto& [name, b] : biases) {
        QS_TRY(w.addTensor(name, {int64_t(b.size())}, formats::TensorType::F32));
    }
    QS_TRY(w.open(out));
    for (const auto& t : m->tensors()) QS_TRY(w.writeTensorData(m->tensorData(t)));
    for (const auto& [name, b] : biases) {
        QS_TRY(w.writeTensorData({reinterpret_cast<const uint8_t*>(b.data()), b.size() * 4}));
    }
    return w.commit();
}

}  // namespace

TEST(EvalArch, Qwen2MatchesLlamaCpp) {
    if (std::system("node --version > /dev/null 2>&1") != 0 ||
        !std::filesystem::exists(kJs + "node_modules/node-llama-cpp")) {
        GTEST_SKIP() << "Node.js with node-llama-cpp is not installed";
    }
    test::TempDir tmp;
    const std::string path = tmp.file("qwen2.gguf");
    ASSERT_TRUE(writeQwen2(path).ok());
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok()) << lm.error().what();
    EXPECT_TRUE(lm->config().ropeNeox);
    EXPECT_EQ(lm->layers()[0].bq.size(), 64u);
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    const std::string text = std::string(QS_TEST_DATA_DIR) + "/models/eval-text.txt";
    std::ifstream f(text);
    std::stringstream ss;
    ss << f.rdbuf();
    eval::EvalOptions o;
    o.ctx = 128;
    o.forward.threads = 2;
    auto r = eval::evaluate(*lm, tk->encode(ss.str(), true), o);
    ASSERT_TRUE(r.ok());

    const std::string out = tmp.file("lp.json");
    const std::string cmd = "node " + kJs + "logprobs.mjs " + text + " 128 " + path + " > " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream lf(out);
    std::stringstream ls;
    ls << lf.rdbuf();
    const double llama = nlohmann::json::parse(ls.str())["ppl"].get<double>();
    std::printf("qwen2: llama.cpp %.5f ours %.5f\n", llama, r->perplexity);
    EXPECT_NEAR(r->perplexity / llama, 1.0, 0.001);
    // The same weights as llama (adjacent-pair RoPE, no biases) are a different model.
    auto ref = model::openModel(std::string(QS_TEST_DATA_DIR) + "/models/stories260K.gguf");
    auto rl = eval::LlamaModel::bind(*ref);
    auto rr = eval::evaluate(*rl, tk->encode(ss.str(), true), o);
    EXPECT_GT(std::fabs(rr->perplexity - r->perplexity), 0.01);
}

// A model the forward pass cannot run is refused with the tensor or key named, never run.
TEST(EvalArch, BadModelsAreRefused) {
    auto m = model::openModel(std::string(QS_TEST_DATA_DIR) + "/models/stories260K.gguf");
    ASSERT_TRUE(m.ok());
    test::TempDir tmp;
    auto write = [&](const std::string& path, const std::string& skip, const std::string& arch,
                     const std::string& tokenizer) {
        io::GgufWriter w(m->alignment());
        for (const auto& kv : m->metadata()) {
            io::GgufValue v = kv.value;
            if (kv.key == "general.architecture") v = io::GgufValue::string(arch);
            if (kv.key == "tokenizer.ggml.model") v = io::GgufValue::string(tokenizer);
            std::string key = kv.key;
            if (key.rfind("llama.", 0) == 0) key = arch + "." + key.substr(6);
            EXPECT_TRUE(w.setKv(key, v).ok());
        }
        for (const auto& t : m->tensors()) {
            if (t.name != skip) EXPECT_TRUE(w.addTensor(t.name, t.shape, t.type).ok());
        }
        EXPECT_TRUE(w.open(path).ok());
        for (const auto& t : m->tensors()) {
            if (t.name != skip) EXPECT_TRUE(w.writeTensorData(m->tensorData(t)).ok());
        }
        EXPECT_TRUE(w.commit().ok());
    };
    write(tmp.file("missing.gguf"), "blk.3.ffn_down.weight", "llama", "llama");
    auto a = model::openModel(tmp.file("missing.gguf"));
    ASSERT_TRUE(a.ok());
    auto la = eval::LlamaModel::bind(*a);
    ASSERT_FALSE(la.ok());
    EXPECT_EQ(la.error().tensor, "blk.3.ffn_down.weight");

    write(tmp.file("gpt2.gguf"), "", "gpt2", "gpt2");
    auto b = model::openModel(tmp.file("gpt2.gguf"));
    ASSERT_TRUE(b.ok());
    auto lb = eval::LlamaModel::bind(*b);
    ASSERT_FALSE(lb.ok());
    EXPECT_NE(lb.error().message.find("gpt2"), std::string::npos);
    auto tk = eval::Tokenizer::fromModel(*b);
    ASSERT_FALSE(tk.ok());
    EXPECT_NE(tk.error().message.find("not supported yet"), std::string::npos);
}
