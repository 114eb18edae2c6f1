// The error sampler follows the plan's quantizer (issue 23): a plan written by the best
// quantizer is measured as the best quantizer writes it, so the error atlas, `stats --all` and
// the optimizer's predicted error of a best plan reflect the search. On stories260K (every
// tensor, plain and with its imatrix) the best plan's error is below the ggml plan's; the exact
// measurement equals the engine's metrics of the best export; the cache keeps the two apart.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/sampled_error.h"
#include "test_util.h"
#include "workflow/request.h"

namespace qs::quant {
namespace {

using formats::Quantizer;
using formats::TensorType;

/// The plan's parameter-weighted (weighted) NMSE under `quantizer`.
double planError(const model::Model& m, Plan plan, Quantizer quantizer,
                 const ErrorEstimateOptions& o, ErrorEstimateCache* cache = nullptr) {
    plan.quantizer = quantizer;
    auto e = estimatePlanErrors(m, plan, o, cache);
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().what());
    return e.ok() ? totalsOf(m, *e).weightedNmse : 0.0;
}

TEST(SampledErrorQuantizer, BestPlanBelowGgmlPlanOnStories260K) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = loadImatrix(test::dataPath("imatrix/stories260K.imatrix.gguf"));
    ASSERT_TRUE(im.ok()) << im.error().what();
    for (const Ftype preset : {Ftype::Q4_K_M, Ftype::Q3_K_M}) {
        for (const Imatrix* imatrix :
             {static_cast<const Imatrix*>(nullptr), static_cast<const Imatrix*>(&*im)}) {
            const Plan plan = workflow::presetPlan(*m, preset, imatrix);
            ErrorEstimateOptions o;
            o.imatrix = imatrix;
            // options.quantizer is ignored: the plan says who writes it.
            o.quantizer = Quantizer::Best;
            const double ggml = planError(*m, plan, Quantizer::Ggml, o);
            o.quantizer = Quantizer::Ggml;
            const double best = planError(*m, plan, Quantizer::Best, o);
            ASSERT_GT(ggml, 0.0);
            const double ratio = std::sqrt(best / ggml);
            std::printf("%s %s: RMSE best / ggml %.4f\n",
                        std::string(ftypeInfo(preset).name).c_str(), imatrix ? "imatrix" : "plain",
                        ratio);
            EXPECT_LT(ratio, 0.99) << ftypeInfo(preset).name << (imatrix ? " imatrix" : "");
        }
    }
}

TEST(SampledErrorQuantizer, SampledBestPlanBelowGgmlPlan) {
    // Every tensor sampled (threshold 0, 8 rows): the sampler's own path follows the plan too.
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const Plan plan = workflow::presetPlan(*m, Ftype::Q4_K_M, nullptr);
    ErrorEstimateOptions o;
    o.sampling.exactBelowValues = 0;
    o.sampling.sampleRows = 8;
    const double ggml = planError(*m, plan, Quantizer::Ggml, o);
    const double best = planError(*m, plan, Quantizer::Best, o);
    ASSERT_GT(ggml, 0.0);
    EXPECT_LT(best, ggml);
}

TEST(SampledErrorQuantizer, ExactEqualsTheBestExportsMetrics) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = loadImatrix(test::dataPath("imatrix/stories260K.imatrix.gguf"));
    ASSERT_TRUE(im.ok()) << im.error().what();
    const int64_t index = m->indexOf("blk.0.ffn_up.weight");
    ASSERT_GE(index, 0);
    for (TensorType type : {TensorType::Q4_0, TensorType::IQ4_NL, TensorType::Q8_0}) {
        ErrorEstimateOptions o;
        o.imatrix = &*im;
        o.quantizer = Quantizer::Best;
        auto e = estimateTensorError(*m, size_t(index), type, o);
        ASSERT_TRUE(e.ok()) << e.error().what();
        QuantizeOptions qo;
        qo.imatrix = &*im;
        qo.quantizer = Quantizer::Best;
        auto r = quantizeTensor(*m, size_t(index), e->type, qo);
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_NEAR(e->nmse, r->metrics.nmse, 1e-12 + 1e-9 * r->metrics.nmse);
        EXPECT_NEAR(e->weightedNmse, r->metrics.weightedNmse,
                    1e-12 + 1e-9 * r->metrics.weightedNmse);
        o.quantizer = Quantizer::Ggml;
        auto g = estimateTensorError(*m, size_t(index), type, o);
        ASSERT_TRUE(g.ok()) << g.error().what();
        EXPECT_LT(e->nmse, g->nmse) << formats::typeName(type);
    }
}

TEST(SampledErrorQuantizer, CacheKeepsTheQuantizersApart) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    const int64_t index = m->indexOf("blk.1.attn_k.weight");
    ASSERT_GE(index, 0);
    ErrorEstimateCache cache;
    ErrorEstimateOptions o;
    auto g = estimateTensorErrorCached(*m, size_t(index), TensorType::Q4_0, o, &cache);
    ASSERT_TRUE(g.ok());
    EXPECT_FALSE(cache.find(size_t(index), TensorType::Q4_0, o.sampling, false, Quantizer::Best));
    o.quantizer = Quantizer::Best;
    auto b = estimateTensorErrorCached(*m, size_t(index), TensorType::Q4_0, o, &cache);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_LT(b->nmse, g->nmse);
    auto again = estimateTensorErrorCached(*m, size_t(index), TensorType::Q4_0, o, &cache);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->nmse, b->nmse);
    EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace qs::quant
