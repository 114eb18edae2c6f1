#pragma once
// A model file opened for exploring: its metadata and the list of its tensors, each a typed
// byte span into a read-only memory map. Opening reads the header only; tensor data is paged
// in when (and if) a tensor is decoded. GGUF files and safetensors (single or sharded) give the
// same Model; safetensors shapes are reversed into ggml order (ne[0] = row length).

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"
#include "io/gguf_value.h"
#include "io/mapped_file.h"
#include "model/tensor_naming.h"

namespace qs::model {

enum class ModelFormat { Gguf, Safetensors };

/// One contiguous span of source rows of a converted tensor: bytes in a mapped file (a shard)
/// or in a buffer the Model owns (small tensors made by the conversion, e.g. rope_freqs).
struct TensorPiece {
    int32_t fileIndex = 0;  ///< mapped file holding the bytes; -1: Model-owned buffer `buffer`
    int32_t buffer = -1;    ///< index of the owned buffer when fileIndex is -1
    uint64_t offset = 0;    ///< absolute byte offset in that file (or buffer)
    uint64_t nbytes = 0;    ///< byte size of the span
    formats::TensorType type = formats::TensorType::F32;  ///< type of the values as stored
    int64_t rows = 0;  ///< rows of the tensor's row length this span holds
};

/// A value transform applied to converted rows as they are read.
enum class ValueOp : uint8_t {
    None,
    AddOne,  ///< x + 1 (Gemma's RMSNorm weights, as llama.cpp's converter stores them)
};

/// How a converted ("virtual") tensor's rows are made from its sources: the pieces are
/// concatenated in order (e.g. one per expert for a stacked `*_exps` tensor); row r of the
/// tensor is row rowMap[r] of that concatenation (empty map: identity; the q/k permutation of
/// llama/mistral is a row map); values are converted from the piece's type to the tensor's
/// type, passing through `op`. Nothing is read until rows are asked for.
struct TensorSource {
    std::vector<TensorPiece> pieces;
    std::vector<int32_t> rowMap;
    ValueOp op = ValueOp::None;
};

/// One tensor of a model.
struct TensorInfo {
    std::string name;
    std::vector<int64_t> shape;  ///< ggml order: shape[0] is the contiguous row length
    formats::TensorType type = formats::TensorType::F32;
    uint32_t fileIndex = 0;  ///< which mapped file (shard) holds the data
    uint64_t offset = 0;     ///< absolute byte offset of the data in that file
    uint64_t nbytes = 0;     ///< byte size of the data
    int64_t nElements = 0;   ///< parameter count
    int layer = -1;          ///< block index, -1 for tensors outside the blocks
    TensorRole role = TensorRole::Other;
    int expert = -1;  ///< expert index for per-expert HF tensors, else -1
    /// Set for a converted tensor whose bytes are not one plain span of a file (permuted,
    /// stacked, retyped or generated): read it with Model::readRows, never tensorData. For
    /// such a tensor fileIndex/offset point at its first piece and nbytes is its size in `type`.
    std::shared_ptr<const TensorSource> source;

    /// True when the bytes must be made by Model::readRows (see `source`).
    bool isVirtual() const { return source != nullptr; }

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
    /// Everything a reader (io/model_loaders.h) or the converter (convert/hf_convert.h) gathers
    /// about a model; fromParts makes the Model of it. The model layer knows no reader: readers
    /// depend on it, not the other way round.
    struct Parts {
        ModelFormat format = ModelFormat::Gguf;
        uint32_t version = 0;  ///< GGUF version; 0 for safetensors
        std::string path;      ///< what the user opened
        uint32_t alignment = 0;
        uint64_t dataOffset = 0;
        std::vector<io::GgufKv> metadata;
        std::vector<TensorInfo> tensors;  ///< fileIndex indexes `files`
        std::vector<io::MappedFile> files;
        std::vector<std::vector<uint8_t>> buffers;  ///< owned bytes of generated tensors
        std::string convertedFrom;
        std::vector<std::string> conversionNotes;
    };
    /// The Model of `parts`, finalized (hparams, layers, roles and the name index filled in).
    static Model fromParts(Parts parts);
    /// Hands the parts back (e.g. for a converter that builds a new model over the same files).
    Parts intoParts() &&;

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
    /// Set a metadata key (replacing it in place, else appending) and refresh hparams. For
    /// callers that add to a model before export (e.g. a vocabulary for a converted model).
    void setMetadata(const std::string& key, io::GgufValue value);

    const std::vector<TensorInfo>& tensors() const { return m_tensors; }
    /// Index of a tensor by name, or -1.
    int64_t indexOf(std::string_view name) const;
    /// The raw bytes of a plain tensor (a view into the map; valid while the Model lives).
    /// Empty for a virtual (converted) tensor: use readRows, which works for every tensor.
    std::span<const uint8_t> tensorData(const TensorInfo& t) const;
    /// Rows [row0, row0 + n) of a tensor as bytes of its type `t.type`. A plain tensor gives a
    /// view into the map (no copy; `scratch` untouched); a virtual one is made into `scratch`
    /// (permuted, stacked, retyped as TensorSource says) and the answer views it. Errors name
    /// the tensor. Thread-safe for distinct scratch buffers.
    Result<std::span<const uint8_t>> readRows(const TensorInfo& t, int64_t row0, int64_t n,
                                              std::vector<uint8_t>& scratch) const;
    /// readRows, but always a copy into `scratch`, made with guarded reads of the map
    /// (MappedFile::copyOut): if a file was truncated under us, the answer is an error naming
    /// the file, the tensor and the byte offset, not a SIGBUS. The export and the error analysis
    /// read through it; it is one memcpy per chunk more than readRows.
    Result<std::span<const uint8_t>> copyRows(const TensorInfo& t, int64_t row0, int64_t n,
                                              std::vector<uint8_t>& scratch) const;
    /// Ok while every file of the model is unchanged on disk since it was opened (same inode,
    /// size and modification time; MappedFile::checkUnchanged), else that error.
    Status checkUnchanged() const;
    /// All rows of a tensor (readRows(t, 0, rowCount)).
    Result<std::span<const uint8_t>> readTensor(const TensorInfo& t,
                                                std::vector<uint8_t>& scratch) const;
    /// The stored bytes of one piece of a virtual tensor (a view into a map or an owned buffer).
    std::span<const uint8_t> pieceData(const TensorPiece& p) const;
    /// Drop the resident pages of a tensor's source bytes (every piece); see MappedFile::release.
    void releaseTensor(const TensorInfo& t) const;
    /// Drop the resident pages of the source bytes of rows [row0, row0 + n) where they are
    /// contiguous (plain tensors, unpermuted pieces); streaming jobs call it after each chunk so
    /// that memory stays near one chunk even for a tensor of gigabytes.
    void releaseRows(const TensorInfo& t, int64_t row0, int64_t n) const;
    /// Path of the file a piece lives in (the model's path for an owned buffer).
    std::string pieceFilePath(const TensorPiece& p) const;
    const std::vector<io::MappedFile>& files() const { return m_files; }

    /// For a model converted from a Hugging Face folder: its `architectures` entry
    /// ("LlamaForCausalLM"); empty otherwise.
    const std::string& convertedFrom() const { return m_convertedFrom; }
    /// Notes of the conversion for the user (e.g. "no tokenizer files: no vocabulary").
    const std::vector<std::string>& conversionNotes() const { return m_conversionNotes; }

    /// Sum of parameters and bytes over all tensors.
    int64_t totalElements() const;
    uint64_t totalBytes() const;

    /// llama-quantize --prune-layers: drop the tensors of the listed blocks and renumber the
    /// blocks left consecutively (blk.3.* becomes blk.2.* when block 2 goes), as llama.cpp's
    /// quantizer does. The metadata is left as it is (llama.cpp's type mixing still counts the
    /// original layers); the answer is the block count llama.cpp then writes. Numbers that
    /// name no block are ignored, as by llama.cpp. `newNames`, when given, receives old name ->
    /// new name for every tensor kept. Errors: a negative block number.
    Result<uint32_t> pruneBlocks(std::vector<int> blocks,
                                 std::map<std::string, std::string>* newNames = nullptr);

private:
    /// Fill hparams, layer/role of every tensor and the name index from metadata and names.
    void finalize();

    Result<std::span<const uint8_t>> readRowsImpl(const TensorInfo& t, int64_t row0, int64_t n,
                                                  std::vector<uint8_t>& scratch,
                                                  bool guarded) const;

    ModelFormat m_format = ModelFormat::Gguf;
    uint32_t m_version = 0;
    std::string m_path;
    uint32_t m_alignment = 0;
    uint64_t m_dataOffset = 0;
    std::vector<io::GgufKv> m_metadata;
    HParams m_hparams;
    std::vector<TensorInfo> m_tensors;
    std::vector<io::MappedFile> m_files;
    std::vector<std::vector<uint8_t>> m_buffers;  // owned bytes of generated tensors
    std::string m_convertedFrom;
    std::vector<std::string> m_conversionNotes;
    std::vector<std::pair<std::string_view, int64_t>> m_byName;  // sorted for lookup
};

/// Open a model by path (defined in io/open_model.cpp: it picks the reader): a .gguf file, a
/// .safetensors file (with config.json beside it), a sharded model's
/// `model.safetensors.index.json`, config.json, or a directory holding one of these. A Hugging Face
/// model of an architecture the converter supports (convert/hf_convert.h) opens converted: GGUF
/// names, shapes, types and metadata as llama.cpp's converter writes them (format() Gguf,
/// convertedFrom() set); other safetensors open as they are stored.
Result<Model> openModel(const std::string& path);

}  // namespace qs::model
