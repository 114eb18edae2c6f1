// The core sampler (quant/sampled_error.h): exact mode equals the engine's metrics; sampled
// estimates on real weights (stories260K, synth tiny/small shapes) fall within their stated
// standard error of the exact error; the draw is seeded and thread-independent; experts of
// `*_exps` tensors get their own estimates; the sparse 405B / 30B-A3B fixtures open and plan.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/sampled_error.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"
#include "test_util.h"

namespace qs::quant {
namespace {

using formats::TensorType;

ErrorEstimateOptions sampledOptions(int64_t rows) {
    ErrorEstimateOptions o;
    o.sampling.exactBelowValues = 0;
    o.sampling.sampleRows = rows;
    return o;
}

TEST(SampledError, ExactEqualsTheEngineMetrics) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = synth::synthImatrix(*m, 3);
    ASSERT_TRUE(im.ok());
    ErrorEstimateOptions o;  // default threshold: every tensor of stories260K is small
    o.imatrix = &*im;
    int compared = 0;
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        if (!allowsQuantization(m->tensors()[i])) continue;
        for (TensorType type : {TensorType::Q4_0, TensorType::Q4_K, TensorType::Q8_0}) {
            auto e = estimateTensorError(*m, i, type, o);
            ASSERT_TRUE(e.ok()) << e.error().what();
            EXPECT_FALSE(e->sampled);
            EXPECT_EQ(e->stdError, 0.0);
            EXPECT_EQ(e->rowsMeasured, uint64_t(m->tensors()[i].rowCount()));
            QuantizeOptions qo;
            qo.imatrix = &*im;
            auto r = quantizeTensor(*m, i, e->type, qo);
            ASSERT_TRUE(r.ok()) << r.error().what();
            EXPECT_NEAR(e->nmse, r->metrics.nmse, 1e-12 + 1e-9 * r->metrics.nmse);
            EXPECT_NEAR(e->weightedNmse, r->metrics.weightedNmse,
                        1e-12 + 1e-9 * r->metrics.weightedNmse);
            ++compared;
        }
    }
    EXPECT_GT(compared, 30);
}

// The acceptance test of issue 19: on real weights, the sampled error lies within its stated
// uncertainty of the exact error for >= 95 % of (tensor, type) pairs. The stated uncertainty is
// the 95 % interval, +- ci95() = 1.96 (t-widened) standard errors, as `stats` and the explorer
// show it (one standard error covers ~68 % of a normal estimate by definition, so ">= 95 %
// within one standard error" cannot hold). Checked on stories260K's trained weights and on the
// synth models, whose Student-t (4 degrees of freedom) weights with outlier channels make
// per-row errors heavy-tailed (the Satterthwaite-t widening of the standard error is what brings
// that case from 89 % to 95 %+). The earlier bound, >= 95 % within 2 standard errors, is kept
// as it was, and >= 50 % within one; the shares within 1, 1.96, 2 and 3 are printed. `keep`
// chooses the tensors (all when empty).
void checkCoverage(const model::Model& m, const Imatrix* im, int64_t sampleRows,
                   const std::vector<TensorType>& types, int minPairs,
                   const std::function<bool(const std::string&)>& keep = {}) {
    int pairs = 0, within1 = 0, within95 = 0, within2 = 0, within3 = 0;
    double worstRel = 0;
    for (size_t i = 0; i < m.tensors().size(); ++i) {
        const auto& t = m.tensors()[i];
        if (!allowsQuantization(t) || t.rowCount() <= 2 * sampleRows) continue;
        if (keep && !keep(t.name)) continue;
        for (TensorType type : types) {
            ErrorEstimateOptions o = sampledOptions(sampleRows);
            o.imatrix = im;
            auto s = estimateTensorError(m, i, type, o);
            ASSERT_TRUE(s.ok()) << s.error().what();
            if (s->copy) continue;
            ASSERT_TRUE(s->sampled) << t.name;
            o.sampling.exact = true;
            auto x = estimateTensorError(m, i, type, o);
            ASSERT_TRUE(x.ok()) << x.error().what();
            ASSERT_GT(x->weightedNmse, 0) << t.name;
            ASSERT_GT(s->stdError, 0) << t.name;
            const double dev = std::fabs(s->weightedNmse - x->weightedNmse);
            within1 += dev <= s->stdError;
            within95 += dev <= s->ci95();
            within2 += dev <= 2 * s->stdError;
            within3 += dev <= 3 * s->stdError;
            worstRel = std::max(worstRel, s->relativeStdError());
            ++pairs;
        }
    }
    ASSERT_GE(pairs, minPairs);
    std::printf(
        "[ coverage ] %d (tensor, type) pairs sampled at %lld rows: %.1f %% within the stated "
        "95 %% interval (1.96 standard errors), %.1f %% within 1 standard error, %.1f %% within "
        "2, %.1f %% within 3; largest relative standard error %.1f %%\n",
        pairs, static_cast<long long>(sampleRows), 100.0 * within95 / pairs,
        100.0 * within1 / pairs, 100.0 * within2 / pairs, 100.0 * within3 / pairs,
        100.0 * worstRel);
    EXPECT_GE(within95, 0.95 * pairs);
    EXPECT_GE(within2, 0.95 * pairs);
    EXPECT_GE(within1, 0.5 * pairs);
}

TEST(SampledError, WithinStdErrorOfExactOnStories260K) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    checkCoverage(*m, nullptr, 16, {TensorType::Q4_0, TensorType::Q5_1, TensorType::Q8_0}, 40);
}

TEST(SampledError, WithinStdErrorOfExactOnSynthWithImatrix) {
    test::TempDir dir;
    synth::SynthOptions so;  // tiny llama: real heavy-tailed weights with outlier channels
    ASSERT_TRUE(synth::writeSynthModel(so, dir.file("tiny.gguf")).ok());
    auto m = model::openModel(dir.file("tiny.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = synth::synthImatrix(*m, 5);
    ASSERT_TRUE(im.ok());
    checkCoverage(*m, &*im, 64, {TensorType::Q4_K, TensorType::Q6_K, TensorType::IQ4_XS}, 40);
}

TEST(SampledError, WithinStdErrorOfExactOnSynthSmall) {
    // The `small` synth model (12 layers, hidden 768, ffn 2048): its first three layers'
    // tensors (21, 256-2,048 rows of 768-2,048 values) in three types with an imatrix, sampled
    // at 64 rows and measured exactly; a few seconds.
    test::TempDir dir;
    synth::SynthOptions so;
    so.preset = synth::SynthPreset::Small;
    ASSERT_TRUE(synth::writeSynthModel(so, dir.file("small.gguf")).ok());
    auto m = model::openModel(dir.file("small.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = synth::synthImatrix(*m, 7);
    ASSERT_TRUE(im.ok());
    checkCoverage(*m, &*im, 64, {TensorType::Q4_K, TensorType::Q6_K, TensorType::IQ4_XS}, 60,
                  [](const std::string& name) {
                      return name.starts_with("blk.0.") || name.starts_with("blk.1.") ||
                             name.starts_with("blk.2.");
                  });
}

TEST(SampledError, SeededAndThreadIndependent) {
    test::TempDir dir;
    synth::SynthOptions so;
    ASSERT_TRUE(synth::writeSynthModel(so, dir.file("tiny.gguf")).ok());
    auto m = model::openModel(dir.file("tiny.gguf"));
    ASSERT_TRUE(m.ok());
    const size_t idx = size_t(m->indexOf("blk.0.ffn_down.weight"));
    ErrorEstimateOptions o = sampledOptions(32);
    o.threads = 1;
    auto a = estimateTensorError(*m, idx, TensorType::Q4_K, o);
    o.threads = 4;
    auto b = estimateTensorError(*m, idx, TensorType::Q4_K, o);
    o.sampling.seed = 2;
    auto c = estimateTensorError(*m, idx, TensorType::Q4_K, o);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_TRUE(a->sampled);
    EXPECT_EQ(a->rowsMeasured, 32u);
    EXPECT_EQ(a->weightedNmse, b->weightedNmse);  // bit-identical
    EXPECT_EQ(a->stdError, b->stdError);
    EXPECT_NE(a->weightedNmse, c->weightedNmse);  // another draw
}

TEST(SampledError, ExpertsOfAnExpertTensor) {
    test::TempDir dir;
    synth::SynthOptions so;
    so.arch = "qwen3moe";  // 8 experts per *_exps tensor
    ASSERT_TRUE(synth::writeSynthModel(so, dir.file("moe.gguf")).ok());
    auto m = model::openModel(dir.file("moe.gguf"));
    ASSERT_TRUE(m.ok());
    const auto idx = m->indexOf("blk.0.ffn_up_exps.weight");
    ASSERT_GE(idx, 0);
    ErrorEstimateOptions o;
    o.perExpert = true;
    o.sampling.exact = true;
    auto x = estimateTensorError(*m, size_t(idx), TensorType::Q4_K, o);
    ASSERT_TRUE(x.ok()) << x.error().what();
    ASSERT_EQ(x->experts.size(), 8u);
    // The experts' errors combine to the tensor's: sum e^2 / sum x^2 over all rows.
    double lo = 1e9, hi = 0;
    for (const auto& e : x->experts) {
        EXPECT_GT(e.nmse, 0);
        lo = std::min(lo, e.nmse);
        hi = std::max(hi, e.nmse);
    }
    EXPECT_GE(x->nmse, lo);
    EXPECT_LE(x->nmse, hi);
    // Sampled: every expert has its own strata (at least 2 rows each).
    o.sampling = {};
    o.sampling.exactBelowValues = 0;
    o.sampling.sampleRows = 32;
    auto s = estimateTensorError(*m, size_t(idx), TensorType::Q4_K, o);
    ASSERT_TRUE(s.ok()) << s.error().what();
    EXPECT_TRUE(s->sampled);
    ASSERT_EQ(s->experts.size(), 8u);
    for (size_t k = 0; k < 8; ++k) {
        EXPECT_GE(s->experts[k].rowsMeasured, 2u);
        EXPECT_NEAR(s->experts[k].weightedNmse, x->experts[k].weightedNmse,
                    4 * s->experts[k].stdError + 1e-12);
    }
}

TEST(SampledError, CacheAnswersRepeatsAndExactAnswersSampled) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    const size_t idx = size_t(m->indexOf("blk.0.ffn_up.weight"));
    ErrorEstimateCache cache;
    ErrorEstimateOptions o = sampledOptions(8);
    auto a = estimateTensorErrorCached(*m, idx, TensorType::Q8_0, o, &cache);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(cache.size(), 1u);
    auto b = estimateTensorErrorCached(*m, idx, TensorType::Q8_0, o, &cache);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(a->weightedNmse, b->weightedNmse);
    o.sampling.exact = true;
    auto x = estimateTensorErrorCached(*m, idx, TensorType::Q8_0, o, &cache);
    ASSERT_TRUE(x.ok());
    EXPECT_FALSE(x->sampled);
    o.sampling.exact = false;  // the exact entry now answers the sampled question
    auto c = estimateTensorErrorCached(*m, idx, TensorType::Q8_0, o, &cache);
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(c->sampled);
    EXPECT_EQ(c->weightedNmse, x->weightedNmse);
}

TEST(SampledError, BadRequestsAreErrors) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    ErrorEstimateOptions o;
    EXPECT_FALSE(estimateTensorError(*m, 100000, TensorType::Q4_0, o).ok());
    o.sampling.sampleRows = 2;
    EXPECT_FALSE(estimateTensorError(*m, 1, TensorType::Q4_0, o).ok());
}

// The sparse fixtures: exact shapes of Llama 3.1 405B and Qwen3-30B-A3B, header + holes.
TEST(SampledError, SparseLargeFixturesOpenAndPlan) {
    test::TempDir dir;
    for (auto preset : {synth::SynthPreset::Llama405B, synth::SynthPreset::Qwen3Moe30B}) {
        synth::SynthOptions so;
        so.preset = preset;
        const std::string path = dir.file("big.gguf");
        ASSERT_TRUE(synth::writeSynthModel(so, path).ok());
        auto m = model::openModel(path);
        ASSERT_TRUE(m.ok()) << m.error().what();
        if (preset == synth::SynthPreset::Llama405B) {
            EXPECT_EQ(m->hparams().blockCount, 126u);
            EXPECT_EQ(m->hparams().embeddingLength, 16384u);
            EXPECT_GT(m->totalElements(), int64_t(405e9));
            EXPECT_LT(m->totalElements(), int64_t(407e9));
        } else {
            EXPECT_EQ(m->hparams().architecture, "qwen3moe");
            EXPECT_EQ(m->hparams().expertCount, 128u);
            EXPECT_EQ(m->hparams().blockCount, 48u);
            EXPECT_GT(m->totalElements(), int64_t(30e9));
            EXPECT_LT(m->totalElements(), int64_t(31e9));
            // One expert tensor, sampled, per expert: strata never cross experts.
            ErrorEstimateOptions o;
            o.perExpert = true;
            auto e = estimateTensorError(*m, size_t(m->indexOf("blk.0.ffn_down_exps.weight")),
                                         TensorType::Q4_K, o);
            ASSERT_TRUE(e.ok()) << e.error().what();
            EXPECT_TRUE(e->sampled);
            EXPECT_EQ(e->experts.size(), 128u);
        }
        std::filesystem::remove(path);
    }
}

}  // namespace
}  // namespace qs::quant

namespace qs::quant {
namespace {
// By hand (a minute): coverage over 6 seeds x 5 types at 16, 64 and 128 rows, on the synth tiny
// model with an imatrix and on stories260K; the numbers behind kRowsPerStratum and
// docs/BENCHMARKS.md. --gtest_also_run_disabled_tests --gtest_filter='*CoverageOverSeeds'
TEST(SampledError, DISABLED_CoverageOverSeeds) {
    test::TempDir dir;
    synth::SynthOptions so;
    ASSERT_TRUE(synth::writeSynthModel(so, dir.file("tiny.gguf")).ok());
    auto m = model::openModel(dir.file("tiny.gguf"));
    ASSERT_TRUE(m.ok());
    auto im = synth::synthImatrix(*m, 5);
    auto st = model::openModel(test::dataPath("models/stories260K.gguf"));
    for (int64_t rows : {16, 64, 128}) {
        for (int which = 0; which < 2; ++which) {
            const model::Model& mm = which ? *st : *m;
            const Imatrix* imp = which ? nullptr : &*im;
            int n = 0, w1 = 0, w2 = 0, w3 = 0;
            double sz = 0;
            for (uint64_t seed = 1; seed <= 6; ++seed)
                for (size_t i = 0; i < mm.tensors().size(); ++i) {
                    const auto& t = mm.tensors()[i];
                    if (!allowsQuantization(t) || t.rowCount() <= 2 * rows) continue;
                    for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::IQ4_XS,
                                            TensorType::Q4_0, TensorType::Q8_0}) {
                        ErrorEstimateOptions o = sampledOptions(rows);
                        o.sampling.seed = seed;
                        o.imatrix = imp;
                        auto s = estimateTensorError(mm, i, type, o);
                        if (!s.ok() || s->copy) continue;
                        o.sampling.exact = true;
                        auto x = estimateTensorError(mm, i, type, o);
                        if (!x.ok() || !(s->stdError > 0)) continue;
                        const double z = (s->weightedNmse - x->weightedNmse) / s->stdError;
                        w1 += std::fabs(z) <= 1;
                        w2 += std::fabs(z) <= 2;
                        w3 += std::fabs(z) <= 3;
                        sz += z;
                        ++n;
                    }
                }
            if (n)
                std::printf(
                    "%s rows %lld: n %d  within1 %.1f within2 %.1f within3 %.1f meanz %.2f\n",
                    which ? "stories" : "synth", (long long)rows, n, 100.0 * w1 / n, 100.0 * w2 / n,
                    100.0 * w3 / n, sz / n);
        }
    }
}
}  // namespace
}  // namespace qs::quant
