// quantscope-cli stats MODEL --all: every tensor's planned type and error, sampled with a
// standard error above a size threshold (quant/sampled_error.h, the explorer's atlas call).
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <regex>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "quant/recipe.h"
#include "quant/sampled_error.h"
#include "workflow/request.h"

namespace qs::cli {

namespace {

// The plan of --type (every quantizable tensor), --preset or --recipe.
Result<quant::Plan> planOf(const model::Model& m, const StatsCliOptions& o,
                           const quant::Imatrix* imatrix) {
    const int given = int(!o.type.empty()) + int(!o.preset.empty()) + int(!o.recipe.empty());
    if (given != 1) {
        return makeError(ErrorCode::BadUsage,
                         "stats --all needs exactly one of --type, --preset or --recipe");
    }
    if (!o.recipe.empty()) {
        auto r = quant::loadRecipe(o.recipe);
        if (!r) return r.error();
        return quant::planFromRecipe(m, *r);
    }
    if (!o.preset.empty()) {
        auto ft = workflow::parsePreset(o.preset, "--preset");
        if (!ft) return ft.error();
        return workflow::presetPlan(m, *ft, imatrix);
    }
    auto t = formats::typeFromName(o.type);
    if (!t || uint32_t(*t) >= 1000) {
        return makeError(ErrorCode::BadUsage, "--type: unknown type '" + o.type + "'");
    }
    quant::Plan plan;
    for (const auto& ti : m.tensors()) plan.tensors.push_back(quant::manualChoice(ti, *t));
    return plan;
}

// "~ 8.1e-03 +- 2.9 % (95 %)" for a sampled estimate (the half-width of its 95 % interval,
// relative), "8.1e-03 (exact)" for an exact one.
std::string errorText(const quant::TensorErrorEstimate& e) {
    char buf[96];
    if (e.copy) return "copy (lossless)";
    if (e.sampled) {
        std::snprintf(buf, sizeof buf, "~ %.2e +- %.1f %% (95 %%)", e.weightedNmse,
                      e.weightedNmse > 0 ? 100.0 * e.ci95() / e.weightedNmse : 0.0);
    } else {
        std::snprintf(buf, sizeof buf, "%.2e (exact)", e.weightedNmse);
    }
    return buf;
}

}  // namespace

int runStatsAll(const StatsCliOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    auto opened = model::openModel(o.model);
    if (!opened) return fail(opened.error());
    const model::Model& m = *opened;
    std::optional<quant::Imatrix> imatrix;
    if (!o.imatrix.empty()) {
        auto im = quant::loadImatrix(o.imatrix);
        if (!im) return fail(im.error());
        imatrix = std::move(*im);
    }
    auto plan = planOf(m, o, imatrix ? &*imatrix : nullptr);
    if (!plan) return fail(plan.error());
    // --quantizer best measures the best quantizer's encoding (a recipe may also ask for it).
    auto quantizer = formats::parseQuantizer(o.quantizer);
    if (!quantizer) return fail(quantizer.error());
    if (*quantizer == formats::Quantizer::Best) plan->quantizer = *quantizer;

    quant::ErrorEstimateOptions eo;
    eo.sampling.exact = o.exact;
    eo.sampling.sampleRows = o.sampleRows;
    eo.sampling.exactBelowValues = o.exactBelow;
    eo.sampling.seed = o.seed;
    eo.imatrix = imatrix ? &*imatrix : nullptr;
    eo.perExpert = o.perExpert;
    eo.threads = o.threads;
    eo.quantizer = plan->quantizer;
    Result<std::vector<quant::TensorErrorEstimate>> errors =
        std::vector<quant::TensorErrorEstimate>{};
    if (o.tensors.empty()) {
        errors = quant::estimatePlanErrors(m, *plan, eo);
    } else {  // only the tensors whose name matches (e.g. one layer's experts)
        std::regex re;
        try {
            re = std::regex(o.tensors, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            return fail(makeError(ErrorCode::BadUsage, "--tensors: bad regular expression '" +
                                                           o.tensors + "': " + e.what()));
        }
        for (size_t i = 0; i < m.tensors().size(); ++i) {
            if (!std::regex_search(m.tensors()[i].name, re)) continue;
            if (plan->tensors[i].type == m.tensors()[i].type) {
                quant::TensorErrorEstimate c;
                c.index = i;
                c.type = m.tensors()[i].type;
                c.copy = true;
                c.rowsTotal = uint64_t(m.tensors()[i].rowCount());
                errors->push_back(c);
                continue;
            }
            auto e = quant::estimateTensorError(m, i, plan->tensors[i].type, eo);
            if (!e) return fail(e.error());
            errors->push_back(std::move(*e));
        }
    }
    if (!errors) return fail(errors.error());
    const auto totals = quant::totalsOf(m, *errors);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const auto& ts = m.tensors();
    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.stats_all/1";
        j["model"] = m.path();
        j["plan"] = !o.recipe.empty()   ? "recipe:" + o.recipe
                    : !o.preset.empty() ? "preset:" + o.preset
                                        : "type:" + o.type;
        j["quantizer"] = formats::quantizerName(plan->quantizer);
        j["sampling"] = {{"exact", o.exact},
                         {"sample_rows", o.sampleRows},
                         {"exact_below_values", o.exactBelow},
                         {"seed", o.seed}};
        auto arr = nlohmann::ordered_json::array();
        for (const auto& e : *errors) {
            const auto& t = ts[e.index];
            nlohmann::ordered_json x;
            x["name"] = t.name;
            x["shape"] = t.shape;
            x["source_type"] = formats::typeName(t.type);
            x["type"] = formats::typeName(plan->tensors[e.index].type);
            x["parameters"] = t.nElements;
            x["copy"] = e.copy;
            x["sampled"] = e.sampled;
            x["rows_measured"] = e.rowsMeasured;
            x["rows_total"] = e.rowsTotal;
            x["nmse"] = e.nmse;
            x["weighted_nmse"] = e.weightedNmse;
            x["std_error"] = e.stdError;
            x["ci95"] = e.ci95();
            x["relative_std_error"] = e.relativeStdError();
            if (!e.experts.empty()) {
                auto ex = nlohmann::ordered_json::array();
                for (const auto& p : e.experts) {
                    ex.push_back({{"nmse", p.nmse},
                                  {"weighted_nmse", p.weightedNmse},
                                  {"std_error", p.stdError},
                                  {"ci95", p.ci95()},
                                  {"rows_measured", p.rowsMeasured}});
                }
                x["experts"] = std::move(ex);
            }
            arr.push_back(std::move(x));
        }
        j["tensors"] = std::move(arr);
        j["totals"] = {{"weighted_nmse", totals.weightedNmse},
                       {"std_error", totals.stdError},
                       {"ci95", totals.ci95()},
                       {"parameters", totals.parameters},
                       {"sampled_tensors", totals.sampledTensors},
                       {"max_relative_std_error", totals.maxRelativeStdError}};
        j["seconds"] = secs;
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    for (const auto& e : *errors) {
        const auto& t = ts[e.index];
        std::printf("%-40s %-22s %-6s -> %-7s %s\n", t.name.c_str(), t.shapeString().c_str(),
                    std::string(formats::typeName(t.type)).c_str(),
                    std::string(formats::typeName(plan->tensors[e.index].type)).c_str(),
                    errorText(e).c_str());
        for (size_t k = 0; k < e.experts.size(); ++k) {
            const auto& p = e.experts[k];
            std::printf("    expert %-4zu %.2e +- %.1f %% (95 %%)\n", k, p.weightedNmse,
                        p.weightedNmse > 0 ? 100.0 * p.ci95() / p.weightedNmse : 0.0);
        }
    }
    std::printf(
        "\n%zu tensors (%zu sampled), parameter-weighted NMSE %.3e +- %.2f %% (95 %% interval), "
        "largest relative std error %.2f %%, %.2f s\n",
        errors->size(), totals.sampledTensors, totals.weightedNmse,
        totals.weightedNmse > 0 ? 100.0 * totals.ci95() / totals.weightedNmse : 0.0,
        100.0 * totals.maxRelativeStdError, secs);
    return 0;
}

}  // namespace qs::cli
