#pragma once
// Quant reports (issue 25): many variants of one model side by side, each measured against the
// original on one text, as the people who publish quantized models put them on a model card.
//
// A variant is a llama.cpp preset, a recipe file, a fit to a file-size budget (the closed loop
// of eval/budget_fit.h) or an existing quantized GGUF of the same model. runReport runs the
// original once (its top-k reference cache is reused by every variant), then binds each
// variant (plans quantized in memory with the bytes an export writes, files mapped as they
// are) and evaluates it: file size, bits per weight, KL divergence (mean, p99), top-1 agreement
// and perplexity. One job: progress counts the steps, a CancelToken stops any of them.
//
// Every plan variant carries its recipe in the metadata of the file it would export, under
// `quantize.recipe` (recipe JSON, docs/RECIPES.md), so the file size in the table is the size
// of that file, and anyone can later see how it was made (embeddedRecipe).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "eval/evaluate.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "quant/recipe.h"

namespace qs::report {

/// The GGUF metadata key holding the recipe of an exported variant (recipe JSON text).
inline constexpr std::string_view kRecipeKey = "quantize.recipe";

enum class VariantKind { Preset, Recipe, Fit, File, Plan };
std::string_view variantKindName(VariantKind k);  ///< "preset", "recipe", "fit", "file", "plan"

/// What to measure. Parsed from the command line's SPEC (parseVariantSpec) or built by a GUI.
struct VariantSpec {
    VariantKind kind = VariantKind::Preset;
    std::string arg;   ///< preset name, recipe path, budget ("304096", "300K", "4.5bpw"), GGUF
    std::string name;  ///< display name; empty = made from the spec
    /// VariantKind::Plan: the plan itself (the explorer's current plan) and its recipe.
    std::optional<quant::Plan> plan;
};

/// "Q4_K_M" (a preset), "recipe:FILE", "fit:SIZE" (bytes, K/M/G suffix = 10^3.., or "4.5bpw"),
/// "file:GGUF". Errors name the spec.
Result<VariantSpec> parseVariantSpec(std::string_view text);
/// A fit budget in bytes of the file: "304096", "300K", "1.5M", "2G" or "4.5bpw".
Result<uint64_t> parseBudget(std::string_view text, const model::Model& model);

struct ReportOptions {
    int64_t ctx = 512;  ///< tokens of the text scored (as `eval --ctx`)
    int topK = 32;      ///< the reference cache's log-probabilities per position
    int threads = 0;
    const quant::Imatrix* imatrix = nullptr;  ///< quantize the plans (and build presets) with it
    int fitRounds = 2;                        ///< closed-loop rounds of local moves per fit
    int fitMoves = 4;                         ///< moves per round
    const quant::CancelToken* cancel = nullptr;
    /// doneBytes/totalBytes count steps (the reference, then per variant its plan and its
    /// evaluation); `tensor` names the step. Returning false cancels.
    quant::ProgressFn progress;
};

/// One row of the report.
struct VariantResult {
    std::string name;  ///< "Q4_K_M", "fit 300000 B", a recipe's or a file's stem
    VariantKind kind = VariantKind::Preset;
    std::string typeLabel;  ///< "Q4_K_M", "mix (base Q8_0)", the file's file_type
    std::string mix;        ///< tensor types by share of the data, "Q4_K 71%, Q6_K 20%, ..."
    std::optional<quant::Plan> plan;      ///< null for an imported file
    std::optional<quant::Recipe> recipe;  ///< the plan's (a file's: its embedded one, if any)
    std::string recipeJson;               ///< what goes into quantize.recipe
    std::string fileName;                 ///< the export's name (or the imported file's)
    std::string filePath;                 ///< the file on disk once exported / imported
    uint64_t fileBytes = 0;               ///< exact size of the (exported) file
    double bpw = 0;                       ///< 8 * fileBytes / parameters
    double perplexity = 0, klMean = 0, klP99 = 0, klMax = 0, top1Agreement = 0;
    double seconds = 0;  ///< plan + evaluation
};

struct Report {
    std::string modelPath, modelName;  ///< the original
    int64_t parameters = 0;
    uint64_t modelFileBytes = 0;
    std::string textName;  ///< the text's file name (set by the caller)
    int64_t tokens = 0, scored = 0, ctx = 0, topK = 0;
    std::string imatrixName;  ///< empty: none
    std::string toolVersion;  ///< "quantscope <version>"
    double referencePerplexity = 0;
    double seconds = 0;
    std::vector<VariantResult> variants;
    std::vector<size_t> pareto;  ///< indices of the variants on the size-vs-KL front, by size
};

/// The plan a spec describes (presets with the imatrix flag as an export would build them;
/// fits through eval::fitToBudget on `tokens`). The one place specs become plans. A File spec
/// has no plan: an error.
Result<quant::Plan> planOfSpec(const model::Model& model, const VariantSpec& spec,
                               std::span<const int32_t> tokens, const ReportOptions& options,
                               quant::Recipe* recipe = nullptr);

/// Measure every variant against `model` on `tokens` (BOS first when the model wants one).
Result<Report> runReport(const model::Model& model, const std::vector<VariantSpec>& specs,
                         std::span<const int32_t> tokens, const ReportOptions& options);

/// Indices of the points on the Pareto front of (size, kl), lower both better: a point is on
/// it when no other point is at most as large and at most as divergent and better in one.
/// Sorted by size.
std::vector<size_t> paretoFront(const std::vector<std::pair<double, double>>& sizeKl);

/// The plan with the recipe under quantize.recipe (replacing one the plan had).
quant::Plan withEmbeddedRecipe(quant::Plan plan, const std::string& recipeJson);
/// The recipe embedded in a file (nullopt when it has none; an error when it is malformed).
Result<std::optional<quant::Recipe>> embeddedRecipe(const model::Model& file);

/// The recipe of a quantized file of `source`: its embedded recipe when the file has one and
/// that recipe gives `source` exactly the file's tensor types (so importing an exported
/// variant gives back the recipe it was made from, chosen_by included); otherwise the recipe
/// of the imported plan (quant::recipeOfPlan of quant::importPlan). `embedded`, when given,
/// says which.
Result<quant::Recipe> importRecipe(const model::Model& source, const model::Model& file,
                                   bool* embedded = nullptr);

/// Export every plan variant into `dir` (each its fileName), filling filePath and fileBytes.
/// Files are written as exportGguf writes them (nothing half-written on error or cancel).
Status exportVariants(const model::Model& model, Report& report, const std::string& dir,
                      const quant::QuantizeOptions& options);

}  // namespace qs::report
