#pragma once
// The GGUF tokenizers, giving llama.cpp's token ids (llama_tokenize with add_special and without
// parse_special, as llama-perplexity calls it):
//  * `llama`: SentencePiece-style (llama.cpp's llm_tokenizer_spm): a leading space when
//    tokenizer.ggml.add_space_prefix (default true; gemma's converter writes false) and after each
//    special token, spaces as U+2581, characters merged pairwise by the highest score (leftmost
//    first on ties), and a piece that is no token spelled as <0xXX> byte tokens.
//  * `gpt2`: byte-level BPE (llm_tokenizer_bpe): the text split into words by the pre-tokenizer
//    tokenizer.ggml.pre names (see unicode.h for the supported ones), each word's bytes mapped
//    to GPT-2's byte characters and merged by merge rank (lowest first, leftmost on ties), a word
//    that is itself a token kept whole where llama.cpp sets ignore_merges (llama-bpe, tekken).
// Before either, user-defined tokens (token type USER_DEFINED) are cut out of the text and
// emitted as themselves, as llama.cpp does even without parse_special; control-token text is
// tokenized as plain text. Other tokenizer models and pre-tokenizers are refused with an error
// naming them rather than giving wrong ids (docs/TOKENIZERS.md).

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "eval/unicode.h"
#include "model/model.h"

namespace qs::eval {

class Tokenizer {
public:
    /// Read the vocabulary from GGUF metadata (tokenizer.ggml.*). Errors: no vocabulary, an
    /// unsupported tokenizer model or pre-tokenizer, merges that are missing or malformed.
    static Result<Tokenizer> fromModel(const model::Model& model);
    /// The same from a list of key/value pairs (a GGUF header or a converted tokenizer);
    /// `origin` names the source in errors.
    static Result<Tokenizer> fromKvs(const std::vector<io::GgufKv>& kvs, const std::string& origin);

    /// Token ids of `text`; BOS first when addBos (llama.cpp's add_special with add_bos_token),
    /// and EOS last when addBos and the model sets tokenizer.ggml.add_eos_token.
    std::vector<int32_t> encode(std::string_view text, bool addBos) const;

    int32_t bos() const { return m_bos; }
    int32_t eos() const { return m_eos; }
    bool addBosDefault() const { return m_addBos; }
    size_t size() const { return m_tokens.size(); }
    const std::string& piece(int32_t id) const { return m_tokens[size_t(id)]; }
    /// "llama" or "gpt2"; the pre-tokenizer name for gpt2 ("llama-bpe", "qwen2" ...).
    const std::string& model() const { return m_model; }
    const std::string& pre() const { return m_pre; }

private:
    enum class Kind { Spm, Bpe };
    struct Special {
        int32_t id;
        bool lstrip, rstrip;
    };
    struct Fragment {
        size_t offset, length;
        int32_t token;  // -1 for raw text
    };

    std::vector<Fragment> partition(std::string_view text) const;
    void encodeSpm(std::string_view text, std::vector<int32_t>& out) const;
    void resegmentSpm(std::string_view piece, std::vector<int32_t>& out) const;
    void encodeBpe(std::string_view text, std::vector<int32_t>& out) const;
    void encodeBpeWord(const std::string& word, std::vector<int32_t>& out) const;
    int32_t find(std::string_view text) const;
    Status initBpe(const std::vector<io::GgufKv>& kvs, const std::string& origin);

    Kind m_kind = Kind::Spm;
    std::string m_model, m_pre;
    std::vector<std::string> m_tokens;
    std::vector<float> m_scores;
    std::unordered_map<std::string, int32_t> m_ids;
    std::unordered_map<std::string, int32_t> m_mergeRanks;  // "left right" -> rank
    std::vector<Special> m_specials;                        // user-defined tokens, longest first
    unicode::Splitter m_splitter = unicode::Splitter::Gpt2;
    bool m_ignoreMerges = false;
    int32_t m_bos = 1, m_eos = 2, m_unk = 0;
    bool m_addBos = true, m_addEos = false;
    bool m_addSpacePrefix = true;
};

/// Read a file of token ids: integers separated by whitespace, commas or brackets (a JSON array
/// works), or a JSON object whose "ids" array holds them (tests/js/tokenize.mjs's output). Errors
/// name the file and the byte offset of anything else.
Result<std::vector<int32_t>> readTokenFile(const std::string& path);

}  // namespace qs::eval
