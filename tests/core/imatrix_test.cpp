// imatrix files: both llama.cpp formats round-trip, values normalised as llama-quantize does,
// bad files refused with the file, entry and offset, and a foreign imatrix detected.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/model.h"
#include "quant/imatrix.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;

namespace {

Imatrix sample() {
    Imatrix im;
    im.entries["blk.0.attn_q.weight"] = {1.0f, 2.5f, 0.25f, 8.0f};
    im.entries["blk.0.ffn_down.weight"] = {0.5f, 0.75f};
    im.datasets = {"wiki.train.raw"};
    im.chunkCount = 12;
    im.chunkSize = 512;
    return im;
}

TEST(Imatrix, GgufFormatRoundTripsNormalisedByCounts) {
    test::TempDir dir;
    const auto im = sample();
    ASSERT_TRUE(saveImatrixGguf(im, dir.file("im.gguf"), 40.0f).ok());
    auto back = loadImatrix(dir.file("im.gguf"));
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_FALSE(back->legacy);
    EXPECT_EQ(back->entries, im.entries);  // sums / counts gives the values back exactly
    EXPECT_EQ(back->datasets, im.datasets);
    EXPECT_EQ(back->chunkCount, 12u);
    EXPECT_EQ(back->chunkSize, 512u);
    ASSERT_NE(back->find("blk.0.ffn_down.weight"), nullptr);
    EXPECT_EQ(back->find("nope"), nullptr);
}

TEST(Imatrix, LegacyFormatRoundTripsNormalisedByCalls) {
    test::TempDir dir;
    const auto im = sample();
    ASSERT_TRUE(saveImatrixLegacy(im, dir.file("imatrix.dat"), 8).ok());
    auto back = loadImatrix(dir.file("imatrix.dat"));
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_TRUE(back->legacy);
    EXPECT_EQ(back->entries, im.entries);
    EXPECT_EQ(back->chunkCount, 12u);
    ASSERT_EQ(back->datasets.size(), 1u);
    EXPECT_EQ(back->datasets[0], "wiki.train.raw");
}

TEST(Imatrix, RefusesBrokenFiles) {
    test::TempDir dir;
    const auto im = sample();
    ASSERT_TRUE(saveImatrixLegacy(im, dir.file("ok.dat"), 1).ok());
    auto bytes = test::readFile(dir.file("ok.dat"));
    // Truncated in the middle of the first entry's values.
    test::writeFile(dir.file("cut.dat"), {bytes.begin(), bytes.begin() + 40});
    auto cut = loadImatrix(dir.file("cut.dat"));
    ASSERT_FALSE(cut.ok());
    EXPECT_NE(cut.error().what().find("cut.dat"), std::string::npos);
    // A NaN importance.
    auto nan = bytes;
    const float q = std::nanf("");
    const size_t firstValue = 4 + 4 + std::string("blk.0.attn_q.weight").size() + 4 + 4;
    std::memcpy(nan.data() + firstValue, &q, 4);
    test::writeFile(dir.file("nan.dat"), nan);
    auto bad = loadImatrix(dir.file("nan.dat"));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().offset, firstValue);
    EXPECT_EQ(bad.error().tensor, "blk.0.attn_q.weight");
    // Not an imatrix at all.
    test::writeFile(dir.file("junk.dat"), {0xff, 0xff, 0xff, 0x7f, 1, 2, 3});
    EXPECT_FALSE(loadImatrix(dir.file("junk.dat")).ok());
    // A GGUF model is not an imatrix.
    auto model = loadImatrix(test::dataPath("models/stories260K.gguf"));
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.error().message.find("no imatrix entries"), std::string::npos);
}

TEST(Imatrix, DetectsAnImatrixForAnotherModel) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    Imatrix good;
    good.entries["blk.0.attn_q.weight"] = std::vector<float>(64, 1.0f);
    good.entries["blk.0.ffn_down.weight"] = std::vector<float>(172, 1.0f);
    EXPECT_TRUE(checkImatrixFor(good, *m).ok());
    Imatrix wrongSize;
    wrongSize.entries["blk.0.attn_q.weight"] = std::vector<float>(4096, 1.0f);
    auto e = checkImatrixFor(wrongSize, *m);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().tensor, "blk.0.attn_q.weight");
    Imatrix foreign;
    foreign.entries["model.layers.0.mlp.up_proj.weight"] = std::vector<float>(64, 1.0f);
    EXPECT_FALSE(checkImatrixFor(foreign, *m).ok());
}

}  // namespace
