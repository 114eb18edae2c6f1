// quantscope-cli end to end: the real binary on real files, checking output and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "io/gguf_reader.h"
#include "model/model.h"

namespace {

using qs::test::cli;
using qs::test::CliRun;

const std::string kStories = qs::test::dataPath("models/stories260K.gguf");

TEST(CliInspect, PrintsRealModelTable) {
    const CliRun r = cli("inspect " + kStories);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("GGUF v3"), std::string::npos);
    EXPECT_NE(r.out.find("architecture:  llama"), std::string::npos);
    EXPECT_NE(r.out.find("blk.4.ffn_down.weight"), std::string::npos);
    EXPECT_NE(r.out.find("total: 48 tensors, 292800 parameters, 1171200 bytes"), std::string::npos)
        << r.out;
}

TEST(CliInspect, JsonMatchesTheSchemaAndTheReader) {
    const CliRun r = cli("inspect --json " +
                         qs::test::dataPath("models/reference-quants/stories260K-Q4_0.gguf"));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["schema"], "quantscope.inspect/1");
    EXPECT_EQ(j["format"], "gguf");
    EXPECT_EQ(j["version"], 3);
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(j["hparams"]["block_count"], 5);
    auto m =
        qs::model::openModel(qs::test::dataPath("models/reference-quants/stories260K-Q4_0.gguf"));
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(j["tensors"].size(), m->tensors().size());
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        const auto& t = m->tensors()[i];
        const auto& jt = j["tensors"][i];
        EXPECT_EQ(jt["name"], t.name);
        EXPECT_EQ(jt["type"], std::string(qs::formats::typeName(t.type)));
        EXPECT_EQ(jt["bytes"], t.nbytes);
        EXPECT_EQ(jt["offset"], t.offset);
        EXPECT_EQ(jt["layer"], t.layer);
        EXPECT_EQ(jt["shape"].get<std::vector<int64_t>>(), t.shape);
        bytes += t.nbytes;
    }
    EXPECT_EQ(j["totals"]["bytes"], bytes);
    EXPECT_EQ(j["types"]["Q4_0"]["tensors"], 31);  // token_embd + 5 x (q, k, v, o, gate, up)
    // Metadata arrays are truncated to 64 items unless --full.
    bool sawTokens = false;
    for (const auto& kv : j["metadata"]) {
        if (kv["key"] == "tokenizer.ggml.tokens") {
            sawTokens = true;
            EXPECT_EQ(kv["length"], 512);
            EXPECT_EQ(kv["truncated"], true);
            EXPECT_EQ(kv["value"].size(), 64u);
        }
    }
    EXPECT_TRUE(sawTokens);
}

TEST(CliSynth, WritesTinyModelThatInspectReads) {
    qs::test::TempDir dir;
    const std::string out = dir.file("tiny.gguf");
    const CliRun s = cli("synth -o " + out + " --preset tiny --seed 3");
    ASSERT_EQ(s.code, 0) << s.err;
    const CliRun r = cli("inspect --json " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(j["types"]["F16"]["tensors"], 2 + 7 * 4);  // token_embd, output, 7 per layer
    EXPECT_EQ(j["types"]["F32"]["tensors"], 1 + 2 * 4);  // output_norm, 2 norms per layer
    EXPECT_EQ(j["totals"]["bytes"].get<uint64_t>() + j["data_offset"].get<uint64_t>() <=
                  std::filesystem::file_size(out),
              true);
}

struct BadInput {
    const char* name;
    std::string content;
    const char* needle;
};

TEST(CliInspect, BadInputGivesExitCode2AndNamesTheFile) {
    qs::test::TempDir dir;
    auto real = qs::test::readFile(kStories);
    std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
        {"truncated.gguf", std::vector<uint8_t>(real.begin(), real.begin() + 20000)},
        {"magic.gguf", std::vector<uint8_t>{'G', 'G', 'U', 'X', 3, 0, 0, 0}},
        {"empty.gguf", {}},
        {"bad.safetensors", std::vector<uint8_t>{5, 0, 0, 0, 0, 0, 0, 0, '{', 'x', 'x', '}', ' '}},
    };
    for (const auto& [name, bytes] : files) {
        const std::string path = dir.file(name);
        qs::test::writeFile(path, bytes);
        const CliRun r = cli("inspect " + path);
        EXPECT_EQ(r.code, 2) << name << ": " << r.err;
        EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << name;
    }
    const CliRun missing = cli("inspect " + dir.file("nope.gguf"));
    EXPECT_NE(missing.code, 0);
    const CliRun usage = cli("inspect");
    EXPECT_EQ(usage.code, 2);
    const CliRun unknown = cli("frobnicate");
    EXPECT_EQ(unknown.code, 2);
}

TEST(CliDevices, ListsOrExplains) {
    const CliRun r = cli("devices --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["schema"], "quantscope.devices/1");
    if (!QS_CLI_HAS_VULKAN) {
        // Without Vulkan the command still succeeds and says why the list is empty.
        EXPECT_TRUE(j["devices"].empty());
        EXPECT_EQ(j.value("error", ""), "built without Vulkan");
        return;
    }
    if (!std::filesystem::exists("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")) {
        GTEST_SKIP() << "Mesa's lavapipe (mesa-vulkan-drivers) is not installed";
    }
    // With lavapipe installed a Vulkan build must list it, with no error.
    EXPECT_FALSE(j.contains("error")) << j["error"];
    bool lavapipe = false;
    for (const auto& d : j["devices"]) lavapipe |= d.value("driver", "") == "llvmpipe";
    EXPECT_TRUE(lavapipe) << r.out;
}

// What runs the CPU engine's loops: TSan builds define QS_PARALLEL_STD_THREADS for every target.
#ifdef QS_PARALLEL_STD_THREADS
constexpr const char* kCpuRuntime = "std::thread";
#else
constexpr const char* kCpuRuntime = "oneTBB";
#endif

TEST(CliVersion, PrintsVersionAndBackends) {
    const CliRun r = cli("--version");
    EXPECT_EQ(r.code, 0);
    // The backends compiled into this build: the CPU engine on oneTBB, and Vulkan when built.
    const std::string expected = std::string("quantscope-cli " QS_VERSION " (backends: cpu/") +
                                 kCpuRuntime + (QS_CLI_HAS_VULKAN ? ", vulkan" : "") + ")\n";
    EXPECT_EQ(r.out, expected);
    EXPECT_TRUE(r.err.empty()) << r.err;
}

}  // namespace
