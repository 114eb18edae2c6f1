#pragma once
// Split GGUF models (llama.cpp's gguf-split layout). A model of n shards is n files named
// `PREFIX-00001-of-0000n.gguf` ... (1-based, five digits); every shard carries `split.no`
// (u16, 0-based), `split.count` (u16) and `split.tensors.count` (i32, tensors in the whole
// model); the first shard also holds all the model's metadata, the others only the split keys.
// Here: the naming, the split keys of one parsed header, and the catalogue check that turns n
// parsed shards into one model or an error naming the shard at fault. Pure functions of their
// inputs (the directory listing aside), so that the catalogue check can be fuzzed.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "io/gguf_reader.h"

namespace qs::io {

inline constexpr std::string_view kSplitNoKey = "split.no";
inline constexpr std::string_view kSplitCountKey = "split.count";
inline constexpr std::string_view kSplitTensorsCountKey = "split.tensors.count";
/// llama.cpp stores split.no and split.count as u16.
inline constexpr uint32_t kMaxSplitCount = 65535;

/// `PREFIX-%05d-of-%05d.gguf` for shard `no` (0-based) of `count`, as llama_split_path.
std::string splitPath(std::string_view prefix, uint32_t no, uint32_t count);
/// The prefix of a shard path when it ends in `-%05d-of-%05d.gguf` for (no, count), as
/// llama_split_prefix; nullopt otherwise.
std::optional<std::string> splitPrefix(std::string_view path, uint32_t no, uint32_t count);

/// The split keys of one header.
struct SplitKeys {
    uint32_t no = 0;  ///< 0-based
    uint32_t count = 1;
    int64_t tensorsCount = -1;  ///< -1 when split.tensors.count is absent
};

/// The split keys of a parsed header: nullopt when it has no `split.count` (a whole model),
/// an error when the keys are of the wrong type, out of range or inconsistent (no >= count,
/// count 0, split.no or split.tensors.count missing beside split.count > 1).
Result<std::optional<SplitKeys>> readSplitKeys(const GgufFile& file, const std::string& fileName);

/// Check that `shards` (parsed headers, in shard order; `names[i]` names shard i in messages)
/// are the whole of one split model: each carries split keys with split.no == i, the same
/// split.count (== shards.size()) and split.tensors.count; no tensor name appears twice across
/// shards; the tensors of all shards add up to split.tensors.count. The error names the shard
/// (file) and, for a duplicate, the tensor.
Status checkShardCatalogue(std::span<const GgufFile* const> shards,
                           std::span<const std::string> names);

/// The paths of every shard of the split model that `path` (shard `keys.no` of `keys.count`)
/// belongs to, in shard order. Errors: the name does not follow the naming (the other shards
/// cannot be found), a shard is missing (named), or an extra shard of the same series lies
/// beside them (`PREFIX-0000k-of-0000n.gguf` with k = 0 or k > n, named).
Result<std::vector<std::string>> findShardPaths(const std::string& path, const SplitKeys& keys);

}  // namespace qs::io
