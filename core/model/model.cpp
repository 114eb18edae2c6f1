#include "model/model.h"

#include <algorithm>
#include <filesystem>

namespace qs::model {

std::string TensorInfo::shapeString() const {
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += " x ";
        s += std::to_string(shape[i]);
    }
    return s;
}

const io::GgufValue* Model::find(std::string_view key) const {
    for (const auto& kv : m_metadata) {
        if (kv.key == key) return &kv.value;
    }
    return nullptr;
}

int64_t Model::indexOf(std::string_view name) const {
    auto it = std::lower_bound(m_byName.begin(), m_byName.end(), name,
                               [](const auto& e, std::string_view n) { return e.first < n; });
    if (it != m_byName.end() && it->first == name) return it->second;
    return -1;
}

std::span<const uint8_t> Model::tensorData(const TensorInfo& t) const {
    return m_files[t.fileIndex].bytes().subspan(t.offset, t.nbytes);
}

int64_t Model::totalElements() const {
    int64_t n = 0;
    for (const auto& t : m_tensors) n += t.nElements;
    return n;
}

uint64_t Model::totalBytes() const {
    uint64_t n = 0;
    for (const auto& t : m_tensors) n += t.nbytes;
    return n;
}

void Model::finalize() {
    auto u32 = [&](const std::string& key) -> uint32_t {
        const auto* v = find(key);
        if (!v) return 0;
        if (auto x = v->asUInt(); x && *x <= UINT32_MAX) return uint32_t(*x);
        // head_count may be an array per layer (some architectures): take the first.
        if (v->isArray() && v->size() > 0 && v->elemType() != io::GgufType::String &&
            v->elemType() != io::GgufType::Array) {
            return uint32_t(std::max<int64_t>(0, v->intAt(0)));
        }
        return 0;
    };
    if (const auto* a = find("general.architecture"); a && a->isString()) {
        m_hparams.architecture = a->str();
    }
    const std::string p = m_hparams.architecture + ".";
    m_hparams.blockCount = u32(p + "block_count");
    m_hparams.embeddingLength = u32(p + "embedding_length");
    m_hparams.feedForwardLength = u32(p + "feed_forward_length");
    m_hparams.headCount = u32(p + "attention.head_count");
    m_hparams.headCountKv = u32(p + "attention.head_count_kv");
    if (m_hparams.headCountKv == 0) m_hparams.headCountKv = m_hparams.headCount;
    m_hparams.contextLength = u32(p + "context_length");
    m_hparams.expertCount = u32(p + "expert_count");
    m_hparams.vocabSize = u32(p + "vocab_size");
    if (m_hparams.vocabSize == 0) {
        if (const auto* tokens = find("tokenizer.ggml.tokens"); tokens && tokens->isArray()) {
            m_hparams.vocabSize = uint32_t(tokens->size());
        }
    }

    int maxLayer = -1;
    for (auto& t : m_tensors) {
        const NameInfo ni = classifyTensorName(t.name);
        t.layer = ni.layer;
        t.role = ni.role;
        t.expert = ni.expert;
        maxLayer = std::max(maxLayer, t.layer);
    }
    if (m_hparams.blockCount == 0 && maxLayer >= 0) m_hparams.blockCount = uint32_t(maxLayer + 1);

    m_byName.clear();
    m_byName.reserve(m_tensors.size());
    for (size_t i = 0; i < m_tensors.size(); ++i) {
        m_byName.emplace_back(m_tensors[i].name, int64_t(i));
    }
    std::sort(m_byName.begin(), m_byName.end());
}

Result<Model> openModel(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
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

} // namespace qs::model
