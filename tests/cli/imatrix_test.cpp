// quantscope-cli imatrix end to end on stories260K: a GGUF imatrix from a calibration text that
// quantize and plan accept, merging files weighted by their counts, llama-imatrix's statistics
// as text and JSON, and clear errors that leave no file behind.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "quant/imatrix_sums.h"

namespace {

using nlohmann::json;
using qs::test::cli;
using qs::test::CliRun;

const std::string kStories = qs::test::dataPath("models/stories260K.gguf");
const std::string kCalib = qs::test::dataPath("imatrix/calibration.txt");
const std::string kText = qs::test::dataPath("models/eval-text.txt");

}  // namespace

TEST(CliImatrix, ComputesAFileThatQuantizeAccepts) {
    qs::test::TempDir dir;
    const std::string out = dir.file("stories.imatrix.gguf");
    CliRun r = cli("imatrix " + kStories + " --text " + kCalib + " --ctx 128 --threads 2 -o " +
                   out + " --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["schema"], "quantscope.imatrix/1");
    EXPECT_EQ(j["ctx"], 128);
    EXPECT_EQ(j["chunks"], 13);  // 1,686 tokens of the calibration text
    EXPECT_EQ(j["chunk_count"], 13);
    EXPECT_EQ(j["chunk_size"], 128);
    EXPECT_EQ(j["entries"], 35);  // 7 matrices in each of 5 layers
    EXPECT_EQ(j["output"], out);
    EXPECT_TRUE(j["warnings"].empty());
    EXPECT_GT(j["tokens_per_second"].get<double>(), 0);
    ASSERT_TRUE(std::filesystem::exists(out));
    // --chunks limits the chunks.
    r = cli("imatrix " + kStories + " --text " + kCalib + " --ctx 128 --chunks 2 -o " +
            dir.file("two.gguf") + " --json");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["chunk_count"], 2);
    // quantize and plan take it.
    r = cli("quantize " + kStories + " -o " + dir.file("q.gguf") + " --type IQ4_XS --imatrix " +
            out + " --threads 2 --quiet");
    EXPECT_EQ(r.code, 0) << r.err;
    r = cli("plan " + kStories + " --target-size 304096 --imatrix " + out + " --json --no-cache");
    EXPECT_EQ(r.code, 0) << r.err;
}

TEST(CliImatrix, MergesFilesAndShowsStatistics) {
    qs::test::TempDir dir;
    const std::string a = dir.file("a.gguf"), b = dir.file("b.gguf"), ab = dir.file("ab.gguf");
    ASSERT_EQ(cli("imatrix " + kStories + " --text " + kCalib + " --ctx 128 -o " + a).code, 0);
    ASSERT_EQ(cli("imatrix " + kStories + " --text " + kText + " --ctx 128 -o " + b).code, 0);
    CliRun r = cli("imatrix --in-file " + a + " --in-file " + b + " -o " + ab +
                   " --show-statistics --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["chunk_count"], 13 + 5);
    ASSERT_EQ(j["datasets"].size(), 2u);
    EXPECT_EQ(j["datasets"][0], kCalib);
    ASSERT_EQ(j["statistics"]["tensors"].size(), 35u);
    ASSERT_EQ(j["statistics"]["layers"].size(), 5u);
    const json& t0 = j["statistics"]["tensors"][0];
    EXPECT_EQ(t0["tensor"], "attn_k");  // llama-imatrix's order: by name, larger sums first
    EXPECT_EQ(t0["elements"], 64);
    EXPECT_GT(t0["entropy"].get<double>(), 0);
    EXPECT_TRUE(j["statistics"]["layers"][0]["layer"] == 0);
    // A single file: statistics as text, nothing written.
    r = cli("imatrix --in-file " + ab + " --show-statistics");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("ffn_down"), std::string::npos);
    EXPECT_NE(r.out.find("per layer"), std::string::npos);
    // The merged file is the sum of the two computed in one run over both texts' chunks.
    // (Counts: 13 + 5 chunks of 128 rows per 2-D weight.)
    r = cli("imatrix --in-file " + ab + " --json");
    ASSERT_EQ(r.code, 0);
    EXPECT_EQ(json::parse(r.out)["chunk_count"], 18);
    // A file given with --in-file and a new collection add up the same way.
    const std::string abc = dir.file("abc.gguf");
    r = cli("imatrix --in-file " + a + " " + kStories + " --text " + kText + " --ctx 128 -o " +
            abc + " --json");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["chunk_count"], 18);
    auto x = qs::quant::loadImatrixSums(ab);
    auto y = qs::quant::loadImatrixSums(abc);
    ASSERT_TRUE(x.ok() && y.ok());
    ASSERT_EQ(x->entries.size(), y->entries.size());
    for (const auto& [name, e] : x->entries) {
        const auto& f = y->entries.at(name);
        EXPECT_EQ(e.counts, f.counts) << name;
        for (size_t i = 0; i < e.sums.size(); ++i) {
            EXPECT_NEAR(e.sums[i], f.sums[i], 1e-6 * std::fabs(e.sums[i])) << name << " " << i;
        }
    }
}

TEST(CliImatrix, BadInputIsExitCode2AndWritesNothing) {
    qs::test::TempDir dir;
    const std::string out = dir.file("never.gguf");
    CliRun r = cli("imatrix " + kStories + " -o " + out);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("--text"), std::string::npos);
    r = cli("imatrix " + kStories + " --text " + kText + " --ctx 4096 -o " + out);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("fewer than one chunk"), std::string::npos) << r.err;
    r = cli("imatrix --in-file " + kText + " -o " + out);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("eval-text.txt"), std::string::npos) << r.err;
    r = cli("imatrix " + kStories + " --text " + kText + " --ctx 8");
    EXPECT_EQ(r.code, 2);
    // A failed write: exit code 1, the reason on stderr, nothing on stdout.
    r = cli("imatrix " + kStories + " --text " + kText + " --ctx 128 -o " +
            dir.file("no-such-dir/x.gguf"));
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("no-such-dir"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
}
