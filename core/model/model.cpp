#include "model/model.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "formats/decode.h"
#include "formats/encoders.h"

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

void Model::setMetadata(const std::string& key, io::GgufValue value) {
    bool replaced = false;
    for (auto& kv : m_metadata) {
        if (kv.key == key) {
            kv.value = std::move(value);
            replaced = true;
            break;
        }
    }
    if (!replaced) m_metadata.push_back({key, std::move(value)});
    finalize();
}

int64_t Model::indexOf(std::string_view name) const {
    auto it = std::lower_bound(m_byName.begin(), m_byName.end(), name,
                               [](const auto& e, std::string_view n) { return e.first < n; });
    if (it != m_byName.end() && it->first == name) return it->second;
    return -1;
}

std::span<const uint8_t> Model::tensorData(const TensorInfo& t) const {
    if (t.source) return {};
    return m_files[t.fileIndex].bytes().subspan(t.offset, t.nbytes);
}

std::span<const uint8_t> Model::pieceData(const TensorPiece& p) const {
    if (p.fileIndex < 0) {
        if (p.buffer < 0 || size_t(p.buffer) >= m_buffers.size()) return {};
        const auto& b = m_buffers[size_t(p.buffer)];
        if (p.offset > b.size() || p.nbytes > b.size() - p.offset) return {};
        return std::span<const uint8_t>(b).subspan(p.offset, p.nbytes);
    }
    if (size_t(p.fileIndex) >= m_files.size()) return {};
    const auto bytes = m_files[size_t(p.fileIndex)].bytes();
    if (p.offset > bytes.size() || p.nbytes > bytes.size() - p.offset) return {};
    return bytes.subspan(p.offset, p.nbytes);
}

void Model::releaseTensor(const TensorInfo& t) const {
    if (!t.source) {
        if (t.fileIndex < m_files.size()) m_files[t.fileIndex].release(t.offset, t.nbytes);
        return;
    }
    for (const auto& p : t.source->pieces) {
        if (p.fileIndex >= 0 && size_t(p.fileIndex) < m_files.size()) {
            m_files[size_t(p.fileIndex)].release(p.offset, p.nbytes);
        }
    }
}

void Model::releaseRows(const TensorInfo& t, int64_t row0, int64_t n) const {
    if (n <= 0) return;
    if (!t.source) {
        const auto rowBytes = formats::byteSize(t.type, uint64_t(t.rowLength()));
        if (rowBytes && t.fileIndex < m_files.size()) {
            m_files[t.fileIndex].release(t.offset + uint64_t(row0) * *rowBytes,
                                         uint64_t(n) * *rowBytes);
        }
        return;
    }
    if (!t.source->rowMap.empty()) return;  // permuted: released whole by releaseTensor
    int64_t start = 0;
    for (const auto& p : t.source->pieces) {
        const int64_t a = std::max(row0, start), b = std::min(row0 + n, start + p.rows);
        const auto rowBytes = formats::byteSize(p.type, uint64_t(t.rowLength()));
        if (a < b && rowBytes && p.fileIndex >= 0 && size_t(p.fileIndex) < m_files.size()) {
            m_files[size_t(p.fileIndex)].release(p.offset + uint64_t(a - start) * *rowBytes,
                                                 uint64_t(b - a) * *rowBytes);
        }
        start += p.rows;
    }
}

Result<std::span<const uint8_t>> Model::readTensor(const TensorInfo& t,
                                                   std::vector<uint8_t>& scratch) const {
    return readRows(t, 0, t.rowCount(), scratch);
}

Result<std::span<const uint8_t>> Model::readRows(const TensorInfo& t, int64_t row0, int64_t n,
                                                 std::vector<uint8_t>& scratch) const {
    return readRowsImpl(t, row0, n, scratch, false);
}

Result<std::span<const uint8_t>> Model::copyRows(const TensorInfo& t, int64_t row0, int64_t n,
                                                 std::vector<uint8_t>& scratch) const {
    return readRowsImpl(t, row0, n, scratch, true);
}

Status Model::checkUnchanged() const {
    for (const auto& f : m_files) QS_TRY(f.checkUnchanged());
    return {};
}

Result<std::span<const uint8_t>> Model::readRowsImpl(const TensorInfo& t, int64_t row0, int64_t n,
                                                     std::vector<uint8_t>& scratch,
                                                     bool guarded) const {
    const int64_t rowLength = t.rowLength();
    const int64_t rows = t.rowCount();
    if (row0 < 0 || n < 0 || row0 > rows || n > rows - row0) {
        return makeError(ErrorCode::BadUsage,
                         "rows " + std::to_string(row0) + "+" + std::to_string(n) +
                             " out of range (" + std::to_string(rows) + " rows)",
                         m_path, kNoOffset, t.name);
    }
    const auto dstRow = formats::byteSize(t.type, uint64_t(rowLength));
    if (!dstRow) {
        return makeError(ErrorCode::BadInput, "row length does not fit the type", m_path, t.offset,
                         t.name);
    }
    if (!t.source) {
        const auto all = tensorData(t);
        const uint64_t begin = uint64_t(row0) * *dstRow, len = uint64_t(n) * *dstRow;
        if (begin > all.size() || len > all.size() - begin) {
            return makeError(ErrorCode::BadInput, "tensor data is shorter than its shape", m_path,
                             t.offset, t.name);
        }
        if (!guarded) return all.subspan(begin, len);
        scratch.resize(size_t(len));
        QS_TRY(m_files[t.fileIndex].copyOut(t.offset + begin, len, scratch.data(), t.name));
        return std::span<const uint8_t>(scratch);
    }
    const TensorSource& src = *t.source;
    scratch.resize(size_t(uint64_t(n) * *dstRow));
    // Cumulative row starts of the pieces, for finding the piece of a source row.
    std::vector<int64_t> starts(src.pieces.size() + 1, 0);
    for (size_t i = 0; i < src.pieces.size(); ++i) starts[i + 1] = starts[i] + src.pieces[i].rows;
    if (starts.back() != rows) {
        return makeError(ErrorCode::Internal, "converted tensor's pieces do not cover its rows",
                         m_path, t.offset, t.name);
    }
    std::vector<float> values;
    std::vector<uint8_t> staged;
    int64_t r = 0;
    while (r < n) {
        const int64_t s0 = src.rowMap.empty() ? row0 + r : src.rowMap[size_t(row0 + r)];
        const size_t pi =
            size_t(std::upper_bound(starts.begin(), starts.end(), s0) - starts.begin()) - 1;
        const TensorPiece& piece = src.pieces[pi];
        // The run of rows that are consecutive in the same piece.
        int64_t run = 1;
        while (r + run < n) {
            const int64_t s =
                src.rowMap.empty() ? row0 + r + run : src.rowMap[size_t(row0 + r + run)];
            if (s != s0 + run || s >= starts[pi + 1]) break;
            ++run;
        }
        const auto srcRow = formats::byteSize(piece.type, uint64_t(rowLength));
        const auto bytes = pieceData(piece);
        if (!srcRow || bytes.size() != uint64_t(piece.rows) * *srcRow) {
            return makeError(ErrorCode::BadInput, "source data does not match the shape",
                             pieceFilePath(piece), piece.offset, t.name);
        }
        auto in = bytes.subspan(uint64_t(s0 - starts[pi]) * *srcRow, uint64_t(run) * *srcRow);
        if (guarded && piece.fileIndex >= 0) {  // stage the mapped bytes through a guarded copy
            const auto& file = m_files[size_t(piece.fileIndex)];
            staged.resize(in.size());
            QS_TRY(
                file.copyOut(uint64_t(in.data() - file.data()), in.size(), staged.data(), t.name));
            in = std::span<const uint8_t>(staged);
        }
        uint8_t* out = scratch.data() + uint64_t(r) * *dstRow;
        if (piece.type == t.type && src.op == ValueOp::None) {
            std::memcpy(out, in.data(), in.size());
        } else {
            values.resize(size_t(run * rowLength));
            QS_TRY(formats::decodeRows(piece.type, in, values, rowLength, 1, t.name));
            if (src.op == ValueOp::AddOne) {
                for (float& v : values) v += 1.0f;
            }
            if (t.type == formats::TensorType::F32) {
                std::memcpy(out, values.data(), values.size() * sizeof(float));
            } else {
                const auto enc = formats::encoderOf(t.type);
                if (!enc) {
                    return makeError(ErrorCode::BadUsage, "cannot write the converted type", m_path,
                                     t.offset, t.name);
                }
                for (int64_t k = 0; k < run; ++k) {
                    enc(values.data() + k * rowLength, out + uint64_t(k) * *dstRow, rowLength,
                        nullptr);
                }
            }
        }
        r += run;
    }
    return std::span<const uint8_t>(scratch);
}

std::string Model::pieceFilePath(const TensorPiece& p) const {
    if (p.fileIndex >= 0 && size_t(p.fileIndex) < m_files.size()) {
        return m_files[size_t(p.fileIndex)].path();
    }
    return m_path;
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

Result<uint32_t> Model::pruneBlocks(std::vector<int> blocks,
                                    std::map<std::string, std::string>* newNames) {
    for (int b : blocks) {
        if (b < 0) {
            return makeError(ErrorCode::BadUsage,
                             "--prune-layers: invalid layer " + std::to_string(b), m_path);
        }
    }
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
    std::vector<int> layers;
    for (const auto& t : m_tensors) {
        if (t.layer >= 0) layers.push_back(t.layer);
    }
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
    // llama.cpp's remap_layer, visiting the blocks in order: a pruned block is dropped, a block
    // before the first pruned one keeps its number, every later one takes the next free number.
    std::map<int, int> newId;  // -1: pruned
    int next = 0;
    for (int l : layers) {
        if (std::binary_search(blocks.begin(), blocks.end(), l)) {
            newId[l] = -1;
        } else if (blocks.empty() || l < blocks.front()) {
            newId[l] = l;
            next = l + 1;
        } else {
            newId[l] = next++;
        }
    }
    std::vector<TensorInfo> kept;
    kept.reserve(m_tensors.size());
    for (auto& t : m_tensors) {
        if (t.layer >= 0) {
            const int id = newId[t.layer];
            if (id < 0) continue;
            const std::string from = "blk." + std::to_string(t.layer) + ".";
            const std::string old = t.name;
            if (const auto pos = t.name.find(from); pos != std::string::npos && id != t.layer) {
                t.name.replace(pos, from.size(), "blk." + std::to_string(id) + ".");
            }
            if (newNames) (*newNames)[old] = t.name;
        } else if (newNames) {
            (*newNames)[t.name] = t.name;
        }
        kept.push_back(std::move(t));
    }
    m_tensors = std::move(kept);
    finalize();
    return uint32_t(next);
}

Model Model::fromParts(Parts parts) {
    Model m;
    m.m_format = parts.format;
    m.m_version = parts.version;
    m.m_path = std::move(parts.path);
    m.m_alignment = parts.alignment;
    m.m_dataOffset = parts.dataOffset;
    m.m_metadata = std::move(parts.metadata);
    m.m_tensors = std::move(parts.tensors);
    m.m_files = std::move(parts.files);
    m.m_buffers = std::move(parts.buffers);
    m.m_convertedFrom = std::move(parts.convertedFrom);
    m.m_conversionNotes = std::move(parts.conversionNotes);
    m.finalize();
    return m;
}

Model::Parts Model::intoParts() && {
    Parts p;
    p.format = m_format;
    p.version = m_version;
    p.path = std::move(m_path);
    p.alignment = m_alignment;
    p.dataOffset = m_dataOffset;
    p.metadata = std::move(m_metadata);
    p.tensors = std::move(m_tensors);
    p.files = std::move(m_files);
    p.buffers = std::move(m_buffers);
    p.convertedFrom = std::move(m_convertedFrom);
    p.conversionNotes = std::move(m_conversionNotes);
    m_byName.clear();
    return p;
}

}  // namespace qs::model
