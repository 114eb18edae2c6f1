// quantscope-cli stats MODEL --all (issue 19): every tensor's planned type and error, exact for
// small tensors, sampled with a standard error above the threshold; the sparse 405B-shaped and
// Qwen3-30B-A3B-shaped fixtures from `synth --preset`.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_util.h"

namespace {

using qs::test::cli;
using qs::test::CliRun;

const std::string kStories = qs::test::dataPath("models/stories260K.gguf");

TEST(CliStatsAll, PresetExactEqualsSingleTensorStats) {
    const CliRun r = cli("stats " + kStories + " --all --preset Q8_0 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["schema"], "quantscope.stats_all/1");
    EXPECT_EQ(j["plan"], "preset:Q8_0");
    ASSERT_EQ(j["tensors"].size(), 48u);
    int measured = 0;
    for (const auto& t : j["tensors"]) {
        if (t["copy"].get<bool>()) {
            EXPECT_EQ(t["type"], t["source_type"]);
            continue;
        }
        EXPECT_FALSE(t["sampled"].get<bool>()) << t["name"];  // stories260K: all small
        EXPECT_EQ(t["std_error"].get<double>(), 0.0);
        if (t["name"] == "blk.0.attn_q.weight") {
            const CliRun one =
                cli("stats " + kStories + " --tensor blk.0.attn_q.weight --type Q8_0 --json");
            ASSERT_EQ(one.code, 0) << one.err;
            const auto o = nlohmann::json::parse(one.out);
            EXPECT_NEAR(t["nmse"].get<double>(), o["metrics"]["nmse"].get<double>(),
                        1e-9 * o["metrics"]["nmse"].get<double>());
        }
        ++measured;
    }
    EXPECT_GT(measured, 30);
    EXPECT_GT(j["totals"]["weighted_nmse"].get<double>(), 0);
}

TEST(CliStatsAll, SampledGivesStdErrorAndTextShowsIt) {
    // Threshold 0 and 16 rows: every tensor of more than 32 rows is sampled.
    const CliRun r =
        cli("stats " + kStories + " --all --type Q4_0 --exact-below 0 --sample-rows 16 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    int sampled = 0;
    for (const auto& t : j["tensors"]) {
        if (!t["sampled"].get<bool>()) continue;
        ++sampled;
        EXPECT_EQ(t["rows_measured"].get<int>(), 16);
        EXPECT_GT(t["std_error"].get<double>(), 0);
        // The stated 95 % interval: half-width 1.96 (t-widened) standard errors.
        EXPECT_NEAR(t["ci95"].get<double>(), 1.959964 * t["std_error"].get<double>(),
                    1e-12 * t["ci95"].get<double>());
    }
    EXPECT_GT(sampled, 10);
    EXPECT_NEAR(j["totals"]["ci95"].get<double>(),
                1.959964 * j["totals"]["std_error"].get<double>(),
                1e-12 * j["totals"]["ci95"].get<double>());
    EXPECT_EQ(j["totals"]["sampled_tensors"].get<int>(), sampled);
    const CliRun text = cli("stats " + kStories +
                            " --all --type Q4_0 --exact-below 0 "
                            "--sample-rows 16");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("+-"), std::string::npos);
    EXPECT_NE(text.out.find("% (95 %)"), std::string::npos);  // says which interval
    EXPECT_NE(text.out.find("(exact)"), std::string::npos);   // token_embd etc. stay small
    const CliRun exact = cli("stats " + kStories + " --all --type Q4_0 --exact --json");
    ASSERT_EQ(exact.code, 0) << exact.err;
    const nlohmann::json exactJson = nlohmann::json::parse(exact.out);  // outlives the loop
    for (const auto& t : exactJson["tensors"]) {
        EXPECT_FALSE(t["sampled"].get<bool>());
    }
}

TEST(CliStatsAll, BadUsage) {
    EXPECT_EQ(cli("stats " + kStories).code, 2);             // neither
    EXPECT_EQ(cli("stats " + kStories + " --all").code, 2);  // no plan
    EXPECT_EQ(cli("stats " + kStories + " --all --preset Q9_X").code, 2);
    EXPECT_EQ(cli("stats " + kStories + " --all --type Q4_0 --preset Q4_K_M").code, 2);
    EXPECT_NE(cli("stats " + kStories + " --preset Q4_K_M --tensor output.weight").code, 0);
}

// The MoE fixture: 48 layers x 128 experts, header + holes; a whole Q4_K_M plan in seconds,
// one layer's experts each with its own estimate.
TEST(CliStatsAll, SparseMoeFixturePerExpert) {
    qs::test::TempDir dir;
    const std::string moe = dir.file("moe.gguf");
    const CliRun w = cli("synth --preset qwen3moe-30b-a3b -o " + moe);
    ASSERT_EQ(w.code, 0) << w.err;
    EXPECT_GT(std::filesystem::file_size(moe), 60'000'000'000ull);  // apparent size
    const CliRun r = cli("stats " + moe + " --all --preset Q4_K_M --per-expert --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    int expertTensors = 0;
    for (const auto& t : j["tensors"]) {
        if (t["shape"].size() == 3 && !t["copy"].get<bool>()) {
            ASSERT_TRUE(t.contains("experts")) << t["name"];
            EXPECT_EQ(t["experts"].size(), 128u);
            EXPECT_TRUE(t["sampled"].get<bool>());
            ++expertTensors;
        }
    }
    EXPECT_EQ(expertTensors, 48 * 3);
}

}  // namespace
