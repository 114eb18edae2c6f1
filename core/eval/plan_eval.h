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

struct ProbeResult {
    std::string name;      ///< tensor name, or "blk.N" for a layer
    formats::TensorType type = formats::TensorType::F32;
    double klMean = 0, klP99 = 0, top1Agreement = 0, perplexity = 0;
};

/// For each of `tensorIndices` (source tensor indices), quantize only that tensor to `type`
/// (shape fallback applied) and evaluate against `reference`. Sorted by klMean, largest first.
Result<std::vector<ProbeResult>> probeTensors(const model::Model& model,
                                              const std::vector<size_t>& tensorIndices,
                                              formats::TensorType type,
                                              std::span<const int32_t> tokens,
                                              const ReferenceCache& reference,
                                              const EvalOptions& options);

/// The same per layer: all matrices of block N take `type` together.
Result<std::vector<ProbeResult>> probeLayers(const model::Model& model, formats::TensorType type,
                                             std::span<const int32_t> tokens,
                                             const ReferenceCache& reference,
                                             const EvalOptions& options);

} // namespace qs::eval
