#include "io/safetensors_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "io/model_loaders.h"
#include "model/model.h"

namespace qs::io {

namespace {

using formats::TensorType;
using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MB, as the reference implementation caps it
constexpr uint64_t kHeaderStart = 8;           // the JSON starts after the 8-byte length

Error bad(const std::string& file, const std::string& msg, uint64_t offset = kNoOffset,
          const std::string& tensor = {}) {
    return makeError(ErrorCode::BadInput, msg, file, offset, tensor);
}

// Offsets of the top-level keys of a JSON object, as raw text between the quotes (escapes not
// decoded), each with every position it occurs at. nlohmann reports no positions for values, so
// an error about one tensor entry finds its key here instead. Linear in the header; only run
// when something is wrong. The JSON already parsed, so the scan may assume it is well formed.
std::unordered_map<std::string_view, std::vector<uint64_t>> topLevelKeyOffsets(std::string_view h) {
    std::unordered_map<std::string_view, std::vector<uint64_t>> out;
    int depth = 0;
    bool expectKey = false;  // at depth 1, the next string is a key
    for (size_t i = 0; i < h.size(); ++i) {
        const char c = h[i];
        if (c == '"') {
            const size_t start = i + 1;
            size_t j = start;
            while (j < h.size() && h[j] != '"') j += (h[j] == '\\') ? 2 : 1;
            if (j >= h.size()) break;
            if (depth == 1 && expectKey) {
                out[h.substr(start, j - start)].push_back(kHeaderStart + i);
                expectKey = false;
            }
            i = j;
        } else if (c == '{' || c == '[') {
            ++depth;
            expectKey = (depth == 1 && c == '{');
        } else if (c == '}' || c == ']') {
            --depth;
        } else if (c == ',' && depth == 1) {
            expectKey = true;
        }
    }
    return out;
}

// A safetensors header nests three levels deep (header -> entry -> shape). nlohmann builds a
// node per level, so a 100 MB header of '[' would cost gigabytes and seconds before failing;
// anything deeper than this is refused by a cheap scan first.
constexpr int kMaxDepth = 16;

// Offset (in the file) of the first bracket nested deeper than kMaxDepth, or kNoOffset.
uint64_t tooDeepAt(std::string_view h) {
    int depth = 0;
    for (size_t i = 0; i < h.size(); ++i) {
        const char c = h[i];
        if (c == '"') {
            ++i;  // skip the string; an unterminated one is the JSON parser's to report
            while (i < h.size() && h[i] != '"') i += (h[i] == '\\') ? 2 : 1;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxDepth) return kHeaderStart + i;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return kNoOffset;
}

// A problem with one tensor entry, kept until all entries are checked so that the error can
// name the first problem in file order and count the rest.
struct Problem {
    Error error;
    bool atEntry = false;   // offset is the entry's key in the header (filled in afterwards)
    size_t occurrence = 0;  // which occurrence of the key (1 for the second of a duplicate name)
};

std::string quoted(const std::string& s) {
    return "'" + s + "'";
}

Result<SafetensorsFile> parseImpl(std::span<const uint8_t> bytes, const std::string& file) {
    if (bytes.size() < kHeaderStart) {
        return bad(file, "not a safetensors file: shorter than the 8-byte header length", 0);
    }
    SafetensorsFile out;
    // The length is little-endian on disk; assemble it byte by byte so big-endian hosts agree.
    for (int i = 7; i >= 0; --i) out.headerLength = (out.headerLength << 8) | bytes[size_t(i)];
    if (out.headerLength > bytes.size() - kHeaderStart) {
        return bad(file,
                   "header length " + std::to_string(out.headerLength) +
                       " runs past the end of the file (" + std::to_string(bytes.size()) +
                       " bytes)",
                   0);
    }
    if (out.headerLength > kMaxHeader) {
        return bad(file, "header length " + std::to_string(out.headerLength) + " exceeds 100 MB",
                   0);
    }
    out.dataOffset = kHeaderStart + out.headerLength;
    const std::string_view header(reinterpret_cast<const char*>(bytes.data() + kHeaderStart),
                                  size_t(out.headerLength));
    if (const uint64_t at = tooDeepAt(header); at != kNoOffset) {
        return bad(file,
                   "JSON header nests deeper than " + std::to_string(kMaxDepth) +
                       " levels (a safetensors header needs 3)",
                   at);
    }
    json j;
    // nlohmann keeps the last of two equal keys silently; a callback sees every top-level key,
    // so a tensor named twice is refused instead.
    std::set<std::string> keys;
    std::string duplicate;
    const json::parser_callback_t onEvent = [&](int depth, json::parse_event_t event,
                                                json& parsed) {
        if (depth == 1 && event == json::parse_event_t::key && duplicate.empty()) {
            const auto& k = parsed.get_ref<const std::string&>();
            if (!keys.insert(k).second) duplicate = k;
        }
        return true;
    };
    try {
        j = json::parse(header.begin(), header.end(), onEvent);
    } catch (const json::parse_error& e) {
        // e.byte is 1-based and may point one past the last byte at an early end of input.
        const uint64_t at = std::min<uint64_t>(e.byte == 0 ? 0 : e.byte - 1, out.headerLength);
        return bad(file, std::string("malformed JSON header: ") + e.what(), kHeaderStart + at);
    } catch (const json::exception& e) {  // e.g. out_of_range: a number too large for a double
        return bad(file, std::string("malformed JSON header: ") + e.what(), kHeaderStart);
    }
    if (!j.is_object()) return bad(file, "the JSON header is not an object", kHeaderStart);

    const uint64_t dataSize = bytes.size() - out.dataOffset;
    std::vector<Problem> problems;
    // The offset is the header start for now; the entry's own key offset is filled in below.
    auto entryProblem = [&](const std::string& name, const std::string& msg, size_t occ = 0) {
        const std::string tensor = name == "__metadata__" ? std::string() : name;
        problems.push_back({bad(file, msg, kHeaderStart, tensor), true, occ});
    };
    if (!duplicate.empty()) entryProblem(duplicate, "tensor named twice in the header", 1);

    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) {
                entryProblem(name, "__metadata__ is not an object of strings");
                continue;
            }
            // The reference implementation reads it as a string -> string map and refuses
            // anything else, so a file with other values is not a valid safetensors file.
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (m.value().is_string()) {
                    out.metadata[m.key()] = m.value().get<std::string>();
                } else {
                    entryProblem(name,
                                 "__metadata__ value " + quoted(m.key()) + " is not a string");
                }
            }
            continue;
        }
        if (!v.is_object()) {
            entryProblem(name,
                         "entry is not an object with \"dtype\", \"shape\", \"data_offsets\"");
            continue;
        }
        const auto dt = v.find("dtype");
        const auto sh = v.find("shape");
        const auto of = v.find("data_offsets");
        if (dt == v.end() || sh == v.end() || of == v.end() || !dt->is_string() ||
            !sh->is_array() || !of->is_array() || of->size() != 2) {
            entryProblem(name,
                         "entry needs \"dtype\" (a string), \"shape\" (an array) and two "
                         "\"data_offsets\"");
            continue;
        }
        const std::string& dtype = dt->get_ref<const std::string&>();
        auto type = safetensorsDtype(dtype);
        if (!type) {
            entryProblem(name, type.error().message);
            continue;
        }
        SafetensorsTensor t;
        t.name = name;
        t.type = *type;
        uint64_t elements = 1;
        bool ok = true;
        for (const auto& d : *sh) {
            // A dimension above INT64_MAX reads as unsigned; it cannot be a real size either.
            if (!d.is_number_integer() ||
                (d.is_number_unsigned() && d.get<uint64_t>() > INT64_MAX) ||
                (!d.is_number_unsigned() && d.get<int64_t>() < 0)) {
                entryProblem(name, "shape has a negative or non-integer dimension " + d.dump());
                ok = false;
                break;
            }
            const auto dim = d.get<int64_t>();
            if (__builtin_mul_overflow(elements, uint64_t(dim), &elements) ||
                elements > uint64_t(INT64_MAX)) {
                entryProblem(name, "element count of shape " + sh->dump() + " overflows 64 bits");
                ok = false;
                break;
            }
            t.shape.push_back(dim);
        }
        if (!ok) continue;
        const auto& off = *of;
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
            entryProblem(name, "data_offsets must be non-negative integers");
            continue;
        }
        const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
        // Overflow-checked: an F64 tensor of 2^62 elements must not wrap to a small byte size.
        const auto want = formats::byteSize(t.type, elements);
        if (!want) {
            entryProblem(name,
                         "byte size of " + dtype + " shape " + sh->dump() + " overflows 64 bits");
            continue;
        }
        if (e < b) {
            entryProblem(name, "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                                   ") end before they begin");
            continue;
        }
        if (e > dataSize) {
            // Offsets are relative to the data section; name them as absolute file offsets.
            entryProblem(name, "data [" + std::to_string(b) + ", " + std::to_string(e) +
                                   ") of the data section (file bytes [" +
                                   std::to_string(out.dataOffset + b) + ", " +
                                   std::to_string(out.dataOffset + e) +
                                   ")) runs past the end of the file (" +
                                   std::to_string(bytes.size()) + " bytes)");
            continue;
        }
        if (e - b != *want) {
            entryProblem(name, "data is " + std::to_string(e - b) + " bytes but " + dtype +
                                   " of shape " + sh->dump() + " needs " + std::to_string(*want));
            continue;
        }
        t.begin = out.dataOffset + b;
        t.nbytes = *want;
        t.nElements = elements;
        out.tensors.push_back(std::move(t));
    }

    std::sort(out.tensors.begin(), out.tensors.end(), [](const auto& a, const auto& b) {
        return a.begin < b.begin || (a.begin == b.begin && a.name < b.name);
    });
    // Each tensor is compared with the furthest-reaching one before it, not only its neighbour:
    // [0,100) then [10,20) then [30,40) overlaps twice, and an empty tensor in between (which
    // overlaps nothing) must not hide an overlap either.
    const SafetensorsTensor* reach = nullptr;
    for (const auto& c : out.tensors) {
        if (c.nbytes == 0) continue;
        if (reach && c.begin < reach->begin + reach->nbytes) {
            problems.push_back({bad(file,
                                    "data [" + std::to_string(c.begin) + ", " +
                                        std::to_string(c.begin + c.nbytes) + ") overlaps tensor '" +
                                        reach->name + "' [" + std::to_string(reach->begin) + ", " +
                                        std::to_string(reach->begin + reach->nbytes) + ")",
                                    c.begin, c.name),
                                false, 0});
        }
        if (!reach || c.begin + c.nbytes > reach->begin + reach->nbytes) reach = &c;
    }
    if (problems.empty()) return out;

    // Point entry problems at the entry's key in the header and report the first in file order.
    const auto keyOffsets = topLevelKeyOffsets(header);
    for (auto& p : problems) {
        if (!p.atEntry) continue;
        const std::string& key =
            p.error.tensor.empty() ? std::string("__metadata__") : p.error.tensor;
        const auto it = keyOffsets.find(key);
        if (it != keyOffsets.end() && !it->second.empty()) {
            p.error.offset = it->second[std::min(p.occurrence, it->second.size() - 1)];
        }
    }
    std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) {
        return a.error.offset < b.error.offset;
    });
    Error first = problems.front().error;
    if (problems.size() > 1) {
        first.message += " (and " + std::to_string(problems.size() - 1) + " more problem" +
                         (problems.size() > 2 ? "s" : "") + ")";
    }
    return first;
}

}  // namespace

Result<TensorType> safetensorsDtype(const std::string& d) {
    static const std::pair<const char*, TensorType> kMap[] = {
        {"F64", TensorType::F64},         {"F32", TensorType::F32},
        {"F16", TensorType::F16},         {"BF16", TensorType::BF16},
        {"F8_E4M3", TensorType::F8_E4M3}, {"F8_E5M2", TensorType::F8_E5M2},
        {"I64", TensorType::I64},         {"I32", TensorType::I32},
        {"I16", TensorType::I16},         {"I8", TensorType::I8},
        {"U8", TensorType::U8},           {"BOOL", TensorType::BOOL},
    };
    for (const auto& [n, t] : kMap) {
        if (d == n) return t;
    }
    return makeError(ErrorCode::BadInput,
                     "unsupported dtype '" + d +
                         "' (known: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL)");
}

Result<SafetensorsFile> parseSafetensors(std::span<const uint8_t> bytes, const std::string& file) {
    // Nothing may escape: allocation failure on a huge header is an error like any other.
    try {
        return parseImpl(bytes, file);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, "out of memory reading the safetensors header", file,
                         0);
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("unexpected: ") + e.what(), file, 0);
    }
}

namespace {

namespace fs = std::filesystem;

// Read a small JSON file (config.json, the shard index). Parse errors carry the byte offset.
Result<json> readJson(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return makeError(ErrorCode::IoError, "cannot open", path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return makeError(ErrorCode::IoError, "cannot read", path.string());
    const std::string text = ss.str();
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        const uint64_t at = std::min<uint64_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
        return makeError(ErrorCode::BadInput, std::string("malformed JSON: ") + e.what(),
                         path.string(), at);
    } catch (const json::exception& e) {
        return makeError(ErrorCode::BadInput, std::string("malformed JSON: ") + e.what(),
                         path.string());
    }
}

// Hugging Face model_type -> llama.cpp architecture name, as convert_hf_to_gguf.py maps them:
// Mistral and Mixtral checkpoints are written as the llama architecture.
std::string llamaCppArch(const std::string& modelType) {
    static const std::pair<const char*, const char*> kMap[] = {
        {"mistral", "llama"},      {"mixtral", "llama"},      {"qwen2_moe", "qwen2moe"},
        {"qwen3_moe", "qwen3moe"}, {"gemma3_text", "gemma3"},
    };
    for (const auto& [from, to] : kMap) {
        if (modelType == from) return to;
    }
    return modelType;
}

// config.json -> GGUF-style metadata, so that the rest of the program reads both formats alike.
// Absent (or null) keys are skipped; a present key of the wrong kind is an error naming it,
// since silently wrong hyper-parameters would mislead every plan made from them.
Status readConfig(const fs::path& dir, std::vector<GgufKv>& md) {
    const auto path = dir / "config.json";
    std::error_code ec;
    if (!fs::exists(path, ec)) return {};
    auto parsed = readJson(path);
    if (!parsed) {
        Error e = parsed.error();
        e.message = "malformed config.json: " + e.message;
        return e;
    }
    const json& j = *parsed;
    if (!j.is_object()) {
        return makeError(ErrorCode::BadInput, "malformed config.json: not a JSON object",
                         path.string(), 0);
    }
    auto wrong = [&](const char* key, const char* want) {
        return makeError(
            ErrorCode::BadInput,
            std::string("config.json: \"") + key + "\" is " + j[key].dump() + ", expected " + want,
            path.string());
    };
    auto present = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };

    std::string modelType;
    if (present("model_type")) {
        if (!j["model_type"].is_string()) return wrong("model_type", "a string");
        modelType = j["model_type"].get<std::string>();
    } else if (present("architectures") && j["architectures"].is_array() &&
               !j["architectures"].empty() && j["architectures"][0].is_string()) {
        // Old configs lack model_type: "LlamaForCausalLM" -> "llama".
        std::string a = j["architectures"][0].get<std::string>();
        for (const char* suffix : {"ForCausalLM", "ForConditionalGeneration", "Model"}) {
            if (a.ends_with(suffix)) {
                a.resize(a.size() - std::strlen(suffix));
                break;
            }
        }
        for (char& c : a) c = char(std::tolower(static_cast<unsigned char>(c)));
        modelType = a;
    }
    const std::string arch = llamaCppArch(modelType);
    if (!arch.empty()) md.push_back({"general.architecture", GgufValue::string(arch)});
    if (present("_name_or_path")) {
        if (!j["_name_or_path"].is_string()) return wrong("_name_or_path", "a string");
        md.push_back({"general.name", GgufValue::string(j["_name_or_path"].get<std::string>())});
    }
    // Without an architecture there is no key prefix: llama.cpp could not name these either.
    if (arch.empty()) return {};
    const std::string p = arch + ".";

    // Returns false (and sets err) for a present key that is not an integer in [0, 2^32).
    Status err;
    auto u32 = [&](const char* key, const std::string& gguf) {
        if (!err || !present(key)) return false;
        const json& v = j[key];
        // Some exporters write integers as floats ("4096.0"); accept those when integral.
        const double d = v.is_number() ? v.get<double>() : -1.0;
        if (!v.is_number() || d < 0 || d > double(UINT32_MAX) || std::floor(d) != d) {
            err = wrong(key, "an integer in [0, 2^32)");
            return false;
        }
        const uint32_t x = v.is_number_unsigned() ? uint32_t(v.get<uint64_t>()) : uint32_t(d);
        md.push_back({p + gguf, GgufValue::u32(x)});
        return true;
    };
    auto f32 = [&](const char* key, const std::string& gguf) {
        if (!err || !present(key)) return;
        if (!j[key].is_number()) {
            err = wrong(key, "a number");
            return;
        }
        md.push_back({p + gguf, GgufValue::f32(j[key].get<float>())});
    };
    u32("num_hidden_layers", "block_count");
    u32("hidden_size", "embedding_length");
    u32("intermediate_size", "feed_forward_length");
    u32("num_attention_heads", "attention.head_count");
    // head_count_kv defaults to head_count (no grouped-query attention), as llama.cpp assumes.
    if (!u32("num_key_value_heads", "attention.head_count_kv") && err) {
        u32("num_attention_heads", "attention.head_count_kv");
    }
    u32("max_position_embeddings", "context_length");
    f32("rope_theta", "rope.freq_base");
    f32("rms_norm_eps", "attention.layer_norm_rms_epsilon");
    // Mixtral says num_local_experts, Qwen MoE says num_experts: one key either way.
    if (!u32("num_local_experts", "expert_count") && err) u32("num_experts", "expert_count");
    u32("num_experts_per_tok", "expert_used_count");
    u32("vocab_size", "vocab_size");
    u32("head_dim", "attention.key_length");
    return err;
}

// A shard name from an index must be a plain file name beside the index: no directories, so
// that an index cannot make us map files elsewhere.
bool plainFileName(const std::string& s) {
    return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
           s.find('\\') == std::string::npos && s.find('\0') == std::string::npos;
}

}  // namespace

Result<model::Model> loadSafetensorsModel(const std::string& path) {
    // Nothing may escape: std::filesystem and allocations can throw.
    try {
        std::error_code ec;
        fs::path p(path);
        if (fs::is_directory(p, ec)) {
            if (fs::exists(p / "model.safetensors.index.json", ec)) {
                p /= "model.safetensors.index.json";
            } else if (fs::exists(p / "model.safetensors", ec)) {
                p /= "model.safetensors";
            } else {
                return makeError(
                    ErrorCode::BadInput,
                    "directory holds no model.safetensors or model.safetensors.index.json", path);
            }
        }
        const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");

        // The shard list: the file itself, or the index's weight_map shards in name order
        // (model-00001-of-00003 first). nlohmann's object is sorted by key, so the JSON's own
        // order is not at hand; the shard names are what orders them for people too.
        std::vector<std::string> shards;
        std::map<std::string, std::string> indexMap;  // tensor -> shard file name
        if (p.extension() == ".json") {
            auto parsed = readJson(p);
            if (!parsed) return parsed.error();
            const json& j = *parsed;
            if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
                return makeError(ErrorCode::BadInput,
                                 "not a safetensors index: needs a \"weight_map\" object",
                                 p.string());
            }
            std::set<std::string> seen;
            for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
                if (!it.value().is_string()) {
                    return makeError(ErrorCode::BadInput, "weight_map value is not a file name",
                                     p.string(), kNoOffset, it.key());
                }
                const std::string shard = it.value().get<std::string>();
                if (!plainFileName(shard)) {
                    return makeError(ErrorCode::BadInput,
                                     "shard name '" + shard + "' is not a plain file name",
                                     p.string(), kNoOffset, it.key());
                }
                indexMap[it.key()] = shard;
                if (seen.insert(shard).second) shards.push_back(shard);
            }
            if (shards.empty()) {
                return makeError(ErrorCode::BadInput, "the index's weight_map lists no tensors",
                                 p.string());
            }
            std::sort(shards.begin(), shards.end());
        } else {
            shards.push_back(p.filename().string());
        }

        model::Model::Parts m;
        m.format = model::ModelFormat::Safetensors;
        m.version = 0;
        m.path = p.string();  // the file opened: the .safetensors or the index, even for a folder
        m.alignment = 0;
        auto cfg = readConfig(dir, m.metadata);
        if (!cfg) return cfg.error();

        std::map<std::string, std::string> shardOf;  // tensor -> shard it was found in
        for (size_t s = 0; s < shards.size(); ++s) {
            const std::string shardPath = (dir / shards[s]).string();
            if (!indexMap.empty() && !fs::exists(shardPath, ec)) {
                return makeError(
                    ErrorCode::BadInput,
                    "missing shard " + shards[s] + " listed in the index " + p.filename().string(),
                    shardPath);
            }
            auto file = MappedFile::open(shardPath);
            if (!file) return file.error();
            auto parsed = parseSafetensors(file->bytes(), shardPath);
            if (!parsed) return parsed.error();
            for (const auto& [k, v] : parsed->metadata) {
                // Shards usually repeat the same metadata ({"format": "pt"}); keep each key once.
                const std::string key = "safetensors.metadata." + k;
                const bool have = std::any_of(m.metadata.begin(), m.metadata.end(),
                                              [&](const GgufKv& kv) { return kv.key == key; });
                if (!have) m.metadata.push_back({key, GgufValue::string(v)});
            }
            for (auto& t : parsed->tensors) {
                if (!shardOf.emplace(t.name, shards[s]).second) {
                    return makeError(
                        ErrorCode::BadInput,
                        "tensor appears in two shards (also in " + shardOf[t.name] + ")", shardPath,
                        t.begin, t.name);
                }
                model::TensorInfo info;
                info.name = t.name;
                info.shape.assign(t.shape.rbegin(),
                                  t.shape.rend());                // ggml order: row length first
                if (info.shape.empty()) info.shape.push_back(1);  // a scalar is one element
                info.type = t.type;
                info.fileIndex = uint32_t(s);
                info.offset = t.begin;
                info.nbytes = t.nbytes;
                info.nElements = int64_t(t.nElements);
                m.tensors.push_back(std::move(info));
            }
            m.files.push_back(std::move(*file));
        }
        // Every tensor the index lists must be in the very shard it names.
        for (const auto& [tensor, shard] : indexMap) {
            const auto it = shardOf.find(tensor);
            if (it == shardOf.end() || it->second != shard) {
                return makeError(ErrorCode::BadInput,
                                 "tensor '" + tensor +
                                     "' listed in the index is missing from shard " + shard +
                                     (it == shardOf.end() ? "" : " (it is in " + it->second + ")"),
                                 (dir / shard).string(), kNoOffset, tensor);
            }
        }
        return model::Model::fromParts(std::move(m));
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, "out of memory opening the model", path);
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("unexpected: ") + e.what(), path);
    }
}

}  // namespace qs::io
