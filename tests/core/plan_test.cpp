// Plans: llama.cpp's mixing rules, rules, overrides and fallbacks, checked against what
// llama.cpp itself assigned (tests/data/presets) and against llama.cpp's own quantized files.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "model/model.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;
using formats::TensorType;

namespace {

// One preset section of PRESETS-22layer.md: role -> per-layer type name, and the size in MiB.
struct PresetTable {
    std::string name;
    double mib = 0;
    std::map<std::string, std::vector<std::string>> perLayer;  // role -> 22 types
    std::map<std::string, std::string> global;                 // token_embd / output -> type
};

std::vector<int> parseLayers(const std::string& spec) {  // "L2-3,5-6,8"
    std::vector<int> out;
    std::stringstream ss(spec.substr(1));
    std::string part;
    while (std::getline(ss, part, ',')) {
        const auto dash = part.find('-');
        const int a = std::stoi(part.substr(0, dash));
        const int b = dash == std::string::npos ? a : std::stoi(part.substr(dash + 1));
        for (int i = a; i <= b; ++i) out.push_back(i);
    }
    return out;
}

std::vector<PresetTable> loadPresetTables() {
    std::ifstream f(test::dataPath("presets/PRESETS-22layer.md"));
    std::vector<PresetTable> out;
    std::string line;
    const std::regex header(R"(^### (\S+)\s+\(quant size\s+=\s+([0-9.]+) MiB)");
    const std::regex row(R"(^\| (\w+) \| (.+) \|$)");
    const std::regex part(R"((\w+) \[(L[0-9,\-]+)\])");
    while (std::getline(f, line)) {
        std::smatch m;
        if (std::regex_search(line, m, header)) {
            out.push_back({m[1], std::stod(m[2]), {}, {}});
        } else if (!out.empty() && std::regex_match(line, m, row) && m[1] != "tensor") {
            const std::string role = m[1], spec = m[2];
            if (spec.find('[') == std::string::npos) {
                out.back().global[role] = spec;
                continue;
            }
            auto& layers = out.back().perLayer[role];
            layers.assign(22, "");
            for (std::sregex_iterator it(spec.begin(), spec.end(), part), end; it != end; ++it) {
                for (int l : parseLayers((*it)[2])) layers[size_t(l)] = (*it)[1];
            }
        }
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string o(s);
    for (char& c : o) c = char(std::tolower(static_cast<unsigned char>(c)));
    return o;
}

class PlanPresets : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_dir = new test::TempDir();
        synth::SynthOptions o;
        o.preset = synth::SynthPreset::Medium;
        o.zeroData = true;  // TinyLlama-1.1B shapes, header only (sparse file)
        ASSERT_TRUE(synth::writeSynthModel(o, s_dir->file("medium.gguf")).ok());
        auto m = model::openModel(s_dir->file("medium.gguf"));
        ASSERT_TRUE(m.ok()) << m.error().what();
        s_model = new model::Model(std::move(*m));
    }
    static void TearDownTestSuite() {
        delete s_model;
        delete s_dir;
    }
    static inline test::TempDir* s_dir = nullptr;
    static inline model::Model* s_model = nullptr;
};

// Every preset's per-tensor assignment and total size equal llama.cpp's on a 22-layer llama.
TEST_F(PlanPresets, MatchLlamaCppOn22LayerLlama) {
    const auto tables = loadPresetTables();
    ASSERT_GE(tables.size(), 25u);
    int checked = 0;
    for (const auto& table : tables) {
        auto ft = ftypeFromName(table.name);
        if (!ft) {
            // Q1_0 / Q2_0 types are newer than our type table; nothing else may be missing.
            EXPECT_TRUE(table.name == "Q1_0" || table.name == "Q2_0") << table.name;
            continue;
        }
        PlanOptions opt;
        opt.ftype = *ft;
        const Plan plan = buildPlan(*s_model, opt);
        for (size_t i = 0; i < s_model->tensors().size(); ++i) {
            const auto& t = s_model->tensors()[i];
            const std::string got = lower(formats::typeName(plan.tensors[i].type));
            const std::string role(model::roleName(t.role));
            if (t.layer < 0) {
                if (table.global.count(role)) {
                    EXPECT_EQ(got, lower(table.global.at(role))) << table.name << " " << t.name;
                } else {
                    EXPECT_EQ(plan.tensors[i].type, TensorType::F32) << table.name << " " << t.name;
                }
            } else if (table.perLayer.count(role)) {
                EXPECT_EQ(got, lower(table.perLayer.at(role)[size_t(t.layer)]))
                    << table.name << " " << t.name;
            } else {
                EXPECT_EQ(plan.tensors[i].type, TensorType::F32) << table.name << " " << t.name;
            }
        }
        // llama.cpp prints the sum of tensor sizes in MiB with two decimals.
        const double mib = double(plan.dataBytes(*s_model)) / (1024.0 * 1024.0);
        EXPECT_NEAR(mib, table.mib, 0.0051) << table.name;
        ++checked;
    }
    EXPECT_GE(checked, 29);
}

TEST_F(PlanPresets, RulesOverridesAndPure) {
    PlanOptions opt;
    opt.ftype = Ftype::Q4_K_M;
    opt.rules.push_back(*parseTypeRule("blk\\.1[0-9]\\.ffn_down=Q8_0"));
    opt.rules.push_back(*parseTypeRule("FFN_DOWN=q2_k"));  // pattern is lower-cased
    opt.rules.push_back(
        *parseTypeRule("blk\\.3\\.ffn_down=Q6_K"));  // never reached: first match wins
    opt.outputType = TensorType::Q8_0;
    opt.tokenEmbdType = TensorType::Q5_K;
    const Plan plan = buildPlan(*s_model, opt);
    for (size_t i = 0; i < s_model->tensors().size(); ++i) {
        const auto& t = s_model->tensors()[i];
        const auto& c = plan.tensors[i];
        if (t.role == model::TensorRole::FfnDown) {
            const bool teen = t.layer >= 10 && t.layer <= 19;
            EXPECT_EQ(c.type, teen ? TensorType::Q8_0 : TensorType::Q2_K) << t.name;
            EXPECT_EQ(c.origin, Origin::Rule);
            EXPECT_EQ(c.rule, teen ? 0 : 1);
        }
        if (t.name == "output.weight") EXPECT_EQ(c.type, TensorType::Q8_0);
        if (t.name == "token_embd.weight") EXPECT_EQ(c.type, TensorType::Q5_K);
        if (t.role == model::TensorRole::AttnNorm) {
            EXPECT_EQ(c.origin, Origin::Keep);
            EXPECT_FALSE(c.quantizable);
        }
    }
    PlanOptions pure;
    pure.ftype = Ftype::Q4_K_M;
    pure.pure = true;
    const Plan p = buildPlan(*s_model, pure);
    for (size_t i = 0; i < s_model->tensors().size(); ++i) {
        if (p.tensors[i].quantizable) {
            EXPECT_EQ(p.tensors[i].type, TensorType::Q4_K) << s_model->tensors()[i].name;
        }
    }
}

TEST(Plan, ShapeFallbacksFollowLlamaCpp) {
    EXPECT_EQ(shapeFallback(TensorType::Q4_K, 256), TensorType::Q4_K);
    EXPECT_EQ(shapeFallback(TensorType::Q4_K, 64), TensorType::Q5_0);
    EXPECT_EQ(shapeFallback(TensorType::Q5_K, 96), TensorType::Q5_1);
    EXPECT_EQ(shapeFallback(TensorType::Q6_K, 64), TensorType::Q8_0);
    EXPECT_EQ(shapeFallback(TensorType::Q2_K, 64), TensorType::Q4_0);
    EXPECT_EQ(shapeFallback(TensorType::Q3_K, 32), TensorType::Q4_0);
    EXPECT_EQ(shapeFallback(TensorType::IQ4_XS, 64), TensorType::IQ4_NL);
    EXPECT_EQ(shapeFallback(TensorType::IQ2_XXS, 96), TensorType::IQ4_NL);
    EXPECT_EQ(shapeFallback(TensorType::Q6_K, 172), TensorType::F16);
    EXPECT_EQ(shapeFallback(TensorType::Q4_0, 172), TensorType::F16);
    EXPECT_EQ(shapeFallback(TensorType::Q8_0, 172), TensorType::F16);
}

TEST(Plan, ParsesRulesAndRuleFiles) {
    auto r = parseTypeRule("attn_v=q6_k");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->type, TensorType::Q6_K);
    EXPECT_EQ(r->pattern, "attn_v");
    EXPECT_FALSE(parseTypeRule("attn_v").ok());
    EXPECT_FALSE(parseTypeRule("=q4_0").ok());
    EXPECT_FALSE(parseTypeRule("attn_v=").ok());
    auto bad = parseTypeRule("attn_v=q9_9");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("unknown type 'q9_9'"), std::string::npos);
    auto badRe = parseTypeRule("attn_(v=q4_0");
    ASSERT_FALSE(badRe.ok());
    EXPECT_NE(badRe.error().message.find("invalid regex"), std::string::npos);
    auto file =
        parseTypeRuleFile("# comment\nattn_v=q6_k ffn_down=q5_k\n\n  output=q8_0 # x\n", "f.txt");
    ASSERT_TRUE(file.ok());
    ASSERT_EQ(file->size(), 3u);
    EXPECT_EQ((*file)[2].type, TensorType::Q8_0);
    auto badFile = parseTypeRuleFile("attn_v=q6_k\nffn=zz\n", "rules.txt");
    ASSERT_FALSE(badFile.ok());
    EXPECT_EQ(badFile.error().file, "rules.txt");
    EXPECT_NE(badFile.error().message.find("line 2"), std::string::npos);
}

TEST(Plan, PresetNamesAndAliases) {
    EXPECT_EQ(ftypeFromName("q4_k_m"), Ftype::Q4_K_M);
    EXPECT_EQ(ftypeFromName("Q4_K"), Ftype::Q4_K_M);
    EXPECT_EQ(ftypeFromName("Q3_K"), Ftype::Q3_K_M);
    EXPECT_EQ(ftypeFromName("15"), Ftype::Q4_K_M);
    EXPECT_EQ(ftypeFromName("f16"), Ftype::MOSTLY_F16);
    EXPECT_EQ(ftypeFromName("Q9_K"), std::nullopt);
    EXPECT_EQ(ftypeInfo(Ftype::IQ2_M).defaultType, TensorType::IQ2_S);
}

// The types llama.cpp chose for its own Q8_0 and Q4_0 files of a real model are ours too.
TEST(Plan, MatchesLlamaCppFilesOfStories260K) {
    auto src = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(src.ok());
    for (auto [ft, file] : {std::pair{Ftype::Q8_0, "stories260K-Q8_0.gguf"},
                            std::pair{Ftype::Q4_0, "stories260K-Q4_0.gguf"}}) {
        auto ref = model::openModel(test::dataPath(std::string("models/reference-quants/") + file));
        ASSERT_TRUE(ref.ok());
        PlanOptions opt;
        opt.ftype = ft;
        const Plan plan = buildPlan(*src, opt);
        for (size_t i = 0; i < src->tensors().size(); ++i) {
            const auto& t = src->tensors()[i];
            const auto j = ref->indexOf(t.name);
            ASSERT_GE(j, 0) << t.name;
            EXPECT_EQ(plan.tensors[i].type, ref->tensors()[size_t(j)].type)
                << file << " " << t.name;
        }
        EXPECT_EQ(plan.dataBytes(*src), ref->totalBytes()) << file;
    }
    // llama.cpp's Q4_K_M of this model: nothing can hold a K-quant (rows of 64 and 172).
    PlanOptions opt;
    opt.ftype = Ftype::Q4_K_M;
    const Plan plan = buildPlan(*src, opt);
    for (size_t i = 0; i < src->tensors().size(); ++i) {
        const auto& t = src->tensors()[i];
        const auto& c = plan.tensors[i];
        if (!c.quantizable) continue;
        // output.weight goes straight to Q8_0 by the output rule (its row cannot hold Q4_K);
        // every other tensor asks for a K-quant and falls back.
        EXPECT_EQ(c.fellBack, t.name != "output.weight") << t.name;
        if (t.role == model::TensorRole::FfnDown) EXPECT_EQ(c.type, TensorType::F16) << t.name;
        if (t.role == model::TensorRole::AttnQ) EXPECT_EQ(c.type, TensorType::Q5_0) << t.name;
        if (t.role == model::TensorRole::Output) EXPECT_EQ(c.type, TensorType::Q8_0) << t.name;
    }
}

// Every preset llama.cpp can make without an imatrix, on the real stories260K (rows of 64 and
// 172: fallbacks everywhere) and on the tiny synth model (rows of 256 and 768: the K-quant and
// IQ mixes proper): our plan gives every tensor the type llama.cpp gave it, in its order.
TEST(Plan, EqualsLlamaCppOnStories260KAndTinySynth) {
    test::TempDir dir;
    ASSERT_TRUE(
        synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 0, true}, dir.file("tiny.gguf")).ok());
    std::map<std::string, model::Model> models;
    models.emplace("stories260K",
                   model::openModel(test::dataPath("models/stories260K.gguf")).value());
    models.emplace("synth-tiny", model::openModel(dir.file("tiny.gguf")).value());
    // model -> preset -> [(tensor, type)] in file order
    std::map<std::string, std::map<std::string, std::vector<std::pair<std::string, std::string>>>>
        want;
    std::ifstream f(test::dataPath("presets/llama-cpp-assignments.tsv"));
    std::string line;
    std::getline(f, line);  // header
    size_t rows = 0;
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        std::string m, p, t, ty;
        std::getline(ss, m, '\t');
        std::getline(ss, p, '\t');
        std::getline(ss, t, '\t');
        std::getline(ss, ty, '\t');
        want[m][p].emplace_back(t, ty);
        ++rows;
    }
    ASSERT_GT(rows, 1900u);
    size_t combos = 0;
    for (const auto& [mname, presets] : want) {
        const auto& m = models.at(mname);
        for (const auto& [pname, tensors] : presets) {
            PlanOptions opt;
            opt.ftype = *ftypeFromName(pname);
            const Plan plan = buildPlan(m, opt);
            const auto order = llamaTensorOrder(m);
            ASSERT_EQ(order.size(), tensors.size()) << mname << " " << pname;
            for (size_t k = 0; k < order.size(); ++k) {
                EXPECT_EQ(m.tensors()[order[k]].name, tensors[k].first) << mname << " " << pname;
                EXPECT_EQ(std::string(formats::typeName(plan.tensors[order[k]].type)),
                          tensors[k].second)
                    << mname << " " << pname << " " << tensors[k].first;
            }
            ++combos;
        }
    }
    EXPECT_EQ(combos, 44u);
}

TEST(Plan, LlamaTensorOrderMatchesLlamaCppFiles) {
    auto src = model::openModel(test::dataPath("models/stories260K.gguf"));
    auto ref = model::openModel(test::dataPath("models/reference-quants/stories260K-Q8_0.gguf"));
    ASSERT_TRUE(src.ok() && ref.ok());
    const auto order = llamaTensorOrder(*src);
    ASSERT_EQ(order.size(), ref->tensors().size());
    for (size_t k = 0; k < order.size(); ++k) {
        EXPECT_EQ(src->tensors()[order[k]].name, ref->tensors()[k].name) << k;
    }
}

}  // namespace
