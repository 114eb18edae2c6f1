// Tokenizer units that need no Node.js: Unicode classes, the pre-tokenizer splitters, BPE and
// SentencePiece on hand-made vocabularies, user-defined tokens, and the tokenizer conversion's
// decisions and errors on hand-made model folders.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <tuple>

#include "convert/hf_tokenizer.h"
#include "eval/tokenizer.h"
#include "eval/unicode.h"
#include "test_util.h"

using namespace qs;
namespace uc = qs::eval::unicode;

namespace {

std::vector<std::string> words(uc::Splitter kind, const std::string& text) {
    const std::vector<uint32_t> cpts = uc::decodeUtf8(text);
    std::vector<std::string> out;
    size_t pos = 0;
    for (size_t len : uc::split(kind, cpts)) {
        std::string w;
        for (size_t i = pos; i < pos + len; ++i) uc::appendUtf8(w, cpts[i]);
        out.push_back(w);
        pos += len;
    }
    EXPECT_EQ(pos, cpts.size());
    return out;
}

using V = std::vector<std::string>;

// A byte-level BPE vocabulary over a few characters (Ġ is the space byte).
std::vector<io::GgufKv> tinyBpe(const std::string& pre, std::vector<std::string> tokens,
                                std::vector<std::string> merges, std::vector<int32_t> types = {}) {
    if (types.empty()) types.assign(tokens.size(), 1);
    return {
        {"tokenizer.ggml.model", io::GgufValue::string("gpt2")},
        {"tokenizer.ggml.pre", io::GgufValue::string(pre)},
        {"tokenizer.ggml.tokens", io::GgufValue::stringArray(std::move(tokens))},
        {"tokenizer.ggml.token_type", io::GgufValue::intArray(io::GgufType::Int32, types)},
        {"tokenizer.ggml.merges", io::GgufValue::stringArray(std::move(merges))},
    };
}

void writeText(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
}

const io::GgufValue* find(const convert::HfTokenizer& t, const std::string& key) {
    for (const io::GgufKv& kv : t.kvs) {
        if (kv.key == key) return &kv.value;
    }
    return nullptr;
}

// A serialized SentencePiece ModelProto with the given pieces (protobuf wire format).
std::string spmModel(const std::vector<std::tuple<std::string, float, int>>& pieces) {
    auto varint = [](std::string& s, uint64_t v) {
        while (v >= 0x80) {
            s += char(0x80 | (v & 0x7F));
            v >>= 7;
        }
        s += char(v);
    };
    std::string out;
    for (const auto& [text, score, type] : pieces) {
        std::string m;
        m += char(0x0A);
        varint(m, text.size());
        m += text;
        m += char(0x15);
        uint32_t bits;
        std::memcpy(&bits, &score, 4);
        for (int b = 0; b < 4; ++b) m += char(bits >> (8 * b));
        m += char(0x18);
        varint(m, uint64_t(type));
        out += char(0x0A);
        varint(out, m.size());
        out += m;
    }
    out += "\x12\x02\x08\x01";  // a trainer_spec field (2), skipped
    return out;
}

}  // namespace

TEST(Unicode, ClassesFromTheUnicodeCharacterDatabase) {
    EXPECT_TRUE(uc::flags('A') & uc::kLetter);
    EXPECT_TRUE(uc::flags('5') & uc::kNumber);
    EXPECT_EQ(uc::flags(' '), uc::kSeparator | uc::kWhitespace);
    EXPECT_EQ(uc::flags('\n'), uc::kControl | uc::kWhitespace);
    EXPECT_TRUE(uc::flags(0x3000) & uc::kWhitespace);  // ideographic space
    EXPECT_TRUE(uc::flags(0x0661) & uc::kNumber);      // Arabic-Indic one
    EXPECT_TRUE(uc::flags(0x0915) & uc::kLetter);      // Devanagari KA
    EXPECT_TRUE(uc::flags(0x093F) & uc::kMark);        // Devanagari vowel sign I
    EXPECT_TRUE(uc::flags(0x1F600) & uc::kSymbol);     // emoji
    EXPECT_TRUE(uc::flags(0x200D) & uc::kControl);     // ZWJ (Cf)
    EXPECT_EQ(uc::flags(0x0378), uc::kUndefined);      // unassigned
    EXPECT_TRUE(uc::flags(0x2EBF0) & uc::kLetter);     // CJK Extension I (Unicode 15.1)
    EXPECT_EQ(uc::flags(0x110000), uc::kUndefined);
    EXPECT_EQ(uc::toLower('L'), uint32_t('l'));
    EXPECT_EQ(uc::toLower(0x0130), 0x69u);    // İ
    EXPECT_EQ(uc::toLower(0x0416), 0x0436u);  // Ж
    EXPECT_EQ(uc::toLower('1'), uint32_t('1'));
}

TEST(Unicode, Utf8AsLlamaCppReadsIt) {
    EXPECT_EQ(uc::decodeUtf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
              (std::vector<uint32_t>{'a', 0xE9, 0x20AC, 0x1F600}));
    // A stray continuation byte and a truncated sequence: U+FFFD per byte skipped.
    EXPECT_EQ(uc::decodeUtf8("\x80x\xE2\x82"),
              (std::vector<uint32_t>{0xFFFD, 'x', 0xFFFD, 0xFFFD}));
    std::string s;
    uc::appendUtf8(s, 0x1F600);
    EXPECT_EQ(s, "\xF0\x9F\x98\x80");
    EXPECT_EQ(uc::byteToUnicode(' '), "\xC4\xA0");   // Ġ
    EXPECT_EQ(uc::byteToUnicode('\n'), "\xC4\x8A");  // Ċ
    EXPECT_EQ(uc::byteToUnicode('a'), "a");
    EXPECT_EQ(uc::byteToUnicode(0xE9), "\xC3\xA9");  // printable Latin-1 stands for itself
    EXPECT_EQ(uc::utf8Len(0xF0), 4u);
    EXPECT_EQ(uc::utf8Len(0x80), 1u);
}

TEST(Unicode, Llama3Splitter) {
    EXPECT_EQ(words(uc::Splitter::Llama3, "Hello world 1234567"),
              (V{"Hello", " world", " ", "123", "456", "7"}));
    EXPECT_EQ(words(uc::Splitter::Llama3, "I'LL DON'T we've"),
              (V{"I", "'LL", " DON", "'T", " we", "'ve"}));
    EXPECT_EQ(words(uc::Splitter::Llama3, "a  b\r\n\r\nc   "),
              (V{"a", " ", " b", "\r\n\r\n", "c", "   "}));
    EXPECT_EQ(words(uc::Splitter::Llama3, "x = (y)!\n\n"), (V{"x", " =", " (", "y", ")!\n\n"}));
    EXPECT_EQ(words(uc::Splitter::Llama3, "\t\tif"), (V{"\t", "\tif"}));
}

TEST(Unicode, Qwen2AndGpt2Splitters) {
    EXPECT_EQ(words(uc::Splitter::Qwen2, "v12 I'M"), (V{"v", "1", "2", " I", "'M"}));
    // GPT-2's contractions are case-sensitive and numbers keep their space.
    EXPECT_EQ(words(uc::Splitter::Gpt2, "I'M it's 42"), (V{"I", "'", "M", " it", "'s", " 42"}));
    // qwen35 keeps combining marks with the letters.
    EXPECT_EQ(words(uc::Splitter::Qwen35, "e\xCC\x81t\xC3\xA9"), (V{"e\xCC\x81t\xC3\xA9"}));
    EXPECT_EQ(words(uc::Splitter::Qwen2, "e\xCC\x81t"), (V{"e", "\xCC\x81t"}));
}

TEST(Tokenizer, BpeMergesByRankLeftmostFirst) {
    // Tokens: a b c Ġ ab bc abc Ġa aa. Merges: "a b" (0), "b c" (1), "ab c" (2), "Ġ a" (3), "a a"
    // (4).
    auto tk = eval::Tokenizer::fromKvs(tinyBpe("qwen2",
                                               {"a", "b", "c", "\xC4\xA0", "ab", "bc", "abc",
                                                "\xC4\xA0"
                                                "a",
                                                "aa"},
                                               {"a b", "b c", "ab c", "\xC4\xA0 a", "a a"}),
                                       "tiny");
    ASSERT_TRUE(tk.ok()) << tk.error().what();
    EXPECT_EQ(tk->model(), "gpt2");
    EXPECT_EQ(tk->pre(), "qwen2");
    EXPECT_EQ(tk->encode("abc", false), (std::vector<int32_t>{6}));      // a b -> ab, ab c -> abc
    EXPECT_EQ(tk->encode("bc a", false), (std::vector<int32_t>{5, 7}));  // bc, Ġa
    EXPECT_EQ(tk->encode("aaa", false), (std::vector<int32_t>{8, 0}));   // leftmost pair first
    // A byte without a token is dropped, as llama.cpp does.
    EXPECT_EQ(tk->encode("a\x01", false), (std::vector<int32_t>{0}));
    EXPECT_FALSE(tk->addBosDefault());
    EXPECT_EQ(tk->bos(), -1);  // llama.cpp's default BOS 11 is past this vocabulary
}

TEST(Tokenizer, IgnoreMergesKeepsWholeWordsForLlamaBpe) {
    // "abc" is a token but no merge leads to it: llama-bpe (ignore_merges) keeps it whole, qwen2
    // merges what it can.
    std::vector<std::string> toks = {"a", "b", "c", "ab", "abc"};
    auto llama = eval::Tokenizer::fromKvs(tinyBpe("llama-bpe", toks, {"a b"}), "tiny");
    auto qwen = eval::Tokenizer::fromKvs(tinyBpe("qwen2", toks, {"a b"}), "tiny");
    ASSERT_TRUE(llama.ok() && qwen.ok());
    EXPECT_EQ(llama->encode("abc", false), (std::vector<int32_t>{4}));
    EXPECT_EQ(qwen->encode("abc", false), (std::vector<int32_t>{3, 2}));
    EXPECT_TRUE(llama->addBosDefault());
}

TEST(Tokenizer, UserDefinedTokensAreCutOutControlTokensAreText) {
    // 0..3 bytes a < > Ġ, 4 "<a>" user-defined, 5 "<|c|>" control.
    std::vector<std::string> toks = {"a", "<", ">", "\xC4\xA0", "<a>", "<|c|>", "|"};
    auto tk = eval::Tokenizer::fromKvs(tinyBpe("qwen2", toks, {}, {1, 1, 1, 1, 4, 3, 1}), "tiny");
    ASSERT_TRUE(tk.ok());
    EXPECT_EQ(tk->encode("a<a>a", false), (std::vector<int32_t>{0, 4, 0}));
    EXPECT_EQ(tk->encode("<|c|>", false), (std::vector<int32_t>{1, 6, 6, 2}));  // no 'c': dropped
}

TEST(Tokenizer, SentencePieceWithAndWithoutSpacePrefix) {
    // ▁ a b ▁a ab ▁ab <0x21>; scores favour ab over ▁a.
    std::vector<std::string> toks = {"<unk>",
                                     "<s>",
                                     "</s>",
                                     "\xE2\x96\x81",
                                     "a",
                                     "b",
                                     "\xE2\x96\x81"
                                     "a",
                                     "ab",
                                     "\xE2\x96\x81"
                                     "ab",
                                     "<0x21>"};
    std::vector<float> scores = {0, 0, 0, -1, -2, -3, -5, -4, -6, 0};
    std::vector<io::GgufKv> kvs = {
        {"tokenizer.ggml.model", io::GgufValue::string("llama")},
        {"tokenizer.ggml.tokens", io::GgufValue::stringArray(toks)},
        {"tokenizer.ggml.scores", io::GgufValue::floatArray(scores)},
    };
    auto spm = eval::Tokenizer::fromKvs(kvs, "tiny");
    ASSERT_TRUE(spm.ok());
    // ▁ab: a+b (-4) first, then ▁+ab (-6).
    EXPECT_EQ(spm->encode("ab!", true), (std::vector<int32_t>{1, 8, 9}));
    kvs.push_back({"tokenizer.ggml.add_space_prefix", io::GgufValue::boolean(false)});
    auto gemma = eval::Tokenizer::fromKvs(kvs, "tiny");
    ASSERT_TRUE(gemma.ok());
    EXPECT_EQ(gemma->encode("ab a", false), (std::vector<int32_t>{7, 6}));
}

TEST(Tokenizer, UnsupportedModelsAndPreTokenizersAreNamed) {
    auto kvs = tinyBpe("tekken", {"a"}, {});
    auto r = eval::Tokenizer::fromKvs(kvs, "m.gguf");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("'tekken'"), std::string::npos) << r.error().what();
    kvs[0].value = io::GgufValue::string("bert");
    r = eval::Tokenizer::fromKvs(kvs, "m.gguf");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("'bert'"), std::string::npos);
    kvs = tinyBpe("llama-bpe", {"a"}, {});
    kvs.pop_back();  // no merges
    r = eval::Tokenizer::fromKvs(kvs, "m.gguf");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("merges"), std::string::npos);
}

TEST(HfTokenizer, NoFilesMeansNoVocabulary) {
    test::TempDir dir;
    auto r = convert::readHfTokenizer(dir.path().string(), "llama", 32);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->hasVocab);
    EXPECT_TRUE(r->kvs.empty());
    ASSERT_EQ(r->notes.size(), 1u);
    EXPECT_NE(r->notes[0].find("without a vocabulary"), std::string::npos);
}

TEST(HfTokenizer, BpeTokenTypesPaddingMergesAndSpecials) {
    test::TempDir dir;
    // Merges in the ["a", "b"] form, one part holding a space (written as U+0120).
    writeText(dir.file("tokenizer.json"), R"({
      "added_tokens": [
        {"id": 5, "content": "<s>", "special": true, "normalized": false},
        {"id": 6, "content": "<think>", "special": false, "normalized": false},
        {"id": 7, "content": "<|fim|>", "special": false, "normalized": false}],
      "normalizer": null,
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
      "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": []},
      "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3, "a b": 4},
                "merges": [["a", "b"], ["a", " b"]]}})");
    writeText(dir.file("tokenizer_config.json"),
              R"({"bos_token": "<s>", "eos_token": {"content": "<think>"},
      "add_eos_token": false, "chat_template": "{{ messages }}"})");
    auto r = convert::readHfTokenizer(dir.path().string(), "qwen3", 10);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_TRUE(r->hasVocab);
    EXPECT_EQ(r->model, "gpt2");
    EXPECT_EQ(r->pre, "qwen2");
    EXPECT_EQ(r->vocabSize, 10u);
    ASSERT_TRUE(find(*r, "tokenizer.ggml.tokens"));
    const auto& toks = find(*r, "tokenizer.ggml.tokens")->strings();
    EXPECT_EQ(toks[4], "a b");
    EXPECT_EQ(toks[8], "[PAD8]");
    const io::GgufValue* types = find(*r, "tokenizer.ggml.token_type");
    ASSERT_TRUE(types);
    EXPECT_EQ(types->intAt(0), 1);
    EXPECT_EQ(types->intAt(5), 3);  // special
    EXPECT_EQ(types->intAt(6), 4);  // not special: user-defined
    EXPECT_EQ(types->intAt(7), 3);  // <|...|> looks special
    EXPECT_EQ(types->intAt(9), 5);  // padding: unused
    const auto& merges = find(*r, "tokenizer.ggml.merges")->strings();
    EXPECT_EQ(merges, (std::vector<std::string>{"a b",
                                                "a \xC4\xA0"
                                                "b"}));
    ASSERT_TRUE(find(*r, "tokenizer.ggml.bos_token_id"));
    EXPECT_EQ(find(*r, "tokenizer.ggml.bos_token_id")->asInt(), 5);
    EXPECT_EQ(find(*r, "tokenizer.ggml.eos_token_id")->asInt(), 6);
    EXPECT_EQ(find(*r, "tokenizer.ggml.add_bos_token")->asInt(), 1);  // from the post-processor
    EXPECT_EQ(find(*r, "tokenizer.ggml.add_eos_token")->asInt(), 0);
    EXPECT_EQ(find(*r, "tokenizer.chat_template")->str(), "{{ messages }}");
    // The key order of llama.cpp's converter.
    std::vector<std::string> keys;
    for (const auto& kv : r->kvs) keys.push_back(kv.key);
    EXPECT_EQ(keys, (std::vector<std::string>{
                        "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                        "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                        "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                        "tokenizer.chat_template"}));
    // The same merges in the "a b" string form.
    writeText(dir.file("tokenizer.json"),
              R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
      "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})");
    r = convert::readHfTokenizer(dir.path().string(), "gpt2", 0);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->pre, "gpt-2");
    EXPECT_EQ(find(*r, "tokenizer.ggml.merges")->strings(), (std::vector<std::string>{"a b"}));
    EXPECT_EQ(r->vocabSize, 2u);
}

TEST(HfTokenizer, ChatTemplateJinjaWhenTheConfigHasNone) {
    test::TempDir dir;
    writeText(dir.file("tokenizer.json"),
              R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
      "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
    writeText(dir.file("tokenizer_config.json"), R"({"model_max_length": 8})");
    writeText(dir.file("chat_template.jinja"), "{% for m in messages %}{{ m }}{% endfor %}");
    auto r = convert::readHfTokenizer(dir.path().string(), "llama", 0);
    ASSERT_TRUE(r.ok()) << r.error().what();
    ASSERT_TRUE(find(*r, "tokenizer.chat_template"));
    EXPECT_EQ(find(*r, "tokenizer.chat_template")->str(),
              "{% for m in messages %}{{ m }}{% endfor %}");
}

TEST(HfTokenizer, ErrorsNameTheFileAndTheReason) {
    test::TempDir dir;
    writeText(dir.file("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {"a": 0,}}})");
    auto r = convert::readHfTokenizer(dir.path().string(), "llama", 0);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("tokenizer.json"), std::string::npos) << r.error().what();
    EXPECT_NE(r.error().what().find("JSON"), std::string::npos);
    // An unknown pre-tokenizer regex is named, never replaced by a default.
    writeText(dir.file("tokenizer.json"),
              R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\d+|\\w+"},
      "behavior": "Isolated", "invert": false}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
    r = convert::readHfTokenizer(dir.path().string(), "llama", 0);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("\\d+|\\w+"), std::string::npos) << r.error().what();
    EXPECT_NE(r.error().what().find("not recognised"), std::string::npos);
    // A vocabulary larger than the model's embedding.
    writeText(dir.file("tokenizer.json"),
              R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
      "model": {"type": "BPE", "vocab": {"a": 0, "b": 7}, "merges": []}})");
    r = convert::readHfTokenizer(dir.path().string(), "llama", 4);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("past the model's vocabulary size 4"), std::string::npos)
        << r.error().what();
    // Malformed merges.
    writeText(dir.file("tokenizer.json"),
              R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
      "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}})");
    r = convert::readHfTokenizer(dir.path().string(), "llama", 0);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("model.merges[0]"), std::string::npos) << r.error().what();
}

TEST(HfTokenizer, SentencePieceModel) {
    test::TempDir dir;
    writeText(dir.file("tokenizer.model"), spmModel({{"<unk>", 0.0f, 2},
                                                     {"<s>", 0.0f, 3},
                                                     {"</s>", 0.0f, 3},
                                                     {"<0x0A>", 0.0f, 6},
                                                     {"\xE2\x96\x81", -1.0f, 1},
                                                     {"a", -2.0f, 1},
                                                     {"\xE2\x96\x81"
                                                      "a",
                                                      -1.5f, 1},
                                                     {"<mask>", 0.0f, 4}}));
    writeText(dir.file("tokenizer_config.json"), R"({"added_tokens_decoder": {
        "7": {"content": "<mask>", "special": false}, "8": {"content": "<start_of_turn>", "special": true}}})");
    writeText(dir.file("config.json"), R"({"bos_token_id": 1, "eos_token_id": 2})");
    auto r = convert::readHfTokenizer(dir.path().string(), "gemma3", 10);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->model, "llama");
    const auto& toks = find(*r, "tokenizer.ggml.tokens")->strings();
    ASSERT_EQ(toks.size(), 10u);
    EXPECT_EQ(toks[6],
              "\xE2\x96\x81"
              "a");
    EXPECT_EQ(toks[8], "<start_of_turn>");
    EXPECT_EQ(toks[9], "[PAD9]");
    const io::GgufValue* types = find(*r, "tokenizer.ggml.token_type");
    EXPECT_EQ(types->intAt(0), 2);
    EXPECT_EQ(types->intAt(1), 3);
    EXPECT_EQ(types->intAt(3), 6);
    EXPECT_EQ(types->intAt(5), 1);
    EXPECT_EQ(types->intAt(7), 3);  // <mask> looks special
    EXPECT_EQ(types->intAt(8), 3);
    EXPECT_EQ(types->intAt(9), 5);
    const io::GgufValue* scores = find(*r, "tokenizer.ggml.scores");
    EXPECT_FLOAT_EQ(float(scores->numberAt(6)), -1.5f);
    EXPECT_FLOAT_EQ(float(scores->numberAt(8)), -1000.0f);
    EXPECT_FLOAT_EQ(float(scores->numberAt(9)), -10000.0f);
    EXPECT_EQ(find(*r, "tokenizer.ggml.bos_token_id")->asInt(), 1);  // from config.json
    ASSERT_TRUE(find(*r, "tokenizer.ggml.add_space_prefix"));        // gemma: no space prefix
    EXPECT_EQ(find(*r, "tokenizer.ggml.add_space_prefix")->asInt(), 0);
    auto tk = eval::Tokenizer::fromKvs(r->kvs, "converted");
    ASSERT_TRUE(tk.ok()) << tk.error().what();
    EXPECT_EQ(tk->encode("a a\n", true), (std::vector<int32_t>{1, 5, 6, 3}));
    // Truncated: the error names the file and an offset.
    std::string bytes = spmModel({{"<unk>", 0.0f, 2}, {"abc", -1.0f, 1}});
    writeText(dir.file("tokenizer.model"), bytes.substr(0, bytes.size() - 8));
    r = convert::readHfTokenizer(dir.path().string(), "llama", 0);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what().find("tokenizer.model"), std::string::npos) << r.error().what();
}

TEST(HfTokenizer, Phi3AddedTokensFollowOnlyTheSpecialFlag) {
    test::TempDir dir;
    writeText(dir.file("tokenizer.model"),
              spmModel({{"<unk>", 0.0f, 2}, {"<s>", 0.0f, 3}, {"a", -1.0f, 1}}));
    writeText(dir.file("tokenizer_config.json"), R"({"added_tokens_decoder": {
        "3": {"content": "<|user|>", "special": false}, "4": {"content": "<|end|>", "special": true}}})");
    auto phi = convert::readHfTokenizer(dir.path().string(), "phi3", 5);
    auto llama = convert::readHfTokenizer(dir.path().string(), "llama", 5);
    ASSERT_TRUE(phi.ok() && llama.ok());
    EXPECT_EQ(find(*phi, "tokenizer.ggml.token_type")->intAt(3), 4);    // user-defined
    EXPECT_EQ(find(*llama, "tokenizer.ggml.token_type")->intAt(3), 3);  // looks special: control
    EXPECT_EQ(find(*phi, "tokenizer.ggml.token_type")->intAt(4), 3);
}
