// Fit to budget in a closed loop (eval::fitToBudget): at the file size of llama.cpp's presets on
// the real stories260K, without and with an imatrix, the chosen plan's KL divergence on the
// calibration text is never above the preset's, the plan fits the budget, every candidate kind
// is measured, and the plan records how it was chosen. Also: the time bound, cancellation and
// the progress callback.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "eval/budget_fit.h"
#include "eval/kl_sensitivity.h"
#include "eval/llama_model.h"
#include "eval/plan_eval.h"
#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/recipe.h"
#include "quant/sensitivity.h"
#include "test_util.h"

using namespace qs;

namespace {

std::string readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct Fixture {
    test::TempDir dir;
    model::Model model;
    quant::SensitivityTable table;
    std::string text;
};

quant::SensitivityTable tableFor(const model::Model& m, const quant::Imatrix* im,
                                 const std::string& cacheDir) {
    quant::SensitivityOptions so;
    so.exact = true;
    so.imatrix = im;
    so.cacheDir = cacheDir;
    auto t = quant::measureSensitivity(m, so);
    EXPECT_TRUE(t.ok()) << t.error().what();
    return t.ok() ? std::move(*t) : quant::SensitivityTable{};
}

// The exact weight-error table of stories260K (a plain value: the same for every opening of
// the file), measured once per test binary and imatrix (the tests share it).
const quant::SensitivityTable& storiesTable(const model::Model& m, const quant::Imatrix* im) {
    static test::TempDir dir;
    static std::optional<quant::SensitivityTable> plain, withImatrix;
    auto& t = im ? withImatrix : plain;
    if (!t) t = tableFor(m, im, dir.file(im ? "cache-im" : "cache"));
    return *t;
}

uint64_t presetSize(const model::Model& m, quant::Ftype f, const quant::Imatrix* im) {
    quant::PlanOptions po;
    po.ftype = f;
    po.hasImatrix = im != nullptr;
    auto s = quant::predictFileSize(m, quant::buildPlan(m, po), im);
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : 0;
}

void checkSizes(bool withImatrix) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    std::optional<quant::Imatrix> im;
    if (withImatrix) {
        // llama.cpp's own imatrix of stories260K (tests/data/imatrix/README.md).
        auto s = quant::loadImatrix(test::dataPath("imatrix/stories260K.imatrix.gguf"));
        ASSERT_TRUE(s.ok()) << s.error().what();
        im = std::move(*s);
    }
    const quant::Imatrix* imp = im ? &*im : nullptr;
    const quant::SensitivityTable& table = storiesTable(*m, imp);
    const std::string text = readText(test::dataPath("models/eval-text.txt"));
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<const quant::SensitivityTable> kl;  // the probes do not depend on the size
    for (quant::Ftype f : {quant::Ftype::Q2_K, quant::Ftype::Q3_K_M, quant::Ftype::Q4_K_M,
                           quant::Ftype::IQ4_XS, quant::Ftype::Q5_K_M, quant::Ftype::Q6_K}) {
        eval::FitOptions fo;
        fo.targetBytes = presetSize(*m, f, imp);
        fo.presets = {f};
        fo.imatrix = imp;
        fo.klTable = kl;
        fo.maxRounds = 2;  // keeps the test in seconds (the CLI's defaults: 8 rounds of 6)
        fo.movesPerRound = 4;
        fo.ctx = 256;  // 192 calibration + 64 held-out tokens (the CLI's default: 512)
        fo.probeCtx = 64;
        auto r = eval::fitToBudgetOfText(*m, table, text, fo);
        ASSERT_TRUE(r.ok()) << r.error().what();
        ASSERT_TRUE(r->preset.has_value());
        ASSERT_TRUE(r->klTable != nullptr);
        kl = r->klTable;
        const eval::FitCandidate& p = r->candidates[*r->preset];
        const eval::FitCandidate& c = r->result();
        std::printf(
            "  %-7s %s %7llu B: preset KL %.5f / %.5f, chosen %-5s KL %.5f / %.5f "
            "(%zu candidates, %d moves, %.2f s) %s\n",
            p.name.c_str(), withImatrix ? "imatrix" : "plain  ",
            static_cast<unsigned long long>(fo.targetBytes), p.klCalibration, p.klHeldOut,
            std::string(eval::fitKindName(c.kind)).c_str(), c.klCalibration, c.klHeldOut,
            r->candidates.size(), r->acceptedMoves, r->seconds, r->rule.c_str());
        EXPECT_EQ(p.name, quant::ftypeInfo(f).name);
        EXPECT_LE(c.klCalibration, p.klCalibration);  // never above the preset's
        EXPECT_LE(c.fileBytes, fo.targetBytes);
        for (const auto& k : r->candidates) EXPECT_LE(k.fileBytes, fo.targetBytes) << k.name;
        EXPECT_GT(r->calibrationTokens, 0);
        EXPECT_GT(r->heldOutTokens, 0);
        EXPECT_GE(r->candidates.size(), 3u);  // preset, nmse, kl (at least)
        EXPECT_FALSE(r->rule.empty());
        if (c.kind != eval::FitKind::Preset) {
            EXPECT_LE(c.klHeldOut, p.klHeldOut);  // the guard: not worse on the held-out part
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  six sizes: %.1f s\n", seconds);
}

}  // namespace

TEST(BudgetFit, NeverAboveThePresetOnTheCalibrationTextStories260K) {
    checkSizes(false);
}

TEST(BudgetFit, NeverAboveThePresetWithLlamaCppsImatrixStories260K) {
    checkSizes(true);
}

TEST(BudgetFit, RecordsHowThePlanWasChosen) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const quant::SensitivityTable& table = storiesTable(*m, nullptr);
    eval::FitOptions fo;
    fo.targetBytes = presetSize(*m, quant::Ftype::Q4_K_M, nullptr);
    fo.presets = eval::presetsOfSize(*m, fo.targetBytes, nullptr);
    ASSERT_FALSE(fo.presets.empty());
    fo.maxRounds = 1;  // what is recorded, not the search, is under test
    fo.movesPerRound = 2;
    fo.ctx = 256;
    fo.probeCtx = 64;
    int calls = 0;
    fo.progress = [&](const quant::Progress& p) {
        ++calls;
        EXPECT_LE(p.doneBytes, p.totalBytes);
        return true;
    };
    auto r =
        eval::fitToBudgetOfText(*m, table, readText(test::dataPath("models/eval-text.txt")), fo);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_GT(calls, 3);
    quant::Recipe recipe = quant::recipeOfPlan(*m, r->result().plan);
    recipe.chosenBy = r->provenance();
    const std::string path = dir.file("fit.json");
    ASSERT_TRUE(quant::saveRecipe(recipe, path, &*m).ok());
    auto back = quant::loadRecipe(path);
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_EQ(back->chosenBy, recipe.chosenBy);
    bool method = false, rule = false;
    for (const auto& [k, v] : back->chosenBy) {
        method = method || (k == "method" && v == "closed-loop");
        rule = rule || (k == "rule" && !v.empty());
    }
    EXPECT_TRUE(method);
    EXPECT_TRUE(rule);
    auto plan = quant::planFromRecipe(*m, *back);
    ASSERT_TRUE(plan.ok());
    for (size_t i = 0; i < plan->tensors.size(); ++i) {
        EXPECT_EQ(plan->tensors[i].type, r->result().plan.tensors[i].type) << i;
    }
}

TEST(BudgetFit, TimeBoundStillMeasuresThePresetAndCancelStops) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const quant::SensitivityTable& table = storiesTable(*m, nullptr);
    const std::string text = readText(test::dataPath("models/eval-text.txt"));
    eval::FitOptions fo;
    fo.targetBytes = presetSize(*m, quant::Ftype::Q3_K_M, nullptr);
    fo.presets = {quant::Ftype::Q3_K_M};
    fo.maxSeconds = 1e-6;  // over before the optimizer's plans
    auto r = eval::fitToBudgetOfText(*m, table, text, fo);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->candidates.size(), 1u);
    EXPECT_EQ(r->chosen, 0u);
    EXPECT_EQ(r->result().kind, eval::FitKind::Preset);

    quant::CancelToken cancel;
    cancel.cancel();
    fo.maxSeconds = 0;
    fo.cancel = &cancel;
    auto c = eval::fitToBudgetOfText(*m, table, text, fo);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::Cancelled);

    fo.cancel = nullptr;
    int calls = 0;
    fo.progress = [&](const quant::Progress&) { return ++calls < 3; };
    auto p = eval::fitToBudgetOfText(*m, table, text, fo);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, ErrorCode::Cancelled);

    // A text too short to split is refused with the reason.
    fo.progress = nullptr;
    auto s = eval::fitToBudgetOfText(*m, table, "Once upon", fo);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("tokens"), std::string::npos);
    // A preset that does not fit the budget is refused.
    fo.presets = {quant::Ftype::Q8_0};
    auto q = eval::fitToBudgetOfText(*m, table, text, fo);
    ASSERT_FALSE(q.ok());
    EXPECT_NE(q.error().message.find("Q8_0"), std::string::npos);
}

// Prefix reuse (probes from the original's residual stream, moves from the best candidate's)
// changes only the time: the KL table and every candidate's KL are the same numbers as with
// full forward passes.
TEST(BudgetFit, PrefixReuseGivesTheSameNumbers) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const quant::SensitivityTable& table = storiesTable(*m, nullptr);
    const std::string text = readText(test::dataPath("models/eval-text.txt"));
    eval::FitOptions fo;
    fo.targetBytes = presetSize(*m, quant::Ftype::Q3_K_M, nullptr);
    fo.presets = {quant::Ftype::Q3_K_M};
    fo.maxRounds = 2;
    fo.movesPerRound = 3;
    fo.threads = 2;
    auto a = eval::fitToBudgetOfText(*m, table, text, fo);
    ASSERT_TRUE(a.ok()) << a.error().what();
    fo.reusePrefix = false;
    auto b = eval::fitToBudgetOfText(*m, table, text, fo);
    ASSERT_TRUE(b.ok()) << b.error().what();
    EXPECT_GT(a->resumedLayers, 0);  // moves did start from a saved layer
    EXPECT_EQ(b->resumedLayers, 0);
    ASSERT_EQ(a->candidates.size(), b->candidates.size());
    for (size_t i = 0; i < a->candidates.size(); ++i) {
        EXPECT_EQ(a->candidates[i].name, b->candidates[i].name);
        EXPECT_EQ(a->candidates[i].klCalibration, b->candidates[i].klCalibration) << i;
        EXPECT_EQ(a->candidates[i].klHeldOut, b->candidates[i].klHeldOut) << i;
        EXPECT_EQ(a->candidates[i].nllPositions, b->candidates[i].nllPositions) << i;
    }
    ASSERT_TRUE(a->klTable && b->klTable);
    for (size_t t = 0; t < table.tensors.size(); ++t) {
        for (size_t c = 0; c < table.tensors[t].cells.size(); ++c) {
            EXPECT_EQ(a->klTable->tensors[t].cells[c].weightedNmse,
                      b->klTable->tensors[t].cells[c].weightedNmse)
                << t << " " << c;
        }
    }
    std::printf("  %d probes, %zu candidates: %.2f s with prefix reuse, %.2f s without\n",
                a->probes, a->candidates.size(), a->seconds, b->seconds);
}

// KL probes per tie group and at a few types per group: ffn_gate and ffn_up of a layer are one
// probe (their KL shared by parameters); with typesPerTensor = 2 every group is measured at its
// cheapest and dearest types (the same numbers as probing every type) and the others are
// interpolated between them in log KL against log weight error; far fewer probes.
TEST(BudgetFit, ProbesPerGroupAtTwoOrMoreTypes) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const quant::SensitivityTable& table = storiesTable(*m, nullptr);
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok());
    auto tokens = tk->encode(readText(test::dataPath("models/eval-text.txt")), true);
    tokens.resize(96);
    auto lm = eval::LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok());
    eval::KlSensitivityOptions ko;
    ko.eval.ctx = int64_t(tokens.size());
    ko.eval.forward.threads = 2;
    auto ref = eval::runReference(*lm, tokens, ko.eval);
    ASSERT_TRUE(ref.ok());
    auto opt = quant::PlanOptimizer::prepare(*m, table, quant::buildPlan(*m, {}), {});
    ASSERT_TRUE(opt.ok());
    for (const auto& g : opt->groups()) {
        if (g.tensors.size() > 1) ko.groups.push_back(g.tensors);
    }
    ASSERT_FALSE(ko.groups.empty());  // ffn_gate + ffn_up of every layer
    int probesAll = 0, probesTwo = 0;
    ko.progress = [&](const quant::Progress& p) {
        probesAll = int(p.tensorCount);
        return true;
    };
    auto all = eval::klSensitivity(*m, table, tokens, *ref, ko);
    ASSERT_TRUE(all.ok()) << all.error().what();
    ko.typesPerTensor = 2;
    ko.progress = [&](const quant::Progress& p) {
        probesTwo = int(p.tensorCount);
        return true;
    };
    auto two = eval::klSensitivity(*m, table, tokens, *ref, ko);
    ASSERT_TRUE(two.ok()) << two.error().what();
    std::printf("  probes: %d at every type, %d at two types per group\n", probesAll, probesTwo);
    EXPECT_LT(probesTwo * 3, probesAll);
    // A group is one probe: gate and up get the same KL per parameter, and a probe of the pair
    // gives that value.
    const auto& g = ko.groups.front();
    const auto& cg = all->tensors[g[0]].cells;
    const auto& cu = all->tensors[g[1]].cells;
    for (size_t c = 0; c < cg.size(); ++c) EXPECT_EQ(cg[c].weightedNmse, cu[c].weightedNmse);
    size_t exact = 0, within = 0, interpolated = 0;
    for (size_t t = 0; t < table.tensors.size(); ++t) {
        if (!table.tensors[t].quantizable) continue;
        // The cheapest and the dearest types are measured in both tables: equal.
        double lo = 1e300, hi = 0;
        for (size_t c = 0; c < table.tensors[t].cells.size(); ++c) {
            const double x = all->tensors[t].cells[c].weightedNmse;
            const double y = two->tensors[t].cells[c].weightedNmse;
            if (!table.tensors[t].cells[c].valid) continue;
            EXPECT_TRUE(std::isfinite(y) && y >= 0) << t << " " << c;
            if (x == y) {
                ++exact;
                if (x > 0) lo = std::min(lo, x), hi = std::max(hi, x);
            } else {
                ++interpolated;
            }
        }
        for (size_t c = 0; c < table.tensors[t].cells.size(); ++c) {
            const double y = two->tensors[t].cells[c].weightedNmse;
            if (table.tensors[t].cells[c].valid && y > 0 && y >= lo * 0.999 && y <= hi * 1.001) {
                ++within;
            }
        }
    }
    std::printf("  cells: %zu measured in both, %zu interpolated, %zu within the measured range\n",
                exact, interpolated, within);
    EXPECT_GT(exact, 0u);
    EXPECT_GT(interpolated, 0u);
}

// The choice (eval::chooseCandidate) on measured numbers: a candidate replaces the preset only
// when it beats it on the calibration tokens by more than the noise, and on the held-out part
// by more than heldOutSigmas standard errors of the KL difference without a higher perplexity;
// otherwise the next candidate, and last the preset.
TEST(BudgetFit, ChoiceNeedsAHeldOutGainBeyondTwoStandardErrors) {
    // Per-position values: a base level with a deterministic spread (+-spread).
    auto series = [](double level, double spread, size_t n = 200) {
        std::vector<float> v(n);
        for (size_t i = 0; i < n; ++i) {
            v[i] = float(level + spread * std::sin(double(i) * 1.7 + level * 13.0));
        }
        return v;
    };
    auto mean = [](const std::vector<float>& v) {
        double s = 0;
        for (float x : v) s += x;
        return s / double(v.size());
    };
    auto cand = [&](eval::FitKind kind, const std::string& name, double klCal, double klHeld,
                    double nllHeld, double spread = 0.01) {
        eval::FitCandidate c;
        c.kind = kind;
        c.name = name;
        c.klPositions = series(klCal, spread);
        c.nllPositions = series(1.0 + klCal, spread);
        c.klHeldOutPositions = series(klHeld, spread);
        c.nllHeldOutPositions = series(nllHeld, spread);
        c.klCalibration = mean(c.klPositions);
        c.klHeldOut = mean(c.klHeldOutPositions);
        return c;
    };
    eval::FitOptions fo;
    eval::FitResult r;
    r.heldOutText = true;
    r.candidates.push_back(cand(eval::FitKind::Preset, "Q2_K", 0.06, 0.08, 1.30));
    // Clearly better on both parts, but a higher perplexity on the held-out text.
    r.candidates.push_back(cand(eval::FitKind::Move, "m-ppl", 0.02, 0.04, 1.31));
    // Better on the calibration part, the held-out gain within two standard errors.
    r.candidates.push_back(cand(eval::FitKind::Kl, "kl", 0.03, 0.0795, 1.29, 0.05));
    eval::chooseCandidate(r, fo);
    ASSERT_TRUE(r.preset.has_value());
    EXPECT_EQ(*r.preset, 0u);
    EXPECT_EQ(r.best, 1u);
    EXPECT_EQ(r.chosen, 0u) << r.rule;  // both fail the guard: the preset
    EXPECT_NE(r.rule.find("held-out text perplexity"), std::string::npos) << r.rule;
    std::printf("  %s\n", r.rule.c_str());

    // A candidate that passes all: clearly better on both parts, no higher perplexity.
    r.candidates.push_back(cand(eval::FitKind::Nmse, "nmse", 0.04, 0.05, 1.28));
    eval::chooseCandidate(r, fo);
    EXPECT_EQ(r.chosen, 3u) << r.rule;
    EXPECT_GT(r.noise, 0);
    EXPECT_NE(r.rule.find("held-out text"), std::string::npos) << r.rule;

    // Without the held-out perplexity check failing, the lowest calibration KL is taken.
    r.candidates[1].nllHeldOutPositions = series(1.27, 0.01);
    eval::chooseCandidate(r, fo);
    EXPECT_EQ(r.chosen, 1u) << r.rule;

    // A stricter held-out bound rejects a gain of (0.08 - 0.05) when the noise is larger.
    r.candidates[1].nllHeldOutPositions = series(1.31, 0.01);
    r.candidates[3].klHeldOutPositions = series(0.05, 0.5);
    r.candidates[3].klHeldOut = mean(r.candidates[3].klHeldOutPositions);
    eval::chooseCandidate(r, fo);
    EXPECT_EQ(r.chosen, 0u) << r.rule;

    // No preset among the candidates: the lowest calibration KL.
    r.candidates.erase(r.candidates.begin());
    eval::chooseCandidate(r, fo);
    EXPECT_FALSE(r.preset.has_value());
    EXPECT_EQ(r.chosen, r.best);
}
