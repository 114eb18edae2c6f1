#include "eval/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>

namespace qs::eval {

namespace {

// llama.cpp's token types (tokenizer.ggml.token_type).
constexpr int32_t kTypeControl = 3, kTypeUserDefined = 4;

struct Symbol {
    int prev = -1, next = -1;
    size_t start = 0, len = 0;
};

struct SpmBigram {
    int left = 0, right = 0;
    float score = 0;
    size_t size = 0;
};

// Highest score first; on ties the leftmost pair (llama.cpp's llm_bigram_spm comparator).
struct SpmBigramLess {
    bool operator()(const SpmBigram& a, const SpmBigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

bool asciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Token texts llama.cpp's vocabulary loader recognises as end-of-turn / FIM tokens when the
// matching tokenizer.ggml.*_token_id key is absent, and then forces to CONTROL (llama-vocab.cpp,
// "auto-detect special tokens by text"); a user-defined token so promoted is no longer cut out
// of plain text.
struct AutoDetect {
    const char* key;
    std::vector<std::string> texts;
};
const std::vector<AutoDetect>& autoDetected() {
    static const std::vector<AutoDetect> list = {
        {"tokenizer.ggml.eot_token_id",
         {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
          "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
          "<\xEF\xBD\x9C"
          "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
          "<end_of_utterance>"}},
        {"tokenizer.ggml.eom_token_id", {"<|eom_id|>"}},
        {"tokenizer.ggml.fim_pre_token_id",
         {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
          "<\xEF\xBD\x9C"
          "fim\xE2\x96\x81"
          "begin\xEF\xBD\x9C>",
          "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"}},
        {"tokenizer.ggml.fim_suf_token_id",
         {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
          "<\xEF\xBD\x9C"
          "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
          "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"}},
        {"tokenizer.ggml.fim_mid_token_id",
         {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
          "<\xEF\xBD\x9C"
          "fim\xE2\x96\x81"
          "end\xEF\xBD\x9C>",
          "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"}},
        {"tokenizer.ggml.fim_pad_token_id",
         {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
        {"tokenizer.ggml.fim_rep_token_id",
         {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
        {"tokenizer.ggml.fim_sep_token_id", {"<|file_sep|>"}},
    };
    return list;
}

}  // namespace

Result<Tokenizer> Tokenizer::fromModel(const model::Model& model) {
    return fromKvs(model.metadata(), model.path());
}

Result<Tokenizer> Tokenizer::fromKvs(const std::vector<io::GgufKv>& kvs,
                                     const std::string& origin) {
    std::map<std::string, const io::GgufValue*, std::less<>> kv;
    for (const io::GgufKv& p : kvs) kv.emplace(p.key, &p.value);
    auto get = [&](std::string_view key) -> const io::GgufValue* {
        auto it = kv.find(key);
        return it == kv.end() ? nullptr : it->second;
    };
    const io::GgufValue* kind = get("tokenizer.ggml.model");
    const io::GgufValue* tokens = get("tokenizer.ggml.tokens");
    if (!kind || !kind->isString() || !tokens || !tokens->isArray() ||
        tokens->elemType() != io::GgufType::String) {
        return makeError(ErrorCode::BadInput,
                         "the model has no GGUF tokenizer (tokenizer.ggml.model/tokens)", origin);
    }
    Tokenizer tk;
    tk.m_model = kind->str();
    if (tk.m_model == "llama") {
        tk.m_kind = Kind::Spm;
    } else if (tk.m_model == "gpt2") {
        tk.m_kind = Kind::Bpe;
    } else {
        return makeError(ErrorCode::BadInput,
                         "tokenizer model '" + tk.m_model +
                             "' is not supported yet (supported: 'llama' SentencePiece, 'gpt2' "
                             "byte-level BPE)",
                         origin);
    }
    tk.m_tokens = tokens->strings();
    const size_t n = tk.m_tokens.size();
    tk.m_scores.assign(n, 0.0f);
    if (const io::GgufValue* s = get("tokenizer.ggml.scores");
        s && s->isArray() && s->size() >= n) {
        for (size_t i = 0; i < n; ++i) tk.m_scores[i] = float(s->numberAt(i));
    }
    std::vector<int32_t> types(n, 1);
    if (const io::GgufValue* t = get("tokenizer.ggml.token_type");
        t && t->isArray() && t->size() >= n) {
        for (size_t i = 0; i < n; ++i) types[i] = int32_t(t->intAt(i));
    }
    tk.m_ids.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        // llama.cpp renames an empty token so that it can never match.
        if (tk.m_tokens[i].empty()) tk.m_tokens[i] = "[EMPTY_" + std::to_string(i) + "]";
        tk.m_ids[tk.m_tokens[i]] = int32_t(i);  // a later duplicate wins, as in llama.cpp
    }
    auto id = [&](const char* key, int32_t dflt) {
        if (dflt >= int32_t(n)) dflt = -1;
        const io::GgufValue* v = get(key);
        if (!v || v->isArray()) return dflt;
        const auto x = v->asInt();
        return x && *x >= 0 && *x < int64_t(n) ? int32_t(*x) : dflt;
    };
    auto flag = [&](const char* key, bool dflt) {
        const io::GgufValue* v = get(key);
        if (!v || v->isArray()) return dflt;
        const auto x = v->asInt();
        return x ? *x != 0 : dflt;
    };
    if (tk.m_kind == Kind::Spm) {
        tk.m_bos = id("tokenizer.ggml.bos_token_id", 1);
        tk.m_eos = id("tokenizer.ggml.eos_token_id", 2);
        tk.m_unk = id("tokenizer.ggml.unknown_token_id", 0);
        tk.m_addBos = true;
        tk.m_addSpacePrefix = true;
    } else {
        if (Status st = tk.initBpe(kvs, origin); !st) return st.error();
        tk.m_bos = id("tokenizer.ggml.bos_token_id", 11);
        tk.m_eos = id("tokenizer.ggml.eos_token_id", 11);
        tk.m_unk = id("tokenizer.ggml.unknown_token_id", -1);
    }
    tk.m_addSpacePrefix = flag("tokenizer.ggml.add_space_prefix", tk.m_addSpacePrefix);
    tk.m_addBos = flag("tokenizer.ggml.add_bos_token", tk.m_addBos);
    tk.m_addEos = flag("tokenizer.ggml.add_eos_token", tk.m_addEos);
    if (tk.m_pre == "gemma4") tk.m_addBos = true;  // llama.cpp's override for this pre-tokenizer

    // The special-token cache, as llama.cpp builds it; without parse_special only the
    // user-defined tokens among it are cut out of the text.
    for (const AutoDetect& a : autoDetected()) {
        if (get(a.key)) continue;
        for (const std::string& text : a.texts) {
            if (auto it = tk.m_ids.find(text); it != tk.m_ids.end())
                types[size_t(it->second)] = kTypeControl;
        }
    }
    // End-of-generation tokens recognised by text are forced to CONTROL too.
    auto has = [&](const char* text) { return tk.m_ids.count(text) != 0; };
    auto setType = [&](const char* text, int32_t type) {
        if (auto it = tk.m_ids.find(text); it != tk.m_ids.end()) types[size_t(it->second)] = type;
    };
    for (const char* text : {"<|eot_id|>",
                             "<|im_end|>",
                             "<|end|>",
                             "<|return|>",
                             "<|call|>",
                             "<|flush|>",
                             "<|calls|>",
                             "<end_of_turn>",
                             "<|endoftext|>",
                             "</s>",
                             "<|eom_id|>",
                             "<EOT>",
                             "_<EOT>",
                             "[EOT]",
                             "[EOS]",
                             "<|end_of_text|>",
                             "<end_of_utterance>",
                             "<eos>",
                             "<turn|>",
                             "<|tool_response>",
                             "<\xEF\xBD\x9C"
                             "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                             "[e~["}) {
        setType(text, kTypeControl);
    }
    for (const char* text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        setType(text, kTypeUserDefined);
    }
    // o200k_harmony / solar-open: <|end|> is not end-of-generation but user-defined.
    if (has("<|end|>") && ((has("<|return|>") && has("<|call|>")) ||
                           ((has("<|call|>") || has("<|calls|>")) && has("<|flush|>")))) {
        setType("<|end|>", kTypeUserDefined);
    }
    // gemma4 / paddleocr: </s> is a normal token where <|tool_response> exists.
    if (has("<|tool_response>") && has("</s>")) setType("</s>", 1);
    // Phi-3: every special token strips the spaces after it (llama.cpp keys this on general.name).
    std::string name;
    if (const io::GgufValue* v = get("general.name"); v && v->isString()) name = v->str();
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return char(std::tolower(uint8_t(c))); });
    const bool phi3 =
        name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos;
    for (size_t i = 0; i < n; ++i) {
        if (types[i] != kTypeUserDefined) continue;
        const std::string& t = tk.m_tokens[i];
        const bool rstrip = phi3 && t != "<unk>" && t != "<s>" && t != "<|endoftext|>";
        tk.m_specials.push_back({int32_t(i), false, rstrip});
    }
    std::stable_sort(tk.m_specials.begin(), tk.m_specials.end(),
                     [&](const Special& a, const Special& b) {
                         return tk.m_tokens[size_t(a.id)].size() > tk.m_tokens[size_t(b.id)].size();
                     });
    return tk;
}

int32_t Tokenizer::find(std::string_view text) const {
    auto it = m_ids.find(std::string(text));
    return it == m_ids.end() ? -1 : it->second;
}

// llama.cpp's tokenizer_st_partition without parse_special: each user-defined token, longest
// first, is cut out of every remaining text fragment (leftmost occurrences first), with the
// spaces beside it stripped where the token says so.
std::vector<Tokenizer::Fragment> Tokenizer::partition(std::string_view text) const {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({0, text.size(), -1});
    for (const Special& sp : m_specials) {
        const std::string& tok = m_tokens[size_t(sp.id)];
        std::vector<Fragment> next;
        next.reserve(frags.size());
        bool any = false;
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t off = f.offset, len = f.length;
            while (true) {
                const size_t match = text.substr(0, off + len).find(tok, off);
                if (match == std::string_view::npos) {
                    if (len > 0) next.push_back({off, len, -1});
                    break;
                }
                any = true;
                size_t leftLen = match - off;
                if (sp.lstrip) {
                    while (leftLen > 0 && asciiSpace(text[off + leftLen - 1])) --leftLen;
                }
                if (leftLen > 0) next.push_back({off, leftLen, -1});
                next.push_back({0, 0, sp.id});
                size_t rOff = match + tok.size();
                size_t rLen = off + len - rOff;
                if (sp.rstrip) {
                    while (rLen > 0 && asciiSpace(text[rOff])) {
                        ++rOff;
                        --rLen;
                    }
                }
                off = rOff;
                len = rLen;
                if (len == 0) break;
            }
        }
        if (any) frags = std::move(next);
    }
    return frags;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addBos) const {
    std::vector<int32_t> out;
    if (addBos && m_bos >= 0) out.push_back(m_bos);
    const std::vector<Fragment> frags = partition(text);
    bool prevSpecial = true;  // SPM: a space prefix before the first text and after each token
    for (const Fragment& f : frags) {
        if (f.token >= 0) {
            out.push_back(f.token);
            prevSpecial = true;
            continue;
        }
        const std::string_view piece = text.substr(f.offset, f.length);
        if (m_kind == Kind::Spm) {
            std::string s;
            s.reserve(piece.size() * 3 + 3);
            if (m_addSpacePrefix && prevSpecial) s += ' ';
            s += piece;
            encodeSpm(s, out);
        } else {
            encodeBpe(piece, out);
        }
        prevSpecial = false;
    }
    if (addBos && m_addEos && m_eos >= 0) out.push_back(m_eos);
    return out;
}

void Tokenizer::resegmentSpm(std::string_view piece, std::vector<int32_t>& out) const {
    if (const int32_t id = find(piece); id >= 0) {
        out.push_back(id);
        return;
    }
    // Byte fallback: <0xXX> per byte, else the byte itself, else the unknown token.
    for (unsigned char b : piece) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", unsigned(b));
        int32_t id = find(name);
        if (id < 0) id = find(std::string(1, char(b)));
        out.push_back(id >= 0 ? id : m_unk);
    }
}

void Tokenizer::encodeSpm(std::string_view raw, std::vector<int32_t>& out) const {
    if (raw.empty()) return;
    std::string text;
    text.reserve(raw.size() * 3);
    for (char ch : raw) {
        if (ch == ' ') {
            text += "\xE2\x96\x81";
        } else {
            text += ch;
        }
    }
    std::vector<Symbol> sym;
    for (size_t off = 0; off < text.size();) {
        Symbol s;
        s.start = off;
        s.len =
            std::min(unicode::utf8Len(static_cast<unsigned char>(text[off])), text.size() - off);
        s.prev = int(sym.size()) - 1;
        s.next = off + s.len == text.size() ? -1 : int(sym.size()) + 1;
        off += s.len;
        sym.push_back(s);
    }
    std::priority_queue<SpmBigram, std::vector<SpmBigram>, SpmBigramLess> queue;
    auto tryAdd = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const std::string_view piece(text.data() + sym[size_t(left)].start,
                                     sym[size_t(left)].len + sym[size_t(right)].len);
        const int32_t id = find(piece);
        if (id < 0) return;
        queue.push(SpmBigram{left, right, m_scores[size_t(id)], piece.size()});
    };
    for (int i = 1; i < int(sym.size()); ++i) tryAdd(i - 1, i);
    while (!queue.empty()) {
        const SpmBigram b = queue.top();
        queue.pop();
        Symbol& l = sym[size_t(b.left)];
        Symbol& r = sym[size_t(b.right)];
        // Stale: one side was merged away or grew since the pair was queued.
        if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) sym[size_t(r.next)].prev = b.left;
        tryAdd(l.prev, b.left);
        tryAdd(b.left, l.next);
    }
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[size_t(i)].next) {
        resegmentSpm(std::string_view(text).substr(sym[size_t(i)].start, sym[size_t(i)].len), out);
    }
}

Result<std::vector<int32_t>> readTokenFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return makeError(ErrorCode::IoError, "cannot open token file", path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    // A JSON object with an "ids" array (what tests/js/tokenize.mjs prints): use that array.
    const size_t first = s.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && s[first] == '{') {
        const size_t key = s.find("\"ids\"");
        const size_t open = key == std::string::npos ? key : s.find('[', key);
        const size_t close = open == std::string::npos ? open : s.find(']', open);
        if (close == std::string::npos) {
            return makeError(ErrorCode::BadInput, "a JSON token file needs an \"ids\" array", path,
                             first);
        }
        s = std::string(open, ' ') + s.substr(open, close - open + 1);  // keep byte offsets
    }
    std::vector<int32_t> ids;
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (std::isspace(c) || c == ',' || c == '[' || c == ']') {
            ++i;
            continue;
        }
        if (!std::isdigit(c)) {
            return makeError(ErrorCode::BadInput, std::string("not a token id: '") + char(c) + "'",
                             path, i);
        }
        int64_t v = 0;
        const size_t at = i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            v = v * 10 + (s[i] - '0');
            if (v > INT32_MAX) {
                return makeError(ErrorCode::BadInput, "token id too large", path, at);
            }
            ++i;
        }
        ids.push_back(int32_t(v));
    }
    if (ids.empty()) return makeError(ErrorCode::BadInput, "the token file holds no ids", path);
    return ids;
}

}  // namespace qs::eval
