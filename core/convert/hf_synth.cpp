#include "convert/hf_synth.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "formats/encoders.h"

namespace qs::convert {

namespace fs = std::filesystem;
using formats::TensorType;
using ojson = nlohmann::ordered_json;

namespace {

enum class Kind { Weight, Embedding, Norm, GemmaNorm, Bias };

struct Entry {
    std::string name;
    std::vector<int64_t> shape;  // PyTorch order
    Kind kind;
    int64_t count() const {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

const char* dtypeName(TensorType t) {
    switch (t) {
    case TensorType::F32: return "F32";
    case TensorType::F16: return "F16";
    default: return "BF16";
    }
}

struct Rng {
    std::mt19937_64 g;
    std::normal_distribution<double> n{0.0, 1.0};
    double normal() { return n(g); }
    // Student-t with 4 degrees of freedom, unit variance: heavy tails like trained weights.
    double student4() {
        double chi = 0;
        for (int k = 0; k < 4; ++k) {
            const double z = normal();
            chi += z * z;
        }
        return normal() / std::sqrt(chi / 4.0) / std::sqrt(2.0);
    }
};

void fill(const Entry& e, Rng& rng, std::vector<float>& v) {
    v.resize(size_t(e.count()));
    const int64_t cols = e.shape.back();
    const int64_t rows = e.count() / cols;
    switch (e.kind) {
    case Kind::Norm:
        for (auto& x : v) x = float(1.0 + 0.1 * rng.normal());
        return;
    case Kind::GemmaNorm:
        for (auto& x : v) x = float(0.1 * rng.normal());
        return;
    case Kind::Bias:
        for (auto& x : v) x = float(0.05 * rng.normal());
        return;
    case Kind::Weight:
    case Kind::Embedding: break;
    }
    const double base = e.kind == Kind::Embedding ? 0.05 : 1.0 / std::sqrt(double(cols));
    for (int64_t r = 0; r < rows; ++r) {
        const double rowScale = base * std::exp(0.3 * rng.normal());
        for (int64_t c = 0; c < cols; ++c) {
            double x = rowScale * rng.student4();
            if (c % 97 == 5) x *= 6.0;  // outlier input channels
            v[size_t(r * cols + c)] = float(x);
        }
    }
}

struct Arch {
    std::string hf;
    std::string modelType;
};

}  // namespace

HfSynthOptions llama8BShape() {
    HfSynthOptions o;
    o.architecture = "LlamaForCausalLM";
    o.dtype = TensorType::BF16;
    o.shards = 4;
    o.sparse = true;
    o.vocab = 128256;
    o.hidden = 4096;
    o.ffn = 14336;
    o.layers = 32;
    o.heads = 32;
    o.headsKv = 8;
    o.headDim = 128;
    return o;
}

Status writeHfSynthModel(const HfSynthOptions& in, const std::string& dirPath) {
    try {
        HfSynthOptions o = in;
        const std::string& a = o.architecture;
        const bool llama = a == "LlamaForCausalLM", mistral = a == "MistralForCausalLM",
                   mixtral = a == "MixtralForCausalLM", qwen2 = a == "Qwen2ForCausalLM",
                   qwen3 = a == "Qwen3ForCausalLM", qwen3moe = a == "Qwen3MoeForCausalLM",
                   gemma2 = a == "Gemma2ForCausalLM", gemma3 = a == "Gemma3ForCausalLM",
                   phi3 = a == "Phi3ForCausalLM";
        if (!(llama || mistral || mixtral || qwen2 || qwen3 || qwen3moe || gemma2 || gemma3 ||
              phi3)) {
            return makeError(ErrorCode::BadUsage, "no tiny Hugging Face layout for '" + a + "'");
        }
        if (o.dtype != TensorType::F32 && o.dtype != TensorType::F16 &&
            o.dtype != TensorType::BF16) {
            return makeError(ErrorCode::BadUsage, "dtype must be F32, F16 or BF16");
        }
        auto dflt = [](int64_t& v, int64_t d) {
            if (v == 0) v = d;
        };
        dflt(o.vocab, 512);
        dflt(o.hidden, 64);
        dflt(o.ffn, 128);
        dflt(o.layers, 2);
        dflt(o.heads, 4);
        dflt(o.headsKv, 2);
        dflt(o.headDim, (qwen3 || qwen3moe || gemma2 || gemma3) ? 32 : o.hidden / o.heads);
        if (mixtral || qwen3moe) {
            dflt(o.experts, 4);
            dflt(o.expertsUsed, 2);
        }
        const int64_t H = o.hidden, V = o.vocab, F = o.ffn, hd = o.headDim;
        const bool tied = qwen2 || qwen3 || qwen3moe || gemma2 || gemma3;
        const bool gemma = gemma2 || gemma3;
        const Kind normKind = gemma ? Kind::GemmaNorm : Kind::Norm;

        std::vector<Entry> es;
        es.push_back({"model.embed_tokens.weight", {V, H}, Kind::Embedding});
        std::vector<size_t> layerStart;
        for (int64_t l = 0; l < o.layers; ++l) {
            layerStart.push_back(es.size());
            const std::string p = "model.layers." + std::to_string(l) + ".";
            es.push_back({p + "input_layernorm.weight", {H}, normKind});
            if (phi3) {
                es.push_back({p + "self_attn.qkv_proj.weight",
                              {(o.heads + 2 * o.headsKv) * hd, H},
                              Kind::Weight});
            } else {
                es.push_back({p + "self_attn.q_proj.weight", {o.heads * hd, H}, Kind::Weight});
                es.push_back({p + "self_attn.k_proj.weight", {o.headsKv * hd, H}, Kind::Weight});
                es.push_back({p + "self_attn.v_proj.weight", {o.headsKv * hd, H}, Kind::Weight});
                if (qwen2) {
                    es.push_back({p + "self_attn.q_proj.bias", {o.heads * hd}, Kind::Bias});
                    es.push_back({p + "self_attn.k_proj.bias", {o.headsKv * hd}, Kind::Bias});
                    es.push_back({p + "self_attn.v_proj.bias", {o.headsKv * hd}, Kind::Bias});
                }
            }
            es.push_back({p + "self_attn.o_proj.weight", {H, o.heads * hd}, Kind::Weight});
            if (qwen3 || qwen3moe || gemma3) {
                es.push_back({p + "self_attn.q_norm.weight", {hd}, normKind});
                es.push_back({p + "self_attn.k_norm.weight", {hd}, normKind});
            }
            es.push_back({p + "post_attention_layernorm.weight", {H}, normKind});
            if (gemma) {
                es.push_back({p + "pre_feedforward_layernorm.weight", {H}, normKind});
                es.push_back({p + "post_feedforward_layernorm.weight", {H}, normKind});
            }
            if (mixtral) {
                es.push_back({p + "block_sparse_moe.gate.weight", {o.experts, H}, Kind::Weight});
                for (int64_t e = 0; e < o.experts; ++e) {
                    const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
                    es.push_back({q + "w1.weight", {F, H}, Kind::Weight});
                    es.push_back({q + "w2.weight", {H, F}, Kind::Weight});
                    es.push_back({q + "w3.weight", {F, H}, Kind::Weight});
                }
            } else if (qwen3moe) {
                es.push_back({p + "mlp.gate.weight", {o.experts, H}, Kind::Weight});
                for (int64_t e = 0; e < o.experts; ++e) {
                    const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
                    es.push_back({q + "gate_proj.weight", {F, H}, Kind::Weight});
                    es.push_back({q + "up_proj.weight", {F, H}, Kind::Weight});
                    es.push_back({q + "down_proj.weight", {H, F}, Kind::Weight});
                }
            } else if (phi3) {
                es.push_back({p + "mlp.gate_up_proj.weight", {2 * F, H}, Kind::Weight});
                es.push_back({p + "mlp.down_proj.weight", {H, F}, Kind::Weight});
            } else {
                es.push_back({p + "mlp.gate_proj.weight", {F, H}, Kind::Weight});
                es.push_back({p + "mlp.up_proj.weight", {F, H}, Kind::Weight});
                es.push_back({p + "mlp.down_proj.weight", {H, F}, Kind::Weight});
            }
        }
        const size_t tailStart = es.size();
        es.push_back({"model.norm.weight", {H}, normKind});
        if (!tied) es.push_back({"lm_head.weight", {V, H}, Kind::Weight});

        // config.json as transformers writes it for the architecture.
        ojson c;
        c["architectures"] = {a};
        const std::string mt = llama      ? "llama"
                               : mistral  ? "mistral"
                               : mixtral  ? "mixtral"
                               : qwen2    ? "qwen2"
                               : qwen3    ? "qwen3"
                               : qwen3moe ? "qwen3_moe"
                               : gemma2   ? "gemma2"
                               : gemma3   ? "gemma3_text"
                                          : "phi3";
        c["model_type"] = mt;
        c["vocab_size"] = V;
        c["hidden_size"] = H;
        c["intermediate_size"] = F;
        c["num_hidden_layers"] = o.layers;
        c["num_attention_heads"] = o.heads;
        c["num_key_value_heads"] = o.headsKv;
        if (qwen3 || qwen3moe || gemma || o.headDim != H / o.heads) c["head_dim"] = hd;
        c["hidden_act"] = gemma ? "gelu_pytorch_tanh" : "silu";
        c["max_position_embeddings"] = phi3 ? 4096 : gemma3 ? 32768 : 8192;
        c["rms_norm_eps"] = gemma ? 1e-6 : 1e-5;
        c["rope_theta"] = gemma3 ? 1000000.0 : llama ? 500000.0 : 10000.0;
        c["tie_word_embeddings"] = tied;
        c["bos_token_id"] = 1;
        c["eos_token_id"] = 2;
        c["torch_dtype"] = o.dtype == TensorType::F32   ? "float32"
                           : o.dtype == TensorType::F16 ? "float16"
                                                        : "bfloat16";
        if (llama && o.llama3Rope) {
            c["rope_scaling"] = {{"factor", 8.0},
                                 {"high_freq_factor", 4.0},
                                 {"low_freq_factor", 1.0},
                                 {"original_max_position_embeddings", 8192},
                                 {"rope_type", "llama3"}};
        }
        if (qwen2) c["attention_bias"] = true;
        if (mistral || mixtral) c["sliding_window"] = nullptr;
        if (mixtral) {
            c["num_local_experts"] = o.experts;
            c["num_experts_per_tok"] = o.expertsUsed;
        }
        if (qwen3moe) {
            c["num_experts"] = o.experts;
            c["num_experts_per_tok"] = o.expertsUsed;
            c["moe_intermediate_size"] = F;
            c["decoder_sparse_step"] = 1;
            c["norm_topk_prob"] = true;
            c["mlp_only_layers"] = ojson::array();
        }
        if (gemma2) {
            c["attn_logit_softcapping"] = 50.0;
            c["final_logit_softcapping"] = 30.0;
            c["sliding_window"] = 4096;
            c["query_pre_attn_scalar"] = hd;
        }
        if (gemma3) {
            c["rope_local_base_freq"] = 10000.0;
            c["sliding_window"] = 512;
            c["sliding_window_pattern"] = 6;
            c["final_logit_softcapping"] = nullptr;
            c["attn_logit_softcapping"] = nullptr;
            c["query_pre_attn_scalar"] = hd;
            c["rope_scaling"] = nullptr;
        }
        if (phi3) {
            c["original_max_position_embeddings"] = 4096;
            c["sliding_window"] = 2047;
            c["rope_scaling"] = nullptr;
            c["resid_pdrop"] = 0.0;
        }

        const fs::path dir(dirPath);
        fs::create_directories(dir);
        {
            std::ofstream f(dir / "config.json", std::ios::trunc);
            f << c.dump(2) << "\n";
            if (!f)
                return makeError(ErrorCode::IoError, "cannot write",
                                 (dir / "config.json").string());
        }

        // Shards: layers split evenly; the embedding in the first, the tail in the last.
        const int nShards = std::max(1, o.shards);
        std::vector<std::vector<size_t>> shardOf(static_cast<size_t>(nShards));
        for (size_t i = 0; i < es.size(); ++i) {
            int s = 0;
            if (i >= tailStart) {
                s = nShards - 1;
            } else if (i > 0) {
                int64_t layer = 0;
                for (size_t l = 0; l < layerStart.size(); ++l) {
                    if (i >= layerStart[l]) layer = int64_t(l);
                }
                s = int(layer * nShards / std::max<int64_t>(1, o.layers));
            }
            shardOf[size_t(s)].push_back(i);
        }
        ojson weightMap = ojson::object();
        Rng rng{std::mt19937_64(o.seed * 0x9e3779b97f4a7c15ull + 7)};
        const uint64_t elemBytes = o.dtype == TensorType::F32 ? 4 : 2;
        const auto enc = formats::encoderOf(o.dtype);
        for (int s = 0; s < nShards; ++s) {
            char nameBuf[96];
            std::snprintf(nameBuf, sizeof nameBuf, "model-%05d-of-%05d.safetensors", s + 1,
                          nShards);
            const std::string fileName = nShards == 1 ? "model.safetensors" : nameBuf;
            ojson header;
            header["__metadata__"] = {{"format", "pt"}};
            uint64_t off = 0;
            for (size_t i : shardOf[size_t(s)]) {
                const uint64_t n = uint64_t(es[i].count()) * elemBytes;
                header[es[i].name] = {{"dtype", dtypeName(o.dtype)},
                                      {"shape", es[i].shape},
                                      {"data_offsets", {off, off + n}}};
                off += n;
                weightMap[es[i].name] = fileName;
            }
            std::string h = header.dump();
            while (h.size() % 8) h += ' ';
            const fs::path path = dir / fileName;
            std::FILE* f = std::fopen(path.string().c_str(), "wb");
            if (!f) return makeError(ErrorCode::IoError, "cannot create", path.string());
            const uint64_t hl = h.size();
            bool ok =
                std::fwrite(&hl, 8, 1, f) == 1 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
            if (!o.sparse) {
                std::vector<float> v;
                std::vector<uint8_t> bytes;
                for (size_t i : shardOf[size_t(s)]) {
                    fill(es[i], rng, v);
                    bytes.resize(v.size() * elemBytes);
                    if (o.dtype == TensorType::F32) {
                        std::memcpy(bytes.data(), v.data(), bytes.size());
                    } else {
                        enc(v.data(), bytes.data(), int64_t(v.size()), nullptr);
                    }
                    ok = ok && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
                }
            }
            ok = std::fflush(f) == 0 && ok;
            if (ok && o.sparse) ok = ::ftruncate(::fileno(f), off_t(8 + hl + off)) == 0;
            ok = std::fclose(f) == 0 && ok;
            if (!ok) return makeError(ErrorCode::IoError, "write failed", path.string());
        }
        if (nShards > 1) {
            ojson idx;
            uint64_t total = 0;
            for (const auto& e : es) total += uint64_t(e.count()) * elemBytes;
            idx["metadata"] = {{"total_size", total}};
            idx["weight_map"] = weightMap;
            std::ofstream f(dir / "model.safetensors.index.json", std::ios::trunc);
            f << idx.dump(2) << "\n";
            if (!f) return makeError(ErrorCode::IoError, "cannot write the index", dir.string());
        }
        return {};
    } catch (const std::exception& e) {
        return makeError(ErrorCode::IoError, std::string("writing the model folder: ") + e.what(),
                         dirPath);
    }
}

}  // namespace qs::convert
