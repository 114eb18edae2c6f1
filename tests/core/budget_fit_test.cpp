// Fit to budget in a closed loop (eval::fitToBudget): at the file size of llama.cpp's presets on
// the real stories260K, without and with an imatrix, the chosen plan's KL divergence on the
// calibration text is never above the preset's, the plan fits the budget, every candidate kind
// is measured, and the plan records how it was chosen. Also: the time bound, cancellation and
// the progress callback.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "eval/budget_fit.h"
#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/ftype.h"
#include "quant/recipe.h"
#include "quant/sensitivity.h"
#include "synth/synth_imatrix.h"
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
        auto s = synth::synthImatrix(*m, 3);
        ASSERT_TRUE(s.ok()) << s.error().what();
        im = std::move(*s);
    }
    const quant::Imatrix* imp = im ? &*im : nullptr;
    const quant::SensitivityTable table = tableFor(*m, imp, dir.file("cache"));
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

TEST(BudgetFit, NeverAboveThePresetWithAnImatrixStories260K) {
    checkSizes(true);
}

TEST(BudgetFit, RecordsHowThePlanWasChosen) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const quant::SensitivityTable table = tableFor(*m, nullptr, dir.file("cache"));
    eval::FitOptions fo;
    fo.targetBytes = presetSize(*m, quant::Ftype::Q4_K_M, nullptr);
    fo.presets = eval::presetsOfSize(*m, fo.targetBytes, nullptr);
    ASSERT_FALSE(fo.presets.empty());
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
    const quant::SensitivityTable table = tableFor(*m, nullptr, dir.file("cache"));
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
