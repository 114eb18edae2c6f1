// The type table as the one registry of codecs (each type's decoder and encoders, by family
// under core/formats/codecs/), the fp16 scale check at the struct offsets, and Model::Parts
// (the way io and convert make a Model without being its friends).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "io/model_loaders.h"
#include "model/model.h"
#include "test_util.h"

using namespace qs;
using formats::TensorType;

namespace {

/// The types ggml can write (ggml_quantize_chunk plus F32/F16/BF16), hence those we encode.
const std::set<TensorType>& writableTypes() {
    using T = TensorType;
    static const std::set<T> s = {T::F32,   T::F16,     T::BF16,   T::Q4_0,   T::Q4_1,    T::Q5_0,
                                  T::Q5_1,  T::Q8_0,    T::Q2_K,   T::Q3_K,   T::Q4_K,    T::Q5_K,
                                  T::Q6_K,  T::IQ2_XXS, T::IQ2_XS, T::IQ2_S,  T::IQ3_XXS, T::IQ3_S,
                                  T::IQ1_S, T::IQ1_M,   T::IQ4_NL, T::IQ4_XS, T::TQ1_0,   T::TQ2_0,
                                  T::MXFP4, T::NVFP4,   T::Q1_0,   T::Q2_0};
    return s;
}

TEST(CodecTable, HoldsDecoderAndEncodersOfEveryType) {
    for (const auto& t : formats::allTypes()) {
        SCOPED_TRACE(std::string(t.name));
        EXPECT_NE(t.decode, nullptr);  // every known type reads
        const bool writable = writableTypes().count(t.type) > 0;
        EXPECT_EQ(t.encode != nullptr, writable);
        EXPECT_EQ(t.encodeReference != nullptr, writable);
        // The whole-tensor API answers from the table.
        EXPECT_EQ(formats::encoderOf(t.type), t.encode);
        EXPECT_EQ(formats::referenceEncoderOf(t.type), t.encodeReference);
        EXPECT_EQ(formats::canEncode(t.type), writable);
        EXPECT_EQ(formats::requiresImportance(t.type), t.needsImportance);
        // ggml_quantize_requires_imatrix: exactly these three.
        EXPECT_EQ(t.needsImportance, t.type == TensorType::IQ2_XXS ||
                                         t.type == TensorType::IQ2_XS ||
                                         t.type == TensorType::IQ1_S);
    }
}

TEST(CodecTable, EveryEncoderRoundTripsThroughItsDecoder) {
    // One row per type: encode with the table's encoder, decode with the table's decoder, and
    // the values come back close (the codec of each family is wired to its own layout).
    const int64_t n = 256 * 2;  // a multiple of every block size (NVFP4 64, Q1_0 128, K 256)
    std::vector<float> x(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        x[size_t(i)] = std::sin(0.37f * float(i)) * (1.0f + float(i % 7) * 0.25f);
        imp[size_t(i)] = 0.5f + float(i % 5);
    }
    for (const TensorType t : writableTypes()) {
        const auto& tr = formats::traits(t);
        SCOPED_TRACE(std::string(tr.name));
        std::vector<uint8_t> bytes(*formats::byteSize(t, uint64_t(n)));
        ASSERT_TRUE(formats::encodeRows(t, x, bytes, n, imp.data(), 1, "row").ok());
        auto back = formats::decodeToFloat(t, bytes, n, 1, 1, "row");
        ASSERT_TRUE(back.ok()) << back.error().what();
        double err = 0, energy = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double d = double((*back)[size_t(i)]) - double(x[size_t(i)]);
            err += d * d;
            energy += double(x[size_t(i)]) * double(x[size_t(i)]);
        }
        // Even the 1-bit Q1_0 keeps the sign of every value: relative error well below 1.
        EXPECT_LT(err / energy, 0.7) << "relative squared error " << err / energy;
    }
}

TEST(CodecTable, ScaleOverflowIsFoundAtTheStructOffsetOfEveryFamily) {
    // A constant row large enough that the block's fp16 scale (wherever the family's struct
    // puts it: first for Q4_0, last for Q6_K and TQ1_0, in the scale nibbles for IQ1_M) cannot
    // hold it: ggml_validate_row_data refuses such a block, and so must we, for every type.
    for (const TensorType t :
         {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
          TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
          TensorType::IQ4_NL, TensorType::IQ4_XS, TensorType::TQ1_0, TensorType::TQ2_0,
          TensorType::Q1_0, TensorType::Q2_0}) {
        SCOPED_TRACE(std::string(formats::typeName(t)));
        std::vector<float> x(256);
        for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 ? 1.0f : -1.0f) * 1e9f;
        std::vector<uint8_t> out(*formats::byteSize(t, 256));
        const auto st = formats::encodeRows(t, x, out, 256, nullptr, 1, "blk.0.huge");
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.error().code, ErrorCode::BadInput);
        EXPECT_NE(st.error().what().find("NaN or infinite scale"), std::string::npos)
            << st.error().what();
        // The same row scaled into range encodes.
        for (float& v : x) v *= 1e-9f;
        EXPECT_TRUE(formats::encodeRows(t, x, out, 256, nullptr, 1, "blk.0.small").ok());
    }
}

TEST(ModelParts, ReadersBuildTheModelFromParts) {
    auto m = io::loadGgufModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const std::string path = m->path();
    const size_t tensors = m->tensors().size();
    const auto hp = m->hparams();
    // Hand the parts back and build a Model again: the same model, finalized once more.
    model::Model::Parts parts = std::move(*m).intoParts();
    EXPECT_EQ(parts.path, path);
    EXPECT_EQ(parts.tensors.size(), tensors);
    EXPECT_EQ(parts.files.size(), 1u);
    parts.conversionNotes.push_back("rebuilt");
    const model::Model again = model::Model::fromParts(std::move(parts));
    EXPECT_EQ(again.tensors().size(), tensors);
    EXPECT_EQ(again.hparams().blockCount, hp.blockCount);
    EXPECT_EQ(again.hparams().vocabSize, hp.vocabSize);
    EXPECT_EQ(again.conversionNotes(), std::vector<std::string>{"rebuilt"});
    const auto idx = again.indexOf("blk.2.ffn_down.weight");
    ASSERT_GE(idx, 0);
    const auto& t = again.tensors()[size_t(idx)];
    EXPECT_EQ(t.layer, 2);
    EXPECT_EQ(again.tensorData(t).size(), t.nbytes);  // the map moved with the parts
}

}  // namespace
