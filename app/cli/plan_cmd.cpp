// quantscope-cli plan: the budget optimizer's plan as a recipe, plans imported from GGUF files,
// and the comparison of two plans.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "eval/budget_fit.h"
#include "eval/kl_sensitivity.h"
#include "optimize_util.h"
#include "quant/engine.h"
#include "quant/plan_compare.h"
#include "quant/recipe.h"
#include "report/variants.h"
#include "workflow/presets.h"
#include "workflow/progress.h"
#include "workflow/request.h"

namespace qs::cli {

namespace {

Result<std::optional<quant::Imatrix>> loadImatrixFor(const model::Model& m,
                                                     const std::string& path) {
    std::optional<quant::Imatrix> out;
    if (path.empty()) return out;
    auto im = workflow::loadImatrixFor(m, path);
    if (!im) return im.error();
    out = std::move(*im);
    return out;
}

Status writeText(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return makeError(ErrorCode::IoError, "cannot write", path);
    f << text;
    f.flush();
    if (!f) return makeError(ErrorCode::IoError, "write failed", path);
    return {};
}

// A plan named on the command line: a .gguf file (its types), a recipe .json, or a preset.
Result<quant::Plan> planFromSpec(const model::Model& m, const std::string& spec,
                                 const quant::Imatrix* imatrix) {
    if (spec.ends_with(".gguf")) {
        auto q = model::openModel(spec);
        if (!q) return q.error();
        return quant::importPlan(m, *q);
    }
    if (spec.ends_with(".json")) {
        auto r = quant::loadRecipe(spec);
        if (!r) return r.error();
        return quant::planFromRecipe(m, *r);
    }
    auto f = quant::ftypeFromName(spec);
    if (!f) {
        return makeError(ErrorCode::BadUsage,
                         "'" + spec + "' is neither a .gguf file, a recipe .json nor a preset");
    }
    return workflow::presetPlan(m, *f, imatrix);
}

std::string typeOf(formats::TensorType t) {
    return std::string(formats::typeName(t));
}

BudgetSpec budgetOf(const PlanCliOptions& o) {
    BudgetSpec s;
    s.targetBpw = o.targetBpw;
    s.targetSize = o.targetSize;
    s.types = o.types;
    s.lock = o.lock;
    s.factors = o.factors;
    s.base = o.base;
    s.exact = o.exact;
    s.sampleRows = o.sampleRows;
    s.largeSampling.exactBelowValues = o.exactBelow;
    s.noCache = o.noCache;
    s.threads = o.threads;
    s.objective = o.objective;
    s.klText = o.text;
    s.klCtx = o.klCtx;
    return s;
}

// `plan --objective closed-loop`: the candidates of one size scored by the model's KL on the
// text (eval::fitToBudget), never worse there than the preset(s) of that size.
int runClosedLoop(const PlanCliOptions& o, const model::Model& m, const quant::Imatrix* im,
                  uint64_t targetBytes, std::vector<quant::Ftype> presets) {
    const double params = double(std::max<int64_t>(1, m.totalElements()));
    if (o.text.empty()) {
        return fail(makeError(ErrorCode::BadUsage,
                              "--objective closed-loop needs --text FILE (the calibration text)"));
    }
    std::ifstream tf(o.text, std::ios::binary);
    if (!tf) return fail(makeError(ErrorCode::BadInput, "cannot read the text", o.text));
    std::stringstream text;
    text << tf.rdbuf();
    std::string heldOutText;
    if (!o.holdoutText.empty()) {
        std::ifstream hf(o.holdoutText, std::ios::binary);
        if (!hf) return fail(makeError(ErrorCode::BadInput, "cannot read the text", o.holdoutText));
        std::stringstream h;
        h << hf.rdbuf();
        heldOutText = h.str();
    }
    BudgetSpec spec = budgetOf(o);
    spec.progress = !o.json;
    auto types = parseTypeList(spec.types);
    if (!types) return fail(types.error());
    auto base = quant::ftypeFromName(spec.base);
    if (!base)
        return fail(makeError(ErrorCode::BadUsage, "--base: unknown preset '" + spec.base + "'"));
    auto table = measureFor(m, spec, *types, im);
    if (!table) return fail(table.error());
    eval::FitOptions fo;
    fo.targetBytes = targetBytes;
    fo.presets = std::move(presets);
    fo.base = *base;
    fo.optimizer.lock = spec.lock;
    fo.optimizer.factors = spec.factors;
    fo.imatrix = im;
    fo.ctx = o.fitCtx;
    fo.holdOut = o.holdOut;
    fo.heldOutText = std::move(heldOutText);
    fo.noiseSigmas = fo.nllSigmas = fo.heldOutSigmas = o.guardSigmas;
    fo.probeCtx = o.klCtx;
    fo.maxSeconds = o.maxSeconds;
    fo.maxRounds = o.maxRounds;
    fo.probeTypes = o.probeTypes;
    fo.threads = o.threads;
    std::string last;
    if (spec.progress && ::isatty(2)) {
        fo.progress = [&](const quant::Progress& p) {
            std::string line = "closed loop [" + std::to_string(p.doneBytes) + "/" +
                               std::to_string(p.totalBytes) + "] " + std::string(p.tensor);
            if (line != last) {
                last = line;
                std::fprintf(stderr, "\r%-72.72s", line.c_str());
            }
            return true;
        };
    }
    auto fit = eval::fitToBudgetOfText(m, *table, text.str(), fo);
    if (fo.progress) std::fprintf(stderr, "\n");
    if (!fit) return fail(fit.error());
    const eval::FitCandidate& c = fit->result();
    if (!o.output.empty()) {
        quant::Recipe recipe = quant::recipeOfPlan(m, c.plan);
        recipe.chosenBy = fit->provenance();
        if (auto st = quant::saveRecipe(recipe, o.output, &m); !st) return fail(st.error());
    }
    if (!o.tensorTypeFile.empty()) {
        if (auto st = writeText(o.tensorTypeFile, quant::tensorTypeFileOf(m, c.plan)); !st) {
            return fail(st.error());
        }
    }
    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.plan/1";
        j["model"] = m.path();
        j["target_bytes"] = targetBytes;
        j["file_bytes"] = c.fileBytes;
        j["bits_per_weight"] = 8.0 * double(c.fileBytes) / params;
        j["objective"] = "closed-loop";
        nlohmann::ordered_json cl;
        cl["calibration_tokens"] = fit->calibrationTokens;
        cl["held_out_tokens"] = fit->heldOutTokens;
        cl["held_out_text"] =
            o.holdoutText.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.holdoutText);
        cl["chosen"] = fit->chosen;
        cl["preset"] = fit->preset ? nlohmann::json(*fit->preset) : nlohmann::json(nullptr);
        cl["best_calibration"] = fit->best;
        cl["rule"] = fit->rule;
        cl["noise"] = fit->noise;
        cl["evaluations"] = fit->evaluations;
        cl["accepted_moves"] = fit->acceptedMoves;
        cl["timed_out"] = fit->timedOut;
        cl["seconds"] = fit->seconds;
        cl["kl_probes"] = fit->probes;
        cl["probe_seconds"] = fit->probeSeconds;
        cl["resumed_layers"] = fit->resumedLayers;
        auto& cs = cl["candidates"] = nlohmann::json::array();
        for (const auto& k : fit->candidates) {
            cs.push_back({{"kind", std::string(eval::fitKindName(k.kind))},
                          {"name", k.name},
                          {"file_bytes", k.fileBytes},
                          {"kl_calibration", k.klCalibration},
                          {"kl_held_out", k.klHeldOut >= 0 ? nlohmann::json(k.klHeldOut)
                                                           : nlohmann::json(nullptr)},
                          {"perplexity_calibration", k.pplCalibration},
                          {"perplexity_held_out", k.klHeldOut >= 0 ? nlohmann::json(k.pplHeldOut)
                                                                   : nlohmann::json(nullptr)},
                          {"predicted_kl", k.predictedKl >= 0 ? nlohmann::json(k.predictedKl)
                                                              : nlohmann::json(nullptr)}});
        }
        j["closed_loop"] = cl;
        auto& ts = j["tensors"] = nlohmann::json::array();
        for (size_t i : quant::llamaTensorOrder(m)) {
            const auto& t = c.plan.tensors[i];
            ts.push_back({{"name", m.tensors()[i].name},
                          {"type", typeOf(t.type)},
                          {"origin", quant::originName(t.origin)},
                          {"bytes", c.plan.tensorBytes(m, i)}});
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("plan: %" PRIu64 " bytes (%.4f bits per weight) for a budget of %" PRIu64
                "; chosen: %s %s%s%s\n",
                c.fileBytes, 8.0 * double(c.fileBytes) / params, targetBytes,
                std::string(eval::fitKindName(c.kind)).c_str(), c.name.c_str(),
                o.output.empty() ? "" : "; recipe ", o.output.c_str());
    std::printf(
        "closed loop: %lld calibration + %lld held-out tokens, %d KL probes (%.2f s), %d "
        "evaluations, %d moves accepted, %.2f s%s\nrule: %s\n\n",
        static_cast<long long>(fit->calibrationTokens), static_cast<long long>(fit->heldOutTokens),
        fit->probes, fit->probeSeconds, fit->evaluations, fit->acceptedMoves, fit->seconds,
        fit->timedOut ? " (stopped by --max-seconds)" : "", fit->rule.c_str());
    std::printf("%-3s %-7s %12s %12s %12s %12s  %s\n", "", "kind", "file bytes", "KL calib",
                "KL held-out", "predicted", "plan");
    for (size_t i = 0; i < fit->candidates.size(); ++i) {
        const auto& k = fit->candidates[i];
        std::printf("%-3s %-7s %12" PRIu64 " %12.6f %12s %12s  %s\n", i == fit->chosen ? "*" : "",
                    std::string(eval::fitKindName(k.kind)).c_str(), k.fileBytes, k.klCalibration,
                    k.klHeldOut >= 0 ? std::to_string(k.klHeldOut).c_str() : "-",
                    k.predictedKl >= 0 ? std::to_string(k.predictedKl).c_str() : "-",
                    k.name.c_str());
    }
    return 0;
}

}  // namespace

int runPlan(const PlanCliOptions& o) {
    auto opened = model::openModel(o.model);
    if (!opened) return fail(opened.error());
    const model::Model& m = *opened;
    auto imatrix = loadImatrixFor(m, o.imatrix);
    if (!imatrix) return fail(imatrix.error());
    const quant::Imatrix* im = *imatrix ? &**imatrix : nullptr;
    const double params = double(std::max<int64_t>(1, m.totalElements()));

    if (!o.from.empty()) {  // import the plan of an existing file
        auto q = model::openModel(o.from);
        if (!q) return fail(q.error());
        auto p = quant::importPlan(m, *q);
        if (!p) return fail(p.error());
        auto size = quant::predictFileSize(m, *p, im);
        if (!size) return fail(size.error());
        // The file's embedded recipe (quantize.recipe) when it reproduces the file's types.
        bool embedded = false;
        auto recipe = report::importRecipe(m, *q, &embedded);
        if (!recipe) return fail(recipe.error());
        if (!o.output.empty()) {
            if (auto st = quant::saveRecipe(*recipe, o.output, &m); !st) return fail(st.error());
        }
        if (!o.tensorTypeFile.empty()) {
            if (auto st = writeText(o.tensorTypeFile, quant::tensorTypeFileOf(m, *p)); !st) {
                return fail(st.error());
            }
        }
        if (o.json) {
            nlohmann::ordered_json j;
            j["schema"] = "quantscope.plan/1";
            j["model"] = m.path();
            j["from"] = o.from;
            j["embedded_recipe"] = embedded;
            j["preset"] = p->ftype ? nlohmann::json(quant::ftypeInfo(*p->ftype).name) : nullptr;
            j["file_bytes"] = *size;
            auto& ts = j["tensors"] = nlohmann::json::array();
            for (size_t i : quant::llamaTensorOrder(m)) {
                ts.push_back({{"name", m.tensors()[i].name}, {"type", typeOf(p->tensors[i].type)}});
            }
            std::printf("%s\n", j.dump(2).c_str());
        } else {
            std::printf("plan of %s: %" PRIu64 " bytes on %s (%.4f bits per weight)%s%s\n",
                        o.from.c_str(), *size, m.path().c_str(), 8.0 * double(*size) / params,
                        o.output.empty() ? "" : "; recipe ", o.output.c_str());
        }
        return 0;
    }

    PlanCliOptions sized = o;
    std::vector<quant::Ftype> sizePresets;
    if (!o.presetSize.empty()) {
        if (o.targetBpw > 0 || o.targetSize > 0) {
            return fail(makeError(ErrorCode::BadUsage,
                                  "give one of --target-bpw, --target-size or --preset-size"));
        }
        auto f = quant::ftypeFromName(o.presetSize);
        if (!f)
            return fail(makeError(ErrorCode::BadUsage,
                                  "--preset-size: unknown preset '" + o.presetSize + "'"));
        auto size = quant::predictFileSize(m, workflow::presetPlan(m, *f, im), im);
        if (!size) return fail(size.error());
        sized.targetSize = *size;
        sizePresets = {*f};
    }
    if (o.objective == "closed-loop") {
        if ((sized.targetBpw > 0) == (sized.targetSize > 0)) {
            return fail(makeError(ErrorCode::BadUsage,
                                  "give one of --target-bpw, --target-size or --preset-size"));
        }
        uint64_t target = sized.targetSize;
        if (target == 0) target = uint64_t(std::floor(sized.targetBpw * params / 8.0));
        if (sizePresets.empty()) sizePresets = eval::presetsOfSize(m, target, im);
        return runClosedLoop(sized, m, im, target, std::move(sizePresets));
    }
    BudgetSpec spec = budgetOf(sized);
    spec.progress = !o.json;
    Optimized opt;
    if (auto st = optimizeForBudget(m, spec, im, opt); !st) return fail(st.error());
    const auto& r = opt.result;
    const workflow::SampledSummary sampled = workflow::sampledSummary(m, opt.table, r.plan);
    if (!o.output.empty()) {
        if (auto st = quant::saveRecipe(quant::recipeOfPlan(m, r.plan), o.output, &m); !st) {
            return fail(st.error());
        }
    }
    if (!o.tensorTypeFile.empty()) {
        if (auto st = writeText(o.tensorTypeFile, quant::tensorTypeFileOf(m, r.plan)); !st) {
            return fail(st.error());
        }
    }
    // The presets, scored by the same objective, for comparison.
    struct Row {
        std::string name;
        uint64_t bytes;
        double error;
        quant::OptimizeResult atSize;
    };
    std::vector<Row> presets;
    for (auto f : workflow::comparedPresets()) {
        const auto s = opt.optimizer->score(workflow::presetPlan(m, f, im));
        if (!s.unknown.empty()) continue;  // uses a type outside --types
        presets.push_back({std::string(quant::ftypeInfo(f).name), s.fileBytes, s.error,
                           opt.optimizer->solve(s.fileBytes)});
    }
    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.plan/1";
        j["model"] = m.path();
        j["target_bytes"] = opt.targetBytes;
        j["file_bytes"] = r.fileBytes;
        j["bits_per_weight"] = 8.0 * double(r.fileBytes) / params;
        j["error"] = r.error;
        j["lower_bound"] = r.lowerBound;
        j["proven_optimal"] = r.optimal;
        j["objective"] = spec.objective == "kl" ? "sum of per-tensor KL"
                         : opt.table.weighted   ? "sum n*weighted_nmse"
                                                : "sum n*nmse";
        j["sensitivity"] = {
            {"exact", opt.table.exact},
            {"sample_rows", opt.table.exact ? 0 : spec.sampleRows},
            {"cache_hits", opt.table.cacheHits},
            {"seconds", opt.table.seconds},
            {"exact_below_values", spec.largeSampling.exactBelowValues},
            {"large_sample_rows", opt.table.exact ? 0 : spec.largeSampling.sampleRows},
            {"sampled", sampled.tensors},
            {"max_relative_std_error", sampled.maxRelativeStdError},
            {"max_relative_ci95", sampled.maxRelativeCi95()},
            {"max_relative_std_error_tensor", sampled.worstTensor.empty()
                                                  ? nlohmann::json(nullptr)
                                                  : nlohmann::json(sampled.worstTensor)}};
        j["solve_seconds"] = r.seconds;
        auto& ps = j["presets"] = nlohmann::json::array();
        for (const auto& p : presets) {
            ps.push_back({{"preset", p.name},
                          {"file_bytes", p.bytes},
                          {"error", p.error},
                          {"optimizer_file_bytes", p.atSize.fileBytes},
                          {"optimizer_error", p.atSize.error},
                          {"optimizer_proven_optimal", p.atSize.optimal}});
        }
        if (o.curve > 0) {
            auto& cs = j["curve"] = nlohmann::json::array();
            for (const auto& c : opt.optimizer->curve(o.curve)) {
                cs.push_back({{"file_bytes", c.fileBytes},
                              {"error", c.error},
                              {"lower_bound", c.lowerBound}});
            }
        }
        auto& ts = j["tensors"] = nlohmann::json::array();
        const auto score = opt.optimizer->score(r.plan);
        for (size_t i : quant::llamaTensorOrder(m)) {
            const auto& c = r.plan.tensors[i];
            ts.push_back({{"name", m.tensors()[i].name},
                          {"type", typeOf(c.type)},
                          {"origin", quant::originName(c.origin)},
                          {"bytes", r.plan.tensorBytes(m, i)},
                          {"error", score.tensorError[i]},
                          {"sampled", sampled.relative[i] >= 0},
                          {"relative_ci95", sampled.relative[i] >= 0
                                                ? nlohmann::json(quant::kZ95 * sampled.relative[i])
                                                : nlohmann::json(nullptr)}});
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("plan: %" PRIu64 " bytes (%.4f bits per weight) for a budget of %" PRIu64
                "; error %.6g (lower bound %.6g)%s%s\n",
                r.fileBytes, 8.0 * double(r.fileBytes) / params, opt.targetBytes, r.error,
                r.lowerBound, o.output.empty() ? "" : "; recipe ", o.output.c_str());
    size_t quantizable = 0;
    for (const auto& t : opt.table.tensors) quantizable += t.quantizable;
    std::printf(
        "sensitivity: %s, %zu of %zu quantizable tensors from the cache, %.2f s; solve "
        "%.2f ms\n",
        opt.table.exact ? "exact"
                        : ("sampled " + std::to_string(spec.sampleRows) + " rows").c_str(),
        opt.table.cacheHits, quantizable, opt.table.seconds, r.seconds * 1e3);
    if (const std::string line = workflow::describeSampled(sampled, opt.table, spec);
        !line.empty()) {
        std::printf("%s\n", line.c_str());
    }
    std::printf("\n%-8s %14s %14s %14s %8s\n", "preset", "file bytes", "preset error", "optimizer",
                "margin");
    for (const auto& p : presets) {
        std::printf("%-8s %14" PRIu64 " %14.6g %14.6g %7.1f%%\n", p.name.c_str(), p.bytes, p.error,
                    p.atSize.error,
                    p.error > 0 ? std::max(0.0, 100.0 * (1 - p.atSize.error / p.error)) : 0.0);
    }
    return 0;
}

int runPlanDiff(const PlanDiffCliOptions& o) {
    auto opened = model::openModel(o.model);
    if (!opened) return fail(opened.error());
    const model::Model& m = *opened;
    auto imatrix = loadImatrixFor(m, o.imatrix);
    if (!imatrix) return fail(imatrix.error());
    const quant::Imatrix* im = *imatrix ? &**imatrix : nullptr;
    auto a = planFromSpec(m, o.a, im);
    if (!a) return fail(a.error());
    auto b = planFromSpec(m, o.b, im);
    if (!b) return fail(b.error());
    // Measure the types the two plans use (quantized ones that differ from the source).
    std::vector<formats::TensorType> types;
    for (const auto* p : {&*a, &*b}) {
        for (size_t i = 0; i < p->tensors.size(); ++i) {
            const auto t = p->tensors[i].type;
            if (p->tensors[i].quantizable && t != m.tensors()[i].type &&
                std::find(types.begin(), types.end(), t) == types.end()) {
                types.push_back(t);
            }
        }
    }
    BudgetSpec spec;
    spec.exact = o.exact;
    auto table =
        measureFor(m, spec, types.empty() ? std::vector{formats::TensorType::F16} : types, im);
    if (!table) return fail(table.error());
    auto opt = quant::PlanOptimizer::prepare(m, *table, *a, {}, im);
    if (!opt) return fail(opt.error());
    auto d = quant::diffPlans(m, *a, *b, &*opt);
    if (!d) return fail(d.error());
    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.plan-diff/1";
        j["model"] = m.path();
        j["a"] = {{"plan", o.a}, {"file_bytes", d->fileBytesA}, {"error", d->errorA}};
        j["b"] = {{"plan", o.b}, {"file_bytes", d->fileBytesB}, {"error", d->errorB}};
        auto& ts = j["tensors"] = nlohmann::json::array();
        for (const auto& t : d->tensors) {
            ts.push_back({{"name", m.tensors()[t.index].name},
                          {"type_a", typeOf(t.typeA)},
                          {"type_b", typeOf(t.typeB)},
                          {"bytes_a", t.bytesA},
                          {"bytes_b", t.bytesB},
                          {"error_a", t.errorA},
                          {"error_b", t.errorB}});
        }
        auto& ls = j["layers"] = nlohmann::json::array();
        for (const auto& l : d->layers) {
            ls.push_back({{"layer", l.layer},
                          {"differing", l.differing},
                          {"bytes_a", l.bytesA},
                          {"bytes_b", l.bytesB},
                          {"error_a", l.errorA},
                          {"error_b", l.errorB}});
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("%-40s %-8s %-8s %12s %12s %12s %12s\n", "tensor", "A", "B", "bytes A", "bytes B",
                "error A", "error B");
    for (const auto& t : d->tensors) {
        std::printf("%-40s %-8s %-8s %12" PRIu64 " %12" PRIu64 " %12.5g %12.5g\n",
                    m.tensors()[t.index].name.c_str(), typeOf(t.typeA).c_str(),
                    typeOf(t.typeB).c_str(), t.bytesA, t.bytesB, t.errorA, t.errorB);
    }
    std::printf("\n%-6s %5s %12s %12s %12s %12s\n", "layer", "diff", "bytes A", "bytes B",
                "error A", "error B");
    for (const auto& l : d->layers) {
        std::printf("%-6s %5d %12" PRIu64 " %12" PRIu64 " %12.5g %12.5g\n",
                    l.layer < 0 ? "other" : std::to_string(l.layer).c_str(), l.differing, l.bytesA,
                    l.bytesB, l.errorA, l.errorB);
    }
    std::printf("\nA %s: %" PRIu64 " bytes, error %.6g\nB %s: %" PRIu64 " bytes, error %.6g\n",
                o.a.c_str(), d->fileBytesA, d->errorA, o.b.c_str(), d->fileBytesB, d->errorB);
    return 0;
}

}  // namespace qs::cli
