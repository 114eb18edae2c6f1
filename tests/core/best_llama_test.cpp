// Issue 23: the best quantizer's files judged by llama.cpp itself. stories260K with its imatrix
// (tests/data/imatrix/stories260K.imatrix.gguf, from `quantscope-cli imatrix` over
// tests/data/imatrix/calibration.txt): llama_model_quantize of node-llama-cpp's libllama writes
// llama.cpp's own file of a preset with that imatrix, our export with --quantizer best writes
// ours, and llama.cpp (node-llama-cpp, tests/js/logits.mjs) evaluates both and the F32 model on
// models/eval-text.txt: ours must have the lower true perplexity and the lower mean KL
// divergence to F32. Q4_K_M by default; QS_BEST_ALL_PRESETS=1 adds Q3_K_M and Q2_K (the numbers
// in docs/QUANTIZER.md). Skipped with a reason when node or the npm package is missing.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;

namespace {

// The parts of llama.h (this build) llama_model_quantize needs.
struct LlamaImatrixData {
    const char* name;
    const float* data;
    size_t size;
};
struct LlamaQuantizeParams {
    int32_t nthread;
    int ftype;
    int outputTensorType;
    int tokenEmbeddingType;
    bool allowRequantize, quantizeOutputTensor, onlyCopy, pure, keepSplit, dryRun;
    const LlamaImatrixData* imatrix;
    const void* kvOverrides;
    const void* ttOverrides;
    const int32_t* pruneLayers;
    size_t maxBufSize;
};
using DefaultParamsFn = LlamaQuantizeParams (*)();
using QuantizeFn = uint32_t (*)(const char* in, const char* out, const LlamaQuantizeParams* p);

std::string libDir() {
    return std::string(QS_TEST_DATA_DIR) +
           "/../js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/";
}

std::string slurp(const std::string& path) {
    const auto b = test::readFile(path);
    return std::string(b.begin(), b.end());
}

std::vector<float> readFloats(const std::string& path) {
    const auto b = test::readFile(path);
    std::vector<float> v(b.size() / sizeof(float));
    std::memcpy(v.data(), b.data(), v.size() * sizeof(float));
    return v;
}

/// Mean over positions of KL(p || q) for rows of `vocab` logits.
double meanKl(const std::vector<float>& p, const std::vector<float>& q, size_t vocab) {
    const size_t n = p.size() / vocab;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
        const float* a = p.data() + i * vocab;
        const float* b = q.data() + i * vocab;
        double ma = -INFINITY, mb = -INFINITY;
        for (size_t k = 0; k < vocab; ++k) {
            ma = std::max(ma, double(a[k]));
            mb = std::max(mb, double(b[k]));
        }
        double za = 0, zb = 0;
        for (size_t k = 0; k < vocab; ++k) {
            za += std::exp(a[k] - ma);
            zb += std::exp(b[k] - mb);
        }
        const double la = ma + std::log(za), lb = mb + std::log(zb);
        double kl = 0;
        for (size_t k = 0; k < vocab; ++k) {
            const double lpa = a[k] - la, lpb = b[k] - lb;
            kl += std::exp(lpa) * (lpa - lpb);
        }
        total += kl;
    }
    return n ? total / double(n) : 0;
}

std::vector<nlohmann::json> runNode(const std::string& cmd, const std::string& out) {
    std::vector<nlohmann::json> res;
    const std::string full = cmd + " > " + out + " 2> " + out + ".err";
    EXPECT_EQ(std::system(full.c_str()), 0) << full << "\n" << slurp(out + ".err");
    std::istringstream lines(slurp(out));
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line[0] == '{') res.push_back(nlohmann::json::parse(line));
    }
    return res;
}

TEST(BestLlama, LowerPerplexityAndKlThanLlamaCppWithImatrix) {
    const std::string js = std::string(QS_TEST_DATA_DIR) + "/../js/";
    if (!std::filesystem::exists(libDir() + "libllama.v0.5.0.so"))
        GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    if (std::system("node --version > /dev/null 2>&1") != 0)
        GTEST_SKIP() << "Node.js is not installed (llama.cpp runs through node-llama-cpp)";
    if (!std::filesystem::exists(js + "node_modules/node-llama-cpp"))
        GTEST_SKIP() << "node-llama-cpp is not installed in tests/js/node_modules";
    void* h = dlopen((libDir() + "libllama.v0.5.0.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << dlerror();
    auto defaults =
        reinterpret_cast<DefaultParamsFn>(dlsym(h, "llama_model_quantize_default_params"));
    auto quantize = reinterpret_cast<QuantizeFn>(dlsym(h, "llama_model_quantize"));
    ASSERT_TRUE(defaults && quantize);

    const std::string src = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(src);
    ASSERT_TRUE(m.ok());
    auto im = loadImatrix(test::dataPath("imatrix/stories260K.imatrix.gguf"));
    ASSERT_TRUE(im.ok()) << im.error().what();
    std::vector<LlamaImatrixData> data;
    for (const auto& [name, values] : im->entries)
        data.push_back({name.c_str(), values.data(), values.size()});
    data.push_back({nullptr, nullptr, 0});

    std::vector<Ftype> presets = {Ftype::Q4_K_M};
    if (const char* all = std::getenv("QS_BEST_ALL_PRESETS"); all && std::string(all) == "1")
        presets = {Ftype::Q4_K_M, Ftype::Q3_K_M, Ftype::Q2_K};

    test::TempDir dir;
    // Token ids of the evaluation text (BOS + the first 511 tokens) from llama.cpp itself.
    const std::string text = test::dataPath("models/eval-text.txt");
    auto f32 = runNode("node " + js + "logprobs.mjs " + text + " 512 " + src, dir.file("f32.json"));
    ASSERT_EQ(f32.size(), 1u);
    const std::string ids = dir.file("ids.json");
    {
        std::FILE* f = std::fopen(ids.c_str(), "w");
        ASSERT_NE(f, nullptr);
        const std::string s = f32[0]["ids"].dump();
        std::fwrite(s.data(), 1, s.size(), f);
        std::fclose(f);
    }
    std::string cmd = "node " + js + "logits.mjs " + ids + " " + src + " " + dir.file("f32.bin");
    for (const Ftype f : presets) {
        const std::string name(ftypeInfo(f).name);
        const std::string theirs = dir.file("llama-" + name + ".gguf");
        const std::string ours = dir.file("best-" + name + ".gguf");
        LlamaQuantizeParams p = defaults();
        p.nthread = 2;
        p.ftype = int(f);
        p.imatrix = data.data();
        ASSERT_EQ(quantize(src.c_str(), theirs.c_str(), &p), 0u) << name;
        PlanOptions po;
        po.ftype = f;
        po.hasImatrix = true;
        Plan plan = buildPlan(*m, po);
        plan.quantizer = formats::Quantizer::Best;
        QuantizeOptions qo;
        qo.threads = 2;
        qo.imatrix = &*im;
        qo.metrics = false;
        const auto st = exportGguf(*m, plan, ours, qo);
        ASSERT_TRUE(st.ok()) << st.error().what();
        cmd += " " + theirs + " " + theirs + ".bin " + ours + " " + ours + ".bin";
    }
    const auto res = runNode(cmd, dir.file("logits.json"));
    ASSERT_EQ(res.size(), 1 + 2 * presets.size());
    const size_t vocab = res[0]["vocab"].get<size_t>();
    const auto ref = readFloats(res[0]["out"].get<std::string>());
    std::printf("F32 perplexity %.4f (%d positions)\n", res[0]["ppl"].get<double>(),
                res[0]["n"].get<int>());
    for (size_t i = 0; i < presets.size(); ++i) {
        const std::string name(ftypeInfo(presets[i]).name);
        const auto& theirs = res[1 + 2 * i];
        const auto& ours = res[2 + 2 * i];
        const double pT = theirs["ppl"].get<double>(), pO = ours["ppl"].get<double>();
        const double kT = meanKl(ref, readFloats(theirs["out"].get<std::string>()), vocab);
        const double kO = meanKl(ref, readFloats(ours["out"].get<std::string>()), vocab);
        std::printf(
            "%-7s llama.cpp's file: perplexity %.4f KL %.5f | best: perplexity %.4f "
            "KL %.5f\n",
            name.c_str(), pT, kT, pO, kO);
        EXPECT_LT(pO, pT) << name;
        EXPECT_LT(kO, kT) << name;
    }
    dlclose(h);
}

}  // namespace
