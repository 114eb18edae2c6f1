#pragma once
// The tokenizer of a Hugging Face model folder, written as llama.cpp reads it: the
// `tokenizer.ggml.*` metadata (model, pre-tokenizer, tokens, token types, scores or merges,
// special token ids, add_bos/add_eos) and `tokenizer.chat_template`, from tokenizer.json,
// tokenizer.model (SentencePiece), tokenizer_config.json and chat_template.jinja.

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
};

/// Read the tokenizer of the model folder `dir` for a model of GGUF architecture `arch`
/// (llama, qwen3, gemma3 ...) whose embedding has `vocabSize` rows (the vocabulary is padded to
/// it as llama.cpp's converter does). Errors name the file and the reason (unreadable JSON, an
/// unknown pre-tokenizer, ...).
Result<HfTokenizer> readHfTokenizer(const std::string& dir, const std::string& arch,
                                    int64_t vocabSize);

} // namespace qs::convert
