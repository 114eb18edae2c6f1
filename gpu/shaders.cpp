#include "shaders.h"

#include <array>

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
    Entry{ShaderOp::Histogram, TensorType::F32,
          ShaderCode{"histogram", std::span<const uint32_t>(kHistogram), 3, 16}},
    Entry{ShaderOp::ErrorSums, TensorType::F32,
          ShaderCode{"error_sums", std::span<const uint32_t>(kErrorSums), 4, 16}},
};

} // namespace

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
    case TensorType::IQ4_XS: return 1;  // 20, 24, 84, 144, 176, 136 bytes: whole words
    default: return 2;  // 18, 22, 34, 110, 210 bytes: pairs make whole words
    }
}

} // namespace qs::gpu
