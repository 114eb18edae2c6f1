#include "report/variants.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "eval/budget_fit.h"
#include "eval/llama_model.h"
#include "eval/plan_eval.h"
#include "quant/ftype.h"
#include "quant/plan_compare.h"
#include "quant/sensitivity.h"

namespace qs::report {

namespace {

std::string stemOf(const std::string& path) {
    return std::filesystem::path(path).stem().string();
}

std::string trimmed(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

// A file-name-safe version of a variant's name.
std::string safeName(const std::string& s) {
    std::string out;
    for (char c : s) {
        const bool ok =
            std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        out += ok ? c : '-';
    }
    return out;
}

std::string percentText(double share) {
    return std::to_string(int(std::lround(100.0 * share))) + "%";
}

// Tensor types by their share of the planned data, largest first ("Q4_K 71%, Q6_K 20%").
std::string mixOf(const model::Model& m, const quant::Plan& p) {
    std::map<std::string, uint64_t> bytes;
    uint64_t total = 0;
    for (size_t i = 0; i < p.tensors.size(); ++i) {
        const uint64_t b = p.tensorBytes(m, i);
        bytes[std::string(formats::typeName(p.tensors[i].type))] += b;
        total += b;
    }
    std::vector<std::pair<std::string, uint64_t>> v(bytes.begin(), bytes.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string out;
    for (const auto& [name, b] : v) {
        if (total == 0 || 100 * b < total) continue;  // under 1%: left out
        if (!out.empty()) out += ", ";
        out += name + " " + percentText(double(b) / double(total));
    }
    return out;
}

std::string ftypeLabelOf(const model::Model& file) {
    if (const auto* ft = file.find("general.file_type"); ft && ft->asUInt()) {
        for (const auto& info : quant::allFtypes()) {
            if (uint64_t(info.ftype) == *ft->asUInt()) return std::string(info.name);
        }
    }
    return "unknown";
}

}  // namespace

std::string_view variantKindName(VariantKind k) {
    switch (k) {
    case VariantKind::Preset: return "preset";
    case VariantKind::Recipe: return "recipe";
    case VariantKind::Fit: return "fit";
    case VariantKind::File: return "file";
    case VariantKind::Plan: return "plan";
    }
    return "preset";
}

Result<VariantSpec> parseVariantSpec(std::string_view text) {
    const std::string t = trimmed(text);
    VariantSpec s;
    auto tail = [&](std::string_view prefix) { return t.substr(prefix.size()); };
    if (t.starts_with("recipe:")) {
        s.kind = VariantKind::Recipe;
        s.arg = tail("recipe:");
    } else if (t.starts_with("fit:")) {
        s.kind = VariantKind::Fit;
        s.arg = tail("fit:");
    } else if (t.starts_with("file:")) {
        s.kind = VariantKind::File;
        s.arg = tail("file:");
    } else {
        s.kind = VariantKind::Preset;
        s.arg = t;
        if (!quant::ftypeFromName(t)) {
            return makeError(ErrorCode::BadUsage,
                             "variant '" + t +
                                 "': not a preset (Q4_K_M, Q8_0 ...), recipe:FILE, fit:SIZE or "
                                 "file:GGUF");
        }
    }
    if (s.arg.empty()) {
        return makeError(ErrorCode::BadUsage, "variant '" + t + "': nothing after the ':'");
    }
    return s;
}

Result<uint64_t> parseBudget(std::string_view text, const model::Model& model) {
    std::string t = trimmed(text);
    auto bad = [&]() {
        return makeError(ErrorCode::BadUsage, "budget '" + t +
                                                  "': expected bytes (304096, 300K, 1.5M, 2G) "
                                                  "or bits per weight (4.5bpw)");
    };
    double unit = 1;
    bool bpw = false;
    std::string num = t;
    if (num.ends_with("bpw")) {
        bpw = true;
        num.resize(num.size() - 3);
    } else if (!num.empty()) {
        const char c = char(std::toupper(static_cast<unsigned char>(num.back())));
        if (c == 'K') unit = 1e3;
        if (c == 'M') unit = 1e6;
        if (c == 'G') unit = 1e9;
        if (unit > 1) num.pop_back();
    }
    if (num.empty()) return bad();
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(num, &used);
    } catch (...) {
        return bad();
    }
    if (used != num.size() || !(v > 0) || !std::isfinite(v)) return bad();
    const double bytes = bpw ? v * double(model.totalElements()) / 8.0 : v * unit;
    if (!(bytes < 1e18)) return bad();  // no file is that large (and the cast stays defined)
    return uint64_t(std::floor(bytes));
}

Result<quant::Plan> planOfSpec(const model::Model& model, const VariantSpec& spec,
                               std::span<const int32_t> tokens, const ReportOptions& options,
                               quant::Recipe* recipe) {
    quant::Plan plan;
    quant::Recipe r;
    switch (spec.kind) {
    case VariantKind::Preset: {
        auto f = quant::ftypeFromName(spec.arg);
        if (!f) return makeError(ErrorCode::BadUsage, "unknown preset '" + spec.arg + "'");
        quant::PlanOptions po;
        po.ftype = *f;
        po.hasImatrix = options.imatrix != nullptr;
        plan = quant::buildPlan(model, po);
        r = quant::recipeOfPlan(model, plan);
        break;
    }
    case VariantKind::Recipe: {
        auto loaded = quant::loadRecipe(spec.arg);
        if (!loaded) return loaded.error();
        auto p = quant::planFromRecipe(model, *loaded);
        if (!p) return p.error();
        plan = std::move(*p);
        r = std::move(*loaded);
        break;
    }
    case VariantKind::Plan: {
        if (!spec.plan) return makeError(ErrorCode::BadUsage, "a plan variant without a plan");
        plan = *spec.plan;
        r = quant::recipeOfPlan(model, plan);
        break;
    }
    case VariantKind::Fit: {
        auto target = parseBudget(spec.arg, model);
        if (!target) return target.error();
        quant::SensitivityOptions so;
        so.imatrix = options.imatrix;
        so.threads = options.threads;
        so.cancel = options.cancel;
        auto table = quant::measureSensitivity(model, so);
        if (!table) return table.error();
        // The budget holds the file as exported, its embedded recipe included: the loop
        // fits the data to the budget less a reserve for the recipe (and once more with
        // the excess taken off when the recipe turned out longer).
        uint64_t reserve = 2048;
        for (const auto& t : model.tensors()) reserve += t.name.size() + 16;
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (reserve >= *target) {
                return makeError(ErrorCode::BadUsage,
                                 "fit:" + spec.arg + ": the budget is too small", model.path());
            }
            eval::FitOptions fo;
            fo.targetBytes = *target - reserve;
            fo.presets = eval::presetsOfSize(model, fo.targetBytes, options.imatrix);
            if (fo.presets.empty()) {
                return makeError(ErrorCode::BadUsage,
                                 "fit:" + spec.arg + ": the budget (" + std::to_string(*target) +
                                     " bytes, the embedded recipe included) is smaller "
                                     "than every preset's file",
                                 model.path());
            }
            fo.imatrix = options.imatrix;
            fo.ctx = options.ctx;
            fo.maxRounds = options.fitRounds;
            fo.movesPerRound = options.fitMoves;
            fo.threads = options.threads;
            fo.cancel = options.cancel;
            auto fit = eval::fitToBudget(model, *table, tokens, fo);
            if (!fit) return fit.error();
            plan = fit->result().plan;
            r = quant::recipeOfPlan(model, plan);
            r.chosenBy = fit->provenance();
            r.chosenBy.emplace_back("budget_bytes", std::to_string(*target));
            auto size = quant::predictFileSize(
                model, withEmbeddedRecipe(plan, quant::recipeToJson(r, &model)), options.imatrix);
            if (!size) return size.error();
            if (*size <= *target) break;
            if (attempt == 1) {
                return makeError(ErrorCode::Internal,
                                 "fit:" + spec.arg + ": the file with its recipe is " +
                                     std::to_string(*size) + " bytes, over the budget",
                                 model.path());
            }
            reserve += *size - *target + 64;
        }
        break;
    }
    case VariantKind::File:
        return makeError(ErrorCode::BadUsage, "a file variant has no plan to build", spec.arg);
    }
    if (recipe) *recipe = std::move(r);
    return plan;
}

std::vector<size_t> paretoFront(const std::vector<std::pair<double, double>>& sizeKl) {
    std::vector<size_t> order(sizeKl.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return sizeKl[a].first != sizeKl[b].first ? sizeKl[a].first < sizeKl[b].first
                                                  : sizeKl[a].second < sizeKl[b].second;
    });
    std::vector<size_t> front;
    double best = INFINITY;
    for (size_t i : order) {
        if (sizeKl[i].second < best) {
            front.push_back(i);
            best = sizeKl[i].second;
        }
    }
    return front;
}

quant::Plan withEmbeddedRecipe(quant::Plan plan, const std::string& recipeJson) {
    std::erase_if(plan.kvOverrides, [](const io::GgufKv& kv) { return kv.key == kRecipeKey; });
    plan.kvOverrides.push_back({std::string(kRecipeKey), io::GgufValue::string(recipeJson)});
    return plan;
}

Result<std::optional<quant::Recipe>> embeddedRecipe(const model::Model& file) {
    const io::GgufValue* v = file.find(kRecipeKey);
    if (!v) return std::optional<quant::Recipe>();
    if (!v->isString()) {
        return makeError(ErrorCode::BadInput,
                         std::string(kRecipeKey) + " is not a string (expected recipe JSON)",
                         file.path());
    }
    auto r = quant::parseRecipe(v->str(), file.path() + " (" + std::string(kRecipeKey) + ")");
    if (!r) return r.error();
    return std::optional<quant::Recipe>(std::move(*r));
}

Result<quant::Recipe> importRecipe(const model::Model& source, const model::Model& file,
                                   bool* embedded) {
    if (embedded) *embedded = false;
    auto imported = quant::importPlan(source, file);
    if (!imported) return imported.error();
    auto er = embeddedRecipe(file);
    if (!er) return er.error();
    if (*er) {
        auto p = quant::planFromRecipe(source, **er);
        bool same = p.ok() && p->tensors.size() == imported->tensors.size();
        for (size_t i = 0; same && i < p->tensors.size(); ++i) {
            same = p->tensors[i].type == imported->tensors[i].type;
        }
        if (same) {
            if (embedded) *embedded = true;
            return std::move(**er);
        }
    }
    return quant::recipeOfPlan(source, *imported);
}

Result<Report> runReport(const model::Model& model, const std::vector<VariantSpec>& specs,
                         std::span<const int32_t> tokens, const ReportOptions& options) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const uint64_t steps = 1 + 2 * specs.size();
    uint64_t step = 0;
    auto progress = [&](const std::string& what) -> Status {
        if (options.cancel && options.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "report cancelled");
        }
        if (options.progress) {
            quant::Progress p;
            p.doneBytes = step;
            p.totalBytes = steps;
            p.tensorIndex = size_t(step);
            p.tensor = what;
            if (!options.progress(p)) return makeError(ErrorCode::Cancelled, "report cancelled");
        }
        ++step;
        return {};
    };

    Report rep;
    rep.modelPath = model.path();
    rep.modelName = stemOf(model.path());
    rep.parameters = model.totalElements();
    for (const auto& f : model.files()) rep.modelFileBytes += f.size();
    rep.ctx = options.ctx;
    rep.topK = options.topK;
    rep.toolVersion = std::string("quantscope ") + QS_VERSION;
    const double params = double(std::max<int64_t>(1, rep.parameters));

    eval::EvalOptions eo;
    eo.ctx = options.ctx;
    eo.topK = options.topK;
    eo.forward.threads = options.threads;
    eo.forward.cancel = options.cancel;

    QS_TRY(progress("original"));
    auto lm = eval::LlamaModel::bind(model);
    if (!lm) return lm.error();
    auto ref = eval::runReference(*lm, tokens, eo);
    if (!ref) return ref.error();
    rep.tokens = int64_t(ref->tokens.size());
    rep.scored = ref->positions();
    rep.referencePerplexity = ref->perplexity;

    quant::QuantizeOptions qo;
    qo.threads = options.threads;
    qo.imatrix = options.imatrix;
    qo.cancel = options.cancel;
    qo.metrics = false;

    for (const VariantSpec& spec : specs) {
        const auto t0 = Clock::now();
        VariantResult v;
        v.kind = spec.kind;
        std::optional<eval::LlamaModel> bound;
        std::optional<model::Model> file;
        if (spec.kind == VariantKind::File) {
            v.name = spec.name.empty() ? stemOf(spec.arg) : spec.name;
            QS_TRY(progress("open " + v.name));
            auto fm = model::openModel(spec.arg);
            if (!fm) return fm.error();
            file = std::move(*fm);
            // The same model? importPlan names a tensor it lacks or whose shape differs.
            auto p = quant::importPlan(model, *file);
            if (!p) return p.error();
            v.mix = mixOf(model, *p);
            v.typeLabel = ftypeLabelOf(*file);
            auto er = embeddedRecipe(*file);
            if (!er) return er.error();
            if (*er) {
                v.recipe = std::move(**er);
                v.recipeJson = file->find(kRecipeKey)->str();
            }
            v.fileName = std::filesystem::path(spec.arg).filename().string();
            v.filePath = spec.arg;
            for (const auto& f : file->files()) v.fileBytes += f.size();
            auto b = eval::LlamaModel::bind(*file);
            if (!b) return b.error();
            bound = std::move(*b);
        } else {
            switch (spec.kind) {
            case VariantKind::Preset: {
                const auto f = quant::ftypeFromName(spec.arg);
                v.name = f ? std::string(quant::ftypeInfo(*f).name) : spec.arg;
                v.typeLabel = v.name;
                break;
            }
            case VariantKind::Recipe:
                v.name = stemOf(spec.arg);
                v.typeLabel = "recipe";
                break;
            case VariantKind::Fit:
                v.name = "fit-" + trimmed(spec.arg);
                v.typeLabel = "closed-loop fit";
                break;
            default:
                v.name = "plan";
                v.typeLabel = "plan";
                break;
            }
            if (!spec.name.empty()) v.name = spec.name;
            QS_TRY(progress("plan " + v.name));
            quant::Recipe recipe;
            auto plan = planOfSpec(model, spec, tokens, options, &recipe);
            if (!plan) return plan.error();
            if (spec.kind != VariantKind::Preset) {
                v.typeLabel += " (base " + std::string(quant::ftypeInfo(recipe.base).name) + ")";
            }
            v.recipeJson = quant::recipeToJson(recipe, &model);
            v.recipe = std::move(recipe);
            v.plan = withEmbeddedRecipe(std::move(*plan), v.recipeJson);
            v.mix = mixOf(model, *v.plan);
            v.fileName = rep.modelName + "-" + safeName(v.name) + ".gguf";
            // Never the name of another variant's file (an imported one included: exporting
            // into its folder must not replace it).
            auto taken = [&](const std::string& name) {
                for (const auto& o : rep.variants) {
                    if (o.fileName == name) return true;
                }
                for (const auto& o : specs) {
                    if (o.kind == VariantKind::File &&
                        std::filesystem::path(o.arg).filename().string() == name) {
                        return true;
                    }
                }
                return false;
            };
            for (int n = 2; taken(v.fileName); ++n) {
                v.fileName =
                    rep.modelName + "-" + safeName(v.name) + "-" + std::to_string(n) + ".gguf";
            }
            auto size = quant::predictFileSize(model, *v.plan, options.imatrix);
            if (!size) return size.error();
            v.fileBytes = *size;
            auto b = eval::bindWithPlan(model, *v.plan, qo);
            if (!b) return b.error();
            bound = std::move(*b);
        }
        QS_TRY(progress("evaluate " + v.name));
        auto r = eval::evaluate(*bound, tokens, eo, &*ref);
        if (!r) return r.error();
        v.bpw = 8.0 * double(v.fileBytes) / params;
        v.perplexity = r->perplexity;
        v.klMean = r->klMean;
        v.klP99 = r->klP99;
        v.klMax = r->klMax;
        v.top1Agreement = r->top1Agreement;
        v.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        rep.variants.push_back(std::move(v));
    }
    std::vector<std::pair<double, double>> pts;
    for (const auto& v : rep.variants) pts.emplace_back(double(v.fileBytes), v.klMean);
    rep.pareto = paretoFront(pts);
    rep.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (options.progress) {
        quant::Progress p;
        p.doneBytes = p.totalBytes = steps;
        p.tensor = "done";
        options.progress(p);
    }
    return rep;
}

Status exportVariants(const model::Model& model, Report& report, const std::string& dir,
                      const quant::QuantizeOptions& options) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return makeError(ErrorCode::IoError, "cannot create the folder: " + ec.message(), dir);
    for (auto& v : report.variants) {
        if (!v.plan) continue;  // an imported file exists already
        const std::string path = (std::filesystem::path(dir) / v.fileName).string();
        for (const auto& o : report.variants) {
            std::error_code eq;
            if (!o.plan && !o.filePath.empty() &&
                std::filesystem::equivalent(o.filePath, path, eq)) {
                return makeError(ErrorCode::BadUsage,
                                 "exporting " + v.name + " would replace the imported file", path);
            }
        }
        auto s = quant::exportGguf(model, *v.plan, path, options);
        if (!s) return s.error();
        v.filePath = path;
        v.fileBytes = s->fileBytes;
    }
    return {};
}

}  // namespace qs::report
