#pragma once
// What every block-quantized codec shares: the block sizes and loading a block struct from
// (possibly unaligned, memory-mapped) bytes. Each family's header (codecs/<family>/<family>.h)
// declares its block structs field for field as ggml's src/ggml-common.h does (field names
// spelled as ggml spells them). Multi-byte fields are little-endian in the file; `half` fields
// hold raw IEEE fp16 bits (see half.h).
//
// The structs contain only uint8_t/int8_t/uint16_t/int16_t arrays and scalars, laid out so that
// the natural layout has no padding: the static_asserts on sizeof and offsetof prove it, so they
// are packed without compiler attributes (which would make references to members unaligned). A
// decoder copies a block out of the source with loadBlock() and then reads the fields by name.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace qs::formats::blocks {
// Loading a block by memcpy reinterprets little-endian file bytes as host integers.
static_assert(std::endian::native == std::endian::little,
              "block decoders assume a little-endian host (as ggml does)");

/// Values per super-block of the K-quants, i-quants and ternary quants (ggml's QK_K).
inline constexpr int kQK_K = 256;
/// Values per block of the legacy quants, IQ4_NL and MXFP4.
inline constexpr int kQK32 = 32;

/// Copy one block from `src` (any alignment) into a struct.
template <typename Block>
inline Block loadBlock(const uint8_t* src) {
    static_assert(std::is_trivially_copyable_v<Block>);
    Block b;
    std::memcpy(&b, src, sizeof(Block));
    return b;
}
}  // namespace qs::formats::blocks
