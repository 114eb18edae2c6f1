#pragma once
// The budget step of the workflow: a budget (bits per weight or file bytes) and an objective
// (the weight error "nmse" or per-tensor KL probes "kl") -> the sensitivity table, the base
// plan (workflow::presetPlan of `base`, imatrix-aware) and the optimizer's plan for the budget.
// What `plan` and `quantize --target-*` call; progress lines on stderr when `progress` is set
// and stderr is a terminal (workflow::terminalProgress).

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"
#include "quant/imatrix.h"
#include "quant/optimizer.h"
#include "quant/sensitivity.h"

namespace qs::workflow {

struct BudgetSpec {
    double targetBpw = 0;     ///< > 0: bits per weight of the whole file
    uint64_t targetSize = 0;  ///< > 0: file bytes
    std::string types;        ///< comma-separated allowed types (empty = defaults)
    std::vector<std::string> lock;
    std::vector<std::string> factors;  ///< --weight REGEX=FACTOR
    std::string base = "Q8_0";         ///< preset of locked / untouched tensors and file_type label
    bool exact = false;
    int sampleRows = 64;
    /// Tensors of more than largeSampling.exactBelowValues values are measured by the error
    /// atlas's sampler (SensitivityOptions::sampleLarge) unless `exact`: a budget fit of a
    /// 405B model reads a sample of each large tensor's rows, not the model.
    bool sampleLarge = true;
    quant::ErrorSampling largeSampling;
    bool noCache = false;
    int threads = 0;
    bool progress = false;  ///< progress on stderr
    /// "nmse" (the weight error, default) or "kl": per-tensor KL probes on `klText`
    /// (the first `klCtx` tokens, BOS first) replace the table's errors.
    std::string objective = "nmse";
    std::string klText;
    int64_t klCtx = 128;
};

struct Optimized {
    quant::SensitivityTable table;
    quant::Plan base;
    std::optional<quant::PlanOptimizer> optimizer;  ///< points into `table`: keep together
    quant::OptimizeResult result;
    uint64_t targetBytes = 0;
};

/// The sampled tensors of a plan: how many of the table's tensors the error atlas's sampler
/// measured on a sample of rows, and the largest relative standard error among the cells the
/// plan uses (`worstTensor` empty when every such error is 0: exact rows or all-zero errors).
struct SampledSummary {
    size_t tensors = 0;
    double maxRelativeStdError = 0;
    std::string worstTensor;
    std::vector<double> relative;  ///< per tensor: stdError / weightedNmse of its cell, else -1
    double maxRelativeCi95() const { return quant::kZ95 * maxRelativeStdError; }
};
SampledSummary sampledSummary(const model::Model& m, const quant::SensitivityTable& table,
                              const quant::Plan& plan);
/// The summary as one line for a terminal ("sampled: N of M quantizable tensors ..."), or an
/// empty string when nothing was sampled.
std::string describeSampled(const SampledSummary& s, const quant::SensitivityTable& table,
                            const BudgetSpec& spec);

/// Parse "Q4_K,Q6_K,..." into types.
Result<std::vector<formats::TensorType>> parseTypeList(const std::string& list);
/// Measure the table for `types` (all defaults when empty).
Result<quant::SensitivityTable> measureFor(const model::Model& m, const BudgetSpec& s,
                                           const std::vector<formats::TensorType>& types,
                                           const quant::Imatrix* imatrix);
/// Measure, prepare and solve for the budget. The result's optimizer refers to out.table, so
/// `out` must not be moved after the call.
Status optimizeForBudget(const model::Model& m, const BudgetSpec& s, const quant::Imatrix* imatrix,
                         Optimized& out);

}  // namespace qs::workflow
