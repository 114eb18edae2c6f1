// Split GGUF models: reading a set split in llama.cpp's layout (gguf-split) from any shard, every
// catalogue inconsistency refused with an error naming the shard, split exports (by size, by
// tensor count, --keep-split) with exact predicted sizes, llama.cpp's layout, and nothing left
// on cancel.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/gguf_reader.h"
#include "io/gguf_split.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/plan.h"
#include "split_util.h"
#include "test_util.h"

using namespace qs;
using namespace qs::quant;

namespace {

const std::string kStories = "models/stories260K.gguf";

Plan planFor(const model::Model& m, Ftype f) {
    PlanOptions po;
    po.ftype = f;
    return buildPlan(m, po);
}

std::vector<std::string> filesIn(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

io::GgufFile parseFile(const std::string& path) {
    auto f = io::MappedFile::open(path);
    EXPECT_TRUE(f.ok());
    auto g = io::parseGguf(f->bytes(), path);
    EXPECT_TRUE(g.ok()) << (g ? "" : g.error().what());
    return std::move(*g);
}

TEST(GgufSplit, NamingIsLlamaCpps) {
    EXPECT_EQ(io::splitPath("dir/model", 0, 3), "dir/model-00001-of-00003.gguf");
    EXPECT_EQ(io::splitPath("m", 11, 12), "m-00012-of-00012.gguf");
    EXPECT_EQ(io::splitPrefix("dir/model-00002-of-00003.gguf", 1, 3), "dir/model");
    EXPECT_FALSE(io::splitPrefix("dir/model-00002-of-00003.gguf", 0, 3));
    EXPECT_FALSE(io::splitPrefix("-00001-of-00001.gguf", 0, 1));
    EXPECT_FALSE(io::splitPrefix("model.gguf", 0, 2));
}

TEST(GgufSplit, ParseSplitSizeTakesGgufSplitSyntax) {
    EXPECT_EQ(parseSplitSize("500M").value(), 500000000u);
    EXPECT_EQ(parseSplitSize("2G").value(), 2000000000u);
    EXPECT_EQ(parseSplitSize("4096").value(), 4096u);
    for (const char* bad : {"", "M", "0M", "-1G", "1.5G", "12K", "99999999999999999999G"}) {
        EXPECT_FALSE(parseSplitSize(bad).ok()) << bad;
    }
}

TEST(GgufSplit, AnyShardOpensTheWholeModel) {
    test::TempDir dir;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20);
    ASSERT_EQ(paths.size(), 3u);
    auto whole = model::openModel(test::dataPath(kStories));
    ASSERT_TRUE(whole.ok());
    for (const auto& p : paths) {
        auto m = model::openModel(p);
        ASSERT_TRUE(m.ok()) << m.error().what();
        EXPECT_EQ(m->path(), p);
        ASSERT_EQ(m->files().size(), 3u);
        for (size_t s = 0; s < 3; ++s) EXPECT_EQ(m->files()[s].path(), paths[s]);
        ASSERT_EQ(m->tensors().size(), whole->tensors().size());
        EXPECT_EQ(m->hparams().blockCount, whole->hparams().blockCount);
        EXPECT_EQ(m->hparams().architecture, "llama");
        // All the metadata (from the first shard) plus the three split keys.
        EXPECT_EQ(m->metadata().size(), whole->metadata().size() + 3);
        EXPECT_EQ(m->find("split.count")->asUInt(), 3u);
        for (size_t i = 0; i < m->tensors().size(); ++i) {
            const auto& a = m->tensors()[i];
            const auto& b = whole->tensors()[i];
            EXPECT_EQ(a.name, b.name);
            EXPECT_EQ(a.fileIndex, i / 20);
            EXPECT_EQ(a.shape, b.shape);
            const auto da = m->tensorData(a), db = whole->tensorData(b);
            ASSERT_EQ(da.size(), db.size());
            EXPECT_TRUE(std::equal(da.begin(), da.end(), db.begin())) << a.name;
        }
    }
}

TEST(GgufSplit, QuantizingFromTheFirstShardEqualsTheUnsplitModel) {
    test::TempDir dir;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 7);
    ASSERT_EQ(paths.size(), 7u);
    auto whole = model::openModel(test::dataPath(kStories));
    auto split = model::openModel(paths[0]);
    ASSERT_TRUE(whole.ok() && split.ok());
    QuantizeOptions qo;
    qo.threads = 2;
    for (Ftype f : {Ftype::Q4_K_M, Ftype::Q8_0}) {
        auto a = exportGguf(*whole, planFor(*whole, f), dir.file("a.gguf"), qo);
        auto b = exportGguf(*split, planFor(*split, f), dir.file("b.gguf"), qo);
        ASSERT_TRUE(a.ok() && b.ok());
        // Same tensors, same types, same bytes: the whole file is identical (split.* removed).
        EXPECT_EQ(test::readFile(dir.file("a.gguf")), test::readFile(dir.file("b.gguf")));
        ASSERT_EQ(a->tensors.size(), b->tensors.size());
        for (size_t i = 0; i < a->tensors.size(); ++i) {
            EXPECT_EQ(a->tensors[i].type, b->tensors[i].type);
            EXPECT_EQ(a->tensors[i].metrics.nmse, b->tensors[i].metrics.nmse);
        }
    }
}

// Every inconsistency of the catalogue: an error naming the shard at fault, never a model.
void expectRefused(const std::string& open, const std::string& fileInError,
                   const std::string& words) {
    auto m = model::openModel(open);
    ASSERT_FALSE(m.ok()) << "opened " << open;
    EXPECT_EQ(m.error().exitCode(), 2) << m.error().what();
    EXPECT_EQ(m.error().file, fileInError) << m.error().what();
    EXPECT_NE(m.error().what().find(words), std::string::npos) << m.error().what();
}

TEST(GgufSplit, MissingShardIsRefusedByName) {
    test::TempDir dir;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20);
    std::filesystem::remove(paths[1]);
    expectRefused(paths[0], paths[1], "missing shard 2 of 3");
    expectRefused(paths[2], paths[1], "missing shard 2 of 3");
}

TEST(GgufSplit, ExtraShardIsRefusedByName) {
    test::TempDir dir;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20);
    std::filesystem::copy_file(paths[2], dir.file("st-00004-of-00003.gguf"));
    expectRefused(paths[0], dir.file("st-00004-of-00003.gguf"), "extra shard");
    // Another series with another count beside it is another model: not an extra shard.
    std::filesystem::remove(dir.file("st-00004-of-00003.gguf"));
    test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 30);
    EXPECT_TRUE(model::openModel(paths[0]).ok());
    EXPECT_EQ(model::openModel(dir.file("st-00002-of-00002.gguf"))->files().size(), 2u);
}

TEST(GgufSplit, WrongCountIsRefusedByName) {
    test::TempDir dir;
    test::SplitHooks hooks;
    hooks.keys = [](io::GgufWriter& w, uint32_t s, uint32_t) {
        if (s == 2) ASSERT_TRUE(w.setKv("split.count", io::GgufValue::u16(4)).ok());
    };
    const auto paths =
        test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20, hooks);
    expectRefused(paths[0], paths[2], "split.count = 4");
}

TEST(GgufSplit, ShardOfAnotherModelIsRefusedByName) {
    test::TempDir dir, other;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20);
    // Another model split the same way (three shards; its tensors count differs).
    test::SplitHooks fewer;
    fewer.keys = [](io::GgufWriter& w, uint32_t, uint32_t) {
        ASSERT_TRUE(w.setKv("split.tensors.count", io::GgufValue::i32(47)).ok());
    };
    const auto theirs =
        test::splitLikeGgufSplit(test::dataPath(kStories), other.file("st"), 20, fewer);
    std::filesystem::copy_file(theirs[1], paths[1],
                               std::filesystem::copy_options::overwrite_existing);
    expectRefused(paths[0], paths[1], "another model");
}

TEST(GgufSplit, ShardUnderTheWrongNumberIsRefusedByName) {
    test::TempDir dir;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20);
    std::filesystem::copy_file(paths[0], paths[1],
                               std::filesystem::copy_options::overwrite_existing);
    expectRefused(paths[2], paths[1], "split.no = 0");
}

TEST(GgufSplit, DuplicateTensorAcrossShardsIsRefusedByName) {
    test::TempDir dir;
    test::SplitHooks hooks;
    hooks.extraTensors = [](uint32_t s) {
        return s == 1 ? std::vector<size_t>{3} : std::vector<size_t>{};
    };
    const auto paths =
        test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20, hooks);
    auto m = model::openModel(paths[0]);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().file, paths[1]);
    EXPECT_FALSE(m.error().tensor.empty());
    EXPECT_NE(m.error().what().find("duplicate tensor across shards"), std::string::npos)
        << m.error().what();
}

TEST(GgufSplit, TensorCountMismatchIsRefused) {
    test::TempDir dir;
    test::SplitHooks hooks;
    hooks.keys = [](io::GgufWriter& w, uint32_t, uint32_t) {
        ASSERT_TRUE(w.setKv("split.tensors.count", io::GgufValue::i32(49)).ok());
    };
    const auto paths =
        test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20, hooks);
    expectRefused(paths[1], paths[0], "hold 48 tensors but split.tensors.count is 49");
}

TEST(GgufSplit, ShardWithoutLlamaCppsNameIsRefused) {
    test::TempDir dir;
    const auto paths = test::splitLikeGgufSplit(test::dataPath(kStories), dir.file("st"), 20);
    std::filesystem::rename(paths[0], dir.file("renamed.gguf"));
    expectRefused(dir.file("renamed.gguf"), dir.file("renamed.gguf"), "-00001-of-00003.gguf");
}

TEST(GgufSplit, BadSplitKeysAreRefused) {
    io::GgufFile f;
    f.kvs.push_back({"split.count", io::GgufValue::u16(2)});
    EXPECT_FALSE(io::readSplitKeys(f, "x").ok());  // no split.no
    f.kvs.push_back({"split.no", io::GgufValue::u16(2)});
    f.kvs.push_back({"split.tensors.count", io::GgufValue::i32(3)});
    EXPECT_FALSE(io::readSplitKeys(f, "x").ok());  // no >= count
    f.kvs[1].value = io::GgufValue::u16(1);
    EXPECT_TRUE(io::readSplitKeys(f, "x").ok());
    f.kvs[0].value = io::GgufValue::string("2");
    EXPECT_FALSE(io::readSplitKeys(f, "x").ok());  // not an integer
    f.kvs[0].value = io::GgufValue::u16(0);
    EXPECT_FALSE(io::readSplitKeys(f, "x").ok());  // count 0
}

TEST(GgufSplit, SplitExportBySizeHasExactSizesAndLlamaCppsLayout) {
    auto m = model::openModel(test::dataPath(kStories));
    ASSERT_TRUE(m.ok());
    const Plan plan = planFor(*m, Ftype::Q8_0);
    test::TempDir dir;
    QuantizeOptions qo;
    qo.threads = 2;
    qo.split.maxBytes = 100000;
    auto predicted = predictShards(*m, plan, nullptr, qo.split, dir.file("out.gguf"));
    ASSERT_TRUE(predicted.ok());
    ASSERT_GT(predicted->size(), 2u);
    auto s = exportGguf(*m, plan, dir.file("out.gguf"), qo);
    ASSERT_TRUE(s.ok()) << s.error().what();
    ASSERT_EQ(s->shards.size(), predicted->size());
    const uint32_t n = uint32_t(predicted->size());
    uint64_t total = 0;
    size_t tensors = 0;
    for (uint32_t k = 0; k < n; ++k) {
        const auto& p = (*predicted)[k];
        EXPECT_EQ(p.path, io::splitPath(dir.file("out"), k, n));
        EXPECT_EQ(std::filesystem::file_size(p.path), p.fileBytes) << p.path;
        EXPECT_EQ(s->shards[k].fileBytes, p.fileBytes);
        total += p.fileBytes;
        const auto g = parseFile(p.path);
        EXPECT_EQ(g.find("split.no")->type(), io::GgufType::UInt16);
        EXPECT_EQ(g.find("split.no")->asUInt(), k);
        EXPECT_EQ(g.find("split.count")->type(), io::GgufType::UInt16);
        EXPECT_EQ(g.find("split.count")->asUInt(), n);
        EXPECT_EQ(g.find("split.tensors.count")->type(), io::GgufType::Int32);
        EXPECT_EQ(g.find("split.tensors.count")->asUInt(), m->tensors().size());
        if (k == 0) {
            EXPECT_NE(g.find("general.architecture"), nullptr);
            EXPECT_EQ(g.kvs.back().key, "split.tensors.count");
        } else {
            EXPECT_EQ(g.kvs.size(), 3u);  // the split keys only
        }
        uint64_t data = 0;
        for (const auto& t : g.tensors) data += (t.nbytes + 31) / 32 * 32;
        // gguf-split's rule: a shard's padded data stays within the limit unless one tensor
        // alone is larger.
        if (g.tensors.size() > 1) EXPECT_LE(data, qo.split.maxBytes) << p.path;
        tensors += g.tensors.size();
    }
    EXPECT_EQ(tensors, m->tensors().size());
    EXPECT_EQ(s->fileBytes, total);
    EXPECT_EQ(filesIn(dir.path()).size(), n);  // no temporary files left

    // The split export reads back as the unsplit export does, tensor for tensor.
    auto single = exportGguf(*m, plan, dir.file("single.gguf"), QuantizeOptions{});
    ASSERT_TRUE(single.ok());
    auto a = model::openModel(dir.file("single.gguf"));
    auto b = model::openModel(dir.file("out-00002-of-0000" + std::to_string(n) + ".gguf"));
    ASSERT_TRUE(a.ok() && b.ok()) << (b ? "" : b.error().what());
    ASSERT_EQ(a->tensors().size(), b->tensors().size());
    for (size_t i = 0; i < a->tensors().size(); ++i) {
        const auto da = a->tensorData(a->tensors()[i]), db = b->tensorData(b->tensors()[i]);
        EXPECT_EQ(a->tensors()[i].name, b->tensors()[i].name);
        ASSERT_EQ(da.size(), db.size());
        EXPECT_TRUE(std::equal(da.begin(), da.end(), db.begin()));
    }
}

TEST(GgufSplit, SplitByTensorCountAndKeepSplit) {
    auto m = model::openModel(test::dataPath(kStories));
    ASSERT_TRUE(m.ok());
    test::TempDir dir;
    QuantizeOptions qo;
    qo.split.maxTensors = 16;
    auto s = exportGguf(*m, planFor(*m, Ftype::Q8_0), dir.file("q8.gguf"), qo);
    ASSERT_TRUE(s.ok()) << s.error().what();
    ASSERT_EQ(s->shards.size(), 3u);  // 48 tensors
    for (const auto& sh : s->shards) EXPECT_EQ(sh.tensorCount, 16u);

    // --keep-split: quantizing the Q8_0 shards keeps their split, tensor for tensor.
    auto q8 = model::openModel(dir.file("q8-00001-of-00003.gguf"));
    ASSERT_TRUE(q8.ok());
    QuantizeOptions keep;
    keep.split.keepSplit = true;
    auto k = exportGguf(*q8, planFor(*q8, Ftype::Q4_0), dir.file("q4.gguf"), keep);
    ASSERT_TRUE(k.ok()) << k.error().what();
    ASSERT_EQ(k->shards.size(), 3u);
    auto q4 = model::openModel(dir.file("q4-00003-of-00003.gguf"));
    ASSERT_TRUE(q4.ok());
    ASSERT_EQ(q4->tensors().size(), q8->tensors().size());
    for (size_t i = 0; i < q4->tensors().size(); ++i) {
        EXPECT_EQ(q4->tensors()[i].name, q8->tensors()[i].name);
        EXPECT_EQ(q4->tensors()[i].fileIndex, q8->tensors()[i].fileIndex);
    }
    // --keep-split of an unsplit model: one file at the output path.
    auto one = exportGguf(*m, planFor(*m, Ftype::Q8_0), dir.file("one.gguf"), keep);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->shards.size(), 1u);
    EXPECT_TRUE(std::filesystem::exists(dir.file("one.gguf")));

    // Two split options at once are refused.
    QuantizeOptions both;
    both.split.maxTensors = 4;
    both.split.maxBytes = 1000;
    EXPECT_FALSE(exportGguf(*m, planFor(*m, Ftype::Q8_0), dir.file("x.gguf"), both).ok());
    // An output shard that is an input shard is refused.
    auto self = exportGguf(*q8, planFor(*q8, Ftype::Q4_0), dir.file("q8.gguf"), keep);
    ASSERT_FALSE(self.ok());
}

TEST(GgufSplit, CancelInALaterShardLeavesNoShardBehind) {
    auto m = model::openModel(test::dataPath(kStories));
    ASSERT_TRUE(m.ok());
    test::TempDir dir;
    QuantizeOptions qo;
    qo.split.maxTensors = 10;
    size_t calls = 0;
    qo.progress = [&](const Progress& p) {
        ++calls;
        return p.tensorIndex < 35;  // cancel inside the fourth shard
    };
    auto s = exportGguf(*m, planFor(*m, Ftype::Q4_K_M), dir.file("out.gguf"), qo);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::Cancelled);
    EXPECT_GT(calls, 30u);
    EXPECT_TRUE(filesIn(dir.path()).empty());  // neither shards nor temporary files
}

}  // namespace
