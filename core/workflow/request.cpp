#include "workflow/request.h"

#include <fstream>
#include <sstream>

#include "formats/encoders.h"
#include "quant/plan_compare.h"

namespace qs::workflow {

Result<quant::Ftype> parsePreset(std::string_view name, std::string_view option) {
    if (auto f = quant::ftypeFromName(name)) return *f;
    return makeError(ErrorCode::BadUsage, "unknown " + std::string(option) + " '" +
                                              std::string(name) +
                                              "' (expected a llama.cpp preset such as Q4_K_M, "
                                              "Q8_0, F16)");
}

Result<formats::TensorType> parseWritableType(std::string_view name, std::string_view option) {
    auto t = formats::typeFromName(std::string(name));
    if (!t || uint32_t(*t) >= 1000) {
        return makeError(ErrorCode::BadUsage,
                         std::string(option) + ": unknown type '" + std::string(name) + "'");
    }
    return *t;
}

Result<std::vector<quant::TypeRule>> parseRules(const std::vector<std::string>& texts) {
    std::vector<quant::TypeRule> out;
    for (const auto& text : texts) {
        auto r = quant::parseTypeRule(text);
        if (!r) return r.error();
        out.push_back(std::move(*r));
    }
    return out;
}

Status appendRuleFile(const std::string& path, std::vector<quant::TypeRule>& rules) {
    std::ifstream in(path);
    if (!in) return makeError(ErrorCode::IoError, "cannot open", path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = quant::parseTypeRuleFile(ss.str(), path);
    if (!parsed) return parsed.error();
    for (auto& r : *parsed) rules.push_back(std::move(r));
    return {};
}

Result<quant::Imatrix> loadImatrixFor(const model::Model& model, const std::string& path) {
    auto im = quant::loadImatrix(path);
    if (!im) return im.error();
    QS_TRY(quant::checkImatrixFor(*im, model));
    return std::move(*im);
}

quant::Plan presetPlan(const model::Model& model, quant::Ftype preset,
                       const quant::Imatrix* imatrix, const std::vector<quant::TypeRule>& rules) {
    quant::PlanOptions po;
    po.ftype = preset;
    po.rules = rules;
    po.hasImatrix = imatrix != nullptr;
    return quant::buildPlan(model, po);
}

Result<quant::Plan> buildPlan(const Request& r) {
    if (!r.model) return makeError(ErrorCode::BadUsage, "no model to plan");
    const model::Model& m = *r.model;
    quant::Plan plan;
    if (r.recipe || !r.recipePath.empty()) {
        if (r.preset || !r.presetName.empty() || !r.rules.empty() || !r.ruleTexts.empty() ||
            !r.ruleFile.empty()) {
            return makeError(ErrorCode::BadUsage,
                             "--recipe cannot be combined with --type or --tensor-type");
        }
        std::optional<quant::Recipe> loaded;
        if (!r.recipe) {
            auto l = quant::loadRecipe(r.recipePath);
            if (!l) return l.error();
            loaded = std::move(*l);
        }
        auto p = quant::planFromRecipe(m, r.recipe ? *r.recipe : *loaded);
        if (!p) return p.error();
        plan = std::move(*p);
    } else {
        quant::PlanOptions po;
        po.ftype = r.preset.value_or(quant::Ftype::Q8_0);
        if (!r.preset && !r.presetName.empty()) {
            auto f = parsePreset(r.presetName);
            if (!f) return f.error();
            po.ftype = *f;
        }
        po.rules = r.rules;
        auto texts = parseRules(r.ruleTexts);
        if (!texts) return texts.error();
        for (auto& rule : *texts) po.rules.push_back(std::move(rule));
        if (!r.ruleFile.empty()) QS_TRY(appendRuleFile(r.ruleFile, po.rules));
        po.outputType = r.outputType;
        po.tokenEmbdType = r.tokenEmbdType;
        po.pure = r.pure;
        po.hasImatrix = r.imatrix != nullptr;
        po.leaveOutputTensor = r.leaveOutputTensor;
        plan = quant::buildPlan(m, po);
    }
    for (const auto& o : r.overrides) {
        const auto idx = m.indexOf(o.tensor);
        if (idx < 0) {
            return makeError(ErrorCode::BadUsage, "no such tensor", m.path(), kNoOffset, o.tensor);
        }
        auto& c = plan.tensors[size_t(idx)];
        if (o.type) {
            const bool locked = c.locked;
            c = quant::manualChoice(m.tensors()[size_t(idx)], *o.type);
            c.locked = locked;
        }
        if (o.lock) c.locked = true;
    }
    return plan;
}

std::vector<Finding> findProblems(const model::Model& m, const quant::Plan& plan,
                                  const std::vector<size_t>& order, const Checks& checks) {
    std::vector<Finding> out;
    for (size_t i : order) {
        if (i >= plan.tensors.size() || i >= m.tensors().size()) continue;
        const auto& t = m.tensors()[i];
        const auto& c = plan.tensors[i];
        const auto& tt = formats::traits(c.type);
        if (checks.pure && c.fellBack) out.push_back({Problem::PureFallback, i});
        if (c.type != t.type && t.rowLength() % tt.blockSize != 0) {
            out.push_back({Problem::RowLength, i});
        }
        if (checks.forWriting && c.requiresImatrix && c.type != t.type && !checks.hasImatrix) {
            out.push_back({Problem::NeedsImatrix, i});
        }
        if (checks.forWriting && c.type != t.type && !formats::canEncode(c.type)) {
            out.push_back({Problem::CannotWrite, i});
        }
    }
    return out;
}

std::string describe(const model::Model& m, const quant::Plan& plan, const Finding& f,
                     const std::function<std::string(formats::TensorType)>& typeName) {
    auto name = [&](formats::TensorType t) {
        return typeName ? typeName(t) : std::string(formats::typeName(t));
    };
    const auto& t = m.tensors()[f.tensor];
    const auto& c = plan.tensors[f.tensor];
    switch (f.problem) {
    case Problem::PureFallback:
        // --pure promises one type for every tensor: where the rows cannot hold it, say so
        // rather than fall back silently (llama-quantize would fall back here).
        return name(c.requested) + " cannot hold rows of " + std::to_string(t.rowLength()) +
               " values (block size " + std::to_string(formats::traits(c.requested).blockSize) +
               "); without --pure it would fall back to " + name(c.type);
    case Problem::RowLength:
        return name(c.type) + " cannot hold rows of " + std::to_string(t.rowLength()) +
               " values (block size " + std::to_string(formats::traits(c.type).blockSize) + ")";
    case Problem::NeedsImatrix:
        return name(c.type) +
               " needs an importance matrix, as in llama.cpp: pass --imatrix FILE (llama-imatrix "
               "makes one), or pick a type or preset that does not need one";
    case Problem::CannotWrite: return "Quantscope cannot write " + name(c.type) + " yet";
    }
    return {};
}

Status checkPlan(const model::Model& m, const quant::Plan& plan, const std::vector<size_t>& order,
                 const Checks& checks) {
    if (plan.tensors.size() != m.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the plan does not belong to this model", m.path());
    }
    const auto found = findProblems(m, plan, order, checks);
    if (!found.empty()) {
        const Finding& f = found.front();
        return makeError(ErrorCode::BadUsage, describe(m, plan, f), m.path(), kNoOffset,
                         m.tensors()[f.tensor].name);
    }
    // Re-quantizing an already quantized tensor: refused as llama-quantize refuses it.
    if (checks.forWriting) QS_TRY(quant::checkRequantize(m, plan, checks.allowRequantize));
    return {};
}

Result<ValidatedPlan> validate(const Request& r, quant::Plan plan, bool forWriting) {
    if (!r.model) return makeError(ErrorCode::BadUsage, "no model to plan");
    const model::Model& m = *r.model;
    if (r.quantizer) plan.quantizer = *r.quantizer;
    ValidatedPlan out;
    out.model = &m;
    out.order = quant::llamaTensorOrder(m);
    Checks checks;
    checks.hasImatrix = r.imatrix != nullptr;
    checks.pure = r.pure;
    checks.forWriting = forWriting;
    checks.allowRequantize = r.allowRequantize;
    QS_TRY(checkPlan(m, plan, out.order, checks));
    out.requantizeWarning = quant::requantizeWarning(m, plan);
    out.plan = std::move(plan);
    out.imatrix = r.imatrix;
    out.backend = r.backend;
    out.threads = r.threads;
    out.forWriting = forWriting;
    return out;
}

Result<ValidatedPlan> makePlan(const Request& r, bool forWriting) {
    auto plan = buildPlan(r);
    if (!plan) return plan.error();
    return validate(r, std::move(*plan), forWriting);
}

}  // namespace qs::workflow
