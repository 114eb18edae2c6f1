#include "io/gguf_split.h"

#include <cstdio>
#include <filesystem>
#include <string_view>
#include <unordered_map>

namespace qs::io {

namespace {

std::string shardLabel(uint32_t no, uint32_t count) {
    return "shard " + std::to_string(no + 1) + " of " + std::to_string(count);
}

std::string suffixFor(uint32_t no, uint32_t count) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "-%05u-of-%05u.gguf", no + 1, count);
    return buf;
}

bool fiveDigits(std::string_view s, uint32_t& out) {
    if (s.size() != 5) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + uint32_t(c - '0');
    }
    return true;
}

}  // namespace

std::string splitPath(std::string_view prefix, uint32_t no, uint32_t count) {
    return std::string(prefix) + suffixFor(no, count);
}

std::optional<std::string> splitPrefix(std::string_view path, uint32_t no, uint32_t count) {
    const std::string suffix = suffixFor(no, count);
    if (path.size() <= suffix.size() || !path.ends_with(suffix)) return std::nullopt;
    return std::string(path.substr(0, path.size() - suffix.size()));
}

Result<std::optional<SplitKeys>> readSplitKeys(const GgufFile& file, const std::string& fileName) {
    const GgufValue* count = file.find(kSplitCountKey);
    if (!count) return std::optional<SplitKeys>();
    auto integer = [&](const GgufValue& v, std::string_view key) -> Result<uint64_t> {
        const auto u = v.isInteger() ? v.asUInt() : std::nullopt;
        if (!u) {
            return makeError(ErrorCode::BadInput,
                             "metadata key " + std::string(key) +
                                 " must be a non-negative integer, not " +
                                 std::string(ggufTypeName(v.type())) + " " + v.toString(4),
                             fileName);
        }
        return *u;
    };
    SplitKeys k;
    auto c = integer(*count, kSplitCountKey);
    if (!c) return c.error();
    if (*c == 0 || *c > kMaxSplitCount) {
        return makeError(ErrorCode::BadInput,
                         "split.count is " + std::to_string(*c) + " (must be 1 to 65535)",
                         fileName);
    }
    k.count = uint32_t(*c);
    if (const GgufValue* no = file.find(kSplitNoKey)) {
        auto n = integer(*no, kSplitNoKey);
        if (!n) return n.error();
        if (*n >= k.count) {
            return makeError(ErrorCode::BadInput,
                             "split.no is " + std::to_string(*n) + " but split.count is " +
                                 std::to_string(k.count) + " (split.no counts from 0)",
                             fileName);
        }
        k.no = uint32_t(*n);
    } else if (k.count > 1) {
        return makeError(ErrorCode::BadInput,
                         "split.count is " + std::to_string(k.count) + " but split.no is missing",
                         fileName);
    }
    if (const GgufValue* tc = file.find(kSplitTensorsCountKey)) {
        auto t = integer(*tc, kSplitTensorsCountKey);
        if (!t) return t.error();
        if (*t > uint64_t(INT32_MAX)) {
            return makeError(ErrorCode::BadInput,
                             "split.tensors.count is " + std::to_string(*t) + " (more than 2^31-1)",
                             fileName);
        }
        k.tensorsCount = int64_t(*t);
    } else if (k.count > 1) {
        return makeError(
            ErrorCode::BadInput,
            "split.count is " + std::to_string(k.count) + " but split.tensors.count is missing",
            fileName);
    }
    return std::optional<SplitKeys>(k);
}

Status checkShardCatalogue(std::span<const GgufFile* const> shards,
                           std::span<const std::string> names) {
    const size_t n = shards.size();
    if (n == 0 || names.size() != n) {
        return makeError(ErrorCode::Internal, "checkShardCatalogue: no shards or names mismatch");
    }
    if (n > kMaxSplitCount) {
        return makeError(ErrorCode::BadInput, "more than 65535 shards", names[0]);
    }
    const uint32_t count = uint32_t(n);
    int64_t tensorsCount = -1;
    uint64_t total = 0;
    std::unordered_map<std::string_view, size_t> seen;
    for (size_t i = 0; i < n; ++i) {
        const std::string& name = names[i];
        auto keys = readSplitKeys(*shards[i], name);
        if (!keys) return keys.error();
        const std::string label = shardLabel(uint32_t(i), count);
        if (!*keys) {
            return makeError(ErrorCode::BadInput,
                             "expected " + label + " but the file has no split keys (split.count)",
                             name);
        }
        const SplitKeys& k = **keys;
        if (k.count != count) {
            return makeError(ErrorCode::BadInput,
                             "expected " + label + " but the file says split.count = " +
                                 std::to_string(k.count) + " (a shard of another split model?)",
                             name);
        }
        if (k.no != i) {
            return makeError(ErrorCode::BadInput,
                             "expected " + label + " but the file says split.no = " +
                                 std::to_string(k.no) + " (" + shardLabel(k.no, k.count) + ")",
                             name);
        }
        if (i == 0) {
            tensorsCount = k.tensorsCount;
        } else if (k.tensorsCount != tensorsCount) {
            return makeError(ErrorCode::BadInput,
                             label + " says split.tensors.count = " +
                                 std::to_string(k.tensorsCount) + " but shard 1 says " +
                                 std::to_string(tensorsCount) + " (a shard of another model?)",
                             name);
        }
        for (const auto& t : shards[i]->tensors) {
            auto [it, fresh] = seen.emplace(std::string_view(t.name), i);
            if (!fresh) {
                return makeError(ErrorCode::BadInput,
                                 "tensor also in shard " + std::to_string(it->second + 1) + " of " +
                                     std::to_string(count) + " (" + names[it->second] +
                                     "): duplicate tensor across shards",
                                 name, t.infoOffset, t.name);
            }
        }
        total += shards[i]->tensors.size();
    }
    if (tensorsCount >= 0 && total != uint64_t(tensorsCount)) {
        return makeError(ErrorCode::BadInput,
                         "the " + std::to_string(n) + " shards hold " + std::to_string(total) +
                             " tensors but split.tensors.count is " + std::to_string(tensorsCount),
                         names[0]);
    }
    return {};
}

Result<std::vector<std::string>> findShardPaths(const std::string& path, const SplitKeys& keys) {
    namespace fs = std::filesystem;
    const auto prefix = splitPrefix(path, keys.no, keys.count);
    if (!prefix) {
        return makeError(ErrorCode::BadInput,
                         "this file is " + shardLabel(keys.no, keys.count) +
                             " of a split model (split.no, split.count) but its name does not end "
                             "in '" +
                             suffixFor(keys.no, keys.count) +
                             "', so the other shards cannot be found (llama.cpp's naming)",
                         path);
    }
    std::vector<std::string> paths;
    paths.reserve(keys.count);
    std::error_code ec;
    for (uint32_t i = 0; i < keys.count; ++i) {
        std::string p = splitPath(*prefix, i, keys.count);
        if (!fs::is_regular_file(p, ec)) {
            return makeError(ErrorCode::BadInput,
                             "missing " + shardLabel(i, keys.count) + " of the split model " + path,
                             p);
        }
        paths.push_back(std::move(p));
    }
    // An extra shard of the same series (-00000-of-n or -0000k-of-n with k > n) means the set on
    // disk is not what the split keys say: refuse rather than guess.
    const fs::path pp(*prefix);
    const fs::path dir = pp.has_parent_path() ? pp.parent_path() : fs::path(".");
    const std::string stem = pp.filename().string() + "-";
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string f = it->path().filename().string();
        // stem + "00001-of-00003.gguf": 5 + 4 + 5 + 5 characters after the stem.
        if (f.size() != stem.size() + 19 || !f.starts_with(stem) || !f.ends_with(".gguf")) continue;
        const std::string_view rest = std::string_view(f).substr(stem.size());
        uint32_t k = 0, of = 0;
        if (!fiveDigits(rest.substr(0, 5), k) || rest.substr(5, 4) != "-of-" ||
            !fiveDigits(rest.substr(9, 5), of) || of != keys.count) {
            continue;
        }
        if (k == 0 || k > keys.count) {
            return makeError(ErrorCode::BadInput,
                             "extra shard beside the " + std::to_string(keys.count) +
                                 " shards of the split model " + path + " (split.count is " +
                                 std::to_string(keys.count) + ")",
                             it->path().string());
        }
    }
    return paths;
}

}  // namespace qs::io
