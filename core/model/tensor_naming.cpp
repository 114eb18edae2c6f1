#include "model/tensor_naming.h"

#include <charconv>
#include <utility>

namespace qs::model {

std::string_view roleName(TensorRole role) {
    switch (role) {
    case TensorRole::TokenEmbd: return "token_embd";
    case TensorRole::PosEmbd: return "pos_embd";
    case TensorRole::Output: return "output";
    case TensorRole::OutputNorm: return "output_norm";
    case TensorRole::AttnNorm: return "attn_norm";
    case TensorRole::AttnQ: return "attn_q";
    case TensorRole::AttnK: return "attn_k";
    case TensorRole::AttnV: return "attn_v";
    case TensorRole::AttnQkv: return "attn_qkv";
    case TensorRole::AttnOutput: return "attn_output";
    case TensorRole::AttnQNorm: return "attn_q_norm";
    case TensorRole::AttnKNorm: return "attn_k_norm";
    case TensorRole::FfnNorm: return "ffn_norm";
    case TensorRole::FfnGate: return "ffn_gate";
    case TensorRole::FfnUp: return "ffn_up";
    case TensorRole::FfnDown: return "ffn_down";
    case TensorRole::FfnGateInp: return "ffn_gate_inp";
    case TensorRole::FfnGateExps: return "ffn_gate_exps";
    case TensorRole::FfnUpExps: return "ffn_up_exps";
    case TensorRole::FfnDownExps: return "ffn_down_exps";
    case TensorRole::FfnGateShexp: return "ffn_gate_shexp";
    case TensorRole::FfnUpShexp: return "ffn_up_shexp";
    case TensorRole::FfnDownShexp: return "ffn_down_shexp";
    case TensorRole::RopeFreqs: return "rope_freqs";
    case TensorRole::Other: return "other";
    }
    return "other";
}

namespace {

using R = TensorRole;

// Strip a trailing ".weight" / ".bias" (the role is the same for both).
std::string_view stem(std::string_view name) {
    for (std::string_view suffix : {".weight", ".bias"}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            return name.substr(0, name.size() - suffix.size());
        }
    }
    return name;
}

// Parse "<digits>." at the start of s; returns the number and advances s past the dot.
bool takeIndex(std::string_view& s, int& out) {
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0 || n > 9) return false;
    std::from_chars(s.data(), s.data() + n, out);
    s.remove_prefix(n);
    if (!s.empty() && s.front() == '.') s.remove_prefix(1);
    return true;
}

// Role of the per-layer part of a llama.cpp name ("attn_q", "ffn_down_exps", ...).
R llamaBlockRole(std::string_view s) {
    static constexpr std::pair<std::string_view, R> kRoles[] = {
        {"attn_norm", R::AttnNorm},
        {"attn_q_norm", R::AttnQNorm},
        {"attn_k_norm", R::AttnKNorm},
        {"attn_q", R::AttnQ},
        {"attn_k", R::AttnK},
        {"attn_v", R::AttnV},
        {"attn_qkv", R::AttnQkv},
        {"attn_output", R::AttnOutput},
        {"ffn_norm", R::FfnNorm},
        {"ffn_gate_inp", R::FfnGateInp},
        {"ffn_gate_exps", R::FfnGateExps},
        {"ffn_up_exps", R::FfnUpExps},
        {"ffn_down_exps", R::FfnDownExps},
        {"ffn_gate_shexp", R::FfnGateShexp},
        {"ffn_up_shexp", R::FfnUpShexp},
        {"ffn_down_shexp", R::FfnDownShexp},
        {"ffn_gate", R::FfnGate},
        {"ffn_up", R::FfnUp},
        {"ffn_down", R::FfnDown},
    };
    for (const auto& [n, r] : kRoles) {
        if (s == n) return r;
    }
    return R::Other;
}

// Role of the per-layer part of a Hugging Face name ("self_attn.q_proj", "mlp.down_proj").
R hfBlockRole(std::string_view s, int& expert) {
    static constexpr std::pair<std::string_view, R> kRoles[] = {
        {"input_layernorm", R::AttnNorm},
        {"self_attn.q_proj", R::AttnQ},
        {"self_attn.k_proj", R::AttnK},
        {"self_attn.v_proj", R::AttnV},
        {"self_attn.qkv_proj", R::AttnQkv},
        {"self_attn.o_proj", R::AttnOutput},
        {"self_attn.q_norm", R::AttnQNorm},
        {"self_attn.k_norm", R::AttnKNorm},
        {"post_attention_layernorm", R::FfnNorm},
        {"mlp.gate_proj", R::FfnGate},
        {"mlp.up_proj", R::FfnUp},
        {"mlp.down_proj", R::FfnDown},
        {"mlp.gate", R::FfnGateInp},
        {"block_sparse_moe.gate", R::FfnGateInp},
        {"mlp.shared_expert.gate_proj", R::FfnGateShexp},
        {"mlp.shared_expert.up_proj", R::FfnUpShexp},
        {"mlp.shared_expert.down_proj", R::FfnDownShexp},
    };
    for (const auto& [n, r] : kRoles) {
        if (s == n) return r;
    }
    // Per-expert tensors: mlp.experts.E.{gate,up,down}_proj or block_sparse_moe.experts.E.w{1,3,2}.
    for (std::string_view prefix : {"mlp.experts.", "block_sparse_moe.experts."}) {
        if (!s.starts_with(prefix)) continue;
        std::string_view rest = s.substr(prefix.size());
        int e = -1;
        if (!takeIndex(rest, e)) return R::Other;
        expert = e;
        if (rest == "gate_proj" || rest == "w1") return R::FfnGateExps;
        if (rest == "up_proj" || rest == "w3") return R::FfnUpExps;
        if (rest == "down_proj" || rest == "w2") return R::FfnDownExps;
        expert = -1;
        return R::Other;
    }
    if (s.ends_with("rotary_emb.inv_freq")) return R::RopeFreqs;
    return R::Other;
}

}  // namespace

NameInfo classifyTensorName(std::string_view name) {
    NameInfo info;
    std::string_view s = stem(name);

    // llama.cpp: blk.N.<role>
    if (s.starts_with("blk.")) {
        std::string_view rest = s.substr(4);
        int layer = -1;
        if (takeIndex(rest, layer)) {
            info.layer = layer;
            info.role = llamaBlockRole(rest);
        }
        return info;
    }
    // Hugging Face: [model.]layers.N.<role> (also language_model.model.layers for VLMs)
    const size_t at = s.find("layers.");
    if (at != std::string_view::npos && (at == 0 || s[at - 1] == '.')) {
        std::string_view rest = s.substr(at + 7);
        int layer = -1;
        if (takeIndex(rest, layer)) {
            info.layer = layer;
            info.role = hfBlockRole(rest, info.expert);
            return info;
        }
    }
    static constexpr std::pair<std::string_view, R> kGlobal[] = {
        {"token_embd", R::TokenEmbd},   {"model.embed_tokens", R::TokenEmbd},
        {"embed_tokens", R::TokenEmbd}, {"position_embd", R::PosEmbd},
        {"output", R::Output},          {"lm_head", R::Output},
        {"output_norm", R::OutputNorm}, {"model.norm", R::OutputNorm},
        {"norm", R::OutputNorm},        {"rope_freqs", R::RopeFreqs},
    };
    for (const auto& [n, r] : kGlobal) {
        if (s == n) {
            info.role = r;
            return info;
        }
    }
    return info;
}

}  // namespace qs::model
