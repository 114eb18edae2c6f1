// core/eval: tokenizer ids, perplexity and KL divergence against llama.cpp's own numbers on the
// real stories260K model (F32, and llama.cpp's Q8_0 / Q4_0 files), safetensors equal to GGUF.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval/cpu_features.h"
#include "eval/evaluate.h"
#include "eval/plan_eval.h"
#include "eval/tokenizer.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "test_util.h"

using namespace qs;

namespace {

const std::string kModels = std::string(QS_TEST_DATA_DIR) + "/models/";
const std::string kF32 = kModels + "stories260K.gguf";
const std::string kQ8 = kModels + "reference-quants/stories260K-Q8_0.gguf";
const std::string kQ4 = kModels + "reference-quants/stories260K-Q4_0.gguf";
const std::string kHf = kModels + "stories260K-hf";
const std::string kText = kModels + "eval-text.txt";

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<int32_t> llamaCppIds() {
    const auto j =
        nlohmann::json::parse(slurp(std::string(QS_TEST_DATA_DIR) + "/eval/eval-text.ids.json"));
    return j["ids"].get<std::vector<int32_t>>();
}

std::vector<int32_t> ourIds() {
    auto m = model::openModel(kF32);
    EXPECT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    EXPECT_TRUE(tk.ok());
    return tk->encode(slurp(kText), true);
}

eval::EvalOptions opts() {
    eval::EvalOptions o;
    o.ctx = 512;
    o.forward.threads = 2;
    return o;
}

double perplexityOf(const std::string& path) {
    auto m = model::openModel(path);
    EXPECT_TRUE(m.ok()) << path;
    auto lm = eval::LlamaModel::bind(*m);
    EXPECT_TRUE(lm.ok()) << (lm.ok() ? "" : lm.error().what());
    auto r = eval::evaluate(*lm, llamaCppIds(), opts());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what());
    EXPECT_EQ(r->scored, 511);
    return r->perplexity;
}

// What tests/js/perplexity.mjs reports (and shared/models/README.md publishes): it takes the first
// entry of a filtered logit map as the maximum, which is the next token's own logit, so it gives
// exp(mean over positions of log sum_j exp(l_j - l_max)).
double scriptMetricOf(const std::string& path) {
    auto m = model::openModel(path);
    auto lm = eval::LlamaModel::bind(*m);
    EXPECT_TRUE(lm.ok());
    auto ids = llamaCppIds();
    ids.resize(512);
    const int64_t V = lm->config().nVocab;
    double s = 0;
    int n = 0;
    eval::ForwardOptions fo;
    fo.threads = 2;
    auto st = eval::forward(*lm, ids, fo, [&](int64_t pos, int64_t cnt, const float* l) {
        for (int64_t i = 0; i < cnt; ++i) {
            if (pos + i >= 511) continue;
            const float* r = l + i * V;
            const float mx = *std::max_element(r, r + V);
            double z = 0;
            for (int64_t j = 0; j < V; ++j) z += std::exp(double(r[j]) - mx);
            s += std::log(z);
            ++n;
        }
    });
    EXPECT_TRUE(st.ok());
    return std::exp(s / n);
}

}  // namespace

TEST(EvalTokenizer, MatchesLlamaCppIds) {
    const auto expected = llamaCppIds();
    ASSERT_EQ(expected.size(), 737u);
    EXPECT_EQ(ourIds(), expected);
    auto m = model::openModel(kF32);
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    EXPECT_EQ(tk->encode("Once upon a time", false), (std::vector<int32_t>{403, 407, 261, 378}));
    EXPECT_EQ(tk->encode("", true), (std::vector<int32_t>{1}));
}

TEST(EvalTokenizer, MatchesNodeLlamaCppLive) {
    const std::string js = std::string(QS_TEST_DATA_DIR) + "/../js/";
    if (std::system("node --version > /dev/null 2>&1") != 0) {
        GTEST_SKIP() << "Node.js is not installed";
    }
    if (!std::filesystem::exists(js + "node_modules/node-llama-cpp")) {
        GTEST_SKIP() << "node-llama-cpp is not installed in tests/js/node_modules";
    }
    // Text with bytes the vocabulary lacks (byte fallback), spaces and a newline.
    test::TempDir tmp;
    const std::string text = tmp.file("t.txt");
    std::ofstream(text) << "Tom  said: \"h\xC3\xA9llo\" \xE2\x9C\x93 to Lily.\nThe end!";
    const std::string out = tmp.file("ids.json");
    const std::string cmd = "node " + js + "tokenize.mjs " + kF32 + " " + text + " > " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const auto expected = nlohmann::json::parse(slurp(out))["ids"].get<std::vector<int32_t>>();
    auto m = model::openModel(kF32);
    auto tk = eval::Tokenizer::fromModel(*m);
    EXPECT_EQ(tk->encode(slurp(text), true), expected);
}

TEST(EvalTokenizer, ClearErrors) {
    auto hf = model::openModel(kHf);
    ASSERT_TRUE(hf.ok());
    auto tk = eval::Tokenizer::fromModel(*hf);
    ASSERT_FALSE(tk.ok());
    // The core states the fact (the explorer shows it as it is); the eval command adds its advice
    // (CliEval.ClearErrors checks "--tokens" there).
    EXPECT_NE(tk.error().message.find("no GGUF tokenizer"), std::string::npos)
        << tk.error().message;
    EXPECT_EQ(tk.error().message.find("--tokens"), std::string::npos) << tk.error().message;
    test::TempDir tmp;
    std::ofstream(tmp.file("ids.txt")) << "[1, 403,\n407 x]";
    auto ids = eval::readTokenFile(tmp.file("ids.txt"));
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.error().offset, 13u);
    std::ofstream(tmp.file("ok.txt")) << "[1, 403,\n407]";
    EXPECT_EQ(*eval::readTokenFile(tmp.file("ok.txt")), (std::vector<int32_t>{1, 403, 407}));
}

// llama.cpp's true perplexities (node-llama-cpp 3.22.1 CPU, tests/js/logprobs.mjs): F32 2.744948,
// Q8_0 2.751435, Q4_0 3.033397 (BOS + 511 tokens, one context, all 511 positions scored).
// Measured here (AVX-512): 2.744935 (-0.0005 %), 2.750829 (-0.022 %), 3.033397 (equal: llama.cpp's
// repacked q4_0_8x8 order, one fused step per block, followed).
TEST(EvalPerplexity, MatchesLlamaCpp) {
    EXPECT_NEAR(perplexityOf(kF32) / 2.744948, 1.0, 1e-4);
    EXPECT_NEAR(perplexityOf(kQ8) / 2.751435, 1.0, 5e-4);
    EXPECT_NEAR(perplexityOf(kQ4) / 3.033397, 1.0, eval::cpuHasAvx512() ? 1e-4 : 1e-3);
}

// Our Q4_K_M export of stories260K (64-wide rows: Q5_0 / Q8_0 / F16 by the preset's fallbacks):
// llama.cpp gives it 2.746755 (logprobs.mjs, 2026-12-06); our pass the same to 0.01 % (measured:
// equal to the printed digits; it was +0.156 % before SiLU, RMSNorm and RoPE followed ggml).
TEST(EvalPerplexity, Q4KMMixMatchesLlamaCpp) {
    auto src = model::openModel(kF32);
    ASSERT_TRUE(src.ok());
    quant::PlanOptions po;
    po.ftype = quant::Ftype::Q4_K_M;
    const quant::Plan plan = quant::buildPlan(*src, po);
    test::TempDir tmp;
    const std::string out = tmp.file("stories260K-Q4_K_M.gguf");
    ASSERT_TRUE(quant::exportGguf(*src, plan, out, {}).ok());
    const double ppl = perplexityOf(out);
    std::printf("Q4_K_M mix: ours %.6f, llama.cpp 2.746755\n", ppl);
    if (!eval::cpuHasAvx512()) {  // other x86 builds of llama.cpp: followed, not verified here
        EXPECT_NEAR(ppl / 2.746755, 1.0, 1e-3);
        return;
    }
    EXPECT_NEAR(ppl / 2.746755, 1.0, 1e-4);
}

// Without llama.cpp's rounding (plain float attention and products) the quantized files are off
// by more: the emulation is what makes the numbers match.
TEST(EvalPerplexity, RoundingEmulationMatters) {
    auto m = model::openModel(kQ8);
    auto lm = eval::LlamaModel::bind(*m);
    auto o = opts();
    o.forward.attention = eval::Attention::F32;
    o.forward.emulateGgml = false;
    auto r = eval::evaluate(*lm, llamaCppIds(), o);
    ASSERT_TRUE(r.ok());
    const double plain = std::fabs(r->perplexity / 2.751435 - 1.0);
    const double emulated = std::fabs(perplexityOf(kQ8) / 2.751435 - 1.0);
    std::printf("Q8_0 off by %.4f%% plain, %.4f%% emulated\n", 100 * plain, 100 * emulated);
    EXPECT_LT(emulated, plain);
}

TEST(EvalPerplexity, MatchesPublishedNumbers) {
    // shared/models/README.md: F32 1.6660, Q8_0 1.6645, Q4_0 1.7095 (perplexity.mjs's metric).
    const double f32 = scriptMetricOf(kF32), q8 = scriptMetricOf(kQ8), q4 = scriptMetricOf(kQ4);
    std::printf("perplexity.mjs metric: F32 %.5f Q8_0 %.5f Q4_0 %.5f\n", f32, q8, q4);
    EXPECT_NEAR(f32 / 1.6660, 1.0, 0.001);
    EXPECT_NEAR(q8 / 1.6645, 1.0, 0.001);
    EXPECT_NEAR(q4 / 1.7095, 1.0, 0.001);
}

TEST(EvalPerplexity, SafetensorsEqualsGguf) {
    auto m = model::openModel(kHf);
    ASSERT_TRUE(m.ok());
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok()) << lm.error().what();
    EXPECT_TRUE(lm->tiedOutput());
    auto r = eval::evaluate(*lm, llamaCppIds(), opts());
    ASSERT_TRUE(r.ok());
    const double gguf = perplexityOf(kF32);
    EXPECT_NEAR(r->perplexity / gguf, 1.0, 1e-5);
}

TEST(EvalPerplexity, ThreadCountDoesNotMatter) {
    auto m = model::openModel(kQ4);
    auto lm = eval::LlamaModel::bind(*m);
    auto o = opts();
    o.forward.threads = 1;
    auto a = eval::evaluate(*lm, llamaCppIds(), o);
    o.forward.threads = 2;
    auto b = eval::evaluate(*lm, llamaCppIds(), o);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->nll, b->nll);
}

TEST(EvalKl, QuantizedAgainstF32) {
    auto f32 = model::openModel(kF32);
    auto ref = eval::LlamaModel::bind(*f32);
    ASSERT_TRUE(ref.ok());
    const auto ids = llamaCppIds();
    auto cache = eval::runReference(*ref, ids, opts());
    ASSERT_TRUE(cache.ok());
    EXPECT_NEAR(cache->perplexity, perplexityOf(kF32), 1e-9);

    auto self = eval::evaluate(*ref, ids, opts(), &*cache);
    ASSERT_TRUE(self.ok());
    EXPECT_LT(self->klMean, 1e-6);
    EXPECT_EQ(self->top1Agreement, 1.0);

    auto run = [&](const std::string& path) {
        auto m = model::openModel(path);
        auto lm = eval::LlamaModel::bind(*m);
        auto r = eval::evaluate(*lm, ids, opts(), &*cache);
        EXPECT_TRUE(r.ok());
        return *r;
    };
    const auto q8 = run(kQ8), q4 = run(kQ4);
    std::printf("KL Q8_0 mean %.6f p99 %.6f top1 %.4f | Q4_0 mean %.6f p99 %.6f top1 %.4f\n",
                q8.klMean, q8.klP99, q8.top1Agreement, q4.klMean, q4.klP99, q4.top1Agreement);
    EXPECT_GT(q8.klMean, 0.0);
    EXPECT_LT(q8.klMean, q4.klMean);
    EXPECT_LT(q8.klP99, q4.klP99);
    EXPECT_GE(q8.top1Agreement, q4.top1Agreement);
    EXPECT_EQ(q4.kl.size(), 511u);

    // A top-k cache (k = 16 of 512) gives nearly the exact KL.
    auto o = opts();
    o.topK = 16;
    auto small = eval::runReference(*ref, ids, o);
    auto m4 = model::openModel(kQ4);
    auto lm4 = eval::LlamaModel::bind(*m4);
    auto approx = eval::evaluate(*lm4, ids, o, &*small);
    ASSERT_TRUE(approx.ok());
    EXPECT_NEAR(approx->klMean / q4.klMean, 1.0, 0.05);

    // The cache file round-trips.
    test::TempDir tmp;
    ASSERT_TRUE(small->save(tmp.file("ref.bin")).ok());
    auto loaded = eval::ReferenceCache::load(tmp.file("ref.bin"));
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->ids, small->ids);
    EXPECT_EQ(loaded->logProbs, small->logProbs);
    std::ofstream(tmp.file("bad.bin")) << "QSREFC1";
    EXPECT_FALSE(eval::ReferenceCache::load(tmp.file("bad.bin")).ok());
}

TEST(EvalKl, InMemoryPlansRankLikeTypes) {
    auto f32 = model::openModel(kF32);
    auto ref = eval::LlamaModel::bind(*f32);
    const auto ids = llamaCppIds();
    auto cache = eval::runReference(*ref, ids, opts());
    ASSERT_TRUE(cache.ok());
    std::vector<double> kls;
    for (auto ft : {quant::Ftype::Q8_0, quant::Ftype::Q5_1, quant::Ftype::Q4_0}) {
        quant::PlanOptions po;
        po.ftype = ft;
        const auto plan = quant::buildPlan(*f32, po);
        quant::QuantizeOptions qo;
        qo.threads = 2;
        auto lm = eval::bindWithPlan(*f32, plan, qo);
        ASSERT_TRUE(lm.ok()) << lm.error().what();
        EXPECT_LT(lm->weightBytes(), ref->weightBytes());
        auto r = eval::evaluate(*lm, ids, opts(), &*cache);
        ASSERT_TRUE(r.ok());
        kls.push_back(r->klMean);
    }
    EXPECT_LT(kls[0], kls[1]);
    EXPECT_LT(kls[1], kls[2]);
    // Our in-memory Q8_0 plan is llama.cpp's Q8_0 file byte for byte: same perplexity.
    quant::PlanOptions po;
    const auto plan = quant::buildPlan(*f32, po);
    auto lm = eval::bindWithPlan(*f32, plan, {});
    auto r = eval::evaluate(*lm, ids, opts());
    EXPECT_NEAR(r->perplexity, perplexityOf(kQ8), 1e-9);
}

TEST(EvalKl, LayerProbe) {
    auto f32 = model::openModel(kF32);
    auto ref = eval::LlamaModel::bind(*f32);
    const auto ids = llamaCppIds();
    auto o = opts();
    o.ctx = 128;
    auto cache = eval::runReference(*ref, ids, o);
    auto probe = eval::probeLayers(*f32, formats::TensorType::Q4_0, ids, *cache, o);
    ASSERT_TRUE(probe.ok()) << probe.error().what();
    ASSERT_EQ(probe->size(), 5u);
    for (size_t i = 1; i < probe->size(); ++i) {
        EXPECT_GE((*probe)[i - 1].klMean, (*probe)[i].klMean);
    }
    EXPECT_GT(probe->back().klMean, 0.0);
}

TEST(EvalErrors, BadTokensAndCancel) {
    auto m = model::openModel(kF32);
    auto lm = eval::LlamaModel::bind(*m);
    std::vector<int32_t> bad = {1, 403, 9999};
    auto r = eval::evaluate(*lm, bad, opts());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("9999"), std::string::npos);
    EXPECT_FALSE(eval::evaluate(*lm, std::vector<int32_t>{1}, opts()).ok());
    quant::CancelToken cancel;
    cancel.cancel();
    auto o = opts();
    o.forward.cancel = &cancel;
    auto c = eval::evaluate(*lm, llamaCppIds(), o);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::Cancelled);
}

// shared/models/README.md: `llama-perplexity -c 64 -b 64` (the llama.cpp tool itself) on
// eval-text.txt, 11 chunks: F32 2.9873, Q8_0 2.9892, Q4_0 3.2059. Measured: 2.98725, 2.98917,
// 3.20592. Only 341 positions are scored, so a rare Q8_0-rounding flip weighs more: 0.2%.
TEST(EvalPerplexity, MatchesLlamaPerplexityTool) {
    const auto ids = llamaCppIds();
    const std::pair<std::string, double> cases[] = {{kF32, 2.9873}, {kQ8, 2.9892}, {kQ4, 3.2059}};
    for (const auto& [path, expected] : cases) {
        auto m = model::openModel(path);
        auto lm = eval::LlamaModel::bind(*m);
        eval::ForwardOptions fo;
        fo.threads = 2;
        auto r = eval::evaluateChunked(*lm, ids, 64, 1, fo);
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_EQ(r->scored, 11 * 31);
        std::printf("llama-perplexity -c 64: expected %.4f ours %.5f\n", expected, r->perplexity);
        EXPECT_NEAR(r->perplexity / expected, 1.0, 0.002) << path;
    }
}

TEST(EvalKl, EvaluatePlanJob) {
    auto m = model::openModel(kF32);
    quant::PlanOptions po;
    po.ftype = quant::Ftype::Q4_0;
    const auto plan = quant::buildPlan(*m, po);
    const auto ids = llamaCppIds();
    auto o = opts();
    o.ctx = 128;
    std::vector<uint64_t> done;
    uint64_t total = 0;
    o.forward.progress = [&](const quant::Progress& p) {
        done.push_back(p.doneBytes);
        total = p.totalBytes;
        return true;
    };
    auto r = eval::evaluatePlan(*m, plan, ids, o);
    ASSERT_TRUE(r.ok()) << r.error().what();
    // 6 reference steps, 37 tensors quantized, 6 plan steps; progress only moves forward.
    EXPECT_EQ(total, 6u + 37u + 6u);
    EXPECT_EQ(done.back(), total);
    EXPECT_TRUE(std::is_sorted(done.begin(), done.end()));
    EXPECT_GT(r->result.klMean, 0.0);
    EXPECT_LT(r->weightBytes, r->referenceWeightBytes);
    // The same plan from the cached reference: the same numbers, fewer steps.
    auto again = eval::evaluatePlan(*m, plan, ids, o, &r->reference);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->result.kl, r->result.kl);
    EXPECT_EQ(total, 37u + 6u);
    // Cancelling from the progress callback stops the job.
    o.forward.progress = [](const quant::Progress& p) { return p.doneBytes < 10; };
    auto c = eval::evaluatePlan(*m, plan, ids, o);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::Cancelled);
}
