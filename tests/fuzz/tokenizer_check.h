#pragma once
// The tokenizer fuzz check, shared by tests/fuzz/fuzz_tokenizer.cpp (libFuzzer) and the
// FuzzRegression test that replays tests/fuzz/corpus/tokenizer: the first byte picks a hand-made
// vocabulary (byte-level BPE with the llama-bpe, qwen2, qwen35, gpt-2 or gemma4 pre-tokenizer, or
// SentencePiece with and without the space prefix) or the tokenizer.model reader; the rest is the
// text (or the model bytes). Every id must be a token of the vocabulary, and where every byte has a
// token the ids must spell the text back exactly (after llama.cpp's replacement of malformed UTF-8
// by U+FFFD on the BPE paths): nothing is lost, duplicated or reordered. The reader must give
// pieces or a clean error pointing inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "convert/hf_tokenizer.h"
#include "eval/tokenizer.h"
#include "eval/unicode.h"

namespace qs_fuzz_tokenizer {

using qs::eval::Tokenizer;
namespace uc = qs::eval::unicode;

constexpr int32_t kUserDefined = 4, kControl = 3;

// Byte-level BPE: the 256 byte characters, a few merges, a user-defined and a control token.
inline Tokenizer bpe(const char* pre, bool gemma4) {
    std::vector<std::string> toks;
    std::vector<int32_t> types;
    for (int b = 0; b < 256; ++b) {
        if (gemma4) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            toks.push_back(name);
        } else {
            toks.push_back(uc::byteToUnicode(uint8_t(b)));
        }
        types.push_back(1);
    }
    const std::string sp = gemma4 ? "\xE2\x96\x81" : "\xC4\xA0";
    std::vector<std::string> merges;
    auto merge = [&](const std::string& a, const std::string& b) {
        merges.push_back(a + " " + b);
        toks.push_back(a + b);
        types.push_back(1);
    };
    if (gemma4) {
        toks.push_back(sp);  // the escaped space itself
        types.push_back(1);
        for (char c = 'a'; c <= 'z'; ++c) {
            toks.push_back(std::string(1, c));
            types.push_back(1);
        }
    }
    merge(sp, "t");
    merge("t", "h");
    merge(sp + "t", "h");
    merge(sp + "th", "e");
    merge("a", "a");
    merge("aa", "a");
    merge(sp, sp);
    merge("1", "2");
    toks.push_back("<u>");
    types.push_back(kUserDefined);
    toks.push_back("<|c|>");
    types.push_back(kControl);
    std::vector<qs::io::GgufKv> kvs = {
        {"tokenizer.ggml.model", qs::io::GgufValue::string("gpt2")},
        {"tokenizer.ggml.pre", qs::io::GgufValue::string(pre)},
        {"tokenizer.ggml.tokens", qs::io::GgufValue::stringArray(toks)},
        {"tokenizer.ggml.token_type", qs::io::GgufValue::intArray(qs::io::GgufType::Int32, types)},
        {"tokenizer.ggml.merges", qs::io::GgufValue::stringArray(merges)},
    };
    auto r = Tokenizer::fromKvs(kvs, "fuzz");
    if (!r.ok()) std::abort();
    return std::move(*r);
}

// SentencePiece: <0xXX> byte tokens, ▁, letters and a few scored merges.
inline Tokenizer spm(bool spacePrefix) {
    std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
    std::vector<float> scores = {0, 0, 0};
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        toks.push_back(name);
        scores.push_back(0);
    }
    for (const char* t : {"\xE2\x96\x81", "a", "b", "t", "h", "e", "\xE2\x96\x81t", "th",
                          "\xE2\x96\x81th", "the", "\xE2\x96\x81the", "ab", "aa"}) {
        toks.push_back(t);
        scores.push_back(-float(toks.size()));
    }
    std::vector<qs::io::GgufKv> kvs = {
        {"tokenizer.ggml.model", qs::io::GgufValue::string("llama")},
        {"tokenizer.ggml.tokens", qs::io::GgufValue::stringArray(toks)},
        {"tokenizer.ggml.scores", qs::io::GgufValue::floatArray(scores)},
        {"tokenizer.ggml.add_space_prefix", qs::io::GgufValue::boolean(spacePrefix)},
    };
    auto r = Tokenizer::fromKvs(kvs, "fuzz");
    if (!r.ok()) std::abort();
    return std::move(*r);
}

// The bytes a token stands for.
inline std::string bytesOf(const Tokenizer& tk, int32_t id, bool byteLevel) {
    const std::string& p = tk.piece(id);
    if (p.size() == 6 && p.rfind("<0x", 0) == 0 && p[5] == '>') {
        return std::string(1, char(std::stoi(p.substr(3, 2), nullptr, 16)));
    }
    if (!byteLevel) return p;
    static const std::unordered_map<std::string, char> rev = [] {
        std::unordered_map<std::string, char> m;
        for (int b = 0; b < 256; ++b) m[uc::byteToUnicode(uint8_t(b))] = char(b);
        return m;
    }();
    std::string out;
    for (size_t i = 0; i < p.size();) {
        const size_t n = uc::utf8Len(uint8_t(p[i]));
        auto it = rev.find(p.substr(i, n));
        if (it == rev.end()) return p;  // <u>, <|c|>
        out += it->second;
        i += n;
    }
    return out;
}

inline std::string replaceMalformed(const std::string& s) {
    std::string out;
    for (uint32_t c : uc::decodeUtf8(s)) uc::appendUtf8(out, c);
    return out;
}

/// Empty when the input passes every check, else what failed.
inline std::string check(const uint8_t* data, size_t size) {
    if (size == 0) return {};
    static const Tokenizer tokenizers[] = {bpe("llama-bpe", false),
                                           bpe("qwen2", false),
                                           bpe("qwen35", false),
                                           bpe("gpt-2", false),
                                           bpe("gemma4", true),
                                           spm(true),
                                           spm(false)};
    const unsigned pick = data[0] % 8;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (pick == 7) {
        auto r = qs::convert::detail::parseSentencePieceModel(text, "fuzz.model");
        if (!r.ok()) {
            if (r.error().message.empty() || r.error().file != "fuzz.model")
                return "error without message or file";
            if (r.error().offset != qs::kNoOffset && r.error().offset > text.size())
                return "error offset past the input";
        } else if (r->empty()) {
            return "no pieces and no error";
        }
        return {};
    }
    const Tokenizer& tk = tokenizers[pick];
    const std::vector<int32_t> ids = tk.encode(text, true);
    if (ids.empty() || ids[0] != tk.bos()) return "no BOS first";
    std::string back;
    for (size_t i = 1; i < ids.size(); ++i) {
        if (ids[i] < 0 || size_t(ids[i]) >= tk.size()) return "id out of range";
        back += bytesOf(tk, ids[i], pick <= 3);
    }
    std::string expect;
    if (pick <= 3) {
        expect = replaceMalformed(text);
    } else if (pick == 4) {
        // Spaces are escaped before the text is decoded (as llama.cpp does): an overlong space
        // (C0 A0) decodes to a plain one afterwards and stays one.
        std::string escaped;
        for (char c : text) {
            if (c == ' ') {
                escaped += "\xE2\x96\x81";
            } else {
                escaped += c;
            }
        }
        expect = replaceMalformed(escaped);
    } else {
        // SentencePiece keeps the bytes (byte fallback), spaces as U+2581, with a leading one.
        expect = pick == 5 && !text.empty() ? "\xE2\x96\x81" : "";
        for (char c : text) {
            if (c == ' ') {
                expect += "\xE2\x96\x81";
            } else {
                expect += c;
            }
        }
    }
    // User-defined "<u>" is cut out of the text before anything else, so it spells itself.
    if (back != expect)
        return "the ids do not spell the text (vocabulary " + std::to_string(pick) + ")";
    return {};
}

}  // namespace qs_fuzz_tokenizer
