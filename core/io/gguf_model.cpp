// loadGgufModel: a GGUF file -> Model (header parse only; tensor data stays in the map). A shard
// of a split model (split.count > 1) opens the whole model: every shard is found by llama.cpp's
// naming beside it, each is parsed and the catalogue checked (gguf_split.h) before anything is
// assembled, so that an inconsistent set is an error naming the shard, never a partial model.
#include "io/gguf_reader.h"
#include "io/gguf_split.h"
#include "io/model_loaders.h"
#include "model/model.h"

namespace qs::io {

Result<model::Model> loadGgufModel(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    auto parsed = parseGguf(file->bytes(), path);
    if (!parsed) return parsed.error();
    auto keys = readSplitKeys(*parsed, path);
    if (!keys) return keys.error();

    // The shards in order (just the opened file for a whole model).
    std::vector<MappedFile> files;
    std::vector<GgufFile> headers;
    std::vector<std::string> names;
    if (*keys && (*keys)->count > 1) {
        auto paths = findShardPaths(path, **keys);
        if (!paths) return paths.error();
        files.reserve(paths->size());
        headers.reserve(paths->size());
        for (size_t i = 0; i < paths->size(); ++i) {
            if (i == (*keys)->no) {
                files.push_back(std::move(*file));
                headers.push_back(std::move(*parsed));
            } else {
                auto f = MappedFile::open((*paths)[i]);
                if (!f) return f.error();
                auto h = parseGguf(f->bytes(), (*paths)[i]);
                if (!h) return h.error();
                files.push_back(std::move(*f));
                headers.push_back(std::move(*h));
            }
        }
        names = std::move(*paths);
        std::vector<const GgufFile*> views;
        for (const auto& h : headers) views.push_back(&h);
        QS_TRY(checkShardCatalogue(views, names));
    } else {
        files.push_back(std::move(*file));
        headers.push_back(std::move(*parsed));
        names.push_back(path);
    }

    GgufFile& first = headers.front();
    model::Model::Parts m;
    m.format = model::ModelFormat::Gguf;
    m.version = first.version;
    m.path = path;
    m.alignment = first.alignment;
    m.dataOffset = first.dataOffset;
    m.metadata = std::move(first.kvs);
    size_t total = 0;
    for (const auto& h : headers) total += h.tensors.size();
    m.tensors.reserve(total);
    for (size_t s = 0; s < headers.size(); ++s) {
        for (auto& t : headers[s].tensors) {
            model::TensorInfo info;
            info.name = std::move(t.name);
            info.shape = std::move(t.shape);
            if (info.shape.empty()) info.shape.push_back(1);
            info.type = formats::TensorType(t.typeId);
            info.fileIndex = uint32_t(s);
            info.offset = headers[s].dataOffset + t.offset;
            info.nbytes = t.nbytes;
            info.nElements = int64_t(t.nElements);
            m.tensors.push_back(std::move(info));
        }
    }
    m.files = std::move(files);
    return model::Model::fromParts(std::move(m));
}

}  // namespace qs::io
