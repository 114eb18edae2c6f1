#include "io/safetensors_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "model/model.h"

namespace qs::io {

namespace {

using formats::TensorType;
using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MB, as the reference implementation caps it

Error bad(const std::string& file, const std::string& msg, uint64_t offset = kNoOffset,
          const std::string& tensor = {}) {
    return makeError(ErrorCode::BadInput, msg, file, offset, tensor);
}

} // namespace

Result<TensorType> safetensorsDtype(const std::string& d) {
    static const std::pair<const char*, TensorType> kMap[] = {
        {"F64", TensorType::F64},       {"F32", TensorType::F32},
        {"F16", TensorType::F16},       {"BF16", TensorType::BF16},
        {"F8_E4M3", TensorType::F8_E4M3}, {"F8_E5M2", TensorType::F8_E5M2},
        {"I64", TensorType::I64},       {"I32", TensorType::I32},
        {"I16", TensorType::I16},       {"I8", TensorType::I8},
        {"U8", TensorType::U8},         {"BOOL", TensorType::BOOL},
    };
    for (const auto& [n, t] : kMap) {
        if (d == n) return t;
    }
    return makeError(ErrorCode::BadInput, "unsupported dtype '" + d + "'");
}

Result<SafetensorsFile> parseSafetensors(std::span<const uint8_t> bytes, const std::string& file) {
    if (bytes.size() < 8) {
        return bad(file, "not a safetensors file: shorter than the 8-byte header length", 0);
    }
    SafetensorsFile out;
    std::memcpy(&out.headerLength, bytes.data(), 8);
    if (out.headerLength > bytes.size() - 8) {
        return bad(file, "header length " + std::to_string(out.headerLength) +
                             " runs past the end of the file (" + std::to_string(bytes.size()) +
                             " bytes)", 0);
    }
    if (out.headerLength > kMaxHeader) {
        return bad(file, "header length " + std::to_string(out.headerLength) + " exceeds 100 MB", 0);
    }
    out.dataOffset = 8 + out.headerLength;
    const char* h = reinterpret_cast<const char*>(bytes.data() + 8);
    json j;
    // nlohmann keeps the last of two equal keys silently; a callback sees every top-level key,
    // so a tensor named twice is refused instead.
    std::set<std::string> keys;
    std::string duplicate;
    const json::parser_callback_t onEvent = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth == 1 && event == json::parse_event_t::key && duplicate.empty()) {
            const auto k = parsed.get<std::string>();
            if (!keys.insert(k).second) duplicate = k;
        }
        return true;
    };
    try {
        j = json::parse(h, h + out.headerLength, onEvent);
    } catch (const json::parse_error& e) {
        return bad(file, std::string("malformed JSON header: ") + e.what(), 8 + uint64_t(e.byte) - 1);
    } catch (const json::exception& e) {  // e.g. out_of_range: a number too large for a double
        return bad(file, std::string("malformed JSON header: ") + e.what(), 8);
    }
    if (!duplicate.empty()) return bad(file, "tensor named twice in the header", 8, duplicate);
    if (!j.is_object()) return bad(file, "the JSON header is not an object", 8);

    const uint64_t dataSize = bytes.size() - out.dataOffset;
    std::vector<Error> problems;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) {
                problems.push_back(bad(file, "__metadata__ is not an object", 8));
                continue;
            }
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (m.value().is_string()) out.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
            !v.contains("data_offsets") || !v["dtype"].is_string() || !v["shape"].is_array() ||
            !v["data_offsets"].is_array() || v["data_offsets"].size() != 2) {
            problems.push_back(bad(file, "entry needs \"dtype\", \"shape\" and two \"data_offsets\"",
                                   8, name));
            continue;
        }
        auto type = safetensorsDtype(v["dtype"].get<std::string>());
        if (!type) {
            problems.push_back(bad(file, type.error().message, 8, name));
            continue;
        }
        SafetensorsTensor t;
        t.name = name;
        t.type = *type;
        uint64_t elements = 1;
        bool ok = true;
        for (const auto& d : v["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0) {
                problems.push_back(bad(file, "shape has a negative or non-integer dimension", 8, name));
                ok = false;
                break;
            }
            const auto dim = d.get<int64_t>();
            if (__builtin_mul_overflow(elements, uint64_t(dim), &elements) ||
                elements > uint64_t(INT64_MAX)) {
                problems.push_back(bad(file, "element count overflows 64 bits", 8, name));
                ok = false;
                break;
            }
            t.shape.push_back(dim);
        }
        if (!ok) continue;
        const auto& off = v["data_offsets"];
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
            problems.push_back(bad(file, "data_offsets must be non-negative integers", 8, name));
            continue;
        }
        const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
        const uint64_t want = elements * uint64_t(formats::traits(t.type).blockBytes);
        if (e < b) {
            problems.push_back(bad(file, "data_offsets end before they begin", 8, name));
            continue;
        }
        if (e > dataSize) {
            problems.push_back(bad(file, "data [" + std::to_string(out.dataOffset + b) + ", " +
                                             std::to_string(out.dataOffset + e) +
                                             ") runs past the end of the file (" +
                                             std::to_string(bytes.size()) + " bytes)",
                                   8, name));  // the header entry is what lies
            continue;
        }
        if (e - b != want) {
            problems.push_back(bad(file, "data is " + std::to_string(e - b) + " bytes but " +
                                             v["dtype"].get<std::string>() + " of this shape needs " +
                                             std::to_string(want),
                                   out.dataOffset + b, name));
            continue;
        }
        t.begin = out.dataOffset + b;
        t.nbytes = want;
        t.nElements = elements;
        out.tensors.push_back(std::move(t));
    }
    std::sort(out.tensors.begin(), out.tensors.end(),
              [](const auto& a, const auto& b) { return a.begin < b.begin || (a.begin == b.begin && a.name < b.name); });
    for (size_t i = 1; i < out.tensors.size(); ++i) {
        const auto& p = out.tensors[i - 1];
        const auto& c = out.tensors[i];
        if (c.nbytes > 0 && p.nbytes > 0 && c.begin < p.begin + p.nbytes) {
            problems.push_back(bad(file, "data overlaps tensor '" + p.name + "'", c.begin, c.name));
        }
    }
    if (!problems.empty()) {
        Error first = problems.front();
        if (problems.size() > 1) {
            first.message += " (and " + std::to_string(problems.size() - 1) + " more problems)";
        }
        return first;
    }
    return out;
}

namespace {

// config.json -> GGUF-style metadata, so that the rest of the program reads both formats alike.
Status readConfig(const std::filesystem::path& dir, std::vector<GgufKv>& md) {
    const auto path = dir / "config.json";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return {};
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    json j;
    try {
        j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    } catch (const json::exception&) {
        j = json(json::value_t::discarded);
    }
    if (j.is_discarded() || !j.is_object()) {
        return makeError(ErrorCode::BadInput, "malformed config.json", path.string());
    }
    const std::string modelType =
        j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>()
                                                                 : std::string();
    // llama.cpp's converter writes Mistral and Mixtral checkpoints as the llama architecture.
    std::string arch = modelType;
    if (modelType == "mistral" || modelType == "mixtral") arch = "llama";
    if (!arch.empty()) md.push_back({"general.architecture", GgufValue::string(arch)});
    if (j.contains("_name_or_path") && j["_name_or_path"].is_string()) {
        md.push_back({"general.name", GgufValue::string(j["_name_or_path"].get<std::string>())});
    }
    const std::string p = arch + ".";
    auto u32 = [&](const char* key, const std::string& gguf) {
        if (j.contains(key) && j[key].is_number_unsigned()) {
            md.push_back({p + gguf, GgufValue::u32(uint32_t(j[key].get<uint64_t>()))});
        }
    };
    auto f32 = [&](const char* key, const std::string& gguf) {
        if (j.contains(key) && j[key].is_number()) {
            md.push_back({p + gguf, GgufValue::f32(j[key].get<float>())});
        }
    };
    u32("num_hidden_layers", "block_count");
    u32("hidden_size", "embedding_length");
    u32("intermediate_size", "feed_forward_length");
    u32("num_attention_heads", "attention.head_count");
    if (j.contains("num_key_value_heads")) {
        u32("num_key_value_heads", "attention.head_count_kv");
    } else {
        u32("num_attention_heads", "attention.head_count_kv");
    }
    u32("max_position_embeddings", "context_length");
    f32("rope_theta", "rope.freq_base");
    f32("rms_norm_eps", "attention.layer_norm_rms_epsilon");
    u32("num_local_experts", "expert_count");
    u32("num_experts", "expert_count");
    u32("num_experts_per_tok", "expert_used_count");
    u32("vocab_size", "vocab_size");
    u32("head_dim", "attention.key_length");
    return {};
}

} // namespace

Result<model::Model> loadSafetensorsModel(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path p(path);
    if (fs::is_directory(p, ec)) {
        if (fs::exists(p / "model.safetensors.index.json", ec)) {
            p /= "model.safetensors.index.json";
        } else {
            p /= "model.safetensors";
        }
    }
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");

    // The shard list: the file itself, or the index's weight_map in order of first appearance.
    std::vector<std::string> shards;
    std::map<std::string, std::string> indexMap;  // tensor -> shard file name
    if (p.extension() == ".json") {
        std::ifstream in(p, std::ios::binary);
        if (!in) return makeError(ErrorCode::IoError, "cannot open", p.string());
        std::stringstream ss;
        ss << in.rdbuf();
        json j;
        try {
            j = json::parse(ss.str(), nullptr, false);
        } catch (const json::exception&) {
            j = json(json::value_t::discarded);
        }
        if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
            !j["weight_map"].is_object()) {
            return makeError(ErrorCode::BadInput, "not a safetensors index: needs a \"weight_map\" object",
                             p.string());
        }
        std::set<std::string> seen;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it.value().is_string()) {
                return makeError(ErrorCode::BadInput, "weight_map value is not a file name", p.string(),
                                 kNoOffset, it.key());
            }
            const std::string shard = it.value().get<std::string>();
            if (shard.find('/') != std::string::npos || shard == "..") {
                return makeError(ErrorCode::BadInput, "shard name '" + shard + "' is not a file name",
                                 p.string(), kNoOffset, it.key());
            }
            indexMap[it.key()] = shard;
            if (seen.insert(shard).second) shards.push_back(shard);
        }
        std::sort(shards.begin(), shards.end());
    } else {
        shards.push_back(p.filename().string());
    }

    model::Model m;
    m.m_format = model::ModelFormat::Safetensors;
    m.m_version = 0;
    m.m_path = path;
    m.m_alignment = 0;
    auto cfg = readConfig(dir, m.m_metadata);
    if (!cfg) return cfg.error();

    std::set<std::string> names;
    for (size_t s = 0; s < shards.size(); ++s) {
        const std::string shardPath = (dir / shards[s]).string();
        if (!fs::exists(shardPath, ec)) {
            return makeError(ErrorCode::BadInput, "missing shard " + shards[s] + " listed in the index",
                             shardPath);
        }
        auto file = MappedFile::open(shardPath);
        if (!file) return file.error();
        auto parsed = parseSafetensors(file->bytes(), shardPath);
        if (!parsed) return parsed.error();
        for (const auto& [k, v] : parsed->metadata) {
            m.m_metadata.push_back({"safetensors.metadata." + k, GgufValue::string(v)});
        }
        for (auto& t : parsed->tensors) {
            if (!names.insert(t.name).second) {
                return makeError(ErrorCode::BadInput, "tensor appears in two shards", shardPath,
                                 t.begin, t.name);
            }
            model::TensorInfo info;
            info.name = t.name;
            info.shape.assign(t.shape.rbegin(), t.shape.rend());  // ggml order: row length first
            if (info.shape.empty()) info.shape.push_back(1);
            info.type = t.type;
            info.fileIndex = uint32_t(s);
            info.offset = t.begin;
            info.nbytes = t.nbytes;
            info.nElements = int64_t(t.nElements);
            m.m_tensors.push_back(std::move(info));
        }
        m.m_files.push_back(std::move(*file));
    }
    for (const auto& [tensor, shard] : indexMap) {
        if (!names.count(tensor)) {
            return makeError(ErrorCode::BadInput,
                             "tensor listed in the index is missing from shard " + shard,
                             (dir / shard).string(), kNoOffset, tensor);
        }
    }
    m.finalize();
    return m;
}

} // namespace qs::io
