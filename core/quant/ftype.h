#pragma once
// llama.cpp's file types ("presets": Q4_K_M, Q8_0, ...): their ids (the value of
// `general.file_type`, llama.h `llama_ftype`), names as llama-quantize spells them, and the
// default tensor type of each (`llama_ftype_get_default_type`).

#include <optional>
#include <span>
#include <string_view>

#include "formats/type_table.h"

namespace qs::quant {

enum class Ftype : uint32_t {
    ALL_F32 = 0,
    MOSTLY_F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q8_0 = 7,
    Q5_0 = 8,
    Q5_1 = 9,
    Q2_K = 10,
    Q3_K_S = 11,
    Q3_K_M = 12,
    Q3_K_L = 13,
    Q4_K_S = 14,
    Q4_K_M = 15,
    Q5_K_S = 16,
    Q5_K_M = 17,
    Q6_K = 18,
    IQ2_XXS = 19,
    IQ2_XS = 20,
    Q2_K_S = 21,
    IQ3_XS = 22,
    IQ3_XXS = 23,
    IQ1_S = 24,
    IQ4_NL = 25,
    IQ3_S = 26,
    IQ3_M = 27,
    IQ2_S = 28,
    IQ2_M = 29,
    IQ4_XS = 30,
    IQ1_M = 31,
    MOSTLY_BF16 = 32,
    TQ1_0 = 36,
    TQ2_0 = 37,
    MXFP4_MOE = 38,
    // 39 is LLAMA_FTYPE_MOSTLY_NVFP4: llama-quantize lists no preset for it.
    Q1_0 = 40,
    Q2_0 = 41,
};

/// One preset as llama-quantize lists it.
struct FtypeInfo {
    Ftype ftype;
    std::string_view name;            ///< "Q4_K_M", "F16", "BF16", "F32"
    formats::TensorType defaultType;  ///< the type most tensors get
};

/// Every preset, in llama-quantize's order of listing.
std::span<const FtypeInfo> allFtypes();
const FtypeInfo& ftypeInfo(Ftype f);
/// Parse a preset name as llama-quantize does: case-insensitive, aliases Q4_K (= Q4_K_M),
/// Q5_K (= Q5_K_M), Q3_K (= Q3_K_M), or the numeric id. nullopt if unknown.
std::optional<Ftype> ftypeFromName(std::string_view name);
/// The ftype whose default type is `t` with no mixing (Q8_0 -> Q8_0, Q4_K -> Q4_K_M ...), used
/// to label files made by a plain `--type`. nullopt if none.
std::optional<Ftype> ftypeForType(formats::TensorType t);

}  // namespace qs::quant
