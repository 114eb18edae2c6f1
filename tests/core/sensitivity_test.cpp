// The sensitivity atlas: exact cells equal the engine's own metrics, sampled estimates agree
// with exact ones within their reported standard errors, and the disk cache returns the same
// numbers and shrugs off corrupt files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/model.h"
#include "quant/engine.h"
#include "quant/sensitivity.h"
#include "synth/synth.h"
#include "synth/synth_imatrix.h"
#include "test_util.h"

namespace qs::quant {
namespace {

using formats::TensorType;

const std::vector<TensorType> kTypes = {TensorType::Q2_K, TensorType::Q4_0, TensorType::Q4_K,
                                        TensorType::Q6_K, TensorType::Q8_0};

TEST(Sensitivity, ExactCellsEqualTheEngineMetrics) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto im = synth::synthImatrix(*m, 3);
    ASSERT_TRUE(im.ok());
    ASSERT_TRUE(checkImatrixFor(*im, *m).ok());
    SensitivityOptions o;
    o.types = kTypes;
    o.exact = true;
    o.imatrix = &*im;
    o.cacheDir = dir.file("cache");
    auto table = measureSensitivity(*m, o);
    ASSERT_TRUE(table.ok()) << table.error().what();
    EXPECT_TRUE(table->weighted);
    int compared = 0;
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        const auto& ts = table->tensors[i];
        if (!ts.quantizable) {
            EXPECT_TRUE(ts.cells.empty());
            continue;
        }
        for (const auto& c : ts.cells) {
            ASSERT_TRUE(c.valid) << m->tensors()[i].name;
            QuantizeOptions qo;
            qo.imatrix = &*im;
            auto r = quantizeTensor(*m, i, c.type, qo);
            ASSERT_TRUE(r.ok()) << r.error().what();
            EXPECT_EQ(c.bytes, r->bytes);
            EXPECT_NEAR(c.nmse, r->metrics.nmse, 1e-12 + 1e-9 * r->metrics.nmse);
            EXPECT_NEAR(c.weightedNmse, r->metrics.weightedNmse,
                        1e-12 + 1e-9 * r->metrics.weightedNmse);
            EXPECT_EQ(c.stdError, 0.0);
            ++compared;
        }
    }
    EXPECT_GT(compared, 30 * int(kTypes.size()));
    // Row length 64 cannot hold K-quants: the fallback is what is measured.
    const auto* c = table->cell(size_t(m->indexOf("blk.0.attn_q.weight")), TensorType::Q4_K);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, TensorType::Q5_0);
}

TEST(Sensitivity, SampledEstimatesAgreeWithExactWithinTheirStandardError) {
    test::TempDir dir;
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 5, 0}, dir.file("m.gguf")).ok());
    auto m = model::openModel(dir.file("m.gguf"));
    ASSERT_TRUE(m.ok());
    auto im = synth::synthImatrix(*m, 5);
    ASSERT_TRUE(im.ok());
    SensitivityOptions o;
    o.types = kTypes;
    o.imatrix = &*im;
    o.useCache = false;
    o.sampleRows = 48;
    auto sampled = measureSensitivity(*m, o);
    ASSERT_TRUE(sampled.ok()) << sampled.error().what();
    o.exact = true;
    auto exact = measureSensitivity(*m, o);
    ASSERT_TRUE(exact.ok());
    int cells = 0, within2 = 0, within4 = 0;
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        for (size_t k = 0; k < kTypes.size() && sampled->tensors[i].quantizable; ++k) {
            const auto& s = sampled->tensors[i].cells[k];
            const auto& e = exact->tensors[i].cells[k];
            ASSERT_EQ(s.type, e.type);
            if (s.rowsMeasured == e.rowsMeasured) {  // small tensors: every row either way
                EXPECT_EQ(s.weightedNmse, e.weightedNmse);
                continue;
            }
            EXPECT_GT(s.stdError, 0.0);
            EXPECT_LT(s.stdError, 0.2 * s.weightedNmse)
                << m->tensors()[i].name << " " << formats::typeName(s.type) << " exact "
                << e.weightedNmse << " plain " << s.nmse << " vs " << e.nmse;
            const double z = std::fabs(s.weightedNmse - e.weightedNmse) / s.stdError;
            ++cells;
            within2 += z <= 2;
            within4 += z <= 4;
        }
    }
    ASSERT_GT(cells, 50);
    std::printf("  %d sampled cells: %d within 2 SE, %d within 4 SE of the exact value\n", cells,
                within2, within4);
    // A calibrated standard error: ~95% within 2 SE, essentially all within 4.
    EXPECT_GE(double(within2) / cells, 0.85) << within2 << "/" << cells;
    EXPECT_GE(double(within4) / cells, 0.98) << within4 << "/" << cells;
}

TEST(Sensitivity, CacheServesTheSameNumbersAndIgnoresCorruptFiles) {
    test::TempDir dir;
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    SensitivityOptions o;
    o.types = kTypes;
    o.cacheDir = dir.file("cache");
    auto first = measureSensitivity(*m, o);
    ASSERT_TRUE(first.ok());
    size_t quantizable = 0;
    for (const auto& t : first->tensors) quantizable += t.quantizable;
    // Tensors of identical content share a cache entry (stories260K has a few), others miss.
    EXPECT_LT(first->cacheHits, quantizable / 4);
    EXPECT_GT(first->rowsMeasured, 0u);
    auto second = measureSensitivity(*m, o);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->cacheHits, quantizable);
    EXPECT_EQ(second->rowsMeasured, 0u);
    auto same = [&](const SensitivityTable& a, const SensitivityTable& b) {
        for (size_t i = 0; i < a.tensors.size(); ++i) {
            ASSERT_EQ(a.tensors[i].cells.size(), b.tensors[i].cells.size());
            for (size_t k = 0; k < a.tensors[i].cells.size(); ++k) {
                const auto &x = a.tensors[i].cells[k], &y = b.tensors[i].cells[k];
                EXPECT_EQ(x.type, y.type);
                EXPECT_EQ(x.bytes, y.bytes);
                EXPECT_EQ(x.nmse, y.nmse);
                EXPECT_EQ(x.weightedNmse, y.weightedNmse);
            }
        }
    };
    same(*first, *second);

    // A superset of types: the cached ones are reused, the new one measured.
    SensitivityOptions more = o;
    more.types.push_back(TensorType::Q5_1);
    auto third = measureSensitivity(*m, more);
    ASSERT_TRUE(third.ok());
    EXPECT_LT(third->cacheHits, quantizable / 4);
    EXPECT_GT(third->rowsMeasured, 0u);

    // Corrupt every cache file in a different way: garbage, truncation, wrong key, bad values.
    int n = 0;
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir.file("cache"))) {
        if (!f.is_regular_file()) continue;
        auto bytes = test::readFile(f.path().string());
        switch (n++ % 4) {
        case 0: test::writeFile(f.path().string(), {0xff, 0x00, 0x7b}); break;
        case 1:
            bytes.resize(bytes.size() / 2);
            test::writeFile(f.path().string(), bytes);
            break;
        case 2: {
            std::string s(bytes.begin(), bytes.end());
            s.replace(s.find("content="), 9, "content=X");
            test::writeFile(f.path().string(), {s.begin(), s.end()});
            break;
        }
        default: {
            std::string s(bytes.begin(), bytes.end());
            const auto p = s.find("\"nmse\":");
            s.replace(p, 8, "\"nmse\":-");
            test::writeFile(f.path().string(), {s.begin(), s.end()});
            break;
        }
        }
    }
    ASSERT_GT(n, 20);
    auto fourth = measureSensitivity(*m, o);
    ASSERT_TRUE(fourth.ok()) << fourth.error().what();
    EXPECT_LT(fourth->cacheHits, quantizable);
    same(*first, *fourth);
}

TEST(Sensitivity, CancelAndProgress) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    SensitivityOptions o;
    o.types = kTypes;
    o.useCache = false;
    uint64_t last = 0, total = 0;
    int calls = 0;
    o.progress = [&](const Progress& p) {
        EXPECT_GE(p.doneBytes, last);
        last = p.doneBytes;
        total = p.totalBytes;
        return ++calls < 5;
    };
    auto r = measureSensitivity(*m, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Cancelled);
    calls = -1000000;
    last = 0;
    auto full = measureSensitivity(*m, o);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(last, total);
    CancelToken token;
    token.cancel();
    o.progress = nullptr;
    o.cancel = &token;
    EXPECT_EQ(measureSensitivity(*m, o).error().code, ErrorCode::Cancelled);
}

}  // namespace
}  // namespace qs::quant

namespace qs::quant {
namespace {

TEST(Sensitivity, GridIQuantsAreCandidatesWhereTheyCanBeWritten) {
    // The new types measure like the others; a type ggml (or llama.cpp) refuses without
    // importance is no option for a tensor the imatrix has no entry for (token_embd), instead
    // of failing the whole table.
    test::TempDir dir;
    ASSERT_TRUE(synth::writeSynthModel({synth::SynthPreset::Tiny, 1, 2}, dir.file("t.gguf")).ok());
    auto m = model::openModel(dir.file("t.gguf"));
    ASSERT_TRUE(m.ok());
    auto im = synth::synthImatrix(*m, 3);
    ASSERT_TRUE(im.ok());
    ASSERT_EQ(im->find("token_embd.weight"), nullptr);
    SensitivityOptions o;
    o.types = {TensorType::IQ2_XXS, TensorType::IQ2_S, TensorType::IQ1_M,
               TensorType::TQ1_0,   TensorType::Q2_0,  TensorType::Q2_K};
    o.imatrix = &*im;
    o.sampleRows = 8;
    o.cacheDir = dir.file("cache");
    auto table = measureSensitivity(*m, o);
    ASSERT_TRUE(table.ok()) << table.error().what();
    const size_t emb = size_t(m->indexOf("token_embd.weight"));
    EXPECT_FALSE(table->cell(emb, TensorType::IQ2_XXS)->valid);
    EXPECT_TRUE(table->cell(emb, TensorType::IQ2_S)->valid);  // llama.cpp exempts token_embd
    EXPECT_TRUE(table->cell(emb, TensorType::Q2_0)->valid);
    const size_t q = size_t(m->indexOf("blk.0.attn_q.weight"));
    for (TensorType t : o.types) {
        const auto* c = table->cell(q, t);
        ASSERT_NE(c, nullptr);
        EXPECT_TRUE(c->valid) << formats::typeName(t);
        EXPECT_GT(c->nmse, 0.0) << formats::typeName(t);
        EXPECT_EQ(c->type, t);
    }
    // The 1.75-bit type loses more than the 2.56-bit grid type.
    EXPECT_GT(table->cell(q, TensorType::IQ1_M)->nmse, table->cell(q, TensorType::IQ2_S)->nmse);
}

}  // namespace
}  // namespace qs::quant
