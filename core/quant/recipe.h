#pragma once
// Recipes: a plan saved as JSON so that it can be shared, diffed and applied again. Schema
// `quantscope.recipe/1` (documented in docs/RECIPES.md):
//   { "schema": "quantscope.recipe/1",
//     "base": "Q4_K_M",                       preset the plan starts from (llama.cpp's rules)
//     "pure": false, "imatrix_aware": false,  options of the preset (as llama-quantize's)
//     "output_tensor_type": "Q8_0",           optional
//     "token_embedding_type": "Q6_K",         optional
//     "rules": ["attn_v=q8_0", ...],          REGEX=TYPE, first match wins
//     "tensors": {"blk.3.ffn_down.weight": "Q6_K", ...},   per-tensor choices, applied last
//     "locked": ["blk.0.attn_v.weight", ...], tensors the optimizer must not change
//     "chosen_by": {"method": "closed-loop", ...},   informative: how the plan was chosen
//     "model": {"architecture": "llama", "tensors": 48} }  informative
// Applying a recipe to a model never guesses: a tensor named in "tensors" that the model lacks
// is an error naming it.

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"
#include "quant/plan.h"

namespace qs::quant {

struct Recipe {
    Ftype base = Ftype::Q8_0;
    bool pure = false;
    bool imatrixAware = false;  ///< build the preset as with an imatrix (changes a few mixes)
    std::optional<formats::TensorType> outputType;
    std::optional<formats::TensorType> tokenEmbdType;
    std::vector<std::string> rules;                                    ///< REGEX=TYPE texts
    std::vector<std::pair<std::string, formats::TensorType>> tensors;  ///< explicit choices
    std::vector<std::string> locked;
    /// "quantizer": "best" (written only when not ggml's, so ggml recipes stay as they were).
    formats::Quantizer quantizer = formats::Quantizer::Ggml;
    /// How the plan was chosen (informative, written as "chosen_by": {key: value}, read back
    /// as strings), e.g. the closed loop's candidates, measured KL and rule.
    std::vector<std::pair<std::string, std::string>> chosenBy;
};

/// Parse recipe JSON text; errors name the file and the offending field.
Result<Recipe> parseRecipe(const std::string& json, const std::string& file);
Result<Recipe> loadRecipe(const std::string& path);
/// Serialize (stable key order, one tensor per line).
std::string recipeToJson(const Recipe& r, const model::Model* model = nullptr);
/// Write atomically (temporary file + rename).
Status saveRecipe(const Recipe& r, const std::string& path, const model::Model* model = nullptr);

/// Build the plan a recipe describes for a model.
Result<Plan> planFromRecipe(const model::Model& m, const Recipe& r);
/// The recipe of a plan: base preset, and every tensor whose type differs from what the base
/// preset gives listed explicitly (so planFromRecipe(recipeOfPlan(p)) == p).
Recipe recipeOfPlan(const model::Model& m, const Plan& p);

}  // namespace qs::quant
