#pragma once
// The quantization workflow in one place, for the CLI and the explorer alike: a Request (model,
// preset or recipe or rules, per-tensor overrides, imatrix, quantizer, backend, threads) becomes
// a plan (buildPlan), the plan is checked once against every rule that makes it impossible to
// write (checkPlan / validate, errors naming the file and the tensor), and the validated plan
// goes on to the predicted size, the export, the statistics and the evaluation (run.h).
//
// The imatrix of the request decides PlanOptions::hasImatrix here, so every caller gets
// llama.cpp's imatrix-aware mixes (Q4_0, Q5_0, IQ4_NL, IQ4_XS, IQ3_XXS) exactly as
// `quantize --imatrix` does.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "formats/encode_best.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "quant/recipe.h"
#include "workflow/backend_spec.h"

namespace qs::workflow {

/// One tensor set by hand: its type (the shape fallback applies, origin Manual) and/or a lock
/// (the optimizer leaves it alone).
struct TensorOverride {
    std::string tensor;                       ///< the tensor's name in the model
    std::optional<formats::TensorType> type;  ///< none: keep the preset's choice
    bool lock = false;
};

/// What to quantize and how. Exactly one of preset / recipe is the plan's source (neither: the
/// preset Q8_0); rules, the output / token-embedding types and `pure` refine a preset.
struct Request {
    const model::Model* model = nullptr;
    std::optional<quant::Ftype> preset;                ///< llama.cpp's ftype (Q4_K_M ...)
    std::string presetName;                            ///< ... or its name (--type), parsed here
    std::optional<quant::Recipe> recipe;               ///< a recipe instead of a preset
    std::string recipePath;                            ///< ... or its file (--recipe), loaded here
    std::vector<quant::TypeRule> rules;                ///< --tensor-type REGEX=TYPE, first wins
    std::vector<std::string> ruleTexts;                ///< ... as text, parsed here (after rules)
    std::string ruleFile;                              ///< --tensor-type-file, read here (last)
    std::optional<formats::TensorType> outputType;     ///< --output-tensor-type
    std::optional<formats::TensorType> tokenEmbdType;  ///< --token-embedding-type
    bool pure = false;                                 ///< --pure: no mixing, no silent fallback
    bool leaveOutputTensor = false;                    ///< --leave-output-tensor
    std::vector<TensorOverride> overrides;             ///< applied last, in order
    const quant::Imatrix* imatrix = nullptr;           ///< caller-owned; decides hasImatrix
    std::optional<formats::Quantizer> quantizer;       ///< ggml (default) or best
    bool allowRequantize = false;                      ///< --allow-requantize
    BackendSpec backend;                               ///< where the encoding runs
    int threads = 0;                                   ///< 0: all cores
};

/// The preset named `name` (llama.cpp's spelling, case-insensitive, aliases, numeric id); the
/// error says which option gave it, e.g. "unknown --type 'Q9' (expected a llama.cpp preset
/// such as Q4_K_M, Q8_0, F16)".
Result<quant::Ftype> parsePreset(std::string_view name, std::string_view option = "--type");

/// A tensor type that can be written, by name ("q8_0", "Q4_K"); the error names the option.
Result<formats::TensorType> parseWritableType(std::string_view name, std::string_view option);

/// Parse `REGEX=TYPE` rules (llama-quantize's --tensor-type); the first bad rule's error.
Result<std::vector<quant::TypeRule>> parseRules(const std::vector<std::string>& texts);
/// Read a --tensor-type-file and append its rules to `rules`.
Status appendRuleFile(const std::string& path, std::vector<quant::TypeRule>& rules);

/// Load an imatrix and check that it belongs to `model` (entries of its tensors' shapes).
Result<quant::Imatrix> loadImatrixFor(const model::Model& model, const std::string& path);

/// The plan of `preset` with llama.cpp's mixing rules, imatrix-aware when `imatrix` is given:
/// the one way a preset becomes a plan (the explorer's comparisons and charts, the CLI's
/// preset rows, the optimizer's base).
quant::Plan presetPlan(const model::Model& model, quant::Ftype preset,
                       const quant::Imatrix* imatrix,
                       const std::vector<quant::TypeRule>& rules = {});

/// The plan the request describes (not yet checked: see validate). Errors, in this order: no
/// model, a recipe combined with a preset or rules, the recipe's file, an unknown preset name,
/// a bad rule, the rule file, an override naming a tensor the model lacks.
Result<quant::Plan> buildPlan(const Request& request);

/// A rule a plan breaks, for one tensor.
enum class Problem {
    PureFallback,  ///< --pure asked for a type the rows cannot hold (llama.cpp falls back)
    RowLength,     ///< the type's block size does not divide the row length
    NeedsImatrix,  ///< llama.cpp refuses to quantize to this type without an imatrix
    CannotWrite,   ///< Quantscope has no encoder for this type
};

struct Finding {
    Problem problem;
    size_t tensor = 0;  ///< model tensor index
};

/// What checkPlan checks.
struct Checks {
    bool hasImatrix = false;
    bool pure = false;             ///< report PureFallback
    bool forWriting = true;        ///< NeedsImatrix, CannotWrite and re-quantizing matter
    bool allowRequantize = false;  ///< with forWriting: re-quantizing is allowed
};

/// Every rule `plan` breaks, tensor by tensor in `order` (each tensor's problems in the enum's
/// order). Re-quantizing is not among them: see checkPlan.
std::vector<Finding> findProblems(const model::Model& model, const quant::Plan& plan,
                                  const std::vector<size_t>& order, const Checks& checks);

/// The message of a finding ("Q4_K cannot hold rows of 100 values (block size 256)"), spelling
/// types with `typeName` (formats::typeName by default).
std::string describe(const model::Model& model, const quant::Plan& plan, const Finding& f,
                     const std::function<std::string(formats::TensorType)>& typeName = {});

/// The first problem of findProblems as an error naming the file and the tensor (BadUsage),
/// then, when writing without allowRequantize, llama.cpp's re-quantize refusal.
Status checkPlan(const model::Model& model, const quant::Plan& plan,
                 const std::vector<size_t>& order, const Checks& checks);

/// A plan that passed checkPlan, with what the later steps need.
struct ValidatedPlan {
    const model::Model* model = nullptr;
    quant::Plan plan;
    std::vector<size_t> order;  ///< llama.cpp's tensor order, computed once
    const quant::Imatrix* imatrix = nullptr;
    BackendSpec backend;
    int threads = 0;
    bool forWriting = true;
    /// "re-quantizes N tensors, first ..." when the plan re-quantizes (empty otherwise).
    std::string requantizeWarning;

    uint64_t dataBytes() const { return plan.dataBytes(*model); }
};

/// Check `plan` (built from `request`, or replaced since, e.g. by the budget optimizer) for the
/// request: the request's quantizer is applied, then every rule is checked once.
Result<ValidatedPlan> validate(const Request& request, quant::Plan plan, bool forWriting);
/// buildPlan, then validate.
Result<ValidatedPlan> makePlan(const Request& request, bool forWriting);

}  // namespace qs::workflow
