#include "workflow/budget.h"

#include <cinttypes>
#include <cstdio>

#include <fstream>
#include <sstream>

#include "eval/kl_sensitivity.h"
#include "workflow/progress.h"
#include "workflow/request.h"

namespace qs::workflow {

Result<std::vector<formats::TensorType>> parseTypeList(const std::string& list) {
    std::vector<formats::TensorType> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty()) continue;
        auto t = formats::typeFromName(item);
        if (!t || uint32_t(*t) >= 1000) {
            return makeError(ErrorCode::BadUsage, "--types: unknown type '" + item + "'");
        }
        out.push_back(*t);
    }
    return out;
}

Result<quant::SensitivityTable> measureFor(const model::Model& m, const BudgetSpec& s,
                                           const std::vector<formats::TensorType>& types,
                                           const quant::Imatrix* imatrix) {
    quant::SensitivityOptions so;
    so.types = types;
    so.imatrix = imatrix;
    so.exact = s.exact;
    so.sampleRows = s.sampleRows;
    so.sampleLarge = s.sampleLarge;
    so.sharedSampling = s.largeSampling;
    so.useCache = !s.noCache;
    so.threads = s.threads;
    so.progress = workflow::terminalProgress("sensitivity ", s.progress);
    auto t = quant::measureSensitivity(m, so);
    workflow::endProgressLine(so.progress);
    return t;
}

namespace {

Result<quant::SensitivityTable> klTableFor(const model::Model& m, const BudgetSpec& s,
                                           const quant::SensitivityTable& nmse,
                                           const quant::Imatrix* imatrix) {
    if (s.klText.empty()) {
        return makeError(ErrorCode::BadUsage,
                         "--objective kl needs --text FILE (the text the KL is measured on)");
    }
    std::ifstream f(s.klText, std::ios::binary);
    if (!f) return makeError(ErrorCode::BadInput, "cannot read the text", s.klText);
    std::stringstream text;
    text << f.rdbuf();
    eval::KlSensitivityOptions ko;
    ko.eval.ctx = s.klCtx;
    ko.eval.forward.threads = s.threads;
    ko.eval.imatrix = imatrix;
    ko.progress = workflow::terminalProgress("KL probes ", s.progress);
    auto kl = eval::klSensitivityOfText(m, nmse, text.str(), ko);
    workflow::endProgressLine(ko.progress);
    return kl;
}

}  // namespace

Status optimizeForBudget(const model::Model& m, const BudgetSpec& s, const quant::Imatrix* imatrix,
                         Optimized& out) {
    if ((s.targetBpw > 0) == (s.targetSize > 0)) {
        return makeError(ErrorCode::BadUsage, "give one of --target-bpw or --target-size");
    }
    auto types = parseTypeList(s.types);
    if (!types) return types.error();
    auto f = quant::ftypeFromName(s.base);
    if (!f) return makeError(ErrorCode::BadUsage, "--base: unknown preset '" + s.base + "'");
    auto table = measureFor(m, s, *types, imatrix);
    if (!table) return table.error();
    out.table = std::move(*table);
    if (s.objective == "kl") {
        auto kl = klTableFor(m, s, out.table, imatrix);
        if (!kl) return kl.error();
        out.table = std::move(*kl);
    } else if (s.objective != "nmse") {
        return makeError(ErrorCode::BadUsage,
                         "--objective must be nmse or kl, not '" + s.objective + "'");
    }
    out.base = workflow::presetPlan(m, *f, imatrix);
    quant::OptimizerOptions oo;
    oo.lock = s.lock;
    oo.factors = s.factors;
    auto opt = quant::PlanOptimizer::prepare(m, out.table, out.base, oo, imatrix);
    if (!opt) return opt.error();
    out.optimizer.emplace(std::move(*opt));
    out.targetBytes = s.targetSize > 0 ? s.targetSize : out.optimizer->bytesForBpw(s.targetBpw);
    out.result = out.optimizer->solve(out.targetBytes);
    if (!out.result.feasible) {
        return makeError(ErrorCode::BadUsage,
                         "no plan fits in " + std::to_string(out.targetBytes) +
                             " bytes: the smallest with these types is " +
                             std::to_string(out.optimizer->minFileBytes()) + " bytes",
                         m.path());
    }
    return {};
}

SampledSummary sampledSummary(const model::Model& m, const quant::SensitivityTable& table,
                              const quant::Plan& plan) {
    SampledSummary out;
    out.tensors = table.sampledTensors;
    out.relative.assign(m.tensors().size(), -1.0);
    for (size_t i = 0; i < table.tensors.size() && i < plan.tensors.size(); ++i) {
        if (!table.tensors[i].sampled) continue;
        for (const auto& c : table.tensors[i].cells) {
            if (!c.valid || c.type != plan.tensors[i].type) continue;
            const double rel = c.weightedNmse > 0 ? c.stdError / c.weightedNmse : 0.0;
            out.relative[i] = rel;
            if (rel > out.maxRelativeStdError) {  // a tensor is named only above 0
                out.maxRelativeStdError = rel;
                out.worstTensor = m.tensors()[i].name;
            }
            break;
        }
    }
    return out;
}

std::string describeSampled(const SampledSummary& s, const quant::SensitivityTable& table,
                            const BudgetSpec& spec) {
    if (s.tensors == 0) return {};
    size_t quantizable = 0;
    for (const auto& t : table.tensors) quantizable += t.quantizable;
    char line[512];
    std::snprintf(
        line, sizeof line,
        "sampled: %zu of %zu quantizable tensors (over %" PRIu64
        " values, %lld rows each); largest relative standard error in the plan %.2f %% "
        "(95 %% interval +- %.2f %%, %s)",
        s.tensors, quantizable, spec.largeSampling.exactBelowValues,
        static_cast<long long>(spec.largeSampling.sampleRows), 100 * s.maxRelativeStdError,
        100 * s.maxRelativeCi95(),
        s.worstTensor.empty() ? "every sampled error of the plan is 0" : s.worstTensor.c_str());
    return line;
}

}  // namespace qs::workflow
