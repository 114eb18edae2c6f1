#include "quant/optimizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <regex>

#include "io/gguf_reader.h"
#include "quant/engine.h"

namespace qs::quant {

using formats::TensorType;

uint64_t paddedTensorBytes(uint64_t bytes) {
    const uint64_t a = io::kGgufDefaultAlignment;
    return (bytes + a - 1) / a * a;
}

namespace {

// Objective contribution of tensor t in the written type `type`, from the table.
std::optional<double> tensorError(const model::TensorInfo& t, const TensorSensitivity& ts,
                                  TensorType type, bool weighted) {
    if (type == t.type) return 0.0;  // copied as it is: lossless
    for (const auto& c : ts.cells) {
        if (c.valid && c.type == type) {
            return double(t.nElements) * (weighted ? c.weightedNmse : c.nmse);
        }
    }
    return std::nullopt;
}

}  // namespace

Result<PlanOptimizer> PlanOptimizer::prepare(const model::Model& model,
                                             const SensitivityTable& table, const Plan& base,
                                             const OptimizerOptions& options,
                                             const Imatrix* imatrix) {
    const auto& ts = model.tensors();
    if (table.tensors.size() != ts.size() || base.tensors.size() != ts.size()) {
        return makeError(ErrorCode::BadUsage,
                         "optimizer: the sensitivity table or base plan is not of this model",
                         model.path());
    }
    PlanOptimizer o;
    o.m_model = &model;
    o.m_table = &table;
    o.m_base = base;
    o.m_options = options;
    o.m_parameters = model.totalElements();
    const bool weighted = options.weighted && table.weighted;
    o.m_options.weighted = weighted;

    std::vector<TensorType> allowed = options.types.empty() ? table.types : options.types;
    for (auto t : allowed) {
        if (std::find(table.types.begin(), table.types.end(), t) == table.types.end()) {
            return makeError(ErrorCode::BadUsage, "optimizer: type " +
                                                      std::string(formats::typeName(t)) +
                                                      " was not measured in the sensitivity table");
        }
    }
    std::vector<std::regex> locks;
    for (const auto& pattern : options.lock) {
        try {
            locks.emplace_back(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            return makeError(ErrorCode::BadUsage,
                             "optimizer: invalid lock regex '" + pattern + "': " + e.what());
        }
    }

    o.m_factor.assign(ts.size(), 1.0);
    std::vector<std::pair<std::regex, double>> factors;
    for (const auto& text : options.factors) {
        const auto eq = text.rfind('=');
        double f = 0;
        try {
            f = eq == std::string::npos ? 0 : std::stod(text.substr(eq + 1));
        } catch (...) {
            f = 0;
        }
        if (eq == std::string::npos || eq == 0 || !(f > 0) || !std::isfinite(f)) {
            return makeError(ErrorCode::BadUsage, "optimizer: bad error factor '" + text +
                                                      "': expected REGEX=FACTOR, factor > 0");
        }
        try {
            factors.emplace_back(std::regex(text.substr(0, eq), std::regex::ECMAScript), f);
        } catch (const std::regex_error& e) {
            return makeError(ErrorCode::BadUsage,
                             "optimizer: invalid regex in '" + text + "': " + e.what());
        }
    }
    for (size_t i = 0; i < ts.size(); ++i) {
        for (const auto& [re, f] : factors) {
            if (std::regex_search(ts[i].name, re)) {
                o.m_factor[i] = f;
                break;
            }
        }
    }

    // Header bytes: the export's size minus every tensor's padded data.
    auto predicted = predictFileSize(model, base, imatrix);
    if (!predicted) return predicted.error();
    uint64_t header = *predicted;
    for (size_t i = 0; i < ts.size(); ++i) header -= paddedTensorBytes(base.tensorBytes(model, i));
    o.m_headerBytes = header;
    o.m_fixedBytes = header;

    // Tie groups by key; a group with a locked member is fixed as a whole.
    std::map<std::string, size_t> byKey;
    std::vector<bool> fixed(ts.size(), false);
    std::vector<std::vector<size_t>> groups;
    std::vector<bool> groupLocked;
    for (size_t i : llamaTensorOrder(model)) {
        const auto& t = ts[i];
        const auto& c = base.tensors[i];
        if (!c.quantizable || !table.tensors[i].quantizable) {
            fixed[i] = true;
            continue;
        }
        bool locked = c.locked;
        for (const auto& re : locks) locked = locked || std::regex_search(t.name, re);
        const auto cat = categoryOf(t);
        std::string key = "t:" + t.name;
        if (options.tieGateUp && t.layer >= 0 &&
            (cat == Category::FfnGate || cat == Category::FfnUp)) {
            key = "gate+up:" + std::to_string(t.layer) + (t.expert >= 0 ? ":experts" : "");
        } else if (options.tieExperts && t.expert >= 0) {
            key = "experts:" + std::to_string(t.layer) + ":" + std::string(model::roleName(t.role));
        }
        auto [it, inserted] = byKey.emplace(key, groups.size());
        if (inserted) {
            groups.emplace_back();
            groupLocked.push_back(false);
        }
        groups[it->second].push_back(i);
        if (locked) groupLocked[it->second] = true;
    }

    std::vector<KnapsackItem> items;
    for (size_t g = 0; g < groups.size(); ++g) {
        Group group;
        group.tensors = groups[g];
        KnapsackItem item;
        if (!groupLocked[g]) {
            // Two requested types that fall back to the same written types are one option;
            // it keeps the requested type that needs no fallback, if there is one.
            std::vector<std::vector<TensorType>> written;
            for (TensorType q : allowed) {
                KnapsackOption opt;
                std::vector<TensorType> types;
                bool ok = true, exact = true;
                for (size_t i : group.tensors) {
                    const auto* cell = table.cell(i, q);
                    if (!cell || !cell->valid ||
                        (requiresImatrix(ts[i], cell->type, std::nullopt) && !table.weighted)) {
                        ok = false;
                        break;
                    }
                    types.push_back(cell->type);
                    exact = exact && cell->type == q;
                    opt.cost += paddedTensorBytes(cell->bytes);
                    opt.error += o.m_factor[i] * double(ts[i].nElements) *
                                 (weighted ? cell->weightedNmse : cell->nmse);
                }
                if (!ok) continue;
                const auto same = std::find(written.begin(), written.end(), types);
                if (same != written.end()) {
                    if (exact) group.options[size_t(same - written.begin())].requested = q;
                    continue;
                }
                written.push_back(std::move(types));
                item.options.push_back(opt);
                group.options.push_back({q});
            }
        }
        if (item.options.empty()) {  // locked, or nothing allowed fits: keeps the base types
            for (size_t i : group.tensors) fixed[i] = true;
            continue;
        }
        o.m_groups.push_back(std::move(group));
        items.push_back(std::move(item));
    }
    for (size_t i = 0; i < ts.size(); ++i) {
        if (!fixed[i]) continue;
        o.m_fixedBytes += paddedTensorBytes(base.tensorBytes(model, i));
        if (base.tensors[i].quantizable && table.tensors[i].quantizable) {
            o.m_fixedError +=
                o.m_factor[i] *
                tensorError(ts[i], table.tensors[i], base.tensors[i].type, weighted).value_or(0);
        }
    }
    o.m_solver = KnapsackSolver(std::move(items));
    return o;
}

OptimizeResult PlanOptimizer::solve(uint64_t fileBytes) const {
    const auto t0 = std::chrono::steady_clock::now();
    OptimizeResult r;
    r.plan = m_base;
    const uint64_t budget = fileBytes >= m_fixedBytes ? fileBytes - m_fixedBytes : 0;
    KnapsackSolution s = m_solver.solve(budget);
    r.feasible = s.feasible && fileBytes >= m_fixedBytes;
    const auto& ts = m_model->tensors();
    for (size_t g = 0; g < m_groups.size(); ++g) {
        const TensorType q = m_groups[g].options[size_t(s.choice[g])].requested;
        for (size_t i : m_groups[g].tensors) {
            const bool locked = r.plan.tensors[i].locked;
            r.plan.tensors[i] = manualChoice(ts[i], q);
            r.plan.tensors[i].origin = Origin::Optimizer;
            r.plan.tensors[i].locked = locked;
        }
    }
    r.fileBytes = m_fixedBytes + s.cost;
    r.error = m_fixedError + s.error;
    r.lowerBound = std::max(0.0, m_fixedError + s.lowerBound);
    r.refinements = s.refinements;
    r.optimal = s.optimal;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

uint64_t PlanOptimizer::bytesForBpw(double bpw) const {
    if (!(bpw > 0)) return 0;
    return uint64_t(std::floor(bpw * double(m_parameters) / 8.0));
}

std::vector<CurvePoint> PlanOptimizer::curve(int points) const {
    std::vector<CurvePoint> out;
    if (points < 1) return out;
    const uint64_t lo = minFileBytes(), hi = maxFileBytes();
    for (int k = 0; k < points; ++k) {
        const uint64_t b =
            points == 1 ? hi : lo + uint64_t(double(hi - lo) * double(k) / double(points - 1));
        const auto s = m_solver.solve(b - m_fixedBytes);
        out.push_back({m_fixedBytes + s.cost, m_fixedError + s.error,
                       std::max(0.0, m_fixedError + s.lowerBound)});
    }
    return out;
}

std::vector<OptimizerGroup> PlanOptimizer::groups() const {
    std::vector<OptimizerGroup> out;
    const auto& items = m_solver.items();
    for (size_t g = 0; g < m_groups.size(); ++g) {
        OptimizerGroup v;
        v.tensors = m_groups[g].tensors;
        for (size_t k = 0; k < m_groups[g].options.size(); ++k) {
            v.types.push_back(m_groups[g].options[k].requested);
            v.cost.push_back(items[g].options[k].cost);
            v.error.push_back(items[g].options[k].error);
        }
        out.push_back(std::move(v));
    }
    return out;
}

Plan PlanOptimizer::withGroupOption(const Plan& plan, size_t g, size_t option) const {
    Plan out = plan;
    if (g >= m_groups.size() || option >= m_groups[g].options.size()) return out;
    const auto& ts = m_model->tensors();
    const TensorType q = m_groups[g].options[option].requested;
    for (size_t i : m_groups[g].tensors) {
        const bool locked = out.tensors[i].locked;
        out.tensors[i] = manualChoice(ts[i], q);
        out.tensors[i].origin = Origin::Optimizer;
        out.tensors[i].locked = locked;
    }
    return out;
}

PlanScore PlanOptimizer::score(const Plan& plan) const {
    PlanScore s;
    const auto& ts = m_model->tensors();
    s.tensorError.assign(ts.size(), 0.0);
    s.fileBytes = m_headerBytes;
    for (size_t i = 0; i < ts.size() && i < plan.tensors.size(); ++i) {
        s.fileBytes += paddedTensorBytes(plan.tensorBytes(*m_model, i));
        if (!plan.tensors[i].quantizable || !m_table->tensors[i].quantizable) continue;
        auto e = tensorError(ts[i], m_table->tensors[i], plan.tensors[i].type, m_options.weighted);
        if (!e) {
            s.unknown.push_back(ts[i].name);
            continue;
        }
        s.tensorError[i] = m_factor[i] * *e;
        s.error += s.tensorError[i];
    }
    return s;
}

}  // namespace qs::quant
