#pragma once
// GGUF reader for versions 2 and 3 (little-endian). It accepts what the GGUF specification
// allows, including nested arrays (which llama.cpp's C reader refuses), and distrusts every
// byte: each count, length, offset and size is checked against the bytes that remain before
// anything is allocated; products are overflow-checked; duplicate keys and tensor names,
// unknown value or tensor types, a non-power-of-two `general.alignment`, misaligned,
// out-of-file or overlapping tensor data are refused. Errors name the file, the key or tensor
// and the absolute byte offset. Nothing here throws, logs or allocates beyond the header.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "io/gguf_value.h"

namespace qs::io {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian uint32
inline constexpr uint32_t kGgufDefaultAlignment = 32;

/// One tensor info as stored in the header.
struct GgufTensorInfo {
    std::string name;
    std::vector<int64_t> shape;  ///< ne[0..n_dims), ne[0] = row length
    uint32_t typeId = 0;         ///< ggml type id (validated: known to formats::ggufTraitsOf)
    uint64_t offset = 0;         ///< relative to the data section
    uint64_t nbytes = 0;         ///< computed from shape and type
    uint64_t nElements = 0;
    uint64_t infoOffset = 0;  ///< absolute file offset of this tensor info (for messages)
};

/// A parsed GGUF header. Offsets are absolute unless noted.
struct GgufFile {
    uint32_t version = 3;
    std::vector<GgufKv> kvs;
    std::vector<GgufTensorInfo> tensors;
    uint32_t alignment = kGgufDefaultAlignment;
    uint64_t dataOffset = 0;  ///< start of the data section
    uint64_t fileSize = 0;

    /// Value of a key, or nullptr.
    const GgufValue* find(std::string_view key) const;
};

/// Limits that protect the reader from absurd headers (beyond the bytes-remaining checks).
struct GgufLimits {
    uint64_t maxStringLength = 1ull << 30;  ///< 1 GiB: a key, value or tensor name
    uint32_t maxArrayDepth = 8;             ///< nesting of arrays of arrays
    uint32_t maxDims = 4;                   ///< GGML_MAX_DIMS
};

/// Parse a whole GGUF file held in memory (normally a MappedFile's bytes).
/// `fileName` is used in error messages only.
Result<GgufFile> parseGguf(std::span<const uint8_t> bytes, const std::string& fileName,
                           const GgufLimits& limits = {});

}  // namespace qs::io
