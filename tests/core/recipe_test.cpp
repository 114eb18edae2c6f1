// Recipes: JSON round trips, plans rebuilt exactly, bad recipes refused with the field named.
#include <gtest/gtest.h>

#include "model/model.h"
#include "quant/recipe.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;
using formats::TensorType;

namespace {

TEST(Recipe, JsonRoundTripAndPlanRebuild) {
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    Recipe r;
    r.base = Ftype::Q4_0;
    r.rules = {"attn_v=q8_0", "blk\\.4\\.=q5_1"};
    r.outputType = TensorType::Q8_0;
    r.tensors = {{"blk.2.attn_q.weight", TensorType::Q5_0}};
    r.locked = {"blk.2.attn_q.weight"};
    test::TempDir dir;
    ASSERT_TRUE(saveRecipe(r, dir.file("r.json"), &*m).ok());
    auto back = loadRecipe(dir.file("r.json"));
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_EQ(back->base, Ftype::Q4_0);
    EXPECT_EQ(back->rules, r.rules);
    EXPECT_EQ(back->tensors, r.tensors);
    EXPECT_EQ(back->locked, r.locked);
    EXPECT_EQ(back->outputType, TensorType::Q8_0);

    auto plan = planFromRecipe(*m, *back);
    ASSERT_TRUE(plan.ok()) << plan.error().what();
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        const auto& t = m->tensors()[i];
        const auto& c = plan->tensors[i];
        if (t.name == "blk.2.attn_q.weight") {
            EXPECT_EQ(c.type, TensorType::Q5_0);
            EXPECT_TRUE(c.locked);
        } else if (t.role == model::TensorRole::AttnV) {
            EXPECT_EQ(c.type, TensorType::Q8_0) << t.name;
        } else if (t.layer == 4 && c.quantizable && t.role != model::TensorRole::FfnDown) {
            EXPECT_EQ(c.type, TensorType::Q5_1) << t.name;
        }
    }
    // The recipe of a plan rebuilds the same plan.
    const Recipe again = recipeOfPlan(*m, *plan);
    auto plan2 = planFromRecipe(*m, again);
    ASSERT_TRUE(plan2.ok());
    for (size_t i = 0; i < m->tensors().size(); ++i) {
        EXPECT_EQ(plan2->tensors[i].type, plan->tensors[i].type) << m->tensors()[i].name;
        EXPECT_EQ(plan2->tensors[i].locked, plan->tensors[i].locked);
    }
}

TEST(Recipe, BadRecipesAreRefusedWithTheField) {
    struct Case {
        const char* json;
        const char* needle;
    } cases[] = {
        {"{", "not valid JSON"},
        {"[]", "must be an object"},
        {"{\"base\":\"Q4_0\"}", "schema"},
        {"{\"schema\":\"quantscope.recipe/9\"}", "schema"},
        {"{\"schema\":\"quantscope.recipe/1\",\"base\":\"Q9\"}", "unknown base preset 'Q9'"},
        {"{\"schema\":\"quantscope.recipe/1\",\"rules\":[\"attn_v\"]}", "REGEX=TYPE"},
        {"{\"schema\":\"quantscope.recipe/1\",\"rules\":[\"(=q4_0\"]}", "invalid regex"},
        {"{\"schema\":\"quantscope.recipe/1\",\"tensors\":{\"x\":\"Q77\"}}", "unknown type 'Q77'"},
        {"{\"schema\":\"quantscope.recipe/1\",\"tensors\":[1]}", "\"tensors\""},
        {"{\"schema\":\"quantscope.recipe/1\",\"pure\":1}", "\"pure\""},
    };
    for (const auto& c : cases) {
        auto r = parseRecipe(c.json, "bad.json");
        ASSERT_FALSE(r.ok()) << c.json;
        EXPECT_EQ(r.error().file, "bad.json");
        EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().what();
    }
    auto m = model::openModel(test::dataPath("models/stories260K.gguf"));
    ASSERT_TRUE(m.ok());
    auto r = parseRecipe(
        "{\"schema\":\"quantscope.recipe/1\",\"tensors\":{\"blk.9.attn_q.weight\":\"Q8_0\"}}", "x");
    ASSERT_TRUE(r.ok());
    auto p = planFromRecipe(*m, *r);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().tensor, "blk.9.attn_q.weight");
}

}  // namespace
