#include "eval/arch_config.h"

#include <cmath>
#include <optional>

namespace qs::eval::detail {

namespace {

std::optional<double> number(const model::Model& m, const std::string& key) {
    const io::GgufValue* v = m.find(key);
    if (!v || v->isArray()) return std::nullopt;
    return v->asDouble();
}

bool finitePositive(float v) {
    return v > 0 && std::isfinite(v);
}

// llama_hparams::set_swa_pattern (dense_first = false): layer il slides unless
// il % n == n - 1; n = 0 makes every layer slide. An array key lists the layers itself.
void swaPattern(const model::Model& m, const std::string& key, uint32_t dflt, LlamaConfig& c) {
    c.swaLayers.assign(size_t(c.nLayer), 0);
    const io::GgufValue* v = m.find(key);
    if (v && v->isArray()) {
        for (uint64_t i = 0; i < v->size() && i < uint64_t(c.nLayer); ++i) {
            c.swaLayers[size_t(i)] = v->intAt(i) != 0 ? 1 : 0;
        }
        return;
    }
    uint32_t n = dflt;
    if (v) {
        const auto u = v->asUInt();
        if (u && *u < (1u << 20)) n = uint32_t(*u);
    }
    for (int il = 0; il < c.nLayer; ++il) {
        c.swaLayers[size_t(il)] = n == 0 || (uint32_t(il) % n < n - 1) ? 1 : 0;
    }
}

}  // namespace

Result<LlamaConfig> readConfig(const model::Model& model) {
    LlamaConfig c;
    const model::HParams& hp = model.hparams();
    c.architecture = hp.architecture;
    const std::string& a = c.architecture;
    const bool known = a == "llama" || a == "mistral" || a == "qwen2" || a == "qwen3" ||
                       a == "qwen3moe" || a == "gemma2" || a == "gemma3" || a == "phi3";
    if (!known) {
        return makeError(ErrorCode::BadInput,
                         "architecture '" + a + "' is not supported by the evaluator yet (" +
                             kSupportedArchitectures + ")",
                         model.path());
    }
    // llama_model_rope_type: NORM (adjacent pairs) for llama/mistral, NEOX for the others here.
    c.ropeNeox = a != "llama" && a != "mistral";
    const std::string p = a + ".";
    auto dim = [&](const std::string& key, int dflt) {
        const double v = number(model, key).value_or(double(dflt));
        return v >= 0 && v <= double(1 << 20) ? int(v) : -1;
    };
    c.nLayer = int(hp.blockCount);
    c.nEmbd = int(hp.embeddingLength);
    c.nFf = int(hp.feedForwardLength);
    c.nHead = int(hp.headCount);
    c.nHeadKv = int(hp.headCountKv ? hp.headCountKv : hp.headCount);
    c.nExpert = dim(p + "expert_count", 0);
    c.nExpertUsed = dim(p + "expert_used_count", 0);
    const bool moe = c.nExpert > 0;
    if (a == "qwen3moe" && !moe) {
        return makeError(ErrorCode::BadInput, "qwen3moe without expert_count", model.path());
    }
    if (hp.blockCount > 4096 || hp.embeddingLength > (1u << 20) ||
        hp.feedForwardLength > (1u << 22) || hp.headCount > 4096 || hp.headCountKv > 4096 ||
        c.nLayer <= 0 || c.nEmbd <= 0 || (c.nFf <= 0 && !moe) || c.nHead <= 0 || c.nHeadKv <= 0 ||
        c.nHead % c.nHeadKv != 0 || c.nExpert < 0 || c.nExpert > 1024 ||
        (moe && (c.nExpertUsed <= 0 || c.nExpertUsed > c.nExpert))) {
        return makeError(ErrorCode::BadInput,
                         "hyper-parameters missing or inconsistent (block_count, "
                         "embedding_length, feed_forward_length, head_count, head_count_kv, "
                         "expert_count, expert_used_count)",
                         model.path());
    }
    if (moe) {
        // llama (mixtral) experts are n_ff wide; qwen3moe reads expert_feed_forward_length.
        const bool llamaMoe = a == "llama" || a == "mistral";
        c.nFfExp = llamaMoe ? c.nFf : dim(p + "expert_feed_forward_length", c.nFf / c.nExpertUsed);
        if (c.nFfExp <= 0) {
            return makeError(ErrorCode::BadInput, "expert_feed_forward_length is invalid",
                             model.path());
        }
    }
    c.headDim = dim(p + "attention.key_length", c.nEmbd / c.nHead);
    c.ropeDim = dim(p + "rope.dimension_count", c.headDim);
    c.ropeFreqBase = float(number(model, p + "rope.freq_base").value_or(10000.0));
    const double scale = number(model, p + "rope.scaling.factor").value_or(0.0);
    if (scale > 0) c.ropeFreqScale = float(1.0 / scale);
    c.ropeAttnFactor = float(number(model, p + "rope.scaling.attn_factor").value_or(1.0));
    c.nCtxOrig = dim(p + "rope.scaling.original_context_length", int(hp.contextLength));
    c.rmsEps = float(number(model, p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
    if (a == "gemma2" || a == "gemma3") {
        c.embdScale = std::sqrt(float(c.nEmbd));
        c.gelu = true;
        // llama.cpp: 1/sqrt(n_embd / n_head) for the 27B models (by layer count), otherwise
        // 1/sqrt(head_dim); query_pre_attn_scalar itself is not read.
        const bool is27b = (a == "gemma2" && c.nLayer == 46) || (a == "gemma3" && c.nLayer == 62);
        c.qScale =
            is27b ? 1.0f / std::sqrt(float(c.nEmbd / c.nHead)) : 1.0f / std::sqrt(float(c.headDim));
    }
    if (a == "gemma2") {
        c.nSwa = dim(p + "attention.sliding_window", 4096);
        swaPattern(model, p + "attention.sliding_window_pattern", 2, c);
        c.ropeFreqBaseSwa = float(number(model, p + "rope.freq_base_swa").value_or(c.ropeFreqBase));
        c.ropeFreqScaleSwa = c.ropeFreqScale;
        c.attnSoftcap = float(number(model, p + "attn_logit_softcapping").value_or(50.0));
        c.finalSoftcap = float(number(model, p + "final_logit_softcapping").value_or(30.0));
    } else if (a == "gemma3") {
        c.nSwa = dim(p + "attention.sliding_window", 0);
        if (c.nSwa > 0) {
            swaPattern(model, p + "attention.sliding_window_pattern", 6, c);
            c.ropeFreqBaseSwa = float(number(model, p + "rope.freq_base_swa").value_or(10000.0));
        }
        c.finalSoftcap = float(number(model, p + "final_logit_softcapping").value_or(0.0));
    } else if (a == "phi3") {
        // llama.cpp disables phi3's sliding window; q is scaled before attention.
        c.qScale = 1.0f / std::sqrt(float(c.headDim));
    }
    if (!finitePositive(c.ropeFreqBase) || !(c.rmsEps >= 0) || !std::isfinite(c.rmsEps) ||
        !finitePositive(c.ropeFreqScale) || !finitePositive(c.ropeAttnFactor) ||
        !finitePositive(c.ropeFreqBaseSwa) || !(c.attnSoftcap >= 0) ||
        !std::isfinite(c.attnSoftcap) || !(c.finalSoftcap >= 0) || !std::isfinite(c.finalSoftcap) ||
        c.nSwa < 0) {
        return makeError(ErrorCode::BadInput,
                         "rope.freq_base, rope.scaling.*, layer_norm_rms_epsilon, a soft-capping "
                         "value or the sliding window is not a usable number",
                         model.path());
    }
    if (c.headDim <= 0 || c.headDim % 2 != 0 || c.ropeDim <= 0 || c.ropeDim > c.headDim ||
        c.ropeDim % 2 != 0) {
        return makeError(ErrorCode::BadInput, "head or rope dimension is invalid", model.path());
    }
    return c;
}

}  // namespace qs::eval::detail
