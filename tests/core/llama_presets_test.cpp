// Every llama.cpp preset that needs the i-quant, ternary, FP4 and 1/2-bit encoders, against
// llama.cpp itself: libllama of the node-llama-cpp package (the build behind every other oracle
// here) is loaded at run time and quantizes the same model with the same imatrix through
// llama_model_quantize(); our plan and export must give the same file, byte for byte (types,
// sizes, data, metadata). Where llama.cpp refuses (no shape fallback for Q1_0), so must we.
// Skipped with a reason when the npm package is not installed.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../common/libllama_api.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;

namespace {

using namespace qs::test::libllama;

/// The quantizer, with everything libllama logs collected in `log`.
struct Llama : LibllamaQuantizer {
    std::string log;  ///< everything libllama logged since the last clear
    bool open() {
        if (!LibllamaQuantizer::open()) return false;
        logSet(
            [](int, const char* text, void* user) {
                if (user && text) static_cast<Llama*>(user)->log += text;
            },
            this);
        return true;
    }
};

bool isNewType(formats::TensorType t) {
    using T = formats::TensorType;
    for (T n : {T::IQ2_XXS, T::IQ2_XS, T::IQ2_S, T::IQ3_XXS, T::IQ3_S, T::IQ1_S, T::IQ1_M, T::TQ1_0,
                T::TQ2_0, T::MXFP4, T::NVFP4, T::Q1_0, T::Q2_0}) {
        if (t == n) return true;
    }
    return false;
}

/// llama.cpp's file for `ftype`, or false if llama_model_quantize refused.
bool llamaQuantize(const Llama& l, const std::string& in, const std::string& out, Ftype ftype,
                   const Imatrix& im) {
    std::vector<LlamaImatrixData> data;
    for (const auto& [name, values] : im.entries)
        data.push_back({name.c_str(), values.data(), values.size()});
    data.push_back({nullptr, nullptr, 0});
    LlamaQuantizeParams p = l.defaults();
    p.nthread = 2;
    p.ftype = int(ftype);
    p.imatrix = data.data();
    return l.quantize(in.c_str(), out.c_str(), &p) == 0;
}

/// Our file for `ftype`, or the error text.
std::string ourQuantize(const model::Model& m, const std::string& out, Ftype ftype,
                        const Imatrix& im) {
    PlanOptions po;
    po.ftype = ftype;
    po.hasImatrix = true;
    const Plan plan = buildPlan(m, po);
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
        const auto& c = plan.tensors[i];
        const auto& t = m.tensors()[i];
        if (t.rowLength() % formats::traits(c.type).blockSize != 0) {
            return std::string(formats::typeName(c.type)) + " cannot hold rows of " + t.name;
        }
    }
    QuantizeOptions qo;
    qo.threads = 2;
    qo.imatrix = &im;
    qo.metrics = false;
    auto s = exportGguf(m, plan, out, qo);
    return s.ok() ? std::string() : s.error().what();
}

void comparePresets(const std::string& modelPath, const std::vector<Ftype>& presets) {
    if (!std::filesystem::exists(libDir() + "libllama.v0.5.0.so")) {
        GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    }
    Llama l;
    ASSERT_TRUE(l.open()) << dlerror();
    auto m = model::openModel(modelPath);
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = synth::synthImatrix(*m, 3);
    ASSERT_TRUE(im.ok()) << im.error().what();
    test::TempDir dir;
    for (const Ftype f : presets) {
        const std::string name(ftypeInfo(f).name);
        SCOPED_TRACE(name);
        const std::string theirs = dir.file("llama-" + name + ".gguf");
        const std::string ours = dir.file("ours-" + name + ".gguf");
        const bool theyWrote = llamaQuantize(l, modelPath, theirs, f, *im);
        const std::string err = ourQuantize(*m, ours, f, *im);
        EXPECT_EQ(theyWrote, err.empty()) << err;
        if (!theyWrote || !err.empty()) {
            std::printf("%-10s both refuse (%s)\n", name.c_str(), err.c_str());
            continue;
        }
        // Tensor by tensor: same names, types, shapes and bytes. (The files' metadata differ
        // only by the quantize.imatrix.* keys, which llama-quantize adds and the library
        // function does not; we write them like llama-quantize.)
        auto a = model::openModel(theirs);
        auto b = model::openModel(ours);
        ASSERT_TRUE(a.ok() && b.ok());
        ASSERT_EQ(a->tensors().size(), b->tensors().size());
        int same = 0, grid = 0;
        for (size_t i = 0; i < a->tensors().size(); ++i) {
            const auto& ta = a->tensors()[i];
            const auto& tb = b->tensors()[i];
            SCOPED_TRACE(ta.name);
            EXPECT_EQ(ta.name, tb.name);
            EXPECT_EQ(formats::typeName(ta.type), formats::typeName(tb.type));
            const auto da = a->tensorData(ta), db = b->tensorData(tb);
            const bool eq =
                da.size() == db.size() && std::memcmp(da.data(), db.data(), da.size()) == 0;
            EXPECT_TRUE(eq) << "data differ";
            same += eq;
            grid += isNewType(tb.type);
        }
        // Metadata: the same keys in the same order, apart from quantize.imatrix.*.
        auto keys = [](const model::Model& mm) {
            std::vector<std::string> k;
            for (const auto& kv : mm.metadata()) {
                if (!kv.key.starts_with("quantize.imatrix.")) k.push_back(kv.key);
            }
            return k;
        };
        EXPECT_EQ(keys(*a), keys(*b));
        EXPECT_EQ(std::filesystem::file_size(theirs) - a->dataOffset(),
                  std::filesystem::file_size(ours) - b->dataOffset());
        std::printf("%-10s %d/%zu tensors identical (%d in i-quant/ternary/FP4/Q1_0/Q2_0 types)\n",
                    name.c_str(), same, a->tensors().size(), grid);
    }
}

const std::vector<Ftype>& newPresets() {
    static const std::vector<Ftype> p = {
        Ftype::IQ2_XXS, Ftype::IQ2_XS, Ftype::IQ2_S,     Ftype::IQ2_M, Ftype::IQ3_XXS,
        Ftype::IQ3_XS,  Ftype::IQ3_S,  Ftype::IQ3_M,     Ftype::IQ1_S, Ftype::IQ1_M,
        Ftype::TQ1_0,   Ftype::TQ2_0,  Ftype::MXFP4_MOE, Ftype::Q1_0,  Ftype::Q2_0,
    };
    return p;
}

TEST(LlamaPresets, MissingImatrixEntryIsRefusedLikeLlamaCpp) {
    // llama.cpp: "Missing importance matrix for tensor X in a very low-bit quantization".
    test::TempDir dir;
    ASSERT_TRUE(
        synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 2}, dir.file("tiny.gguf")).ok());
    auto m = model::openModel(dir.file("tiny.gguf"));
    ASSERT_TRUE(m.ok());
    auto im = synth::synthImatrix(*m, 3);
    ASSERT_TRUE(im.ok());
    im->entries.erase("blk.1.ffn_up.weight");
    PlanOptions po;
    po.ftype =
        Ftype::IQ2_S;  // IQ2_S itself does not need importance in ggml; llama.cpp's rule does
    po.hasImatrix = true;
    QuantizeOptions qo;
    qo.imatrix = &*im;
    qo.threads = 2;
    auto s = exportGguf(*m, buildPlan(*m, po), dir.file("out.gguf"), qo);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::BadInput);
    EXPECT_NE(s.error().what().find("blk.1.ffn_up.weight"), std::string::npos) << s.error().what();
    EXPECT_NE(s.error().what().find("missing importance matrix"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.gguf")));
}

TEST(LlamaPresets, SynthTinyFilesByteIdentical) {
    // 256-wide rows: the grid types are used as such, not through their shape fallbacks. ggml's
    // grid searches are slow, so by default one preset per family, which together write every
    // new type (IQ2_M: IQ2_S and IQ3_S; IQ2_S: IQ2_XS; IQ3_XS: IQ3_XXS; IQ1_S/IQ1_M: IQ1_*,
    // IQ2_XXS); QS_ALL_PRESETS=1 runs all fifteen (a minute or two on 2 cores).
    test::TempDir dir;
    ASSERT_TRUE(
        synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 2}, dir.file("tiny.gguf")).ok());
    const char* all = std::getenv("QS_ALL_PRESETS");
    const std::vector<Ftype> some = {Ftype::IQ2_M, Ftype::IQ2_S, Ftype::IQ3_XS,
                                     Ftype::IQ1_S, Ftype::IQ1_M, Ftype::TQ1_0,
                                     Ftype::TQ2_0, Ftype::Q1_0,  Ftype::Q2_0};
    comparePresets(dir.file("tiny.gguf"), all && *all == '1' ? newPresets() : some);
}

/// One tensor line of llama_model_quantize's dry run: name and the type it would write.
std::map<std::string, std::string> parseDryRun(const std::string& log, double* quantMiB) {
    std::map<std::string, std::string> types;
    std::istringstream in(log);
    std::string line, pending;
    while (std::getline(in, line)) {
        // "[  12/ 201]   blk.0.attn_k.weight - [ 2048,   256,     1,     1], type =    f16, "
        // then "size =    1.00 MiB ->    0.28 MiB (q4_K)" or "size =    0.008 MiB".
        const auto dash = line.find(" - [");
        if (line.starts_with("[") && dash != std::string::npos) {
            std::istringstream w(line.substr(line.find(']') + 1, dash - line.find(']') - 1));
            w >> pending;
            const auto tp = line.find("type = ");
            std::string cur = line.substr(tp + 7);
            cur = cur.substr(cur.find_first_not_of(' '));
            cur = cur.substr(0, cur.find(','));
            types[pending] = cur;
        }
        const auto size = line.find("size = ");
        if (size != std::string::npos && !pending.empty()) {
            const auto open = line.find('(', size), close = line.find(')', size);
            if (open != std::string::npos && close != std::string::npos) {
                types[pending] = line.substr(open + 1, close - open - 1);
            }
            pending.clear();
        }
        const auto q = line.find("quant size  = ");
        if (q != std::string::npos && quantMiB) *quantMiB = std::stod(line.substr(q + 14));
    }
    return types;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

TEST(LlamaPresets, DryRun22LayerAssignmentsAndSize) {
    // Every preset of llama-quantize's list, on TinyLlama-1.1B shapes (the `medium` synth, 22
    // layers, header only), with and without an imatrix (some mixes depend on having one):
    // llama.cpp's dry run (llama_model_quantize with dry_run) names each tensor's type and the
    // total size; our plan must give the same type for every tensor and the same total.
    if (!std::filesystem::exists(libDir() + "libllama.v0.5.0.so")) {
        GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    }
    Llama l;
    ASSERT_TRUE(l.open()) << dlerror();
    test::TempDir dir;
    synth::SynthOptions o;
    o.preset = synth::SynthPreset::Medium;
    o.zeroData = true;
    const std::string path = dir.file("medium.gguf");
    ASSERT_TRUE(synth::writeSynthModel(o, path).ok());
    auto m = model::openModel(path);
    ASSERT_TRUE(m.ok());
    Imatrix im;
    for (const auto& t : m->tensors()) {
        if (t.shape.size() >= 2)
            im.entries[t.name] = std::vector<float>(size_t(t.rowLength()), 1.0f);
    }
    std::vector<LlamaImatrixData> data;
    for (const auto& [name, values] : im.entries)
        data.push_back({name.c_str(), values.data(), values.size()});
    data.push_back({nullptr, nullptr, 0});
    int checked = 0;
    for (const auto& info : allFtypes()) {
        if (info.ftype == Ftype::ALL_F32 || info.ftype == Ftype::MOSTLY_F16 ||
            info.ftype == Ftype::MOSTLY_BF16)
            continue;
        for (const bool withImatrix : {false, true}) {
            SCOPED_TRACE(std::string(info.name) + (withImatrix ? " with imatrix" : " plain"));
            LlamaQuantizeParams p = l.defaults();
            p.nthread = 1;
            p.ftype = int(info.ftype);
            p.dryRun = true;
            p.imatrix = withImatrix ? data.data() : nullptr;
            l.log.clear();
            const bool ok = l.quantize(path.c_str(), dir.file("dry.gguf").c_str(), &p) == 0;
            PlanOptions po;
            po.ftype = info.ftype;
            po.hasImatrix = withImatrix;
            const Plan plan = buildPlan(*m, po);
            bool oursOk = true;
            for (size_t i = 0; i < plan.tensors.size(); ++i) {
                oursOk &=
                    m->tensors()[i].rowLength() % formats::traits(plan.tensors[i].type).blockSize ==
                    0;
            }
            EXPECT_EQ(ok, oursOk);
            if (!ok) continue;
            double theirMiB = -1;
            const auto theirs = parseDryRun(l.log, &theirMiB);
            ASSERT_EQ(theirs.size(), m->tensors().size()) << l.log.substr(0, 2000);
            for (size_t i = 0; i < plan.tensors.size(); ++i) {
                const auto& t = m->tensors()[i];
                const auto it = theirs.find(t.name);
                ASSERT_NE(it, theirs.end()) << t.name;
                EXPECT_EQ(lower(formats::typeName(plan.tensors[i].type)), lower(it->second))
                    << t.name;
            }
            uint64_t bytes = 0;
            for (size_t i = 0; i < plan.tensors.size(); ++i) bytes += plan.tensorBytes(*m, i);
            char ours[32];
            std::snprintf(ours, sizeof ours, "%.2f", double(bytes) / 1024.0 / 1024.0);
            char their[32];
            std::snprintf(their, sizeof their, "%.2f", theirMiB);
            EXPECT_STREQ(ours, their);
            ++checked;
        }
    }
    std::printf("%d preset runs agree with llama.cpp's dry run on all %zu tensors\n", checked,
                m->tensors().size());
    EXPECT_GE(checked, 2 * 30);
}

TEST(LlamaPresets, Stories260KFilesByteIdentical) {
    // 64-wide rows: every 256-block type falls back (IQ4_NL, Q4_0, ...); Q1_0 has no fallback.
    comparePresets(test::dataPath("models/stories260K.gguf"), newPresets());
}

std::string slurpText(const std::string& path) {
    const auto b = test::readFile(path);
    return std::string(b.begin(), b.end());
}

TEST(LlamaPresets, ExportsEvaluateLikeLlamaCppFiles) {
    // llama.cpp (node-llama-cpp) loads and evaluates our IQ2_XXS, IQ1_M, TQ1_0, Q2_0 and MXFP4
    // exports with the perplexity of its own file of the same preset: same model, same imatrix,
    // llama_model_quantize for theirs, our export for ours, then tests/js/logprobs.mjs on both
    // in one process (every position's full logits). MXFP4_MOE writes Q8_0 on a dense model,
    // so MXFP4 is checked on the qwen3moe synth (its experts become MXFP4, the rest Q8_0).
    if (!std::filesystem::exists(libDir() + "libllama.v0.5.0.so")) {
        GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so";
    }
    const std::string js = std::string(QS_TEST_DATA_DIR) + "/../js/";
    if (std::system("node --version > /dev/null 2>&1") != 0) {
        GTEST_SKIP() << "Node.js is not installed (llama.cpp runs through node-llama-cpp)";
    }
    if (!std::filesystem::exists(js + "node_modules/node-llama-cpp")) {
        GTEST_SKIP() << "node-llama-cpp is not installed in tests/js/node_modules";
    }
    Llama l;
    ASSERT_TRUE(l.open()) << dlerror();
    test::TempDir dir;
    struct Case {
        std::string arch;
        Ftype ftype;
        formats::TensorType mustHave;  // at least one tensor of this type in the file
    };
    using T = formats::TensorType;
    const std::vector<Case> cases = {
        {"llama", Ftype::IQ2_XXS, T::IQ2_XXS},    {"llama", Ftype::IQ1_M, T::IQ1_M},
        {"llama", Ftype::TQ1_0, T::TQ1_0},        {"llama", Ftype::Q2_0, T::Q2_0},
        {"qwen3moe", Ftype::MXFP4_MOE, T::MXFP4},
    };
    const std::string text = test::dataPath("models/eval-text.txt");
    std::vector<std::string> files;  // theirs, ours per case
    std::vector<int> counts;
    for (const Case& c : cases) {
        const std::string name(ftypeInfo(c.ftype).name);
        SCOPED_TRACE(c.arch + " " + name);
        const std::string src = dir.file(c.arch + ".gguf");
        if (!std::filesystem::exists(src)) {
            synth::SynthOptions so;
            so.seed = 1;
            so.threads = 2;
            so.arch = c.arch;
            ASSERT_TRUE(synth::writeSynthModel(so, src).ok());
        }
        auto m = model::openModel(src);
        ASSERT_TRUE(m.ok()) << m.error().what();
        auto im = synth::synthImatrix(*m, 3);
        ASSERT_TRUE(im.ok()) << im.error().what();
        const std::string theirs = dir.file("llama-" + c.arch + "-" + name + ".gguf");
        const std::string ours = dir.file("ours-" + c.arch + "-" + name + ".gguf");
        ASSERT_TRUE(llamaQuantize(l, src, theirs, c.ftype, *im)) << l.log.substr(0, 2000);
        const std::string err = ourQuantize(*m, ours, c.ftype, *im);
        ASSERT_TRUE(err.empty()) << err;
        auto o = model::openModel(ours);
        ASSERT_TRUE(o.ok());
        int ofType = 0;
        for (const auto& t : o->tensors()) ofType += t.type == c.mustHave;
        EXPECT_GT(ofType, 0) << "no " << formats::typeName(c.mustHave) << " tensor in our file";
        files.push_back(theirs);
        files.push_back(ours);
        counts.push_back(ofType);
    }
    // One node process evaluates all ten files (BOS + 127 tokens each).
    const std::string out = dir.file("ppl.json");
    std::string cmd = "node " + js + "logprobs.mjs " + text + " 128";
    for (const auto& f : files) cmd += " " + f;
    cmd += " > " + out + " 2> " + out + ".err";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << slurpText(out + ".err");
    std::istringstream lines(slurpText(out));
    std::string line;
    std::vector<nlohmann::json> res;
    while (std::getline(lines, line)) {
        if (!line.empty() && line[0] == '{') res.push_back(nlohmann::json::parse(line));
    }
    ASSERT_EQ(res.size(), files.size()) << slurpText(out);
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        const std::string name(ftypeInfo(c.ftype).name);
        SCOPED_TRACE(c.arch + " " + name);
        const nlohmann::json& theirs = res[2 * i];
        const nlohmann::json& ours = res[2 * i + 1];
        const double pTheirs = theirs["ppl"].get<double>(), pOurs = ours["ppl"].get<double>();
        EXPECT_TRUE(std::isfinite(pOurs) && pOurs > 1.0) << pOurs;
        EXPECT_EQ(theirs["scored"], ours["scored"]);
        EXPECT_EQ(theirs["nll"], ours["nll"]) << "per-position log-likelihoods differ";
        EXPECT_EQ(pTheirs, pOurs);
        std::printf(
            "%-8s %-9s llama.cpp perplexity: its file %.6f, ours %.6f (%d %s tensors, "
            "%d positions)\n",
            c.arch.c_str(), name.c_str(), pTheirs, pOurs, counts[i],
            std::string(formats::typeName(c.mustHave)).c_str(), ours["scored"].get<int>());
    }
}

}  // namespace
