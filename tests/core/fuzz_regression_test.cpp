// Replays every fuzz corpus file (seeds, minimized corpora and the crashes the fuzzers found,
// named regress-*) through the readers: each must give a value or a clean error, never a crash.
#include <gtest/gtest.h>

#include <filesystem>

#include "../fuzz/split_harness.h"
#include "../fuzz/tokenizer_check.h"
#include "io/gguf_reader.h"
#include "io/safetensors_reader.h"
#include "test_util.h"

namespace {

std::string corpusDir(const char* name) {
    return std::string(QS_TEST_DATA_DIR) + "/../fuzz/corpus/" + name;
}

TEST(FuzzRegression, GgufCorpusParsesOrFailsCleanly) {
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(corpusDir("gguf"))) {
        const auto bytes = qs::test::readFile(e.path().string());
        auto r = qs::io::parseGguf(bytes, e.path().string());
        if (!r.ok()) {
            EXPECT_FALSE(r.error().message.empty()) << e.path();
            if (r.error().offset != qs::kNoOffset)
                EXPECT_LE(r.error().offset, bytes.size()) << e.path();
        }
        ++files;
    }
    EXPECT_GT(files, 4u);
}

// Crashes found by fuzz_safetensors: regress-offset-past-end.bin (an error offset outside the
// file), regress-number-overflow.bin (nlohmann's out_of_range escaped the reader).
TEST(FuzzRegression, SafetensorsCorpusParsesOrFailsCleanly) {
    size_t files = 0, regressions = 0;
    for (const auto& e : std::filesystem::directory_iterator(corpusDir("safetensors"))) {
        const auto bytes = qs::test::readFile(e.path().string());
        auto r = qs::io::parseSafetensors(bytes, e.path().string());
        if (!r.ok()) {
            EXPECT_FALSE(r.error().message.empty()) << e.path();
            if (r.error().offset != qs::kNoOffset)
                EXPECT_LE(r.error().offset, bytes.size()) << e.path();
        }
        regressions += e.path().filename().string().starts_with("regress-");
        ++files;
    }
    EXPECT_GE(regressions, 2u);
    EXPECT_GT(files, 4u);
}

// The tokenizer corpus (seeds and what fuzz_tokenizer found, named regress-*): every input passes
// the fuzz target's checks (ids in range and spelling the text back).
// regress-gemma4-overlong-space: an overlong space (C0 A0) after the gemma4 space escaping stays a
// plain space, as in llama.cpp (the check's expectation was wrong, not the tokenizer).
TEST(FuzzRegression, TokenizerCorpusPassesTheChecks) {
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(corpusDir("tokenizer"))) {
        const auto bytes = qs::test::readFile(e.path().string());
        EXPECT_EQ(qs_fuzz_tokenizer::check(bytes.data(), bytes.size()), "") << e.path();
        ++files;
    }
    EXPECT_GE(files, 8u);
}

// The split-model catalogue (fuzz_gguf_split): every corpus file, cut into shards at each GGUF
// magic, is accepted whole or refused naming a shard (split_harness.h); the seeds cover a valid
// 1-, 2- and 3-shard set, a wrong split.tensors.count, split.no out of order, a duplicate tensor
// across shards and shards without split keys.
TEST(FuzzRegression, GgufSplitCorpusIsAcceptedWholeOrRefusedNamingAShard) {
    size_t files = 0, accepted = 0;
    for (const auto& e : std::filesystem::directory_iterator(corpusDir("gguf_split"))) {
        const auto bytes = qs::test::readFile(e.path().string());
        const auto outcome = qs::fuzz::checkShardCatalogueInput(bytes);
        EXPECT_NE(outcome, qs::fuzz::Outcome::Broken) << e.path();
        const std::string name = e.path().filename().string();
        const bool valid =
            name == "seed-3-shards" || name == "seed-2-shards" || name == "seed-1-shard";
        if (name.starts_with("seed-")) {
            EXPECT_EQ(outcome == qs::fuzz::Outcome::Accepted, valid) << name;
        }
        accepted += valid && outcome == qs::fuzz::Outcome::Accepted;
        ++files;
    }
    EXPECT_EQ(accepted, 3u);
    EXPECT_GE(files, 7u);
}

}  // namespace
