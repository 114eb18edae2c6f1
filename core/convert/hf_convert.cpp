// Hugging Face folder -> GGUF model description. The facts (names, shapes, metadata keys and
// their order, which tensors stay F32, the q/k permutation, expert stacking, Gemma's norm + 1,
// the llama3 rope_freqs values) follow llama.cpp's convert_hf_to_gguf.py and its conversion/
// modules (llama.py, qwen.py, gemma.py, phi.py, base.py); the code is our own.
#include "convert/hf_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "convert/hf_arch.h"
#include "convert/hf_tokenizer.h"
#include "formats/decode.h"
#include "io/model_loaders.h"

namespace qs::convert {

namespace fs = std::filesystem;
using json = nlohmann::json;
using formats::TensorType;
using io::GgufKv;
using io::GgufValue;
using model::TensorInfo;
using model::TensorPiece;
using model::TensorSource;
using namespace hf;

// Builds the converted Model (its Model::Parts, over the safetensors files).
struct ModelAssembler {
    static Result<model::Model> build(const fs::path& dir);
};

const std::vector<std::string>& supportedHfArchitectures() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> r;
        for (const auto& a : hf::archSpecs()) r.push_back(a.hf);
        return r;
    }();
    return v;
}

std::optional<fs::path> hfModelDir(const std::string& path) {
    std::error_code ec;
    const fs::path p(path);
    fs::path dir;
    if (fs::is_directory(p, ec)) {
        dir = p;
    } else {
        const std::string fn = p.filename().string();
        const bool weights =
            p.extension() == ".safetensors" || fn == "model.safetensors.index.json";
        if (!weights && fn != "config.json") return std::nullopt;
        dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    }
    if (!fs::exists(dir / "config.json", ec)) return std::nullopt;
    if (!fs::exists(dir / "model.safetensors", ec) &&
        !fs::exists(dir / "model.safetensors.index.json", ec)) {
        return std::nullopt;
    }
    return dir;
}

bool isSupportedHfModel(const fs::path& dir) {
    auto cfg = readJsonFile(dir / "config.json");
    if (!cfg) return false;
    return findArch(architectureOf(*cfg)) != nullptr;
}

Result<model::Model> convertHfModel(const fs::path& dir) {
    try {
        return ModelAssembler::build(dir);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, "out of memory converting the model", dir.string());
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("unexpected: ") + e.what(), dir.string());
    }
}

Result<model::Model> ModelAssembler::build(const fs::path& dir) {
    Config cfg;
    cfg.path = dir / "config.json";
    {
        auto j = readJsonFile(cfg.path);
        if (!j) return j.error();
        if (!j->is_object()) {
            return makeError(ErrorCode::BadInput, "config.json is not a JSON object",
                             cfg.path.string());
        }
        cfg.j = std::move(*j);
    }
    const std::string hfArch = architectureOf(cfg.j);
    const ArchSpec* arch = findArch(hfArch);
    if (!arch) {
        return makeError(ErrorCode::BadInput,
                         "architecture '" + (hfArch.empty() ? std::string("(none)") : hfArch) +
                             "' cannot be converted; supported: " + supportedList(),
                         cfg.path.string());
    }
    const std::string A = arch->gguf;
    const std::string P = A + ".";

    auto raw = io::loadSafetensorsModel(dir.string());
    if (!raw) return raw.error();

    auto nLayer_r = cfg.required("num_hidden_layers");
    if (!nLayer_r) return nLayer_r.error();
    const auto nLayer = *nLayer_r;
    auto nEmbd_r = cfg.required("hidden_size");
    if (!nEmbd_r) return nEmbd_r.error();
    const auto nEmbd = *nEmbd_r;
    auto nHead_r = cfg.required("num_attention_heads");
    if (!nHead_r) return nHead_r.error();
    const auto nHead = *nHead_r;
    const int64_t nHeadKv = cfg.integer({"num_key_value_heads"}).value_or(nHead);
    if (nHead == 0 || nHeadKv == 0 || nLayer == 0) {
        return makeError(ErrorCode::BadInput, "config.json: zero layers or heads",
                         cfg.path.string());
    }
    const auto headDimCfg = cfg.integer({"head_dim"});
    const int64_t headDim = headDimCfg.value_or(nEmbd / nHead);
    const int64_t nExperts = cfg.integer({"num_local_experts", "num_experts"}).value_or(0);
    const bool moe = A == "qwen3moe" || hfArch == "MixtralForCausalLM";
    if (moe && nExperts <= 0) {
        return makeError(ErrorCode::BadInput, "config.json: a MoE model needs num_local_experts",
                         cfg.path.string());
    }

    model::Model::Parts m;
    m.format = model::ModelFormat::Gguf;
    m.version = 3;
    m.path = dir.string();
    m.alignment = 32;
    m.dataOffset = 0;
    m.convertedFrom = hfArch;
    const auto& rawTensors = raw->tensors();

    auto shapeError = [&](const TensorInfo& t, const std::string& why) {
        return makeError(ErrorCode::BadInput,
                         "shape " + t.shapeString() + " disagrees with config.json: " + why,
                         raw->files()[t.fileIndex].path(), t.offset, t.name);
    };

    // Expected ggml shapes of the 2-D weights from config.json (0: do not check that dim).
    const int64_t nFf = cfg.integer({"intermediate_size"}).value_or(0);
    const int64_t nFfExp = cfg.integer({"moe_intermediate_size"}).value_or(nFf);
    const int64_t vocab = cfg.integer({"vocab_size"}).value_or(0);
    auto expected = [&](const std::string& g) -> std::vector<int64_t> {
        const std::string r = g.substr(g.find('.', 4) + 1);  // after "blk.N."
        if (g == "token_embd.weight" || g == "output.weight") return {nEmbd, vocab};
        if (g == "output_norm.weight") return {nEmbd};
        if (!g.starts_with("blk.")) return {};
        if (r == "attn_q.weight") return {nEmbd, nHead * headDim};
        if (r == "attn_k.weight" || r == "attn_v.weight") return {nEmbd, nHeadKv * headDim};
        if (r == "attn_output.weight") return {nHead * headDim, nEmbd};
        if (r == "attn_qkv.weight") return {nEmbd, (nHead + 2 * nHeadKv) * headDim};
        if (r == "attn_q_norm.weight" || r == "attn_k_norm.weight") return {headDim};
        if (r.ends_with("norm.weight")) return {nEmbd};
        if (r == "ffn_gate.weight") return {nEmbd, nFf};
        if (r == "ffn_up.weight") return {nEmbd, A == "phi3" ? 2 * nFf : nFf};
        if (r == "ffn_down.weight") return {nFf, nEmbd};
        if (r == "ffn_gate_inp.weight") return {nEmbd, nExperts};
        if (r == "ffn_gate_exps.weight" || r == "ffn_up_exps.weight") return {nEmbd, nFfExp};
        if (r == "ffn_down_exps.weight") return {nFfExp, nEmbd};
        return {};
    };
    auto checkShape = [&](const TensorInfo& src, const std::string& g) -> Status {
        const auto want = expected(g);
        if (want.empty()) return {};
        bool ok = want.size() == src.shape.size();
        for (size_t k = 0; ok && k < want.size(); ++k) {
            if (want[k] != 0 && want[k] != src.shape[k]) ok = false;
        }
        if (ok) return {};
        std::string w;
        for (size_t k = 0; k < want.size(); ++k) w += (k ? " x " : "") + std::to_string(want[k]);
        return shapeError(src, "expected " + w + " for " + g);
    };

    // Gemma3 drops embedding rows past the tokenizer's real vocabulary (gemma.py).
    int64_t gemmaVocab = -1;
    if (A == "gemma3") {
        std::error_code ec;
        if (fs::exists(dir / "tokenizer.json", ec)) {
            auto tj = readJsonFile(dir / "tokenizer.json");
            if (!tj) return tj.error();
            if (tj->contains("model") && (*tj)["model"].contains("vocab") &&
                (*tj)["model"]["vocab"].is_object() && tj->contains("added_tokens") &&
                (*tj)["added_tokens"].is_array()) {
                gemmaVocab = int64_t((*tj)["model"]["vocab"].size() + (*tj)["added_tokens"].size());
            }
        }
    }

    // Map, check and collect tensors; experts are gathered per stacked name.
    struct ExpertSet {
        std::map<int, size_t> byExpert;  // expert -> raw tensor index
        size_t firstOut = 0;             // position in the output list
    };
    std::map<std::string, ExpertSet> experts;
    std::vector<TensorInfo> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < rawTensors.size(); ++i) {
        const TensorInfo& t = rawTensors[i];
        int layer = -1, expert = -1;
        auto g = ggufName(*arch, t.name, layer, expert);
        if (!g) {
            return makeError(ErrorCode::BadInput,
                             "tensor not known for " + hfArch + ": cannot map it to a GGUF name",
                             raw->files()[t.fileIndex].path(), t.offset, t.name);
        }
        if (g->empty()) continue;
        if (layer >= nLayer) {
            return makeError(ErrorCode::BadInput,
                             "layer " + std::to_string(layer) + " but config.json says " +
                                 std::to_string(nLayer) + " layers",
                             raw->files()[t.fileIndex].path(), t.offset, t.name);
        }
        if (expert >= 0) {
            if (!moe || expert >= nExperts) {
                return makeError(ErrorCode::BadInput,
                                 "expert " + std::to_string(expert) + " but config.json has " +
                                     std::to_string(nExperts) + " experts",
                                 raw->files()[t.fileIndex].path(), t.offset, t.name);
            }
            QS_TRY(checkShape(t, *g));
            auto [it, fresh] = experts.try_emplace(*g);
            if (fresh) {
                it->second.firstOut = out.size();
                TensorInfo placeholder;
                placeholder.name = *g;
                out.push_back(std::move(placeholder));
            }
            it->second.byExpert[expert] = i;
            continue;
        }
        if (!seen.insert(*g).second) {
            return makeError(ErrorCode::BadInput, "two tensors map to " + *g,
                             raw->files()[t.fileIndex].path(), t.offset, t.name);
        }
        TensorInfo o = t;  // the plain view: file, offset, bytes
        o.name = *g;
        if (*g == "token_embd.weight" && gemmaVocab > 0 && gemmaVocab < t.shape[1]) {
            o.shape[1] = gemmaVocab;
            o.nElements = o.shape[0] * gemmaVocab;
            o.nbytes = formats::byteSize(t.type, uint64_t(o.nElements)).value_or(0);
        }
        QS_TRY(checkShape(o, *g));
        const TensorType vt = viewType(o.name, o.shape.size(), t.type);
        const bool normShift = arch->gemmaNorm && t.name.ends_with("norm.weight");
        const bool permute = arch->permuteQk && (t.name.ends_with("self_attn.q_proj.weight") ||
                                                 t.name.ends_with("self_attn.k_proj.weight") ||
                                                 t.name.ends_with("self_attn.q_proj.bias") ||
                                                 t.name.ends_with("self_attn.k_proj.bias"));
        const int64_t permHeads = t.name.find("q_proj") != std::string::npos ? nHead : nHeadKv;
        if (o.shape.size() == 1 && permute) {
            // A permuted bias: small, so made once into an owned F32 buffer.
            if (o.shape[0] % (2 * permHeads) != 0) {
                return shapeError(t, "values not divisible into " + std::to_string(permHeads) +
                                         " heads of even size");
            }
            auto vals =
                formats::decodeToFloat(t.type, raw->tensorData(t), o.shape[0], 1, 1, t.name);
            if (!vals) return vals.error();
            const auto map = ropeRowMap(o.shape[0], permHeads);
            std::vector<uint8_t> buf(size_t(o.shape[0]) * 4);
            for (size_t k = 0; k < map.size(); ++k) {
                std::memcpy(buf.data() + 4 * k, &(*vals)[size_t(map[k])], 4);
            }
            auto src = std::make_shared<TensorSource>();
            src->pieces.push_back(
                {-1, int32_t(m.buffers.size()), 0, buf.size(), TensorType::F32, 1});
            m.buffers.push_back(std::move(buf));
            o.type = TensorType::F32;
            o.nbytes = uint64_t(o.shape[0]) * 4;
            o.source = std::move(src);
        } else if (vt != t.type || normShift || permute) {
            if (permute && (o.shape.size() != 2 || o.shape[1] % (2 * permHeads) != 0)) {
                return shapeError(t, "rows not divisible into " + std::to_string(permHeads) +
                                         " heads of even size");
            }
            auto src = std::make_shared<TensorSource>();
            src->pieces.push_back(
                {int32_t(t.fileIndex), -1, t.offset, o.nbytes, t.type, o.rowCount()});
            if (permute) src->rowMap = ropeRowMap(o.rowCount(), permHeads);
            if (normShift) src->op = model::ValueOp::AddOne;
            o.type = vt;
            o.nbytes = formats::byteSize(vt, uint64_t(o.nElements)).value_or(0);
            o.source = std::move(src);
        }
        out.push_back(std::move(o));
    }
    // Stack the experts: [n_embd, n_ff, n_expert] from n_expert pieces of [n_embd, n_ff].
    for (auto& [name, set] : experts) {
        if (int64_t(set.byExpert.size()) != nExperts) {
            return makeError(ErrorCode::BadInput,
                             name + ": " + std::to_string(set.byExpert.size()) + " of " +
                                 std::to_string(nExperts) + " experts present",
                             raw->path());
        }
        const TensorInfo& first = rawTensors[set.byExpert.begin()->second];
        auto src = std::make_shared<TensorSource>();
        for (const auto& [e, idx] : set.byExpert) {
            const TensorInfo& t = rawTensors[idx];
            if (t.shape != first.shape || t.type != first.type) {
                return makeError(ErrorCode::BadInput,
                                 "expert tensors of " + name + " differ in shape or type",
                                 raw->files()[t.fileIndex].path(), t.offset, t.name);
            }
            src->pieces.push_back(
                {int32_t(t.fileIndex), -1, t.offset, t.nbytes, t.type, t.rowCount()});
        }
        TensorInfo& o = out[set.firstOut];
        o.shape = {first.shape[0], first.shape[1], nExperts};
        o.nElements = first.nElements * nExperts;
        o.type = viewType(name, 3, first.type);
        o.nbytes = formats::byteSize(o.type, uint64_t(o.nElements)).value_or(0);
        o.fileIndex = first.fileIndex;
        o.offset = first.offset;
        o.source = std::move(src);
    }
    // Every layer needs its attention: a missing tensor is a truncated or wrong checkpoint.
    for (int64_t l = 0; l < nLayer; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        if (!seen.count(b + "attn_q.weight") && !seen.count(b + "attn_qkv.weight")) {
            return makeError(ErrorCode::BadInput,
                             "layer " + std::to_string(l) + " of " + std::to_string(nLayer) +
                                 " has no attention weights (model.layers." + std::to_string(l) +
                                 ".self_attn.*)",
                             raw->path());
        }
    }
    if (!seen.count("token_embd.weight")) {
        return makeError(ErrorCode::BadInput, "no model.embed_tokens.weight", raw->path());
    }

    // Generated tensors, first as llama.cpp writes them.
    std::vector<TensorInfo> extra;
    auto addGenerated = [&](const std::string& name, const std::vector<float>& v) {
        std::vector<uint8_t> buf(v.size() * 4);
        std::memcpy(buf.data(), v.data(), buf.size());
        TensorInfo t;
        t.name = name;
        t.shape = {int64_t(v.size())};
        t.type = TensorType::F32;
        t.nElements = int64_t(v.size());
        t.nbytes = buf.size();
        auto src = std::make_shared<TensorSource>();
        src->pieces.push_back({-1, int32_t(m.buffers.size()), 0, buf.size(), TensorType::F32, 1});
        m.buffers.push_back(std::move(buf));
        t.source = std::move(src);
        extra.push_back(std::move(t));
    };

    // rope parameters as TextModel mirrors them.
    json rope = json::object();
    if (const json* r = cfg.get({"rope_parameters", "rope_scaling"}); r && r->is_object())
        rope = *r;
    const auto ropeTheta = cfg.number({"global_rope_theta", "rope_global_theta",
                                       "rope_theta_global", "rope_theta", "rotary_emb_base"});
    const auto localTheta = cfg.number({"local_rope_theta", "rope_local_theta", "rope_theta_local",
                                        "swa_rope_theta", "rope_local_base_freq"});
    const auto origMaxPos = cfg.integer({"original_max_position_embeddings"});
    if (!rope.contains("full_attention") && !rope.contains("sliding_attention")) {
        if (localTheta) rope["sliding_attention"] = {{"rope_theta", *localTheta}};
        if (!rope.contains("rope_theta") && ropeTheta) rope["rope_theta"] = *ropeTheta;
        if (!rope.contains("rope_type") && rope.contains("type")) rope["rope_type"] = rope["type"];
        if (!rope.contains("original_max_position_embeddings") && origMaxPos) {
            rope["original_max_position_embeddings"] = *origMaxPos;
        }
    }
    const json ropeFull = rope.contains("full_attention") ? rope["full_attention"] : rope;
    const std::string ropeType = ropeFull.contains("rope_type") && ropeFull["rope_type"].is_string()
                                     ? ropeFull["rope_type"].get<std::string>()
                                     : std::string();
    auto lower = [](std::string s) {
        for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
        return s;
    };
    if (A == "llama" && lower(ropeType) == "llama3") {
        const double base = ropeFull.contains("rope_theta") && ropeFull["rope_theta"].is_number()
                                ? ropeFull["rope_theta"].get<double>()
                                : 10000.0;
        addGenerated("rope_freqs.weight", llama3RopeFactors(ropeFull, base, headDim));
    }
    std::optional<float> phiAttnFactor;
    if (A == "phi3") {
        if (!rope.contains("original_max_position_embeddings")) {
            return makeError(ErrorCode::BadInput,
                             "config.json: Phi3 needs original_max_position_embeddings",
                             cfg.path.string());
        }
        if (rope.contains("long_factor") && rope["long_factor"].is_array() &&
            !rope["long_factor"].empty()) {
            const double maxPos =
                double(cfg.integer({"n_positions", "max_position_embeddings"}).value_or(0));
            const double orig = rope["original_max_position_embeddings"].get<double>();
            const double scale = maxPos / orig;
            const std::string t = lower(ropeType);
            if (t == "su" || t == "longrope") {
                phiAttnFactor =
                    float(scale > 1.0 ? std::sqrt(1 + std::log(scale) / std::log(orig)) : 1.0);
            } else if (t == "yarn") {
                phiAttnFactor = float(scale > 1.0 ? 0.1 * std::log(scale) + 1.0 : 1.0);
            } else {
                return makeError(ErrorCode::BadInput,
                                 "config.json: Phi3 rope scaling type '" + t + "' is not supported",
                                 cfg.path.string());
            }
            auto floats = [&](const char* k) -> Result<std::vector<float>> {
                if (!rope.contains(k) || !rope[k].is_array()) {
                    return makeError(ErrorCode::BadInput,
                                     std::string("config.json: rope_scaling needs ") + k,
                                     cfg.path.string());
                }
                std::vector<float> v;
                for (const auto& x : rope[k]) v.push_back(x.is_number() ? x.get<float>() : 0.0f);
                return v;
            };
            auto longF_r = floats("long_factor");
            if (!longF_r) return longF_r.error();
            const auto longF = *longF_r;
            auto shortF_r = floats("short_factor");
            if (!shortF_r) return shortF_r.error();
            const auto shortF = *shortF_r;
            const double partial = rope.contains("partial_rotary_factor")
                                       ? rope["partial_rotary_factor"].get<double>()
                                       : 1.0;
            const int64_t ropeDims = int64_t(partial * double(nEmbd)) / nHead;
            if (longF.size() != shortF.size() || int64_t(longF.size()) * 2 != ropeDims) {
                return makeError(ErrorCode::BadInput,
                                 "config.json: rope long/short factors must have " +
                                     std::to_string(ropeDims / 2) + " values",
                                 cfg.path.string());
            }
            addGenerated("rope_factors_long.weight", longF);
            addGenerated("rope_factors_short.weight", shortF);
        }
    }
    out.insert(out.begin(), std::make_move_iterator(extra.begin()),
               std::make_move_iterator(extra.end()));

    // ---- metadata, in llama.cpp's order ----
    auto& md = m.metadata;
    auto set = [&](const std::string& key, GgufValue v) {
        for (auto& kv : md) {
            if (kv.key == key) {
                kv.value = std::move(v);
                return;
            }
        }
        md.push_back({key, std::move(v)});
    };
    auto u32 = [](int64_t v) { return GgufValue::u32(uint32_t(v)); };
    auto f32 = [](double v) { return GgufValue::f32(float(v)); };
    set("general.architecture", GgufValue::string(A));
    set("general.type", GgufValue::string("model"));
    set("general.name",
        GgufValue::string(
            fs::absolute(dir).lexically_normal().filename().string().empty()
                ? fs::absolute(dir).lexically_normal().parent_path().filename().string()
                : fs::absolute(dir).lexically_normal().filename().string()));
    {
        // Parameter count as gguf-py counts it (experts per expert for the size label).
        int64_t total = 0, shared = 0, expertParams = 0, expertSum = 0, expertTensors = 0;
        for (const auto& t : out) {
            total += t.nElements;
            if (t.name.find("_exps.") != std::string::npos && t.shape.size() >= 3) {
                const int64_t e = t.shape[2];
                expertParams += t.nElements / e;
                expertSum += e;
                ++expertTensors;
            } else {
                shared += t.nElements;
            }
        }
        const int64_t eCount = expertTensors ? expertSum / expertTensors : 0;
        const std::string label =
            eCount > 0 ? std::to_string(eCount) + "x" + roundedCount(double(shared + expertParams))
                       : roundedCount(double(total));
        if (total > 0) set("general.size_label", GgufValue::string(label));
    }
    if (const std::string lic = cardLicense(dir); !lic.empty()) {
        set("general.license", GgufValue::string(lic));
    }

    // File type of this view: what `--outtype auto` gives (see resolveOutType).
    TensorType firstType = TensorType::F32;
    for (const auto& t : rawTensors) {
        if (t.shape.size() >= 2) {
            firstType = t.type;
            break;
        }
    }
    const uint32_t viewFileType = firstType == TensorType::BF16  ? 32u
                                  : firstType == TensorType::F16 ? 1u
                                                                 : 0u;

    const auto ctx = cfg.integer({"max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                  "max_sequence_length", "model_max_length"});
    const auto rmsEps = cfg.number({"rms_norm_eps", "norm_eps"});
    if (A == "gemma2") {
        for (const char* k :
             {"max_position_embeddings", "intermediate_size", "rms_norm_eps", "head_dim",
              "attn_logit_softcapping", "final_logit_softcapping", "sliding_window"}) {
            if (!cfg.get({k}) || !cfg.get({k})->is_number()) {
                return makeError(ErrorCode::BadInput,
                                 std::string("config.json: Gemma2 needs \"") + k + "\"",
                                 cfg.path.string());
            }
        }
        set(P + "context_length", u32(*cfg.integer({"max_position_embeddings"})));
        set(P + "embedding_length", u32(nEmbd));
        set(P + "block_count", u32(nLayer));
        set(P + "feed_forward_length", u32(nFf));
        set(P + "attention.head_count", u32(nHead));
        set(P + "attention.head_count_kv", u32(nHeadKv));
        set(P + "attention.layer_norm_rms_epsilon", f32(*rmsEps));
        set(P + "attention.key_length", u32(headDim));
        set(P + "attention.value_length", u32(headDim));
        set("general.file_type", u32(viewFileType));
        set(P + "attn_logit_softcapping", f32(*cfg.number({"attn_logit_softcapping"})));
        set(P + "final_logit_softcapping", f32(*cfg.number({"final_logit_softcapping"})));
        set(P + "attention.sliding_window", u32(*cfg.integer({"sliding_window"})));
    } else if (A == "phi3") {
        if (!ctx || !rmsEps || !ropeFull.contains("rope_theta")) {
            return makeError(ErrorCode::BadInput,
                             "config.json: Phi3 needs max_position_embeddings, rms_norm_eps and "
                             "rope_theta",
                             cfg.path.string());
        }
        const double partial =
            rope.contains("partial_rotary_factor") && rope["partial_rotary_factor"].is_number()
                ? rope["partial_rotary_factor"].get<double>()
                : 1.0;
        set(P + "context_length", u32(*cfg.integer({"n_positions", "max_position_embeddings"})));
        set(P + "rope.scaling.original_context_length",
            u32(rope["original_max_position_embeddings"].get<int64_t>()));
        set(P + "embedding_length", u32(nEmbd));
        set(P + "feed_forward_length", u32(nFf));
        set(P + "block_count", u32(nLayer));
        set(P + "attention.head_count", u32(nHead));
        set(P + "attention.head_count_kv", u32(nHeadKv));
        set(P + "attention.layer_norm_rms_epsilon", f32(*rmsEps));
        set(P + "rope.dimension_count", u32(int64_t(partial * double(nEmbd)) / nHead));
        set(P + "rope.freq_base", f32(ropeFull["rope_theta"].get<double>()));
        set("general.file_type", u32(viewFileType));
        set(P + "attention.sliding_window", u32(cfg.integer({"sliding_window"}).value_or(0)));
        if (phiAttnFactor) set(P + "rope.scaling.attn_factor", f32(*phiAttnFactor));
    } else {
        // TextModel.set_gguf_parameters
        set(P + "block_count", u32(nLayer));
        if (ctx) set(P + "context_length", u32(*ctx));
        set(P + "embedding_length", u32(nEmbd));
        if (auto ff = cfg.integer({"prefix_dense_intermediate_size", "dense_intermediate_size",
                                   "intermediate_size", "n_inner", "hidden_dim"})) {
            set(P + "feed_forward_length", u32(*ff));
        }
        set(P + "attention.head_count", u32(nHead));
        if (cfg.integer({"num_key_value_heads", "n_kv_heads"})) {
            set(P + "attention.head_count_kv", u32(nHeadKv));
        }
        const std::string rt = lower(ropeType);
        const bool hasFactor = ropeFull.contains("factor") && ropeFull["factor"].is_number();
        if (rt == "linear" && hasFactor) {
            set(P + "rope.scaling.type", GgufValue::string("linear"));
            set(P + "rope.scaling.factor", f32(ropeFull["factor"].get<double>()));
        } else if (rt == "yarn" && hasFactor) {
            set(P + "rope.scaling.type", GgufValue::string("yarn"));
            set(P + "rope.scaling.factor", f32(ropeFull["factor"].get<double>()));
            if (ropeFull.contains("original_max_position_embeddings")) {
                set(P + "rope.scaling.original_context_length",
                    u32(ropeFull["original_max_position_embeddings"].get<int64_t>()));
            }
        } else if (rt == "su" || rt == "longrope") {
            set(P + "rope.scaling.type", GgufValue::string("longrope"));
        }
        if (ropeFull.contains("rope_theta") && ropeFull["rope_theta"].is_number()) {
            set(P + "rope.freq_base", f32(ropeFull["rope_theta"].get<double>()));
        }
        if (rope.contains("sliding_attention") && rope["sliding_attention"].is_object() &&
            rope["sliding_attention"].contains("rope_theta")) {
            set(P + "rope.freq_base_swa",
                f32(rope["sliding_attention"]["rope_theta"].get<double>()));
        }
        if (rmsEps) set(P + "attention.layer_norm_rms_epsilon", f32(*rmsEps));
        if (auto eps = cfg.number({"layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"})) {
            set(P + "attention.layer_norm_epsilon", f32(*eps));
        }
        if (auto e = cfg.integer({"num_local_experts", "num_experts", "n_routed_experts"})) {
            set(P + "expert_count", u32(*e));
        }
        if (auto e =
                cfg.integer({"num_experts_per_tok", "num_experts_per_token", "top_k_experts"})) {
            set(P + "expert_used_count", u32(*e));
        }
        if (headDimCfg) {
            set(P + "attention.key_length", u32(*headDimCfg));
            set(P + "attention.value_length", u32(*headDimCfg));
        }
        set("general.file_type", u32(viewFileType));
        if (A == "llama") {
            set(P + "vocab_size", u32(vocab));
            set(P + "rope.dimension_count", u32(headDim));
        } else if (A == "qwen3moe") {
            if (auto v = cfg.integer({"moe_intermediate_size"})) {
                set(P + "expert_feed_forward_length", u32(*v));
            }
            if (auto v = cfg.integer({"shared_expert_intermediate_size"})) {
                set(P + "expert_shared_feed_forward_length", u32(*v));
            }
        } else if (A == "gemma3") {
            set(P + "context_length",
                u32(cfg.integer({"max_position_embeddings"}).value_or(131072)));
            set(P + "attention.head_count", u32(nHead));
            set(P + "attention.layer_norm_rms_epsilon", f32(rmsEps.value_or(1e-6)));
            set(P + "attention.key_length", u32(headDimCfg.value_or(256)));
            set(P + "attention.value_length", u32(headDimCfg.value_or(256)));
            set(P + "rope.freq_base",
                f32(ropeFull.contains("rope_theta") && ropeFull["rope_theta"].is_number()
                        ? ropeFull["rope_theta"].get<double>()
                        : 1000000.0));
            if (auto fc = cfg.number({"final_logit_softcapping"}); fc && *fc != 0.0) {
                set(P + "final_logit_softcapping", f32(*fc));
            }
            const json* swp = cfg.get({"sliding_window_pattern"});
            if (!(swp && swp->is_number() && swp->get<double>() == 1.0)) {
                if (auto sw = cfg.integer({"sliding_window"})) {
                    set(P + "attention.sliding_window", u32(*sw));
                }
            }
            set(P + "attention.head_count_kv",
                u32(cfg.integer({"num_key_value_heads"}).value_or(4)));
        }
    }
    set("general.quantization_version", u32(2));

    // The tokenizer.
    int64_t embdRows = vocab;
    for (const auto& t : out) {
        if (t.name == "token_embd.weight" && t.shape.size() == 2) embdRows = t.shape[1];
    }
    auto tok = readHfTokenizer(dir.string(), A, embdRows);
    if (!tok) return tok.error();
    for (auto& kv : tok->kvs) set(kv.key, std::move(kv.value));
    m.conversionNotes = tok->notes;
    if (!tok->hasVocab && m.conversionNotes.empty()) {
        m.conversionNotes.push_back(dir.string() +
                                    ": no tokenizer converted: written without a vocabulary");
    }
    if (A == "gemma2" || (A == "gemma3" && fs::exists(dir / "tokenizer.model"))) {
        if (tok->hasVocab) set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(false));
    }

    m.tensors = std::move(out);
    m.files = std::move(*raw).intoParts().files;
    return model::Model::fromParts(std::move(m));
}

std::optional<OutType> parseOutType(std::string_view s) {
    if (s == "f32") return OutType::F32;
    if (s == "f16") return OutType::F16;
    if (s == "bf16") return OutType::BF16;
    if (s == "auto") return OutType::Auto;
    return std::nullopt;
}

OutType resolveOutType(const model::Model& converted, OutType o) {
    if (o != OutType::Auto) return o;
    if (const auto* ft = converted.find("general.file_type"); ft && ft->asUInt()) {
        if (*ft->asUInt() == 32) return OutType::BF16;
    }
    return OutType::F16;
}

TensorType convertedType(const TensorInfo& t, OutType resolved) {
    if (forcedF32(t.name, t.shape.size())) return TensorType::F32;
    switch (resolved) {
    case OutType::F32: return TensorType::F32;
    case OutType::BF16: return TensorType::BF16;
    case OutType::F16:
    case OutType::Auto: return TensorType::F16;
    }
    return TensorType::F16;
}

uint32_t fileTypeOf(OutType resolved) {
    switch (resolved) {
    case OutType::F32: return 0;
    case OutType::BF16: return 32;
    case OutType::F16:
    case OutType::Auto: return 1;
    }
    return 1;
}

}  // namespace qs::convert
