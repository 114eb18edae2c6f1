// The workflow API (core/workflow): a request becomes a plan, every rule is checked once with an
// error naming the tensor, the imatrix of the request decides llama.cpp's imatrix-aware mixes,
// backend specs parse the same way for the CLI and the explorer, and the preset list is
// llama.cpp's.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/model.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "test_util.h"
#include "workflow/format.h"
#include "workflow/presets.h"
#include "workflow/progress.h"
#include "workflow/request.h"
#include "workflow/run.h"

using namespace qs;
using formats::TensorType;
using quant::Ftype;

namespace {

model::Model openOrDie(const std::string& path) {
    auto m = model::openModel(path);
    EXPECT_TRUE(m.ok()) << (m ? "" : m.error().what());
    return std::move(m).value();
}

// A synthetic model of llama's shapes (header only: the plans depend on shapes, not values).
model::Model synthModel(const test::TempDir& dir, synth::SynthPreset preset) {
    synth::SynthOptions so;
    so.preset = preset;
    so.zeroData = true;
    const std::string path = dir.file("synth.gguf");
    EXPECT_TRUE(synth::writeSynthModel(so, path).ok());
    return openOrDie(path);
}

std::vector<TensorType> typesOf(const quant::Plan& p) {
    std::vector<TensorType> out;
    for (const auto& c : p.tensors) out.push_back(c.type);
    return out;
}

}  // namespace

// The row length of stories260K (64) holds no 256-wide K-quant: a plan edited by hand to Q4_K
// there is refused, naming the file and the tensor, before any work.
TEST(Workflow, RowLengthErrorNamesTheTensor) {
    const auto m = openOrDie(test::dataPath("models/stories260K.gguf"));
    workflow::Request r;
    r.model = &m;
    r.preset = Ftype::Q8_0;
    auto plan = workflow::buildPlan(r);
    ASSERT_TRUE(plan.ok()) << plan.error().what();
    const auto idx = m.indexOf("blk.1.ffn_down.weight");
    ASSERT_GE(idx, 0);
    plan->tensors[size_t(idx)].type = TensorType::Q4_K;
    auto v = workflow::validate(r, *plan, /*forWriting=*/true);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, ErrorCode::BadUsage);
    EXPECT_EQ(v.error().tensor, "blk.1.ffn_down.weight");
    EXPECT_EQ(v.error().file, m.path());
    EXPECT_NE(v.error().message.find("Q4_K cannot hold rows of"), std::string::npos)
        << v.error().what();
    EXPECT_NE(v.error().message.find("block size 256"), std::string::npos);
    // Also when only showing the plan: the file could never be written.
    EXPECT_FALSE(workflow::validate(r, *plan, /*forWriting=*/false).ok());
}

// --pure promises one type everywhere: where the rows cannot hold it, the error names the first
// such tensor (llama.cpp's order) and the type it would fall back to; without --pure the same
// preset falls back silently, as llama.cpp does.
TEST(Workflow, PureFallbackErrorNamesTheTensor) {
    const auto m = openOrDie(test::dataPath("models/stories260K.gguf"));
    workflow::Request r;
    r.model = &m;
    r.preset = Ftype::Q4_K_M;
    r.pure = true;
    auto v = workflow::makePlan(r, /*forWriting=*/true);
    ASSERT_FALSE(v.ok());
    EXPECT_FALSE(v.error().tensor.empty());
    EXPECT_NE(v.error().message.find("without --pure it would fall back to"), std::string::npos)
        << v.error().what();
    const auto order = quant::llamaTensorOrder(m);
    auto plan = workflow::buildPlan(r);
    ASSERT_TRUE(plan.ok());
    for (size_t i : order) {  // the first tensor that fell back is the one named
        if (plan->tensors[i].fellBack) {
            EXPECT_EQ(v.error().tensor, m.tensors()[i].name);
            break;
        }
    }
    r.pure = false;
    EXPECT_TRUE(workflow::makePlan(r, true).ok());
}

// Types llama.cpp refuses without an imatrix: refused for writing, naming the tensor; shown in
// a dry run; accepted with an imatrix.
TEST(Workflow, ImatrixTypesRefusedWithoutOne) {
    test::TempDir dir;
    const auto m = synthModel(dir, synth::SynthPreset::Tiny);
    workflow::Request r;
    r.model = &m;
    r.preset = Ftype::IQ2_XXS;
    auto v = workflow::makePlan(r, /*forWriting=*/true);
    ASSERT_FALSE(v.ok());
    EXPECT_FALSE(v.error().tensor.empty());
    EXPECT_NE(v.error().message.find("needs an importance matrix"), std::string::npos)
        << v.error().what();
    EXPECT_TRUE(workflow::makePlan(r, /*forWriting=*/false).ok());
    quant::Imatrix im;
    r.imatrix = &im;
    EXPECT_TRUE(workflow::makePlan(r, true).ok());
}

// The request's imatrix decides llama.cpp's imatrix-aware mixes (here Q4_0's first ffn_down
// layers get Q4_1 with an imatrix, as `quantize --imatrix` and llama.cpp do), for every path
// to a plan: the request, and presetPlan (the explorer's comparisons and charts).
TEST(Workflow, HasImatrixHonoured) {
    test::TempDir dir;
    const auto m = synthModel(dir, synth::SynthPreset::Small);  // 12 layers: n / 8 = 1
    quant::Imatrix im;
    for (Ftype f : {Ftype::Q4_0, Ftype::Q5_0, Ftype::IQ4_NL, Ftype::IQ4_XS}) {
        workflow::Request r;
        r.model = &m;
        r.preset = f;
        auto without = workflow::buildPlan(r);
        r.imatrix = &im;
        auto with = workflow::buildPlan(r);
        ASSERT_TRUE(without.ok() && with.ok());
        EXPECT_NE(typesOf(*without), typesOf(*with)) << quant::ftypeInfo(f).name;
        EXPECT_EQ(typesOf(*with), typesOf(workflow::presetPlan(m, f, &im)));
        EXPECT_EQ(typesOf(*without), typesOf(workflow::presetPlan(m, f, nullptr)));
    }
    workflow::Request r;
    r.model = &m;
    r.preset = Ftype::Q4_0;
    r.imatrix = &im;
    auto p = workflow::buildPlan(r);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->tensors[size_t(m.indexOf("blk.0.ffn_down.weight"))].type, TensorType::Q4_1);
    EXPECT_EQ(p->tensors[size_t(m.indexOf("blk.5.ffn_down.weight"))].type, TensorType::Q4_0);
}

// Re-quantizing a quantized file: refused as llama.cpp refuses it unless allowRequantize, and
// then said in the validated plan's warning.
TEST(Workflow, RequantizeNeedsAllow) {
    const auto m = openOrDie(test::dataPath("models/reference-quants/stories260K-Q8_0.gguf"));
    workflow::Request r;
    r.model = &m;
    r.preset = Ftype::Q4_0;
    auto refused = workflow::makePlan(r, true);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message.find("requantizing from type q8_0 is disabled"),
              std::string::npos)
        << refused.error().what();
    EXPECT_FALSE(refused.error().tensor.empty());
    EXPECT_TRUE(workflow::makePlan(r, /*forWriting=*/false).ok());  // a dry run shows it
    r.allowRequantize = true;
    auto allowed = workflow::makePlan(r, true);
    ASSERT_TRUE(allowed.ok()) << allowed.error().what();
    EXPECT_FALSE(allowed->requantizeWarning.empty());
}

// The request's sources exclude one another, names are checked with the option's name, and
// overrides name tensors that exist.
TEST(Workflow, RequestErrors) {
    const auto m = openOrDie(test::dataPath("models/stories260K.gguf"));
    workflow::Request r;
    r.model = &m;
    r.presetName = "Q9_X";
    auto bad = workflow::buildPlan(r);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("unknown --type 'Q9_X'"), std::string::npos);
    r.presetName = "q4_k";  // llama-quantize's alias of Q4_K_M, any case
    auto alias = workflow::buildPlan(r);
    ASSERT_TRUE(alias.ok());
    EXPECT_EQ(alias->ftype, Ftype::Q4_K_M);

    r.recipePath = "whatever.json";
    auto both = workflow::buildPlan(r);
    ASSERT_FALSE(both.ok());
    EXPECT_NE(both.error().message.find("--recipe cannot be combined"), std::string::npos);

    workflow::Request o;
    o.model = &m;
    o.overrides.push_back({"blk.0.nope.weight", TensorType::Q8_0, false});
    auto missing = workflow::buildPlan(o);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().tensor, "blk.0.nope.weight");
    o.overrides = {{"blk.0.attn_q.weight", TensorType::Q4_0, true}};
    auto set = workflow::buildPlan(o);
    ASSERT_TRUE(set.ok());
    const auto& c = set->tensors[size_t(m.indexOf("blk.0.attn_q.weight"))];
    EXPECT_EQ(c.type, TensorType::Q4_0);
    EXPECT_EQ(c.origin, quant::Origin::Manual);
    EXPECT_TRUE(c.locked);

    workflow::Request rules;
    rules.model = &m;
    rules.ruleTexts = {"attn_v=q8_0", "=q4_0"};
    auto badRule = workflow::buildPlan(rules);
    ASSERT_FALSE(badRule.ok());
    EXPECT_FALSE(workflow::parseWritableType("q9", "--output-tensor-type").ok());
    EXPECT_EQ(*workflow::parseWritableType("q6_k", "--output-tensor-type"), TensorType::Q6_K);
}

// One parser for `--backend` and the explorer's setting: "vulkan:x" is an error everywhere.
TEST(Workflow, BackendSpecParsing) {
    using Kind = workflow::BackendSpec::Kind;
    auto cpu = workflow::parseBackendSpec("cpu");
    ASSERT_TRUE(cpu.ok());
    EXPECT_TRUE(cpu->isCpu());
    EXPECT_EQ(cpu->text(), "cpu");
    auto vk = workflow::parseBackendSpec("vulkan");
    ASSERT_TRUE(vk.ok());
    EXPECT_EQ(vk->kind, Kind::Vulkan);
    EXPECT_FALSE(vk->device.has_value());
    EXPECT_EQ(vk->text(), "vulkan");
    auto vk2 = workflow::parseBackendSpec("vulkan:2");
    ASSERT_TRUE(vk2.ok());
    EXPECT_EQ(vk2->device, 2);
    EXPECT_EQ(vk2->text(), "vulkan:2");
    for (const char* bad : {"vulkan:x", "vulkan:", "vulkan:-1", "vulkan:1x", "vulkan: 1"}) {
        auto r = workflow::parseBackendSpec(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, ErrorCode::BadUsage);
        EXPECT_NE(r.error().message.find("needs a device index"), std::string::npos) << bad;
    }
    for (const char* bad : {"", "gpu", "cuda", "CPU", "vulkan1"}) {
        auto r = workflow::parseBackendSpec(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message.find("must be cpu or vulkan"), std::string::npos) << bad;
    }
}

// The one preset list is llama.cpp's: tools/quantize/quantize.cpp QUANT_OPTIONS of the
// llama.cpp the tests run against (node-llama-cpp 3.22.1), in its order, without the aliases
// Q3_K / Q4_K / Q5_K and COPY; every name parses back to its preset.
TEST(Workflow, PresetListEqualsLlamaCpp) {
    const std::vector<std::string> llama = {
        "Q1_0",    "Q2_0",   "Q4_0",   "Q4_1",    "MXFP4_MOE", "Q5_0",   "Q5_1",
        "IQ2_XXS", "IQ2_XS", "IQ2_S",  "IQ2_M",   "IQ1_S",     "IQ1_M",  "TQ1_0",
        "TQ2_0",   "Q2_K",   "Q2_K_S", "IQ3_XXS", "IQ3_S",     "IQ3_M",  "IQ3_XS",
        "Q3_K_S",  "Q3_K_M", "Q3_K_L", "IQ4_NL",  "IQ4_XS",    "Q4_K_S", "Q4_K_M",
        "Q5_K_S",  "Q5_K_M", "Q6_K",   "Q8_0",    "F16",       "BF16",   "F32"};
    EXPECT_EQ(workflow::presetNames(), llama);
    for (const auto& name : llama) {
        auto f = workflow::parsePreset(name);
        ASSERT_TRUE(f.ok()) << name;
        EXPECT_EQ(quant::ftypeInfo(*f).name, name);
    }
    EXPECT_EQ(workflow::presetNameList().substr(0, 16), "Q1_0, Q2_0, Q4_0");
    // llama-quantize's TYPE list is the same list with its aliases and COPY.
    std::vector<std::string> canonical;
    for (const auto& t : workflow::llamaQuantizeTypeNames()) {
        const std::string name = t.name;
        if (name == "COPY") continue;
        auto f = workflow::parsePreset(name);
        ASSERT_TRUE(f.ok()) << name;
        EXPECT_EQ(uint32_t(*f), t.id) << name;
        if (quant::ftypeInfo(*f).name == name) canonical.push_back(name);
    }
    EXPECT_EQ(canonical, llama);
    EXPECT_EQ(workflow::budgetChartPresets().size(), 10u);
    EXPECT_EQ(workflow::comparedPresets().front(), Ftype::Q2_K);
}

TEST(Workflow, FormatBytes) {
    using workflow::BytePrecision;
    EXPECT_EQ(workflow::formatBytes(0), "0 B");
    EXPECT_EQ(workflow::formatBytes(1023), "1023 B");
    EXPECT_EQ(workflow::formatBytes(1536), "1.50 KiB");
    EXPECT_EQ(workflow::formatBytes(311398), "304.10 KiB");
    EXPECT_EQ(workflow::formatBytes(311398, BytePrecision::Significant), "304.1 KiB");
    EXPECT_EQ(workflow::formatBytes(3ull << 30, BytePrecision::Significant), "3.00 GiB");
    EXPECT_EQ(workflow::formatBytes(5ull << 50), "5.00 PiB");
}

// The validated plan's predicted size is the export's size, byte for byte, and the export
// writes the writers it was predicted with.
TEST(Workflow, PredictedSizeIsTheExportedSize) {
    test::TempDir dir;
    const auto m = openOrDie(test::dataPath("models/stories260K.gguf"));
    workflow::Request r;
    r.model = &m;
    r.preset = Ftype::Q4_0;
    r.threads = 2;
    auto v = workflow::makePlan(r, true);
    ASSERT_TRUE(v.ok()) << v.error().what();
    auto predicted = workflow::predictedFileBytes(*v);
    ASSERT_TRUE(predicted.ok());
    const std::string out = dir.file("out.gguf");
    auto prepared = workflow::prepareExport(*v, {}, out);
    ASSERT_TRUE(prepared.ok());
    EXPECT_EQ(prepared->fileBytes(), *predicted);
    ASSERT_EQ(prepared->predictions().size(), 1u);
    auto summary = workflow::exportPlan(*v, std::move(*prepared), {});
    ASSERT_TRUE(summary.ok()) << summary.error().what();
    EXPECT_EQ(summary->fileBytes, *predicted);
    EXPECT_EQ(std::filesystem::file_size(out), *predicted);
    // Not for a plan validated for showing only.
    auto shown = workflow::makePlan(r, false);
    ASSERT_TRUE(shown.ok());
    EXPECT_FALSE(workflow::exportPlan(*shown, dir.file("no.gguf"), {}, {}).ok());
    EXPECT_FALSE(std::filesystem::exists(dir.file("no.gguf")));
    // Not a terminal: no progress line.
    EXPECT_FALSE(workflow::terminalProgress("x ", false));
}
