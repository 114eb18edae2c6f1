#pragma once
// The compute shaders embedded in qs_gpu: SPIR-V compiled by glslc at build time from
// gpu/shaders/*.comp (one variant per tensor type, see gpu/CMakeLists.txt).

#include <cstdint>
#include <span>
#include <string_view>

#include "formats/type_table.h"

namespace qs::gpu {

/// One embedded SPIR-V module and the interface its pipeline needs.
struct ShaderCode {
    std::string_view name;  ///< unique id, e.g. "decode_q4_0" (pipeline cache key)
    std::span<const uint32_t> spirv;
    uint32_t storageBuffers = 2;     ///< bindings 0..n-1, all storage buffers
    uint32_t pushConstantBytes = 8;  ///< size of the push-constant block
};

/// Interface of the K-quant/IQ4 encoders (encode_k.comp): bindings 0 floats, 1 bytes, 2 the
/// row's importance (for EncodeWeighted followed by each row's sigma2); push constants nUnits,
/// nItems, blocksPerRow, firstBlockInRow, hasImportance, firstRow.
inline constexpr uint32_t kEncodeKBindings = 3;
inline constexpr uint32_t kEncodeKPushBytes = 24;

/// Interface of the grid i-quant decoders and the MXFP4 encoder: bindings 0 input, 1 output,
/// 2 a read-only table the host uploads (tableOf); push constants nUnits, nItems.
inline constexpr uint32_t kTableBindings = 3;

/// The operations the shaders implement.
enum class ShaderOp {
    Decode,  ///< type bytes -> float32 (binding 0 bytes, binding 1 floats)
    Encode,  ///< float32 -> type bytes (binding 0 floats, binding 1 bytes)
    /// float32 -> Q4_0/Q4_1/Q5_0/Q5_1 bytes with importance (ggml's weighted scale search;
    /// binding 2 holds the importance and each row's sigma2)
    EncodeWeighted,
    /// float32 values -> counts of fixed bins (histogram.comp; registered under F32)
    Histogram,
    /// float32 original and decoded values -> double error sums (error_sums.comp, F32)
    ErrorSums,
};

/// The shader of `op` for `type`, or nullptr if there is none.
const ShaderCode* findShader(ShaderOp op, formats::TensorType type);

/// The table a kTableBindings shader reads as binding 2 (little-endian words): the grid
/// codebook of IQ1_S/IQ1_M/IQ2_*/IQ3_* for Decode, the floor(log2f) thresholds for MXFP4's
/// Encode. Empty for every other shader.
std::span<const uint32_t> tableOf(ShaderOp op, formats::TensorType type);

/// Values one decode invocation handles (8 for plain types, 32 for block types).
int64_t decodeValuesPerUnit(formats::TensorType type);
/// Items (blocks, or values for F16/BF16) one encode invocation handles.
int64_t encodeItemsPerUnit(formats::TensorType type);

}  // namespace qs::gpu
