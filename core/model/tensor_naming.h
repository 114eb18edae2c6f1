#pragma once
// Recognises a tensor's layer index and role from its name, for llama.cpp names
// (`blk.7.attn_q.weight`, `blk.3.ffn_down_exps.weight`) and Hugging Face names
// (`model.layers.7.self_attn.q_proj.weight`, `model.layers.3.mlp.experts.5.down_proj.weight`).

#include <string>
#include <string_view>

namespace qs::model {

/// What a tensor does in the network. Names follow llama.cpp's LLM_TENSOR_NAMES.
enum class TensorRole {
    TokenEmbd,   ///< token_embd / embed_tokens
    PosEmbd,     ///< position_embd
    Output,      ///< output / lm_head
    OutputNorm,  ///< output_norm / model.norm
    AttnNorm,    ///< attn_norm / input_layernorm
    AttnQ,
    AttnK,
    AttnV,
    AttnQkv,     ///< fused attn_qkv
    AttnOutput,  ///< attn_output / o_proj
    AttnQNorm,
    AttnKNorm,
    FfnNorm,  ///< ffn_norm / post_attention_layernorm
    FfnGate,
    FfnUp,
    FfnDown,
    FfnGateInp,   ///< MoE router
    FfnGateExps,  ///< MoE experts (3-D in GGUF; per expert in HF)
    FfnUpExps,
    FfnDownExps,
    FfnGateShexp,  ///< MoE shared expert
    FfnUpShexp,
    FfnDownShexp,
    RopeFreqs,
    Other,
};

/// llama.cpp's short name of a role ("attn_q", "ffn_down_exps", "token_embd"; "other").
std::string_view roleName(TensorRole role);

/// Layer index (-1 for none), role and expert index (-1 unless an HF per-expert tensor).
struct NameInfo {
    int layer = -1;
    TensorRole role = TensorRole::Other;
    int expert = -1;
};

/// Classify a tensor name of either naming scheme.
NameInfo classifyTensorName(std::string_view name);

}  // namespace qs::model
