#pragma once
// The shard-catalogue harness shared by fuzz_gguf_split and the FuzzRegression replay: the input
// is the concatenation of the shard files of one split model; it is cut before every "GGUF"
// magic, each piece is parsed as a shard (all must parse) and the pieces go through
// checkShardCatalogue as shards 0..n-1. Returns Broken when an invariant breaks: an error
// without a message or naming no shard, or an accepted catalogue whose tensors do not add up to
// split.tensors.count or repeat a name.
#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "io/gguf_reader.h"
#include "io/gguf_split.h"

namespace qs::fuzz {

enum class Outcome { Broken, Refused, Accepted };

inline Outcome checkShardCatalogueInput(std::span<const uint8_t> data) {
    using enum Outcome;
    std::vector<size_t> starts;
    for (size_t i = 0; i + 4 <= data.size() && starts.size() < 64; ++i) {
        if (data[i] == 'G' && data[i + 1] == 'G' && data[i + 2] == 'U' && data[i + 3] == 'F') {
            starts.push_back(i);
        }
    }
    if (starts.empty()) return Refused;
    std::vector<io::GgufFile> shards;
    std::vector<std::string> names;
    for (size_t k = 0; k < starts.size(); ++k) {
        const size_t end = k + 1 < starts.size() ? starts[k + 1] : data.size();
        names.push_back("m-" + std::to_string(k + 1) + ".gguf");
        auto g = io::parseGguf(data.subspan(starts[k], end - starts[k]), names.back());
        if (!g) return g.error().message.empty() ? Broken : Refused;
        // The split keys of any parsed header: a value or a clean error.
        if (auto keys = io::readSplitKeys(*g, names.back());
            !keys && keys.error().message.empty()) {
            return Broken;
        }
        shards.push_back(std::move(*g));
    }
    std::vector<const io::GgufFile*> views;
    for (const auto& s : shards) views.push_back(&s);
    auto st = io::checkShardCatalogue(views, names);
    if (!st) {
        if (st.error().message.empty()) return Broken;
        for (const auto& n : names) {
            if (st.error().file == n) return Refused;
        }
        return Broken;  // every refusal names the shard at fault
    }
    auto first = io::readSplitKeys(shards[0], names[0]);
    if (!first || !*first) return Broken;
    size_t total = 0;
    std::unordered_set<std::string> seen;
    for (const auto& s : shards) {
        for (const auto& t : s.tensors) {
            if (!seen.insert(t.name).second) return Broken;
        }
        total += s.tensors.size();
    }
    if ((*first)->count != shards.size()) return Broken;
    if ((*first)->tensorsCount >= 0 && total != size_t((*first)->tensorsCount)) return Broken;
    // The naming round-trips for the accepted shape of the set.
    const std::string p = io::splitPath("x/m", (*first)->no, (*first)->count);
    const auto prefix = io::splitPrefix(p, (*first)->no, (*first)->count);
    return prefix && *prefix == "x/m" ? Accepted : Broken;
}

}  // namespace qs::fuzz
