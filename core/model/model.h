#pragma once
// A model file opened for exploring: its metadata and the list of its tensors, each a typed
// byte span into a read-only memory map. Opening reads the header only; tensor data is paged
// in when (and if) a tensor is decoded. GGUF files and safetensors (single or sharded) give the
// same Model; safetensors shapes are reversed into ggml order (ne[0] = row length).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"
#include "io/gguf_value.h"
#include "io/mapped_file.h"
#include "model/tensor_naming.h"

namespace qs::model {
class Model;
}
namespace qs::io {
Result<model::Model> loadGgufModel(const std::string& path);
Result<model::Model> loadSafetensorsModel(const std::string& path);
}

namespace qs::model {

enum class ModelFormat { Gguf, Safetensors };

/// One tensor of a model.
struct TensorInfo {
    std::string name;
    std::vector<int64_t> shape;  ///< ggml order: shape[0] is the contiguous row length
    formats::TensorType type = formats::TensorType::F32;
    uint32_t fileIndex = 0;      ///< which mapped file (shard) holds the data
    uint64_t offset = 0;         ///< absolute byte offset of the data in that file
    uint64_t nbytes = 0;         ///< byte size of the data
    int64_t nElements = 0;       ///< parameter count
    int layer = -1;              ///< block index, -1 for tensors outside the blocks
    TensorRole role = TensorRole::Other;
    int expert = -1;             ///< expert index for per-expert HF tensors, else -1

    /// Row length (shape[0]) and number of rows (product of the other dims).
    int64_t rowLength() const { return shape.empty() ? 1 : shape[0]; }
    int64_t rowCount() const { return rowLength() == 0 ? 0 : nElements / rowLength(); }
    /// "64 x 172" style rendering in ggml order.
    std::string shapeString() const;
};

/// Hyper-parameters that matter for planning (0 when unknown).
struct HParams {
    std::string architecture;  ///< "llama", "qwen2", ...
    uint32_t blockCount = 0;
    uint32_t embeddingLength = 0;
    uint32_t feedForwardLength = 0;
    uint32_t headCount = 0;
    uint32_t headCountKv = 0;
    uint32_t contextLength = 0;
    uint32_t expertCount = 0;
    uint32_t vocabSize = 0;
};

class Model {
public:
    ModelFormat format() const { return m_format; }
    /// GGUF version (2 or 3); 0 for safetensors.
    uint32_t version() const { return m_version; }
    /// The path the user opened (the .gguf, the .safetensors, or the index .json).
    const std::string& path() const { return m_path; }
    /// Data alignment of a GGUF file (general.alignment or 32); 0 for safetensors.
    uint32_t alignment() const { return m_alignment; }
    /// Absolute offset of the GGUF data section (0 for safetensors).
    uint64_t dataOffset() const { return m_dataOffset; }

    const std::vector<io::GgufKv>& metadata() const { return m_metadata; }
    /// Metadata value by key, or nullptr.
    const io::GgufValue* find(std::string_view key) const;
    const HParams& hparams() const { return m_hparams; }

    const std::vector<TensorInfo>& tensors() const { return m_tensors; }
    /// Index of a tensor by name, or -1.
    int64_t indexOf(std::string_view name) const;
    /// The raw bytes of a tensor (a view into the map; valid while the Model lives).
    std::span<const uint8_t> tensorData(const TensorInfo& t) const;
    const std::vector<io::MappedFile>& files() const { return m_files; }

    /// Sum of parameters and bytes over all tensors.
    int64_t totalElements() const;
    uint64_t totalBytes() const;

    /// Fill hparams, layer/role of every tensor and the name index from metadata and names.
    /// Readers call it once after filling the fields below.
    void finalize();

private:
    friend Result<Model> io::loadGgufModel(const std::string& path);
    friend Result<Model> io::loadSafetensorsModel(const std::string& path);

    ModelFormat m_format = ModelFormat::Gguf;
    uint32_t m_version = 0;
    std::string m_path;
    uint32_t m_alignment = 0;
    uint64_t m_dataOffset = 0;
    std::vector<io::GgufKv> m_metadata;
    HParams m_hparams;
    std::vector<TensorInfo> m_tensors;
    std::vector<io::MappedFile> m_files;
    std::vector<std::pair<std::string_view, int64_t>> m_byName;  // sorted for lookup
};

/// Open a model by path: a .gguf file, a .safetensors file (with config.json beside it), a
/// sharded model's `model.safetensors.index.json`, or a directory holding one of these.
Result<Model> openModel(const std::string& path);

} // namespace qs::model
