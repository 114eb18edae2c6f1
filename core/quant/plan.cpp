#include "quant/plan.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace qs::quant {

using formats::TensorType;
using model::TensorRole;
namespace {
using T = TensorType;
using F = Ftype;

bool contains(const std::string& s, const char* needle) {
    return s.find(needle) != std::string::npos;
}

// A name in llama.cpp's GGUF naming (as opposed to Hugging Face's).
bool isGgufName(const std::string& n) {
    return n.starts_with("blk.") || n == "token_embd.weight" || n == "output.weight" ||
           n.starts_with("output_norm") || n.starts_with("per_layer_token_embd");
}

// Number of dimensions as ggml counts them (trailing 1s do not count; at least 1).
int ggmlDims(const model::TensorInfo& t) {
    int n = 1;
    for (int i = int(t.shape.size()) - 1; i >= 1; --i) {
        if (t.shape[size_t(i)] > 1) {
            n = i + 1;
            break;
        }
    }
    return n;
}

bool isOneOf(F f, std::initializer_list<F> list) {
    return std::find(list.begin(), list.end(), f) != list.end();
}

}  // namespace

std::string_view originName(Origin o) {
    switch (o) {
    case Origin::Keep: return "keep";
    case Origin::Default: return "default";
    case Origin::Mix: return "mix";
    case Origin::Rule: return "rule";
    case Origin::OutputType: return "output-type";
    case Origin::TokenEmbdType: return "token-embedding-type";
    case Origin::Manual: return "manual";
    case Origin::Optimizer: return "optimizer";
    }
    return "?";
}

Category categoryOf(const model::TensorInfo& t) {
    const std::string& n = t.name;
    if (isGgufName(n) || !n.starts_with("model.")) {
        // llama.cpp's tensor_get_category, substring by substring, in its order.
        if (n == "output.weight") return Category::Output;
        if (n == "token_embd.weight" || n == "per_layer_token_embd.weight")
            return Category::TokenEmbd;
        if (contains(n, "attn_qkv.weight")) return Category::AttnQkv;
        if (contains(n, "attn_kv_b.weight")) return Category::AttnKvB;
        if (contains(n, "attn_v.weight")) return Category::AttnV;
        if (contains(n, "attn_k.weight")) return Category::AttnK;
        if (contains(n, "attn_q.weight")) return Category::AttnQ;
        if (contains(n, "attn_output.weight")) return Category::AttnOutput;
        if (contains(n, "ffn_up")) return Category::FfnUp;
        if (contains(n, "ffn_gate")) return Category::FfnGate;
        if (contains(n, "ffn_down")) return Category::FfnDown;
        if (isGgufName(n)) return Category::Other;
    }
    // Hugging Face names: map the recognised role onto the same categories.
    switch (t.role) {
    case TensorRole::TokenEmbd: return Category::TokenEmbd;
    case TensorRole::Output: return Category::Output;
    case TensorRole::AttnQ: return Category::AttnQ;
    case TensorRole::AttnK: return Category::AttnK;
    case TensorRole::AttnV: return Category::AttnV;
    case TensorRole::AttnQkv: return Category::AttnQkv;
    case TensorRole::AttnOutput: return Category::AttnOutput;
    case TensorRole::FfnUp:
    case TensorRole::FfnUpExps:
    case TensorRole::FfnUpShexp: return Category::FfnUp;
    case TensorRole::FfnGate:
    case TensorRole::FfnGateExps:
    case TensorRole::FfnGateShexp:
    case TensorRole::FfnGateInp: return Category::FfnGate;
    case TensorRole::FfnDown:
    case TensorRole::FfnDownExps:
    case TensorRole::FfnDownShexp: return Category::FfnDown;
    default: return Category::Other;
    }
}

bool allowsQuantization(const model::TensorInfo& t) {
    if (ggmlDims(t) < 2) return false;
    const std::string& n = t.name;
    if (!n.ends_with("weight")) return false;
    switch (t.role) {  // HF names of what llama.cpp keeps (norms, router, positions)
    case TensorRole::AttnNorm:
    case TensorRole::FfnNorm:
    case TensorRole::OutputNorm:
    case TensorRole::AttnQNorm:
    case TensorRole::AttnKNorm:
    case TensorRole::FfnGateInp:
    case TensorRole::PosEmbd:
    case TensorRole::RopeFreqs: return false;
    default: break;
    }
    // llama.cpp's list (tensor_allows_quantization), for GGUF names.
    static const char* kNever[] = {
        "_norm.weight",
        "ffn_gate_inp.weight",
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "indexer.k_proj.weight",
        "indexer.q_proj.weight",
        "time_mix_first.weight",
        "time_mix_w0.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_v0.weight",
        "time_mix_v1.weight",
        "time_mix_v2.weight",
        "time_mix_a0.weight",
        "time_mix_a1.weight",
        "time_mix_a2.weight",
        "time_mix_g1.weight",
        "time_mix_g2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
        ".position_embd",
        "sam.pos_embd",
        "sam.neck.",
        "sam.net_",
        ".rel_pos",
        ".patch_embd",
        ".patch_merger",
        "a.rvq.codebook",
        "mm.a.code_embd",
    };
    for (const char* s : kNever) {
        if (contains(n, s)) return false;
    }
    if (n == "position_embd.weight" || n == "token_types.weight") return false;
    return true;
}

TensorType shapeFallback(TensorType requested, int64_t rowLength) {
    const auto& tt = formats::traits(requested);
    if (rowLength % tt.blockSize == 0) return requested;
    TensorType fb = T::F16;
    switch (requested) {
    case T::IQ1_S:
    case T::IQ1_M:
    case T::IQ2_XXS:
    case T::IQ2_XS:
    case T::IQ2_S:
    case T::IQ3_XXS:
    case T::IQ3_S:
    case T::IQ4_XS: fb = T::IQ4_NL; break;
    case T::Q2_0:
    case T::Q2_K:
    case T::Q3_K:
    case T::TQ1_0:
    case T::TQ2_0: fb = T::Q4_0; break;
    case T::Q4_K: fb = T::Q5_0; break;
    case T::Q5_K: fb = T::Q5_1; break;
    case T::Q6_K: fb = T::Q8_0; break;
    default:
        // llama.cpp defines no fallback for the other blocks over 32 (Q1_0, NVFP4) and refuses
        // the tensor; the plan keeps the type so that validation names the tensor.
        if (tt.blockSize > 32) return requested;
        fb = T::F16;
        break;
    }
    if (rowLength % formats::traits(fb).blockSize != 0) fb = T::F16;
    return fb;
}

Result<TypeRule> parseTypeRule(const std::string& text) {
    const size_t eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
        return makeError(ErrorCode::BadUsage,
                         "bad tensor type rule '" + text + "': expected REGEX=TYPE");
    }
    TypeRule r;
    r.pattern = text.substr(0, eq);
    for (char& c : r.pattern) c = char(std::tolower(static_cast<unsigned char>(c)));
    const std::string typeName = text.substr(eq + 1);
    auto type = formats::typeFromName(typeName);
    if (!type || uint32_t(*type) >= 1000) {
        return makeError(ErrorCode::BadUsage,
                         "bad tensor type rule '" + text + "': unknown type '" + typeName + "'");
    }
    r.type = *type;
    try {
        r.regex = std::regex(r.pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
        return makeError(ErrorCode::BadUsage,
                         "bad tensor type rule '" + text + "': invalid regex: " + e.what());
    }
    return r;
}

Result<std::vector<TypeRule>> parseTypeRuleFile(const std::string& text, const std::string& file) {
    std::vector<TypeRule> rules;
    std::istringstream lines(text);
    std::string line;
    int lineNo = 0;
    while (std::getline(lines, line)) {
        ++lineNo;
        if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
        std::istringstream words(line);
        std::string w;
        while (words >> w) {
            auto r = parseTypeRule(w);
            if (!r) {
                r.error().file = file;
                r.error().message += " (line " + std::to_string(lineNo) + ")";
                return r.error();
            }
            rules.push_back(std::move(*r));
        }
    }
    return rules;
}

namespace {

bool requiresImatrixIn(Category cat, TensorType type, std::optional<Ftype> ftype) {
    if (cat == Category::TokenEmbd || cat == Category::Output) return false;
    switch (type) {
    case T::IQ3_XXS:
    case T::IQ2_XXS:
    case T::IQ2_XS:
    case T::IQ2_S:
    case T::IQ1_M:
    case T::IQ1_S: return true;
    case T::Q2_K: return ftype == Ftype::Q2_K_S;
    default: return false;
    }
}

}  // namespace

bool requiresImatrix(const model::TensorInfo& t, TensorType type, std::optional<Ftype> ftype) {
    return requiresImatrixIn(categoryOf(t), type, ftype);
}

std::vector<size_t> llamaTensorOrder(const model::Model& model) {
    // llama_model_loader's weight_name_comparer: layer from "blk.%d." (-1 otherwise), then name.
    const auto& ts = model.tensors();
    std::vector<size_t> order(ts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto layerOf = [&](size_t i) {
        const std::string& n = ts[i].name;
        if (!n.starts_with("blk.")) return -1;
        return ts[i].layer;
    };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const int la = layerOf(a), lb = layerOf(b);
        if (la != lb) return la < lb;
        return ts[a].name < ts[b].name;
    });
    return order;
}

uint64_t Plan::tensorBytes(const model::Model& m, size_t i) const {
    const auto& t = m.tensors()[i];
    return formats::byteSize(tensors[i].type, uint64_t(t.nElements)).value_or(t.nbytes);
}

uint64_t Plan::dataBytes(const model::Model& m) const {
    uint64_t total = 0;
    for (size_t i = 0; i < tensors.size(); ++i) total += tensorBytes(m, i);
    return total;
}

TensorChoice manualChoice(const model::TensorInfo& t, TensorType type) {
    TensorChoice c;
    c.quantizable = allowsQuantization(t);
    if (!c.quantizable) {
        c.type = c.requested = t.type;
        c.origin = Origin::Keep;
        return c;
    }
    c.requested = type;
    c.type = shapeFallback(type, t.rowLength());
    c.fellBack = c.type != c.requested;
    c.origin = Origin::Manual;
    c.requiresImatrix = requiresImatrix(t, c.type, std::nullopt);
    return c;
}

// ------------------------------------------------------------------------------------------
// The mixing rules: llama.cpp's llama_tensor_get_type_impl, rule for rule.
// ------------------------------------------------------------------------------------------
namespace {

struct MixState {
    const model::HParams& hp;
    const PlanOptions& opt;
    bool falcon = false;
    bool is70B = false;
    bool tiedEmbeddings = true;
    int nAttnV = 0;
    int nLayer = 0;
    int iAttnV = 0;
    int iFfnDown = 0;
    int iFfnGate = 0;
    int iFfnUp = 0;
    uint32_t nGqa() const { return hp.headCountKv ? hp.headCount / hp.headCountKv : 0; }
    uint32_t nExpert() const { return hp.expertCount; }
};

bool useMoreBits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// Layer index as llama.cpp's layer_info lambda takes it: the running counter for dense models,
// the "blk.N." number for MoE models.
int layerFor(const MixState& s, int counter, const model::TensorInfo& t) {
    return std::max(1u, s.nExpert()) > 1 ? std::max(0, t.layer) : counter;
}

TensorType mixType(MixState& s, TensorType t, const model::TensorInfo& info, Category cat) {
    const F ft = s.opt.ftype;
    const auto nGqa = s.nGqa();
    const auto nExpert = s.nExpert();
    const bool attnVLike =
        cat == Category::AttnV || cat == Category::AttnQkv || cat == Category::AttnKvB;

    if (cat == Category::Output || (s.tiedEmbeddings && cat == Category::TokenEmbd)) {
        if (s.opt.outputType) {
            t = *s.opt.outputType;
        } else {
            const int64_t nx = info.rowLength();
            const int64_t qk = formats::traits(t).blockSize;
            if (ft == F::MXFP4_MOE) {
                t = T::Q8_0;
            } else if (s.falcon || nx % qk != 0) {
                t = T::Q8_0;
            } else if (isOneOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ3_XXS, F::IQ1_S, F::IQ2_S, F::IQ2_M,
                                    F::IQ1_M})) {
                t = T::Q5_K;
            } else if (t != T::Q8_0) {
                t = T::Q6_K;
            }
        }
    } else if (ft == F::MXFP4_MOE) {
        t = (info.shape.size() > 2 && info.shape[2] > 1) ? T::MXFP4 : T::Q8_0;
    } else if (cat == Category::TokenEmbd) {
        if (s.opt.tokenEmbdType) {
            t = *s.opt.tokenEmbdType;
        } else if (isOneOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ1_M})) {
            t = T::Q2_K;
        } else if (isOneOf(ft, {F::IQ2_S, F::IQ2_M, F::IQ3_XXS})) {
            t = T::IQ3_S;
        } else if (isOneOf(ft, {F::TQ1_0, F::TQ2_0, F::Q2_0})) {
            t = T::Q4_K;
        }
    } else if (isOneOf(ft, {F::IQ2_XXS, F::IQ2_XS, F::IQ1_S, F::IQ2_S, F::IQ2_M, F::IQ1_M})) {
        if (attnVLike) {
            if (nGqa >= 4 || nExpert >= 4) {
                t = T::Q4_K;
            } else {
                t = isOneOf(ft, {F::IQ2_S, F::IQ2_M}) ? T::IQ3_S : T::Q2_K;
            }
            ++s.iAttnV;
        } else if (nExpert == 8 && cat == Category::AttnK) {
            t = T::Q4_K;
        } else if (cat == Category::FfnDown) {
            if (s.iFfnDown < s.nLayer / 8)
                t = isOneOf(ft, {F::IQ2_S, F::IQ2_M}) ? T::IQ3_S : T::Q2_K;
            ++s.iFfnDown;
        } else if (cat == Category::AttnOutput) {
            if (nExpert == 8) {
                t = T::Q5_K;
            } else if (isOneOf(ft, {F::IQ1_S, F::IQ1_M})) {
                t = T::IQ2_XXS;
            } else if (isOneOf(ft, {F::IQ2_S, F::IQ2_M})) {
                t = T::IQ3_S;
            }
        }
    } else if (attnVLike) {
        if (ft == F::Q2_K) {
            t = nGqa >= 4 ? T::Q4_K : T::Q3_K;
        } else if (ft == F::Q2_K_S && nGqa >= 4) {
            t = T::Q4_K;
        } else if (ft == F::IQ3_XXS) {
            t = nGqa >= 4 ? T::Q4_K : !s.opt.hasImatrix ? T::IQ3_S : T::IQ3_XXS;
        } else if (isOneOf(ft, {F::IQ3_XS, F::IQ3_S}) && nGqa >= 4) {
            t = T::Q4_K;
        } else if (ft == F::IQ3_M) {
            t = T::Q4_K;
        } else if (ft == F::Q3_K_M) {
            t = s.iAttnV < 2 ? T::Q5_K : T::Q4_K;
        } else if (ft == F::Q3_K_L) {
            t = T::Q5_K;
        } else if (isOneOf(ft, {F::IQ4_NL, F::IQ4_XS}) && nGqa >= 4) {
            t = T::Q5_K;
        } else if (isOneOf(ft, {F::Q4_K_M, F::Q5_K_M}) && useMoreBits(s.iAttnV, s.nAttnV)) {
            t = T::Q6_K;
        } else if (ft == F::Q4_K_S && s.iAttnV < 4) {
            t = T::Q5_K;
        }
        if (s.is70B && (t == T::Q3_K || t == T::Q4_K)) t = T::Q5_K;
        if (nExpert == 8) t = T::Q8_0;
        ++s.iAttnV;
    } else if (cat == Category::AttnK) {
        if (nExpert == 8) {
            t = T::Q8_0;
        } else if (ft == F::IQ3_XS) {
            t = T::IQ3_XXS;
        } else if (ft == F::IQ3_XXS) {
            t = T::IQ2_S;
        }
    } else if (cat == Category::AttnQ) {
        if (ft == F::IQ3_XS) {
            t = T::IQ3_XXS;
        } else if (ft == F::IQ3_XXS) {
            t = T::IQ2_S;
        }
    } else if (cat == Category::FfnDown) {
        const int i = layerFor(s, s.iFfnDown, info), n = s.nLayer;
        if (ft == F::Q2_K) {
            t = T::Q3_K;
        } else if (ft == F::Q2_K_S) {
            if (i < n / 8) t = T::Q4_K;
        } else if (ft == F::IQ3_XXS && !s.opt.hasImatrix) {
            t = i < n / 8 ? T::Q4_K : T::Q3_K;
        } else if (ft == F::Q3_K_M) {
            t = i < n / 16 ? T::Q5_K : !s.falcon || useMoreBits(i, n) ? T::Q4_K : T::Q3_K;
        } else if (ft == F::IQ3_M && (i < n / 8 || (nExpert == 8 && useMoreBits(i, n)))) {
            t = T::Q4_K;
        } else if (ft == F::Q3_K_L) {
            t = s.falcon ? T::Q4_K : T::Q5_K;
        } else if (ft == F::Q4_K_M) {
            if (s.falcon) {
                t = i < n / 16 ? T::Q6_K : useMoreBits(i, n) ? T::Q5_K : T::Q4_K;
            } else if (useMoreBits(i, n)) {
                t = T::Q6_K;
            }
        } else if (i < n / 8 && isOneOf(ft, {F::IQ4_NL, F::IQ4_XS}) && !s.opt.hasImatrix) {
            t = T::Q5_K;
        } else if (ft == F::Q5_K_M && useMoreBits(i, n)) {
            t = T::Q6_K;
        } else if (ft == F::Q4_K_S && !s.falcon && i < n / 8) {
            t = T::Q5_K;
        } else if (isOneOf(ft, {F::Q4_0, F::Q5_0}) && s.opt.hasImatrix && i < n / 8) {
            t = ft == F::Q4_0 ? T::Q4_1 : T::Q5_1;
        }
        ++s.iFfnDown;
    } else if (cat == Category::AttnOutput) {
        if (!s.falcon) {
            if (nExpert == 8) {
                if (isOneOf(ft, {F::Q2_K, F::IQ3_XS, F::IQ3_XXS, F::Q3_K_S, F::Q3_K_M, F::IQ4_NL,
                                 F::Q4_K_S, F::Q4_K_M, F::IQ3_S, F::IQ3_M, F::IQ4_XS})) {
                    t = T::Q5_K;
                }
            } else {
                if (ft == F::Q2_K) {
                    t = T::Q3_K;
                } else if (ft == F::IQ3_XXS) {
                    t = T::IQ3_S;
                } else if (ft == F::Q3_K_M) {
                    t = T::Q4_K;
                } else if (ft == F::Q3_K_L) {
                    t = T::Q5_K;
                } else if (ft == F::IQ3_M) {
                    t = T::Q4_K;
                }
            }
        } else if (ft == F::Q3_K_L) {
            t = T::Q4_K;
        }
    } else if (cat == Category::AttnQkv) {
        // Unreachable in llama.cpp (attn_qkv is attn_v-like above); kept for completeness.
    } else if (cat == Category::FfnGate) {
        const int i = layerFor(s, s.iFfnGate, info), n = s.nLayer;
        if (ft == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8) t = T::IQ3_XXS;
        ++s.iFfnGate;
    } else if (cat == Category::FfnUp) {
        const int i = layerFor(s, s.iFfnUp, info), n = s.nLayer;
        if (ft == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8) t = T::IQ3_XXS;
        ++s.iFfnUp;
    }
    return t;
}

}  // namespace

Plan buildPlan(const model::Model& model, const PlanOptions& options) {
    const auto& ts = model.tensors();
    Plan plan;
    plan.ftype = options.ftype;
    plan.tensors.resize(ts.size());

    MixState s{model.hparams(), options};
    s.falcon = model.hparams().architecture == "falcon";
    s.is70B = model.hparams().architecture == "llama" && model.hparams().blockCount == 80 &&
              model.hparams().headCount != model.hparams().headCountKv;
    s.nLayer = int(model.hparams().blockCount);
    // Each tensor's category once (substring tests of its name: a preset change of a 1,137-tensor
    // model asked for each three times).
    std::vector<Category> categories(ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto cat = categories[i] = categoryOf(ts[i]);
        if (cat == Category::AttnV || cat == Category::AttnQkv || cat == Category::AttnKvB)
            ++s.nAttnV;
        if (cat == Category::Output) s.tiedEmbeddings = false;
    }

    const TensorType defaultType = ftypeInfo(options.ftype).defaultType;
    const bool defaultQuantized = formats::traits(defaultType).quantized;

    for (size_t i : llamaTensorOrder(model)) {
        const auto& t = ts[i];
        TensorChoice& c = plan.tensors[i];
        const auto cat = categories[i];
        c.quantizable =
            allowsQuantization(t) && !(options.leaveOutputTensor && cat == Category::Output);
        if (!c.quantizable) {
            c.type = c.requested = t.type;
            c.origin = Origin::Keep;
            continue;
        }
        if (options.tokenEmbdType && cat == Category::TokenEmbd) {
            c.type = c.requested = *options.tokenEmbdType;
            c.origin = Origin::TokenEmbdType;
        } else if (options.outputType && cat == Category::Output) {
            c.type = c.requested = *options.outputType;
            c.origin = Origin::OutputType;
        } else {
            TensorType nt = defaultType;
            c.origin = Origin::Default;
            if (defaultQuantized) {
                bool manual = false;
                for (size_t r = 0; r < options.rules.size(); ++r) {
                    if (std::regex_search(t.name, options.rules[r].regex)) {
                        nt = options.rules[r].type;
                        c.origin = Origin::Rule;
                        c.rule = int(r);
                        manual = true;
                        break;
                    }
                }
                if (!manual && !options.pure) {
                    const TensorType mixed = mixType(s, nt, t, cat);
                    if (mixed != nt) c.origin = Origin::Mix;
                    nt = mixed;
                }
                c.requested = nt;
                nt = shapeFallback(nt, t.rowLength());
            } else {
                c.requested = nt;
            }
            c.type = nt;
        }
        c.fellBack = c.type != c.requested;
        c.requiresImatrix = requiresImatrixIn(cat, c.type, options.ftype);
    }
    return plan;
}

}  // namespace qs::quant
