#include "eval/plan_eval.h"

#include <algorithm>

namespace qs::eval {

namespace {

// Quantize tensor `index` to `type` (after the shape fallback) into `lm`; a type equal to the
// source type keeps the mapped bytes.
Status quantizeInto(LlamaModel& lm, const model::Model& model, size_t index,
                    formats::TensorType type, const quant::QuantizeOptions& qopts) {
    const model::TensorInfo& t = model.tensors()[index];
    if (type == t.type) return {};
    quant::QuantizeOptions o = qopts;
    o.metrics = false;
    std::vector<uint8_t> bytes;
    auto r = quant::quantizeTensor(model, index, type, o, &bytes);
    if (!r) return r.error();
    return lm.overrideWeight(index, type, std::move(bytes));
}

Result<ProbeResult> probeOne(const model::Model& model, const std::vector<size_t>& indices,
                             formats::TensorType type, std::string name,
                             std::span<const int32_t> tokens, const ReferenceCache& reference,
                             const EvalOptions& options) {
    auto lm = LlamaModel::bind(model);
    if (!lm) return lm.error();
    quant::QuantizeOptions qo;
    qo.threads = options.forward.threads;
    qo.cancel = options.forward.cancel;
    for (size_t i : indices) {
        const model::TensorInfo& t = model.tensors()[i];
        QS_TRY(quantizeInto(*lm, model, i, quant::shapeFallback(type, t.rowLength()), qo));
    }
    auto r = evaluate(*lm, tokens, options, &reference);
    if (!r) return r.error();
    ProbeResult p;
    p.name = std::move(name);
    p.type = type;
    p.klMean = r->klMean;
    p.klP99 = r->klP99;
    p.top1Agreement = r->top1Agreement;
    p.perplexity = r->perplexity;
    return p;
}

void sortByKl(std::vector<ProbeResult>& v) {
    std::stable_sort(v.begin(), v.end(),
                     [](const ProbeResult& a, const ProbeResult& b) { return a.klMean > b.klMean; });
}

} // namespace

Result<LlamaModel> bindWithPlan(const model::Model& model, const quant::Plan& plan,
                                const quant::QuantizeOptions& qopts) {
    if (plan.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the plan was made for another model", model.path());
    }
    auto lm = LlamaModel::bind(model);
    if (!lm) return lm.error();
    for (size_t i : lm->boundTensors()) {
        QS_TRY(quantizeInto(*lm, model, i, plan.tensors[i].type, qopts));
    }
    return lm;
}

Result<std::vector<ProbeResult>> probeTensors(const model::Model& model,
                                              const std::vector<size_t>& tensorIndices,
                                              formats::TensorType type,
                                              std::span<const int32_t> tokens,
                                              const ReferenceCache& reference,
                                              const EvalOptions& options) {
    std::vector<ProbeResult> out;
    for (size_t i : tensorIndices) {
        if (i >= model.tensors().size()) {
            return makeError(ErrorCode::BadUsage, "no tensor with index " + std::to_string(i));
        }
        auto r = probeOne(model, {i}, type, model.tensors()[i].name, tokens, reference, options);
        if (!r) return r.error();
        out.push_back(std::move(*r));
    }
    sortByKl(out);
    return out;
}

Result<std::vector<ProbeResult>> probeLayers(const model::Model& model, formats::TensorType type,
                                             std::span<const int32_t> tokens,
                                             const ReferenceCache& reference,
                                             const EvalOptions& options) {
    auto lm = LlamaModel::bind(model);
    if (!lm) return lm.error();
    std::vector<ProbeResult> out;
    for (int l = 0; l < lm->config().nLayer; ++l) {
        std::vector<size_t> idx;
        for (size_t i : lm->boundTensors()) {
            if (model.tensors()[i].layer == l) idx.push_back(i);
        }
        auto r = probeOne(model, idx, type, "blk." + std::to_string(l), tokens, reference, options);
        if (!r) return r.error();
        out.push_back(std::move(*r));
    }
    sortByKl(out);
    return out;
}

} // namespace qs::eval
