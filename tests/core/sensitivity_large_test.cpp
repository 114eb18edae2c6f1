// SensitivityOptions::sampleLarge (what `plan` and `quantize --target-*` use): tensors above the
// sampler's threshold are measured by the error atlas's sampler, the others exactly as without
// it, so a model whose tensors are all small gets the same table, cell for cell.
#include <gtest/gtest.h>

#include "model/model.h"
#include "quant/sampled_error.h"
#include "quant/sensitivity.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"
#include "test_util.h"

namespace qs::quant {
namespace {

using formats::TensorType;

const std::vector<TensorType> kTypes = {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0};

void expectSameCell(const SensitivityCell& a, const SensitivityCell& b, const std::string& what) {
    EXPECT_EQ(a.type, b.type) << what;
    EXPECT_EQ(a.valid, b.valid) << what;
    EXPECT_EQ(a.bytes, b.bytes) << what;
    EXPECT_EQ(a.nmse, b.nmse) << what;
    EXPECT_EQ(a.weightedNmse, b.weightedNmse) << what;
    EXPECT_EQ(a.stdError, b.stdError) << what;
    EXPECT_EQ(a.rowsMeasured, b.rowsMeasured) << what;
}

TEST(SensitivityLarge, SmallTensorsUnchangedLargeOnesSampledByTheAtlasSampler) {
    test::TempDir dir;
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 3, 0}, dir.file("m.gguf")).ok());
    auto m = model::openModel(dir.file("m.gguf"));
    ASSERT_TRUE(m.ok());
    auto im = synth::synthImatrix(*m, 3);
    ASSERT_TRUE(im.ok());
    SensitivityOptions o;
    o.types = kTypes;
    o.imatrix = &*im;
    o.useCache = false;
    auto before = measureSensitivity(*m, o);
    ASSERT_TRUE(before.ok()) << before.error().what();
    EXPECT_EQ(before->sampledTensors, 0u);

    // Default threshold (4,194,304 values): every tensor of the tiny model is below it.
    o.sampleLarge = true;
    auto same = measureSensitivity(*m, o);
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(same->sampledTensors, 0u);
    const auto& ts = m->tensors();
    for (size_t i = 0; i < ts.size(); ++i) {
        ASSERT_EQ(same->tensors[i].cells.size(), before->tensors[i].cells.size());
        for (size_t k = 0; k < same->tensors[i].cells.size(); ++k) {
            expectSameCell(same->tensors[i].cells[k], before->tensors[i].cells[k], ts[i].name);
        }
    }

    // A low threshold: the large tensors are the sampler's estimates, the small ones unchanged.
    o.sharedSampling.exactBelowValues = 100'000;
    auto mixed = measureSensitivity(*m, o);
    ASSERT_TRUE(mixed.ok());
    ErrorEstimateOptions eo;
    eo.sampling = o.sharedSampling;
    eo.imatrix = &*im;
    size_t sampled = 0, large = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto& t = mixed->tensors[i];
        if (!t.quantizable) continue;
        if (uint64_t(ts[i].nElements) <= 100'000) {
            EXPECT_FALSE(t.sampled) << ts[i].name;
            for (size_t k = 0; k < t.cells.size(); ++k) {
                expectSameCell(t.cells[k], before->tensors[i].cells[k], ts[i].name);
            }
            continue;
        }
        ++large;
        sampled += t.sampled;
        for (const auto& c : t.cells) {
            if (!c.valid || c.type == ts[i].type) continue;
            auto e = estimateTensorError(*m, i, c.type, eo);
            ASSERT_TRUE(e.ok()) << e.error().what();
            EXPECT_EQ(c.weightedNmse, e->weightedNmse) << ts[i].name;
            EXPECT_EQ(c.nmse, e->nmse) << ts[i].name;
            EXPECT_EQ(c.stdError, e->stdError) << ts[i].name;
            EXPECT_EQ(c.rowsMeasured, e->rowsMeasured) << ts[i].name;
            EXPECT_EQ(t.sampled, t.sampled || e->sampled) << ts[i].name;
            if (e->sampled) EXPECT_GT(c.stdError, 0.0) << ts[i].name;
        }
    }
    EXPECT_GT(large, 0u);
    EXPECT_GT(sampled, 0u);
    EXPECT_EQ(mixed->sampledTensors, sampled);

    // --exact wins over the threshold: every row of every tensor, nothing sampled.
    o.exact = true;
    auto exact = measureSensitivity(*m, o);
    ASSERT_TRUE(exact.ok());
    EXPECT_EQ(exact->sampledTensors, 0u);
    for (const auto& t : exact->tensors) {
        EXPECT_FALSE(t.sampled);
        for (const auto& c : t.cells) EXPECT_EQ(c.stdError, 0.0);
    }
}

}  // namespace
}  // namespace qs::quant
