// Importance matrices from our forward pass (eval/imatrix_collect.h) and llama.cpp's GGUF imatrix
// format (quant/imatrix_sums.h), against llama.cpp itself: libllama of node-llama-cpp evaluates
// the same chunks with a cb_eval collecting what llama-imatrix collects (every MUL_MAT with a
// blk.* weight and >= 16 rows, MUL_MAT_ID per expert): sums per column within 1e-4, counts equal;
// ggml's GGUF reader reads our files. Skips with a reason without the npm package.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../common/libllama_api.h"
#include "eval/imatrix_collect.h"
#include "eval/plan_eval.h"
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

/// llama-imatrix's collection, through libllama's evaluation callback.
class LlamaOracle {
public:
    ~LlamaOracle() {
        if (m_llama) dlclose(m_llama);
        if (m_ggml) dlclose(m_ggml);
        if (m_base) dlclose(m_base);
    }

    /// Empty when ready, else why not.
    std::string open() {
        if (!std::filesystem::exists(libDir() + "libllama.v0.5.0.so")) {
            return "no " + libDir() + "libllama.v0.5.0.so (node-llama-cpp is not installed)";
        }
        m_base = dlopen((libDir() + "libggml-base.so").c_str(), RTLD_NOW | RTLD_LOCAL);
        m_ggml = dlopen((libDir() + "libggml.v0.5.0.so").c_str(), RTLD_NOW | RTLD_LOCAL);
        m_llama = dlopen((libDir() + "libllama.v0.5.0.so").c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!m_base || !m_ggml || !m_llama) return std::string("dlopen failed: ") + dlerror();
        opName = sym<const char* (*)(int32_t)>(m_base, "ggml_op_name");
        ggufInit = sym<void* (*)(const char*, GgufInitParams)>(m_base, "gguf_init_from_file");
        ggufFree = sym<void (*)(void*)>(m_base, "gguf_free");
        ggufNTensors = sym<int64_t (*)(const void*)>(m_base, "gguf_get_n_tensors");
        ggufTensorName = sym<const char* (*)(const void*, int64_t)>(m_base, "gguf_get_tensor_name");
        ggufTensorType = sym<int32_t (*)(const void*, int64_t)>(m_base, "gguf_get_tensor_type");
        ggufTensorOffset = sym<size_t (*)(const void*, int64_t)>(m_base, "gguf_get_tensor_offset");
        ggufTensorSize = sym<size_t (*)(const void*, int64_t)>(m_base, "gguf_get_tensor_size");
        ggufDataOffset = sym<size_t (*)(const void*)>(m_base, "gguf_get_data_offset");
        ggufFindKey = sym<int64_t (*)(const void*, const char*)>(m_base, "gguf_find_key");
        ggufU32 = sym<uint32_t (*)(const void*, int64_t)>(m_base, "gguf_get_val_u32");
        ggufStr = sym<const char* (*)(const void*, int64_t)>(m_base, "gguf_get_val_str");
        ggufArrN = sym<size_t (*)(const void*, int64_t)>(m_base, "gguf_get_arr_n");
        auto loadAll = sym<void (*)(const char*)>(m_ggml, "ggml_backend_load_all_from_path");
        backendInit = sym<void (*)()>(m_llama, "llama_backend_init");
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
        if (!opName || !ggufInit || !loadAll || !backendInit || !modelDefaults || !ctxDefaults ||
            !loadModel || !initCtx || !batchInit || !decode || !getMemory || !memoryClear ||
            !ggufNTensors || !ggufTensorName || !ggufFindKey) {
            return "a symbol is missing from libllama / libggml";
        }
        if (logSet) logSet([](int, const char*, void*) {}, nullptr);
        loadAll(libDir().c_str());
        backendInit();
        const LlamaContextParams c = ctxDefaults();
        // The layout this test assumes, checked on the library's own defaults.
        if (c.nCtx != 512 || c.nBatch != 2048 || c.nUbatch != 512 || c.nSeqMax != 1 ||
            c.yarnExtFactor != -1.0f || c.defragThold != -1.0f || c.cbEval != nullptr ||
            c.typeK != 1 || c.typeV != 1 || !c.offloadKqv) {
            return "llama_context_params of this libllama differ from the layout the test assumes";
        }
        return {};
    }

    struct Entry {
        std::vector<float> values;
        std::vector<float> counts;
    };

    /// llama-imatrix over `tokens`: chunks of ctx (first token BOS), one decode per chunk.
    std::map<std::string, Entry> collect(const std::string& path,
                                         const std::vector<int32_t>& tokens, int ctx, int chunks,
                                         int32_t bos, bool exactAttention, std::string& err) {
        m_stats.clear();
        void* model = loadModel(path.c_str(), modelDefaults());
        if (!model) {
            err = "libllama cannot load " + path;
            return {};
        }
        LlamaContextParams cp = ctxDefaults();
        cp.nCtx = cp.nBatch = cp.nUbatch = uint32_t(ctx);
        cp.nThreads = cp.nThreadsBatch = threads;
        cp.cbEval = &LlamaOracle::callback;
        cp.cbEvalUser = this;
        if (exactAttention) {
            cp.flashAttnType = 0;     // disabled
            cp.typeK = cp.typeV = 0;  // F32 KV cache
        }
        void* lctx = initCtx(model, cp);
        if (!lctx) {
            freeModel(model);
            err = "libllama cannot make a context";
            return {};
        }
        LlamaBatch batch = batchInit(ctx, 0, 1);
        const auto t0 = std::chrono::steady_clock::now();
        for (int c = 0; c < chunks && err.empty(); ++c) {
            memoryClear(getMemory(lctx), true);
            batch.nTokens = ctx;
            for (int i = 0; i < ctx; ++i) {
                batch.token[i] = i == 0 && bos >= 0 ? bos : tokens[size_t(c * ctx + i)];
                batch.pos[i] = i;
                batch.nSeqId[i] = 1;
                batch.seqId[i][0] = 0;
                batch.logits[i] = 1;  // all outputs: the last layer sees every row
            }
            if (decode(lctx, batch) != 0) err = "llama_decode failed";
        }
        decodeSeconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        batchFree(batch);
        freeCtx(lctx);
        freeModel(model);
        return m_stats;
    }

    /// llama_model_quantize with `im` (sum / count per column, as llama-quantize loads it).
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

    double decodeSeconds = 0;  ///< the chunks' decodes (with the collection) in the last collect
    int threads = 1;           ///< 1: no spinning barriers on a busy CI machine

    // ggml's GGUF reader.
    const char* (*opName)(int32_t) = nullptr;
    void* (*ggufInit)(const char*, GgufInitParams) = nullptr;
    void (*ggufFree)(void*) = nullptr;
    int64_t (*ggufNTensors)(const void*) = nullptr;
    const char* (*ggufTensorName)(const void*, int64_t) = nullptr;
    int32_t (*ggufTensorType)(const void*, int64_t) = nullptr;
    size_t (*ggufTensorOffset)(const void*, int64_t) = nullptr;
    size_t (*ggufTensorSize)(const void*, int64_t) = nullptr;
    size_t (*ggufDataOffset)(const void*) = nullptr;
    int64_t (*ggufFindKey)(const void*, const char*) = nullptr;
    uint32_t (*ggufU32)(const void*, int64_t) = nullptr;
    const char* (*ggufStr)(const void*, int64_t) = nullptr;
    size_t (*ggufArrN)(const void*, int64_t) = nullptr;

private:
    static std::string weightName(const char* name) {
        // As llama-imatrix: "CUDA0#blk.0.attn_k.weight#0" -> "blk.0.attn_k.weight".
        std::string s(name);
        const auto p = s.find('#');
        if (p == std::string::npos) return s;
        const auto q = s.find('#', p + 1);
        return s.substr(p + 1, q == std::string::npos ? std::string::npos : q - p - 1);
    }

    static bool callback(GgmlTensor* t, bool ask, void* user) {
        auto* self = static_cast<LlamaOracle*>(user);
        const std::string op = self->opName(t->op);
        const GgmlTensor* src0 = t->src[0];
        const GgmlTensor* src1 = t->src[1];
        if (ask) {
            if (op == "MUL_MAT_ID") return true;
            if (op != "MUL_MAT") return false;
            if (src1->ne[1] < 16 || src1->type != 0) return false;
            return weightName(src0->name).starts_with("blk.");
        }
        const std::string name = weightName(src0->name);
        const auto* data = static_cast<const char*>(src1->data);
        const int64_t ne0 = src1->ne[0];
        if (op == "MUL_MAT_ID") {
            const GgmlTensor* ids = t->src[2];
            const int64_t nAs = src0->ne[2];
            auto& e = self->m_stats[name];
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
                        data + (idx % src1->ne[1]) * src1->nb[1] + row * src1->nb[2]);
                    float* acc = e.values.data() + ex * ne0;
                    e.counts[size_t(ex)] += 1;
                    for (int64_t j = 0; j < ne0; ++j) acc[j] += x[j] * x[j];
                }
            }
            return true;
        }
        auto& e = self->m_stats[name];
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

    LlamaQuantizeParams (*quantizeDefaults)() = nullptr;
    uint32_t (*quantize)(const char*, const char*, const LlamaQuantizeParams*) = nullptr;
    void* m_base = nullptr;
    void* m_ggml = nullptr;
    void* m_llama = nullptr;
    void (*backendInit)() = nullptr;
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
    std::map<std::string, Entry> m_stats;
};

std::string readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// Our imatrix against llama.cpp's collection of the same chunks: same entries, counts equal,
/// sums within `tol` relative per column. `exact`: both sides run float attention over an F32
/// KV cache (llama.cpp: flash attention off, type_k = type_v = F32); otherwise both run
/// llama.cpp's default, flash attention over an F16 KV cache. Returns the largest relative
/// difference seen.
double compareWithLlama(const std::string& path, const std::vector<int32_t>& tokens, int ctx,
                        int chunks, int32_t bos, bool exact, double tol,
                        quant::ImatrixSums* oursOut = nullptr,
                        quant::ImatrixSums* theirsOut = nullptr) {
    LlamaOracle oracle;
    if (const std::string why = oracle.open(); !why.empty()) {
        ADD_FAILURE() << why;
        return -1;
    }
    auto m = model::openModel(path);
    EXPECT_TRUE(m.ok());
    if (!m) return -1;
    auto lm = eval::LlamaModel::bind(*m);
    EXPECT_TRUE(lm.ok()) << lm.error().what();
    if (!lm) return -1;
    eval::ImatrixOptions o;
    o.ctx = ctx;
    o.chunks = chunks;
    o.bos = bos;
    o.forward.threads = 2;
    o.forward.attention = exact ? eval::Attention::F32 : eval::Attention::FlashF16;
    const auto t0 = std::chrono::steady_clock::now();
    auto ours = eval::computeImatrix(*lm, tokens, o);
    const auto t1 = std::chrono::steady_clock::now();
    EXPECT_TRUE(ours.ok()) << ours.error().what();
    if (!ours) return -1;
    std::string err;
    const auto theirs = oracle.collect(path, tokens, ctx, chunks, bos, exact, err);
    const auto t2 = std::chrono::steady_clock::now();
    std::printf(
        "%s: %d chunks of %d, ours %.1f ms, libllama (load, context, decode, callback) "
        "%.1f ms\n",
        std::filesystem::path(path).filename().c_str(), chunks, ctx,
        std::chrono::duration<double, std::milli>(t1 - t0).count(),
        std::chrono::duration<double, std::milli>(t2 - t1).count());
    EXPECT_TRUE(err.empty()) << err;
    EXPECT_EQ(ours->entries.size(), theirs.size());
    double worst = 0;
    for (const auto& [name, t] : theirs) {
        auto it = ours->entries.find(name);
        if (it == ours->entries.end()) {
            ADD_FAILURE() << "we have no entry for " << name;
            continue;
        }
        const auto& e = it->second;
        EXPECT_EQ(e.counts.size(), t.counts.size()) << name;
        if (e.counts.size() != t.counts.size() || e.sums.size() != t.values.size()) continue;
        for (size_t j = 0; j < t.counts.size(); ++j) {
            EXPECT_EQ(e.counts[j], double(t.counts[j])) << name << " matrix " << j;
        }
        size_t over = 0, first = 0;
        for (size_t i = 0; i < t.values.size(); ++i) {
            const double a = e.sums[i], b = t.values[i];
            const double rel = std::fabs(a - b) / std::max(std::fabs(b), 1e-20);
            worst = std::max(worst, rel);
            if (rel > tol && over++ == 0) first = i;
        }
        EXPECT_EQ(over, 0u) << name << ": " << over << " columns differ by more than " << tol
                            << ", first " << first << ": ours " << e.sums[first] << ", llama.cpp "
                            << t.values[first];
    }
    if (oursOut) *oursOut = *ours;
    if (theirsOut) {
        for (const auto& [name, t] : theirs) {
            auto& e = theirsOut->entries[name];
            e.sums.assign(t.values.begin(), t.values.end());
            e.counts.assign(t.counts.begin(), t.counts.end());
        }
        theirsOut->chunkCount = uint32_t(chunks);
        theirsOut->chunkSize = uint32_t(ctx);
    }
    return worst;
}

bool haveLlama() {
    return std::filesystem::exists(libDir() + "libllama.v0.5.0.so");
}

}  // namespace

TEST(ImatrixCollect, SumsSquaresPerColumnAndExpert) {
    eval::ImatrixCollector c;
    eval::WeightView w;
    w.name = "blk.0.attn_q.weight";
    w.cols = 3;
    w.rows = 2;
    std::vector<float> x(16 * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 3) + 1.0f;  // columns 1, 2, 3
    c.onProduct(w, -1, 0, x.data(), 16);
    c.onProduct(w, -1, 0, x.data(), 15);  // fewer than 16 rows: left out, as llama-imatrix does
    eval::WeightView ex = w;
    ex.name = "blk.0.ffn_up_exps.weight";
    c.onProduct(ex, 2, 4, x.data(), 3);  // experts count whatever rows they get
    c.onProduct(ex, 0, 4, x.data(), 1);
    eval::WeightView out = w;
    out.name = "output.weight";
    c.onProduct(out, -1, 0, x.data(), 16);  // not a block weight
    const auto& s = c.sums();
    ASSERT_EQ(s.entries.size(), 2u);
    const auto& q = s.entries.at("blk.0.attn_q.weight");
    EXPECT_EQ(q.counts, std::vector<double>({16}));
    EXPECT_EQ(q.sums, std::vector<double>({16, 64, 144}));
    const auto& u = s.entries.at("blk.0.ffn_up_exps.weight");
    EXPECT_EQ(u.counts, std::vector<double>({1, 0, 3, 0}));
    EXPECT_EQ(u.sums[0], 1);
    EXPECT_EQ(u.sums[2 * 3 + 2], 27);
    EXPECT_EQ(u.sums[1 * 3 + 0], 0);
    // Unrouted experts: importance 1 and a warning naming the tensor and the experts.
    std::vector<std::string> warnings;
    const quant::Imatrix im = quant::importanceOf(s, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("blk.0.ffn_up_exps.weight: 2 of 4 experts never routed to (1, 3)"),
              std::string::npos)
        << warnings[0];
    const auto& v = im.entries.at("blk.0.ffn_up_exps.weight");
    EXPECT_EQ(v[3], 1.0f);
    EXPECT_EQ(v[6 + 2], 9.0f);
    EXPECT_EQ(im.entries.at("blk.0.attn_q.weight")[1], 4.0f);
}

TEST(ImatrixCollect, GgufRoundTripMergeAndLegacyReader) {
    test::TempDir dir;
    quant::ImatrixSums a;
    a.entries["blk.0.attn_q.weight"] = {{2, 4, 6}, {2}};
    a.entries["blk.0.ffn_down_exps.weight"] = {{1, 1, 0, 0, 3, 3}, {1, 0, 3}};
    a.datasets = {"a.txt"};
    a.chunkCount = 2;
    a.chunkSize = 64;
    ASSERT_TRUE(quant::saveImatrixSums(a, dir.file("a.gguf")).ok());
    auto back = quant::loadImatrixSums(dir.file("a.gguf"));
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_EQ(back->entries.at("blk.0.ffn_down_exps.weight").counts,
              std::vector<double>({1, 0, 3}));
    EXPECT_EQ(back->entries.at("blk.0.attn_q.weight").sums, std::vector<double>({2, 4, 6}));
    EXPECT_EQ(back->datasets, std::vector<std::string>({"a.txt"}));
    EXPECT_EQ(back->chunkCount, 2u);
    EXPECT_EQ(back->chunkSize, 64u);
    // The existing loader (what plan and export use) reads it as sum / count, 1 when unrouted.
    auto im = quant::loadImatrix(dir.file("a.gguf"));
    ASSERT_TRUE(im.ok());
    EXPECT_EQ(im->entries.at("blk.0.attn_q.weight"), std::vector<float>({1, 2, 3}));
    EXPECT_EQ(im->entries.at("blk.0.ffn_down_exps.weight"), std::vector<float>({1, 1, 1, 1, 1, 1}));
    // Merging weights by counts: (2,4,6)/2 and (10,10,10)/8 give (12,14,16)/10.
    quant::ImatrixSums b;
    b.entries["blk.0.attn_q.weight"] = {{10, 10, 10}, {8}};
    b.entries["blk.1.attn_q.weight"] = {{5, 5, 5}, {5}};
    b.datasets = {"b.txt"};
    b.chunkCount = 1;
    ASSERT_TRUE(quant::mergeImatrixSums(*back, b).ok());
    EXPECT_EQ(back->entries.at("blk.0.attn_q.weight").sums, std::vector<double>({12, 14, 16}));
    EXPECT_EQ(back->entries.at("blk.0.attn_q.weight").counts, std::vector<double>({10}));
    EXPECT_EQ(back->entries.size(), 3u);
    EXPECT_EQ(back->datasets, std::vector<std::string>({"a.txt", "b.txt"}));
    EXPECT_EQ(back->chunkCount, 3u);
    // Mismatched shapes: an error naming the entry, and nothing changed.
    quant::ImatrixSums bad;
    bad.entries["blk.0.attn_q.weight"] = {{1, 1}, {1}};
    auto s = quant::mergeImatrixSums(*back, bad);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().what().find("blk.0.attn_q.weight"), std::string::npos);
    EXPECT_EQ(back->entries.at("blk.0.attn_q.weight").counts, std::vector<double>({10}));
    // A truncated file is an error naming the file.
    const auto bytes = test::readFile(dir.file("a.gguf"));
    ASSERT_GT(bytes.size(), 40u);
    // Cut into the last tensors' data.
    test::writeFile(
        dir.file("cut.gguf"),
        std::vector<uint8_t>(bytes.begin(), bytes.begin() + std::ptrdiff_t(bytes.size() - 40)));
    auto cut = quant::loadImatrixSums(dir.file("cut.gguf"));
    ASSERT_FALSE(cut.ok());
    EXPECT_NE(cut.error().what().find("cut.gguf"), std::string::npos) << cut.error().what();
}

TEST(ImatrixCollect, StatisticsAsLlamaImatrix) {
    quant::ImatrixSums s;
    s.entries["blk.0.attn_q.weight"] = {{4, 0, 4, 0}, {2}};
    s.entries["blk.1.attn_q.weight"] = {{4, 0, 4, 0}, {1}};
    const auto st = quant::imatrixStatistics(s);
    ASSERT_EQ(st.tensors.size(), 2u);
    // Larger sum first within a short name.
    EXPECT_EQ(st.tensors[0].tensor, "blk.1.attn_q.weight");
    EXPECT_FLOAT_EQ(st.tensors[0].sumSq, 8.0f);
    EXPECT_FLOAT_EQ(st.tensors[0].mean, 2.0f);
    EXPECT_FLOAT_EQ(st.tensors[0].entropy, 1.0f);  // two equal columns: one bit
    EXPECT_FLOAT_EQ(st.tensors[0].entropyNorm, 50.0f);
    EXPECT_FLOAT_EQ(st.tensors[0].active, 0.5f);
    EXPECT_FLOAT_EQ(st.tensors[0].cossim, 1.0f);  // same direction as layer 0
    EXPECT_EQ(st.tensors[0].shortName, "attn_q");
    EXPECT_EQ(st.tensors[0].layer, "1");
    EXPECT_FALSE(st.tensors[1].hasPrevious);
    ASSERT_EQ(st.layers.size(), 2u);
    EXPECT_FLOAT_EQ(st.layers[0].meanSumSq, 4.0f);
    EXPECT_FLOAT_EQ(st.layers[1].meanCossim, 1.0f);
    // Names from a file can be anything: a block number too large is no layer, not a crash.
    s.entries["blk.99999999999999999999.attn_q.weight"] = {{1, 1, 1, 1}, {1}};
    const auto odd = quant::imatrixStatistics(s);
    EXPECT_EQ(odd.tensors.size(), 3u);
    EXPECT_EQ(odd.layers.front().layer, -1);
}

TEST(ImatrixCollect, ErrorsOnShortTextAndSmallContext) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok());
    std::vector<int32_t> tokens(100, 5);
    eval::ImatrixOptions o;
    o.ctx = 128;
    auto r = eval::computeImatrix(*lm, tokens, o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("fewer than one chunk"), std::string::npos);
    o.ctx = 8;
    EXPECT_FALSE(eval::computeImatrix(*lm, tokens, o).ok());
}

// stories260K over eval-text.txt, 4 chunks of 128 tokens, against llama.cpp.
TEST(ImatrixCollect, Stories260KEqualsLlamaCpp) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    const std::string path = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    const auto tokens = tk->encode(readText(test::dataPath("models/eval-text.txt")), true);
    ASSERT_GE(tokens.size(), 512u);
    quant::ImatrixSums ours, theirs;
    const double worst =
        compareWithLlama(path, tokens, 128, 4, tk->bos(), true, 1e-4, &ours, &theirs);
    std::printf("stories260K: largest relative difference per column %.3g\n", worst);
    // llama_model_quantize reads the importances of our GGUF file exactly: llama.cpp's own
    // collection, written by us and read back, gives the same file as handing it over directly.
    LlamaOracle oracle;
    ASSERT_EQ(oracle.open(), "");
    test::TempDir dir;
    ASSERT_TRUE(quant::saveImatrixSums(theirs, dir.file("theirs-imatrix.gguf")).ok());
    auto reread = quant::loadImatrix(dir.file("theirs-imatrix.gguf"));
    ASSERT_TRUE(reread.ok());
    const quant::Imatrix a = quant::importanceOf(ours), b = quant::importanceOf(theirs);
    for (const auto ft : {quant::Ftype::IQ4_XS, quant::Ftype::Q4_K_M}) {
        ASSERT_TRUE(oracle.quantizeWith(path, dir.file("direct.gguf"), ft, b));
        ASSERT_TRUE(oracle.quantizeWith(path, dir.file("file.gguf"), ft, *reread));
        EXPECT_EQ(test::readFile(dir.file("direct.gguf")), test::readFile(dir.file("file.gguf")));
        // Our imatrix differs from llama.cpp's in the last bits (1.5e-6 above), and the
        // quantizers' searches are discontinuous in the weights: a few bytes differ.
        ASSERT_TRUE(oracle.quantizeWith(path, dir.file("ours.gguf"), ft, a));
        const auto x = test::readFile(dir.file("ours.gguf"));
        const auto y = test::readFile(dir.file("direct.gguf"));
        ASSERT_EQ(x.size(), y.size());
        size_t differ = 0;
        for (size_t i = 0; i < x.size(); ++i) differ += x[i] != y[i];
        std::printf("%s with our imatrix: %zu of %zu bytes differ from llama.cpp's imatrix\n",
                    ft == quant::Ftype::IQ4_XS ? "IQ4_XS" : "Q4_K_M", differ, x.size());
        EXPECT_LE(differ * 2000, x.size());  // at most 0.05 %
    }
}

// With llama.cpp's default attention (flash, F16 KV cache) on both sides (bit-identical since the
// exact kernels: ImatrixExact.*; here within 1e-3 per column).
TEST(ImatrixCollect, Stories260KFlashAttentionNearLlamaCpp) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    const std::string path = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    const auto tokens = tk->encode(readText(test::dataPath("models/eval-text.txt")), true);
    const double worst = compareWithLlama(path, tokens, 128, 4, tk->bos(), false, 1e-3);
    std::printf("stories260K, flash attention: largest relative difference per column %.3g\n",
                worst);
}

// Our imatrix (from a calibration text that is not the evaluation text) lowers the KL
// divergence of stories260K's Q3_K_M and IQ4_XS mixes against the F32 model on eval-text.txt.
TEST(ImatrixCollect, Stories260KImatrixLowersKl) {
    const std::string path = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok());
    eval::ImatrixOptions io;
    io.ctx = 128;
    io.bos = tk->bos();
    io.forward.threads = 2;
    auto sums = eval::computeImatrix(
        *lm, tk->encode(readText(test::dataPath("imatrix/calibration.txt")), true), io);
    ASSERT_TRUE(sums.ok()) << sums.error().what();
    const quant::Imatrix im = quant::importanceOf(*sums);
    ASSERT_TRUE(quant::checkImatrixFor(im, *m).ok());
    auto tokens = tk->encode(readText(test::dataPath("models/eval-text.txt")), true);
    tokens.resize(std::min<size_t>(tokens.size(), 512));
    eval::EvalOptions eo;
    eo.ctx = 512;
    eo.forward.threads = 2;
    eval::ReferenceCache ref;
    for (const auto ft : {quant::Ftype::Q3_K_M, quant::Ftype::IQ4_XS}) {
        double kl[2] = {0, 0};
        for (int with = 0; with < 2; ++with) {
            quant::PlanOptions po;
            po.ftype = ft;
            po.hasImatrix = with == 1;
            const quant::Plan plan = quant::buildPlan(*m, po);
            eo.imatrix = with == 1 ? &im : nullptr;
            auto r = eval::evaluatePlan(*m, plan, tokens, eo, ref.tokens.empty() ? nullptr : &ref);
            ASSERT_TRUE(r.ok()) << r.error().what();
            if (ref.tokens.empty()) ref = r->reference;
            kl[with] = r->result.klMean;
        }
        std::printf("stories260K %s: KL without imatrix %.6f, with ours %.6f\n",
                    ft == quant::Ftype::Q3_K_M ? "Q3_K_M" : "IQ4_XS", kl[0], kl[1]);
        EXPECT_LT(kl[1], kl[0]);
    }
}

// A tiny qwen3moe (8 experts, top-2, router rows that tie), 2 chunks of 64 tokens: counts per
// expert equal llama.cpp's, sums within 1e-4 per column for F32 weights (F16: ImatrixExact.*).
TEST(ImatrixCollect, Qwen3MoeEqualsLlamaCppPerExpert) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    test::TempDir dir;
    synth::SynthOptions so;
    so.arch = "qwen3moe";
    const std::string f16 = dir.file("moe-f16.gguf"), f32 = dir.file("moe-f32.gguf");
    ASSERT_TRUE(synth::writeSynthModel(so, f16).ok());
    auto m = model::openModel(f16);
    ASSERT_TRUE(m.ok());
    {
        quant::PlanOptions po;
        po.ftype = quant::Ftype::ALL_F32;
        quant::QuantizeOptions qo;
        qo.threads = 2;
        qo.metrics = false;
        ASSERT_TRUE(quant::exportGguf(*m, quant::buildPlan(*m, po), f32, qo).ok());
    }
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    const auto tokens = tk->encode(readText(test::dataPath("models/eval-text.txt")), true);
    quant::ImatrixSums ours;
    const double worst = compareWithLlama(f32, tokens, 64, 2, tk->bos(), true, 1e-4, &ours);
    std::printf("qwen3moe F32: largest relative difference per column %.3g\n", worst);
    size_t expertTensors = 0;
    for (const auto& [name, e] : ours.entries) {
        if (name.find("_exps") != std::string::npos) {
            ++expertTensors;
            EXPECT_EQ(e.counts.size(), 8u) << name;
            double routed = 0;
            for (double c : e.counts) routed += c;
            EXPECT_EQ(routed, 2.0 * 64 * 2) << name;  // top-2 of every token of both chunks
        }
    }
    EXPECT_EQ(expertTensors, 9u);  // gate, up, down in each of 3 layers
    const double worstF16 = compareWithLlama(f16, tokens, 64, 2, tk->bos(), false, 2e-2);
    std::printf("qwen3moe F16, flash attention: largest relative difference per column %.3g\n",
                worstF16);
}

// Every other architecture the evaluator runs (tiny synth models exported as F32, float
// attention on both sides): the same entries as llama.cpp (fused tensors once: phi3's attn_qkv
// and ffn_up; mixtral's experts per expert), counts equal, sums within 1e-4 per column. Gemma's
// GELU goes through ggml's F16 table (input and output rounded to F16), so its ffn_down inputs
// move by F16 steps where the last bits differ upstream: within 2e-3 (measured 9.6e-4).
TEST(ImatrixCollect, EveryArchitectureEqualsLlamaCpp) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    test::TempDir dir;
    for (const char* arch : {"llama3", "qwen3", "mixtral", "gemma2", "gemma3", "phi3"}) {
        SCOPED_TRACE(arch);
        synth::SynthOptions so;
        so.arch = arch;
        const std::string f16 = dir.file(std::string(arch) + "-f16.gguf");
        const std::string f32 = dir.file(std::string(arch) + ".gguf");
        ASSERT_TRUE(synth::writeSynthModel(so, f16).ok());
        auto m = model::openModel(f16);
        ASSERT_TRUE(m.ok());
        quant::PlanOptions po;
        po.ftype = quant::Ftype::ALL_F32;
        quant::QuantizeOptions qo;
        qo.threads = 2;
        qo.metrics = false;
        ASSERT_TRUE(quant::exportGguf(*m, quant::buildPlan(*m, po), f32, qo).ok());
        auto tk = eval::Tokenizer::fromModel(*m);
        ASSERT_TRUE(tk.ok());
        const auto tokens = tk->encode(readText(test::dataPath("models/eval-text.txt")), true);
        const int32_t bos = tk->addBosDefault() ? tk->bos() : -1;
        const bool gelu = std::string(arch).starts_with("gemma");
        const double worst = compareWithLlama(f32, tokens, 64, 2, bos, true, gelu ? 2e-3 : 1e-4);
        std::printf("%s F32: largest relative difference per column %.3g\n", arch, worst);
    }
}

// The time of the collection itself, ours against llama.cpp's (its decodes with the evaluation
// callback, as llama-imatrix runs them), one thread each, best of 3: printed for
// docs/BENCHMARKS.md, not asserted (CI machines are shared).
TEST(ImatrixCollect, TimeAgainstLlamaCpp) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    LlamaOracle oracle;
    ASSERT_EQ(oracle.open(), "");
    const std::string path = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok());
    const auto tokens = tk->encode(readText(test::dataPath("imatrix/calibration.txt")), true);
    const int ctx = 128, chunks = int(tokens.size()) / ctx;
    eval::ImatrixOptions o;
    o.ctx = ctx;
    o.bos = tk->bos();
    o.forward.threads = 1;
    double ours = 1e9, theirs = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(eval::computeImatrix(*lm, tokens, o).ok());
        ours = std::min(
            ours, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::string err;
        oracle.collect(path, tokens, ctx, chunks, tk->bos(), false, err);
        ASSERT_TRUE(err.empty()) << err;
        theirs = std::min(theirs, oracle.decodeSeconds);
    }
    std::printf(
        "stories260K imatrix, %d chunks of %d, 1 thread: ours %.1f ms, llama.cpp %.1f ms "
        "(ours / llama.cpp %.2f)\n",
        chunks, ctx, 1e3 * ours, 1e3 * theirs, ours / theirs);
}

// ggml's own GGUF reader reads our file: names, F32 types, shapes' byte sizes, keys, values.
TEST(ImatrixCollect, GgmlReadsOurFile) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    LlamaOracle oracle;
    ASSERT_EQ(oracle.open(), "");
    test::TempDir dir;
    quant::ImatrixSums a;
    a.entries["blk.0.ffn_down_exps.weight"] = {{1, 2, 3, 4, 5, 6}, {1, 0, 3}};
    a.entries["blk.0.attn_q.weight"] = {{2, 4, 6, 8}, {2}};
    a.datasets = {"eval-text.txt"};
    a.chunkCount = 4;
    a.chunkSize = 128;
    const std::string f = dir.file("ours.gguf");
    ASSERT_TRUE(quant::saveImatrixSums(a, f).ok());
    void* g = oracle.ggufInit(f.c_str(), GgufInitParams{true, nullptr});
    ASSERT_NE(g, nullptr);
    EXPECT_STREQ(oracle.ggufStr(g, oracle.ggufFindKey(g, "general.type")), "imatrix");
    EXPECT_EQ(oracle.ggufU32(g, oracle.ggufFindKey(g, "imatrix.chunk_count")), 4u);
    EXPECT_EQ(oracle.ggufU32(g, oracle.ggufFindKey(g, "imatrix.chunk_size")), 128u);
    EXPECT_EQ(oracle.ggufArrN(g, oracle.ggufFindKey(g, "imatrix.datasets")), 1u);
    ASSERT_EQ(oracle.ggufNTensors(g), 4);
    const char* names[] = {"blk.0.attn_q.weight.in_sum2", "blk.0.attn_q.weight.counts",
                           "blk.0.ffn_down_exps.weight.in_sum2",
                           "blk.0.ffn_down_exps.weight.counts"};
    const size_t sizes[] = {16, 4, 24, 12};
    const auto bytes = test::readFile(f);
    for (int i = 0; i < 4; ++i) {
        EXPECT_STREQ(oracle.ggufTensorName(g, i), names[i]);
        EXPECT_EQ(oracle.ggufTensorType(g, i), 0);
        EXPECT_EQ(oracle.ggufTensorSize(g, i), sizes[i]);
    }
    float c[3];
    std::memcpy(c, bytes.data() + oracle.ggufDataOffset(g) + oracle.ggufTensorOffset(g, 3), 12);
    EXPECT_EQ(c[0], 1.0f);
    EXPECT_EQ(c[1], 0.0f);
    EXPECT_EQ(c[2], 3.0f);
    oracle.ggufFree(g);
}

// tests/data/imatrix/stories260K.imatrix.gguf is llama.cpp's own imatrix of stories260K on
// calibration.txt (13 chunks of 128, README there): collected again, it is the stored file.
// QS_WRITE_IMATRIX=PATH writes the collection to PATH (how the file was made).
TEST(ImatrixCollect, Stories260KStoredImatrixIsLlamaCpps) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    const std::string path = test::dataPath("models/stories260K.gguf");
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    const auto tokens = tk->encode(readText(test::dataPath("imatrix/calibration.txt")), true);
    ASSERT_GE(tokens.size(), 13u * 128u);
    LlamaOracle oracle;
    ASSERT_EQ(oracle.open(), "");
    std::string err;
    const auto theirs = oracle.collect(path, tokens, 128, 13, tk->bos(), false, err);
    ASSERT_TRUE(err.empty()) << err;
    quant::ImatrixSums s;
    for (const auto& [name, t] : theirs) {
        s.entries[name] = {{t.values.begin(), t.values.end()}, {t.counts.begin(), t.counts.end()}};
    }
    s.chunkCount = 13;
    s.chunkSize = 128;
    s.datasets = {"tests/data/imatrix/calibration.txt"};
    if (const char* out = std::getenv("QS_WRITE_IMATRIX")) {
        ASSERT_TRUE(quant::saveImatrixSums(s, out).ok()) << out;
    }
    auto stored = quant::loadImatrixSums(test::dataPath("imatrix/stories260K.imatrix.gguf"));
    ASSERT_TRUE(stored.ok()) << stored.error().what();
    EXPECT_EQ(stored->chunkCount, 13u);
    ASSERT_EQ(stored->entries.size(), s.entries.size());
    for (const auto& [name, e] : s.entries) {
        auto it = stored->entries.find(name);
        ASSERT_NE(it, stored->entries.end()) << name;
        EXPECT_EQ(it->second.counts, e.counts) << name;
        ASSERT_EQ(it->second.sums.size(), e.sums.size()) << name;
        for (size_t i = 0; i < e.sums.size(); ++i) {
            EXPECT_NEAR(it->second.sums[i], e.sums[i], 1e-6 * std::fabs(e.sums[i])) << name << i;
        }
    }
    // And it loads as an imatrix for the model (what plan / quantize --imatrix read).
    auto im = quant::loadImatrix(test::dataPath("imatrix/stories260K.imatrix.gguf"));
    ASSERT_TRUE(im.ok());
    EXPECT_TRUE(quant::checkImatrixFor(*im, *m).ok());
}
