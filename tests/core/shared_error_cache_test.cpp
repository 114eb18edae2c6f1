// One sampler and one cache for the error atlas and the optimizer's sensitivity table
// (SensitivityOptions::sharedCache): what one consumer measured, the other reads back without
// reading a row, in both directions; another imatrix is another key.
#include <gtest/gtest.h>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/sampled_error.h"
#include "quant/sensitivity.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"
#include "test_util.h"

namespace qs::quant {
namespace {

using formats::TensorType;

TEST(SharedErrorCache, SensitivityAndAtlasShareOneCache) {
    test::TempDir dir;
    synth::SynthOptions so;
    ASSERT_TRUE(synth::writeSynthModel(so, dir.file("tiny.gguf")).ok());
    auto m = model::openModel(dir.file("tiny.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = synth::synthImatrix(*m, 5);
    ASSERT_TRUE(im.ok());

    ErrorEstimateCache cache;
    ErrorSampling sampling;
    sampling.exactBelowValues = 0;  // sample the tiny model's tensors too
    sampling.sampleRows = 32;
    ErrorEstimateOptions eo;
    eo.sampling = sampling;
    eo.imatrix = &*im;

    // First consumer: the atlas asks for every quantizable tensor in Q4_K.
    size_t quantizable = 0, sampled = 0;
    std::vector<TensorErrorEstimate> atlas(m->tensors().size());
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        if (!allowsQuantization(m->tensors()[i])) continue;
        bool hit = true;
        auto e = estimateTensorErrorCached(*m, i, TensorType::Q4_K, eo, &cache, &hit);
        ASSERT_TRUE(e.ok()) << e.error().what();
        EXPECT_FALSE(hit);
        sampled += e->sampled;
        atlas[i] = *e;
        ++quantizable;
    }
    ASSERT_GT(quantizable, 10u);
    ASSERT_GT(sampled, 5u);
    const size_t entries = cache.size();

    // Second consumer: the optimizer's sensitivity table, same sampler, same cache: every cell
    // is a hit, no row is read, the numbers are the atlas's.
    SensitivityOptions sopt;
    sopt.types = {TensorType::Q4_K};
    sopt.imatrix = &*im;
    sopt.useCache = false;  // no disk cache: the hits can only come from the shared one
    sopt.sharedCache = &cache;
    sopt.sharedSampling = sampling;
    auto table = measureSensitivity(*m, sopt);
    ASSERT_TRUE(table.ok()) << table.error().what();
    EXPECT_EQ(table->cacheHits, quantizable);
    EXPECT_EQ(table->rowsMeasured, 0u);
    EXPECT_EQ(cache.size(), entries);
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        if (!allowsQuantization(m->tensors()[i]) || atlas[i].copy) continue;
        const SensitivityCell* c = table->cell(i, TensorType::Q4_K);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(c->weightedNmse, atlas[i].weightedNmse) << m->tensors()[i].name;
        EXPECT_EQ(c->stdError, atlas[i].stdError);
        EXPECT_EQ(c->rowsMeasured, atlas[i].rowsMeasured);
    }
    std::printf("[ shared cache ] %zu tensors: the sensitivity table read %llu rows, %zu hits\n",
                quantizable, static_cast<unsigned long long>(table->rowsMeasured),
                table->cacheHits);

    // The other way: the table measures Q6_K first, then the atlas finds every cell.
    sopt.types = {TensorType::Q6_K};
    auto q6 = measureSensitivity(*m, sopt);
    ASSERT_TRUE(q6.ok()) << q6.error().what();
    EXPECT_EQ(q6->cacheHits, 0u);
    EXPECT_GT(q6->rowsMeasured, 0u);
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        if (!allowsQuantization(m->tensors()[i])) continue;
        bool hit = false;
        auto e = estimateTensorErrorCached(*m, i, TensorType::Q6_K, eo, &cache, &hit);
        ASSERT_TRUE(e.ok()) << e.error().what();
        EXPECT_TRUE(hit) << m->tensors()[i].name;
        if (e->copy) continue;
        EXPECT_EQ(e->weightedNmse, q6->cell(i, TensorType::Q6_K)->weightedNmse);
    }

    // Another imatrix is another key: measured again, never the first imatrix's numbers.
    auto im2 = synth::synthImatrix(*m, 6);
    ASSERT_TRUE(im2.ok());
    eo.imatrix = &*im2;
    const size_t idx = size_t(m->indexOf("blk.0.ffn_down.weight"));
    bool hit = true;
    auto other = estimateTensorErrorCached(*m, idx, TensorType::Q4_K, eo, &cache, &hit);
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(hit);
    EXPECT_NE(other->weightedNmse, atlas[idx].weightedNmse);
}

}  // namespace
}  // namespace qs::quant
