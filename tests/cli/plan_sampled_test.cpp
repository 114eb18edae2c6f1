// quantscope-cli plan on large tensors: tensors of more than --exact-below values are measured by
// the error atlas's sampler (a sample of rows, as stats --all), the others as before; the JSON
// and the text say how many were sampled and the largest relative 95 % interval in the plan.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_util.h"

namespace {

using qs::test::cli;
using qs::test::CliRun;

// Every test gets its own sensitivity cache directory (the child inherits the environment).
CliRun run(const qs::test::TempDir& dir, const std::string& args) {
    ::setenv("XDG_CACHE_HOME", dir.file("cache").c_str(), 1);
    return cli(args);
}

nlohmann::json planJson(const qs::test::TempDir& dir, const std::string& args) {
    const CliRun r = run(dir, "plan " + args + " --json");
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// The MoE fixture (48 layers x 128 experts, header + holes, ~60 GB apparent): every expert
// tensor is far above the threshold, so the sampler measures it on 256 of its rows and the
// budget fit takes seconds, not the minutes an every-row pass over the file took.
TEST(CliPlanSampled, SparseMoeFixtureTakesTheSampledPath) {
    qs::test::TempDir dir;
    const std::string moe = dir.file("moe.gguf");
    const CliRun w = cli("synth --preset qwen3moe-30b-a3b -o " + moe);
    ASSERT_EQ(w.code, 0) << w.err;
    const auto t0 = std::chrono::steady_clock::now();
    const auto j = planJson(dir, moe + " --target-bpw 5 --types Q4_K,Q6_K --no-cache");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(j.contains("sensitivity"));
    const auto& s = j["sensitivity"];
    EXPECT_FALSE(s["exact"].get<bool>());
    EXPECT_EQ(s["exact_below_values"], 4194304u);
    EXPECT_EQ(s["large_sample_rows"], 256);
    EXPECT_GE(s["sampled"].get<size_t>(), 48u * 3);  // at least every *_exps tensor
    EXPECT_LE(j["file_bytes"].get<uint64_t>(), j["target_bytes"].get<uint64_t>());
    size_t sampledInPlan = 0;
    for (const auto& t : j["tensors"]) {
        if (!t["sampled"].get<bool>()) continue;
        ++sampledInPlan;
        EXPECT_GE(t["relative_ci95"].get<double>(), 0.0) << t["name"];
    }
    EXPECT_EQ(sampledInPlan, s["sampled"].get<size_t>());
    EXPECT_TRUE(std::isfinite(s["max_relative_ci95"].get<double>()));
    // Every weight of the fixture is a hole: every error is 0, and no tensor is named as the
    // one with the largest relative error (there is none).
    EXPECT_EQ(s["max_relative_std_error"].get<double>(), 0.0);
    EXPECT_TRUE(s["max_relative_std_error_tensor"].is_null()) << s;
    std::printf("plan on the MoE fixture: %.2f s, %zu tensors sampled\n", seconds, sampledInPlan);
    // quantize --target-* says the same on stderr, before its own summary.
    const CliRun q = run(dir, "quantize " + moe + " -o " + dir.file("out.gguf") +
                                  " --target-bpw 5 --types Q4_K,Q6_K --dry-run");
    ASSERT_EQ(q.code, 0) << q.err;
    EXPECT_NE(q.err.find("sampled: "), std::string::npos) << q.err;
    EXPECT_NE(q.err.find("every sampled error of the plan is 0"), std::string::npos) << q.err;
}

// A small model: nothing is sampled by default (the plan is the one it always was); with a low
// --exact-below the large tensors are, the text says so, and the sampled total error is close
// to the exact one; --exact measures every row whatever the threshold.
TEST(CliPlanSampled, ThresholdDecidesAndExactOverrides) {
    qs::test::TempDir dir;
    const std::string tiny = dir.file("tiny.gguf");
    ASSERT_EQ(cli("synth --preset tiny -o " + tiny).code, 0);
    const std::string args = tiny + " --target-bpw 5 --types Q4_K,Q6_K,Q8_0 --no-cache";
    const auto plain = planJson(dir, args);
    EXPECT_EQ(plain["sensitivity"]["sampled"], 0u);
    EXPECT_TRUE(plain["sensitivity"]["max_relative_std_error_tensor"].is_null());
    const auto sampled = planJson(dir, args + " --exact-below 100000");
    EXPECT_GT(sampled["sensitivity"]["sampled"].get<size_t>(), 0u);
    EXPECT_GT(sampled["sensitivity"]["max_relative_ci95"].get<double>(), 0.0);
    EXPECT_TRUE(sampled["sensitivity"]["max_relative_std_error_tensor"].is_string());
    const auto exact = planJson(dir, args + " --exact-below 1 --exact");
    EXPECT_EQ(exact["sensitivity"]["sampled"], 0u);
    EXPECT_TRUE(exact["sensitivity"]["exact"].get<bool>());
    const double e = exact["error"], s = sampled["error"];
    EXPECT_NEAR(s, e, 0.1 * e);
    const CliRun text = run(dir, "plan " + args + " --exact-below 100000");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("sampled: "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("95 % interval"), std::string::npos) << text.out;
    EXPECT_NE(
        text.out.find(sampled["sensitivity"]["max_relative_std_error_tensor"].get<std::string>()),
        std::string::npos)
        << text.out;
    const CliRun plainText = run(dir, "plan " + args);
    ASSERT_EQ(plainText.code, 0) << plainText.err;
    EXPECT_EQ(plainText.out.find("sampled: "), std::string::npos) << plainText.out;
}

}  // namespace
