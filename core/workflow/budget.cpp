#include "workflow/budget.h"

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

}  // namespace qs::workflow
