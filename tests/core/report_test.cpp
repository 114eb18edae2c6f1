// core/report (issue 25): variant specs and budgets parsed, the Pareto front, one job over
// several variants on the real stories260K (the original run once: every plan variant's numbers
// equal evaluatePlan's, an imported file's equal its own evaluation), progress and cancel,
// the recipe embedded in exported files and read back, and the writers' escaping.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "eval/llama_model.h"
#include "eval/plan_eval.h"
#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/plan_compare.h"
#include "report/report_writer.h"
#include "report/variants.h"
#include "test_util.h"

using namespace qs;
namespace fs = std::filesystem;

namespace {

std::vector<int32_t> storiesTokens(const model::Model& m) {
    std::ifstream f(test::dataPath("models/eval-text.txt"), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    auto tk = eval::Tokenizer::fromModel(m);
    EXPECT_TRUE(tk.ok());
    return tk->encode(ss.str(), tk->addBosDefault());
}

TEST(Report, ParsesSpecsAndBudgets) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    auto p = report::parseVariantSpec("q4_k_m");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->kind, report::VariantKind::Preset);
    auto r = report::parseVariantSpec("recipe:/x/y.json");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, report::VariantKind::Recipe);
    EXPECT_EQ(r->arg, "/x/y.json");
    EXPECT_EQ(report::parseVariantSpec("fit:300K")->kind, report::VariantKind::Fit);
    EXPECT_EQ(report::parseVariantSpec("file:a.gguf")->kind, report::VariantKind::File);
    EXPECT_FALSE(report::parseVariantSpec("Q9_X").ok());
    EXPECT_FALSE(report::parseVariantSpec("file:").ok());
    EXPECT_EQ(*report::parseBudget("304096", *m), 304096u);
    EXPECT_EQ(*report::parseBudget("300K", *m), 300000u);
    EXPECT_EQ(*report::parseBudget("1.5M", *m), 1500000u);
    EXPECT_EQ(*report::parseBudget("2G", *m), 2000000000u);
    EXPECT_EQ(*report::parseBudget("8bpw", *m), uint64_t(m->totalElements()));
    for (const char* bad : {"", "abc", "-3", "3X", "K", "nanbpw", "1e400", "1e30", "1e30bpw"}) {
        EXPECT_FALSE(report::parseBudget(bad, *m).ok()) << bad;
    }
}

TEST(Report, ParetoFront) {
    // (size, kl): 0 and 2 dominate 1; 3 is larger and better; 4 equals 0's size but worse.
    std::vector<std::pair<double, double>> pts = {
        {100, 0.5}, {120, 0.6}, {150, 0.1}, {300, 0.01}, {100, 0.7}};
    EXPECT_EQ(report::paretoFront(pts), (std::vector<size_t>{0, 2, 3}));
    EXPECT_TRUE(report::paretoFront({}).empty());
}

TEST(Report, OneJobOriginalOnceNumbersOfEachVariant) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const auto tokens = storiesTokens(*m);
    std::vector<report::VariantSpec> specs = {
        *report::parseVariantSpec("Q4_0"), *report::parseVariantSpec("Q4_K_M"),
        *report::parseVariantSpec("file:" +
                                  test::dataPath("models/reference-quants/stories260K-Q8_0.gguf"))};
    report::ReportOptions o;
    o.ctx = 96;
    uint64_t lastDone = 0, calls = 0;
    o.progress = [&](const quant::Progress& p) {
        EXPECT_GE(p.doneBytes, lastDone);
        EXPECT_LE(p.doneBytes, p.totalBytes);
        lastDone = p.doneBytes;
        ++calls;
        return true;
    };
    auto rep = report::runReport(*m, specs, tokens, o);
    ASSERT_TRUE(rep.ok()) << rep.error().what();
    EXPECT_EQ(calls, 1 + 2 * specs.size() + 1);
    ASSERT_EQ(rep->variants.size(), 3u);
    EXPECT_EQ(rep->tokens, 96);
    // Each plan variant's numbers equal evaluatePlan's on the same tokens.
    eval::EvalOptions eo;
    eo.ctx = 96;
    for (size_t i = 0; i < 2; ++i) {
        const auto& v = rep->variants[i];
        ASSERT_TRUE(v.plan.has_value());
        auto e = eval::evaluatePlan(*m, *v.plan, tokens, eo);
        ASSERT_TRUE(e.ok());
        EXPECT_EQ(v.klMean, e->result.klMean) << v.name;
        EXPECT_EQ(v.perplexity, e->result.perplexity) << v.name;
        EXPECT_EQ(v.top1Agreement, e->result.top1Agreement) << v.name;
        EXPECT_EQ(rep->referencePerplexity, e->reference.perplexity);
        auto size = quant::predictFileSize(*m, *v.plan);
        EXPECT_EQ(v.fileBytes, *size);
        EXPECT_NE(v.recipeJson.find("\"base\": \"" + v.name + "\""), std::string::npos);
    }
    const auto& f = rep->variants[2];
    EXPECT_EQ(f.kind, report::VariantKind::File);
    EXPECT_FALSE(f.plan.has_value());
    EXPECT_EQ(f.typeLabel, "Q8_0");
    EXPECT_EQ(f.fileBytes,
              fs::file_size(test::dataPath("models/reference-quants/stories260K-Q8_0.gguf")));
    EXPECT_GT(f.top1Agreement, rep->variants[0].top1Agreement);
    EXPECT_FALSE(rep->pareto.empty());

    // Exported with the recipe embedded; importing the file gives the recipe back.
    test::TempDir dir;
    quant::QuantizeOptions qo;
    ASSERT_TRUE(report::exportVariants(*m, *rep, dir.path().string(), qo).ok());
    for (size_t i = 0; i < 2; ++i) {
        const auto& v = rep->variants[i];
        ASSERT_TRUE(fs::exists(v.filePath));
        EXPECT_EQ(fs::file_size(v.filePath), v.fileBytes);
        auto file = model::openModel(v.filePath);
        ASSERT_TRUE(file.ok());
        auto er = report::embeddedRecipe(*file);
        ASSERT_TRUE(er.ok() && er->has_value());
        EXPECT_EQ(quant::recipeToJson(**er, &*m), v.recipeJson);
        bool embedded = false;
        auto back = report::importRecipe(*m, *file, &embedded);
        ASSERT_TRUE(back.ok());
        EXPECT_TRUE(embedded);
        EXPECT_EQ(quant::recipeToJson(*back, &*m), v.recipeJson);
    }
    // The report's files.
    rep->textName = "eval|text.txt";
    auto w = report::writeReport(*rep, dir.path().string());
    ASSERT_TRUE(w.ok());
    const auto md = test::readFile(w->markdown);
    const std::string mds(md.begin(), md.end());
    EXPECT_NE(mds.find("eval|text.txt"), std::string::npos);  // prose: as it is
    EXPECT_NE(mds.find("| stories260K-Q4_0.gguf | Q4_0: "), std::string::npos);
    const auto svg = test::readFile(w->chart);
    EXPECT_EQ(std::string(svg.begin(), svg.begin() + 4), "<svg");
}

TEST(Report, CancelStopsTheJob) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const auto tokens = storiesTokens(*m);
    report::ReportOptions o;
    o.ctx = 64;
    int calls = 0;
    o.progress = [&](const quant::Progress&) { return ++calls < 3; };
    auto rep = report::runReport(
        *m, {*report::parseVariantSpec("Q4_0"), *report::parseVariantSpec("Q8_0")}, tokens, o);
    ASSERT_FALSE(rep.ok());
    EXPECT_EQ(rep.error().code, ErrorCode::Cancelled);
    quant::CancelToken cancel;
    cancel.cancel();
    o.progress = nullptr;
    o.cancel = &cancel;
    rep = report::runReport(*m, {*report::parseVariantSpec("Q4_0")}, tokens, o);
    ASSERT_FALSE(rep.ok());
    EXPECT_EQ(rep.error().code, ErrorCode::Cancelled);
}

TEST(Report, BadVariantsAreErrorsNamingThem) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const auto tokens = storiesTokens(*m);
    report::ReportOptions o;
    o.ctx = 32;
    auto rep = report::runReport(
        *m, {*report::parseVariantSpec("file:" + test::dataPath("models/none.gguf"))}, tokens, o);
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(rep.error().what().find("none.gguf"), std::string::npos) << rep.error().what();
    rep =
        report::runReport(*m, {*report::parseVariantSpec("recipe:/nonexistent/r.json")}, tokens, o);
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(rep.error().what().find("/nonexistent/r.json"), std::string::npos);
    // A budget under every preset's file.
    rep = report::runReport(*m, {*report::parseVariantSpec("fit:5K")}, tokens, o);
    ASSERT_FALSE(rep.ok());
    EXPECT_EQ(rep.error().code, ErrorCode::BadUsage);
}

}  // namespace
