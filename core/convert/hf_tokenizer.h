#pragma once
// The tokenizer of a Hugging Face model folder, written as llama.cpp reads it: the
// `tokenizer.ggml.*` metadata (model, pre-tokenizer, tokens, token types, scores or merges,
// special token ids, add_bos/add_eos) and `tokenizer.chat_template`, from tokenizer.json,
// tokenizer.model (SentencePiece), tokenizer_config.json and chat_template.jinja, with the keys,
// types, order and token-type decisions of llama.cpp's convert_hf_to_gguf.py (gguf-py's
// SpecialVocab included). docs/TOKENIZERS.md lists what is recognised.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "io/gguf_value.h"

namespace qs::convert {

struct HfTokenizer {
    /// The metadata to write, in the order llama.cpp's converter writes it.
    std::vector<io::GgufKv> kvs;
    /// False when the folder has no tokenizer files: the model is written without a vocabulary.
    bool hasVocab = false;
    /// Human-readable notes for the user (e.g. "no tokenizer files: written without a vocabulary").
    std::vector<std::string> notes;
    /// "llama" (SentencePiece) or "gpt2" (BPE); the pre-tokenizer ("default" for llama); the
    /// file the vocabulary came from; the number of tokens written (after padding).
    std::string model, pre, source;
    size_t vocabSize = 0;
};

/// Read the tokenizer of the model folder `dir` for a model of GGUF architecture `arch`
/// (llama, qwen3, gemma3 ...) whose embedding has `vocabSize` rows (the vocabulary is padded to
/// it as llama.cpp's converter does; 0 or less: the tokenizer's own size). Errors name the file
/// and the reason (unreadable JSON, an unknown pre-tokenizer, ...).
Result<HfTokenizer> readHfTokenizer(const std::string& dir, const std::string& arch,
                                    int64_t vocabSize);

namespace detail {
/// One SentencePiece piece of a tokenizer.model (sentencepiece_model.proto's ModelProto.pieces).
struct SpmPiece {
    std::string piece;
    float score = 0;
    int32_t type = 1;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6
};
/// Parse the pieces of a serialized SentencePiece ModelProto; errors name `path` and the offset.
Result<std::vector<SpmPiece>> parseSentencePieceModel(const std::string& bytes,
                                                      const std::string& path);
}  // namespace detail

}  // namespace qs::convert
