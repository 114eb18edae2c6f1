// Tokenizer conversion, following llama.cpp's convert_hf_to_gguf.py (conversion/base.py:
// _set_vocab_sentencepiece, _set_vocab_gpt2 / get_vocab_base, the gemma overrides) and gguf-py's
// SpecialVocab (vocab.py). The BPE pre-tokenizer is recognised from tokenizer.json's own
// pre_tokenizer (llama.cpp hashes a test tokenization instead; the regex is what decides).
#include "convert/hf_tokenizer.h"
#include "convert/hf_tokenizer_json.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace qs::convert {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;

namespace {

// llama.cpp token types (gguf TokenType): normal 1, unknown 2, control 3, user-defined 4, unused 5,
// byte 6.
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

// tokenizer.json read in one pass: model.vocab and model.merges (hundreds of thousands of
// entries) are taken out while parsing, as (token, id) pairs and "a b" strings, and never built
// as JSON nodes; the rest of the document is kept. This halves the time of a DOM parse (the
// 33 MB gemma 3 tokenizer.json).
struct TokenizerJson {
    json doc;
    std::vector<std::pair<std::string, int64_t>> vocab;
    std::vector<std::string> merges;
    bool hasVocab = false, hasMerges = false;
    std::string bad;  // the first malformed vocab or merges entry
};

Result<TokenizerJson> readTokenizerJson(const fs::path& p) {
    auto text = readFile(p);
    if (!text) return text.error();
    TokenizerJson tj;
    enum Role : uint8_t { kOther, kRoot, kModel, kVocab, kMerges, kMergePair };
    std::vector<Role> stack;
    std::vector<bool> isArray;
    std::string lastKey;
    auto cb = [&](int, json::parse_event_t ev, json& v) -> bool {
        using E = json::parse_event_t;
        switch (ev) {
        case E::key:
            lastKey = v.get<std::string>();
            // A vocabulary key is not stored (the value event still comes, and records it).
            return stack.empty() || stack.back() != kVocab;
        case E::object_start:
        case E::array_start: {
            Role r = kOther;
            if (stack.empty()) {
                r = kRoot;
            } else if (stack.back() == kRoot && !isArray.back() && lastKey == "model") {
                r = kModel;
            } else if (stack.back() == kModel && !isArray.back() && lastKey == "vocab" &&
                       ev == E::object_start) {
                r = kVocab;
                tj.hasVocab = true;
            } else if (stack.back() == kModel && !isArray.back() && lastKey == "merges" &&
                       ev == E::array_start) {
                r = kMerges;
                tj.hasMerges = true;
            } else if (stack.back() == kMerges) {
                r = kMergePair;
            }
            stack.push_back(r);
            isArray.push_back(ev == E::array_start);
            return true;
        }
        case E::object_end:
        case E::array_end: {
            const Role r = stack.empty() ? kOther : stack.back();
            if (!stack.empty()) {
                stack.pop_back();
                isArray.pop_back();
            }
            if (r != kMergePair) return true;
            if (v.is_array() && v.size() == 2 && v[0].is_string() && v[1].is_string()) {
                // ["a", "b"] (transformers >= 4.45): spaces inside a part written as U+0120, as
                // gguf-py does.
                std::string m = replaceAll(v[0].get<std::string>(), " ", "\xC4\xA0");
                m += ' ';
                m += replaceAll(v[1].get<std::string>(), " ", "\xC4\xA0");
                tj.merges.push_back(std::move(m));
            } else if (tj.bad.empty()) {
                tj.bad = "model.merges[" + std::to_string(tj.merges.size()) +
                         "] is neither \"a b\" nor [\"a\", \"b\"]";
            }
            return false;
        }
        case E::value:
            if (stack.empty()) return true;
            if (stack.back() == kVocab) {
                if (v.is_number_integer() && v.get<int64_t>() >= 0) {
                    tj.vocab.emplace_back(lastKey, v.get<int64_t>());
                } else if (tj.bad.empty()) {
                    tj.bad = "model.vocab['" + lastKey + "'] is not a token id";
                }
                return false;
            }
            if (stack.back() == kMerges) {
                if (v.is_string()) {
                    tj.merges.push_back(v.get<std::string>());
                } else if (tj.bad.empty()) {
                    tj.bad = "model.merges[" + std::to_string(tj.merges.size()) +
                             "] is neither \"a b\" nor [\"a\", \"b\"]";
                }
                return false;
            }
            return true;
        }
        return true;
    };
    try {
        tj.doc = json::parse(*text, cb);
    } catch (const json::parse_error& e) {
        return makeError(ErrorCode::BadInput, std::string("not valid JSON: ") + e.what(),
                         p.string(), e.byte > 0 ? e.byte - 1 : 0);
    }
    if (!tj.doc.is_object()) return makeError(ErrorCode::BadInput, "not a JSON object", p.string());
    if (!tj.bad.empty()) return makeError(ErrorCode::BadInput, tj.bad, p.string());
    return tj;
}

// The pre-tokenizer regexes of tokenizer.json that llama.cpp implements, and the
// tokenizer.ggml.pre name its converter writes for them (convert_hf_to_gguf_update.py models).
struct KnownPre {
    const char* regex;
    const char* name;
};
const KnownPre kKnownPres[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "llama-bpe"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "qwen2"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| "
     "?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "qwen35"},
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "gpt-2"},
    {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^"
     "\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{"
     "N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "tekken"},
    {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:"
     "'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}"
     "\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "gpt-4o"},
};

// SentencePiece-style BPE in a tokenizer.json: spaces replaced by U+2581 in the normalizer
// (without a prepended one) and no other splitting: llama.cpp's `gemma4` pre-tokenizer.
bool isSpmStyleBpe(const json& tj) {
    const json* model = member(tj, "model");
    if (!model || !model->is_object() || !model->value("byte_fallback", false)) return false;
    const json norm = tj.value("normalizer", json());
    if (!norm.is_object() || norm.value("type", "") != "Replace") return false;
    const json pat = norm.value("pattern", json::object());
    if (!pat.is_object() || pat.value("String", "") != " " ||
        norm.value("content", "") != "\xE2\x96\x81") {
        return false;
    }
    const json pre = tj.value("pre_tokenizer", json());
    if (pre.is_null()) return true;
    return pre.is_object() && pre.value("type", "") == "Split" &&
           pre.value("pattern", json::object()).value("String", "") == " ";
}

// A SentencePiece model exported to tokenizer.json (llama 2, mistral): byte fallback, and a
// normalizer that prepends U+2581 and replaces spaces by it; no pre-tokenizer.
bool isPrependedSpmBpe(const json& tj) {
    const json* model = member(tj, "model");
    if (!model || !model->is_object() || !model->value("byte_fallback", false)) return false;
    const json* norm = member(tj, "normalizer");
    const json* list = norm ? member(*norm, "normalizers") : nullptr;
    if (!list || !list->is_array() || list->size() != 2 ||
        !tj.value("pre_tokenizer", json()).is_null())
        return false;
    const json& a = (*list)[0];
    const json& b = (*list)[1];
    return a.is_object() && a.value("type", "") == "Prepend" &&
           a.value("prepend", "") == "\xE2\x96\x81" && b.is_object() &&
           b.value("type", "") == "Replace" && b.value("content", "") == "\xE2\x96\x81" &&
           b.value("pattern", json::object()).value("String", "") == " ";
}

// The tokenizer.ggml.pre name of a byte-level BPE tokenizer.json ("llama-spm": a SentencePiece
// model, written as tokenizer.ggml.model = llama).
Result<std::string> recognisePre(const json& tj, const std::string& file) {
    if (isSpmStyleBpe(tj)) return std::string("gemma4");
    if (isPrependedSpmBpe(tj)) return std::string("llama-spm");
    const json pre = tj.value("pre_tokenizer", json());
    std::vector<json> steps;
    if (pre.is_object() && pre.value("type", "") == "Sequence") {
        for (const json& p : pre.value("pretokenizers", json::array())) steps.push_back(p);
    } else if (!pre.is_null()) {
        steps.push_back(pre);
    }
    std::vector<std::string> regexes;
    std::string describe;
    for (const json& s : steps) {
        const std::string type = s.is_object() ? s.value("type", "") : "";
        describe += (describe.empty() ? "" : ", ") + type;
        if (type == "Split") {
            const json pat = s.value("pattern", json::object());
            if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string() &&
                s.value("behavior", "") == "Isolated" && !s.value("invert", false)) {
                regexes.push_back(pat["Regex"].get<std::string>());
            } else {
                regexes.push_back("<Split " + pat.dump() + " " + s.value("behavior", "") + ">");
            }
        } else if (type == "ByteLevel") {
            if (s.value("use_regex", true)) regexes.push_back(kKnownPres[3].regex);
        } else {
            regexes.push_back("<" + type + ">");
        }
    }
    if (regexes.size() == 1) {
        for (const KnownPre& k : kKnownPres) {
            if (regexes[0] == k.regex) return std::string(k.name);
        }
    }
    std::string all;
    for (const std::string& r : regexes) all += (all.empty() ? "" : " then ") + r;
    return makeError(ErrorCode::BadInput,
                     "BPE pre-tokenizer not recognised (" + (describe.empty() ? "none" : describe) +
                         "): " + (all.empty() ? "no split regex" : all) +
                         "; supported: llama-bpe, qwen2, qwen35, gpt-2, tekken, gpt-4o and "
                         "SentencePiece-style (gemma4) tokenizers",
                     file);
}

// _set_vocab_sentencepiece: pieces, scores and types from tokenizer.model, then
// added_tokens.json and tokenizer_config.json's added_tokens_decoder, padded to the model.
// phi3 (conversion/phi.py) differs: added tokens are control exactly when `special` (no
// look-special test, U+2581 kept), and tokenizer.json's added_tokens are applied the same way.
Status sentencePieceVocab(const fs::path& dir, int64_t vocabSize, bool phi3,
                          const std::optional<json>& tj, HfTokenizer& out) {
    const fs::path file = dir / "tokenizer.model";
    auto bytes = readFile(file);
    if (!bytes) return bytes.error();
    auto pieces = detail::parseSentencePieceModel(*bytes, file.string());
    if (!pieces) return pieces.error();
    const size_t n = vocabSize > 0 ? size_t(vocabSize) : pieces->size();
    std::vector<std::string> tokens(n);
    std::vector<float> scores(n, -10000.0f);
    std::vector<int32_t> types(n, kUnused);
    for (size_t i = 0; i < n; ++i) tokens[i] = "[PAD" + std::to_string(i) + "]";
    for (size_t i = 0; i < pieces->size() && i < n; ++i) {
        const detail::SpmPiece& p = (*pieces)[i];
        tokens[i] = p.piece;
        scores[i] = p.score;
        // sentencepiece's IsUnknown / IsControl / IsUnused / IsByte; anything else (user-defined
        // pieces included) is NORMAL.
        types[i] = p.type == 2 || p.type == 3 || p.type == 5 || p.type == 6 ? p.type : kNormal;
    }
    if (pieces->size() > n) {
        out.notes.push_back(file.string() + ": " + std::to_string(pieces->size() - n) +
                            " pieces past the model's vocabulary of " + std::to_string(n) +
                            " ignored");
    }
    if (fs::is_regular_file(dir / "added_tokens.json")) {
        auto j = readJson(dir / "added_tokens.json");
        if (!j) return j.error();
        if (j->is_object()) {
            for (auto it = j->begin(); it != j->end(); ++it) {
                if (!it.value().is_number_integer()) continue;
                const int64_t id = it.value().get<int64_t>();
                if (id < 0 || size_t(id) >= n) continue;
                tokens[size_t(id)] = it.key();
                scores[size_t(id)] = -1000.0f;
                types[size_t(id)] = kUserDefined;
            }
        }
    }
    if (fs::is_regular_file(dir / "tokenizer_config.json")) {
        auto j = readJson(dir / "tokenizer_config.json");
        if (!j) return j.error();
        const json dec =
            j->is_object() ? j->value("added_tokens_decoder", json::object()) : json::object();
        for (auto it = dec.begin(); dec.is_object() && it != dec.end(); ++it) {
            int64_t id = -1;
            try {
                id = std::stoll(it.key());
            } catch (...) {
                continue;
            }
            if (id < 0 || size_t(id) >= n || !it.value().is_object() ||
                !it.value().contains("content") || !it.value()["content"].is_string()) {
                continue;
            }
            std::string text = it.value()["content"].get<std::string>();
            if (it.value().value("special", false) || (!phi3 && looksSpecial(text))) {
                types[size_t(id)] = kControl;
            } else {
                if (!phi3) text = replaceAll(text, "\xE2\x96\x81", " ");
                types[size_t(id)] = kUserDefined;
            }
            scores[size_t(id)] = -1000.0f;
            tokens[size_t(id)] = text;
        }
    }
    if (phi3 && tj) {
        for (const Added& a : addedTokens(*tj)) {
            if (a.id < 0 || size_t(a.id) >= n) continue;
            tokens[size_t(a.id)] = a.content;
            scores[size_t(a.id)] = -1000.0f;
            types[size_t(a.id)] = a.special ? kControl : kUserDefined;
        }
    }
    out.model = "llama";
    out.pre = "default";
    out.source = file.string();
    out.vocabSize = n;
    out.kvs.push_back({"tokenizer.ggml.model", io::GgufValue::string("llama")});
    out.kvs.push_back({"tokenizer.ggml.pre", io::GgufValue::string("default")});
    out.kvs.push_back({"tokenizer.ggml.tokens", io::GgufValue::stringArray(std::move(tokens))});
    out.kvs.push_back({"tokenizer.ggml.scores", io::GgufValue::floatArray(scores)});
    out.kvs.push_back(
        {"tokenizer.ggml.token_type", io::GgufValue::intArray(io::GgufType::Int32, types)});
    return {};
}

// _set_vocab_gpt2 / get_vocab_base: the vocabulary and added tokens of tokenizer.json, padded to
// the model with [PADi] UNUSED tokens; then the merges.
Status bpeVocab(const fs::path& file, TokenizerJson& tjs, int64_t vocabSize, HfTokenizer& out) {
    const json& tj = tjs.doc;
    const json* modelp = member(tj, "model");
    if (!modelp || !modelp->is_object() || modelp->value("type", "") != "BPE") {
        return makeError(
            ErrorCode::BadInput,
            "tokenizer model '" +
                (modelp && modelp->is_object() ? modelp->value("type", "?") : std::string("?")) +
                "' is not supported (only BPE)",
            file.string());
    }
    auto pre = recognisePre(tj, file.string());
    if (!pre) return pre.error();
    if (!tjs.hasVocab)
        return makeError(ErrorCode::BadInput, "model.vocab is missing or not an object",
                         file.string());
    std::map<int64_t, std::string> byId;
    for (const auto& [text, id] : tjs.vocab) byId[id] = text;
    const std::vector<Added> added = addedTokens(tj);
    std::map<int64_t, const Added*> addedById;
    for (const Added& a : added) {
        byId[a.id] = a.content;
        addedById[a.id] = &a;
    }
    if (byId.empty()) return makeError(ErrorCode::BadInput, "empty vocabulary", file.string());
    const int64_t maxId = byId.rbegin()->first;
    if (vocabSize > 0 && maxId >= vocabSize) {
        return makeError(ErrorCode::BadInput,
                         "token id " + std::to_string(maxId) +
                             " is past the model's vocabulary size " + std::to_string(vocabSize),
                         file.string());
    }
    const size_t n = vocabSize > 0 ? size_t(vocabSize) : size_t(maxId + 1);
    std::vector<std::string> tokens(n);
    std::vector<int32_t> types(n, kNormal);
    for (size_t i = 0; i < n; ++i) {
        auto it = byId.find(int64_t(i));
        if (it == byId.end()) {
            tokens[i] = "[PAD" + std::to_string(i) + "]";
            types[i] = kUnused;
            continue;
        }
        tokens[i] = it->second;
        if (auto a = addedById.find(int64_t(i)); a != addedById.end()) {
            if (a->second->special || looksSpecial(tokens[i])) {
                types[i] = kControl;
            } else {
                tokens[i] = replaceAll(tokens[i], "\xE2\x96\x81", " ");
                types[i] = kUserDefined;
            }
        }
    }
    if (*pre == "gemma4" || *pre == "llama-spm") {
        // LlamaHfVocab's token types for a SentencePiece-style tokenizer.json: <0xXX> are BYTE.
        for (size_t i = 0; i < n; ++i) {
            const std::string& t = tokens[i];
            if (types[i] == kNormal && t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>' &&
                std::isxdigit(static_cast<unsigned char>(t[3])) &&
                std::isxdigit(static_cast<unsigned char>(t[4]))) {
                types[i] = kByte;
            }
        }
    }
    std::vector<std::string> merges = std::move(tjs.merges);
    if (*pre == "llama-spm") {
        // llama.cpp's converter (LlamaHfVocab) writes such a tokenizer as SentencePiece with every
        // score -1000, which makes llama.cpp merge leftmost-first instead of by rank: its ids then
        // differ from Hugging Face's. We give each piece minus the rank of the first merge that
        // forms it (the order SentencePiece's scores had), and -1e9 to pieces no merge forms, so
        // that llama.cpp's SentencePiece merging reproduces the BPE merges.
        std::unordered_map<std::string, float> rank;
        rank.reserve(merges.size());
        for (size_t i = 0; i < merges.size(); ++i) {
            const std::string& m = merges[i];
            const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (sp == std::string::npos) continue;
            rank.emplace(m.substr(0, sp) + m.substr(sp + 1), -float(i));
        }
        std::vector<float> scores(n, -1e9f);
        for (size_t i = 0; i < n; ++i) {
            if (types[i] != kNormal) {
                scores[i] = types[i] == kByte ? 0.0f : -1000.0f;
                continue;
            }
            if (auto it = rank.find(tokens[i]); it != rank.end()) scores[i] = it->second;
        }
        out.model = "llama";
        out.pre = "default";
        out.source = file.string();
        out.vocabSize = n;
        out.kvs.push_back({"tokenizer.ggml.model", io::GgufValue::string("llama")});
        out.kvs.push_back({"tokenizer.ggml.pre", io::GgufValue::string("default")});
        out.kvs.push_back({"tokenizer.ggml.tokens", io::GgufValue::stringArray(std::move(tokens))});
        out.kvs.push_back({"tokenizer.ggml.scores", io::GgufValue::floatArray(scores)});
        out.kvs.push_back(
            {"tokenizer.ggml.token_type", io::GgufValue::intArray(io::GgufType::Int32, types)});
        return {};
    }
    out.model = "gpt2";
    out.pre = *pre;
    out.source = file.string();
    out.vocabSize = n;
    out.kvs.push_back({"tokenizer.ggml.model", io::GgufValue::string("gpt2")});
    out.kvs.push_back({"tokenizer.ggml.pre", io::GgufValue::string(*pre)});
    out.kvs.push_back({"tokenizer.ggml.tokens", io::GgufValue::stringArray(std::move(tokens))});
    out.kvs.push_back(
        {"tokenizer.ggml.token_type", io::GgufValue::intArray(io::GgufType::Int32, types)});
    if (!merges.empty()) {
        out.kvs.push_back({"tokenizer.ggml.merges", io::GgufValue::stringArray(std::move(merges))});
    } else {
        out.notes.push_back(file.string() + ": no merges: the tokenizer may not work");
    }
    return {};
}

bool isGemma(const std::string& arch) {
    return arch == "gemma" || arch == "gemma2" || arch == "gemma3";
}

}  // namespace

Result<HfTokenizer> readHfTokenizer(const std::string& dirName, const std::string& arch,
                                    int64_t vocabSize) {
    const fs::path dir(dirName);
    HfTokenizer out;
    const bool hasModel = fs::is_regular_file(dir / "tokenizer.model");
    const bool hasJson = fs::is_regular_file(dir / "tokenizer.json");
    if (!hasModel && !hasJson) {
        out.notes.push_back(dirName +
                            ": no tokenizer.json or tokenizer.model: written without a vocabulary");
        return out;
    }
    std::optional<TokenizerJson> tjs;
    std::optional<json> tj;  // the document without its vocabulary and merges
    if (hasJson) {
        auto j = readTokenizerJson(dir / "tokenizer.json");
        if (!j) return j.error();
        tjs = std::move(*j);
        tj = std::move(tjs->doc);
        tjs->doc = *tj;  // small now: the big arrays were left out
    }
    // tokenizer_config.json's add_prefix_space (llama's set_vocab) comes first; phi-4 (phi3
    // with a GPT2Tokenizer) is BPE even beside a tokenizer.model.
    bool gpt2Class = false;
    if (!isGemma(arch) && fs::is_regular_file(dir / "tokenizer_config.json")) {
        auto cfg = readJson(dir / "tokenizer_config.json");
        if (!cfg) return cfg.error();
        if (arch == "llama" && cfg->is_object() && cfg->contains("add_prefix_space") &&
            (*cfg)["add_prefix_space"].is_boolean()) {
            out.kvs.push_back({"tokenizer.ggml.add_space_prefix",
                               io::GgufValue::boolean((*cfg)["add_prefix_space"].get<bool>())});
        }
        gpt2Class =
            cfg->is_object() && cfg->value("tokenizer_class", json()) == json("GPT2Tokenizer");
    }
    bool spm = false;
    if (hasModel && !(arch == "phi3" && gpt2Class && hasJson)) {
        if (Status st = sentencePieceVocab(dir, vocabSize, arch == "phi3", tj, out); !st)
            return st.error();
        spm = true;
    } else {
        if (Status st = bpeVocab(dir / "tokenizer.json", *tjs, vocabSize, out); !st)
            return st.error();
    }
    SpecialVocab special;
    if (Status st = special.load(
            dir, tj, out.model == "llama" ? std::optional<size_t>(out.vocabSize) : std::nullopt);
        !st) {
        return st.error();
    }
    special.write(out.kvs);
    if (out.pre == "gemma4" || (spm && isGemma(arch))) {
        out.kvs.push_back({"tokenizer.ggml.add_space_prefix", io::GgufValue::boolean(false)});
    }
    if (out.pre == "gemma4") {
        out.notes.push_back(
            (dir / "tokenizer.json").string() +
            ": SentencePiece-style BPE without tokenizer.model: written as llama.cpp's "
            "gemma4 BPE (spaces as U+2581, merges by rank)");
    }
    out.hasVocab = true;
    return out;
}

}  // namespace qs::convert
