#include "eval/kl_sensitivity.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "eval/forward.h"
#include "eval/llama_model.h"
#include "eval/plan_eval.h"
#include "eval/tokenizer.h"

namespace qs::eval {

int firstAffectedLayer(const model::Model& m, const LlamaModel& lm, size_t i) {
    const model::TensorInfo& t = m.tensors()[i];
    if (t.layer >= 0) return std::min(t.layer, lm.config().nLayer);
    if (!lm.tiedOutput() && t.name == lm.output().name) return lm.config().nLayer;
    return 0;
}

namespace {

using formats::TensorType;

// One probe unit: tensors that take one type together, and per distinct written-type key the
// cells (requested type columns) it stands for.
struct Unit {
    std::vector<size_t> tensors;
    int layer = 0;
    struct Option {
        std::vector<TensorType> types;  // written type per member
        std::vector<size_t> columns;    // cell columns with these types
        double weightError = 0;         // sum over members of n_t * wNMSE
        bool original = true;           // every member keeps its source type (KL 0)
        bool measured = false;
        double kl = 0;
    };
    std::vector<Option> options;
};

// log KL against log weight error between measured options (see typesPerTensor).
double interpolate(const std::vector<Unit::Option>& opts, double e) {
    if (!(e > 0)) return 0;
    std::vector<std::pair<double, double>> pts;  // (log e, log kl)
    for (const auto& o : opts) {
        if (!o.measured || o.original || !(o.weightError > 0)) continue;
        pts.emplace_back(std::log(o.weightError), std::log(std::max(o.kl, 1e-12)));
    }
    if (pts.empty()) return 0;
    std::sort(pts.begin(), pts.end());
    const double x = std::log(e);
    if (pts.size() == 1) return std::exp(pts[0].second + (x - pts[0].first));
    size_t k = 1;
    while (k + 1 < pts.size() && pts[k].first < x) ++k;
    const auto& [x0, y0] = pts[k - 1];
    const auto& [x1, y1] = pts[k];
    const double slope = x1 > x0 ? (y1 - y0) / (x1 - x0) : 1.0;
    return std::exp(y0 + (x - x0) * slope);
}

}  // namespace

Result<quant::SensitivityTable> klSensitivity(const model::Model& model,
                                              const quant::SensitivityTable& nmse,
                                              std::span<const int32_t> tokens,
                                              const ReferenceCache& reference,
                                              const KlSensitivityOptions& options) {
    if (nmse.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the sensitivity table is for another model",
                         model.path());
    }
    auto lm = LlamaModel::bind(model);
    if (!lm) return lm.error();
    const std::vector<size_t> bound = lm->boundTensors();
    auto probed = [&](size_t i) {
        return i < nmse.tensors.size() && nmse.tensors[i].quantizable &&
               std::find(bound.begin(), bound.end(), i) != bound.end();
    };
    // The units: the groups asked for, then every other probed tensor alone.
    std::vector<Unit> units;
    std::vector<bool> inUnit(model.tensors().size(), false);
    auto addUnit = [&](std::vector<size_t> members) {
        std::erase_if(members, [&](size_t i) { return !probed(i) || inUnit[i]; });
        if (members.empty()) return;
        Unit u;
        u.layer = lm->config().nLayer;
        for (size_t i : members) {
            inUnit[i] = true;
            u.layer = std::min(u.layer, firstAffectedLayer(model, *lm, i));
        }
        u.tensors = std::move(members);
        const size_t nCols = nmse.tensors[u.tensors.front()].cells.size();
        for (size_t j = 0; j < nCols; ++j) {
            Unit::Option o;
            bool valid = true;
            for (size_t i : u.tensors) {
                const auto& cells = nmse.tensors[i].cells;
                if (j >= cells.size() || !cells[j].valid) {
                    valid = false;
                    break;
                }
                o.types.push_back(cells[j].type);
                o.original = o.original && cells[j].type == model.tensors()[i].type;
                o.weightError += double(std::max<int64_t>(1, model.tensors()[i].nElements)) *
                                 cells[j].weightedNmse;
            }
            if (!valid) continue;
            auto same = std::find_if(u.options.begin(), u.options.end(),
                                     [&](const Unit::Option& x) { return x.types == o.types; });
            if (same != u.options.end()) {
                same->columns.push_back(j);
                continue;
            }
            o.columns.push_back(j);
            u.options.push_back(std::move(o));
        }
        units.push_back(std::move(u));
    };
    for (const auto& g : options.groups) addUnit(g);
    for (const quant::TensorSensitivity& t : nmse.tensors) addUnit({t.index});

    // Which options to measure: all, or typesPerTensor spread over the weight error.
    std::vector<std::pair<size_t, size_t>> probes;  // (unit, option)
    for (size_t u = 0; u < units.size(); ++u) {
        std::vector<size_t> cand;
        for (size_t k = 0; k < units[u].options.size(); ++k) {
            if (!units[u].options[k].original) cand.push_back(k);
        }
        std::sort(cand.begin(), cand.end(), [&](size_t a, size_t b) {
            return units[u].options[a].weightError < units[u].options[b].weightError;
        });
        const size_t n = options.typesPerTensor <= 0
                             ? cand.size()
                             : std::min(cand.size(), size_t(std::max(2, options.typesPerTensor)));
        std::vector<size_t> pick;
        for (size_t k = 0; k < n; ++k) {
            const size_t at =
                n == 1 ? 0
                       : size_t(std::lround(double(k) * double(cand.size() - 1) / double(n - 1)));
            if (pick.empty() || pick.back() != cand[at]) pick.push_back(cand[at]);
        }
        for (size_t k : pick) probes.emplace_back(u, k);
    }

    // The original's residual stream per layer, for the probes to start from.
    EvalOptions eo = options.eval;
    std::vector<std::vector<float>> residual;
    if (options.reusePrefix) {
        auto ctx = contextTokens(tokens, eo);
        if (!ctx) return ctx.error();
        ForwardOptions fo = eo.forward;
        fo.saveResidual = &residual;
        fo.progress = nullptr;
        QS_TRY(forward(
            *lm, *ctx, fo, [](int64_t, int64_t, const float*) {}, int64_t(ctx->size())));
    }
    quant::QuantizeOptions qo;
    qo.threads = eo.forward.threads;
    qo.cancel = eo.forward.cancel;
    qo.imatrix = eo.imatrix;
    qo.metrics = false;
    for (size_t k = 0; k < probes.size(); ++k) {
        const auto [ui, oi] = probes[k];
        Unit& u = units[ui];
        Unit::Option& o = u.options[oi];
        if (options.progress) {
            quant::Progress p;
            p.doneBytes = k;
            p.totalBytes = probes.size();
            p.tensorIndex = k;
            p.tensorCount = probes.size();
            p.tensor = model.tensors()[u.tensors.front()].name;
            if (!options.progress(p)) return makeError(ErrorCode::Cancelled, "KL probe cancelled");
        }
        auto probe = LlamaModel::bind(model);
        if (!probe) return probe.error();
        for (size_t m = 0; m < u.tensors.size(); ++m) {
            const size_t i = u.tensors[m];
            if (o.types[m] == model.tensors()[i].type) continue;
            std::vector<uint8_t> bytes;
            auto r = quant::quantizeTensor(model, i, o.types[m], qo, &bytes);
            if (!r) return r.error();
            QS_TRY(probe->overrideWeight(i, o.types[m], std::move(bytes)));
        }
        EvalOptions po = eo;
        if (options.reusePrefix) {
            po.forward.resumeResidual = &residual;
            po.forward.resumeLayer = u.layer;
        }
        auto r = evaluate(*probe, tokens, po, &reference);
        if (!r) return r.error();
        o.measured = true;
        o.kl = std::max(0.0, r->klMean);
    }

    quant::SensitivityTable out = nmse;
    for (quant::TensorSensitivity& t : out.tensors) {
        if (!t.quantizable) continue;
        for (quant::SensitivityCell& c : t.cells) {
            if (!c.valid) continue;
            c.nmse = c.weightedNmse = c.stdError = 0;
        }
    }
    for (const Unit& u : units) {
        double total = 0;
        for (size_t i : u.tensors)
            total += double(std::max<int64_t>(1, model.tensors()[i].nElements));
        for (const Unit::Option& o : u.options) {
            const double kl = o.original   ? 0.0
                              : o.measured ? o.kl
                                           : interpolate(u.options, o.weightError);
            // Per parameter, shared by the members in proportion to their parameters: every
            // member's n_t * error sums to the unit's KL.
            const double v = kl / total;
            for (size_t i : u.tensors) {
                for (size_t j : o.columns) {
                    quant::SensitivityCell& c = out.tensors[i].cells[j];
                    c.nmse = c.weightedNmse = v;
                }
            }
        }
    }
    return out;
}

Result<quant::SensitivityTable> klSensitivityOfText(const model::Model& model,
                                                    const quant::SensitivityTable& nmse,
                                                    std::string_view text,
                                                    const KlSensitivityOptions& options) {
    auto tok = Tokenizer::fromModel(model);
    if (!tok) return tok.error();
    const std::vector<int32_t> tokens = tok->encode(text, tok->addBosDefault());
    auto ctx = contextTokens(tokens, options.eval);
    if (!ctx) return ctx.error();
    auto original = LlamaModel::bind(model);
    if (!original) return original.error();
    auto reference = runReference(*original, *ctx, options.eval);
    if (!reference) return reference.error();
    return klSensitivity(model, nmse, *ctx, *reference, options);
}

}  // namespace qs::eval
