#include "quant/knapsack.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

namespace qs::quant {

namespace {

// Local-search moves after the LP walk; each strictly improves, and in practice a handful are
// found (the LP solution leaves less than one hull step of budget).
constexpr int kMaxRefinements = 64;
// Nodes of the exactness search before it gives up (then the result is the local optimum).
constexpr int64_t kMaxSearchNodes = 500000;

}  // namespace

KnapsackSolver::KnapsackSolver(std::vector<KnapsackItem> items) : m_items(std::move(items)) {
    m_front.resize(m_items.size());
    m_hull.resize(m_items.size());
    for (size_t i = 0; i < m_items.size(); ++i) {
        const auto& opts = m_items[i].options;
        std::vector<int> order(opts.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            if (opts[size_t(a)].cost != opts[size_t(b)].cost) {
                return opts[size_t(a)].cost < opts[size_t(b)].cost;
            }
            return opts[size_t(a)].error < opts[size_t(b)].error;
        });
        // Pareto front: each next option costs more and errs strictly less.
        auto& front = m_front[i];
        for (int o : order) {
            if (front.empty() || opts[size_t(o)].error < opts[size_t(front.back())].error) {
                if (!front.empty() && opts[size_t(o)].cost == opts[size_t(front.back())].cost) {
                    continue;  // same cost, more error (sorted): dominated
                }
                front.push_back(o);
            }
        }
        // Lower convex hull of the front (strictly convex: collinear points dropped).
        auto c = [&](int p) { return double(opts[size_t(front[size_t(p)])].cost); };
        auto e = [&](int p) { return opts[size_t(front[size_t(p)])].error; };
        auto slope = [&](int a, int b) { return (e(a) - e(b)) / (c(b) - c(a)); };
        auto& hull = m_hull[i];
        for (int p = 0; p < int(front.size()); ++p) {
            while (hull.size() >= 2 &&
                   slope(hull[hull.size() - 2], hull.back()) <= slope(hull.back(), p)) {
                hull.pop_back();
            }
            hull.push_back(p);
        }
        for (size_t s = 0; s + 1 < hull.size(); ++s) {
            m_segments.push_back({slope(hull[s], hull[s + 1]), uint32_t(i), uint32_t(s)});
        }
        if (!front.empty()) {
            m_minCost += opts[size_t(front.front())].cost;
            m_maxCost += opts[size_t(front.back())].cost;
        }
    }
    // Within an item slopes strictly decrease, so this order takes each item's steps in turn.
    std::stable_sort(m_segments.begin(), m_segments.end(), [](const Segment& a, const Segment& b) {
        if (a.slope != b.slope) return a.slope > b.slope;
        if (a.item != b.item) return a.item < b.item;
        return a.step < b.step;
    });
}

KnapsackSolution KnapsackSolver::solve(uint64_t budget) const {
    const size_t n = m_items.size();
    KnapsackSolution sol;
    std::vector<int> pos(n, 0);  // position in the front
    auto cost = [&](size_t i, int p) {
        return m_items[i].options[size_t(m_front[i][size_t(p)])].cost;
    };
    auto err = [&](size_t i, int p) {
        return m_items[i].options[size_t(m_front[i][size_t(p)])].error;
    };
    uint64_t total = 0;
    double error = 0;
    for (size_t i = 0; i < n; ++i) {
        total += cost(i, 0);
        error += err(i, 0);
    }
    sol.feasible = total <= budget;
    if (!sol.feasible) {
        sol.choice.resize(n);
        for (size_t i = 0; i < n; ++i) sol.choice[i] = m_front[i].empty() ? 0 : m_front[i][0];
        sol.cost = total;
        sol.error = error;
        sol.lowerBound = std::numeric_limits<double>::infinity();
        return sol;
    }

    // 1. The Lagrangian / LP walk along the hull segments.
    bool broke = false;
    double lambda = 0;
    for (const Segment& s : m_segments) {
        const size_t i = s.item;
        const int from = m_hull[i][s.step], to = m_hull[i][s.step + 1];
        const uint64_t dc = cost(i, to) - cost(i, from);
        if (total + dc > budget) {
            sol.lowerBound = error - double(budget - total) * s.slope;
            lambda = s.slope;
            broke = true;
            break;
        }
        total += dc;
        error -= err(i, from) - err(i, to);
        pos[i] = to;
    }
    if (!broke) {  // every item at its least error: optimal
        sol.lowerBound = error;
        sol.optimal = true;
    }
    const std::vector<int> lpPos = pos;
    const uint64_t lpTotal = total;
    const double lpError = error;

    // 2. Refinement: change one item (any front position) and optionally upgrade another with
    // what budget is left; take the best strictly improving move until none.
    struct Up {
        uint64_t dc;
        double de;
        uint32_t item;
        int p;
    };
    std::vector<Up> ups;
    std::vector<int> best1, best2;  // prefix argmin of de, and of de over a different item
    for (int iter = 0; iter < kMaxRefinements; ++iter) {
        const uint64_t rem = budget - total;
        ups.clear();
        uint64_t maxFree = 0;  // the most budget one change can free
        for (size_t j = 0; j < n; ++j) maxFree = std::max(maxFree, cost(j, pos[j]) - cost(j, 0));
        for (size_t j = 0; j < n; ++j) {
            for (int p = pos[j] + 1; p < int(m_front[j].size()); ++p) {
                const uint64_t dc = cost(j, p) - cost(j, pos[j]);
                if (dc > rem + maxFree) break;  // beyond any budget a move can free
                ups.push_back({dc, err(j, p) - err(j, pos[j]), uint32_t(j), p});
            }
        }
        std::sort(ups.begin(), ups.end(), [](const Up& a, const Up& b) {
            if (a.dc != b.dc) return a.dc < b.dc;
            if (a.de != b.de) return a.de < b.de;
            return a.item < b.item;
        });
        best1.assign(ups.size(), -1);
        best2.assign(ups.size(), -1);
        int b1 = -1, b2 = -1;
        for (size_t k = 0; k < ups.size(); ++k) {
            const int kk = int(k);
            if (b1 < 0 || ups[k].de < ups[size_t(b1)].de) {
                if (b1 >= 0 && ups[size_t(b1)].item != ups[k].item) b2 = b1;
                b1 = kk;
            } else if (ups[k].item != ups[size_t(b1)].item &&
                       (b2 < 0 || ups[k].de < ups[size_t(b2)].de)) {
                b2 = kk;
            }
            best1[k] = b1;
            best2[k] = b2;
        }
        // Best upgrade costing at most `avail` from an item other than `not`.
        auto bestUp = [&](uint64_t avail, size_t notItem) -> int {
            auto it = std::upper_bound(ups.begin(), ups.end(), avail,
                                       [](uint64_t v, const Up& u) { return v < u.dc; });
            if (it == ups.begin()) return -1;
            const size_t k = size_t(it - ups.begin()) - 1;
            if (best1[k] >= 0 && ups[size_t(best1[k])].item != notItem) return best1[k];
            return best2[k];
        };
        const double eps = 1e-12 * std::max(1e-300, std::fabs(error));
        double bestDelta = -eps;
        size_t mi = n;
        int mp = -1, mu = -1;
        if (int u = bestUp(rem, n); u >= 0 && ups[size_t(u)].de < bestDelta) {
            bestDelta = ups[size_t(u)].de;
            mu = u;
        }
        for (size_t i = 0; i < n; ++i) {
            for (int p = 0; p < int(m_front[i].size()); ++p) {
                if (p == pos[i]) continue;
                const int64_t dci = int64_t(cost(i, p)) - int64_t(cost(i, pos[i]));
                if (dci > int64_t(rem)) break;
                const double dei = err(i, p) - err(i, pos[i]);
                const uint64_t avail = uint64_t(int64_t(rem) - dci);
                if (dei < bestDelta) {
                    bestDelta = dei;
                    mi = i;
                    mp = p;
                    mu = -1;
                }
                if (int u = bestUp(avail, i); u >= 0 && dei + ups[size_t(u)].de < bestDelta) {
                    bestDelta = dei + ups[size_t(u)].de;
                    mi = i;
                    mp = p;
                    mu = u;
                }
            }
        }
        if (mi == n && mu < 0) break;
        if (mi < n) {
            total = total - cost(mi, pos[mi]) + cost(mi, mp);
            error += err(mi, mp) - err(mi, pos[mi]);
            pos[mi] = mp;
        }
        if (mu >= 0) {
            const Up& u = ups[size_t(mu)];
            total = total - cost(u.item, pos[u.item]) + cost(u.item, u.p);
            error += err(u.item, u.p) - err(u.item, pos[u.item]);
            pos[u.item] = u.p;
        }
        ++sol.refinements;
    }

    // 3. Exactness: every choice differs from the LP one by changes of reduced cost
    // rc = de + lambda * dc >= 0 (the LP state is lambda-optimal on every hull), and a choice
    // within the budget has error - lowerBound >= sum rc. So only changes with
    // sum rc < incumbent - lowerBound can improve: a depth-first search over those few, cheapest
    // reduced cost first, either finds the optimum or proves the incumbent optimal.
    if (broke) {
        double best = error;  // the local search's incumbent
        std::vector<int> bestPos = pos;
        struct Change {
            double rc, de;
            int64_t dc;
            int p;
        };
        struct Cand {
            size_t item;
            std::vector<Change> changes;  // rc ascending
        };
        std::vector<Cand> cands;
        const double gap0 = best - sol.lowerBound;
        const double tol = 1e-12 * std::max(1e-300, std::fabs(best));
        for (size_t i = 0; i < n; ++i) {
            Cand c{i, {}};
            for (int p = 0; p < int(m_front[i].size()); ++p) {
                if (p == lpPos[i]) continue;
                const int64_t dc = int64_t(cost(i, p)) - int64_t(cost(i, lpPos[i]));
                const double de = err(i, p) - err(i, lpPos[i]);
                const double rc = std::max(0.0, de + lambda * double(dc));
                if (rc < gap0 - tol) c.changes.push_back({rc, de, dc, p});
            }
            if (c.changes.empty()) continue;
            std::sort(c.changes.begin(), c.changes.end(),
                      [](const Change& a, const Change& b) { return a.rc < b.rc; });
            cands.push_back(std::move(c));
        }
        std::sort(cands.begin(), cands.end(),
                  [](const Cand& a, const Cand& b) { return a.changes[0].rc < b.changes[0].rc; });
        const int64_t rem = int64_t(budget - lpTotal);
        // Over budget by D bytes, the later items must save D: at least D times the least
        // reduced cost per byte saved among their downgrades (a fractional bound).
        std::vector<double> saveRate(cands.size() + 1, std::numeric_limits<double>::infinity());
        for (size_t j = cands.size(); j-- > 0;) {
            saveRate[j] = saveRate[j + 1];
            for (const Change& ch : cands[j].changes) {
                if (ch.dc < 0) saveRate[j] = std::min(saveRate[j], ch.rc / double(-ch.dc));
            }
        }
        std::vector<int> chosen(cands.size(), -1), bestChosen;
        bool improved = false;
        int64_t nodes = 0;
        bool complete = true;
        // Recursive search over candidate items k.., with running sums.
        std::function<void(size_t, double, double, int64_t)> dfs =
            [&](size_t k, double rcSum, double deSum, int64_t dcSum) {
                if (dcSum <= rem && lpError + deSum < best - tol) {
                    best = lpError + deSum;
                    bestChosen = chosen;
                    improved = true;
                }
                const int64_t deficit = dcSum - rem;
                if (deficit > 0 &&
                    rcSum + double(deficit) * saveRate[k] >= best - sol.lowerBound - tol) {
                    return;
                }
                for (size_t j = k; j < cands.size(); ++j) {
                    if (rcSum + cands[j].changes[0].rc >= best - sol.lowerBound - tol) break;
                    for (size_t q = 0; q < cands[j].changes.size(); ++q) {
                        const Change& ch = cands[j].changes[q];
                        if (rcSum + ch.rc >= best - sol.lowerBound - tol) break;
                        if (++nodes > kMaxSearchNodes) {
                            complete = false;
                            return;
                        }
                        chosen[j] = int(q);
                        dfs(j + 1, rcSum + ch.rc, deSum + ch.de, dcSum + ch.dc);
                        chosen[j] = -1;
                        if (!complete) return;
                    }
                }
            };
        dfs(0, 0.0, 0.0, 0);
        if (improved) {
            pos = lpPos;
            for (size_t j = 0; j < cands.size(); ++j) {
                if (bestChosen[j] >= 0)
                    pos[cands[j].item] = cands[j].changes[size_t(bestChosen[j])].p;
            }
            ++sol.refinements;
        } else {
            pos = bestPos;
        }
        sol.optimal = complete;
        sol.searchNodes = nodes;
    }

    sol.choice.resize(n);
    sol.cost = 0;
    sol.error = 0;
    for (size_t i = 0; i < n; ++i) {  // sums in item order: the same for every path taken
        sol.choice[i] = m_front[i][size_t(pos[i])];
        sol.cost += cost(i, pos[i]);
        sol.error += err(i, pos[i]);
    }
    sol.lowerBound = std::min(sol.lowerBound, sol.error);
    return sol;
}

KnapsackSolution KnapsackSolver::bruteForce(uint64_t budget) const {
    KnapsackSolution best;
    double combos = 1;
    for (const auto& it : m_items) combos *= double(std::max<size_t>(1, it.options.size()));
    if (combos > double(1 << 22)) return best;
    const size_t n = m_items.size();
    std::vector<int> c(n, 0);
    best.error = std::numeric_limits<double>::infinity();
    while (true) {
        uint64_t cost = 0;
        double error = 0;
        for (size_t i = 0; i < n; ++i) {
            cost += m_items[i].options[size_t(c[i])].cost;
            error += m_items[i].options[size_t(c[i])].error;
        }
        if (cost <= budget && error < best.error) {
            best.feasible = true;
            best.choice = c;
            best.cost = cost;
            best.error = error;
        }
        size_t k = 0;
        while (k < n && ++c[k] == int(m_items[k].options.size())) c[k++] = 0;
        if (k == n) break;
    }
    best.lowerBound = best.error;
    return best;
}

}  // namespace qs::quant
