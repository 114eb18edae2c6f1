#pragma once
// The multiple-choice knapsack under the budget optimizer: items (tie groups of tensors), each
// with options (types) of integer cost (bytes) and real error; pick one option per item to
// minimise the total error with total cost <= budget.
//
// Method (docs/OPTIMIZER.md): each item's options are reduced to its Pareto front and the lower
// convex hull of that front. The Lagrangian relaxation is solved exactly by walking every
// item's hull segments in decreasing order of error saved per byte (the LP optimum; its value
// is a lower bound on the integer optimum). The integer solution so found is then refined by
// local search over the Pareto fronts: the best move that changes one item and optionally
// upgrades a second within the remaining budget, until no move improves. Last, an exact search
// over reduced costs (changes whose reduced cost de + lambda dc is below the gap to the LP
// bound are the only ones that can improve) either improves the incumbent to the optimum or
// proves it optimal; it gives up after a node budget (then `optimal` is false and
// `error - lowerBound` still bounds the distance to the exact optimum).
//
// Preparation (fronts, hulls, sorted segments) is independent of the budget: re-solving for a
// new budget costs one walk and the refinement.

#include <cstdint>
#include <vector>

namespace qs::quant {

struct KnapsackOption {
    uint64_t cost = 0;
    double error = 0;
};

struct KnapsackItem {
    std::vector<KnapsackOption> options;  ///< at least one
};

struct KnapsackSolution {
    bool feasible = false;    ///< false when even the cheapest options exceed the budget
    std::vector<int> choice;  ///< option index per item (cheapest options when infeasible)
    uint64_t cost = 0;
    double error = 0;
    double lowerBound = 0;    ///< no choice within the budget has a lower error
    int refinements = 0;      ///< local-search moves applied after the LP walk
    bool optimal = false;     ///< proven optimal (the exactness search completed)
    int64_t searchNodes = 0;  ///< nodes the exactness search visited
};

class KnapsackSolver {
public:
    KnapsackSolver() = default;
    explicit KnapsackSolver(std::vector<KnapsackItem> items);

    KnapsackSolution solve(uint64_t budget) const;
    /// Exact optimum by enumeration (tests; refuses more than 2^22 combinations: empty result).
    KnapsackSolution bruteForce(uint64_t budget) const;

    uint64_t minCost() const { return m_minCost; }
    uint64_t maxCost() const { return m_maxCost; }  ///< cost of the least-error choice
    const std::vector<KnapsackItem>& items() const { return m_items; }

private:
    struct Segment {
        double slope;  // error saved per unit of cost
        uint32_t item;
        uint32_t step;  // hull point step -> step + 1
    };
    std::vector<KnapsackItem> m_items;
    std::vector<std::vector<int>> m_front;  // option indices, cost ascending, error descending
    std::vector<std::vector<int>> m_hull;   // positions in m_front
    std::vector<Segment> m_segments;        // all hull segments, slope descending
    uint64_t m_minCost = 0, m_maxCost = 0;
};

}  // namespace qs::quant
