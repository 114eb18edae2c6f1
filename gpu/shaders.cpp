#include "shaders.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/iq_grids.h"

namespace qs::gpu {

namespace {

using formats::TensorType;

// The SPIR-V words; each .inc is a braced initializer written by glslc -mfmt=c.

const uint32_t kDecodeF32[] =
#include "decode_f32.inc"
    ;
const uint32_t kDecodeF16[] =
#include "decode_f16.inc"
    ;
const uint32_t kDecodeBF16[] =
#include "decode_bf16.inc"
    ;
const uint32_t kDecodeQ8_0[] =
#include "decode_q8_0.inc"
    ;
const uint32_t kDecodeQ4_0[] =
#include "decode_q4_0.inc"
    ;
const uint32_t kDecodeQ4_1[] =
#include "decode_q4_1.inc"
    ;
const uint32_t kDecodeQ5_0[] =
#include "decode_q5_0.inc"
    ;
const uint32_t kDecodeQ5_1[] =
#include "decode_q5_1.inc"
    ;
const uint32_t kDecodeQ2_K[] =
#include "decode_q2_k.inc"
    ;
const uint32_t kDecodeQ3_K[] =
#include "decode_q3_k.inc"
    ;
const uint32_t kDecodeQ4_K[] =
#include "decode_q4_k.inc"
    ;
const uint32_t kDecodeQ5_K[] =
#include "decode_q5_k.inc"
    ;
const uint32_t kDecodeQ6_K[] =
#include "decode_q6_k.inc"
    ;
const uint32_t kDecodeIQ4_NL[] =
#include "decode_iq4_nl.inc"
    ;
const uint32_t kDecodeIQ4_XS[] =
#include "decode_iq4_xs.inc"
    ;

const uint32_t kEncodeF16[] =
#include "encode_f16.inc"
    ;
const uint32_t kEncodeBF16[] =
#include "encode_bf16.inc"
    ;
const uint32_t kEncodeQ8_0[] =
#include "encode_q8_0.inc"
    ;
const uint32_t kEncodeQ4_0[] =
#include "encode_q4_0.inc"
    ;
const uint32_t kEncodeQ4_1[] =
#include "encode_q4_1.inc"
    ;
const uint32_t kEncodeQ5_0[] =
#include "encode_q5_0.inc"
    ;
const uint32_t kEncodeQ5_1[] =
#include "encode_q5_1.inc"
    ;
const uint32_t kEncodeQ2_K[] =
#include "encode_k_q2_k.inc"
    ;
const uint32_t kEncodeQ3_K[] =
#include "encode_k_q3_k.inc"
    ;
const uint32_t kEncodeQ4_K[] =
#include "encode_k_q4_k.inc"
    ;
const uint32_t kEncodeQ5_K[] =
#include "encode_k_q5_k.inc"
    ;
const uint32_t kEncodeQ6_K[] =
#include "encode_k_q6_k.inc"
    ;
const uint32_t kEncodeIQ4_NL[] =
#include "encode_k_iq4_nl.inc"
    ;
const uint32_t kEncodeIQ4_XS[] =
#include "encode_k_iq4_xs.inc"
    ;
const uint32_t kEncodeWeightedQ4_0[] =
#include "encode_k_q4_0w.inc"
    ;
const uint32_t kEncodeWeightedQ4_1[] =
#include "encode_k_q4_1w.inc"
    ;
const uint32_t kEncodeWeightedQ5_0[] =
#include "encode_k_q5_0w.inc"
    ;
const uint32_t kEncodeWeightedQ5_1[] =
#include "encode_k_q5_1w.inc"
    ;
const uint32_t kDecodeIQ2_XXS[] =
#include "decode_iq2_xxs.inc"
    ;
const uint32_t kDecodeIQ2_XS[] =
#include "decode_iq2_xs.inc"
    ;
const uint32_t kDecodeIQ2_S[] =
#include "decode_iq2_s.inc"
    ;
const uint32_t kDecodeIQ3_XXS[] =
#include "decode_iq3_xxs.inc"
    ;
const uint32_t kDecodeIQ3_S[] =
#include "decode_iq3_s.inc"
    ;
const uint32_t kDecodeIQ1_S[] =
#include "decode_iq1_s.inc"
    ;
const uint32_t kDecodeIQ1_M[] =
#include "decode_iq1_m.inc"
    ;
const uint32_t kDecodeTQ1_0[] =
#include "decode_tq1_0.inc"
    ;
const uint32_t kDecodeTQ2_0[] =
#include "decode_tq2_0.inc"
    ;
const uint32_t kDecodeMXFP4[] =
#include "decode_mxfp4.inc"
    ;
const uint32_t kDecodeNVFP4[] =
#include "decode_nvfp4.inc"
    ;
const uint32_t kDecodeQ1_0[] =
#include "decode_q1_0.inc"
    ;
const uint32_t kDecodeQ2_0[] =
#include "decode_q2_0.inc"
    ;
const uint32_t kEncodeTQ1_0[] =
#include "encode_lowbit_tq1_0.inc"
    ;
const uint32_t kEncodeTQ2_0[] =
#include "encode_lowbit_tq2_0.inc"
    ;
const uint32_t kEncodeMXFP4[] =
#include "encode_lowbit_mxfp4.inc"
    ;
const uint32_t kEncodeNVFP4[] =
#include "encode_lowbit_nvfp4.inc"
    ;
const uint32_t kEncodeQ1_0[] =
#include "encode_lowbit_q1_0.inc"
    ;
const uint32_t kEncodeQ2_0[] =
#include "encode_lowbit_q2_0.inc"
    ;
const uint32_t kHistogram[] =
#include "histogram_f32.inc"
    ;
const uint32_t kErrorSums[] =
#include "error_sums_f32.inc"
    ;

struct Entry {
    ShaderOp op;
    TensorType type;
    ShaderCode code;
};

template <size_t N>
constexpr ShaderCode shader(std::string_view name, const uint32_t (&words)[N]) {
    return ShaderCode{name, std::span<const uint32_t>(words, N)};
}
/// encode_k.comp: a third binding (the row's importance) and 20 bytes of push constants.
template <size_t N>
constexpr ShaderCode shaderK(std::string_view name, const uint32_t (&words)[N]) {
    return ShaderCode{name, std::span<const uint32_t>(words, N), kEncodeKBindings,
                      kEncodeKPushBytes};
}

/// A shader with a read-only table as binding 2 (a grid codebook, MXFP4's log2 thresholds;
/// see tableOf) and the two push constants of decode/encode.
template <size_t N>
constexpr ShaderCode shaderT(std::string_view name, const uint32_t (&words)[N]) {
    return ShaderCode{name, std::span<const uint32_t>(words, N), kTableBindings, 8};
}

const std::array kShaders = {
    Entry{ShaderOp::Decode, TensorType::F32, shader("decode_f32", kDecodeF32)},
    Entry{ShaderOp::Decode, TensorType::F16, shader("decode_f16", kDecodeF16)},
    Entry{ShaderOp::Decode, TensorType::BF16, shader("decode_bf16", kDecodeBF16)},
    Entry{ShaderOp::Decode, TensorType::Q8_0, shader("decode_q8_0", kDecodeQ8_0)},
    Entry{ShaderOp::Decode, TensorType::Q4_0, shader("decode_q4_0", kDecodeQ4_0)},
    Entry{ShaderOp::Decode, TensorType::Q4_1, shader("decode_q4_1", kDecodeQ4_1)},
    Entry{ShaderOp::Decode, TensorType::Q5_0, shader("decode_q5_0", kDecodeQ5_0)},
    Entry{ShaderOp::Decode, TensorType::Q5_1, shader("decode_q5_1", kDecodeQ5_1)},
    Entry{ShaderOp::Decode, TensorType::Q2_K, shader("decode_q2_k", kDecodeQ2_K)},
    Entry{ShaderOp::Decode, TensorType::Q3_K, shader("decode_q3_k", kDecodeQ3_K)},
    Entry{ShaderOp::Decode, TensorType::Q4_K, shader("decode_q4_k", kDecodeQ4_K)},
    Entry{ShaderOp::Decode, TensorType::Q5_K, shader("decode_q5_k", kDecodeQ5_K)},
    Entry{ShaderOp::Decode, TensorType::Q6_K, shader("decode_q6_k", kDecodeQ6_K)},
    Entry{ShaderOp::Decode, TensorType::IQ4_NL, shader("decode_iq4_nl", kDecodeIQ4_NL)},
    Entry{ShaderOp::Decode, TensorType::IQ4_XS, shader("decode_iq4_xs", kDecodeIQ4_XS)},
    Entry{ShaderOp::Encode, TensorType::F16, shader("encode_f16", kEncodeF16)},
    Entry{ShaderOp::Encode, TensorType::BF16, shader("encode_bf16", kEncodeBF16)},
    Entry{ShaderOp::Encode, TensorType::Q8_0, shader("encode_q8_0", kEncodeQ8_0)},
    Entry{ShaderOp::Encode, TensorType::Q4_0, shader("encode_q4_0", kEncodeQ4_0)},
    Entry{ShaderOp::Encode, TensorType::Q4_1, shader("encode_q4_1", kEncodeQ4_1)},
    Entry{ShaderOp::Encode, TensorType::Q5_0, shader("encode_q5_0", kEncodeQ5_0)},
    Entry{ShaderOp::Encode, TensorType::Q5_1, shader("encode_q5_1", kEncodeQ5_1)},
    Entry{ShaderOp::Encode, TensorType::Q2_K, shaderK("encode_k_q2_k", kEncodeQ2_K)},
    Entry{ShaderOp::Encode, TensorType::Q3_K, shaderK("encode_k_q3_k", kEncodeQ3_K)},
    Entry{ShaderOp::Encode, TensorType::Q4_K, shaderK("encode_k_q4_k", kEncodeQ4_K)},
    Entry{ShaderOp::Encode, TensorType::Q5_K, shaderK("encode_k_q5_k", kEncodeQ5_K)},
    Entry{ShaderOp::Encode, TensorType::Q6_K, shaderK("encode_k_q6_k", kEncodeQ6_K)},
    Entry{ShaderOp::Encode, TensorType::IQ4_NL, shaderK("encode_k_iq4_nl", kEncodeIQ4_NL)},
    Entry{ShaderOp::Encode, TensorType::IQ4_XS, shaderK("encode_k_iq4_xs", kEncodeIQ4_XS)},
    Entry{ShaderOp::EncodeWeighted, TensorType::Q4_0,
          shaderK("encode_k_q4_0w", kEncodeWeightedQ4_0)},
    Entry{ShaderOp::EncodeWeighted, TensorType::Q4_1,
          shaderK("encode_k_q4_1w", kEncodeWeightedQ4_1)},
    Entry{ShaderOp::EncodeWeighted, TensorType::Q5_0,
          shaderK("encode_k_q5_0w", kEncodeWeightedQ5_0)},
    Entry{ShaderOp::EncodeWeighted, TensorType::Q5_1,
          shaderK("encode_k_q5_1w", kEncodeWeightedQ5_1)},
    Entry{ShaderOp::Decode, TensorType::IQ2_XXS, shaderT("decode_iq2_xxs", kDecodeIQ2_XXS)},
    Entry{ShaderOp::Decode, TensorType::IQ2_XS, shaderT("decode_iq2_xs", kDecodeIQ2_XS)},
    Entry{ShaderOp::Decode, TensorType::IQ2_S, shaderT("decode_iq2_s", kDecodeIQ2_S)},
    Entry{ShaderOp::Decode, TensorType::IQ3_XXS, shaderT("decode_iq3_xxs", kDecodeIQ3_XXS)},
    Entry{ShaderOp::Decode, TensorType::IQ3_S, shaderT("decode_iq3_s", kDecodeIQ3_S)},
    Entry{ShaderOp::Decode, TensorType::IQ1_S, shaderT("decode_iq1_s", kDecodeIQ1_S)},
    Entry{ShaderOp::Decode, TensorType::IQ1_M, shaderT("decode_iq1_m", kDecodeIQ1_M)},
    Entry{ShaderOp::Decode, TensorType::TQ1_0, shader("decode_tq1_0", kDecodeTQ1_0)},
    Entry{ShaderOp::Decode, TensorType::TQ2_0, shader("decode_tq2_0", kDecodeTQ2_0)},
    Entry{ShaderOp::Decode, TensorType::MXFP4, shader("decode_mxfp4", kDecodeMXFP4)},
    Entry{ShaderOp::Decode, TensorType::NVFP4, shader("decode_nvfp4", kDecodeNVFP4)},
    Entry{ShaderOp::Decode, TensorType::Q1_0, shader("decode_q1_0", kDecodeQ1_0)},
    Entry{ShaderOp::Decode, TensorType::Q2_0, shader("decode_q2_0", kDecodeQ2_0)},
    Entry{ShaderOp::Encode, TensorType::TQ1_0, shader("encode_lowbit_tq1_0", kEncodeTQ1_0)},
    Entry{ShaderOp::Encode, TensorType::TQ2_0, shader("encode_lowbit_tq2_0", kEncodeTQ2_0)},
    Entry{ShaderOp::Encode, TensorType::MXFP4, shaderT("encode_lowbit_mxfp4", kEncodeMXFP4)},
    Entry{ShaderOp::Encode, TensorType::NVFP4, shader("encode_lowbit_nvfp4", kEncodeNVFP4)},
    Entry{ShaderOp::Encode, TensorType::Q1_0, shader("encode_lowbit_q1_0", kEncodeQ1_0)},
    Entry{ShaderOp::Encode, TensorType::Q2_0, shader("encode_lowbit_q2_0", kEncodeQ2_0)},
    Entry{ShaderOp::Histogram, TensorType::F32,
          ShaderCode{"histogram", std::span<const uint32_t>(kHistogram), 3, 16}},
    Entry{ShaderOp::ErrorSums, TensorType::F32,
          ShaderCode{"error_sums", std::span<const uint32_t>(kErrorSums), 4, 16}},
};

}  // namespace

namespace {

template <typename T, size_t N>
std::vector<uint32_t> wordsOf(const T (&table)[N]) {
    std::vector<uint32_t> w(sizeof(table) / 4);
    std::memcpy(w.data(), table, sizeof(table));  // little-endian host: byte j of entry i stays
    return w;
}

/// floor(log2f(x)) as the C library computes it (ggml's MXFP4 exponent uses log2f).
int floorLog2f(uint32_t bits) {
    return int(std::floor(std::log2(std::bit_cast<float>(bits))));
}

/// For each binade of positive floats (256 normal exponents, then 23 denormal ones by leading
/// bit), the first bit pattern whose floor(log2f) exceeds the binade's exponent, or ~0u: log2f
/// rounds up to the next integer just below a power of two. log2f is monotone, so a binary
/// search over the binade's bit patterns finds the switch.
std::vector<uint32_t> buildLog2Thresholds() {
    std::vector<uint32_t> t(256 + 23, ~0u);
    auto fill = [&](size_t slot, uint32_t lo, uint32_t hi, int base) {
        if (floorLog2f(hi) == base) return;  // no switch in [lo, hi]
        while (lo < hi) {
            const uint32_t mid = lo + (hi - lo) / 2;
            if (floorLog2f(mid) > base) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        t[slot] = lo;
    };
    for (uint32_t e = 1; e < 255; ++e) fill(e, e << 23, (e << 23) | 0x7fffffu, int(e) - 127);
    for (uint32_t lead = 0; lead < 23; ++lead) {
        fill(256 + lead, 1u << lead, (2u << lead) - 1u, int(lead) - 149);
    }
    return t;
}

}  // namespace

std::span<const uint32_t> tableOf(ShaderOp op, formats::TensorType type) {
    namespace iq = formats::iq;
    if (op == ShaderOp::Encode && type == TensorType::MXFP4) {
        static const std::vector<uint32_t> log2 = buildLog2Thresholds();
        return log2;
    }
    if (op != ShaderOp::Decode) return {};
    switch (type) {
    case TensorType::IQ2_XXS: {
        static const std::vector<uint32_t> w = wordsOf(iq::kIq2xxsGrid);
        return w;
    }
    case TensorType::IQ2_XS: {
        static const std::vector<uint32_t> w = wordsOf(iq::kIq2xsGrid);
        return w;
    }
    case TensorType::IQ2_S: {
        static const std::vector<uint32_t> w = wordsOf(iq::kIq2sGrid);
        return w;
    }
    case TensorType::IQ3_XXS: {
        static const std::vector<uint32_t> w = wordsOf(iq::kIq3xxsGrid);
        return w;
    }
    case TensorType::IQ3_S: {
        static const std::vector<uint32_t> w = wordsOf(iq::kIq3sGrid);
        return w;
    }
    case TensorType::IQ1_S:
    case TensorType::IQ1_M: {
        static const std::vector<uint32_t> w = wordsOf(iq::kIq1sGrid);
        return w;
    }
    default: return {};
    }
}

const ShaderCode* findShader(ShaderOp op, formats::TensorType type) {
    for (const Entry& e : kShaders) {
        if (e.op == op && e.type == type) return &e.code;
    }
    return nullptr;
}

int64_t decodeValuesPerUnit(formats::TensorType type) {
    return formats::traits(type).quantized ? 32 : 8;
}

int64_t encodeItemsPerUnit(formats::TensorType type) {
    switch (type) {
    case TensorType::F16:
    case TensorType::BF16: return 8;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q2_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::IQ4_XS:
    case TensorType::NVFP4: return 1;  // 20, 24, 84, 144, 176, 136, 36 bytes: whole words
    case TensorType::MXFP4: return 4;  // 17 bytes: four make 17 words
    default: return 2;                 // 18, 22, 34, 110, 210, 54, 66 bytes: pairs make whole words
    }
}

}  // namespace qs::gpu
