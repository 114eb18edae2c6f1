#include "eval/llama_model.h"

#include <cmath>

#include "formats/decode.h"

namespace qs::eval {

namespace {

using formats::TensorType;
using model::ModelFormat;

// GGUF and HF names of one weight.
struct Names {
    std::string gguf, hf;
};

std::string blk(int l, const char* what) { return "blk." + std::to_string(l) + "." + what; }
std::string hfl(int l, const char* what) {
    return "model.layers." + std::to_string(l) + "." + what;
}

const model::TensorInfo* findTensor(const model::Model& m, const Names& n) {
    const std::string& name = m.format() == ModelFormat::Gguf ? n.gguf : n.hf;
    const int64_t i = m.indexOf(name);
    return i < 0 ? nullptr : &m.tensors()[size_t(i)];
}

Error missing(const model::Model& m, const Names& n) {
    const std::string& name = m.format() == ModelFormat::Gguf ? n.gguf : n.hf;
    return makeError(ErrorCode::BadInput, "the forward pass needs this tensor and it is missing",
                     m.path(), kNoOffset, name);
}

Result<WeightView> matrix(const model::Model& m, const Names& n, int64_t cols, int64_t rows,
                          bool optional = false) {
    const model::TensorInfo* t = findTensor(m, n);
    if (!t) {
        if (optional) return WeightView{};
        return missing(m, n);
    }
    if (t->shape.size() != 2 || t->shape[0] != cols || t->shape[1] != rows) {
        return makeError(ErrorCode::BadInput,
                         "shape " + t->shapeString() + ", expected " + std::to_string(cols) +
                             " x " + std::to_string(rows),
                         m.path(), t->offset, t->name);
    }
    const auto& tr = formats::traits(t->type);
    if (!tr.decode || cols % tr.blockSize != 0) {
        return makeError(ErrorCode::BadInput,
                         "type " + std::string(tr.name) + " cannot be evaluated (no decoder for "
                             "rows of " + std::to_string(cols) + ")",
                         m.path(), t->offset, t->name);
    }
    WeightView v;
    v.name = t->name;
    v.type = t->type;
    v.data = m.tensorData(*t);
    if (t->source) {
        // A converted tensor: one stored piece of the same type is read in place through its
        // row map (llama's q/k); other virtual tensors are not bound here yet.
        const auto& src = *t->source;
        if (src.pieces.size() != 1 || src.pieces[0].type != t->type ||
            src.op != model::ValueOp::None) {
            return makeError(ErrorCode::BadInput,
                             "converted tensor (stacked, retyped or shifted) cannot be evaluated",
                             m.path(), t->offset, t->name);
        }
        v.data = m.pieceData(src.pieces[0]);
        v.rowMap = src.rowMap;
    }
    v.cols = cols;
    v.rows = rows;
    v.rowBytes = uint64_t(cols / tr.blockSize) * tr.blockBytes;
    if (v.data.size() != v.rowBytes * uint64_t(rows)) {
        return makeError(ErrorCode::BadInput, "data size does not match the shape", m.path(),
                         t->offset, t->name);
    }
    return v;
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
        return makeError(ErrorCode::BadInput,
                         "has " + std::to_string(t->nElements) + " values, expected " +
                             std::to_string(len),
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

std::optional<double> number(const model::Model& m, const std::string& key) {
    const io::GgufValue* v = m.find(key);
    if (!v || v->isArray()) return std::nullopt;
    return v->asDouble();
}

} // namespace

Result<LlamaModel> LlamaModel::bind(const model::Model& model) {
    LlamaModel lm;
    lm.m_model = &model;
    LlamaConfig& c = lm.m_config;
    const model::HParams& hp = model.hparams();
    c.architecture = hp.architecture;
    if (c.architecture != "llama" && c.architecture != "mistral" && c.architecture != "qwen2") {
        return makeError(ErrorCode::BadInput,
                         "architecture '" + c.architecture +
                             "' is not supported by the evaluator yet (llama, mistral, qwen2)",
                         model.path());
    }
    c.ropeNeox = c.architecture == "qwen2";
    c.nLayer = int(hp.blockCount);
    c.nEmbd = int(hp.embeddingLength);
    c.nFf = int(hp.feedForwardLength);
    c.nHead = int(hp.headCount);
    c.nHeadKv = int(hp.headCountKv ? hp.headCountKv : hp.headCount);
    const std::string p = c.architecture + ".";
    if (hp.blockCount > 4096 || hp.embeddingLength > (1u << 20) ||
        hp.feedForwardLength > (1u << 22) || hp.headCount > 4096 || hp.headCountKv > 4096 ||
        c.nLayer <= 0 || c.nEmbd <= 0 || c.nFf <= 0 || c.nHead <= 0 || c.nHeadKv <= 0 ||
        c.nHead % c.nHeadKv != 0) {
        return makeError(ErrorCode::BadInput,
                         "hyper-parameters missing or inconsistent (block_count, "
                         "embedding_length, feed_forward_length, head_count, head_count_kv)",
                         model.path());
    }
    // Integers from metadata, range-checked before any conversion (a lying file must not reach
    // an out-of-range float-to-int cast).
    auto dim = [&](const std::string& key, int dflt) {
        const double v = number(model, key).value_or(double(dflt));
        return v >= 0 && v <= double(1 << 20) ? int(v) : -1;
    };
    c.headDim = dim(p + "attention.key_length", c.nEmbd / c.nHead);
    c.ropeDim = dim(p + "rope.dimension_count", c.headDim);
    c.ropeFreqBase = float(number(model, p + "rope.freq_base").value_or(10000.0));
    const double scale = number(model, p + "rope.scaling.factor").value_or(0.0);
    if (scale > 0) c.ropeFreqScale = float(1.0 / scale);
    c.rmsEps = float(number(model, p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
    if (!(c.ropeFreqBase > 0) || !std::isfinite(c.ropeFreqBase) || !(c.rmsEps >= 0) ||
        !std::isfinite(c.rmsEps) || !(c.ropeFreqScale > 0) || !std::isfinite(c.ropeFreqScale)) {
        return makeError(ErrorCode::BadInput, "rope.freq_base, rope.scaling.factor or "
                                              "layer_norm_rms_epsilon is not a usable number",
                         model.path());
    }
    if (c.headDim <= 0 || c.headDim % 2 != 0 || c.ropeDim <= 0 || c.ropeDim > c.headDim ||
        c.ropeDim % 2 != 0) {
        return makeError(ErrorCode::BadInput, "head or rope dimension is invalid", model.path());
    }

    const bool hf = model.format() == ModelFormat::Safetensors;
    const model::TensorInfo* embd =
        findTensor(model, {"token_embd.weight", "model.embed_tokens.weight"});
    if (!embd) return missing(model, {"token_embd.weight", "model.embed_tokens.weight"});
    if (embd->shape.size() != 2) {
        return makeError(ErrorCode::BadInput, "token embedding is not a matrix", model.path(),
                         embd->offset, embd->name);
    }
    c.nVocab = int(embd->shape[1]);
    const int64_t E = c.nEmbd, F = c.nFf, V = c.nVocab;
    const int64_t qDim = int64_t(c.nHead) * c.headDim, kvDim = int64_t(c.nHeadKv) * c.headDim;

    auto embdView = matrix(model, {"token_embd.weight", "model.embed_tokens.weight"}, E, V);
    if (!embdView) return embdView.error();
    lm.m_tokenEmbd = std::move(*embdView);
    auto out = matrix(model, {"output.weight", "lm_head.weight"}, E, V, true);
    if (!out) return out.error();
    lm.m_tied = !out->present();
    lm.m_output = lm.m_tied ? lm.m_tokenEmbd : std::move(*out);
    auto onorm = vector1(model, {"output_norm.weight", "model.norm.weight"}, E);
    if (!onorm) return onorm.error();
    lm.m_outputNorm = std::move(*onorm);
    auto freqs = vector1(model, {"rope_freqs.weight", "rope_freqs.weight"}, c.ropeDim / 2, true);
    if (!freqs) return freqs.error();
    lm.m_ropeFreqs = std::move(*freqs);

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
        QS_TRY(vec("attn_norm.weight", "input_layernorm.weight", E, false, L.attnNorm));
        QS_TRY(vec("ffn_norm.weight", "post_attention_layernorm.weight", E, false, L.ffnNorm));
        QS_TRY(vec("attn_q.bias", "self_attn.q_proj.bias", qDim, true, L.bq));
        QS_TRY(vec("attn_k.bias", "self_attn.k_proj.bias", kvDim, true, L.bk));
        QS_TRY(vec("attn_v.bias", "self_attn.v_proj.bias", kvDim, true, L.bv));
        QS_TRY(mat("attn_q.weight", "self_attn.q_proj.weight", E, qDim, L.wq));
        QS_TRY(mat("attn_k.weight", "self_attn.k_proj.weight", E, kvDim, L.wk));
        QS_TRY(mat("attn_v.weight", "self_attn.v_proj.weight", E, kvDim, L.wv));
        QS_TRY(mat("attn_output.weight", "self_attn.o_proj.weight", qDim, E, L.wo));
        QS_TRY(mat("ffn_gate.weight", "mlp.gate_proj.weight", E, F, L.wGate));
        QS_TRY(mat("ffn_up.weight", "mlp.up_proj.weight", E, F, L.wUp));
        QS_TRY(mat("ffn_down.weight", "mlp.down_proj.weight", F, E, L.wDown));
        if (permuteQk) {
            L.wq.rowMap = hfRopeRowMap(c.nHead, c.headDim);
            L.wk.rowMap = hfRopeRowMap(c.nHeadKv, c.headDim);
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

std::vector<WeightView*> LlamaModel::viewsOf(const std::string& name) {
    std::vector<WeightView*> out;
    auto check = [&](WeightView& v) {
        if (v.present() && v.name == name) out.push_back(&v);
    };
    check(m_tokenEmbd);
    check(m_output);
    for (auto& L : m_layers) {
        for (WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.wGate, &L.wUp, &L.wDown}) check(*v);
    }
    return out;
}

std::vector<size_t> LlamaModel::boundTensors() const {
    std::vector<size_t> out;
    auto add = [&](const WeightView& v) {
        const int64_t i = m_model->indexOf(v.name);
        if (i >= 0 && (out.empty() || out.back() != size_t(i))) out.push_back(size_t(i));
    };
    add(m_tokenEmbd);
    if (!m_tied) add(m_output);
    for (const auto& L : m_layers) {
        for (const WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.wGate, &L.wUp, &L.wDown}) {
            add(*v);
        }
    }
    return out;
}

uint64_t LlamaModel::weightBytes() const {
    uint64_t b = m_tokenEmbd.data.size() + (m_tied ? 0 : m_output.data.size());
    for (const auto& L : m_layers) {
        for (const WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.wGate, &L.wUp, &L.wDown}) {
            b += v->data.size();
        }
    }
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
    const int64_t cols = views[0]->cols, rows = views[0]->rows;
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
    }
    return {};
}

} // namespace qs::eval
