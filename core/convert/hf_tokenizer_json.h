#pragma once
// Internal to the tokenizer conversion (hf_tokenizer.cpp, hf_special_vocab.cpp): file and JSON
// helpers, the added tokens of a tokenizer.json, and gguf-py's SpecialVocab.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "io/gguf_value.h"

namespace qs::convert::detail {

using nlohmann::json;
namespace fs = std::filesystem;

Result<std::string> readFile(const fs::path& p);
/// Parse a JSON file; errors name the file and the byte offset.
Result<json> readJson(const fs::path& p);
std::string replaceAll(std::string s, const std::string& from, const std::string& to);
/// A member of a JSON object without copying it (json::value copies whole subtrees: the
/// vocabulary and merges of a large tokenizer.json are tens of MB); null when absent.
const json* member(const json& j, const char* key);
/// conversion/base.py does_token_look_special.
bool looksSpecial(const std::string& t);

struct Added {
    int64_t id;
    std::string content;
    bool special, normalized;
};
/// tokenizer.json's added_tokens.
std::vector<Added> addedTokens(const json& tj);

// gguf-py SpecialVocab: special token ids, add_*_token flags and the chat template, in the
// order its add_to_gguf writes them (merges are written by the caller before these).
class SpecialVocab {
public:
    Status load(const fs::path& dir, const std::optional<json>& tokenizerJson,
                std::optional<size_t> nVocab);
    template <typename TokenText>
    Status loadConfig(const fs::path& dir, const json& cfg, const std::vector<Added>& added,
                      TokenText tokenText);
    void write(std::vector<io::GgufKv>& kvs) const;

private:
    void setId(const std::string& typ, const json& v);
    std::vector<std::string> m_types = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
    std::vector<std::pair<std::string, int64_t>> m_ids;
    std::vector<std::pair<std::string, bool>> m_add;
    std::optional<json> m_template;
    std::optional<size_t> m_nVocab;

    void setAdd(const std::string& typ, bool v) {
        for (auto& [k, x] : m_add) {
            if (k == typ) {
                x = v;
                return;
            }
        }
        m_add.emplace_back(typ, v);
    }
};

}  // namespace qs::convert::detail
