#include "eval/budget_fit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "eval/forward.h"
#include "eval/kl_sensitivity.h"
#include "eval/llama_model.h"
#include "eval/tokenizer.h"

namespace qs::eval {

using formats::TensorType;

std::string_view fitKindName(FitKind k) {
    switch (k) {
    case FitKind::Preset: return "preset";
    case FitKind::Nmse: return "nmse";
    case FitKind::Kl: return "kl";
    case FitKind::Move: return "move";
    }
    return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

std::string num(double v, const char* f = "%.6g") {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

std::string shortName(std::string_view name) {
    if (name.ends_with(".weight")) name.remove_suffix(7);
    return std::string(name);
}

// The types of a plan, as a key (plans already measured are not measured again).
std::string planKey(const quant::Plan& p) {
    std::string k;
    k.reserve(p.tensors.size() * 2);
    for (const auto& c : p.tensors) {
        const uint32_t t = uint32_t(c.type);
        k.push_back(char(t & 0xff));
        k.push_back(char((t >> 8) & 0xff));
    }
    return k;
}

// Scores plans: the weights a plan changes quantized (cached per tensor and type) into a fresh
// binding of the original, then one forward pass on each token part against its reference.
class Scorer {
public:
    Scorer(const model::Model& model, const FitOptions& o) : m_model(model) {
        m_qo.threads = o.threads;
        m_qo.cancel = o.cancel;
        m_qo.imatrix = o.imatrix;
        m_qo.metrics = false;
        m_eo.forward.threads = o.threads;
        m_eo.forward.cancel = o.cancel;
        m_eo.imatrix = o.imatrix;
        m_reusePrefix = o.reusePrefix;
    }

    Status setTokens(std::vector<int32_t> cal, std::vector<int32_t> held) {
        m_cal = std::move(cal);
        m_held = std::move(held);
        auto lm = LlamaModel::bind(m_model);
        if (!lm) return lm.error();
        auto rc = runReference(*lm, m_cal, options(m_cal));
        if (!rc) return rc.error();
        m_refCal = std::move(*rc);
        if (!m_held.empty()) {
            auto rh = runReference(*lm, m_held, options(m_held));
            if (!rh) return rh.error();
            m_refHeld = std::move(*rh);
        }
        return {};
    }

    // Score c. With a best candidate kept (promote), only the layers from the first one whose
    // weights differ from the best's are run again, from the best's saved residual stream
    // (identical logits); the stream of c is kept until the next score, for promote().
    Status score(FitCandidate& c) {
        auto lm = LlamaModel::bind(m_model);
        if (!lm) return lm.error();
        int resume = 0;
        const bool prefix = m_reusePrefix && !m_bestPlan.tensors.empty();
        if (prefix) resume = lm->config().nLayer;
        for (size_t i : lm->boundTensors()) {
            const TensorType t = c.plan.tensors[i].type;
            if (prefix && t != m_bestPlan.tensors[i].type) {
                resume = std::min(resume, firstAffectedLayer(m_model, *lm, i));
            }
            if (t == m_model.tensors()[i].type) continue;
            auto key = std::make_pair(i, uint32_t(t));
            auto it = m_cache.find(key);
            if (it == m_cache.end()) {
                std::vector<uint8_t> bytes;
                auto r = quant::quantizeTensor(m_model, i, t, m_qo, &bytes);
                if (!r) return r.error();
                it = m_cache.emplace(key, std::move(bytes)).first;
            }
            QS_TRY(lm->overrideWeight(i, t, it->second));
        }
        m_lastResumeLayer = resume;
        auto run = [&](const std::vector<int32_t>& tokens, const ReferenceCache& ref,
                       const std::vector<std::vector<float>>& bestStream,
                       std::vector<std::vector<float>>& stream) {
            EvalOptions o = options(tokens);
            if (m_reusePrefix) {
                if (prefix) stream = bestStream;  // the layers before `resume` are the same
                o.forward.saveResidual = &stream;
                if (prefix && resume > 0) {
                    o.forward.resumeResidual = &bestStream;
                    o.forward.resumeLayer = resume;
                }
            }
            return evaluate(*lm, tokens, o, &ref);
        };
        auto r = run(m_cal, m_refCal, m_bestCal, m_lastCal);
        if (!r) return r.error();
        c.klCalibration = r->klMean;
        c.pplCalibration = r->perplexity;
        c.klPositions = r->kl;
        c.nllPositions = r->nll;
        if (!m_held.empty()) {
            auto h = run(m_held, m_refHeld, m_bestHeld, m_lastHeld);
            if (!h) return h.error();
            c.klHeldOut = h->klMean;
            c.pplHeldOut = h->perplexity;
            c.klHeldOutPositions = std::move(h->kl);
            c.nllHeldOutPositions = std::move(h->nll);
        }
        m_lastPlan = c.plan;
        return {};
    }

    /// The plan scored last becomes the one later candidates start from.
    void promote() {
        if (!m_reusePrefix) return;
        m_bestPlan = std::move(m_lastPlan);
        m_bestCal = std::move(m_lastCal);
        m_bestHeld = std::move(m_lastHeld);
        m_lastPlan = {};
        m_lastCal.clear();
        m_lastHeld.clear();
    }
    int lastResumeLayer() const { return m_lastResumeLayer; }

    EvalOptions options(const std::vector<int32_t>& tokens) const {
        EvalOptions o = m_eo;
        o.ctx = int64_t(tokens.size());
        return o;
    }
    const std::vector<int32_t>& calibration() const { return m_cal; }
    const std::vector<int32_t>& heldOut() const { return m_held; }

private:
    const model::Model& m_model;
    quant::QuantizeOptions m_qo;
    EvalOptions m_eo;
    std::vector<int32_t> m_cal, m_held;
    ReferenceCache m_refCal, m_refHeld;
    std::map<std::pair<size_t, uint32_t>, std::vector<uint8_t>> m_cache;
    bool m_reusePrefix = true;
    quant::Plan m_bestPlan, m_lastPlan;
    std::vector<std::vector<float>> m_bestCal, m_bestHeld, m_lastCal, m_lastHeld;
    int m_lastResumeLayer = 0;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> FitResult::provenance() const {
    std::vector<std::pair<std::string, std::string>> p;
    if (candidates.empty()) return p;
    const FitCandidate& c = result();
    p.emplace_back("method", "closed-loop");
    p.emplace_back("score", "mean KL divergence to the original, calibration text");
    p.emplace_back("calibration_tokens", std::to_string(calibrationTokens));
    p.emplace_back("held_out_tokens", std::to_string(heldOutTokens));
    p.emplace_back("candidates", std::to_string(candidates.size()));
    p.emplace_back("chosen", std::string(fitKindName(c.kind)) + ": " + c.name);
    p.emplace_back("rule", rule);
    p.emplace_back("kl_calibration", num(c.klCalibration));
    if (c.klHeldOut >= 0) p.emplace_back("kl_held_out", num(c.klHeldOut));
    if (preset) {
        const FitCandidate& q = candidates[*preset];
        p.emplace_back("preset", q.name);
        p.emplace_back("preset_kl_calibration", num(q.klCalibration));
        if (q.klHeldOut >= 0) p.emplace_back("preset_kl_held_out", num(q.klHeldOut));
    }
    if (probes > 0) p.emplace_back("kl_probes", std::to_string(probes));
    p.emplace_back("seconds", num(seconds, "%.2f"));
    if (timedOut) p.emplace_back("timed_out", "true");
    return p;
}

std::vector<quant::Ftype> presetsOfSize(const model::Model& model, uint64_t targetBytes,
                                        const quant::Imatrix* imatrix,
                                        std::vector<quant::Ftype> pool) {
    using quant::Ftype;
    if (pool.empty()) {
        pool = {Ftype::Q2_K,   Ftype::Q3_K_S, Ftype::Q3_K_M, Ftype::Q3_K_L,
                Ftype::IQ4_XS, Ftype::IQ4_NL, Ftype::Q4_K_S, Ftype::Q4_K_M,
                Ftype::Q5_K_S, Ftype::Q5_K_M, Ftype::Q6_K,   Ftype::Q8_0};
    }
    std::vector<std::pair<uint64_t, Ftype>> fit;
    for (Ftype f : pool) {
        quant::PlanOptions po;
        po.ftype = f;
        po.hasImatrix = imatrix != nullptr;
        auto size = quant::predictFileSize(model, quant::buildPlan(model, po), imatrix);
        if (size && *size <= targetBytes) fit.emplace_back(*size, f);
    }
    std::vector<Ftype> out;
    if (fit.empty()) return out;
    uint64_t largest = 0;
    for (const auto& [s, f] : fit) largest = std::max(largest, s);
    for (const auto& [s, f] : fit) {
        if (s == largest) out.push_back(f);
    }
    return out;
}

Result<FitResult> fitToBudget(const model::Model& model, const quant::SensitivityTable& nmse,
                              std::span<const int32_t> tokens, const FitOptions& options) {
    const auto t0 = Clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
    auto timeUp = [&] { return options.maxSeconds > 0 && elapsed() > options.maxSeconds; };
    if (nmse.tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the sensitivity table is for another model",
                         model.path());
    }
    if (options.targetBytes == 0) {
        return makeError(ErrorCode::BadUsage, "fit to budget: no target size", model.path());
    }
    if (!(options.holdOut >= 0 && options.holdOut < 0.9)) {
        return makeError(ErrorCode::BadUsage,
                         "fit to budget: the held-out fraction must be in [0, 0.9)");
    }
    // Split the text: calibration first, held-out after (starting with the text's first
    // token, BOS when the model adds one, so both parts start as a text does); with a held-out
    // text, the held-out part is that text's first tokens instead.
    EvalOptions cut;
    cut.ctx = options.ctx;
    auto ctx = contextTokens(tokens, cut);
    if (!ctx) return ctx.error();
    const bool otherText = !options.heldOutTokens.empty();
    if (otherText && !(options.holdOut > 0)) {
        return makeError(ErrorCode::BadUsage,
                         "fit to budget: a held-out text needs a held-out fraction above 0");
    }
    const int64_t n = int64_t(ctx->size());
    const int64_t wantHeld =
        options.holdOut > 0 ? int64_t(std::floor(double(options.ctx) * options.holdOut)) : 0;
    const int64_t nCal =
        n - (options.holdOut > 0 ? int64_t(std::floor(double(n) * options.holdOut)) : 0);
    int64_t nHeld = n - nCal;
    if (otherText) nHeld = std::min<int64_t>(wantHeld, int64_t(options.heldOutTokens.size()) - 1);
    if (nCal < 16 || (options.holdOut > 0 && nHeld < 8)) {
        return makeError(ErrorCode::BadInput,
                         "fit to budget: the text gives " + std::to_string(n) + " tokens" +
                             (otherText ? " and the held-out text " +
                                              std::to_string(options.heldOutTokens.size())
                                        : std::string()) +
                             "; at least 16 calibration and 8 held-out tokens are needed");
    }
    std::vector<int32_t> cal(ctx->begin(), ctx->begin() + nCal);
    std::vector<int32_t> held;
    if (otherText) {
        held.assign(options.heldOutTokens.begin(), options.heldOutTokens.begin() + nHeld + 1);
    } else if (nHeld > 0) {
        held.push_back(ctx->front());
        held.insert(held.end(), ctx->begin() + nCal, ctx->end());
    }

    FitResult out;
    out.calibrationTokens = nCal;
    out.heldOutTokens = nHeld;
    out.heldOutText = otherText;
    const int planned = int(options.presets.size()) + 2 + options.maxRounds * options.movesPerRound;
    std::string phase;
    auto report = [&](std::string text) -> Status {
        if (options.cancel && options.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "fit to budget cancelled");
        }
        phase = std::move(text);
        if (options.progress) {
            quant::Progress p;
            p.doneBytes = uint64_t(std::min(out.evaluations, planned));
            p.totalBytes = uint64_t(planned);
            p.tensorIndex = size_t(p.doneBytes);
            p.tensorCount = size_t(planned);
            p.tensor = phase;
            if (!options.progress(p))
                return makeError(ErrorCode::Cancelled, "fit to budget cancelled");
        }
        return {};
    };

    Scorer scorer(model, options);
    QS_TRY(report("reference runs of the original"));
    QS_TRY(scorer.setTokens(std::move(cal), std::move(held)));

    std::set<std::string> seen;
    // Score a candidate (once per distinct plan); false when it was a duplicate or over budget.
    auto add = [&](FitCandidate c) -> Result<bool> {
        if (!seen.insert(planKey(c.plan)).second) return false;
        auto size = quant::predictFileSize(model, c.plan, options.imatrix);
        if (!size) return size.error();
        c.fileBytes = *size;
        if (c.fileBytes > options.targetBytes) return false;
        QS_TRY(report("scoring " + std::string(fitKindName(c.kind)) + " " + c.name));
        QS_TRY(scorer.score(c));
        ++out.evaluations;
        out.resumedLayers += scorer.lastResumeLayer();
        bool best = true;
        for (const FitCandidate& o : out.candidates)
            best = best && c.klCalibration < o.klCalibration;
        out.candidates.push_back(std::move(c));
        if (best) scorer.promote();
        return true;
    };

    // 1. The presets (always measured: they are what the result must not lose to).
    for (quant::Ftype f : options.presets) {
        quant::PlanOptions po;
        po.ftype = f;
        po.hasImatrix = options.imatrix != nullptr;
        FitCandidate c;
        c.kind = FitKind::Preset;
        c.name = std::string(quant::ftypeInfo(f).name);
        c.plan = quant::buildPlan(model, po);
        auto size = quant::predictFileSize(model, c.plan, options.imatrix);
        if (!size) return size.error();
        if (*size > options.targetBytes) {
            return makeError(ErrorCode::BadUsage,
                             "fit to budget: preset " + c.name + " (" + std::to_string(*size) +
                                 " bytes) does not fit the budget of " +
                                 std::to_string(options.targetBytes) + " bytes",
                             model.path());
        }
        auto r = add(std::move(c));
        if (!r) return r.error();
    }

    // 2. The optimizer's plans: NMSE table, then the KL-probe table.
    quant::PlanOptions bo;
    bo.ftype = options.base;
    bo.hasImatrix = options.imatrix != nullptr;
    const quant::Plan base = quant::buildPlan(model, bo);
    auto nmseOpt =
        quant::PlanOptimizer::prepare(model, nmse, base, options.optimizer, options.imatrix);
    if (!nmseOpt) return nmseOpt.error();
    if (!timeUp()) {
        const quant::OptimizeResult r = nmseOpt->solve(options.targetBytes);
        if (r.feasible) {
            FitCandidate c;
            c.kind = FitKind::Nmse;
            c.name = "nmse";
            c.plan = r.plan;
            auto a = add(std::move(c));
            if (!a) return a.error();
        }
    }
    std::shared_ptr<const quant::SensitivityTable> klTable = options.klTable;
    std::optional<quant::PlanOptimizer> klOpt;
    if (klTable && klTable->tensors.size() != model.tensors().size()) {
        return makeError(ErrorCode::BadUsage, "the KL table is for another model", model.path());
    }
    if (!klTable && options.klProbes && !timeUp()) {
        QS_TRY(report("KL probes"));
        const auto& calTokens = scorer.calibration();
        const size_t np =
            size_t(std::clamp<int64_t>(options.probeCtx, 8, int64_t(calTokens.size())));
        const std::vector<int32_t> probeTokens(calTokens.begin(), calTokens.begin() + np);
        KlSensitivityOptions ko;
        ko.eval = scorer.options(probeTokens);
        ko.reusePrefix = options.reusePrefix;
        for (const quant::OptimizerGroup& g : nmseOpt->groups()) {
            if (g.tensors.size() > 1) ko.groups.push_back(g.tensors);
        }
        if (options.probeTypes >= 0) {
            ko.typesPerTensor = options.probeTypes;
        } else {
            int64_t params = 0;
            for (const auto& t : model.tensors()) params += t.nElements;
            ko.typesPerTensor = params < 20'000'000 ? 0 : 3;
        }
        const auto tp = Clock::now();
        std::string probePhase;
        bool probesTimedOut = false;
        ko.progress = [&](const quant::Progress& p) {
            if (options.cancel && options.cancel->cancelled()) return false;
            if (timeUp()) {
                probesTimedOut = true;  // the time bound: no KL plan, the NMSE table guides
                return false;
            }
            out.probes = int(p.tensorIndex) + 1;
            if (!options.progress) return true;
            probePhase = "KL probe " + std::to_string(p.tensorIndex + 1) + "/" +
                         std::to_string(p.tensorCount) + " " + std::string(p.tensor);
            quant::Progress q;
            q.doneBytes = uint64_t(std::min(out.evaluations, planned));
            q.totalBytes = uint64_t(planned);
            q.tensorIndex = size_t(q.doneBytes);
            q.tensorCount = size_t(planned);
            q.tensor = probePhase;
            return options.progress(q);
        };
        auto lm = LlamaModel::bind(model);
        if (!lm) return lm.error();
        auto probeRef = runReference(*lm, probeTokens, ko.eval);
        if (!probeRef) return probeRef.error();
        auto kt = klSensitivity(model, nmse, probeTokens, *probeRef, ko);
        out.probeSeconds = std::chrono::duration<double>(Clock::now() - tp).count();
        if (kt) {
            klTable = std::make_shared<const quant::SensitivityTable>(std::move(*kt));
        } else if (probesTimedOut && !(options.cancel && options.cancel->cancelled())) {
            out.timedOut = true;
        } else {
            return kt.error();
        }
    }
    if (klTable && !timeUp()) {
        out.klTable = klTable;
        auto ko2 = quant::PlanOptimizer::prepare(model, *klTable, base, options.optimizer,
                                                 options.imatrix);
        if (!ko2) return ko2.error();
        klOpt.emplace(std::move(*ko2));
        const quant::OptimizeResult r = klOpt->solve(options.targetBytes);
        if (r.feasible && !timeUp()) {
            FitCandidate c;
            c.kind = FitKind::Kl;
            c.name = "kl";
            c.plan = r.plan;
            auto a = add(std::move(c));
            if (!a) return a.error();
        }
    }
    if (out.candidates.empty()) {
        return makeError(ErrorCode::BadUsage,
                         "fit to budget: no plan fits in " + std::to_string(options.targetBytes) +
                             " bytes (the smallest with these types is " +
                             std::to_string(nmseOpt->minFileBytes()) + " bytes)",
                         model.path());
    }
    const quant::PlanOptimizer& guide = klOpt ? *klOpt : *nmseOpt;
    const bool klGuide = klOpt.has_value();
    for (auto& c : out.candidates) {
        if (!klGuide) break;
        const auto s = guide.score(c.plan);
        c.predictedKl = s.unknown.empty() ? s.error : -1;
    }
    auto bestIndex = [&] {
        size_t b = 0;
        for (size_t i = 1; i < out.candidates.size(); ++i) {
            if (out.candidates[i].klCalibration < out.candidates[b].klCalibration) b = i;
        }
        return b;
    };

    // 3. Local moves from the best so far, ranked by the guide's first-order estimate.
    const std::vector<quant::OptimizerGroup> groups = guide.groups();
    const auto& ts = model.tensors();
    for (int round = 0; round < options.maxRounds && !groups.empty(); ++round) {
        if (timeUp()) {
            out.timedOut = true;
            break;
        }
        const size_t from = bestIndex();
        const quant::Plan current = out.candidates[from].plan;
        const quant::PlanScore cs = guide.score(current);
        const uint64_t curBytes = out.candidates[from].fileBytes;
        const int64_t slack = int64_t(options.targetBytes) - int64_t(curBytes);
        struct Step {
            size_t group, option;
            int64_t dCost;
            double dError;
        };
        std::vector<Step> ups, downs;
        for (size_t g = 0; g < groups.size(); ++g) {
            const auto& gr = groups[g];
            uint64_t cost = 0;
            double err = 0;
            for (size_t i : gr.tensors) {
                cost += quant::paddedTensorBytes(current.tensorBytes(model, i));
                err += cs.tensorError[i];
            }
            // One up: the cheapest option that costs more and errs less; one down: the
            // dearest option that costs less.
            std::optional<size_t> up, down;
            for (size_t k = 0; k < gr.types.size(); ++k) {
                if (gr.cost[k] > cost && gr.error[k] < err && (!up || gr.cost[k] < gr.cost[*up])) {
                    up = k;
                }
                if (gr.cost[k] < cost && (!down || gr.cost[k] > gr.cost[*down])) down = k;
            }
            if (up)
                ups.push_back({g, *up, int64_t(gr.cost[*up]) - int64_t(cost), gr.error[*up] - err});
            if (down) {
                downs.push_back(
                    {g, *down, int64_t(gr.cost[*down]) - int64_t(cost), gr.error[*down] - err});
            }
        }
        struct Move {
            double predicted;
            std::vector<Step> steps;
        };
        std::vector<Move> moves;
        for (const Step& u : ups) {
            if (u.dCost <= slack) moves.push_back({u.dError, {u}});
            for (const Step& d : downs) {
                if (d.group == u.group || u.dCost + d.dCost > slack) continue;
                moves.push_back({u.dError + d.dError, {u, d}});
            }
        }
        std::stable_sort(moves.begin(), moves.end(),
                         [](const Move& a, const Move& b) { return a.predicted < b.predicted; });
        const double before = out.candidates[from].klCalibration;
        int tried = 0;
        for (const Move& mv : moves) {
            if (tried >= options.movesPerRound) break;
            if (timeUp()) {
                out.timedOut = true;
                break;
            }
            FitCandidate c;
            c.kind = FitKind::Move;
            c.plan = current;
            c.name = "#" + std::to_string(from) + ":";
            for (const Step& s : mv.steps) {
                const auto& gr = groups[s.group];
                const size_t first = gr.tensors.front();
                c.name += c.name.back() == ':' ? " " : ", ";
                c.name += shortName(ts[first].name) + (gr.tensors.size() > 1 ? "+" : "") + " " +
                          std::string(formats::typeName(current.tensors[first].type)) + "->" +
                          std::string(formats::typeName(gr.types[s.option]));
                c.plan = guide.withGroupOption(c.plan, s.group, s.option);
            }
            c.predictedKl = klGuide ? cs.error + mv.predicted : -1;
            auto a = add(std::move(c));
            if (!a) return a.error();
            tried += *a ? 1 : 0;
        }
        const size_t now = bestIndex();
        if (out.candidates[now].klCalibration < before) {
            ++out.acceptedMoves;
        } else {
            break;  // no move of this round improved: a local optimum for these moves
        }
        if (out.timedOut) break;
    }

    // 4. The choice (budget_fit_choice.cpp).
    chooseCandidate(out, options);
    if (timeUp()) out.timedOut = true;
    out.seconds = elapsed();
    return out;
}

Result<FitResult> fitToBudgetOfText(const model::Model& model, const quant::SensitivityTable& nmse,
                                    std::string_view text, const FitOptions& options) {
    auto tok = Tokenizer::fromModel(model);
    if (!tok) return tok.error();
    const std::vector<int32_t> tokens = tok->encode(text, tok->addBosDefault());
    if (options.heldOutText.empty()) return fitToBudget(model, nmse, tokens, options);
    FitOptions o = options;
    o.heldOutTokens = tok->encode(options.heldOutText, tok->addBosDefault());
    return fitToBudget(model, nmse, tokens, o);
}

}  // namespace qs::eval
