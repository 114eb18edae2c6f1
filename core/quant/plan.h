#pragma once
// A Plan: the target type of every tensor of a model. Built from a preset with llama.cpp's
// exact mixing rules (llama-quant.cpp `llama_tensor_get_type`), from `REGEX=TYPE` rules (first
// match wins, like `--tensor-type`), the output / token-embedding overrides and `--pure`, and
// then edited by hand or by the optimizer. Every choice records where it came from and whether
// the shape fallback replaced it, so that a UI can show why a tensor has its type.

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/encode_best.h"
#include "formats/type_table.h"
#include "io/gguf_value.h"
#include "model/model.h"
#include "quant/ftype.h"

namespace qs::quant {

/// llama.cpp's broad tensor categories for the mixing rules (`tensor_category`).
enum class Category {
    TokenEmbd,
    AttnQ,
    AttnV,
    AttnK,
    AttnQkv,
    AttnKvB,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
};

/// Category of a tensor: by llama.cpp's name matching for GGUF names, by role for HF names.
Category categoryOf(const model::TensorInfo& t);

/// Whether llama.cpp would quantize this tensor at all (`tensor_allows_quantization`): at least
/// 2 dimensions, a `weight`, not a norm, router, positional embedding, conv1d and the like.
bool allowsQuantization(const model::TensorInfo& t);

/// llama.cpp's shape fallback (`tensor_type_fallback`): the type actually used when `requested`
/// cannot hold rows of `rowLength` values. 256-block IQ types -> IQ4_NL; Q2_K, Q3_K, TQ* -> Q4_0;
/// Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0; F16 when even that does not fit (and for every
/// other type that does not fit, as llama.cpp's quantizer did for the reference files).
formats::TensorType shapeFallback(formats::TensorType requested, int64_t rowLength);

/// A `REGEX=TYPE` rule as llama-quantize's `--tensor-type` takes it: the pattern is lower-cased
/// and searched (std::regex_search, ECMAScript) in the tensor name.
struct TypeRule {
    std::string pattern;
    formats::TensorType type = formats::TensorType::F16;
    std::regex regex;
};

/// Parse "REGEX=TYPE" (the last '=' separates). Errors name the rule: empty pattern, invalid
/// regex, unknown type.
Result<TypeRule> parseTypeRule(const std::string& text);
/// Parse a `--tensor-type-file`: rules separated by whitespace or newlines; '#' starts a comment.
Result<std::vector<TypeRule>> parseTypeRuleFile(const std::string& text, const std::string& file);

/// Where a tensor's type came from.
enum class Origin {
    Keep,           ///< not quantizable: keeps its source type
    Default,        ///< the preset's default type
    Mix,            ///< changed by the preset's mixing rules
    Rule,           ///< a REGEX=TYPE rule
    OutputType,     ///< --output-tensor-type
    TokenEmbdType,  ///< --token-embedding-type
    Manual,         ///< set by hand (GUI or recipe)
    Optimizer,      ///< set by the budget optimizer
};
std::string_view originName(Origin o);

/// The plan of one tensor.
struct TensorChoice {
    formats::TensorType type = formats::TensorType::F32;       ///< what will be written
    formats::TensorType requested = formats::TensorType::F32;  ///< before the shape fallback
    Origin origin = Origin::Keep;
    int rule = -1;                 ///< index of the matching rule for Origin::Rule
    bool quantizable = false;      ///< allowsQuantization()
    bool fellBack = false;         ///< the shape fallback changed `requested`
    bool requiresImatrix = false;  ///< llama.cpp refuses this type without an imatrix
    bool locked = false;           ///< the optimizer must not change it
};

/// How to build a plan from a preset.
struct PlanOptions {
    Ftype ftype = Ftype::Q8_0;
    std::vector<TypeRule> rules;                       ///< --tensor-type, first match wins
    std::optional<formats::TensorType> outputType;     ///< --output-tensor-type
    std::optional<formats::TensorType> tokenEmbdType;  ///< --token-embedding-type
    bool pure = false;                                 ///< --pure: no mixing rules
    bool hasImatrix = false;                           ///< some mixes depend on it
    bool leaveOutputTensor = false;                    ///< --leave-output-tensor
};

/// The plan of a whole model: one choice per tensor, in the model's tensor order.
struct Plan {
    std::optional<Ftype> ftype;  ///< preset it was built from (labels general.file_type)
    /// Who writes the blocks: ggml's encoders (llama.cpp's bytes) or the lower-error search
    /// (formats/encode_best.h); recorded as quantize.quantizer = "best" in the export.
    formats::Quantizer quantizer = formats::Quantizer::Ggml;
    std::vector<TensorChoice> tensors;
    /// Metadata (re)set in the exported file as llama-quantize --override-kv sets it: each key
    /// is removed and appended after general.file_type, before the quantize.imatrix.* keys.
    std::vector<io::GgufKv> kvOverrides;
    /// Keys (re)set after everything else (llama-quantize --prune-layers' block_count).
    std::vector<io::GgufKv> finalKv;

    /// Bytes of tensor i's data in the planned type.
    uint64_t tensorBytes(const model::Model& m, size_t i) const;
    /// Sum of tensorBytes over all tensors (the data, without GGUF padding or header).
    uint64_t dataBytes(const model::Model& m) const;
};

/// Build a plan with llama.cpp's rules. Never fails for a valid preset; rules are applied in
/// order. The model's tensors are visited in llama.cpp's order (see llamaTensorOrder), which is
/// what the per-layer counters of the mixing rules depend on.
Plan buildPlan(const model::Model& model, const PlanOptions& options);

/// The choice for one tensor set by hand to `type` (fallback applied, origin Manual). A tensor
/// that llama.cpp would not quantize keeps its source type.
TensorChoice manualChoice(const model::TensorInfo& t, formats::TensorType type);

/// Indices of the model's tensors in the order llama.cpp writes them: tensors outside the
/// blocks first (by name), then blk.0.*, blk.1.*, ... (by name within a layer).
std::vector<size_t> llamaTensorOrder(const model::Model& model);

/// Whether llama.cpp refuses to write this type without an imatrix (`tensor_requires_imatrix`).
bool requiresImatrix(const model::TensorInfo& t, formats::TensorType type,
                     std::optional<Ftype> ftype);

}  // namespace qs::quant
