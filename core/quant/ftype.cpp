#include "quant/ftype.h"

#include <cctype>
#include <charconv>
#include <string>

namespace qs::quant {

namespace {

using T = formats::TensorType;

// Listing and defaults as in llama.cpp's tools/quantize QUANT_OPTIONS and
// llama_ftype_get_default_type (src/llama-quant.cpp).
constexpr FtypeInfo kFtypes[] = {
    {Ftype::Q1_0, "Q1_0", T::Q1_0},
    {Ftype::Q2_0, "Q2_0", T::Q2_0},
    {Ftype::Q4_0, "Q4_0", T::Q4_0},
    {Ftype::Q4_1, "Q4_1", T::Q4_1},
    {Ftype::MXFP4_MOE, "MXFP4_MOE", T::MXFP4},
    {Ftype::Q5_0, "Q5_0", T::Q5_0},
    {Ftype::Q5_1, "Q5_1", T::Q5_1},
    {Ftype::IQ2_XXS, "IQ2_XXS", T::IQ2_XXS},
    {Ftype::IQ2_XS, "IQ2_XS", T::IQ2_XS},
    {Ftype::IQ2_S, "IQ2_S", T::IQ2_XS},
    {Ftype::IQ2_M, "IQ2_M", T::IQ2_S},
    {Ftype::IQ1_S, "IQ1_S", T::IQ1_S},
    {Ftype::IQ1_M, "IQ1_M", T::IQ1_M},
    {Ftype::TQ1_0, "TQ1_0", T::TQ1_0},
    {Ftype::TQ2_0, "TQ2_0", T::TQ2_0},
    {Ftype::Q2_K, "Q2_K", T::Q2_K},
    {Ftype::Q2_K_S, "Q2_K_S", T::Q2_K},
    {Ftype::IQ3_XXS, "IQ3_XXS", T::IQ3_XXS},
    {Ftype::IQ3_S, "IQ3_S", T::IQ3_S},
    {Ftype::IQ3_M, "IQ3_M", T::IQ3_S},
    {Ftype::IQ3_XS, "IQ3_XS", T::IQ3_S},
    {Ftype::Q3_K_S, "Q3_K_S", T::Q3_K},
    {Ftype::Q3_K_M, "Q3_K_M", T::Q3_K},
    {Ftype::Q3_K_L, "Q3_K_L", T::Q3_K},
    {Ftype::IQ4_NL, "IQ4_NL", T::IQ4_NL},
    {Ftype::IQ4_XS, "IQ4_XS", T::IQ4_XS},
    {Ftype::Q4_K_S, "Q4_K_S", T::Q4_K},
    {Ftype::Q4_K_M, "Q4_K_M", T::Q4_K},
    {Ftype::Q5_K_S, "Q5_K_S", T::Q5_K},
    {Ftype::Q5_K_M, "Q5_K_M", T::Q5_K},
    {Ftype::Q6_K, "Q6_K", T::Q6_K},
    {Ftype::Q8_0, "Q8_0", T::Q8_0},
    {Ftype::MOSTLY_F16, "F16", T::F16},
    {Ftype::MOSTLY_BF16, "BF16", T::BF16},
    {Ftype::ALL_F32, "F32", T::F32},
};

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::span<const FtypeInfo> allFtypes() {
    return kFtypes;
}

const FtypeInfo& ftypeInfo(Ftype f) {
    for (const auto& i : kFtypes) {
        if (i.ftype == f) return i;
    }
    return kFtypes[0];  // unreachable for valid enum values
}

std::optional<Ftype> ftypeFromName(std::string_view name) {
    const std::string u = upper(name);
    if (u == "Q4_K") return Ftype::Q4_K_M;
    if (u == "Q5_K") return Ftype::Q5_K_M;
    if (u == "Q3_K") return Ftype::Q3_K_M;
    for (const auto& i : kFtypes) {
        if (i.name == u) return i.ftype;
    }
    uint32_t id = 0;
    auto [p, ec] = std::from_chars(u.data(), u.data() + u.size(), id);
    if (ec == std::errc() && p == u.data() + u.size()) {
        for (const auto& i : kFtypes) {
            if (uint32_t(i.ftype) == id) return i.ftype;
        }
    }
    return std::nullopt;
}

std::optional<Ftype> ftypeForType(formats::TensorType t) {
    switch (t) {
    case T::F32: return Ftype::ALL_F32;
    case T::F16: return Ftype::MOSTLY_F16;
    case T::BF16: return Ftype::MOSTLY_BF16;
    case T::Q4_0: return Ftype::Q4_0;
    case T::Q4_1: return Ftype::Q4_1;
    case T::Q5_0: return Ftype::Q5_0;
    case T::Q5_1: return Ftype::Q5_1;
    case T::Q8_0: return Ftype::Q8_0;
    case T::Q2_K: return Ftype::Q2_K;
    case T::Q3_K: return Ftype::Q3_K_M;
    case T::Q4_K: return Ftype::Q4_K_M;
    case T::Q5_K: return Ftype::Q5_K_M;
    case T::Q6_K: return Ftype::Q6_K;
    case T::IQ4_NL: return Ftype::IQ4_NL;
    case T::IQ4_XS: return Ftype::IQ4_XS;
    case T::IQ2_XXS: return Ftype::IQ2_XXS;
    case T::IQ2_XS: return Ftype::IQ2_XS;
    case T::IQ3_XXS: return Ftype::IQ3_XXS;
    case T::IQ3_S: return Ftype::IQ3_S;
    case T::IQ1_S: return Ftype::IQ1_S;
    case T::IQ1_M: return Ftype::IQ1_M;
    case T::TQ1_0: return Ftype::TQ1_0;
    case T::TQ2_0: return Ftype::TQ2_0;
    case T::Q1_0: return Ftype::Q1_0;
    case T::Q2_0: return Ftype::Q2_0;
    case T::IQ2_S: return Ftype::IQ2_M;
    default: return std::nullopt;
    }
}

}  // namespace qs::quant
