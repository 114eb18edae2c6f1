// The converter's knowledge of a Hugging Face folder: see hf_arch.h. The code is our own.

#include "convert/hf_arch.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace qs::convert::hf {

using formats::TensorType;

namespace {

const ArchSpec kArchs[] = {
    {"LlamaForCausalLM", "llama", true, false},   {"MistralForCausalLM", "llama", true, false},
    {"MixtralForCausalLM", "llama", true, false}, {"Qwen2ForCausalLM", "qwen2", false, false},
    {"Qwen3ForCausalLM", "qwen3", false, false},  {"Qwen3MoeForCausalLM", "qwen3moe", false, false},
    {"Gemma2ForCausalLM", "gemma2", false, true}, {"Gemma3ForCausalLM", "gemma3", false, true},
    {"Phi3ForCausalLM", "phi3", false, false},
};

}  // namespace

std::span<const ArchSpec> archSpecs() {
    return kArchs;
}

const ArchSpec* findArch(const std::string& hf) {
    for (const auto& a : kArchs) {
        if (hf == a.hf) return &a;
    }
    return nullptr;
}

Result<json> readJsonFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return makeError(ErrorCode::IoError, "cannot read", path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, false);
    if (j.is_discarded()) return makeError(ErrorCode::BadInput, "malformed JSON", path.string());
    return j;
}

std::string architectureOf(const json& cfg) {
    if (cfg.is_object() && cfg.contains("architectures") && cfg["architectures"].is_array() &&
        !cfg["architectures"].empty() && cfg["architectures"][0].is_string()) {
        return cfg["architectures"][0].get<std::string>();
    }
    return {};
}

std::string supportedList() {
    std::string s;
    for (const auto& a : kArchs) {
        if (!s.empty()) s += ", ";
        s += a.hf;
    }
    return s;
}

// llama.cpp's model_weight_count_rounded_notation (gguf-py/gguf/utility.py).
std::string roundedCount(double n) {
    double scaled;
    const char* suffix;
    if (n > 1e12) {
        scaled = n * 1e-12;
        suffix = "T";
    } else if (n > 1e9) {
        scaled = n * 1e-9;
        suffix = "B";
    } else if (n > 1e6) {
        scaled = n * 1e-6;
        suffix = "M";
    } else {
        scaled = n * 1e-3;
        suffix = "K";
    }
    std::string digits = std::to_string(int64_t(std::nearbyint(scaled)));
    digits.erase(0, digits.find_first_not_of('0'));
    const int fix = std::max(2 - int(digits.size()), 0);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f%s", fix, scaled, suffix);
    return buf;
}

// The license of the model card's YAML front matter ("license: apache-2.0"), if any.
std::string cardLicense(const fs::path& dir) {
    std::ifstream in(dir / "README.md");
    std::string line;
    if (!in || !std::getline(in, line) || line.rfind("---", 0) != 0) return {};
    while (std::getline(in, line)) {
        if (line.rfind("---", 0) == 0) break;
        if (line.rfind("license:", 0) == 0) {
            std::string v = line.substr(8);
            v.erase(0, v.find_first_not_of(" \t\"'"));
            v.erase(v.find_last_not_of(" \t\r\"'") + 1);
            return v;
        }
    }
    return {};
}

// GGUF name of an HF tensor name; "" when llama.cpp's converter skips it; nullopt when unknown.
// `expert` and `expertPart` are set for per-expert tensors (the stacked name is returned).
std::optional<std::string> ggufName(const ArchSpec& arch, const std::string& name, int& layer,
                                    int& expert) {
    layer = -1;
    expert = -1;
    if (name.ends_with(".rotary_emb.inv_freq") || name.ends_with(".attention.masked_bias") ||
        name.ends_with(".attention.bias")) {
        return std::string();
    }
    if (name == "model.embed_tokens.weight") return std::string("token_embd.weight");
    if (name == "model.norm.weight") return std::string("output_norm.weight");
    if (name == "lm_head.weight") {
        if (std::string(arch.gguf) == "gemma2") return std::string();  // not used by llama.cpp
        return std::string("output.weight");
    }
    const std::string pre = "model.layers.";
    if (!name.starts_with(pre)) return std::nullopt;
    size_t p = pre.size();
    size_t q = name.find('.', p);
    if (q == std::string::npos || q == p) return std::nullopt;
    for (size_t k = p; k < q; ++k) {
        if (name[k] < '0' || name[k] > '9') return std::nullopt;
    }
    if (q - p > 6) return std::nullopt;
    layer = std::stoi(name.substr(p, q - p));
    const std::string rest = name.substr(q + 1);
    const std::string blk = "blk." + std::to_string(layer) + ".";
    const bool gemma = arch.gemmaNorm;

    // Per-expert tensors: block_sparse_moe.experts.E.w1|w2|w3 (mixtral) and
    // mlp.experts.E.gate_proj|up_proj|down_proj (qwen3moe).
    for (const char* ep : {"block_sparse_moe.experts.", "mlp.experts."}) {
        if (!rest.starts_with(ep)) continue;
        const size_t a = std::strlen(ep);
        const size_t b = rest.find('.', a);
        if (b == std::string::npos || b == a || b - a > 6) return std::nullopt;
        for (size_t k = a; k < b; ++k) {
            if (rest[k] < '0' || rest[k] > '9') return std::nullopt;
        }
        expert = std::stoi(rest.substr(a, b - a));
        const std::string w = rest.substr(b + 1);
        if (w == "w1.weight" || w == "gate_proj.weight") return blk + "ffn_gate_exps.weight";
        if (w == "w3.weight" || w == "up_proj.weight") return blk + "ffn_up_exps.weight";
        if (w == "w2.weight" || w == "down_proj.weight") return blk + "ffn_down_exps.weight";
        return std::nullopt;
    }

    static const std::map<std::string, std::string> common = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.o_proj.bias", "attn_output.bias"},
        {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight"},
        {"self_attn.k_norm.weight", "attn_k_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
        {"mlp.gate_up_proj.weight", "ffn_up.weight"},
        {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
        {"mlp.gate.weight", "ffn_gate_inp.weight"},
        {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
        {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    };
    if (rest == "post_attention_layernorm.weight") {
        return blk + (gemma ? "post_attention_norm.weight" : "ffn_norm.weight");
    }
    if (const auto it = common.find(rest); it != common.end()) return blk + it->second;
    return std::nullopt;
}

// llama.cpp's always-F32 rule for converted tensors (base.py prepare_tensors).
bool forcedF32(const std::string& name, size_t nDims) {
    return nDims <= 1 || name.ends_with("_norm.weight") || !name.ends_with(".weight") ||
           name.find("ffn_gate_inp") != std::string::npos;
}

TensorType viewType(const std::string& name, size_t nDims, TensorType src) {
    if (forcedF32(name, nDims)) return TensorType::F32;
    if (src == TensorType::F16 || src == TensorType::BF16) return src;
    return TensorType::F32;
}

// HF rotate_half row order -> GGML interleaved: within a head of hd rows, output row 2i + j is
// input row j * hd/2 + i (llama.py's permute).
std::vector<int32_t> ropeRowMap(int64_t rows, int64_t heads) {
    std::vector<int32_t> map(static_cast<size_t>(rows));
    const int64_t hd = rows / heads;
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < hd / 2; ++i) {
            for (int64_t j = 0; j < 2; ++j) {
                map[size_t(h * hd + 2 * i + j)] = int32_t(h * hd + j * (hd / 2) + i);
            }
        }
    }
    return map;
}

// llama3 rope scaling factors (llama.py generate_extra_tensors), in float32 like torch.
std::vector<float> llama3RopeFactors(const json& rp, double base, int64_t dim) {
    auto num = [&](const char* k, double d) {
        return rp.contains(k) && rp[k].is_number() ? rp[k].get<double>() : d;
    };
    const float factor = float(num("factor", 8.0));
    const float lowFreqFactor = float(num("low_freq_factor", 1.0));
    const float highFreqFactor = float(num("high_freq_factor", 4.0));
    const float oldContextLen = float(num("original_max_position_embeddings", 8192));
    const float lowFreqWavelen = oldContextLen / lowFreqFactor;
    const float highFreqWavelen = oldContextLen / highFreqFactor;
    std::vector<float> out;
    for (int64_t k = 0; k < dim; k += 2) {
        const float freq = 1.0f / std::pow(float(base), float(k) / float(dim));
        const float wavelen = float(2.0 * M_PI) / freq;
        if (wavelen < highFreqWavelen) {
            out.push_back(1.0f);
        } else if (wavelen > lowFreqWavelen) {
            out.push_back(factor);
        } else {
            const float smooth =
                (oldContextLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
        }
    }
    return out;
}

}  // namespace qs::convert::hf
