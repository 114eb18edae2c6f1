// quantscope-cli on split GGUF models, end to end: split exports whose --dry-run --json sizes
// are the written sizes, every command (inspect, stats, plan, eval, quantize) seeing the whole
// model from any shard, and a broken set refused with exit code 2 naming the shard.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_util.h"

namespace {

using nlohmann::json;
using qs::test::cli;
using qs::test::CliRun;

const std::string kStories = qs::test::dataPath("models/stories260K.gguf");
const std::string kText = qs::test::dataPath("models/eval-text.txt");

// stories260K at Q8_0 in three shards of 20, 20 and 8 tensors.
std::vector<std::string> splitStories(const qs::test::TempDir& dir, const std::string& name) {
    const CliRun r = cli("quantize " + kStories + " -o " + dir.file(name + ".gguf") +
                         " --type Q8_0 --split-max-tensors 20 -q");
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::string> out;
    for (int k = 1; k <= 3; ++k) {
        out.push_back(dir.file(name + "-0000" + std::to_string(k) + "-of-00003.gguf"));
        EXPECT_TRUE(std::filesystem::exists(out.back())) << out.back();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file(name + ".gguf")));
    return out;
}

TEST(CliSplit, DryRunJsonListsEveryShardWithItsWrittenSize) {
    qs::test::TempDir dir;
    // gguf-split's size syntax on a model big enough to cut: synth tiny (F16, ~8 MB).
    ASSERT_EQ(cli("synth -o " + dir.file("tiny.gguf") + " --preset tiny --seed 3").code, 0);
    struct Case {
        std::string model, args;
    };
    for (const Case& c : {Case{kStories, "--type Q4_K_M --split-max-tensors 7"},
                          Case{dir.file("tiny.gguf"), "--type Q8_0 --split-max-size 1M"},
                          Case{dir.file("tiny.gguf"), "--type Q4_K_M"}}) {
        qs::test::TempDir out;
        const std::string o = out.file("m.gguf");
        const CliRun dry =
            cli("quantize " + c.model + " -o " + o + " " + c.args + " --dry-run --json");
        ASSERT_EQ(dry.code, 0) << dry.err;
        const json d = json::parse(dry.out);
        EXPECT_TRUE(std::filesystem::is_empty(out.path()));  // a dry run writes nothing
        const CliRun run = cli("quantize " + c.model + " -o " + o + " " + c.args + " --json");
        ASSERT_EQ(run.code, 0) << run.err;
        const json w = json::parse(run.out);
        ASSERT_TRUE(d["shards"].is_array());
        ASSERT_EQ(d["shards"].size(), w["shards"].size());
        uint64_t total = 0, tensors = 0;
        for (size_t k = 0; k < d["shards"].size(); ++k) {
            const auto& s = d["shards"][k];
            const std::string path = s["path"];
            EXPECT_EQ(std::filesystem::file_size(path), s["file_bytes"].get<uint64_t>()) << path;
            EXPECT_EQ(w["shards"][k]["file_bytes"], s["file_bytes"]);
            EXPECT_EQ(w["shards"][k]["predicted_file_bytes"], s["file_bytes"]);
            EXPECT_EQ(w["shards"][k]["path"], s["path"]);
            total += s["file_bytes"].get<uint64_t>();
            tensors += s["tensors"].get<uint64_t>();
        }
        EXPECT_EQ(d["file_bytes"].get<uint64_t>(), total);
        EXPECT_EQ(w["file_bytes"].get<uint64_t>(), total);
        EXPECT_EQ(tensors, d["tensors"].size());
        if (c.args.find("split") == std::string::npos) {
            ASSERT_EQ(d["shards"].size(), 1u);
            EXPECT_EQ(d["shards"][0]["path"], o);
        } else {
            EXPECT_GE(d["shards"].size(), 3u) << c.args;
            EXPECT_NE(d["shards"][0]["path"].get<std::string>().find("m-00001-of-0000"),
                      std::string::npos);
        }
    }
    // Without -o a dry run still predicts every shard, without paths.
    const CliRun noOut = cli("quantize " + kStories + " --split-max-tensors 20 --dry-run --json");
    ASSERT_EQ(noOut.code, 0) << noOut.err;
    const json n = json::parse(noOut.out);
    ASSERT_EQ(n["shards"].size(), 3u);
    EXPECT_TRUE(n["shards"][0]["path"].is_null());
}

TEST(CliSplit, EveryCommandSeesTheWholeModelFromAnyShard) {
    qs::test::TempDir dir;
    const auto shards = splitStories(dir, "st");
    ASSERT_EQ(cli("quantize " + kStories + " -o " + dir.file("one.gguf") + " --type Q8_0 -q").code,
              0);

    const CliRun text = cli("inspect " + shards[1]);
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("3 files"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("total: 48 tensors"), std::string::npos);
    const CliRun ij = cli("inspect --json " + shards[2]);
    ASSERT_EQ(ij.code, 0);
    const json j = json::parse(ij.out);
    EXPECT_EQ(j["files"].size(), 3u);
    EXPECT_EQ(j["tensors"].size(), 48u);

    // stats of a tensor in the last shard, from the first.
    const CliRun st = cli("stats " + shards[0] + " --tensor blk.4.ffn_up.weight --json");
    ASSERT_EQ(st.code, 0) << st.err;
    EXPECT_EQ(json::parse(st.out)["tensor"], "blk.4.ffn_up.weight");

    // plan: the whole model's size, equal to the unsplit file's.
    const CliRun p1 = cli("plan " + shards[0] + " --target-bpw 9 --json");
    const CliRun p2 = cli("plan " + dir.file("one.gguf") + " --target-bpw 9 --json");
    ASSERT_EQ(p1.code, 0) << p1.err;
    ASSERT_EQ(p2.code, 0) << p2.err;
    EXPECT_EQ(json::parse(p1.out)["file_bytes"], json::parse(p2.out)["file_bytes"]);
    EXPECT_EQ(json::parse(p1.out)["tensors"].size(), 48u);

    // eval: the same perplexity as the unsplit file, from the forward pass over every shard.
    const CliRun e1 =
        cli("eval " + shards[2] + " --text " + kText + " --ctx 64 --json --threads 2");
    const CliRun e2 =
        cli("eval " + dir.file("one.gguf") + " --text " + kText + " --ctx 64 --json --threads 2");
    ASSERT_EQ(e1.code, 0) << e1.err;
    ASSERT_EQ(e2.code, 0) << e2.err;
    EXPECT_EQ(json::parse(e1.out)["perplexity"], json::parse(e2.out)["perplexity"]);

    // quantize from a shard: the unsplit model's file, byte for byte.
    ASSERT_EQ(cli("quantize " + shards[1] + " -o " + dir.file("two.gguf") + " --type Q8_0 -q").code,
              0);
    EXPECT_EQ(qs::test::readFile(dir.file("one.gguf")), qs::test::readFile(dir.file("two.gguf")));

    // --keep-split keeps the three shards (Q8_0 shards to Q4_0: re-quantizing, allowed).
    const CliRun keep = cli("quantize " + shards[0] + " -o " + dir.file("k.gguf") +
                            " --type Q4_0 --keep-split --allow-requantize --json");
    ASSERT_EQ(keep.code, 0) << keep.err;
    EXPECT_EQ(json::parse(keep.out)["shards"].size(), 3u);
    EXPECT_TRUE(std::filesystem::exists(dir.file("k-00003-of-00003.gguf")));
}

TEST(CliSplit, BrokenSetsExitWithCode2NamingTheShard) {
    qs::test::TempDir dir;
    const auto shards = splitStories(dir, "st");
    // Missing shard.
    std::filesystem::rename(shards[1], dir.file("aside.gguf"));
    for (const char* cmd : {"inspect ", "stats --tensor output.weight ", "plan --target-bpw 5 "}) {
        const CliRun r = cli(std::string(cmd) + shards[0]);
        EXPECT_EQ(r.code, 2) << cmd;
        EXPECT_NE(r.err.find(shards[1]), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("missing shard 2 of 3"), std::string::npos) << r.err;
    }
    const CliRun q = cli("quantize " + shards[0] + " -o " + dir.file("out.gguf") + " --type Q4_0");
    EXPECT_EQ(q.code, 2);
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.gguf")));
    // A shard of another model (another split of the same model with other counts) in its place.
    qs::test::TempDir other;
    ASSERT_EQ(cli("quantize " + kStories + " -o " + other.file("st.gguf") +
                  " --type Q8_0 --split-max-tensors 17 -q")
                  .code,
              0);
    std::filesystem::copy_file(other.file("st-00002-of-00003.gguf"), shards[1]);
    const CliRun foreign = cli("inspect " + shards[2]);
    EXPECT_EQ(foreign.code, 2);
    EXPECT_NE(foreign.err.find(shards[1]), std::string::npos) << foreign.err;
    // Two split options at once, and a size gguf-split would not take.
    EXPECT_EQ(
        cli("quantize " + kStories + " --dry-run --split-max-size 1M --split-max-tensors 3").code,
        2);
    EXPECT_EQ(cli("quantize " + kStories + " --dry-run --split-max-size 1M --keep-split").code, 2);
    const CliRun k = cli("quantize " + kStories + " --dry-run --split-max-size 12K");
    EXPECT_EQ(k.code, 2);
    EXPECT_NE(k.err.find("12K"), std::string::npos);
}

}  // namespace
