// quantscope-quantize (and `quantscope-cli quantize` in llama-quantize's form) against
// llama.cpp itself: a table of llama-quantize command lines, each run through llama.cpp's
// quantizer (libllama of the node-llama-cpp package, llama_model_quantize with the parameters
// llama-quantize's main builds from that command line) and through ours, on stories260K and a
// synthetic tiny model. The files each writes (names included) must be the same bytes; where
// llama.cpp fails, we must fail with the same exit status (1). Skipped with a reason when the
// npm package is not installed.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../common/libllama_api.h"
#include "cli_util.h"
#include "model/model.h"
#include "quant/imatrix.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"

namespace fs = std::filesystem;

namespace {

using namespace qs::test::libllama;

using Llama = LibllamaQuantizer;

Llama& llama() {
    static Llama l;
    static bool opened = l.open();
    (void)opened;
    return l;
}
bool haveLlama() {
    return fs::exists(libDir() + "libllama.v0.5.0.so") && llama().quantize != nullptr;
}

// ---- the oracle: llama-quantize's main (tools/quantize/quantize.cpp) -------------------------
// Its argument handling, restated for the test, feeding llama.cpp's own quantizer. The names
// of the types and presets are llama.cpp's (ggml_type_name, QUANT_OPTIONS).
const std::vector<std::pair<std::string, int>>& quantOptions() {
    static const std::vector<std::pair<std::string, int>> o = {
        {"Q1_0", 40},   {"Q2_0", 41},   {"Q4_0", 2},     {"Q4_1", 3},    {"MXFP4_MOE", 38},
        {"Q5_0", 8},    {"Q5_1", 9},    {"IQ2_XXS", 19}, {"IQ2_XS", 20}, {"IQ2_S", 28},
        {"IQ2_M", 29},  {"IQ1_S", 24},  {"IQ1_M", 31},   {"TQ1_0", 36},  {"TQ2_0", 37},
        {"Q2_K", 10},   {"Q2_K_S", 21}, {"IQ3_XXS", 23}, {"IQ3_S", 26},  {"IQ3_M", 27},
        {"Q3_K", 12},   {"IQ3_XS", 22}, {"Q3_K_S", 11},  {"Q3_K_M", 12}, {"Q3_K_L", 13},
        {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"Q4_K", 15},    {"Q4_K_S", 14}, {"Q4_K_M", 15},
        {"Q5_K", 17},   {"Q5_K_S", 16}, {"Q5_K_M", 17},  {"Q6_K", 18},   {"Q8_0", 7},
        {"F16", 1},     {"BF16", 32},   {"F32", 0},      {"COPY", 0},
    };
    return o;
}

std::string upper(std::string s) {
    for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

bool parseFtype(const std::string& in, int& ftype, std::string& name) {
    for (const auto& [n, id] : quantOptions()) {
        if (n == upper(in)) {
            ftype = id;
            name = n;
            return true;
        }
    }
    try {
        const int v = std::stoi(in);
        for (const auto& [n, id] : quantOptions()) {
            if (id == v) {
                ftype = id;
                name = n;
                return true;
            }
        }
    } catch (...) {
    }
    return false;
}

int ggmlType(const std::string& name) {
    for (int i = 0; i < 43; ++i) {  // GGML_TYPE_COUNT of this build
        const char* n = llama().typeName(i);
        if (n && upper(n) == upper(name)) return i;
    }
    return -1;
}

int oracleRun(const std::vector<std::string>& argv) {
    LlamaQuantizeParams p = llama().defaults();
    std::string imatrixFile;
    std::vector<std::string> include, exclude;
    std::vector<LlamaKvOverride> kv;
    std::vector<std::string> ttNames;
    std::vector<int> ttTypes;
    std::vector<int32_t> prune;
    auto addTensorType = [&](const std::string& text) {
        const auto eq = text.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) return false;
        const int t = ggmlType(text.substr(eq + 1));
        if (t < 0) return false;
        std::string n = text.substr(0, eq);
        for (char& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
        ttNames.push_back(n);
        ttTypes.push_back(t);
        return true;
    };
    size_t i = 0;
    for (; i < argv.size() && argv[i].starts_with("--"); ++i) {
        const std::string& a = argv[i];
        const bool hasNext = i + 1 < argv.size();
        if (a == "--leave-output-tensor") {
            p.quantizeOutputTensor = false;
        } else if (a == "--output-tensor-type" || a == "--token-embedding-type") {
            if (!hasNext) return 1;
            const int t = ggmlType(argv[++i]);
            if (t < 0) return 1;
            (a == "--output-tensor-type" ? p.outputTensorType : p.tokenEmbeddingType) = t;
        } else if (a == "--tensor-type") {
            if (!hasNext || !addTensorType(argv[++i])) return 1;
        } else if (a == "--tensor-type-file") {
            if (!hasNext) return 1;
            std::ifstream f(argv[++i]);
            if (!f) return 1;
            std::string w;
            while (f >> w) {
                if (!addTensorType(w)) return 1;
            }
        } else if (a == "--prune-layers") {
            if (!hasNext) return 1;
            std::stringstream ss(argv[++i]);
            std::string item;
            while (std::getline(ss, item, ',')) {
                int id = -1;
                try {
                    id = std::stoi(item);
                } catch (...) {
                }
                if (id < 0) return 1;
                prune.push_back(id);
            }
            std::sort(prune.begin(), prune.end());
            prune.erase(std::unique(prune.begin(), prune.end()), prune.end());
        } else if (a == "--override-kv") {
            if (!hasNext) return 1;
            const std::string text = argv[++i];
            const auto eq = text.find('=');
            if (eq == std::string::npos || eq >= 128) return 1;
            LlamaKvOverride o{};
            std::memcpy(o.key, text.data(), eq);
            const std::string v = text.substr(eq + 1);
            if (v.starts_with("int:")) {
                o.tag = 0;
                o.valI64 = std::atol(v.c_str() + 4);
            } else if (v.starts_with("float:")) {
                o.tag = 1;
                o.valF64 = std::atof(v.c_str() + 6);
            } else if (v.starts_with("bool:")) {
                o.tag = 2;
                if (v.substr(5) != "true" && v.substr(5) != "false") return 1;
                o.valBool = v.substr(5) == "true";
            } else if (v.starts_with("str:")) {
                o.tag = 3;
                if (v.size() - 4 > 127) return 1;
                std::strncpy(o.valStr, v.c_str() + 4, 127);
            } else {
                return 1;
            }
            kv.push_back(o);
        } else if (a == "--dry-run") {
            p.dryRun = true;
        } else if (a == "--allow-requantize") {
            p.allowRequantize = true;
        } else if (a == "--pure") {
            p.pure = true;
        } else if (a == "--imatrix") {
            if (!hasNext) return 1;
            imatrixFile = argv[++i];
        } else if (a == "--include-weights") {
            if (!hasNext) return 1;
            include.push_back(argv[++i]);
        } else if (a == "--exclude-weights") {
            if (!hasNext) return 1;
            exclude.push_back(argv[++i]);
        } else if (a == "--keep-split") {
            p.keepSplit = true;
        } else if (a == "--max-buffer-size") {
            if (!hasNext) return 1;
            const int mib = std::atoi(argv[++i].c_str());
            if (mib <= 0) return 1;
            p.maxBufSize = size_t(mib) * 1024 * 1024;
        } else {
            return 1;
        }
    }
    if (argv.size() - i < 2) return 1;
    if (!include.empty() && !exclude.empty()) return 1;
    // The importance matrix as llama-quantize feeds it (core's loader gives the same values:
    // tests/core/imatrix_test.cpp), filtered by substring, and the quantize.imatrix.* keys.
    std::map<std::string, std::vector<float>> im;
    qs::quant::Imatrix loaded;
    if (!imatrixFile.empty()) {
        auto r = qs::quant::loadImatrix(imatrixFile);
        if (!r) return 1;
        loaded = std::move(*r);
        im = loaded.entries;
        for (const auto& n : exclude)
            std::erase_if(im, [&](const auto& e) { return e.first.find(n) != std::string::npos; });
        if (!include.empty()) {
            std::map<std::string, std::vector<float>> keep;
            for (const auto& n : include) {
                for (auto& e : im) {
                    if (e.first.find(n) != std::string::npos) keep.insert(e);
                }
            }
            im = std::move(keep);
        }
    }
    std::vector<LlamaImatrixData> data;
    if (!im.empty()) {
        for (const auto& [n, v] : im) data.push_back({n.c_str(), v.data(), v.size()});
        data.push_back({nullptr, nullptr, 0});
        p.imatrix = data.data();
        LlamaKvOverride o{};
        std::strcpy(o.key, "quantize.imatrix.file");
        o.tag = 3;
        std::strncpy(o.valStr, imatrixFile.c_str(), 127);
        kv.push_back(o);
        if (!loaded.datasets.empty()) {
            LlamaKvOverride d{};
            std::strcpy(d.key, "quantize.imatrix.dataset");
            d.tag = 3;
            std::strncpy(d.valStr, loaded.datasets[0].c_str(), 127);
            kv.push_back(d);
        }
        LlamaKvOverride n{};
        std::strcpy(n.key, "quantize.imatrix.entries_count");
        n.tag = 0;
        n.valI64 = int64_t(im.size());
        kv.push_back(n);
        if (loaded.chunkCount > 0) {
            LlamaKvOverride c{};
            std::strcpy(c.key, "quantize.imatrix.chunks_count");
            c.tag = 0;
            c.valI64 = loaded.chunkCount;
            kv.push_back(c);
        }
    }
    if (!kv.empty()) {
        kv.push_back(LlamaKvOverride{});
        p.kvOverrides = kv.data();
    }
    std::vector<LlamaTensorOverride> tt;
    if (!ttNames.empty()) {
        for (size_t k = 0; k < ttNames.size(); ++k) tt.push_back({ttNames[k].c_str(), ttTypes[k]});
        tt.push_back({nullptr, 64});  // GGML_TYPE_COUNT is never read: the name ends the list
        p.ttOverrides = tt.data();
    }
    if (!prune.empty()) {
        prune.push_back(-1);
        p.pruneLayers = prune.data();
    }
    const std::string in = argv[i++];
    std::string out, name;
    if (parseFtype(argv[i], p.ftype, name)) {
        if (!p.dryRun) {
            const auto slash = in.find_last_of('/');
            out =
                (slash == std::string::npos ? "" : in.substr(0, slash + 1)) + "ggml-model-" + name;
            if (!p.keepSplit) out += ".gguf";
        }
        ++i;
    } else {
        out = argv[i++];
        if (p.keepSplit && out.find(".gguf") != std::string::npos)
            out = out.substr(0, out.size() - 5);
        if (i >= argv.size()) return 1;
        if (!parseFtype(argv[i], p.ftype, name)) return 1;
        ++i;
    }
    if (name == "COPY") p.onlyCopy = true;
    if (i < argv.size()) {
        try {
            p.nthread = std::stoi(argv[i]);
        } catch (...) {
            return 1;
        }
    }
    std::error_code ec;
    if (!p.dryRun && fs::equivalent(in, out, ec)) return 1;
    return llama().quantize(in.c_str(), out.c_str(), &p) == 0 ? 0 : 1;
}

FILE* gLog = nullptr;  // where the oracle's llama.cpp log goes

/// Run the command line as llama-quantize would (in this process: every line of the table is
/// one llama.cpp handles without aborting); its log goes to `logFile`. The exit status
/// llama-quantize would give.
int oracle(const std::vector<std::string>& argv, const std::string& logFile) {
    gLog = std::fopen(logFile.c_str(), "w");
    llama().logSet(
        [](int, const char* text, void*) {
            if (gLog && text) std::fputs(text, gLog);
        },
        nullptr);
    const int code = oracleRun(argv);
    llama().logSet([](int, const char*, void*) {}, nullptr);
    if (gLog) std::fclose(gLog);
    gLog = nullptr;
    return code;
}

// ---- the table -------------------------------------------------------------------------------
struct Case {
    std::string args;     ///< with {in} {out} {im} {ttf} {q8} {split}
    int expect;           ///< exit status llama-quantize gives (checked against the oracle too)
    bool cliToo = false;  ///< also run through `quantscope-cli quantize`
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

std::string substitute(std::string s, const std::map<std::string, std::string>& vars) {
    for (const auto& [k, v] : vars) {
        for (size_t p; (p = s.find(k)) != std::string::npos;) s.replace(p, k.size(), v);
    }
    return s;
}

std::map<std::string, std::vector<uint8_t>> filesIn(const std::string& dir) {
    std::map<std::string, std::vector<uint8_t>> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_symlink() || !e.is_regular_file()) continue;
        out[e.path().filename().string()] = qs::test::readFile(e.path().string());
    }
    return out;
}

qs::test::CliRun runOurs(const std::string& binary, const std::string& args) {
    qs::test::TempDir tmp;
    const std::string errFile = tmp.file("stderr.txt");
    const std::string cmd = binary + " " + args + " 2>" + errFile;
    qs::test::CliRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(errFile);
    r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
    return r;
}

/// Run every case on `model` through llama.cpp and ours; compare statuses and files.
void runTable(const std::string& model, const std::string& imatrix,
              const std::vector<Case>& cases) {
    qs::test::TempDir dir;
    const std::string ttf = dir.file("types.txt");
    {
        std::ofstream f(ttf);
        f << "attn_q=q8_0\nffn_up=q5_1   output=q6_K\n";
    }
    const std::string q8 = qs::test::dataPath("models/reference-quants/stories260K-Q8_0.gguf");
    // A split input (gguf-split's layout, 3 shards of F32 stories260K) for --keep-split.
    const std::string shards = dir.file("split.gguf");
    const auto made = qs::test::cli("quantize " + qs::test::dataPath("models/stories260K.gguf") +
                                    " -o " + shards + " --type F32 --split-max-tensors 20 -q");
    ASSERT_EQ(made.code, 0) << made.err;
    const std::string split1 = dir.file("split-00001-of-00003.gguf");
    int identical = 0, failedAlike = 0, n = 0;
    double theirSeconds = 0, ourSeconds = 0;  // whole runs (processes included)
    for (const auto& c : cases) {
        for (int front = 0; front < (c.cliToo ? 2 : 1); ++front) {
            const std::string tag = std::to_string(n++);
            const std::string a = dir.file("llama" + tag), b = dir.file("ours" + tag);
            fs::create_directories(a);
            fs::create_directories(b);
            fs::create_symlink(model, a + "/model.gguf");
            fs::create_symlink(model, b + "/model.gguf");
            auto line = [&](const std::string& d) {
                return substitute(c.args, {{"{in}", d + "/model.gguf"},
                                           {"{out}", d + "/out.gguf"},
                                           {"{im}", imatrix},
                                           {"{ttf}", ttf},
                                           {"{q8}", q8},
                                           {"{split}", split1}});
            };
            SCOPED_TRACE(c.args +
                         (front ? "  [quantscope-cli quantize]" : "  [quantscope-quantize]"));
            const auto t0 = std::chrono::steady_clock::now();
            const int theirs = oracle(split(line(a)), dir.file("log" + tag + ".txt"));
            const auto t1 = std::chrono::steady_clock::now();
            const auto ours =
                runOurs(front ? std::string(QS_CLI_PATH) + " quantize" : QS_QUANTIZE_PATH, line(b));
            theirSeconds += std::chrono::duration<double>(t1 - t0).count();
            ourSeconds +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
            EXPECT_EQ(theirs, c.expect) << "llama.cpp's status differs from the table";
            EXPECT_EQ(ours.code, theirs) << ours.err;
            const auto fa = filesIn(a), fb = filesIn(b);
            std::set<std::string> na, nb;
            for (const auto& [k, v] : fa) na.insert(k);
            for (const auto& [k, v] : fb) nb.insert(k);
            if (theirs == 0) {
                EXPECT_EQ(na, nb) << "files written differ";
                bool same = na == nb;
                for (const auto& [k, v] : fa) {
                    auto it = fb.find(k);
                    if (it == fb.end()) continue;
                    EXPECT_EQ(v.size(), it->second.size()) << k;
                    EXPECT_TRUE(v == it->second) << k << ": not byte-identical";
                    // QS_DEBUG_DIR=DIR keeps both files of a mismatch there, for inspect.
                    if (const char* keep = std::getenv("QS_DEBUG_DIR"); keep && v != it->second) {
                        std::error_code ec;
                        fs::copy_file(a + "/" + k, std::string(keep) + "/llama-" + tag + "-" + k,
                                      ec);
                        fs::copy_file(b + "/" + k, std::string(keep) + "/ours-" + tag + "-" + k,
                                      ec);
                    }
                    same &= v == it->second;
                }
                identical += same;
            } else {
                EXPECT_TRUE(nb.empty()) << "a failed run left " << *nb.begin();
                failedAlike += ours.code == theirs;
            }
        }
    }
    std::printf(
        "%s: %d command lines byte-identical, %d failing alike (exit 1), of %d; "
        "llama.cpp %.2f s, ours %.2f s in all\n",
        fs::path(model).filename().c_str(), identical, failedAlike, n, theirSeconds, ourSeconds);
}

std::string writeImatrix(const std::string& model, const std::string& path) {
    auto m = qs::model::openModel(model);
    EXPECT_TRUE(m.ok());
    auto im = qs::synth::synthImatrix(*m, 3);
    EXPECT_TRUE(im.ok());
    im->datasets = {"synthetic.txt"};
    im->chunkCount = 7;
    EXPECT_TRUE(qs::quant::saveImatrixGguf(*im, path).ok());
    return path;
}

TEST(LlamaQuantizeCompat, Stories260KCommandLinesMatchLlamaCpp) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so (npm package)";
    qs::test::TempDir dir;
    const std::string model = qs::test::dataPath("models/stories260K.gguf");
    const std::string im = writeImatrix(model, dir.file("imatrix.gguf"));
    const std::vector<Case> cases = {
        {"{in} {out} Q4_K_M", 0, true},
        {"{in} {out} q8_0 2", 0, true},
        {"{in} {out} 15", 0},      // numeric: Q4_K_M
        {"{in} Q5_K_M", 0, true},  // default output: ggml-model-Q5_K_M.gguf
        {"{in} 7 1", 0},           // numeric, default output ggml-model-Q8_0.gguf
        {"{in} q4_k", 0},          // alias: ggml-model-Q4_K.gguf
        {"--pure {in} {out} Q4_K_M", 0, true},
        {"--leave-output-tensor {in} {out} Q4_0", 0},
        {"--output-tensor-type q8_0 --token-embedding-type q4_0 {in} {out} Q4_K_S", 0},
        {"--tensor-type attn_v=q8_0 --tensor-type ffn_down=q5_0 {in} {out} Q4_K_M", 0, true},
        {"--tensor-type-file {ttf} {in} {out} Q3_K_M", 0},
        {"--imatrix {im} {in} {out} IQ4_XS", 0, true},
        {"--imatrix {im} --include-weights attn {in} {out} Q4_K_M", 0},
        {"--imatrix {im} --exclude-weights ffn --exclude-weights output {in} {out} Q5_K_S", 0},
        {"--imatrix {im} --include-weights attn --exclude-weights ffn {in} {out} Q4_K_M", 1},
        {"--override-kv general.name=str:renamed --override-kv llama.context_length=int:-256 "
         "--override-kv test.flag=bool:true --override-kv test.scale=float:0.5 {in} {out} Q8_0",
         0, true},
        {"--prune-layers 1,3 {in} {out} Q4_K_M", 0, true},
        {"--prune-layers 0 --imatrix {im} {in} {out} Q4_K_M", 0},
        {"--keep-split {in} {out} Q8_0", 0},             // out-00001-of-00001.gguf
        {"--keep-split {in} Q6_K", 0},                   // ggml-model-Q6_K-00001-of-00001.gguf
        {"--keep-split {split} {out} Q4_K_M", 0, true},  // out-0000{1,2,3}-of-00003.gguf
        {"{split} {out} Q5_0", 0},                       // a split input to one file
        {"--max-buffer-size 1 {in} {out} Q6_K", 0},
        {"--dry-run {in} Q4_K_M", 0},  // writes nothing
        {"{in} {out} COPY", 0},
        {"{in} {out} 0", 0},     // F32
        {"{q8} {out} Q4_0", 1},  // requantizing without the flag
        {"--allow-requantize {q8} {out} Q4_0", 0},
        {"{in} {out} IQ2_XXS", 0},  // 64-wide rows: IQ4_NL, no imatrix needed
        {"{in} {out} BOGUS", 1},
        {"{in} {out} Q4_0 threads", 1},
        {"--no-such-option {in} {out} Q4_0", 1},
        {"--output-tensor-type q9_9 {in} {out} Q4_0", 1},
        {"--tensor-type attn_v {in} {out} Q4_0", 1},
        {"--prune-layers x {in} {out} Q4_0", 1},
        {"--override-kv a=bad:1 {in} {out} Q4_0", 1},
        {"--max-buffer-size 0 {in} {out} Q4_0", 1},
        {"{in} {in} Q8_0", 1},  // output is the input
        {"{in}", 1},
        {"{in} {out}", 1},  // no type
    };
    runTable(model, im, cases);
}

TEST(LlamaQuantizeCompat, SynthTinyCommandLinesMatchLlamaCpp) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so (npm package)";
    qs::test::TempDir dir;
    const std::string model = dir.file("tiny.gguf");
    ASSERT_TRUE(qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 2}, model).ok());
    const std::string im = writeImatrix(model, dir.file("imatrix.gguf"));
    const std::vector<Case> cases = {
        {"{in} {out} Q4_K_M 2", 0, true},
        {"{in} 17", 0},  // Q5_K_M by number: ggml-model-Q5_K.gguf
        {"--pure --output-tensor-type q6_K {in} {out} Q3_K_S", 0},
        {"--imatrix {im} --tensor-type ffn=iq4_xs {in} {out} IQ3_M", 0, true},
        {"--prune-layers 1 --override-kv general.name=str:pruned {in} {out} Q4_0", 0, true},
        {"--leave-output-tensor --keep-split {in} {out} Q8_0", 0},
        {"{in} {out} IQ1_S", 1},  // needs an imatrix
        {"{in} {out} IQ2_XXS", 1},
    };
    runTable(model, im, cases);
}

/// The lines of llama.cpp's dry-run log that carry sizes: per tensor, and the totals.
std::vector<std::string> sizeLines(const std::string& log) {
    std::vector<std::string> out;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        if ((line.starts_with("[") && line.find(" - [") != std::string::npos) ||
            line.find("model size  =") != std::string::npos ||
            line.find("quant size  =") != std::string::npos) {
            out.push_back(line);
        }
    }
    return out;
}

TEST(LlamaQuantizeCompat, DryRunPrintsTheSizesLlamaCppPrints) {
    if (!haveLlama()) GTEST_SKIP() << "no " << libDir() << "libllama.v0.5.0.so (npm package)";
    qs::test::TempDir dir;
    const std::string model = qs::test::dataPath("models/stories260K.gguf");
    for (const std::string type : {"Q4_K_M", "Q8_0", "IQ2_XXS", "Q6_K"}) {
        SCOPED_TRACE(type);
        const std::string log = dir.file("dry-" + type + ".txt");
        ASSERT_EQ(oracle({"--dry-run", model, type}, log), 0);
        const auto ours = runOurs(QS_QUANTIZE_PATH, "--dry-run " + model + " " + type);
        ASSERT_EQ(ours.code, 0) << ours.err;
        std::ifstream f(log);
        const std::string theirLog((std::istreambuf_iterator<char>(f)),
                                   std::istreambuf_iterator<char>());
        const auto theirs = sizeLines(theirLog), mine = sizeLines(ours.err);
        ASSERT_EQ(theirs.size(), 48u + 2u) << theirLog;
        EXPECT_EQ(mine, theirs);
        // IQ2_XXS needs an imatrix: both say so, and succeed (a dry run).
        EXPECT_EQ(theirLog.find("will require an imatrix") != std::string::npos,
                  ours.err.find("will require an imatrix") != std::string::npos);
        EXPECT_NE(ours.err.find("quantscope: the file would be exactly"), std::string::npos);
    }
}

TEST(LlamaQuantizeCompat, HelpListsEveryOptionAndMeaninglessOnesAreSaid) {
    const auto help = runOurs(QS_QUANTIZE_PATH, "--help");
    EXPECT_EQ(help.code, 0);
    for (const char* o :
         {"--allow-requantize", "--leave-output-tensor", "--pure", "--imatrix", "--include-weights",
          "--exclude-weights", "--output-tensor-type", "--token-embedding-type", "--tensor-type",
          "--tensor-type-file", "--prune-layers", "--keep-split", "--override-kv", "--dry-run",
          "--max-buffer-size", "Q4_K_M", "COPY"}) {
        EXPECT_NE(help.out.find(o), std::string::npos) << o;
    }
    EXPECT_EQ(runOurs(QS_QUANTIZE_PATH, "").code, 1);  // no arguments: usage, exit 1
    // --max-buffer-size has no meaning here: accepted and said so.
    qs::test::TempDir dir;
    const auto r = runOurs(QS_QUANTIZE_PATH, "--max-buffer-size 64 " +
                                                 qs::test::dataPath("models/stories260K.gguf") +
                                                 " " + dir.file("o.gguf") + " Q8_0");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("--max-buffer-size has no effect"), std::string::npos) << r.err;
}

TEST(LlamaQuantizeCompat, RequantizeIsRefusedNamingTheTensorAndWarnedWhenAllowed) {
    // Issue 15: both front ends refuse to re-quantize a quantized file without the flag, naming
    // the first tensor as llama.cpp stops at it; with the flag the plan says what it does.
    qs::test::TempDir dir;
    const std::string q8 = qs::test::dataPath("models/reference-quants/stories260K-Q8_0.gguf");
    const auto a = runOurs(QS_QUANTIZE_PATH, q8 + " " + dir.file("a.gguf") + " Q4_0");
    EXPECT_EQ(a.code, 1);
    EXPECT_NE(a.err.find("requantizing from type q8_0 is disabled"), std::string::npos) << a.err;
    // output.weight stays q8_0 (Q4_0's Q6_K falls back to Q8_0 on 64-wide rows): the first
    // re-quantized tensor in llama.cpp's order is token_embd.weight.
    EXPECT_NE(a.err.find("tensor 'token_embd.weight'"), std::string::npos) << a.err;
    EXPECT_NE(a.err.find("--allow-requantize"), std::string::npos) << a.err;
    EXPECT_FALSE(fs::exists(dir.file("a.gguf")));
    const auto native =
        qs::test::cli("quantize " + q8 + " -o " + dir.file("b.gguf") + " --type Q4_0");
    EXPECT_EQ(native.code, 2) << native.err;  // the native form's code for a refused request
    EXPECT_NE(native.err.find("requantizing from type q8_0 is disabled"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir.file("b.gguf")));
    const auto allowed = qs::test::cli("quantize " + q8 + " -o " + dir.file("c.gguf") +
                                       " --type Q4_0 --allow-requantize -q");
    EXPECT_EQ(allowed.code, 0) << allowed.err;
    EXPECT_NE(allowed.err.find("warning: re-quantizes"), std::string::npos) << allowed.err;
    // Same type as stored: nothing is re-quantized, nothing refused.
    const auto same =
        qs::test::cli("quantize " + q8 + " -o " + dir.file("d.gguf") + " --type Q8_0 -q");
    EXPECT_EQ(same.code, 0) << same.err;
}

}  // namespace
