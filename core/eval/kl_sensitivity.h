#pragma once
// Sensitivity by the model's predictions: the KL divergence against the original when only one
// tensor takes a candidate type, for every tensor the forward pass uses and every candidate of a
// measured (NMSE) sensitivity table, as a table the budget optimizer reads. The weight error
// (NMSE) treats every tensor alike; the KL probe sees that some tensors (attn_v, the output
// head) matter more than their NMSE says. The optimizer's objective n_t x weightedNmse_t is
// made equal to the probe's KL of tensor t, so it minimises the sum of per-tensor KL: the
// first-order estimate of the plan's KL (it assumes small, independent perturbations).

#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "eval/evaluate.h"
#include "eval/llama_model.h"
#include "model/model.h"
#include "quant/sensitivity.h"

namespace qs::eval {

struct KlSensitivityOptions {
    EvalOptions eval;            ///< context, scoring, threads, cancel
    quant::ProgressFn progress;  ///< one step per probe (tensor x distinct written type)
    /// Tensors probed together (a tie group: ffn_gate and ffn_up of a layer, which always get
    /// one type): one probe per group and type, its KL shared by the members in proportion to
    /// their parameters. Tensors in no group are probed alone.
    std::vector<std::vector<size_t>> groups;
    /// Types measured per tensor (group): 0 = every distinct written type; n >= 2 = n types
    /// spread over the tensor's range of weight error (always the cheapest and the dearest),
    /// the others interpolated in log KL against log weight error between the two nearest
    /// measured types (beyond them, the slope of the nearest pair; KL 0 where the weight error
    /// is 0). So every tensor's sensitivity is measured at two or more types, not extrapolated
    /// from one.
    int typesPerTensor = 0;
    /// Reuse the prefix: the original's residual stream is saved per layer once and each probe
    /// recomputes only the layers from the first one it changes (identical logits).
    bool reusePrefix = true;
};

/// The first layer of the forward pass a change of source tensor `index` affects: its block;
/// nLayer for the output head (untied); 0 for token_embd (and a tied output).
int firstAffectedLayer(const model::Model& model, const LlamaModel& lm, size_t index);

/// The KL table: `nmse`'s cells (types, sizes, validity) with nmse and weightedNmse replaced by
/// KL / parameters of the tensor, measured with `reference` (made on `tokens` by runReference).
/// Quantizable tensors the forward pass does not use get a zero error. Each distinct written
/// type of a tensor is probed once (requested types that fall back to it share the result).
Result<quant::SensitivityTable> klSensitivity(const model::Model& model,
                                              const quant::SensitivityTable& nmse,
                                              std::span<const int32_t> tokens,
                                              const ReferenceCache& reference,
                                              const KlSensitivityOptions& options);

/// The same from a text: tokenized with the model's own vocabulary (BOS first when the model
/// asks for it), cut to options.eval.ctx tokens, and the original's reference run made here.
Result<quant::SensitivityTable> klSensitivityOfText(const model::Model& model,
                                                    const quant::SensitivityTable& nmse,
                                                    std::string_view text,
                                                    const KlSensitivityOptions& options);

}  // namespace qs::eval
