// Byte-level BPE (tokenizer.ggml.model = gpt2), as llama.cpp's llm_tokenizer_bpe runs it.
#include <cstdio>
#include <queue>

#include "eval/tokenizer.h"

namespace qs::eval {

namespace {

struct PreTokenizer {
    const char* name;
    unicode::Splitter splitter;
    bool ignoreMerges;
    bool addBos;  // llama.cpp's default before tokenizer.ggml.add_bos_token
};

// tokenizer.ggml.pre names llama.cpp maps to the pre-tokenizers implemented here
// (llama-vocab.cpp, llama_vocab::impl::load). The others use std::regex in llama.cpp and are
// refused here rather than approximated.
constexpr PreTokenizer kPreTokenizers[] = {
    {"llama3", unicode::Splitter::Llama3, true, true},
    {"llama-v3", unicode::Splitter::Llama3, true, true},
    {"llama-bpe", unicode::Splitter::Llama3, true, true},
    {"falcon3", unicode::Splitter::Llama3, true, true},
    {"falcon-h1", unicode::Splitter::Llama3, true, true},
    {"pixtral", unicode::Splitter::Llama3, true, true},
    {"midm-2.0", unicode::Splitter::Llama3, true, true},
    {"lfm2", unicode::Splitter::Llama3, true, true},
    {"qwen2", unicode::Splitter::Qwen2, false, false},
    {"deepseek-r1-qwen", unicode::Splitter::Qwen2, false, false},
    {"megrez", unicode::Splitter::Qwen2, false, false},
    {"stablelm2", unicode::Splitter::Qwen2, false, false},
    {"qwen35", unicode::Splitter::Qwen35, false, false},
    {"gpt-2", unicode::Splitter::Gpt2, false, false},
    {"phi-2", unicode::Splitter::Gpt2, false, false},
    {"olmo", unicode::Splitter::Gpt2, false, false},
    {"mpt", unicode::Splitter::Gpt2, false, false},
    {"jais", unicode::Splitter::Gpt2, false, false},
};

struct BpeBigram {
    int left = 0, right = 0;
    int32_t rank = 0;
    size_t size = 0;
};

// Lowest rank first; on ties the leftmost pair (llama.cpp's llm_bigram_bpe comparator).
struct BpeBigramAfter {
    bool operator()(const BpeBigram& a, const BpeBigram& b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

struct Symbol {
    int prev = -1, next = -1;
    size_t start = 0, len = 0;
};

}  // namespace

Status Tokenizer::initBpe(const std::vector<io::GgufKv>& kvs, const std::string& origin) {
    const io::GgufValue* pre = nullptr;
    const io::GgufValue* merges = nullptr;
    for (const io::GgufKv& kv : kvs) {
        if (kv.key == "tokenizer.ggml.pre") pre = &kv.value;
        if (kv.key == "tokenizer.ggml.merges") merges = &kv.value;
    }
    m_pre = pre && pre->isString() ? pre->str() : "default";
    m_addSpacePrefix = false;
    m_addBos = false;
    bool known = false;
    if (m_pre == "gemma4") {
        known = true;  // SentencePiece-style BPE: spaces as U+2581, split on newlines only
        m_addBos = true;
    }
    for (const PreTokenizer& p : kPreTokenizers) {
        if (m_pre == p.name) {
            m_splitter = p.splitter;
            m_ignoreMerges = p.ignoreMerges;
            m_addBos = p.addBos;
            known = true;
        }
    }
    if (!known) {
        std::string names = "gemma4";
        for (const PreTokenizer& p : kPreTokenizers) names += std::string(", ") + p.name;
        return makeError(ErrorCode::BadInput,
                         "BPE pre-tokenizer '" + m_pre +
                             "' (tokenizer.ggml.pre) is not supported yet (" + names + ")",
                         origin);
    }
    if (!merges || !merges->isArray() || merges->elemType() != io::GgufType::String) {
        return makeError(ErrorCode::BadInput,
                         "a gpt2 (BPE) tokenizer needs tokenizer.ggml.merges, an array of strings",
                         origin);
    }
    const std::vector<std::string>& list = merges->strings();
    m_mergeRanks.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
        // llama.cpp splits at the first space after the first byte; a merge without one can
        // never match (its pair is ("", "")).
        const size_t sp = list[i].size() > 1 ? list[i].find(' ', 1) : std::string::npos;
        m_mergeRanks.emplace(sp == std::string::npos ? std::string(" ") : list[i], int32_t(i));
    }
    return {};
}

void Tokenizer::encodeBpeWord(const std::string& word, std::vector<int32_t>& out) const {
    std::vector<Symbol> sym;
    const bool whole = (m_ignoreMerges ||
                        (m_pre == "gemma4" && word.find_first_not_of('\n') == std::string::npos)) &&
                       m_ids.count(word) != 0;
    if (whole) {
        sym.push_back({-1, -1, 0, word.size()});
    } else {
        for (size_t off = 0; off < word.size();) {
            Symbol s;
            s.start = off;
            s.len = std::min(unicode::utf8Len(static_cast<unsigned char>(word[off])),
                             word.size() - off);
            s.prev = int(sym.size()) - 1;
            s.next = off + s.len == word.size() ? -1 : int(sym.size()) + 1;
            off += s.len;
            sym.push_back(s);
        }
        std::priority_queue<BpeBigram, std::vector<BpeBigram>, BpeBigramAfter> queue;
        std::string key;
        auto tryAdd = [&](int left, int right) {
            if (left < 0 || right < 0) return;
            const Symbol& l = sym[size_t(left)];
            const Symbol& r = sym[size_t(right)];
            key.assign(word, l.start, l.len);
            key += ' ';
            key.append(word, r.start, r.len);
            auto it = m_mergeRanks.find(key);
            if (it == m_mergeRanks.end()) return;
            queue.push(BpeBigram{left, right, it->second, l.len + r.len});
        };
        for (int i = 1; i < int(sym.size()); ++i) tryAdd(i - 1, i);
        while (!queue.empty()) {
            const BpeBigram b = queue.top();
            queue.pop();
            Symbol& l = sym[size_t(b.left)];
            Symbol& r = sym[size_t(b.right)];
            // Stale: a side was merged away or grew (symbols only grow to the right, so the
            // size tells whether the pair is still the one queued).
            if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;
            l.len += r.len;
            r.len = 0;
            l.next = r.next;
            if (r.next >= 0) sym[size_t(r.next)].prev = b.left;
            tryAdd(l.prev, b.left);
            tryAdd(b.left, l.next);
        }
    }
    for (const Symbol& s : sym) {
        if (s.len == 0) continue;
        const std::string_view text = std::string_view(word).substr(s.start, s.len);
        if (const int32_t id = find(text); id >= 0) {
            out.push_back(id);
            continue;
        }
        // No such token: one token per byte where the vocabulary has one (llama.cpp drops the
        // others silently).
        for (unsigned char b : text) {
            int32_t id = -1;
            if (m_pre == "gemma4") {
                char name[8];
                std::snprintf(name, sizeof name, "<0x%02X>", unsigned(b));
                id = find(name);
            } else {
                id = find(std::string(1, char(b)));
            }
            if (id >= 0) out.push_back(id);
        }
    }
}

void Tokenizer::encodeBpe(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    if (m_pre == "gemma4") {
        // Spaces as U+2581, then words are runs of non-newlines and runs of newlines; the bytes
        // are used as they are (no GPT-2 byte mapping).
        std::string s;
        s.reserve(text.size() * 3);
        for (char c : text) {
            if (c == ' ') {
                s += "\xE2\x96\x81";
            } else {
                s += c;
            }
        }
        // llama.cpp decodes and re-encodes the text, so malformed UTF-8 becomes U+FFFD.
        const std::vector<uint32_t> cpts = unicode::decodeUtf8(s);
        std::string word;
        for (size_t i = 0; i < cpts.size();) {
            const bool nl = cpts[i] == '\n';
            word.clear();
            for (; i < cpts.size() && (cpts[i] == '\n') == nl; ++i)
                unicode::appendUtf8(word, cpts[i]);
            encodeBpeWord(word, out);
        }
        return;
    }
    const std::vector<uint32_t> cpts = unicode::decodeUtf8(text);
    const std::vector<size_t> lengths = unicode::split(m_splitter, cpts);
    size_t pos = 0;
    std::string utf8, word;
    for (size_t len : lengths) {
        utf8.clear();
        for (size_t i = pos; i < pos + len; ++i) unicode::appendUtf8(utf8, cpts[i]);
        pos += len;
        word.clear();
        for (unsigned char b : utf8) word += unicode::byteToUnicode(b);
        encodeBpeWord(word, out);
    }
}

}  // namespace qs::eval
