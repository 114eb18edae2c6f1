#pragma once
// Evaluating a plan without writing a file: every bound weight the plan changes is quantized in
// memory by the engine (the same bytes an export writes) and replaces the mapped one, so memory
// stays near the quantized size. Also the per-tensor sensitivity probe: the KL divergence when
// only one tensor (or one layer) takes a candidate type, to rank tensors by real impact.

#include <cstdint>
#include <string>
#include <vector>

#include "eval/evaluate.h"
#include "quant/plan.h"

namespace qs::eval {

/// Bind `model` with the weights `plan` changes quantized in memory. Tensors the forward pass
/// does not use are ignored.
Result<LlamaModel> bindWithPlan(const model::Model& model, const quant::Plan& plan,
                                const quant::QuantizeOptions& qopts);

/// What evaluatePlan gives: the plan's numbers against the original, and the reference cache
/// (to pass back in for the next plan on the same tokens).
struct PlanEvaluation {
    EvalResult result;
    ReferenceCache reference;
    uint64_t weightBytes = 0;           ///< bytes of the plan's bound weights
    uint64_t referenceWeightBytes = 0;  ///< bytes of the original's bound weights
};

/// One call for a GUI job: run the original (unless `cached` holds a reference made on these
/// tokens with these options), quantize the plan's weights in memory, evaluate. Progress goes
/// to options.forward.progress as steps of one overall count (reference layers, then tensors
/// quantized, then plan layers); options.forward.cancel stops any phase (Cancelled).
Result<PlanEvaluation> evaluatePlan(const model::Model& model, const quant::Plan& plan,
                                    std::span<const int32_t> tokens, const EvalOptions& options,
                                    const ReferenceCache* cached = nullptr);

struct ProbeResult {
    std::string name;  ///< tensor name, or "blk.N" for a layer
    formats::TensorType type = formats::TensorType::F32;
    double klMean = 0, klP99 = 0, top1Agreement = 0, perplexity = 0;
};

/// For each of `tensorIndices` (source tensor indices), quantize only that tensor to `type`
/// (shape fallback applied) and evaluate against `reference`. Sorted by klMean, largest first.
Result<std::vector<ProbeResult>> probeTensors(
    const model::Model& model, const std::vector<size_t>& tensorIndices, formats::TensorType type,
    std::span<const int32_t> tokens, const ReferenceCache& reference, const EvalOptions& options);

/// The same per layer: all matrices of block N take `type` together.
Result<std::vector<ProbeResult>> probeLayers(const model::Model& model, formats::TensorType type,
                                             std::span<const int32_t> tokens,
                                             const ReferenceCache& reference,
                                             const EvalOptions& options);

}  // namespace qs::eval
