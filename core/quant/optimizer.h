#pragma once
// The budget optimizer: one type per tensor from an allowed set, minimising the total weighted
// error of the model for a file-size (or bits-per-weight) budget, with locked tensors, tie groups
// and the shape rules of each type. The objective and the method are in docs/OPTIMIZER.md:
//
//   error(plan) = sum over quantizable tensors t of  n_t * wNMSE_t(type_t)
//
// n_t the parameter count, wNMSE the imatrix-weighted normalised squared error of the sensitivity
// table (plain NMSE without an imatrix). Sizes are exact: the GGUF export pads every tensor to
// 32 bytes after a header that does not depend on the types, so the file size of a plan is
// fixed + sum of padded tensor sizes, which is what the optimizer budgets, to the byte.
//
// Prepare once per (model, table, base plan, options); solve() for any budget is fast (the GUI
// slider calls it on every move), and curve() gives the size-against-error front.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"
#include "quant/imatrix.h"
#include "quant/knapsack.h"
#include "quant/plan.h"
#include "quant/sensitivity.h"

namespace qs::quant {

struct OptimizerOptions {
    /// Allowed (requested) types; each must be in the table. Empty = every type of the table.
    std::vector<formats::TensorType> types;
    /// Regexes (searched in the tensor name): matching tensors keep the base plan's type.
    /// Tensors the base plan marks locked are kept too.
    std::vector<std::string> lock;
    bool tieGateUp = true;   ///< ffn_gate and ffn_up of a layer get one type
    bool tieExperts = true;  ///< the expert tensors of a layer (same role) get one type
    bool weighted = true;    ///< objective on weightedNmse (with an imatrix) rather than nmse
    /// Extra factors on a tensor's error, `REGEX=FACTOR` (searched in the name, first match
    /// wins, factor > 0), e.g. `^output\.weight$=4` when the logits matter more than their
    /// share of the parameters says.
    std::vector<std::string> factors;
};

/// One point of the size-against-error curve.
struct CurvePoint {
    uint64_t fileBytes = 0;
    double error = 0;
    double lowerBound = 0;
};

struct OptimizeResult {
    bool feasible = false;   ///< false: even the smallest allowed types exceed the budget
    Plan plan;               ///< the base plan with the optimizer's choices (origin Optimizer)
    uint64_t fileBytes = 0;  ///< exact size of the GGUF export (= predictFileSize)
    double error = 0;        ///< objective (sum n_t * wNMSE_t)
    double lowerBound = 0;   ///< no plan within the budget has a lower objective
    int refinements = 0;
    bool optimal = false;  ///< proven optimal for the objective (see knapsack.h)
    double seconds = 0;
};

/// A plan scored by the same objective (presets, imported plans, the current plan).
struct PlanScore {
    uint64_t fileBytes = 0;
    double error = 0;
    std::vector<double> tensorError;   ///< per model tensor (0 for tensors kept as they are)
    std::vector<std::string> unknown;  ///< tensors whose type the table has not measured
};

/// One tie group the optimizer chooses for (read-only view for local moves): its tensors and
/// its options (requested type, padded bytes of the group, objective error), cost ascending
/// order not guaranteed.
struct OptimizerGroup {
    std::vector<size_t> tensors;
    std::vector<formats::TensorType> types;
    std::vector<uint64_t> cost;
    std::vector<double> error;
};

/// Holds pointers to the model and the table: both must outlive it.
class PlanOptimizer {
public:
    /// `imatrix` only matters for the file size (the export records its path and counts).
    static Result<PlanOptimizer> prepare(const model::Model& model, const SensitivityTable& table,
                                         const Plan& base, const OptimizerOptions& options,
                                         const Imatrix* imatrix = nullptr);

    /// The least-error plan whose file is at most `fileBytes`.
    OptimizeResult solve(uint64_t fileBytes) const;
    /// File size for a bits-per-weight target: floor(bpw * parameters / 8), the whole file
    /// (header and every tensor) counted, as llama.cpp reports a model's BPW.
    uint64_t bytesForBpw(double bpw) const;
    /// `points` solutions evenly spaced in file size from minFileBytes to maxFileBytes.
    std::vector<CurvePoint> curve(int points) const;
    /// Score any plan of the same model by this objective (table lookups by written type).
    PlanScore score(const Plan& plan) const;

    uint64_t minFileBytes() const { return m_fixedBytes + m_solver.minCost(); }
    uint64_t maxFileBytes() const { return m_fixedBytes + m_solver.maxCost(); }
    /// Header plus padded bytes of everything the optimizer does not choose.
    uint64_t fixedBytes() const { return m_fixedBytes; }
    size_t groupCount() const { return m_groups.size(); }
    /// The tie groups and their options (what solve() chooses between).
    std::vector<OptimizerGroup> groups() const;
    /// `plan` with every tensor of group `g` set to option `option` (origin Optimizer).
    Plan withGroupOption(const Plan& plan, size_t g, size_t option) const;
    int64_t parameters() const { return m_parameters; }

private:
    struct GroupOption {
        formats::TensorType requested;
    };
    struct Group {
        std::vector<size_t> tensors;
        std::vector<GroupOption> options;  ///< parallel to the knapsack item's options
    };
    const model::Model* m_model = nullptr;
    const SensitivityTable* m_table = nullptr;
    Plan m_base;
    OptimizerOptions m_options;
    std::vector<Group> m_groups;
    std::vector<double> m_factor;  // per model tensor (OptimizerOptions::factors)
    KnapsackSolver m_solver;
    uint64_t m_headerBytes = 0;  // everything but tensor data
    uint64_t m_fixedBytes = 0;   // header + padded bytes of fixed tensors
    double m_fixedError = 0;     // objective of fixed (locked) tensors
    int64_t m_parameters = 0;
};

/// Bytes of `bytes` of tensor data in the export (padded to the GGUF alignment, 32).
uint64_t paddedTensorBytes(uint64_t bytes);

}  // namespace qs::quant
