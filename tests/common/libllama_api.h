#pragma once
// The parts of llama.h / ggml.h / gguf.h of the node-llama-cpp build (libllama v0.5.0 under
// tests/js/node_modules) that the tests loading it with dlopen need, declared once. They must
// match that build's layout: the tests that use a struct check it against the library's own
// defaults where a mismatch could go unnoticed. Test-only; nothing here is part of quantscope.

#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace qs::test::libllama {

/// The folder of libllama / libggml of the node-llama-cpp package.
inline std::string libDir() {
    return std::string(QS_TEST_DATA_DIR) +
           "/../js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/";
}
inline constexpr const char* kLibllama = "libllama.v0.5.0.so";
inline constexpr const char* kLibggml = "libggml.v0.5.0.so";
inline constexpr const char* kLibggmlBase = "libggml-base.so";

/// dlsym, typed.
template <class F>
F sym(void* handle, const char* name) {
    return reinterpret_cast<F>(dlsym(handle, name));
}

// ---- llama.h: quantization -----------------------------------------------------------------
struct LlamaImatrixData {
    const char* name;
    const float* data;
    size_t size;
};
struct LlamaKvOverride {
    int tag;  // 0 int, 1 float, 2 bool, 3 str
    char key[128];
    union {
        int64_t valI64;
        double valF64;
        bool valBool;
        char valStr[128];
    };
};
struct LlamaTensorOverride {
    const char* pattern;
    int type;
};
struct LlamaQuantizeParams {
    int32_t nthread;
    int ftype;
    int outputTensorType;
    int tokenEmbeddingType;
    bool allowRequantize;
    bool quantizeOutputTensor;
    bool onlyCopy;
    bool pure;
    bool keepSplit;
    bool dryRun;
    const LlamaImatrixData* imatrix;
    const LlamaKvOverride* kvOverrides;
    const LlamaTensorOverride* ttOverrides;
    const int32_t* pruneLayers;
    size_t maxBufSize;
};
using DefaultParamsFn = LlamaQuantizeParams (*)();
using QuantizeFn = uint32_t (*)(const char* in, const char* out, const LlamaQuantizeParams* p);
using LogCallback = void (*)(int level, const char* text, void* user);
using LogSetFn = void (*)(LogCallback cb, void* user);
using TypeNameFn = const char* (*)(int type);

/// libllama's quantizer, loaded with dlopen: llama_model_quantize and its default parameters,
/// the log hook and ggml_type_name. open() is false when the library or a symbol is missing.
struct LibllamaQuantizer {
    void* handle = nullptr;
    DefaultParamsFn defaults = nullptr;
    QuantizeFn quantize = nullptr;
    LogSetFn logSet = nullptr;
    TypeNameFn typeName = nullptr;
    bool open() {
        handle = dlopen((libDir() + kLibllama).c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) return false;
        defaults = sym<DefaultParamsFn>(handle, "llama_model_quantize_default_params");
        quantize = sym<QuantizeFn>(handle, "llama_model_quantize");
        logSet = sym<LogSetFn>(handle, "llama_log_set");
        typeName = sym<TypeNameFn>(handle, "ggml_type_name");
        return defaults && quantize && logSet && typeName;
    }
    LibllamaQuantizer() = default;
    LibllamaQuantizer(const LibllamaQuantizer&) = delete;
    LibllamaQuantizer& operator=(const LibllamaQuantizer&) = delete;
    ~LibllamaQuantizer() {
        if (handle) dlclose(handle);
    }
};

// ---- ggml.h / llama.h / gguf.h: evaluation with a callback ---------------------------------
struct GgmlTensor {
    int32_t type;
    void* buffer;
    int64_t ne[4];
    size_t nb[4];
    int32_t op;
    int32_t opParams[16];
    int32_t flags;
    GgmlTensor* src[10];
    GgmlTensor* viewSrc;
    size_t viewOffs;
    void* data;
    char name[64];
    void* extra;
    char padding[8];
};
using EvalCallback = bool (*)(GgmlTensor* t, bool ask, void* user);

struct LlamaModelParams {
    void* devices;
    const void* bufOverrides;
    int32_t nGpuLayers, splitMode, loadMode, lazyMode, mainGpu;
    const float* tensorSplit;
    void* progressCallback;
    void* progressUser;
    const void* kvOverrides;
    bool vocabOnly, checkTensors, useExtraBufts, noHost, noAlloc, loadMtp;
    char reserve[64];  // room should this build's struct be longer
};

struct LlamaContextParams {
    uint32_t nCtx, nBatch, nUbatch, nSeqMax, nRsSeq, nOutputsMax, nOutputsMaxPerSeq;
    int32_t nThreads, nThreadsBatch;
    int32_t ctxType, ropeScalingType, poolingType, attentionType, flashAttnType;
    float ropeFreqBase, ropeFreqScale, yarnExtFactor, yarnAttnFactor, yarnBetaFast, yarnBetaSlow;
    uint32_t yarnOrigCtx;
    float defragThold;
    EvalCallback cbEval;
    void* cbEvalUser;
    int32_t typeK, typeV;
    void* abortCallback;
    void* abortData;
    bool embeddings, offloadKqv, noPerf, opOffload, swaFull, kvUnified;
    void* samplers;
    size_t nSamplers;
    void* ctxOther;
    char reserve[128];
};

struct LlamaBatch {
    int32_t nTokens;
    int32_t* token;
    float* embd;
    int32_t* pos;
    int32_t* nSeqId;
    int32_t** seqId;
    int8_t* logits;
};

struct GgufInitParams {
    bool noAlloc;
    void** ctx;
};

}  // namespace qs::test::libllama
