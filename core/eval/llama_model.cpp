#include "eval/llama_model.h"

#include <algorithm>
#include <cmath>

#include "eval/arch_config.h"
#include "formats/decode.h"

namespace qs::eval {

namespace {

using formats::TensorType;
using model::ModelFormat;

// GGUF and HF names of one weight.
struct Names {
    std::string gguf, hf;
};

std::string blk(int l, const char* what) {
    return "blk." + std::to_string(l) + "." + what;
}
std::string hfl(int l, const char* what) {
    return "model.layers." + std::to_string(l) + "." + what;
}

const model::TensorInfo* findTensor(const model::Model& m, const Names& n) {
    const std::string& name = m.format() == ModelFormat::Gguf ? n.gguf : n.hf;
    const int64_t i = m.indexOf(name);
    return i < 0 ? nullptr : &m.tensors()[size_t(i)];
}

Error missing(const model::Model& m, const Names& n) {
    // "-": no Hugging Face name bound yet (the converter's names); the GGUF name is reported.
    const std::string& name = m.format() == ModelFormat::Gguf || n.hf == "-" ? n.gguf : n.hf;
    return makeError(ErrorCode::BadInput, "the forward pass needs this tensor and it is missing",
                     m.path(), kNoOffset, name);
}

// A view of rows [firstRow, firstRow + rows) of a tensor of `cols` x `totalRows` (a 3-D
// tensor [cols, r, e] counts r * e rows). `shape` is the expected ggml shape.
Result<WeightView> view(const model::Model& m, const model::TensorInfo* t,
                        const std::vector<int64_t>& shape, int64_t firstRow, int64_t rows) {
    if (t->shape != shape) {
        std::string want;
        for (size_t i = 0; i < shape.size(); ++i) {
            want += (i ? " x " : "") + std::to_string(shape[i]);
        }
        return makeError(ErrorCode::BadInput, "shape " + t->shapeString() + ", expected " + want,
                         m.path(), t->offset, t->name);
    }
    const int64_t cols = shape[0];
    int64_t totalRows = 1;
    for (size_t i = 1; i < shape.size(); ++i) totalRows *= shape[i];
    const auto& tr = formats::traits(t->type);
    if (!tr.decode || cols % tr.blockSize != 0) {
        return makeError(ErrorCode::BadInput,
                         "type " + std::string(tr.name) +
                             " cannot be evaluated (no decoder for "
                             "rows of " +
                             std::to_string(cols) + ")",
                         m.path(), t->offset, t->name);
    }
    WeightView v;
    v.name = t->name;
    v.type = t->type;
    v.data = m.tensorData(*t);
    if (t->source) {
        // A converted tensor (docs/CONVERT.md, "How the evaluator binds converted tensors").
        const auto& src = *t->source;
        const bool sameType =
            std::all_of(src.pieces.begin(), src.pieces.end(),
                        [t](const model::TensorPiece& p) { return p.type == t->type; });
        const int64_t pieces = int64_t(src.pieces.size());
        v.tensorFirstRow = firstRow;
        if (sameType && src.op == model::ValueOp::None && pieces == 1) {
            // One stored piece read in place through its row map (llama's q/k permutation).
            v.data = m.pieceData(src.pieces[0]);
            v.rowMap = src.rowMap;
        } else if (sameType && src.op == model::ValueOp::None && src.rowMap.empty() && pieces > 1 &&
                   totalRows % pieces == 0 && firstRow % (totalRows / pieces) == 0 &&
                   rows <= totalRows / pieces) {
            // Stacked experts: expert e's matrix is piece e, read in place from its shard.
            const int64_t perPiece = totalRows / pieces;
            v.data = m.pieceData(src.pieces[size_t(firstRow / perPiece)]);
            firstRow = 0;
            totalRows = perPiece;
        } else {
            // Retyped or shifted (a router stored BF16 and read as F32): small, made once.
            auto owned = std::make_shared<std::vector<uint8_t>>();
            std::vector<uint8_t> scratch;
            auto bytes = m.readTensor(*t, scratch);
            if (!bytes) return bytes.error();
            owned->assign(bytes->begin(), bytes->end());
            v.owned = owned;
            v.data = std::span<const uint8_t>(*owned);
        }
    }
    v.cols = cols;
    v.rows = rows;
    if (!t->source) v.tensorFirstRow = firstRow;
    v.firstRow = firstRow;
    v.rowBytes = uint64_t(cols / tr.blockSize) * tr.blockBytes;
    if (v.data.size() != v.rowBytes * uint64_t(totalRows)) {
        return makeError(ErrorCode::BadInput, "data size does not match the shape", m.path(),
                         t->offset, t->name);
    }
    return v;
}

Result<WeightView> matrix(const model::Model& m, const Names& n, int64_t cols, int64_t rows,
                          bool optional = false) {
    const model::TensorInfo* t = findTensor(m, n);
    if (!t) {
        if (optional) return WeightView{};
        return missing(m, n);
    }
    return view(m, t, {cols, rows}, 0, rows);
}

// A 1-D tensor (norm weight or bias) decoded to floats; empty when optional and absent.
Result<std::vector<float>> vector1(const model::Model& m, const Names& n, int64_t len,
                                   bool optional = false) {
    const model::TensorInfo* t = findTensor(m, n);
    if (!t) {
        if (optional) return std::vector<float>{};
        return missing(m, n);
    }
    if (t->nElements != len) {
        return makeError(
            ErrorCode::BadInput,
            "has " + std::to_string(t->nElements) + " values, expected " + std::to_string(len),
            m.path(), t->offset, t->name);
    }
    std::vector<uint8_t> scratch;
    auto bytes = m.readTensor(*t, scratch);
    if (!bytes) return bytes.error();
    return formats::decodeToFloat(t->type, *bytes, len, 1, 1, t->name);
}

// HF rotate_half row order -> GGUF interleaved order (undoes convert_hf_to_gguf's permute):
// within a head of hd rows, GGUF row 2i + j is HF row j * hd/2 + i.
std::vector<int32_t> hfRopeRowMap(int heads, int hd) {
    std::vector<int32_t> map(size_t(heads) * size_t(hd));
    for (int h = 0; h < heads; ++h) {
        for (int i = 0; i < hd / 2; ++i) {
            for (int j = 0; j < 2; ++j) {
                map[size_t(h * hd + 2 * i + j)] = int32_t(h * hd + j * (hd / 2) + i);
            }
        }
    }
    return map;
}

}  // namespace

Result<LlamaModel> LlamaModel::bind(const model::Model& model) {
    LlamaModel lm;
    lm.m_model = &model;
    auto cfg = detail::readConfig(model);
    if (!cfg) return cfg.error();
    lm.m_config = std::move(*cfg);
    LlamaConfig& c = lm.m_config;
    const std::string& arch = c.architecture;

    const bool hf = model.format() == ModelFormat::Safetensors;
    const model::TensorInfo* embd =
        findTensor(model, {"token_embd.weight", "model.embed_tokens.weight"});
    if (!embd) return missing(model, {"token_embd.weight", "model.embed_tokens.weight"});
    if (embd->shape.size() != 2) {
        return makeError(ErrorCode::BadInput, "token embedding is not a matrix", model.path(),
                         embd->offset, embd->name);
    }
    c.nVocab = int(embd->shape[1]);
    const int64_t E = c.nEmbd, F = c.nFf, V = c.nVocab, hd = c.headDim;
    const int64_t qDim = int64_t(c.nHead) * hd, kvDim = int64_t(c.nHeadKv) * hd;

    auto embdView = matrix(model, {"token_embd.weight", "model.embed_tokens.weight"}, E, V);
    if (!embdView) return embdView.error();
    lm.m_tokenEmbd = std::move(*embdView);
    // gemma2 always ties the output to token_embd (llama.cpp ignores an output.weight there).
    auto out = arch == "gemma2" ? Result<WeightView>(WeightView{})
                                : matrix(model, {"output.weight", "lm_head.weight"}, E, V, true);
    if (!out) return out.error();
    lm.m_tied = !out->present();
    lm.m_output = lm.m_tied ? lm.m_tokenEmbd : std::move(*out);
    auto onorm = vector1(model, {"output_norm.weight", "model.norm.weight"}, E);
    if (!onorm) return onorm.error();
    lm.m_outputNorm = std::move(*onorm);
    auto freqs = vector1(model, {"rope_freqs.weight", "rope_freqs.weight"}, c.ropeDim / 2, true);
    if (!freqs) return freqs.error();
    lm.m_ropeFreqs = std::move(*freqs);
    std::vector<float> ropeShort, ropeLong;
    if (arch == "phi3") {
        auto s = vector1(model, {"rope_factors_short.weight", "-"}, c.ropeDim / 2, true);
        if (!s) return s.error();
        auto l = vector1(model, {"rope_factors_long.weight", "-"}, c.ropeDim / 2, true);
        if (!l) return l.error();
        ropeShort = std::move(*s);
        ropeLong = std::move(*l);
    }

    const bool permuteQk = hf && !c.ropeNeox;
    for (int l = 0; l < c.nLayer; ++l) {
        LayerWeights L;
        auto vec = [&](const char* g, const char* h, int64_t len, bool opt,
                       std::vector<float>& dst) -> Status {
            auto r = vector1(model, {blk(l, g), hfl(l, h)}, len, opt);
            if (!r) return r.error();
            dst = std::move(*r);
            return {};
        };
        auto mat = [&](const char* g, const char* h, int64_t cols, int64_t rows,
                       WeightView& dst) -> Status {
            auto r = matrix(model, {blk(l, g), hfl(l, h)}, cols, rows);
            if (!r) return r.error();
            dst = std::move(*r);
            return {};
        };
        // Row ranges of one fused tensor [cols, sum(rows)].
        auto fused = [&](const char* g, int64_t cols,
                         std::initializer_list<std::pair<int64_t, WeightView*>> parts) -> Status {
            const Names n{blk(l, g), "-"};
            const model::TensorInfo* t = findTensor(model, n);
            if (!t) return missing(model, n);
            int64_t total = 0;
            for (const auto& pr : parts) total += pr.first;
            int64_t first = 0;
            for (const auto& [rows, dst] : parts) {
                auto r = view(model, t, {cols, total}, first, rows);
                if (!r) return r.error();
                *dst = std::move(*r);
                first += rows;
            }
            return {};
        };
        // One view per expert of a 3-D tensor [cols, rows, nExpert].
        auto experts = [&](const char* g, int64_t cols, int64_t rows,
                           std::vector<WeightView>& dst) -> Status {
            const Names n{blk(l, g), "-"};
            const model::TensorInfo* t = findTensor(model, n);
            if (!t) return missing(model, n);
            for (int e = 0; e < c.nExpert; ++e) {
                auto r = view(model, t, {cols, rows, c.nExpert}, int64_t(e) * rows, rows);
                if (!r) return r.error();
                dst.push_back(std::move(*r));
            }
            return {};
        };
        QS_TRY(vec("attn_norm.weight", "input_layernorm.weight", E, false, L.attnNorm));
        QS_TRY(vec("ffn_norm.weight", "post_attention_layernorm.weight", E, false, L.ffnNorm));
        QS_TRY(vec("attn_q.bias", "self_attn.q_proj.bias", qDim, true, L.bq));
        QS_TRY(vec("attn_k.bias", "self_attn.k_proj.bias", kvDim, true, L.bk));
        QS_TRY(vec("attn_v.bias", "self_attn.v_proj.bias", kvDim, true, L.bv));
        if (arch == "phi3") {
            QS_TRY(fused("attn_qkv.weight", E, {{qDim, &L.wq}, {kvDim, &L.wk}, {kvDim, &L.wv}}));
        } else {
            QS_TRY(mat("attn_q.weight", "self_attn.q_proj.weight", E, qDim, L.wq));
            QS_TRY(mat("attn_k.weight", "self_attn.k_proj.weight", E, kvDim, L.wk));
            QS_TRY(mat("attn_v.weight", "self_attn.v_proj.weight", E, kvDim, L.wv));
        }
        QS_TRY(mat("attn_output.weight", "self_attn.o_proj.weight", qDim, E, L.wo));
        const bool qkNorm = arch == "qwen3" || arch == "qwen3moe" || arch == "gemma3";
        if (qkNorm) {
            QS_TRY(vec("attn_q_norm.weight", "self_attn.q_norm.weight", hd, false, L.qNorm));
            QS_TRY(vec("attn_k_norm.weight", "self_attn.k_norm.weight", hd, false, L.kNorm));
        }
        if (arch == "gemma2" || arch == "gemma3") {
            QS_TRY(vec("post_attention_norm.weight", "-", E, false, L.postAttnNorm));
            QS_TRY(vec("post_ffw_norm.weight", "-", E, false, L.postFfnNorm));
        }
        if (c.nExpert > 0) {
            const int64_t Fe = c.nFfExp;
            QS_TRY(mat("ffn_gate_inp.weight", "-", E, c.nExpert, L.router));
            QS_TRY(experts("ffn_gate_exps.weight", E, Fe, L.gateExps));
            QS_TRY(experts("ffn_up_exps.weight", E, Fe, L.upExps));
            QS_TRY(experts("ffn_down_exps.weight", Fe, E, L.downExps));
        } else if (arch == "phi3") {
            QS_TRY(fused("ffn_up.weight", E, {{F, &L.wGate}, {F, &L.wUp}}));
            QS_TRY(mat("ffn_down.weight", "mlp.down_proj.weight", F, E, L.wDown));
        } else {
            QS_TRY(mat("ffn_gate.weight", "mlp.gate_proj.weight", E, F, L.wGate));
            QS_TRY(mat("ffn_up.weight", "mlp.up_proj.weight", E, F, L.wUp));
            QS_TRY(mat("ffn_down.weight", "mlp.down_proj.weight", F, E, L.wDown));
        }
        L.ropeShort = ropeShort;
        L.ropeLong = ropeLong;
        if (permuteQk) {
            L.wq.rowMap = hfRopeRowMap(c.nHead, int(hd));
            L.wk.rowMap = hfRopeRowMap(c.nHeadKv, int(hd));
            // The bias follows its rows.
            auto permute = [](std::vector<float>& b, const std::vector<int32_t>& map) {
                if (b.empty()) return;
                std::vector<float> o(b.size());
                for (size_t r = 0; r < map.size(); ++r) o[r] = b[size_t(map[r])];
                b = std::move(o);
            };
            permute(L.bq, L.wq.rowMap);
            permute(L.bk, L.wk.rowMap);
        }
        lm.m_layers.push_back(std::move(L));
    }
    return lm;
}

template <class F>
void LlamaModel::forEachView(F&& fn) const {
    fn(m_tokenEmbd);
    if (!m_tied) fn(m_output);
    for (const auto& L : m_layers) {
        for (const WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.router, &L.wGate, &L.wUp}) {
            if (v->present()) fn(*v);
        }
        for (size_t e = 0; e < L.gateExps.size(); ++e) {
            fn(L.gateExps[e]);
            fn(L.upExps[e]);
        }
        if (L.wDown.present()) fn(L.wDown);
        for (const WeightView& v : L.downExps) fn(v);
    }
}

std::vector<WeightView*> LlamaModel::viewsOf(const std::string& name) {
    std::vector<WeightView*> out;
    auto check = [&](const WeightView& v) {
        if (v.present() && v.name == name) out.push_back(const_cast<WeightView*>(&v));
    };
    forEachView(check);
    if (m_tied && m_output.name == name) out.push_back(&m_output);
    return out;
}

std::vector<size_t> LlamaModel::boundTensors() const {
    std::vector<size_t> out;
    forEachView([&](const WeightView& v) {
        // The MoE router stays F32 (llama.cpp never quantizes ffn_gate_inp): not a plan's or a
        // probe's tensor.
        if (v.name.find("ffn_gate_inp") != std::string::npos) {
            return;
        }
        const int64_t i = m_model->indexOf(v.name);
        if (i >= 0 && std::find(out.begin(), out.end(), size_t(i)) == out.end()) {
            out.push_back(size_t(i));
        }
    });
    return out;
}

uint64_t LlamaModel::weightBytes() const {
    uint64_t b = 0;
    std::vector<std::string> seen;
    forEachView([&](const WeightView& v) {
        if (std::find(seen.begin(), seen.end(), v.name) != seen.end()) return;
        seen.push_back(v.name);
        b += v.data.size();
    });
    return b;
}

Status LlamaModel::overrideWeight(size_t tensorIndex, formats::TensorType type,
                                  std::vector<uint8_t> bytes) {
    if (tensorIndex >= m_model->tensors().size()) {
        return makeError(ErrorCode::BadUsage,
                         "no tensor with index " + std::to_string(tensorIndex));
    }
    const std::string& name = m_model->tensors()[tensorIndex].name;
    auto views = viewsOf(name);
    if (views.empty()) {
        return makeError(ErrorCode::BadUsage, "not a matrix the forward pass uses", m_model->path(),
                         kNoOffset, name);
    }
    const auto& tr = formats::traits(type);
    // The whole source tensor (views may be row ranges or experts of it).
    const model::TensorInfo& ti = m_model->tensors()[tensorIndex];
    const int64_t cols = views[0]->cols, rows = ti.nElements / std::max<int64_t>(cols, 1);
    if (!tr.decode || cols % tr.blockSize != 0) {
        return makeError(ErrorCode::BadUsage,
                         "type " + std::string(tr.name) + " cannot be evaluated here",
                         m_model->path(), kNoOffset, name);
    }
    const uint64_t rowBytes = uint64_t(cols / tr.blockSize) * tr.blockBytes;
    if (bytes.size() != rowBytes * uint64_t(rows)) {
        return makeError(ErrorCode::BadUsage, "override has the wrong byte size", m_model->path(),
                         kNoOffset, name);
    }
    auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    m_owned.push_back(owned);
    for (WeightView* v : views) {
        v->type = type;
        v->data = std::span<const uint8_t>(*owned);
        v->rowBytes = rowBytes;
        // The override holds the whole tensor in its logical order (a converted tensor's rows
        // were read through its row map and pieces): index it as such.
        v->firstRow = v->tensorFirstRow;
        if (ti.source) v->rowMap.clear();
        v->owned.reset();
    }
    return {};
}

}  // namespace qs::eval
