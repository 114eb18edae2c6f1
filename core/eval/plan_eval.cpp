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
    qo.imatrix = options.imatrix;
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
    std::stable_sort(v.begin(), v.end(), [](const ProbeResult& a, const ProbeResult& b) {
        return a.klMean > b.klMean;
    });
}

}  // namespace

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

Result<PlanEvaluation> evaluatePlan(const model::Model& model, const quant::Plan& plan,
                                    std::span<const int32_t> tokens, const EvalOptions& options,
                                    const ReferenceCache* cached) {
    if (plan.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the plan was made for another model", model.path());
    }
    auto original = LlamaModel::bind(model);
    if (!original) return original.error();
    const uint64_t layers = uint64_t(original->config().nLayer) + 1;
    std::vector<size_t> toQuantize;
    for (size_t i : original->boundTensors()) {
        if (plan.tensors[i].type != model.tensors()[i].type) toQuantize.push_back(i);
    }
    const bool needRef = cached == nullptr;
    const uint64_t total = (needRef ? layers : 0) + toQuantize.size() + layers;
    const quant::ProgressFn& user = options.forward.progress;
    // Re-base each phase's progress onto the overall count.
    auto phase = [&](uint64_t base) {
        quant::ProgressFn fn;
        if (user) {
            fn = [&user, base, total](const quant::Progress& p) {
                quant::Progress q = p;
                q.doneBytes = base + p.doneBytes;
                q.totalBytes = total;
                q.tensorIndex = size_t(q.doneBytes);
                q.tensorCount = size_t(total);
                return user(q);
            };
        }
        return fn;
    };

    PlanEvaluation out;
    out.referenceWeightBytes = original->weightBytes();
    EvalOptions o = options;
    if (needRef) {
        o.forward.progress = phase(0);
        auto ref = runReference(*original, tokens, o);
        if (!ref) return ref.error();
        out.reference = std::move(*ref);
    } else {
        out.reference = *cached;
    }
    quant::QuantizeOptions qo;
    qo.threads = options.forward.threads;
    qo.cancel = options.forward.cancel;
    qo.imatrix = options.imatrix;
    LlamaModel& lm = *original;  // the original's views are replaced one by one
    const uint64_t qBase = needRef ? layers : 0;
    for (size_t k = 0; k < toQuantize.size(); ++k) {
        const size_t i = toQuantize[k];
        if (options.forward.cancel && options.forward.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "evaluation cancelled");
        }
        if (user) {
            quant::Progress p;
            p.doneBytes = qBase + k;
            p.totalBytes = total;
            p.tensorIndex = size_t(p.doneBytes);
            p.tensorCount = size_t(total);
            p.tensor = model.tensors()[i].name;
            if (!user(p)) return makeError(ErrorCode::Cancelled, "evaluation cancelled");
        }
        QS_TRY(quantizeInto(lm, model, i, plan.tensors[i].type, qo));
    }
    out.weightBytes = lm.weightBytes();
    o.forward.progress = phase(qBase + toQuantize.size());
    auto r = evaluate(lm, tokens, o, &out.reference);
    if (!r) return r.error();
    out.result = std::move(*r);
    return out;
}

Result<std::vector<ProbeResult>> probeTensors(
    const model::Model& model, const std::vector<size_t>& tensorIndices, formats::TensorType type,
    std::span<const int32_t> tokens, const ReferenceCache& reference, const EvalOptions& options) {
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

}  // namespace qs::eval
