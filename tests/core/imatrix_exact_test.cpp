// Our imatrix against llama-imatrix's, bit for bit. The oracle is libllama of the node-llama-cpp
// package, driven as tools/imatrix/imatrix.cpp drives it with its default settings (-c 512,
// -b 2048, -ub 512: four chunks decoded together as four sequences with their own KV caches,
// flash attention "auto" (on for the CPU) over the default F16 cache, BOS first in every chunk,
// all outputs requested) and its evaluation callback summing squares as llama-imatrix does
// (float accumulators, every MUL_MAT with a blk.* weight and at least 16 rows). For stories260K
// (F32 weights) our sums must be the same floats (memcmp), the counts equal, and
// llama_model_quantize must write the same bytes with either imatrix. Skips with a reason when
// the npm package is not installed.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../common/libllama_api.h"
#include "eval/cpu_features.h"
#include "eval/imatrix_collect.h"
#include "eval/matmul_f32.h"
#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/imatrix_sums.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "test_util.h"

using namespace qs;

namespace {

using namespace qs::test::libllama;

bool haveLlama() {
    return std::filesystem::exists(libDir() + kLibllama);
}

/// llama-imatrix (tools/imatrix/imatrix.cpp) through libllama, with its default settings.
class ImatrixTool {
public:
    ~ImatrixTool() {
        if (m_llama) dlclose(m_llama);
        if (m_ggml) dlclose(m_ggml);
        if (m_base) dlclose(m_base);
    }

    std::string open() {
        if (!haveLlama()) return "no " + libDir() + "libllama.v0.5.0.so";
        m_base = dlopen((libDir() + "libggml-base.so").c_str(), RTLD_NOW | RTLD_LOCAL);
        m_ggml = dlopen((libDir() + "libggml.v0.5.0.so").c_str(), RTLD_NOW | RTLD_LOCAL);
        m_llama = dlopen((libDir() + "libllama.v0.5.0.so").c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!m_base || !m_ggml || !m_llama) return std::string("dlopen failed: ") + dlerror();
        opName = sym<const char* (*)(int32_t)>(m_base, "ggml_op_name");
        auto loadAll = sym<void (*)(const char*)>(m_ggml, "ggml_backend_load_all_from_path");
        auto backendInit = sym<void (*)()>(m_llama, "llama_backend_init");
        modelDefaults = sym<LlamaModelParams (*)()>(m_llama, "llama_model_default_params");
        ctxDefaults = sym<LlamaContextParams (*)()>(m_llama, "llama_context_default_params");
        loadModel =
            sym<void* (*)(const char*, LlamaModelParams)>(m_llama, "llama_model_load_from_file");
        freeModel = sym<void (*)(void*)>(m_llama, "llama_model_free");
        initCtx = sym<void* (*)(void*, LlamaContextParams)>(m_llama, "llama_init_from_model");
        freeCtx = sym<void (*)(void*)>(m_llama, "llama_free");
        batchInit = sym<LlamaBatch (*)(int32_t, int32_t, int32_t)>(m_llama, "llama_batch_init");
        batchFree = sym<void (*)(LlamaBatch)>(m_llama, "llama_batch_free");
        decode = sym<int32_t (*)(void*, LlamaBatch)>(m_llama, "llama_decode");
        getMemory = sym<void* (*)(void*)>(m_llama, "llama_get_memory");
        memoryClear = sym<void (*)(void*, bool)>(m_llama, "llama_memory_clear");
        quantizeDefaults =
            sym<LlamaQuantizeParams (*)()>(m_llama, "llama_model_quantize_default_params");
        quantize = sym<uint32_t (*)(const char*, const char*, const LlamaQuantizeParams*)>(
            m_llama, "llama_model_quantize");
        auto logSet =
            sym<void (*)(void (*)(int, const char*, void*), void*)>(m_llama, "llama_log_set");
        if (!opName || !loadAll || !backendInit || !modelDefaults || !ctxDefaults || !loadModel ||
            !freeModel || !initCtx || !freeCtx || !batchInit || !batchFree || !decode ||
            !getMemory || !memoryClear || !quantizeDefaults || !quantize) {
            return "a symbol is missing from libllama / libggml";
        }
        if (logSet) logSet([](int, const char*, void*) {}, nullptr);
        loadAll(libDir().c_str());
        backendInit();
        const LlamaContextParams c = ctxDefaults();
        // llama-imatrix's defaults (common_params): flash attention auto (-1), F16 KV cache (1),
        // separate KV caches per sequence. Checked on the library's own defaults.
        if (c.nCtx != 512 || c.nBatch != 2048 || c.nUbatch != 512 || c.flashAttnType != -1 ||
            c.typeK != 1 || c.typeV != 1 || c.kvUnified || c.cbEval != nullptr) {
            return "llama_context_params of this libllama differ from the layout the test assumes";
        }
        return {};
    }

    struct Entry {
        std::vector<float> values;
        std::vector<float> counts;
    };

    /// compute_imatrix: n_seq = max(1, batch / ctx) chunks per decode, sequence s of the batch
    /// holding chunk i + s with BOS first, every token an output.
    std::map<std::string, Entry> run(const std::string& path, const std::vector<int32_t>& tokens,
                                     int ctx, int32_t bos, std::string& err, int batch = 2048,
                                     int ubatch = 512) {
        m_stats.clear();
        void* model = loadModel(path.c_str(), modelDefaults());
        if (!model) {
            err = "libllama cannot load " + path;
            return {};
        }
        const int nSeq = std::max(1, batch / ctx);
        const int nKv = nSeq * ctx;
        const int nBatch = std::min(batch, nKv);
        LlamaContextParams cp = ctxDefaults();
        cp.nCtx = uint32_t(nKv);
        cp.nBatch = uint32_t(nBatch);
        cp.nUbatch = uint32_t(ubatch);
        cp.nSeqMax = uint32_t(nSeq);
        cp.nThreads = cp.nThreadsBatch = 1;  // no spinning barriers on a busy CI machine
        cp.cbEval = &ImatrixTool::callback;
        cp.cbEvalUser = this;
        void* lctx = initCtx(model, cp);
        if (!lctx) {
            freeModel(model);
            err = "libllama cannot make a context";
            return {};
        }
        const int nChunk = int(tokens.size()) / ctx;
        const int numBatches = (ctx + nBatch - 1) / nBatch;
        LlamaBatch b = batchInit(std::min(nBatch, nKv), 0, 1);
        for (int i = 0; i < nChunk && err.empty(); i += nSeq) {
            const int start = i * ctx, end = start + ctx;
            const int nSeqBatch = std::min(nSeq, nChunk - i);
            memoryClear(getMemory(lctx), true);
            for (int j = 0; j < numBatches && err.empty(); ++j) {
                const int batchStart = start + j * nBatch;
                const int batchSize = std::min(end - batchStart, nBatch);
                b.nTokens = 0;
                for (int seq = 0; seq < nSeqBatch; ++seq) {
                    const int seqStart = batchStart + seq * ctx;
                    for (int k = 0; k < batchSize; ++k) {
                        const int n = b.nTokens++;
                        b.token[n] =
                            j == 0 && k == 0 && bos >= 0 ? bos : tokens[size_t(seqStart + k)];
                        b.pos[n] = j * nBatch + k;
                        b.nSeqId[n] = 1;
                        b.seqId[n][0] = seq;
                        b.logits[n] = 1;
                    }
                }
                if (decode(lctx, b) != 0) err = "llama_decode failed";
            }
        }
        batchFree(b);
        freeCtx(lctx);
        freeModel(model);
        return m_stats;
    }

    bool quantizeWith(const std::string& in, const std::string& out, quant::Ftype ftype,
                      const quant::Imatrix& im) {
        std::vector<LlamaImatrixData> data;
        for (const auto& [name, values] : im.entries) {
            data.push_back({name.c_str(), values.data(), values.size()});
        }
        data.push_back({nullptr, nullptr, 0});
        LlamaQuantizeParams p = quantizeDefaults();
        p.nthread = 2;
        p.ftype = int(ftype);
        p.imatrix = data.data();
        return quantize(in.c_str(), out.c_str(), &p) == 0;
    }

private:
    static std::string weightName(const char* name) {
        std::string s(name);
        const auto p = s.find('#');
        if (p == std::string::npos) return s;
        const auto q = s.find('#', p + 1);
        return s.substr(p + 1, q == std::string::npos ? std::string::npos : q - p - 1);
    }

    // IMatrixCollector::collect_imatrix.
    static bool callback(GgmlTensor* t, bool ask, void* user) {
        auto* self = static_cast<ImatrixTool*>(user);
        const std::string op = self->opName(t->op);
        const GgmlTensor* src0 = t->src[0];
        const GgmlTensor* src1 = t->src[1];
        if (op == "MUL_MAT_ID") {
            // Every routed row, slot by slot, the ubatch's rows in order within a slot.
            if (ask) return true;
            const GgmlTensor* ids = t->src[2];
            const int64_t nAs = src0->ne[2], ne0 = src1->ne[0];
            auto& e = self->m_stats[weightName(src0->name)];
            if (e.values.empty()) {
                e.values.assign(size_t(ne0 * nAs), 0.0f);
                e.counts.assign(size_t(nAs), 0.0f);
            }
            for (int64_t idx = 0; idx < ids->ne[0]; ++idx) {
                for (int64_t row = 0; row < src1->ne[2]; ++row) {
                    int32_t ex;
                    std::memcpy(
                        &ex,
                        static_cast<const char*>(ids->data) + row * ids->nb[1] + idx * ids->nb[0],
                        4);
                    const auto* x = reinterpret_cast<const float*>(
                        static_cast<const char*>(src1->data) + (idx % src1->ne[1]) * src1->nb[1] +
                        row * src1->nb[2]);
                    float* acc = e.values.data() + ex * ne0;
                    e.counts[size_t(ex)] += 1;
                    for (int64_t j = 0; j < ne0; ++j) acc[j] += x[j] * x[j];
                }
            }
            return true;
        }
        if (ask) {
            if (op != "MUL_MAT") return false;
            if (src1->ne[1] < 16 || src1->type != 0) return false;
            return weightName(src0->name).starts_with("blk.");
        }
        const auto* data = static_cast<const char*>(src1->data);
        const int64_t ne0 = src1->ne[0];
        auto& e = self->m_stats[weightName(src0->name)];
        if (e.values.empty()) {
            e.values.assign(size_t(ne0), 0.0f);
            e.counts.assign(1, 0.0f);
        }
        for (int64_t i2 = 0; i2 < src1->ne[2]; ++i2) {
            for (int64_t row = 0; row < src1->ne[1]; ++row) {
                const auto* x =
                    reinterpret_cast<const float*>(data + row * src1->nb[1] + i2 * src1->nb[2]);
                for (int64_t j = 0; j < ne0; ++j) e.values[size_t(j)] += x[j] * x[j];
            }
        }
        e.counts[0] += float(src1->ne[1] * src1->ne[2]);
        return true;
    }

    const char* (*opName)(int32_t) = nullptr;
    LlamaModelParams (*modelDefaults)() = nullptr;
    LlamaContextParams (*ctxDefaults)() = nullptr;
    void* (*loadModel)(const char*, LlamaModelParams) = nullptr;
    void (*freeModel)(void*) = nullptr;
    void* (*initCtx)(void*, LlamaContextParams) = nullptr;
    void (*freeCtx)(void*) = nullptr;
    LlamaBatch (*batchInit)(int32_t, int32_t, int32_t) = nullptr;
    void (*batchFree)(LlamaBatch) = nullptr;
    int32_t (*decode)(void*, LlamaBatch) = nullptr;
    void* (*getMemory)(void*) = nullptr;
    void (*memoryClear)(void*, bool) = nullptr;
    LlamaQuantizeParams (*quantizeDefaults)() = nullptr;
    uint32_t (*quantize)(const char*, const char*, const LlamaQuantizeParams*) = nullptr;
    void* m_base = nullptr;
    void* m_ggml = nullptr;
    void* m_llama = nullptr;
    std::map<std::string, Entry> m_stats;
};

std::string readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// The calibration text and the evaluation text, tokenized as llama-imatrix does (BOS first).
std::vector<int32_t> calibrationTokens(const eval::Tokenizer& tk) {
    return tk.encode(readText(test::dataPath("imatrix/calibration.txt")) + "\n" +
                         readText(test::dataPath("models/eval-text.txt")),
                     true);
}

struct Diff {
    size_t columns = 0, differ = 0;
    double worstRel = 0;
};

/// Ours against the tool's: same entries, equal counts; how many float sums differ.
Diff compare(const quant::ImatrixSums& ours,
             const std::map<std::string, ImatrixTool::Entry>& theirs) {
    Diff d;
    EXPECT_EQ(ours.entries.size(), theirs.size());
    for (const auto& [name, t] : theirs) {
        auto it = ours.entries.find(name);
        if (it == ours.entries.end()) {
            ADD_FAILURE() << "we have no entry for " << name;
            continue;
        }
        const auto& e = it->second;
        EXPECT_EQ(e.counts, std::vector<double>(t.counts.begin(), t.counts.end())) << name;
        if (e.sums.size() != t.values.size()) {
            ADD_FAILURE() << name << ": " << e.sums.size() << " sums, llama.cpp "
                          << t.values.size();
            continue;
        }
        std::vector<float> mine(e.sums.begin(), e.sums.end());
        for (size_t i = 0; i < mine.size(); ++i) {
            ++d.columns;
            if (std::memcmp(&mine[i], &t.values[i], 4) != 0) ++d.differ;
            d.worstRel = std::max(d.worstRel, std::fabs(double(mine[i]) - t.values[i]) /
                                                  std::max(std::fabs(double(t.values[i])), 1e-30));
        }
    }
    return d;
}

}  // namespace

// llama.cpp's ubatches as llama-imatrix's defaults make them.
TEST(ImatrixExact, UbatchSlicesAsLlamaCpp) {
    using S = std::vector<std::pair<int64_t, int64_t>>;
    // -c 512 -b 2048 -ub 512: four sequences, 128 tokens of each per ubatch.
    EXPECT_EQ(eval::imatrixUbatchSlices(512, 4, 4, 2048, 512),
              S({{0, 128}, {128, 128}, {256, 128}, {384, 128}}));
    // The last group of three chunks: 170 tokens each, then 2 (a 6-row ubatch, left out).
    EXPECT_EQ(eval::imatrixUbatchSlices(512, 4, 3, 2048, 512),
              S({{0, 170}, {170, 170}, {340, 170}, {510, 2}}));
    // One sequence per context: decodes of -b tokens in -ub pieces.
    EXPECT_EQ(eval::imatrixUbatchSlices(3000, 1, 1, 2048, 512),
              S({{0, 512}, {512, 512}, {1024, 512}, {1536, 512}, {2048, 512}, {2560, 440}}));
    EXPECT_EQ(eval::imatrixUbatchSlices(128, 16, 4, 2048, 512), S({{0, 128}}));
}

// The collector sums a group's rows ubatch by ubatch, sequence after sequence, in float.
TEST(ImatrixExact, CollectorSumsInUbatchOrder) {
    eval::WeightView w;
    w.name = "blk.0.attn_q.weight";
    w.cols = 1;
    w.rows = 1;
    // Two sequences of 32 tokens, ubatches of 16 tokens of each: the rows arrive 1e8 first,
    // and the small values of the other sequence's first half are added after it (lost in
    // float) only if the order is followed.
    std::vector<float> a(32, 0.0f), b(32, 0.0f);
    a[0] = 1e4f;   // square 1e8
    b[0] = 0.5f;   // square 0.25: lost after 1e8
    b[16] = 1e4f;  // next ubatch
    eval::ImatrixCollector held;
    held.beginGroup(2, {{0, 16}, {16, 16}}, true);
    held.setSequence(0);
    held.onProduct(w, -1, 0, a.data(), 32);
    held.setSequence(1);
    held.onProduct(w, -1, 0, b.data(), 32);
    held.endGroup();
    const auto s = held.sums();
    EXPECT_EQ(s.entries.at(w.name).counts, std::vector<double>({64}));
    EXPECT_EQ(s.entries.at(w.name).sums[0], double(1e8f + 0.25f + 1e8f));
    // A ubatch of fewer than 16 rows is left out (llama-imatrix's rule).
    eval::ImatrixCollector small;
    small.beginGroup(2, {{0, 7}, {7, 25}}, false);
    small.setSequence(0);
    small.onProduct(w, -1, 0, a.data(), 32);
    small.setSequence(1);
    small.onProduct(w, -1, 0, b.data(), 32);
    small.endGroup();
    EXPECT_EQ(small.sums().entries.at(w.name).counts, std::vector<double>({50}));
}

// Our ggml_vec_dot_f32 (F32 products tinyBLAS does not take: rows not a multiple of the vector
// width, like stories260K's ffn_down of 172 columns) against the function of llama.cpp's CPU
// build for this machine, for every length up to 300: the same float.
TEST(ImatrixExact, F32VecDotEqualsGgml) {
    std::string variant;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi")) {
        variant = "zen4";
    } else if (eval::cpuHasAvx2Fma() && !eval::cpuHasAvx512()) {
        variant = "haswell";
    }
#endif
    if (variant.empty()) GTEST_SKIP() << "no llama.cpp CPU build whose F32 sums we follow here";
    const std::string lib = libDir() + "libggml-cpu-" + variant + ".so";
    if (!std::filesystem::exists(lib)) GTEST_SKIP() << "no " << lib;
    void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << dlerror();
    auto init = sym<void (*)()>(h, "ggml_cpu_init");
    auto vecDot =
        sym<void (*)(int, float*, size_t, const float*, size_t, const float*, size_t, int)>(
            h, "ggml_vec_dot_f32");
    ASSERT_TRUE(init && vecDot);
    init();
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> w(300), x(300);
    size_t differ = 0;
    for (int n = 1; n <= 300; ++n) {
        for (int rep = 0; rep < 4; ++rep) {
            for (int i = 0; i < n; ++i) {
                w[size_t(i)] = nd(rng) * 0.1f;
                x[size_t(i)] = nd(rng) * (i % 37 == 3 ? 20.0f : 1.0f);
            }
            float theirs = 0;
            vecDot(n, &theirs, 0, w.data(), 0, x.data(), 0, 1);
            const float ours = eval::detail::dotF32VecDot(w.data(), x.data(), n);
            if (std::memcmp(&ours, &theirs, 4) != 0 && differ++ < 5) {
                ADD_FAILURE() << "n " << n << ": ours " << ours << ", ggml " << theirs;
            }
        }
    }
    EXPECT_EQ(differ, 0u);
    dlclose(h);
}

// stories260K at llama-imatrix's defaults: the same floats, and the same quantized files.
TEST(ImatrixExact, Stories260KBitIdenticalToLlamaImatrix) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    ImatrixTool tool;
    ASSERT_EQ(tool.open(), "");
    const std::string path = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok());
    const auto tokens = calibrationTokens(*tk);
    ASSERT_GE(tokens.size(), 2u * 512) << "llama-imatrix needs two chunks";
    eval::ImatrixOptions o;  // llama-imatrix's defaults: -c 512 -b 2048 -ub 512
    o.bos = tk->bos();
    o.forward.threads = 2;
    auto ours = eval::computeImatrix(*lm, tokens, o);
    ASSERT_TRUE(ours.ok()) << ours.error().what();
    std::string err;
    const auto theirs = tool.run(path, tokens, 512, tk->bos(), err);
    ASSERT_TRUE(err.empty()) << err;
    const Diff d = compare(*ours, theirs);
    std::printf(
        "stories260K, %zu tokens, %u chunks of 512: %zu of %zu sums differ (largest "
        "relative difference %.3g)\n",
        tokens.size(), ours->chunkCount, d.differ, d.columns, d.worstRel);
    EXPECT_EQ(d.differ, 0u);
    // The order is part of it: summing each chunk's rows as they come, not ubatch by ubatch
    // across the four sequences, changes the last bits.
    eval::ImatrixOptions seq = o;
    seq.holdBytes = 0;
    auto inOrder = eval::computeImatrix(*lm, tokens, seq);
    ASSERT_TRUE(inOrder.ok());
    const Diff ds = compare(*inOrder, theirs);
    std::printf(
        "summed chunk by chunk instead: %zu of %zu sums differ (largest relative "
        "difference %.3g)\n",
        ds.differ, ds.columns, ds.worstRel);
    EXPECT_GT(ds.differ, 0u);

    // The files: ours and llama.cpp's sums written alike are the same bytes, and
    // llama_model_quantize gives the same IQ4_XS and Q4_K_M files with either.
    quant::ImatrixSums t;
    for (const auto& [name, e] : theirs) {
        t.entries[name] = {std::vector<double>(e.values.begin(), e.values.end()),
                           std::vector<double>(e.counts.begin(), e.counts.end())};
    }
    t.chunkCount = ours->chunkCount;
    t.chunkSize = ours->chunkSize;
    test::TempDir dir;
    ASSERT_TRUE(quant::saveImatrixSums(*ours, dir.file("ours.imatrix.gguf")).ok());
    ASSERT_TRUE(quant::saveImatrixSums(t, dir.file("theirs.imatrix.gguf")).ok());
    EXPECT_EQ(test::readFile(dir.file("ours.imatrix.gguf")),
              test::readFile(dir.file("theirs.imatrix.gguf")));
    auto a = quant::loadImatrix(dir.file("ours.imatrix.gguf"));
    auto b = quant::loadImatrix(dir.file("theirs.imatrix.gguf"));
    ASSERT_TRUE(a.ok() && b.ok());
    for (const auto ft : {quant::Ftype::IQ4_XS, quant::Ftype::Q4_K_M}) {
        ASSERT_TRUE(tool.quantizeWith(path, dir.file("ours.gguf"), ft, *a));
        ASSERT_TRUE(tool.quantizeWith(path, dir.file("theirs.gguf"), ft, *b));
        const auto x = test::readFile(dir.file("ours.gguf"));
        const auto y = test::readFile(dir.file("theirs.gguf"));
        ASSERT_EQ(x.size(), y.size());
        size_t differ = 0;
        for (size_t i = 0; i < x.size(); ++i) differ += x[i] != y[i];
        // The chunk-by-chunk order's imatrix, for the record.
        ASSERT_TRUE(
            tool.quantizeWith(path, dir.file("seq.gguf"), ft, quant::importanceOf(*inOrder)));
        const auto z = test::readFile(dir.file("seq.gguf"));
        size_t differSeq = 0;
        for (size_t i = 0; i < z.size() && i < y.size(); ++i) differSeq += z[i] != y[i];
        std::printf(
            "%s: %zu of %zu bytes differ between our imatrix and llama.cpp's (%zu when "
            "summed chunk by chunk)\n",
            ft == quant::Ftype::IQ4_XS ? "IQ4_XS" : "Q4_K_M", differ, x.size(), differSeq);
        EXPECT_EQ(differ, 0u);
    }
}

// The tiny qwen3moe (8 experts, top-2, router rows that tie) at llama-imatrix's defaults with
// -c 64: 32 chunks per decode (16 tokens of each per ubatch, so flash attention takes its row
// kernel there), then the remaining chunks. Dense and per-expert sums are the same floats, the
// counts per expert equal, for the F16 file and its F32 export; llama_model_quantize writes the
// same IQ4_XS and Q4_K_M files with either imatrix.
TEST(ImatrixExact, Qwen3MoeBitIdenticalToLlamaImatrix) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    ImatrixTool tool;
    ASSERT_EQ(tool.open(), "");
    test::TempDir dir;
    synth::SynthOptions so;
    so.arch = "qwen3moe";
    const std::string f16 = dir.file("moe-f16.gguf"), f32 = dir.file("moe-f32.gguf");
    ASSERT_TRUE(synth::writeSynthModel(so, f16).ok());
    auto m16 = model::openModel(f16);
    ASSERT_TRUE(m16.ok());
    {
        quant::PlanOptions po;
        po.ftype = quant::Ftype::ALL_F32;
        quant::QuantizeOptions qo;
        qo.threads = 2;
        qo.metrics = false;
        ASSERT_TRUE(quant::exportGguf(*m16, quant::buildPlan(*m16, po), f32, qo).ok());
    }
    for (const std::string& path : {f16, f32}) {
        SCOPED_TRACE(path);
        auto m = model::openModel(path);
        ASSERT_TRUE(m.ok());
        auto tk = eval::Tokenizer::fromModel(*m);
        ASSERT_TRUE(tk.ok());
        auto lm = eval::LlamaModel::bind(*m);
        ASSERT_TRUE(lm.ok());
        auto tokens = calibrationTokens(*tk);
        ASSERT_GE(tokens.size(), 35u * 64);
        tokens.resize(35 * 64);  // a group of 32 chunks and one of 3
        const int32_t bos = tk->addBosDefault() ? tk->bos() : -1;
        eval::ImatrixOptions o;
        o.ctx = 64;
        o.bos = bos;
        o.forward.threads = 2;
        auto ours = eval::computeImatrix(*lm, tokens, o);
        ASSERT_TRUE(ours.ok()) << ours.error().what();
        std::string err;
        const auto theirs = tool.run(path, tokens, 64, bos, err);
        ASSERT_TRUE(err.empty()) << err;
        const Diff d = compare(*ours, theirs);
        size_t experts = 0;
        for (const auto& [name, e] : ours->entries) experts += e.counts.size() == 8;
        EXPECT_EQ(experts, 9u);  // gate, up, down in each of 3 layers, per expert
        std::printf(
            "qwen3moe %s, %u chunks of 64: %zu of %zu sums differ (largest relative "
            "difference %.3g)\n",
            path == f32 ? "F32" : "F16", ours->chunkCount, d.differ, d.columns, d.worstRel);
        EXPECT_EQ(d.differ, 0u);
        if (path != f16) continue;
        quant::ImatrixSums t;
        for (const auto& [name, e] : theirs) {
            t.entries[name] = {std::vector<double>(e.values.begin(), e.values.end()),
                               std::vector<double>(e.counts.begin(), e.counts.end())};
        }
        const quant::Imatrix a = quant::importanceOf(*ours), b = quant::importanceOf(t);
        for (const auto ft : {quant::Ftype::IQ4_XS, quant::Ftype::Q4_K_M}) {
            ASSERT_TRUE(tool.quantizeWith(path, dir.file("ours.gguf"), ft, a));
            ASSERT_TRUE(tool.quantizeWith(path, dir.file("theirs.gguf"), ft, b));
            EXPECT_EQ(test::readFile(dir.file("ours.gguf")),
                      test::readFile(dir.file("theirs.gguf")))
                << (ft == quant::Ftype::IQ4_XS ? "IQ4_XS" : "Q4_K_M");
        }
    }
}
