// The forward passes of the modern architectures (llama 3 rope_freqs, qwen3, qwen3moe, mixtral,
// gemma2, gemma3, phi3) judged by llama.cpp: tiny `synth --arch` models, as F16 and as our own
// Q4_K_M export, evaluated on the same 128 token ids by our forward pass and by
// llama.cpp (node-llama-cpp 3.22.1, CPU, tests/js/logits.mjs: every position's full logits).
// Our pass follows llama.cpp's x86 kernels (docs/EVAL_NUMERICS.md): integer K-quant products in
// the repacked-GEMM / vec_dot order, the tiled flash attention, ggml's vector SiLU and softmax
// expf, its RMSNorm sums and RoPE contraction. On an AVX-512 machine (the zen4 build llama.cpp
// loads here) the files give llama.cpp's logits bit for bit (KL 0) but for gemma2's and
// gemma3's F16 files (KL ~3e-8); the tests hold every model to KL < 1e-4 at every position and
// the perplexity within 0.01 %. llama.cpp runs with flash attention on for every model, gemma2
// included (its CPU default; logits.mjs asks for it, as node-llama-cpp's "auto" would turn it
// off for gemma2; --attention f16 follows its non-flash path too). The MoE
// models have duplicated router rows, so experts tie exactly and the routing must break ties as
// ggml's argsort does. One node process serves the whole suite (it skips with the reason when
// Node.js is missing).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval/cpu_features.h"
#include "eval/evaluate.h"
#include "eval/forward_blocks.h"
#include "eval/tokenizer.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "test_util.h"

using namespace qs;

namespace {

const char* const kArchs[] = {"llama3", "qwen3", "qwen3moe", "mixtral", "gemma2", "gemma3", "phi3"};
constexpr int64_t kCtx = 128;

struct Reference {
    double ppl = 0;
    std::vector<float> logits;  // (kCtx - 1) x vocab
};

class EvalModern : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_dir = new test::TempDir();
        // QS_EVAL_MODERN_CACHE=dir keeps the models and llama.cpp's logits there between runs
        // (for development; the models are deterministic).
        const char* cache = std::getenv("QS_EVAL_MODERN_CACHE");
        const std::string root = cache ? std::string(cache) : s_dir->path().string();
        auto file = [&](const std::string& n) { return root + "/" + n; };
        if (cache) std::filesystem::create_directories(root);
        // Token ids of the eval text through the synth vocabulary (any model of it will do).
        synth::SynthOptions so;
        so.arch = "llama3";
        const std::string first = file("llama3.gguf");
        if (!synth::writeSynthModel(so, first).ok()) return;
        auto fm = model::openModel(first);
        if (!fm) return;
        auto tk = eval::Tokenizer::fromModel(*fm);
        if (!tk) return;
        std::ifstream f(test::dataPath("models/eval-text.txt"));
        std::stringstream ss;
        ss << f.rdbuf();
        s_ids = tk->encode(ss.str(), true);
        s_ids.resize(size_t(kCtx));
        std::string args;
        for (const char* a : kArchs) {
            so.arch = a;
            const std::string f16 = file(std::string(a) + ".gguf");
            if (!synth::writeSynthModel(so, f16).ok()) return;
            auto src = model::openModel(f16);
            if (!src) return;
            quant::PlanOptions po;
            args += " " + f16 + " " + f16 + ".bin";
            for (const auto& [ft, suffix] : {std::pair{quant::Ftype::Q4_K_M, "-q4km"}}) {
                po.ftype = ft;
                const quant::Plan plan = quant::buildPlan(*src, po);
                const std::string q = file(std::string(a) + suffix + ".gguf");
                if (!quant::exportGguf(*src, plan, q, {}).ok()) return;
                args += " " + q + " " + q + ".bin";
            }
        }
        s_ready = true;
        if (std::system("node --version > /dev/null 2>&1") != 0 ||
            !std::filesystem::exists(std::string(QS_TEST_DATA_DIR) +
                                     "/../js/node_modules/node-llama-cpp")) {
            return;
        }
        const std::string idsPath = file("ids.json");
        std::ofstream(idsPath) << nlohmann::json(s_ids).dump();
        const std::string out = file("llama.jsonl");
        const std::string cmd = "node " + std::string(QS_TEST_DATA_DIR) + "/../js/logits.mjs " +
                                idsPath + args + " > " + out;
        if (!cache || !std::filesystem::exists(out)) {
            if (std::system(cmd.c_str()) != 0) return;
        }
        std::ifstream lf(out);
        std::string line;
        while (std::getline(lf, line)) {
            const auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded()) continue;
            Reference r;
            r.ppl = j["ppl"].get<double>();
            const std::string bin = j["out"].get<std::string>();
            r.logits.resize(size_t(j["n"].get<int64_t>() * j["vocab"].get<int64_t>()));
            std::ifstream bf(bin, std::ios::binary);
            bf.read(reinterpret_cast<char*>(r.logits.data()), std::streamsize(r.logits.size() * 4));
            (*s_refs)[j["model"].get<std::string>()] = std::move(r);
        }
        s_haveNode = true;
    }
    static void TearDownTestSuite() {
        delete s_dir;
        s_dir = nullptr;
    }

    // Our logits on the ids against llama.cpp's: perplexity ratio and KL per position.
    void compare(const std::string& arch, const std::string& suffix) {
        ASSERT_TRUE(s_ready) << "synth or quantize failed";
        if (!s_haveNode) GTEST_SKIP() << "Node.js with node-llama-cpp is not installed";
        ASSERT_FALSE(s_refs->empty()) << "llama.cpp gave no logits";
        const std::string path =
            s_refs->begin()->first.substr(0, s_refs->begin()->first.rfind('/') + 1) + arch +
            suffix + ".gguf";
        ASSERT_TRUE(s_refs->count(path)) << "llama.cpp gave nothing for " << path;
        const Reference& ref = s_refs->at(path);
        auto m = model::openModel(path);
        ASSERT_TRUE(m.ok());
        auto lm = eval::LlamaModel::bind(*m);
        ASSERT_TRUE(lm.ok()) << lm.error().what();
        const int64_t V = lm->config().nVocab;
        ASSERT_EQ(ref.logits.size(), size_t((kCtx - 1) * V));
        double nll = 0, klMax = 0, klSum = 0;
        int over = 0;  // positions with KL > 1e-4
        eval::ForwardOptions fo;
        fo.threads = 2;
        // tests/js/logits.mjs asks for flash attention for every model (llama.cpp's own CPU
        // default; node-llama-cpp's "auto" alone would turn it off for gemma2).
        auto st = eval::forward(*lm, s_ids, fo, [&](int64_t pos, int64_t n, const float* lg) {
            for (int64_t i = 0; i < n; ++i) {
                const int64_t p = pos + i;
                if (p + 1 >= kCtx) continue;
                const float* ours = lg + i * V;
                const float* theirs = ref.logits.data() + p * V;
                double mo = -INFINITY, mt = -INFINITY;
                for (int64_t v = 0; v < V; ++v) {
                    mo = std::max(mo, double(ours[v]));
                    mt = std::max(mt, double(theirs[v]));
                }
                double zo = 0, zt = 0;
                for (int64_t v = 0; v < V; ++v) {
                    zo += std::exp(double(ours[v]) - mo);
                    zt += std::exp(double(theirs[v]) - mt);
                }
                const double lzo = mo + std::log(zo), lzt = mt + std::log(zt);
                double kl = 0;
                for (int64_t v = 0; v < V; ++v) {
                    const double lt = double(theirs[v]) - lzt, lo = double(ours[v]) - lzo;
                    kl += std::exp(lt) * (lt - lo);
                }
                klMax = std::max(klMax, kl);
                if (kl > 1e-4) ++over;
                klSum += kl;
                nll += lzo - double(ours[s_ids[size_t(p + 1)]]);
            }
        });
        ASSERT_TRUE(st.ok()) << st.error().what();
        const double ppl = std::exp(nll / double(kCtx - 1));
        const double klMean = klSum / double(kCtx - 1);
        std::printf(
            "%s%s: llama.cpp ppl %.4f ours %.4f (ratio %.6f), KL mean %.3g max %.3g, "
            "%d positions over 1e-4\n",
            arch.c_str(), suffix.c_str(), ref.ppl, ppl, ppl / ref.ppl, klMean, klMax, over);
        // Measured (AVX-512 machine, zen4 build): KL 0 (or < 1e-15) for every file but the F16
        // ones of gemma2 (3e-8 mean) and gemma3 (2e-8).
        // Without AVX-512 llama.cpp loads another build (8-lane sums, the AVX2 expf); we follow
        // it too, but only this machine's numbers are verified, so the older bounds hold there.
        if (!eval::cpuHasAvx512()) {
            EXPECT_NEAR(ppl / ref.ppl, 1.0, 0.01);
            EXPECT_LT(klMean, 3e-3);
            return;
        }
        EXPECT_NEAR(ppl / ref.ppl, 1.0, 1e-4);
        EXPECT_LT(klMean, 1e-5);
        EXPECT_EQ(over, 0) << "KL max " << klMax;
    }

    static inline test::TempDir* s_dir = nullptr;
    static inline std::vector<int32_t> s_ids;
    static inline bool s_ready = false, s_haveNode = false;
    static inline std::map<std::string, Reference>* s_refs = new std::map<std::string, Reference>();
};

}  // namespace

TEST_F(EvalModern, Llama3RopeFreqsF16) {
    compare("llama3", "");
}
TEST_F(EvalModern, Llama3RopeFreqsQ4KM) {
    compare("llama3", "-q4km");
}
TEST_F(EvalModern, Qwen3F16) {
    compare("qwen3", "");
}
TEST_F(EvalModern, Qwen3Q4KM) {
    compare("qwen3", "-q4km");
}
TEST_F(EvalModern, Qwen3MoeF16) {
    compare("qwen3moe", "");
}
TEST_F(EvalModern, Qwen3MoeQ4KM) {
    compare("qwen3moe", "-q4km");
}
TEST_F(EvalModern, MixtralF16) {
    compare("mixtral", "");
}
TEST_F(EvalModern, MixtralQ4KM) {
    compare("mixtral", "-q4km");
}
TEST_F(EvalModern, Gemma2F16) {
    compare("gemma2", "");
}
TEST_F(EvalModern, Gemma2Q4KM) {
    compare("gemma2", "-q4km");
}
TEST_F(EvalModern, Gemma3F16) {
    compare("gemma3", "");
}
TEST_F(EvalModern, Gemma3Q4KM) {
    compare("gemma3", "-q4km");
}
TEST_F(EvalModern, Phi3F16) {
    compare("phi3", "");
}
TEST_F(EvalModern, Phi3Q4KM) {
    compare("phi3", "-q4km");
}

// Without llama.cpp: the binding of every synth architecture (fused tensors as row ranges,
// one view per expert), and the router's tie-breaking on duplicated rows.
TEST(EvalModernBind, ArchitecturesBindAndExpertsTieByIndex) {
    test::TempDir tmp;
    for (const char* a : kArchs) {
        synth::SynthOptions so;
        so.arch = a;
        const std::string path = tmp.file(std::string(a) + ".gguf");
        ASSERT_TRUE(synth::writeSynthModel(so, path).ok()) << a;
        auto m = model::openModel(path);
        ASSERT_TRUE(m.ok()) << a;
        auto lm = eval::LlamaModel::bind(*m);
        ASSERT_TRUE(lm.ok()) << a << ": " << lm.error().what();
        const eval::LlamaConfig& c = lm->config();
        // Every 2-D or 3-D weight of the file is bound; plans and probes see all but the router.
        size_t matrices = 0, routers = 0;
        uint64_t bytes = 0;
        for (const auto& t : m->tensors()) {
            if (t.shape.size() < 2) continue;
            ++matrices;
            bytes += t.nbytes;
            routers += t.name.find("ffn_gate_inp") != std::string::npos ? 1 : 0;
        }
        EXPECT_EQ(lm->boundTensors().size(), matrices - routers) << a;
        EXPECT_EQ(lm->weightBytes(), bytes) << a;
        if (std::string(a) == "qwen3") EXPECT_EQ(c.headDim, 96);
        if (std::string(a) == "gemma3") {
            EXPECT_EQ(c.nSwa, 32);
            EXPECT_TRUE(c.isSwa(0) && c.isSwa(4) && !c.isSwa(5));
        }
        if (std::string(a) == "phi3") {
            EXPECT_EQ(lm->layers()[0].wk.firstRow, c.nHead * c.headDim);
            EXPECT_EQ(lm->layers()[0].wUp.firstRow, c.nFf);
        }
        if (c.nExpert == 0) continue;
        const eval::LayerWeights& L = lm->layers()[0];
        ASSERT_EQ(L.gateExps.size(), size_t(c.nExpert));
        EXPECT_EQ(L.downExps[3].firstRow, 3 * c.nEmbd);
        // Rows nExpert-1 (and nExpert-2 for qwen3moe) repeat rows 0 (and 1): equal weights, the
        // lower index first, for every token that picks one of a tied pair.
        std::vector<float> h(size_t(8 * c.nEmbd));
        for (size_t i = 0; i < h.size(); ++i) h[i] = std::sin(0.37f * float(i));
        std::vector<int32_t> sel;
        std::vector<float> w;
        eval::detail::routeExperts(L, c, h.data(), 8, 1, true, sel, w);
        const int k = c.nExpertUsed, tie = c.nExpert - 1 - (std::string(a) == "qwen3moe");
        for (int t = 0; t < 8; ++t) {
            float sum = 0;
            for (int j = 0; j < k; ++j) sum += w[size_t(t * k + j)];
            EXPECT_NEAR(sum, 1.0f, 1e-6f);
            for (int j = 0; j < k; ++j) {
                const int e = sel[size_t(t * k + j)];
                if (e >= tie) {  // its twin e - tie scores the same and comes first
                    bool twinBefore = false;
                    for (int i = 0; i < j; ++i) twinBefore |= sel[size_t(t * k + i)] == e - tie;
                    EXPECT_TRUE(twinBefore) << a << " token " << t;
                }
            }
        }
    }
}
