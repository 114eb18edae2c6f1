#pragma once
// A test-side splitter that writes a GGUF model as llama.cpp's gguf-split does (independent of
// the engine's export, so that reading is tested against llama.cpp's layout, not our writer):
// tensors in the input's order, a new shard every `maxTensors` tensors, the first shard with all
// the input's metadata followed by split.no (u16), split.count (u16), split.tensors.count (i32),
// the others with the three split keys only, data padded to 32 bytes, files named
// PREFIX-%05d-of-%05d.gguf. Hooks let a test break the catalogue on purpose.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "io/gguf_reader.h"
#include "io/gguf_split.h"
#include "io/gguf_writer.h"
#include "io/mapped_file.h"

namespace qs::test {

struct SplitHooks {
    /// Called on each shard's writer after its split keys are set (shard index, count).
    std::function<void(io::GgufWriter&, uint32_t, uint32_t)> keys;
    /// Extra tensors (input tensor indices) appended to a shard: a duplicate across shards.
    std::function<std::vector<size_t>(uint32_t)> extraTensors;
};

/// Split `input` into shards of at most `maxTensors` tensors named after `prefix`; returns their
/// paths in shard order (empty on failure, with a test failure recorded).
inline std::vector<std::string> splitLikeGgufSplit(const std::string& input,
                                                   const std::string& prefix, size_t maxTensors,
                                                   const SplitHooks& hooks = {}) {
    auto file = io::MappedFile::open(input);
    EXPECT_TRUE(file.ok()) << input;
    if (!file) return {};
    auto gguf = io::parseGguf(file->bytes(), input);
    EXPECT_TRUE(gguf.ok()) << gguf.error().what();
    if (!gguf) return {};
    const size_t n = gguf->tensors.size();
    const uint32_t count = uint32_t((n + maxTensors - 1) / maxTensors);
    std::vector<std::string> paths;
    for (uint32_t s = 0; s < count; ++s) {
        io::GgufWriter w;
        if (s == 0) {
            for (const auto& kv : gguf->kvs) EXPECT_TRUE(w.setKv(kv.key, kv.value).ok());
        }
        EXPECT_TRUE(w.setKv("split.no", io::GgufValue::u16(uint16_t(s))).ok());
        EXPECT_TRUE(w.setKv("split.count", io::GgufValue::u16(uint16_t(count))).ok());
        EXPECT_TRUE(w.setKv("split.tensors.count", io::GgufValue::i32(int32_t(n))).ok());
        if (hooks.keys) hooks.keys(w, s, count);
        std::vector<size_t> mine;
        for (size_t i = s * maxTensors; i < std::min(n, (s + 1) * maxTensors); ++i)
            mine.push_back(i);
        if (hooks.extraTensors) {
            for (size_t i : hooks.extraTensors(s)) mine.push_back(i);
        }
        for (size_t i : mine) {
            const auto& t = gguf->tensors[i];
            EXPECT_TRUE(w.addTensor(t.name, t.shape, formats::TensorType(t.typeId)).ok()) << t.name;
        }
        const std::string path = io::splitPath(prefix, s, count);
        EXPECT_TRUE(w.open(path).ok()) << path;
        for (size_t i : mine) {
            const auto& t = gguf->tensors[i];
            EXPECT_TRUE(
                w.writeTensorData(file->bytes().subspan(gguf->dataOffset + t.offset, t.nbytes))
                    .ok());
        }
        auto st = w.commit();
        EXPECT_TRUE(st.ok()) << (st ? "" : st.error().what());
        paths.push_back(path);
    }
    return paths;
}

}  // namespace qs::test
