#pragma once
// safetensors reader: an 8-byte little-endian header length, a JSON header (tensor name ->
// {dtype, shape, data_offsets}, plus an optional "__metadata__" map of strings), then the data.
// Single files and sharded models (model.safetensors.index.json with a "weight_map") are read;
// a config.json beside the weights gives the architecture. Every byte is distrusted: the header
// length, each shape product (overflow-checked), each data span (inside the data section, of the
// exact size its dtype and shape give, not overlapping another). Errors name the file, the
// tensor and the offset; nothing throws across the API. loadSafetensorsModel (declared in
// model/model.h) builds a Model from a file, an index or a folder with these.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::io {

/// One tensor as the header describes it.
struct SafetensorsTensor {
    std::string name;
    formats::TensorType type = formats::TensorType::F32;
    std::vector<int64_t> shape;  ///< row-major as stored (PyTorch order)
    uint64_t begin = 0;          ///< absolute file offset of the data
    uint64_t nbytes = 0;         ///< exactly byteSize(type, nElements)
    uint64_t nElements = 0;      ///< product of shape (1 for a scalar, shape [])
};

/// One parsed file: header facts, `__metadata__` and the tensors.
struct SafetensorsFile {
    uint64_t headerLength = 0;
    uint64_t dataOffset = 0;  ///< 8 + headerLength
    std::map<std::string, std::string> metadata;
    std::vector<SafetensorsTensor> tensors;  ///< in order of their data offsets
};

/// Parse the bytes of one .safetensors file. `fileName` is used in messages. Every entry is
/// checked before the answer: the error reports the first problem in file order (its offset is
/// the entry's key in the header, or the overlapping data) and counts the others. Never throws.
Result<SafetensorsFile> parseSafetensors(std::span<const uint8_t> bytes,
                                         const std::string& fileName);

/// dtype name -> tensor type ("F16" -> F16, "F8_E4M3" -> F8_E4M3, "BOOL" -> BOOL ...).
Result<formats::TensorType> safetensorsDtype(const std::string& dtype);

}  // namespace qs::io
