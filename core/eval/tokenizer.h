#pragma once
// The GGUF `llama` tokenizer (SentencePiece-style BPE over token scores with byte fallback), as
// llama.cpp's llm_tokenizer_spm runs it: a leading space when tokenizer.ggml.add_space_prefix
// (default true), spaces as U+2581, characters merged pairwise by the highest score (leftmost
// first on ties), and a piece that is no token spelled as <0xXX> byte tokens. Other tokenizer
// models are refused with a clear error rather than giving wrong ids.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "model/model.h"

namespace qs::eval {

class Tokenizer {
public:
    /// Read the vocabulary from GGUF metadata (tokenizer.ggml.*). Errors: no vocabulary, a
    /// tokenizer model other than `llama`.
    static Result<Tokenizer> fromModel(const model::Model& model);

    /// Token ids of `text`; BOS first when addBos (llama.cpp's add_special with add_bos_token).
    std::vector<int32_t> encode(std::string_view text, bool addBos) const;

    int32_t bos() const { return m_bos; }
    int32_t eos() const { return m_eos; }
    bool addBosDefault() const { return m_addBos; }
    size_t size() const { return m_tokens.size(); }
    const std::string& piece(int32_t id) const { return m_tokens[size_t(id)]; }

private:
    void resegment(const std::string& piece, std::vector<int32_t>& out) const;

    std::vector<std::string> m_tokens;
    std::vector<float> m_scores;
    std::unordered_map<std::string, int32_t> m_ids;
    int32_t m_bos = 1, m_eos = 2, m_unk = 0;
    bool m_addBos = true;
    bool m_addSpacePrefix = true;
};

/// Read a file of token ids: integers separated by whitespace, commas or brackets (a JSON array
/// works), or a JSON object whose "ids" array holds them (tests/js/tokenize.mjs's output). Errors
/// name the file and the byte offset of anything else.
Result<std::vector<int32_t>> readTokenFile(const std::string& path);

} // namespace qs::eval
