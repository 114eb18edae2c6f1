// Evaluation releases the source pages it reads (eval/page_release.h): the logits are forward()'s
// bit for bit, every block weight is released as the pass goes on, and an observer chained
// behind the releaser (the importance collector's place) still sees every product.
#include <gtest/gtest.h>

#include <vector>

#include "eval/forward.h"
#include "eval/llama_model.h"
#include "eval/page_release.h"
#include "model/model.h"
#include "test_util.h"

namespace qs::eval {
namespace {

struct CountingObserver final : ActivationObserver {
    int products = 0;
    void onProduct(const WeightView&, int, int, const float*, int64_t) override { ++products; }
};

TEST(PageRelease, SameLogitsAndEveryWeightReleased) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto lm = LlamaModel::bind(*m);
    ASSERT_TRUE(lm.ok()) << lm.error().what();
    const std::vector<int32_t> tokens = {1, 15, 42, 7, 99, 3};
    auto run = [&](bool release, ActivationObserver* ob) {
        std::vector<float> logits;
        ForwardOptions o;
        o.threads = 1;
        o.observer = ob;
        auto consume = [&](int64_t, int64_t n, const float* l) {
            logits.insert(logits.end(), l, l + n * lm->config().nVocab);
        };
        Status s = release ? forwardReleasingPages(*lm, tokens, o, consume)
                           : forward(*lm, tokens, o, consume);
        EXPECT_TRUE(s.ok());
        return logits;
    };
    CountingObserver plain, chained;
    const auto a = run(false, &plain);
    const auto b = run(true, &chained);
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(a, b);  // bit for bit
    EXPECT_EQ(plain.products, chained.products);

    // The releaser itself: 7 weights per layer (q, k, v, o, gate, up, down), all released.
    CountingObserver inner;
    PageReleasingObserver releaser(*m, &inner);
    ForwardOptions o;
    o.threads = 1;
    o.observer = &releaser;
    ASSERT_TRUE(forward(*lm, tokens, o, [](int64_t, int64_t, const float*) {}).ok());
    releaser.flush();
    EXPECT_EQ(releaser.released(), int64_t(7) * lm->config().nLayer);
    EXPECT_EQ(inner.products, plain.products);
}

}  // namespace
}  // namespace qs::eval
