// quantscope-cli quantize / stats end to end on real files: llama.cpp's own quantized files of
// stories260K reproduced byte for byte, exact sizes, determinism, and bad input refused.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <cmath>
#include <cstdlib>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "model/model.h"

namespace {

using qs::test::cli;
using qs::test::CliRun;

const std::string kStories = qs::test::dataPath("models/stories260K.gguf");

// llama.cpp's own Q8_0 and Q4_0 of stories260K: our files are byte-identical.
TEST(CliQuantize, ReproducesLlamaCppReferenceQuantsByteForByte) {
    qs::test::TempDir dir;
    for (const char* type : {"Q8_0", "Q4_0"}) {
        const std::string out = dir.file(std::string("s-") + type + ".gguf");
        const CliRun r = cli("quantize " + kStories + " -o " + out + " --type " + type + " -q");
        ASSERT_EQ(r.code, 0) << r.err;
        const auto ours = qs::test::readFile(out);
        const auto ref = qs::test::readFile(qs::test::dataPath(
            std::string("models/reference-quants/stories260K-") + type + ".gguf"));
        EXPECT_EQ(ours.size(), ref.size()) << type;
        EXPECT_TRUE(ours == ref) << type << ": not byte-identical to llama.cpp's file";
    }
}

TEST(CliQuantize, DryRunSizeIsTheWrittenSizeToTheByte) {
    qs::test::TempDir dir;
    for (const char* type : {"Q4_K_M", "Q8_0", "F16", "Q5_1"}) {
        const CliRun dry = cli("quantize " + kStories + " --type " + type + " --dry-run --json");
        ASSERT_EQ(dry.code, 0) << dry.err;
        const auto j = nlohmann::json::parse(dry.out);
        const std::string out = dir.file(std::string("d-") + type + ".gguf");
        EXPECT_FALSE(std::filesystem::exists(out));
        const CliRun r = cli("quantize " + kStories + " -o " + out + " --type " + type + " --json");
        ASSERT_EQ(r.code, 0) << r.err;
        const auto w = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["file_bytes"].get<uint64_t>(), std::filesystem::file_size(out)) << type;
        EXPECT_EQ(w["file_bytes"], w["predicted_file_bytes"]);
        ASSERT_EQ(j["tensors"].size(), w["tensors"].size());
        for (size_t i = 0; i < j["tensors"].size(); ++i) {
            EXPECT_EQ(j["tensors"][i]["type"], w["tensors"][i]["type"]);
            EXPECT_EQ(j["tensors"][i]["bytes"], w["tensors"][i]["bytes"]);
        }
    }
}

TEST(CliQuantize, ThreadCountNeverChangesTheBytes) {
    qs::test::TempDir dir;
    const std::string synth = dir.file("tiny.gguf");
    ASSERT_EQ(cli("synth -o " + synth + " --preset tiny").code, 0);
    for (const char* type : {"Q4_K_M", "Q3_K_M", "IQ4_XS", "Q2_K"}) {
        const std::string a = dir.file(std::string("a-") + type + ".gguf");
        const std::string b = dir.file(std::string("b-") + type + ".gguf");
        ASSERT_EQ(
            cli("quantize " + synth + " -o " + a + " --type " + type + " --threads 1 -q").code, 0);
        ASSERT_EQ(
            cli("quantize " + synth + " -o " + b + " --type " + type + " --threads 2 -q").code, 0);
        EXPECT_TRUE(qs::test::readFile(a) == qs::test::readFile(b)) << type;
    }
}

TEST(CliQuantize, BadInputIsAClearErrorAndNothingIsWritten) {
    qs::test::TempDir dir;
    const std::string out = dir.file("out.gguf");
    struct Case {
        std::string args;
        int code;
        const char* needle;
    } cases[] = {
        {"--type Q9_K", 2, "unknown --type 'Q9_K'"},
        {"--type Q4_0 --tensor-type attn_v", 2, "REGEX=TYPE"},
        {"--type Q4_0 --tensor-type 'attn_(v=q8_0'", 2, "invalid regex"},
        {"--type Q4_0 --tensor-type attn_v=q9_0", 2, "unknown type 'q9_0'"},
        {"--type Q4_K_M --pure", 2, "cannot hold rows of"},  // rows of 64 cannot hold Q4_K
        {"--type Q4_0 --output-tensor-type q4_k", 2, "cannot hold rows of"},
    };
    for (const auto& c : cases) {
        std::filesystem::remove(out);
        const CliRun r = cli("quantize " + kStories + " -o " + out + " " + c.args);
        EXPECT_EQ(r.code, c.code) << c.args << ": " << r.err;
        EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.args << ": " << r.err;
        EXPECT_FALSE(std::filesystem::exists(out)) << c.args;
    }
    // IQ2_XXS needs an imatrix, as in llama.cpp (on a model whose rows can hold it).
    const std::string tiny = dir.file("tiny.gguf");
    ASSERT_EQ(cli("synth -o " + tiny + " --preset tiny").code, 0);
    const CliRun iq = cli("quantize " + tiny + " -o " + out + " --type IQ2_XXS");
    EXPECT_EQ(iq.code, 2) << iq.err;
    EXPECT_NE(iq.err.find("needs an importance matrix"), std::string::npos) << iq.err;
    EXPECT_NE(iq.err.find("blk.0."), std::string::npos) << iq.err;     // names the tensor
    EXPECT_NE(iq.err.find("--imatrix"), std::string::npos) << iq.err;  // and the fix
    EXPECT_FALSE(std::filesystem::exists(out));
    // With one it writes the file, labelled as llama.cpp labels IQ2_XXS (ftype 19); the
    // numeric ftype works too (41 = Q2_0).
    const std::string tinyIm = dir.file("tiny-imatrix.gguf");
    ASSERT_EQ(cli("synth -o " + tiny + " --preset tiny --imatrix " + tinyIm).code, 0);
    const CliRun iqOk =
        cli("quantize " + tiny + " -o " + out + " --type IQ2_XXS --imatrix " + tinyIm + " --json");
    EXPECT_EQ(iqOk.code, 0) << iqOk.err;
    EXPECT_NE(iqOk.out.find("\"IQ2_XXS\""), std::string::npos);
    std::filesystem::remove(out);
    const CliRun q2 = cli("quantize " + tiny + " -o " + out + " --type 41 --json");
    EXPECT_EQ(q2.code, 0) << q2.err;
    EXPECT_NE(q2.out.find("\"Q2_0\""), std::string::npos);
    std::filesystem::remove(out);
    // The output path is the input: refused, the input untouched.
    const std::string copy = dir.file("in.gguf");
    std::filesystem::copy_file(kStories, copy);
    const auto before = qs::test::readFile(copy);
    const CliRun same = cli("quantize " + copy + " -o " + copy + " --type Q8_0");
    EXPECT_EQ(same.code, 2) << same.err;
    EXPECT_NE(same.err.find("output path is the input"), std::string::npos) << same.err;
    EXPECT_TRUE(qs::test::readFile(copy) == before);
    // An imatrix for another model.
    const std::string im = dir.file("foreign.dat");
    {
        std::ofstream f(im, std::ios::binary);
        const int32_t n = 1, len = 12, ncall = 1, nval = 4096;
        f.write(reinterpret_cast<const char*>(&n), 4);
        f.write(reinterpret_cast<const char*>(&len), 4);
        f.write("blk.0.attn_q", 12);
        f.write(reinterpret_cast<const char*>(&ncall), 4);
        f.write(reinterpret_cast<const char*>(&nval), 4);
        std::vector<float> v(4096, 1.0f);
        f.write(reinterpret_cast<const char*>(v.data()), 4096 * 4);
    }
    const CliRun foreign =
        cli("quantize " + kStories + " -o " + out + " --type Q4_0 --imatrix " + im);
    EXPECT_EQ(foreign.code, 2) << foreign.err;
    EXPECT_NE(foreign.err.find("another model"), std::string::npos) << foreign.err;
    // A directory we cannot write into.
    const CliRun ro = cli("quantize " + kStories + " -o /proc/qs-cannot-write.gguf --type Q8_0");
    EXPECT_EQ(ro.code, 1) << ro.err;
    EXPECT_NE(ro.err.find("/proc/qs-cannot-write.gguf"), std::string::npos) << ro.err;
    EXPECT_FALSE(std::filesystem::exists(out));
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
}

// A full disk: a 64 KiB tmpfs cannot hold the 379 KB output. The export is refused before
// writing; with --no-space-check the write fails with a clear error (exit 1); either way
// nothing is left on the small file system.
TEST(CliQuantize, FullDiskFailsCleanly) {
    qs::test::TempDir dir;
    const std::string mnt = dir.file("small");
    std::filesystem::create_directories(mnt);
    if (std::system(("mount -t tmpfs -o size=64k tmpfs " + mnt + " 2>/dev/null").c_str()) != 0) {
        GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): full-disk case not run";
    }
    // Refused before writing, with both sizes (issue 21) ...
    const CliRun early = cli("quantize " + kStories + " -o " + mnt + "/out.gguf --type Q8_0");
    EXPECT_EQ(early.code, 1) << early.err;
    EXPECT_NE(early.err.find("needs 379168 bytes"), std::string::npos) << early.err;
    EXPECT_NE(early.err.find("has 65536 bytes"), std::string::npos) << early.err;
    EXPECT_TRUE(std::filesystem::is_empty(mnt));
    // ... and with the check off, the disk fills up mid-way.
    const CliRun r =
        cli("quantize " + kStories + " -o " + mnt + "/out.gguf --type Q8_0 --no-space-check");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find(mnt + "/out.gguf"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("No space left"), std::string::npos) << r.err;
    EXPECT_TRUE(std::filesystem::is_empty(mnt));
    EXPECT_EQ(std::system(("umount " + mnt).c_str()), 0);
}

// --backend vulkan: the GPU decodes and encodes what it covers, the CPU the rest; the file is
// the CPU's byte for byte. Without a Vulkan device the CLI says so and uses the CPU.
TEST(CliQuantize, VulkanBackendWritesTheSameBytes) {
    qs::test::TempDir dir;
    const std::string synth = dir.file("tiny.gguf");
    ASSERT_EQ(cli("synth -o " + synth + " --preset tiny").code, 0);
    for (const char* type : {"Q8_0", "Q4_0", "Q5_1", "F16", "Q4_K_M"}) {
        const std::string a = dir.file(std::string("cpu-") + type + ".gguf");
        const std::string b = dir.file(std::string("vk-") + type + ".gguf");
        ASSERT_EQ(cli("quantize " + synth + " -o " + a + " --type " + type + " -q").code, 0);
        const CliRun r =
            cli("quantize " + synth + " -o " + b + " --type " + type + " -q --backend vulkan");
        ASSERT_EQ(r.code, 0) << r.err;
        const bool builtWithVulkan = r.err.find("this build has no Vulkan") == std::string::npos;
        if (builtWithVulkan &&
            std::filesystem::exists("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")) {
            EXPECT_NE(r.err.find("backend: vulkan"), std::string::npos) << r.err;
        }
        EXPECT_TRUE(qs::test::readFile(a) == qs::test::readFile(b)) << type;
    }
    const CliRun bad = cli("quantize " + synth + " -o " + dir.file("x.gguf") + " --backend cuda");
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("--backend must be cpu or vulkan"), std::string::npos) << bad.err;
}

// A device index that is not a number is a usage error in every build (core's backend-spec
// parser, the same one the explorer uses), for quantize and stats alike; nothing is written.
TEST(CliQuantize, BackendWithBadDeviceIndexIsAUsageError) {
    qs::test::TempDir dir;
    const std::string synth = dir.file("tiny.gguf");
    ASSERT_EQ(cli("synth -o " + synth + " --preset tiny").code, 0);
    for (const char* spec : {"vulkan:x", "vulkan:", "vulkan:-1", "vulkan:1x"}) {
        const std::string out = dir.file("x.gguf");
        const CliRun q = cli("quantize " + synth + " -o " + out + " --backend " + spec);
        EXPECT_EQ(q.code, 2) << spec << ": " << q.err;
        EXPECT_NE(q.err.find("--backend vulkan:N needs a device index"), std::string::npos)
            << q.err;
        EXPECT_FALSE(std::filesystem::exists(out)) << spec;
        const CliRun s = cli("stats " + synth + " --tensor token_embd.weight --backend " + spec);
        EXPECT_EQ(s.code, 2) << spec << ": " << s.err;
    }
}

// The grid i-quants' searches run on the CPU beside the Vulkan backend: the file is the CPU's,
// and the JSON says per tensor which engine encoded it (TQ1_0 and the K-quants on the device,
// IQ2_XXS on the CPU), the text output sums it up.
TEST(CliQuantize, VulkanBackendSaysWhichEngineEncodedWhat) {
    qs::test::TempDir dir;
    const std::string synth = dir.file("tiny.gguf"), im = dir.file("tiny-imatrix.gguf");
    ASSERT_EQ(cli("synth -o " + synth + " --preset tiny --imatrix " + im).code, 0);
    for (const char* type : {"IQ2_XXS", "TQ1_0"}) {
        SCOPED_TRACE(type);
        const std::string a = dir.file(std::string("cpu-") + type + ".gguf");
        const std::string b = dir.file(std::string("vk-") + type + ".gguf");
        const std::string args = " --type " + std::string(type) + " --imatrix " + im;
        const CliRun c = cli("quantize " + synth + " -o " + a + args + " --json");
        ASSERT_EQ(c.code, 0) << c.err;
        const CliRun g = cli("quantize " + synth + " -o " + b + args + " --json --backend vulkan");
        ASSERT_EQ(g.code, 0) << g.err;
        EXPECT_TRUE(qs::test::readFile(a) == qs::test::readFile(b));
        const auto jc = nlohmann::json::parse(c.out), jg = nlohmann::json::parse(g.out);
        EXPECT_EQ(jc["backend"], "cpu");
        for (const auto& t : jc["tensors"]) {
            EXPECT_TRUE(t["encoder"] == "cpu" || t["encoder"] == "none") << t.dump();
        }
        const bool vulkan = g.err.find("this build has no Vulkan") == std::string::npos &&
                            std::filesystem::exists("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json");
        if (!vulkan) {
            std::printf("no Vulkan build or no lavapipe: only the CPU's bytes checked\n");
            continue;
        }
        EXPECT_NE(jg["backend"].get<std::string>().find("vulkan"), std::string::npos);
        int onDevice = 0, onCpu = 0;
        for (const auto& t : jg["tensors"]) {
            const std::string ty = t["type"], enc = t["encoder"];
            if (t["copied"].get<bool>()) continue;
            if (ty == "IQ2_XXS" || ty == "IQ2_XS" || ty == "IQ1_S") {
                EXPECT_EQ(enc, "cpu") << t.dump();
                ++onCpu;
            } else {
                EXPECT_EQ(enc, "backend") << t.dump();
                ++onDevice;
            }
        }
        EXPECT_GT(onDevice, 0);
        if (std::string(type) == "IQ2_XXS") EXPECT_GT(onCpu, 0);
        const CliRun text = cli("quantize " + synth + " -o " + b + args + " --backend vulkan");
        ASSERT_EQ(text.code, 0) << text.err;
        EXPECT_NE(text.out.find("encoded on vulkan"), std::string::npos) << text.out;
        if (std::string(type) == "IQ2_XXS") {
            EXPECT_NE(text.out.find("on the CPU: "), std::string::npos) << text.out;
            EXPECT_NE(text.out.find("IQ2_XXS"), std::string::npos) << text.out;
        }
    }
}

// stats --backend vulkan: the histograms come from the GPU reduction with the CPU's counts, and
// the metrics agree (to 1e-6 relative; the GPU sums in its own order).
TEST(CliStats, VulkanBackendGivesTheSameHistograms) {
    const std::string args =
        "stats " + kStories + " --tensor blk.0.attn_q.weight --type Q4_0 --bins 64 --json";
    const CliRun c = cli(args);
    ::setenv("QS_VULKAN_REDUCTIONS", "1", 1);  // use them on lavapipe too (off there by default)
    const CliRun g = cli(args + " --backend vulkan");
    ::unsetenv("QS_VULKAN_REDUCTIONS");
    ASSERT_EQ(c.code, 0) << c.err;
    ASSERT_EQ(g.code, 0) << g.err;
    const auto jc = nlohmann::json::parse(c.out), jg = nlohmann::json::parse(g.out);
    for (const char* h : {"histogram", "decoded_histogram", "error_histogram"}) {
        if (!jc.contains(h)) continue;
        EXPECT_EQ(jc[h], jg[h]) << h;
    }
    const double a = jc["metrics"]["rmse"].get<double>(), b = jg["metrics"]["rmse"].get<double>();
    EXPECT_LE(std::fabs(a - b), 1e-6 * std::fabs(a));
}

TEST(CliStats, HistogramAndErrorOfOneTensor) {
    const CliRun r =
        cli("stats " + kStories + " --tensor blk.0.attn_q.weight --type Q4_0 --bins 16 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["schema"], "quantscope.stats/1");
    uint64_t total = 0;
    for (auto c : j["histogram"]["counts"]) total += c.get<uint64_t>();
    EXPECT_EQ(total, 4096u);
    EXPECT_GT(j["metrics"]["snr_db"].get<double>(), 10.0);
    EXPECT_LT(j["metrics"]["nmse"].get<double>(), 0.1);
    EXPECT_EQ(j["bytes"], 4096 / 32 * 18);
    const CliRun missing = cli("stats " + kStories + " --tensor nope");
    EXPECT_EQ(missing.code, 2);
    EXPECT_NE(missing.err.find("nope"), std::string::npos);
}

}  // namespace

namespace {

double statsRmse(const std::string& model, const std::string& tensor, const char* type,
                 const char* quantizer) {
    const CliRun r = cli("stats " + model + " --tensor " + tensor + " --type " + type +
                         " --quantizer " + quantizer + " --json");
    EXPECT_EQ(r.code, 0) << r.err;
    if (r.code != 0) return NAN;
    return nlohmann::json::parse(r.out)["metrics"]["rmse"].get<double>();
}

}  // namespace

// --quantizer best: the same tensor types and sizes as ggml's plan (llama.cpp reads the same
// layout), other bytes, the choice recorded in the file, and a lower error in `stats`.
TEST(CliQuantize, BestQuantizerSameLayoutLowerError) {
    qs::test::TempDir dir;
    const std::string synth = dir.file("tiny.gguf");
    ASSERT_EQ(cli("synth -o " + synth + " --preset tiny").code, 0);
    const std::string g = dir.file("g.gguf"), b = dir.file("b.gguf");
    // stories260K's 64-wide rows take the legacy fallbacks (Q5_0, Q8_0): quick to search.
    ASSERT_EQ(cli("quantize " + kStories + " -o " + g + " --type Q4_K_M -q").code, 0);
    const CliRun rb =
        cli("quantize " + kStories + " -o " + b + " --type Q4_K_M --quantizer best -q");
    ASSERT_EQ(rb.code, 0) << rb.err;
    auto mg = qs::model::openModel(g);
    auto mb = qs::model::openModel(b);
    ASSERT_TRUE(mg.ok() && mb.ok());
    ASSERT_EQ(mg->tensors().size(), mb->tensors().size());
    bool anyDifferent = false;
    for (size_t i = 0; i < mg->tensors().size(); ++i) {
        const auto& tg = mg->tensors()[i];
        const auto& tb = mb->tensors()[i];
        EXPECT_EQ(tg.name, tb.name);
        EXPECT_EQ(tg.type, tb.type) << tg.name;
        EXPECT_EQ(tg.nbytes, tb.nbytes) << tg.name;
        const auto dg = mg->tensorData(tg), db = mb->tensorData(tb);
        anyDifferent |= !std::equal(dg.begin(), dg.end(), db.begin(), db.end());
    }
    EXPECT_TRUE(anyDifferent);
    const auto* key = mb->find("quantize.quantizer");
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(key->str(), "best");
    EXPECT_EQ(mg->find("quantize.quantizer"), nullptr);  // ggml's files stay llama.cpp's
    for (const char* type : {"Q4_K", "Q6_K", "IQ4_XS", "Q4_0"}) {
        const double eg = statsRmse(synth, "blk.0.ffn_down.weight", type, "ggml");
        const double eb = statsRmse(synth, "blk.0.ffn_down.weight", type, "best");
        EXPECT_LT(eb, eg) << type;
    }
    EXPECT_EQ(cli("quantize " + synth + " -o " + b + " --quantizer fastest").code, 2);
}
