#pragma once
// What the Hugging Face converter knows of a folder before it builds the model (internal to
// convert/): the supported architectures, config.json with llama.cpp's lookups (find_hparam),
// the HF -> GGUF tensor names, the always-F32 rule, the q/k row permutation and llama3's rope
// factors. The facts follow llama.cpp's convert_hf_to_gguf.py and its conversion/ modules.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::convert::hf {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct ArchSpec {
    const char* hf;
    const char* gguf;
    bool permuteQk;  // llama's q/k row permutation (HF rotate_half -> GGML interleaved)
    bool gemmaNorm;  // norms stored + 1
};

/// Every architecture the converter supports, in llama.cpp's order.
std::span<const ArchSpec> archSpecs();
/// The spec of an HF architecture name ("LlamaForCausalLM"), or nullptr.
const ArchSpec* findArch(const std::string& hf);
Result<json> readJsonFile(const fs::path& path);
/// The first entry of config.json's `architectures` (or "").
std::string architectureOf(const json& cfg);
/// The supported HF architectures, comma separated (for error messages).
std::string supportedList();
/// gguf-py's size label of a parameter count ("15M", "1.2B").
std::string roundedCount(double n);
/// The license of the model card's YAML front matter ("license: apache-2.0"), if any.
std::string cardLicense(const fs::path& dir);

// The config, with the lookups llama.cpp's converter does (find_hparam).
struct Config {
    json j;
    fs::path path;

    const json* get(std::initializer_list<const char*> keys) const {
        for (const char* k : keys) {
            if (j.contains(k) && !j[k].is_null()) return &j[k];
        }
        return nullptr;
    }
    std::optional<int64_t> integer(std::initializer_list<const char*> keys) const {
        const json* v = get(keys);
        if (!v || !v->is_number()) return std::nullopt;
        const double d = v->get<double>();
        if (d < 0 || d > 1e15 || std::floor(d) != d) return std::nullopt;
        return int64_t(d);
    }
    std::optional<double> number(std::initializer_list<const char*> keys) const {
        const json* v = get(keys);
        if (!v || !v->is_number()) return std::nullopt;
        return v->get<double>();
    }
    Result<int64_t> required(const char* key) const {
        auto v = integer({key});
        if (!v) {
            return makeError(ErrorCode::BadInput,
                             std::string("config.json: \"") + key +
                                 "\" is missing or not a non-negative integer",
                             path.string());
        }
        return *v;
    }
};

/// GGUF name of an HF tensor name; "" when llama.cpp's converter skips it; nullopt when unknown.
/// `layer` and `expert` are set for per-layer / per-expert tensors (the stacked name is returned).
std::optional<std::string> ggufName(const ArchSpec& arch, const std::string& name, int& layer,
                                    int& expert);
/// llama.cpp's always-F32 rule for converted tensors (base.py prepare_tensors).
bool forcedF32(const std::string& name, size_t nDims);
/// The type of a converted tensor in the unquantized view.
formats::TensorType viewType(const std::string& name, size_t nDims, formats::TensorType src);
/// HF rotate_half row order -> GGML interleaved (llama.py's permute): output row -> input row.
std::vector<int32_t> ropeRowMap(int64_t rows, int64_t heads);
/// llama3 rope scaling factors (llama.py generate_extra_tensors), in float32 like torch.
std::vector<float> llama3RopeFactors(const json& rp, double base, int64_t dim);

}  // namespace qs::convert::hf
