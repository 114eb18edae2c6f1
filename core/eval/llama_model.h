#pragma once
// A llama-family model bound for evaluation: hyper-parameters as llama.cpp reads them and a
// typed view of every weight the forward pass needs, straight into the Model's memory map (no
// copy). GGUF names (`blk.N.attn_q.weight`) and Hugging Face names
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
    std::string architecture;  ///< llama, mistral, qwen2
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
    bool ropeNeox = false;     ///< NEOX style (pairs i, i + d/2): qwen2; llama/mistral: adjacent
    float rmsEps = 1e-5f;      ///< attention.layer_norm_rms_epsilon
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

    bool present() const { return rows > 0; }
    std::span<const uint8_t> storedRow(int64_t r) const {
        const int64_t s = rowMap.empty() ? r : rowMap[size_t(r)];
        return data.subspan(uint64_t(s) * rowBytes, rowBytes);
    }
};

struct LayerWeights {
    std::vector<float> attnNorm, ffnNorm;
    std::vector<float> bq, bk, bv;  ///< optional biases (qwen2); empty when absent
    WeightView wq, wk, wv, wo, wGate, wUp, wDown;
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
    /// Source tensor index of every bound matrix (for plans and probes).
    std::vector<size_t> boundTensors() const;
    /// Bytes of all bound weights as they are now (overrides included).
    uint64_t weightBytes() const;

private:
    /// Every view bound from `name` (two when the output is tied to token_embd).
    std::vector<WeightView*> viewsOf(const std::string& name);

    const model::Model* m_model = nullptr;
    LlamaConfig m_config;
    WeightView m_tokenEmbd, m_output;
    bool m_tied = false;
    std::vector<float> m_outputNorm;
    std::vector<float> m_ropeFreqs;
    std::vector<LayerWeights> m_layers;
    std::vector<std::shared_ptr<std::vector<uint8_t>>> m_owned;  // override storage
};

} // namespace qs::eval
