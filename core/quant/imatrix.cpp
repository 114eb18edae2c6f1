#include "quant/imatrix.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "io/mapped_file.h"
#include "quant/imatrix_gguf.h"

namespace qs::quant {

const std::vector<float>* Imatrix::find(const std::string& tensor) const {
    auto it = entries.find(tensor);
    return it == entries.end() ? nullptr : &it->second;
}

namespace detail {

Result<std::optional<GgufImatrix>> readGgufImatrix(const std::string& path) {
    auto file = io::MappedFile::open(path);
    if (!file) return file.error();
    const auto bytes = file->bytes();
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "GGUF", 4) != 0)
        return std::optional<GgufImatrix>();
    auto parsed = io::parseGguf(bytes, path);
    if (!parsed) return parsed.error();
    const io::GgufFile& f = *parsed;
    GgufImatrix im;
    if (const auto* d = f.find("imatrix.datasets");
        d && d->isArray() && d->elemType() == io::GgufType::String) {
        im.datasets = d->strings();
    }
    if (const auto* v = f.find("imatrix.chunk_count"))
        im.chunkCount = uint32_t(v->asUInt().value_or(0));
    if (const auto* v = f.find("imatrix.chunk_size"))
        im.chunkSize = uint32_t(v->asUInt().value_or(0));

    struct Pair {
        const io::GgufTensorInfo* sums = nullptr;
        const io::GgufTensorInfo* counts = nullptr;
    };
    std::map<std::string, Pair> pairs;
    for (const auto& t : f.tensors) {
        if (t.name.ends_with(".in_sum2")) {
            pairs[t.name.substr(0, t.name.size() - 8)].sums = &t;
        } else if (t.name.ends_with(".counts")) {
            pairs[t.name.substr(0, t.name.size() - 7)].counts = &t;
        }
    }
    if (pairs.empty()) {
        return makeError(ErrorCode::BadInput, "GGUF file holds no imatrix entries (.in_sum2)",
                         path);
    }
    auto floatsOf = [&](const io::GgufTensorInfo& t) {
        std::vector<float> v(t.nElements);
        std::memcpy(v.data(), bytes.data() + f.dataOffset + t.offset, v.size() * 4);
        return v;
    };
    for (const auto& [name, p] : pairs) {
        if (!p.sums || !p.counts) {
            return makeError(ErrorCode::BadInput,
                             "imatrix entry has sums without counts or counts without sums", path,
                             kNoOffset, name);
        }
        if (p.sums->typeId != 0 || p.counts->typeId != 0) {
            return makeError(ErrorCode::BadInput, "imatrix sums and counts must be F32", path,
                             p.sums->infoOffset, name);
        }
        if (p.counts->nElements == 0 || p.sums->nElements % p.counts->nElements != 0) {
            return makeError(ErrorCode::BadInput,
                             std::to_string(p.sums->nElements) + " sums do not split into " +
                                 std::to_string(p.counts->nElements) + " matrices",
                             path, p.sums->infoOffset, name);
        }
        GgufImatrixEntry e;
        e.sums = floatsOf(*p.sums);
        e.counts = floatsOf(*p.counts);
        e.sumsAt = f.dataOffset + p.sums->offset;
        e.countsAt = f.dataOffset + p.counts->offset;
        e.infoOffset = p.sums->infoOffset;
        im.entries.emplace(name, std::move(e));
    }
    return std::optional<GgufImatrix>(std::move(im));
}

}  // namespace detail

namespace {

Result<Imatrix> importanceFromGguf(detail::GgufImatrix* read, const std::string& path) {
    Imatrix im;
    im.path = path;
    im.datasets = std::move(read->datasets);
    im.chunkCount = read->chunkCount;
    im.chunkSize = read->chunkSize;
    for (auto& [name, p] : read->entries) {
        const auto& sums = p.sums;
        const auto& counts = p.counts;
        const size_t ne0 = sums.size() / counts.size();
        std::vector<float> e(sums.size());
        for (size_t j = 0; j < counts.size(); ++j) {
            const float count = float(std::lround(counts[j]));
            for (size_t i = 0; i < ne0; ++i) {
                e[j * ne0 + i] = count > 0.0f ? sums[j * ne0 + i] / count : 1.0f;
            }
        }
        for (size_t i = 0; i < e.size(); ++i) {
            if (!std::isfinite(e[i])) {
                return makeError(ErrorCode::BadInput,
                                 "non-finite importance at column " + std::to_string(i), path,
                                 p.sumsAt + 4 * i, name);
            }
        }
        im.entries[name] = std::move(e);
    }
    return im;
}

Result<Imatrix> loadLegacyImatrix(std::span<const uint8_t> b, const std::string& path) {
    Imatrix im;
    im.path = path;
    im.legacy = true;
    uint64_t pos = 0;
    auto read32 = [&](int32_t& v, const char* what) -> Status {
        if (b.size() - pos < 4) {
            return makeError(ErrorCode::BadInput, std::string("truncated while reading ") + what,
                             path, pos);
        }
        std::memcpy(&v, b.data() + pos, 4);
        pos += 4;
        return {};
    };
    int32_t n = 0;
    QS_TRY(read32(n, "the entry count"));
    if (n < 1 || uint64_t(n) > b.size() / 12) {
        return makeError(
            ErrorCode::BadInput,
            "not an imatrix file (neither GGUF nor a legacy imatrix.dat: entry count " +
                std::to_string(n) + ")",
            path, 0);
    }
    for (int32_t i = 0; i < n; ++i) {
        const uint64_t at = pos;
        int32_t len = 0;
        QS_TRY(read32(len, "a name length"));
        if (len < 0 || uint64_t(len) > b.size() - pos) {
            return makeError(ErrorCode::BadInput,
                             "entry " + std::to_string(i) + ": bad name length", path, at);
        }
        std::string name(reinterpret_cast<const char*>(b.data() + pos), size_t(len));
        pos += uint64_t(len);
        int32_t ncall = 0, nval = 0;
        QS_TRY(read32(ncall, "a call count"));
        const uint64_t nvalAt = pos;
        QS_TRY(read32(nval, "a value count"));
        if (nval < 1 || uint64_t(nval) * 4 > b.size() - pos) {
            return makeError(ErrorCode::BadInput,
                             "bad value count " + std::to_string(nval) + " (file has " +
                                 std::to_string(b.size() - pos) + " bytes left)",
                             path, nvalAt, name);
        }
        std::vector<float> v(static_cast<size_t>(nval));
        std::memcpy(v.data(), b.data() + pos, size_t(nval) * 4);
        for (size_t k = 0; k < v.size(); ++k) {
            if (!std::isfinite(v[k])) {
                return makeError(ErrorCode::BadInput,
                                 "non-finite importance at column " + std::to_string(k), path,
                                 pos + 4 * k, name);
            }
            if (ncall > 0) v[k] /= float(ncall);
        }
        pos += uint64_t(nval) * 4;
        im.entries[name] = std::move(v);
    }
    // Optional trailer: chunk count and dataset name.
    int32_t chunks = 0, len = 0;
    if (b.size() - pos >= 4 && read32(chunks, "chunk count").ok()) {
        im.chunkCount = uint32_t(std::max(0, chunks));
        if (b.size() - pos >= 4 && read32(len, "dataset length").ok() && len > 0 &&
            uint64_t(len) <= b.size() - pos) {
            im.datasets.emplace_back(reinterpret_cast<const char*>(b.data() + pos), size_t(len));
        }
    }
    return im;
}

}  // namespace

Result<Imatrix> loadImatrix(const std::string& path) {
    auto gguf = detail::readGgufImatrix(path);
    if (!gguf) return gguf.error();
    if (*gguf) return importanceFromGguf(&**gguf, path);
    auto file = io::MappedFile::open(path);
    if (!file) return file.error();
    return loadLegacyImatrix(file->bytes(), path);
}

Status checkImatrixFor(const Imatrix& im, const model::Model& m) {
    size_t matched = 0;
    for (const auto& [name, values] : im.entries) {
        const auto idx = m.indexOf(name);
        if (idx < 0) continue;
        const auto& t = m.tensors()[size_t(idx)];
        const int64_t experts = t.shape.size() > 2 ? t.shape[2] : 1;
        if (int64_t(values.size()) != t.rowLength() &&
            int64_t(values.size()) != t.rowLength() * experts) {
            return makeError(ErrorCode::BadInput,
                             "imatrix has " + std::to_string(values.size()) +
                                 " values but the tensor's rows have " +
                                 std::to_string(t.rowLength()) +
                                 " columns: is this imatrix for another model?",
                             im.path, kNoOffset, name);
        }
        ++matched;
    }
    if (matched == 0) {
        return makeError(ErrorCode::BadInput,
                         "no imatrix entry names a tensor of " + m.path() +
                             ": this imatrix is for another model",
                         im.path);
    }
    return {};
}

Status saveImatrixGguf(const Imatrix& im, const std::string& path, float count) {
    io::GgufWriter w;
    QS_TRY(w.setKv("general.type", io::GgufValue::string("imatrix")));
    QS_TRY(w.setKv("imatrix.datasets", io::GgufValue::stringArray(im.datasets)));
    QS_TRY(w.setKv("imatrix.chunk_count", io::GgufValue::u32(im.chunkCount)));
    QS_TRY(w.setKv("imatrix.chunk_size", io::GgufValue::u32(im.chunkSize)));
    for (const auto& [name, v] : im.entries) {
        QS_TRY(w.addTensor(name + ".in_sum2", {int64_t(v.size()), 1}, formats::TensorType::F32));
        QS_TRY(w.addTensor(name + ".counts", {1, 1}, formats::TensorType::F32));
    }
    QS_TRY(w.open(path));
    for (const auto& [name, v] : im.entries) {
        std::vector<float> sums(v.size());
        for (size_t i = 0; i < v.size(); ++i) sums[i] = v[i] * count;
        QS_TRY(w.writeTensorData({reinterpret_cast<const uint8_t*>(sums.data()), sums.size() * 4}));
        QS_TRY(w.writeTensorData({reinterpret_cast<const uint8_t*>(&count), 4}));
    }
    return w.commit();
}

Status saveImatrixLegacy(const Imatrix& im, const std::string& path, int32_t ncall) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return makeError(ErrorCode::IoError, "cannot create file", path);
    auto put32 = [&](int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
    put32(int32_t(im.entries.size()));
    for (const auto& [name, v] : im.entries) {
        put32(int32_t(name.size()));
        out.write(name.data(), std::streamsize(name.size()));
        put32(ncall);
        put32(int32_t(v.size()));
        for (float x : v) {
            const float s = x * float(ncall);
            out.write(reinterpret_cast<const char*>(&s), 4);
        }
    }
    put32(int32_t(im.chunkCount));
    const std::string ds = im.datasets.empty() ? std::string() : im.datasets.front();
    put32(int32_t(ds.size()));
    out.write(ds.data(), std::streamsize(ds.size()));
    out.flush();
    if (!out) return makeError(ErrorCode::IoError, "write failed", path);
    return {};
}

}  // namespace qs::quant
