#include "formats/type_table.h"

#include <array>
#include <cctype>
#include <limits>

#include "formats/codecs/codecs.h"

namespace qs::formats {

namespace {

using T = TensorType;

// Sizes from ggml's type_traits (ggml/src/ggml.c); checked against gguf-py GGML_QUANT_SIZES.
// Columns: type, name, block size, block bytes, quantized, decoder, encoder, reference encoder,
// needs importance (ggml_quantize_requires_imatrix: IQ1_M is not listed, it falls back to x^2).
constexpr TypeTraits kTypes[] = {
    {T::F32, "F32", 1, 4, false, decodeF32, detail::encodeF32, detail::encodeF32, false},
    {T::F16, "F16", 1, 2, false, decodeF16, detail::encodeF16, detail::encodeF16, false},
    {T::Q4_0, "Q4_0", 32, 18, true, decodeQ4_0, detail::encodeQ4_0, detail::encodeQ4_0Ref, false},
    {T::Q4_1, "Q4_1", 32, 20, true, decodeQ4_1, detail::encodeQ4_1, detail::encodeQ4_1Ref, false},
    {T::Q5_0, "Q5_0", 32, 22, true, decodeQ5_0, detail::encodeQ5_0, detail::encodeQ5_0Ref, false},
    {T::Q5_1, "Q5_1", 32, 24, true, decodeQ5_1, detail::encodeQ5_1, detail::encodeQ5_1Ref, false},
    {T::Q8_0, "Q8_0", 32, 34, true, decodeQ8_0, detail::encodeQ8_0, detail::encodeQ8_0, false},
    {T::Q8_1, "Q8_1", 32, 36, true, decodeQ8_1, nullptr, nullptr, false},
    {T::Q2_K, "Q2_K", 256, 84, true, decodeQ2_K, detail::encodeQ2_K, detail::encodeQ2_KRef, false},
    {T::Q3_K, "Q3_K", 256, 110, true, decodeQ3_K, detail::encodeQ3_K, detail::encodeQ3_KRef, false},
    {T::Q4_K, "Q4_K", 256, 144, true, decodeQ4_K, detail::encodeQ4_K, detail::encodeQ4_KRef, false},
    {T::Q5_K, "Q5_K", 256, 176, true, decodeQ5_K, detail::encodeQ5_K, detail::encodeQ5_KRef, false},
    {T::Q6_K, "Q6_K", 256, 210, true, decodeQ6_K, detail::encodeQ6_K, detail::encodeQ6_KRef, false},
    {T::Q8_K, "Q8_K", 256, 292, true, decodeQ8_K, nullptr, nullptr, false},
    {T::IQ2_XXS, "IQ2_XXS", 256, 66, true, decodeIQ2_XXS, detail::encodeIQ2_XXS,
     detail::encodeIQ2_XXS, true},
    {T::IQ2_XS, "IQ2_XS", 256, 74, true, decodeIQ2_XS, detail::encodeIQ2_XS, detail::encodeIQ2_XS,
     true},
    {T::IQ3_XXS, "IQ3_XXS", 256, 98, true, decodeIQ3_XXS, detail::encodeIQ3_XXS,
     detail::encodeIQ3_XXS, false},
    {T::IQ1_S, "IQ1_S", 256, 50, true, decodeIQ1_S, detail::encodeIQ1_S, detail::encodeIQ1_S, true},
    {T::IQ4_NL, "IQ4_NL", 32, 18, true, decodeIQ4_NL, detail::encodeIQ4_NL, detail::encodeIQ4_NLRef,
     false},
    {T::IQ3_S, "IQ3_S", 256, 110, true, decodeIQ3_S, detail::encodeIQ3_S, detail::encodeIQ3_S,
     false},
    {T::IQ2_S, "IQ2_S", 256, 82, true, decodeIQ2_S, detail::encodeIQ2_S, detail::encodeIQ2_S,
     false},
    {T::IQ4_XS, "IQ4_XS", 256, 136, true, decodeIQ4_XS, detail::encodeIQ4_XS,
     detail::encodeIQ4_XSRef, false},
    {T::I8, "I8", 1, 1, false, decodeI8, nullptr, nullptr, false},
    {T::I16, "I16", 1, 2, false, decodeI16, nullptr, nullptr, false},
    {T::I32, "I32", 1, 4, false, decodeI32, nullptr, nullptr, false},
    {T::I64, "I64", 1, 8, false, decodeI64, nullptr, nullptr, false},
    {T::F64, "F64", 1, 8, false, decodeF64, nullptr, nullptr, false},
    {T::IQ1_M, "IQ1_M", 256, 56, true, decodeIQ1_M, detail::encodeIQ1_M, detail::encodeIQ1_M,
     false},
    {T::BF16, "BF16", 1, 2, false, decodeBF16, detail::encodeBF16, detail::encodeBF16, false},
    {T::TQ1_0, "TQ1_0", 256, 54, true, decodeTQ1_0, detail::encodeTQ1_0, detail::encodeTQ1_0,
     false},
    {T::TQ2_0, "TQ2_0", 256, 66, true, decodeTQ2_0, detail::encodeTQ2_0, detail::encodeTQ2_0,
     false},
    {T::MXFP4, "MXFP4", 32, 17, true, decodeMXFP4, detail::encodeMXFP4, detail::encodeMXFP4, false},
    {T::NVFP4, "NVFP4", 64, 36, true, decodeNVFP4, detail::encodeNVFP4, detail::encodeNVFP4, false},
    {T::Q1_0, "Q1_0", 128, 18, true, decodeQ1_0, detail::encodeQ1_0, detail::encodeQ1_0, false},
    {T::Q2_0, "Q2_0", 64, 18, true, decodeQ2_0, detail::encodeQ2_0, detail::encodeQ2_0, false},
    {T::F8_E4M3, "F8_E4M3", 1, 1, false, decodeF8_E4M3, nullptr, nullptr, false},
    {T::F8_E5M2, "F8_E5M2", 1, 1, false, decodeF8_E5M2, nullptr, nullptr, false},
    {T::U8, "U8", 1, 1, false, decodeU8, nullptr, nullptr, false},
    {T::BOOL, "BOOL", 1, 1, false, decodeU8, nullptr, nullptr, false},
};

constexpr uint32_t kMaxGgufId = 43;
constexpr uint32_t kFirstExtraId = 1000;
constexpr uint32_t kIndexSize = kMaxGgufId + 8;  // ggml ids, then the safetensors-only ids

constexpr int slotOf(uint32_t id) {
    if (id < kMaxGgufId) return int(id);
    if (id >= kFirstExtraId && id < kFirstExtraId + 8) return int(kMaxGgufId + id - kFirstExtraId);
    return -1;
}

constexpr std::array<int, kIndexSize> buildIndex() {
    std::array<int, kIndexSize> idx{};
    for (auto& v : idx) v = -1;
    for (int i = 0; i < int(std::size(kTypes)); ++i) idx[slotOf(uint32_t(kTypes[i].type))] = i;
    return idx;
}
constexpr auto kIndex = buildIndex();

bool equalsNoCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) !=
            std::toupper(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

}  // namespace

const TypeTraits* traitsOf(uint32_t id) {
    const int slot = slotOf(id);
    if (slot < 0 || kIndex[slot] < 0) return nullptr;
    return &kTypes[kIndex[slot]];
}

const TypeTraits* ggufTraitsOf(uint32_t id) {
    return id < kMaxGgufId ? traitsOf(id) : nullptr;
}

const TypeTraits& traits(TensorType type) {
    return *traitsOf(uint32_t(type));
}

std::span<const TypeTraits> allTypes() {
    return kTypes;
}

std::optional<TensorType> typeFromName(std::string_view name) {
    for (const auto& t : kTypes) {
        if (equalsNoCase(t.name, name)) return t.type;
    }
    return std::nullopt;
}

std::optional<uint64_t> byteSize(TensorType type, uint64_t nElements) {
    const auto& t = traits(type);
    if (nElements % uint64_t(t.blockSize) != 0) return std::nullopt;
    const uint64_t blocks = nElements / uint64_t(t.blockSize);
    if (blocks > std::numeric_limits<uint64_t>::max() / uint64_t(t.blockBytes)) return std::nullopt;
    return blocks * uint64_t(t.blockBytes);
}

}  // namespace qs::formats
