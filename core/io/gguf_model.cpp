// loadGgufModel: a GGUF file -> Model (header parse only; tensor data stays in the map).
#include "io/gguf_reader.h"
#include "model/model.h"

namespace qs::io {

Result<model::Model> loadGgufModel(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    auto parsed = parseGguf(file->bytes(), path);
    if (!parsed) return parsed.error();

    model::Model m;
    m.m_format = model::ModelFormat::Gguf;
    m.m_version = parsed->version;
    m.m_path = path;
    m.m_alignment = parsed->alignment;
    m.m_dataOffset = parsed->dataOffset;
    m.m_metadata = std::move(parsed->kvs);
    m.m_tensors.reserve(parsed->tensors.size());
    for (auto& t : parsed->tensors) {
        model::TensorInfo info;
        info.name = std::move(t.name);
        info.shape = std::move(t.shape);
        if (info.shape.empty()) info.shape.push_back(1);
        info.type = formats::TensorType(t.typeId);
        info.fileIndex = 0;
        info.offset = parsed->dataOffset + t.offset;
        info.nbytes = t.nbytes;
        info.nElements = int64_t(t.nElements);
        m.m_tensors.push_back(std::move(info));
    }
    m.m_files.push_back(std::move(*file));
    m.finalize();
    return m;
}

} // namespace qs::io
