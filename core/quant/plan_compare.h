#pragma once
// Plans as first-class objects: the plan of an existing GGUF file (its per-tensor types) applied
// to a source model, the comparison of two plans (tensors that differ, size and error per
// layer), and llama.cpp's `--tensor-type-file` format both ways (one anchored `NAME=TYPE` per
// tensor, which llama-quantize applies as it applies --tensor-type rules).

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"
#include "quant/optimizer.h"
#include "quant/plan.h"

namespace qs::quant {

/// The plan that reproduces `quantized`'s tensor types on `source` (matched by name):
/// quantizable tensors get the file's type (origin Manual, `requested` = the type), the others
/// keep their source type; general.file_type of the file becomes the plan's ftype. Errors name
/// a tensor of the source the file lacks, or one whose shape differs.
Result<Plan> importPlan(const model::Model& source, const model::Model& quantized);

/// Whether `type` holds already-quantized weights (anything but F32, F16, BF16, F64): writing
/// such a tensor to another type re-quantizes dequantized weights, which llama.cpp refuses
/// without --allow-requantize.
bool isQuantizedType(formats::TensorType type);
/// Whether any tensor llama.cpp would quantize is stored in a quantized type (a quantized file).
bool hasQuantizedTensors(const model::Model& model);
/// Indices of the tensors `plan` would re-quantize: stored quantized, planned to another type.
std::vector<size_t> requantizedTensors(const model::Model& model, const Plan& plan);
/// ggml's spelling of a type name, as llama.cpp prints it ("q8_0", "q4_K", "iq4_nl", "f16").
std::string llamaTypeName(formats::TensorType type);
/// llama.cpp's requantize refusal ("requantizing from type q8_0 is disabled") before any work:
/// unless `allowRequantize`, an error naming the file, the first tensor (in llama.cpp's order)
/// the plan would re-quantize, its type and offset, and the way out.
Status checkRequantize(const model::Model& model, const Plan& plan, bool allowRequantize);
/// When re-quantizing is allowed: the warning for the plan ("re-quantizes 12 tensors, first
/// blk.0.attn_q.weight from q8_0 ..."), empty when it re-quantizes nothing.
std::string requantizeWarning(const model::Model& model, const Plan& plan);

/// Per-layer totals of a plan comparison (layer -1: tensors outside the blocks).
struct LayerDiff {
    int layer = -1;
    uint64_t bytesA = 0, bytesB = 0;  ///< padded bytes in the export
    double errorA = 0, errorB = 0;    ///< objective (0 without a scorer)
    int differing = 0;                ///< tensors whose types differ
};

struct TensorDiff {
    size_t index = 0;
    formats::TensorType typeA = formats::TensorType::F32, typeB = formats::TensorType::F32;
    uint64_t bytesA = 0, bytesB = 0;
    double errorA = 0, errorB = 0;
};

struct PlanDiff {
    std::vector<TensorDiff> tensors;          ///< only the tensors whose types differ, model order
    std::vector<LayerDiff> layers;            ///< every layer, ascending (-1 first)
    uint64_t fileBytesA = 0, fileBytesB = 0;  ///< with a scorer: exact export sizes
    double errorA = 0, errorB = 0;
};

/// Compare two plans of `model`. With `scorer`, errors and exact file sizes come from it;
/// without, errors are 0 and file sizes are the padded data bytes only.
Result<PlanDiff> diffPlans(const model::Model& model, const Plan& a, const Plan& b,
                           const PlanOptimizer* scorer = nullptr);

/// llama.cpp's --tensor-type-file text for a plan: one `^escaped\.name$=type` line per
/// quantizable tensor (lower-case type names, as llama-quantize's examples), after a comment.
std::string tensorTypeFileOf(const model::Model& model, const Plan& plan);

/// The plan a --tensor-type-file gives on top of a preset (llama-quantize's semantics: the
/// first matching rule sets a quantizable tensor's type, the preset decides the rest).
Result<Plan> planFromTensorTypeFile(const model::Model& model, const std::string& text,
                                    const std::string& file, Ftype base);

}  // namespace qs::quant
