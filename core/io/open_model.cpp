// model::openModel: picks the reader (or the Hugging Face converter) for a path. It lives in io,
// above the readers, so that the model layer itself knows none of them.

#include <algorithm>
#include <filesystem>
#include <vector>

#include "convert/hf_convert.h"
#include "io/mapped_file.h"
#include "io/model_loaders.h"
#include "model/model.h"

namespace qs::model {

Result<Model> openModel(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    // A Hugging Face model of a supported architecture opens converted (GGUF view).
    if (auto dir = convert::hfModelDir(path)) {
        if (convert::isSupportedHfModel(*dir)) return convert::convertHfModel(*dir);
        if (p.filename() == "config.json") return io::loadSafetensorsModel(dir->string());
    }
    if (fs::is_directory(p, ec)) {
        for (const char* name : {"model.safetensors.index.json", "model.safetensors"}) {
            if (fs::exists(p / name, ec)) return io::loadSafetensorsModel((p / name).string());
        }
        // A directory with exactly one GGUF in it is also fine.
        std::vector<fs::path> ggufs;
        for (const auto& e : fs::directory_iterator(p, ec)) {
            if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
        }
        if (ggufs.size() == 1) return io::loadGgufModel(ggufs.front().string());
        return makeError(ErrorCode::BadInput,
                         "directory holds no model.safetensors, model.safetensors.index.json or "
                         "single .gguf file",
                         path);
    }
    if (!fs::exists(p, ec)) return makeError(ErrorCode::IoError, "no such file", path);
    const std::string ext = p.extension().string();
    if (ext == ".safetensors" || ext == ".json") return io::loadSafetensorsModel(path);
    if (ext == ".gguf") return io::loadGgufModel(path);
    // Unknown extension: sniff the magic.
    auto file = io::MappedFile::open(path);
    if (!file) return file.error();
    if (file->size() >= 4 && std::equal(file->data(), file->data() + 4, "GGUF")) {
        return io::loadGgufModel(path);
    }
    if (file->size() >= 9 && file->data()[8] == '{') return io::loadSafetensorsModel(path);
    return makeError(ErrorCode::BadInput, "not a GGUF or safetensors file", path, 0);
}

}  // namespace qs::model
