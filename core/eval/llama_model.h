#pragma once
// A decoder-only transformer bound for evaluation: hyper-parameters as llama.cpp reads them and
// a typed view of every weight the forward pass needs, straight into the Model's memory map (no
// copy). Architectures: llama (llama 2/3 with rope_freqs, mixtral's experts), mistral, qwen2,
// qwen3, qwen3moe, gemma2, gemma3 (text), phi3 (the per-architecture reading of the GGUF keys is
// in arch_config.cpp). A fused tensor (phi3's attn_qkv, ffn_up) binds as several views of row
// ranges, and a 3-D expert tensor (`*_exps`, [cols, rows, n_expert]) as one view per expert, so
// the forward pass decodes only the rows of the experts a token is routed to. GGUF names
// (`blk.N.attn_q.weight`) and Hugging Face names
// (`model.layers.N.self_attn.q_proj.weight`) both bind; for HF llama/mistral the q/k rows are
// read through the permutation llama.cpp's converter applies, so both give the same numbers.
// A weight can be replaced by quantized bytes held by the LlamaModel (an in-memory plan or a
// sensitivity probe), so memory stays near the quantized size.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"
#include "model/model.h"

namespace qs::eval {

/// Hyper-parameters of the forward pass (llama.cpp's names in comments).
struct LlamaConfig {
    std::string architecture;  ///< llama, mistral, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3
    int nLayer = 0;            ///< block_count
    int nEmbd = 0;             ///< embedding_length
    int nFf = 0;               ///< feed_forward_length
    int nHead = 0;             ///< attention.head_count
    int nHeadKv = 0;           ///< attention.head_count_kv (default head_count)
    int headDim = 0;           ///< attention.key_length (default nEmbd / nHead)
    int nVocab = 0;            ///< rows of token_embd
    int ropeDim = 0;           ///< rope.dimension_count (default headDim)
    float ropeFreqBase = 10000.0f;  ///< rope.freq_base (default 10000)
    float ropeFreqScale = 1.0f;     ///< 1 / rope.scaling.factor for linear scaling
    bool ropeNeox = false;        ///< NEOX style (pairs i, i + d/2): qwen2; llama/mistral: adjacent
    float rmsEps = 1e-5f;         ///< attention.layer_norm_rms_epsilon
    float ropeAttnFactor = 1.0f;  ///< rope.scaling.attn_factor (phi3 LongRoPE): cos/sin scale
    int nCtxOrig = 0;             ///< rope.scaling.original_context_length (phi3 long/short)
    // Mixture of experts (qwen3moe, llama with experts = mixtral): softmax router, top-k
    // experts, their weights renormalised to sum 1, SwiGLU experts.
    int nExpert = 0;      ///< expert_count (0: dense FFN)
    int nExpertUsed = 0;  ///< expert_used_count
    int nFfExp = 0;       ///< expert_feed_forward_length (default n_ff / n_expert_used)
    // Gemma.
    float embdScale = 0.0f;     ///< > 0: embeddings multiplied by it (sqrt(n_embd) for gemma)
    bool gelu = false;          ///< GEGLU (tanh GELU as ggml's F16 table) instead of SwiGLU
    float attnSoftcap = 0.0f;   ///< attn_logit_softcapping (0: none)
    float finalSoftcap = 0.0f;  ///< final_logit_softcapping (0: none)
    /// > 0: q is multiplied by this before attention and the scores are not scaled again
    /// (gemma's 1/sqrt(head_dim), phi3's 1/sqrt(head_dim) on q); 0: scores * 1/sqrt(head_dim).
    float qScale = 0.0f;
    int nSwa = 0;                      ///< attention.sliding_window (0: none)
    std::vector<uint8_t> swaLayers;    ///< per layer: 1 = sliding-window layer
    float ropeFreqBaseSwa = 10000.0f;  ///< rope.freq_base_swa (sliding layers)
    float ropeFreqScaleSwa = 1.0f;

    bool isSwa(int layer) const {
        return nSwa > 0 && size_t(layer) < swaLayers.size() && swaLayers[size_t(layer)] != 0;
    }
};

/// A 2-D weight: `rows` rows of `cols` values of `type`, rows back to back in `data`.
struct WeightView {
    std::string name;
    formats::TensorType type = formats::TensorType::F32;
    std::span<const uint8_t> data;
    int64_t cols = 0;
    int64_t rows = 0;
    uint64_t rowBytes = 0;
    /// Row r of the logical matrix is stored row rowMap[r] (empty: identity). Used for HF q/k.
    std::vector<int32_t> rowMap;
    /// The matrix starts at this stored row of `data` (a row range of a fused tensor, or expert
    /// e of a 3-D tensor: rows e * rows ..): `data` always spans the whole source tensor.
    int64_t firstRow = 0;
    /// firstRow within the whole logical tensor (differs from firstRow only for an expert read
    /// from its own piece of a converted model); an override holds the whole tensor.
    int64_t tensorFirstRow = 0;
    /// The bytes `data` points into when they had to be made (a converted tensor whose type
    /// changes on reading, e.g. a router stored BF16 and read as F32); null for views into the map.
    std::shared_ptr<const std::vector<uint8_t>> owned;

    bool present() const { return rows > 0; }
    std::span<const uint8_t> storedRow(int64_t r) const {
        const int64_t s = firstRow + (rowMap.empty() ? r : rowMap[size_t(r)]);
        return data.subspan(uint64_t(s) * rowBytes, rowBytes);
    }
};

struct LayerWeights {
    std::vector<float> attnNorm, ffnNorm;
    std::vector<float> bq, bk, bv;    ///< optional biases (qwen2); empty when absent
    std::vector<float> qNorm, kNorm;  ///< per-head RMSNorm of q and k (qwen3, gemma3); or empty
    std::vector<float> postAttnNorm, postFfnNorm;  ///< gemma's norms after attention and FFN
    WeightView wq, wk, wv, wo, wGate, wUp, wDown;
    /// Mixture of experts: the router (ffn_gate_inp, nExpert rows) and one view per expert.
    WeightView router;
    std::vector<WeightView> gateExps, upExps, downExps;
    /// phi3 rope factors (short and long; the same tensors in every layer), or empty.
    std::vector<float> ropeShort, ropeLong;
};

class LlamaModel {
public:
    /// Bind the weights of `model` (which must outlive the LlamaModel). Errors name the missing
    /// or misshapen tensor, or an architecture we cannot run yet.
    static Result<LlamaModel> bind(const model::Model& model);

    const LlamaConfig& config() const { return m_config; }
    const model::Model& source() const { return *m_model; }
    const WeightView& tokenEmbd() const { return m_tokenEmbd; }
    const WeightView& output() const { return m_output; }  ///< token_embd when tied
    bool tiedOutput() const { return m_tied; }
    const std::vector<float>& outputNorm() const { return m_outputNorm; }
    /// rope_freqs.weight (llama 3 frequency factors), empty when absent.
    const std::vector<float>& ropeFreqs() const { return m_ropeFreqs; }
    const std::vector<LayerWeights>& layers() const { return m_layers; }

    /// Replace the weight bound from source tensor `tensorIndex` by `bytes` of `type` (same
    /// shape). Returns BadUsage if that tensor is not a matrix the forward pass uses.
    Status overrideWeight(size_t tensorIndex, formats::TensorType type, std::vector<uint8_t> bytes);
    /// Source tensor index of every bound matrix (for plans and probes); the MoE router
    /// (ffn_gate_inp, never quantized) is left out.
    std::vector<size_t> boundTensors() const;
    /// Bytes of all bound weights as they are now (overrides included).
    uint64_t weightBytes() const;

private:
    /// Every view bound from `name` (two when the output is tied to token_embd; several for a
    /// fused or an expert tensor).
    std::vector<WeightView*> viewsOf(const std::string& name);
    /// Call fn on every bound view, in forward order.
    template <class F>
    void forEachView(F&& fn) const;

    const model::Model* m_model = nullptr;
    LlamaConfig m_config;
    WeightView m_tokenEmbd, m_output;
    bool m_tied = false;
    std::vector<float> m_outputNorm;
    std::vector<float> m_ropeFreqs;
    std::vector<LayerWeights> m_layers;
    std::vector<std::shared_ptr<std::vector<uint8_t>>> m_owned;  // override storage
};

}  // namespace qs::eval
