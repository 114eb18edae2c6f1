#include "eval/tokenizer.h"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <queue>
#include <sstream>

namespace qs::eval {

namespace {

int utf8Len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c >> 5) == 0x6) return 2;
    if ((c >> 4) == 0xE) return 3;
    if ((c >> 3) == 0x1E) return 4;
    return 1;  // a stray continuation byte stands alone, as in llama.cpp's utf8_len
}

struct Symbol {
    int prev = -1, next = -1;
    size_t start = 0, len = 0;
};

struct Bigram {
    int left = 0, right = 0;
    float score = 0;
    size_t size = 0;
};

// Highest score first; on ties the leftmost pair (llama.cpp's llm_bigram_spm comparator).
struct BigramLess {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

} // namespace

Result<Tokenizer> Tokenizer::fromModel(const model::Model& model) {
    const io::GgufValue* kind = model.find("tokenizer.ggml.model");
    const io::GgufValue* tokens = model.find("tokenizer.ggml.tokens");
    if (!kind || !kind->isString() || !tokens || !tokens->isArray() ||
        tokens->elemType() != io::GgufType::String) {
        return makeError(ErrorCode::BadInput,
                         "the model has no GGUF tokenizer (tokenizer.ggml.model/tokens); pass "
                         "token ids with --tokens instead",
                         model.path());
    }
    if (kind->str() != "llama") {
        return makeError(ErrorCode::BadInput,
                         "tokenizer model '" + kind->str() +
                             "' is not supported yet (only 'llama', SentencePiece-style); pass "
                             "token ids with --tokens instead",
                         model.path());
    }
    Tokenizer tk;
    tk.m_tokens = tokens->strings();
    tk.m_scores.assign(tk.m_tokens.size(), 0.0f);
    if (const io::GgufValue* s = model.find("tokenizer.ggml.scores");
        s && s->isArray() && s->size() == tk.m_tokens.size()) {
        for (size_t i = 0; i < tk.m_scores.size(); ++i) tk.m_scores[i] = float(s->numberAt(i));
    }
    for (size_t i = 0; i < tk.m_tokens.size(); ++i) tk.m_ids[tk.m_tokens[i]] = int32_t(i);
    auto id = [&](const char* key, int32_t dflt) {
        const io::GgufValue* v = model.find(key);
        if (!v || v->isArray()) return dflt;
        const auto x = v->asInt();
        return x && *x >= 0 && *x < int64_t(tk.m_tokens.size()) ? int32_t(*x) : dflt;
    };
    auto flag = [&](const char* key, bool dflt) {
        const io::GgufValue* v = model.find(key);
        if (!v || v->isArray()) return dflt;
        const auto x = v->asInt();
        return x ? *x != 0 : dflt;
    };
    tk.m_bos = id("tokenizer.ggml.bos_token_id", 1);
    tk.m_eos = id("tokenizer.ggml.eos_token_id", 2);
    tk.m_unk = id("tokenizer.ggml.unknown_token_id", 0);
    tk.m_addBos = flag("tokenizer.ggml.add_bos_token", true);
    tk.m_addSpacePrefix = flag("tokenizer.ggml.add_space_prefix", true);
    return tk;
}

void Tokenizer::resegment(const std::string& piece, std::vector<int32_t>& out) const {
    if (auto it = m_ids.find(piece); it != m_ids.end()) {
        out.push_back(it->second);
        return;
    }
    // Byte fallback: <0xXX> per byte, the unknown token where the vocabulary lacks one.
    for (unsigned char b : piece) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", unsigned(b));
        auto it = m_ids.find(name);
        out.push_back(it != m_ids.end() ? it->second : m_unk);
    }
}

std::vector<int32_t> Tokenizer::encode(std::string_view raw, bool addBos) const {
    std::vector<int32_t> out;
    if (addBos) out.push_back(m_bos);
    if (raw.empty()) return out;
    std::string text;
    text.reserve(raw.size() * 3 + 3);
    if (m_addSpacePrefix) text += "\xE2\x96\x81";
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
        s.len = std::min<size_t>(size_t(utf8Len(static_cast<unsigned char>(text[off]))),
                                 text.size() - off);
        s.prev = int(sym.size()) - 1;
        s.next = off + s.len == text.size() ? -1 : int(sym.size()) + 1;
        off += s.len;
        sym.push_back(s);
    }
    std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
    auto tryAdd = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const std::string_view piece(text.data() + sym[size_t(left)].start,
                                     sym[size_t(left)].len + sym[size_t(right)].len);
        auto it = m_ids.find(std::string(piece));
        if (it == m_ids.end()) return;
        queue.push(Bigram{left, right, m_scores[size_t(it->second)], piece.size()});
    };
    for (int i = 1; i < int(sym.size()); ++i) tryAdd(i - 1, i);
    while (!queue.empty()) {
        const Bigram b = queue.top();
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
        resegment(text.substr(sym[size_t(i)].start, sym[size_t(i)].len), out);
    }
    return out;
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
            return makeError(ErrorCode::BadInput, "a JSON token file needs an \"ids\" array",
                             path, first);
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
            return makeError(ErrorCode::BadInput,
                             std::string("not a token id: '") + char(c) + "'", path, i);
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

} // namespace qs::eval
