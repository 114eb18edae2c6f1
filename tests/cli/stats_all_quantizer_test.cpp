// quantscope-cli stats --all --quantizer best (issue 23): the plan's error as the best quantizer
// writes it, below ggml's for the same plan; a recipe's "quantizer": "best" counts too.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_util.h"

namespace {

using qs::test::cli;
using qs::test::CliRun;

const std::string kStories = qs::test::dataPath("models/stories260K.gguf");

double totalOf(const std::string& args, const std::string& quantizer) {
    const CliRun r = cli("stats " + kStories + " --all " + args + " --json");
    EXPECT_EQ(r.code, 0) << r.err;
    if (r.code != 0) return 0;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["quantizer"], quantizer);
    return j["totals"]["weighted_nmse"].get<double>();
}

TEST(CliStatsAllQuantizer, BestPlanBelowGgmlPlan) {
    const double ggml = totalOf("--preset Q4_K_M", "ggml");
    const double best = totalOf("--preset Q4_K_M --quantizer best", "best");
    EXPECT_GT(ggml, 0);
    EXPECT_LT(best, ggml);
    // A recipe that asks for best, without --quantizer: the same prediction.
    qs::test::TempDir dir;
    const std::string recipe = dir.file("best.json");
    const CliRun p = cli("plan " + kStories + " --preset-size Q4_K_M --no-cache -o " + recipe);
    ASSERT_EQ(p.code, 0) << p.err;
    nlohmann::json j;
    {
        std::ifstream in(recipe);
        j = nlohmann::json::parse(in);
    }
    j["quantizer"] = "best";
    {
        std::ofstream out(recipe);
        out << j.dump(2);
    }
    const double fromRecipe = totalOf("--recipe " + recipe, "best");
    EXPECT_GT(fromRecipe, 0);
    j.erase("quantizer");
    {
        std::ofstream out(recipe);
        out << j.dump(2);
    }
    EXPECT_LT(fromRecipe, totalOf("--recipe " + recipe, "ggml"));
}

TEST(CliStatsAllQuantizer, UnknownQuantizerIsAnError) {
    const CliRun r = cli("stats " + kStories + " --all --preset Q4_K_M --quantizer fast");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("ggml or best"), std::string::npos) << r.err;
}

}  // namespace
