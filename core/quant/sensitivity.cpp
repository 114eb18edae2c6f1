#include "quant/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "formats/decode.h"
#include "formats/encoders.h"
#include "parallel/parallel.h"
#include "quant/plan.h"

namespace qs::quant {

using formats::TensorType;
namespace fs = std::filesystem;

namespace {

// Part of every cache key, with the program version: a release whose encoders or estimators
// change never reads an older release's numbers.
constexpr const char* kCacheVersion = "quantscope.sensitivity/1 " QS_VERSION;
// Rows are measured in chunks of about this many values, as the engine does.
constexpr int64_t kChunkValues = int64_t(4) << 20;

uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

std::string hex64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// Per-row sums of one candidate: enough for the ratio estimator and its standard error.
struct RowErr {
    double err = 0, ref = 0;    // sum e^2, sum x^2
    double werr = 0, wref = 0;  // importance-weighted
};

struct TensorJob {
    size_t index = 0;
    std::string key;              // full cache key text
    std::string cachePath;        // empty when the cache is off
    std::vector<size_t> missing;  // positions in table.types still to measure
};

// The cache file of one tensor: {"key": ..., "cells": {"Q4_K": {...}, ...}}.
void readCache(const std::string& path, const std::string& key,
               const std::vector<TensorType>& types, TensorSensitivity& ts,
               std::vector<size_t>& missing) {
    missing.clear();
    nlohmann::json j;
    {
        std::ifstream in(path, std::ios::binary);
        if (in) {
            std::stringstream ss;
            ss << in.rdbuf();
            j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
        }
    }
    const bool ok = j.is_object() && j.contains("key") && j["key"] == key && j.contains("cells") &&
                    j["cells"].is_object();
    for (size_t k = 0; k < types.size(); ++k) {
        bool found = false;
        if (ok) {
            const auto& cells = j["cells"];
            const std::string name(formats::typeName(types[k]));
            auto it = cells.find(name);
            if (it != cells.end() && it->is_object()) {
                const auto& c = *it;
                auto num = [&](const char* f) -> std::optional<double> {
                    auto v = c.find(f);
                    if (v == c.end() || !v->is_number()) return std::nullopt;
                    const double d = v->get<double>();
                    if (!std::isfinite(d) || d < 0) return std::nullopt;
                    return d;
                };
                auto type = c.contains("type") && c["type"].is_string()
                                ? formats::typeFromName(c["type"].get<std::string>())
                                : std::nullopt;
                auto valid = c.find("valid");
                auto bytes = num("bytes"), nmse = num("nmse"), wnmse = num("wnmse"), se = num("se"),
                     rows = num("rows");
                if (type && valid != c.end() && valid->is_boolean() && bytes && nmse && wnmse &&
                    se && rows) {
                    SensitivityCell& cell = ts.cells[k];
                    cell.requested = types[k];
                    cell.type = *type;
                    cell.valid = valid->get<bool>();
                    cell.bytes = uint64_t(*bytes);
                    cell.nmse = *nmse;
                    cell.weightedNmse = *wnmse;
                    cell.stdError = *se;
                    cell.rowsMeasured = uint64_t(*rows);
                    found = true;
                }
            }
        }
        if (!found) missing.push_back(k);
    }
}

void writeCache(const std::string& path, const std::string& key,
                const std::vector<TensorType>& types, const TensorSensitivity& ts) {
    // Merge with what is there (other candidate types measured earlier under the same key).
    nlohmann::json cells = nlohmann::json::object();
    {
        std::ifstream in(path, std::ios::binary);
        if (in) {
            std::stringstream ss;
            ss << in.rdbuf();
            auto j = nlohmann::json::parse(ss.str(), nullptr, false);
            if (j.is_object() && j.contains("key") && j["key"] == key && j.contains("cells") &&
                j["cells"].is_object()) {
                cells = j["cells"];
            }
        }
    }
    for (size_t k = 0; k < types.size(); ++k) {
        const auto& c = ts.cells[k];
        cells[std::string(formats::typeName(types[k]))] = {{"type", formats::typeName(c.type)},
                                                           {"valid", c.valid},
                                                           {"bytes", c.bytes},
                                                           {"nmse", c.nmse},
                                                           {"wnmse", c.weightedNmse},
                                                           {"se", c.stdError},
                                                           {"rows", c.rowsMeasured}};
    }
    nlohmann::json j = {{"key", key}, {"cells", cells}};
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    // A name of our own beside the target: two processes filling the cache never collide.
    const uint64_t salt = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                          uint64_t(reinterpret_cast<uintptr_t>(&ts));
    const std::string tmp = path + "." + hex64(splitmix(salt)) + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return;  // a cache we cannot write is no error
        out << j.dump();
        out.flush();
        if (!out) {
            std::remove(tmp.c_str());
            return;
        }
    }
    fs::rename(tmp, path, ec);
    if (ec) std::remove(tmp.c_str());
}

// Whether `c.type` can be written for tensor `t` (the export would accept it): encodable and
// decodable, a whole number of blocks per row, and importance where the type or llama.cpp
// needs it.
bool cellValid(const model::TensorInfo& t, TensorType type, const Imatrix* imatrix,
               bool importance) {
    const auto& tt = formats::traits(type);
    // A type ggml cannot encode without importance (IQ2_XXS, IQ2_XS, IQ1_S) is no option for a
    // tensor without importance, nor one llama.cpp refuses for a tensor its imatrix has no entry
    // for (the export would be refused).
    const bool needsEntry =
        formats::requiresImportance(type) || (imatrix && requiresImatrix(t, type, std::nullopt));
    return (type == t.type || (formats::canEncode(type) && tt.decode)) &&
           !(type != t.type && !importance && needsEntry) && t.rowLength() % tt.blockSize == 0;
}

// The cells of tensor `i` through the shared sampler and cache (SensitivityOptions::sharedCache).
Status measureShared(const model::Model& model, size_t i, const SensitivityOptions& options,
                     SensitivityTable& table, TensorSensitivity& out) {
    const auto& t = model.tensors()[i];
    ErrorEstimateOptions eo;
    eo.sampling = options.sharedSampling;
    eo.sampling.exact = eo.sampling.exact || options.exact;
    eo.imatrix = options.imatrix;
    eo.threads = options.threads;
    eo.cancel = options.cancel;
    const bool importance = options.imatrix && options.imatrix->find(t.name);
    out.cells.resize(table.types.size());
    bool allHits = true;
    uint64_t rowsRead = 0;
    for (size_t k = 0; k < table.types.size(); ++k) {
        SensitivityCell& c = out.cells[k];
        c = {};
        c.requested = table.types[k];
        c.type = shapeFallback(c.requested, t.rowLength());
        c.valid = cellValid(t, c.type, options.imatrix, importance);
        if (!c.valid) continue;
        c.bytes = c.type == t.type ? t.nbytes : *formats::byteSize(c.type, uint64_t(t.nElements));
        if (c.type == t.type) continue;  // lossless
        bool hit = false;
        auto e = estimateTensorErrorCached(model, i, c.type, eo, options.sharedCache, &hit);
        if (!e) return e.error();
        c.nmse = e->nmse;
        c.weightedNmse = e->weightedNmse;
        c.stdError = e->stdError;
        c.rowsMeasured = e->rowsMeasured;
        out.sampled = out.sampled || e->sampled;
        if (!hit) {
            allHits = false;
            rowsRead = std::max(rowsRead, e->rowsMeasured);
        }
    }
    out.fromCache = allHits;
    if (allHits) ++table.cacheHits;
    if (out.sampled) ++table.sampledTensors;
    table.rowsMeasured += rowsRead;
    return {};
}

}  // namespace

const SensitivityCell* SensitivityTable::cell(size_t index, TensorType requested) const {
    if (index >= tensors.size()) return nullptr;
    for (size_t k = 0; k < types.size(); ++k) {
        if (types[k] == requested) {
            return k < tensors[index].cells.size() ? &tensors[index].cells[k] : nullptr;
        }
    }
    return nullptr;
}

std::vector<TensorType> defaultCandidateTypes() {
    using T = TensorType;
    return {T::Q2_K, T::Q3_K, T::Q4_0, T::Q4_1, T::IQ4_NL, T::IQ4_XS, T::Q4_K,
            T::Q5_0, T::Q5_1, T::Q5_K, T::Q6_K, T::Q8_0,   T::F16};
}

std::string defaultCacheDir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
        return (fs::path(x) / "quantscope").string();
    }
    if (const char* h = std::getenv("HOME"); h && *h) {
        return (fs::path(h) / ".cache" / "quantscope").string();
    }
    std::error_code ec;
    return (fs::temp_directory_path(ec) / "quantscope").string();
}

uint64_t contentHash(const void* data, size_t size, uint64_t seed) {
    // Four independent lanes over 8-byte words (fast on large tensors), then the tail.
    const auto* p = static_cast<const uint8_t*>(data);
    uint64_t h[4] = {seed ^ 0x243f6a8885a308d3ull, seed ^ 0x13198a2e03707344ull,
                     seed ^ 0xa4093822299f31d0ull, seed ^ 0x082efa98ec4e6c89ull};
    constexpr uint64_t kMul = 0x9fb21c651e98df25ull;
    size_t i = 0;
    for (; i + 32 <= size; i += 32) {
        for (int l = 0; l < 4; ++l) {
            uint64_t w;
            std::memcpy(&w, p + i + size_t(l) * 8, 8);
            h[l] = (h[l] ^ w) * kMul;
            h[l] ^= h[l] >> 29;
        }
    }
    uint64_t tail = 0;
    for (size_t k = 0; i < size; ++i, ++k) tail ^= uint64_t(p[i]) << ((k % 8) * 8);
    uint64_t r = splitmix(size ^ tail);
    for (uint64_t v : h) r = splitmix(r ^ v);
    return r;
}

Result<SensitivityTable> measureSensitivity(const model::Model& model,
                                            const SensitivityOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    SensitivityTable table;
    table.types = options.types.empty() ? defaultCandidateTypes() : options.types;
    table.exact = options.exact;
    table.weighted = options.imatrix != nullptr;
    if (!options.exact && options.sampleRows < 2) {
        return makeError(ErrorCode::BadUsage, "sensitivity: sampleRows must be at least 2");
    }
    for (auto t : table.types) {
        if (uint32_t(t) >= 1000) {
            return makeError(ErrorCode::BadUsage,
                             "sensitivity: not a GGUF type: " + std::string(formats::typeName(t)));
        }
    }
    const auto& ts = model.tensors();
    table.tensors.resize(ts.size());
    const std::string cacheDir = options.cacheDir.empty() ? defaultCacheDir() : options.cacheDir;

    uint64_t totalBytes = 0, doneBytes = 0;
    for (const auto& t : ts) {
        if (allowsQuantization(t)) totalBytes += t.nbytes;
    }
    auto report = [&](size_t i) -> Status {
        if (options.cancel && options.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, ts[i].name);
        }
        if (options.progress) {
            Progress p{doneBytes, totalBytes, i, ts.size(), ts[i].name};
            if (!options.progress(p)) {
                return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, ts[i].name);
            }
        }
        return {};
    };

    for (size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        TensorSensitivity& out = table.tensors[i];
        out.index = i;
        out.quantizable = allowsQuantization(t);
        if (!out.quantizable) continue;
        QS_TRY(report(i));
        const bool large = options.sampleLarge && !options.exact &&
                           uint64_t(t.nElements) > options.sharedSampling.exactBelowValues;
        if (options.sharedCache || large) {
            QS_TRY(measureShared(model, i, options, table, out));
            doneBytes += t.nbytes;
            continue;
        }
        const uint64_t tensorStart = doneBytes;
        out.cells.resize(table.types.size());
        const int64_t rowLength = t.rowLength();
        const int64_t rows = t.rowCount();
        // A view for a plain tensor; a converted (virtual) tensor is made whole, one at a time.
        std::vector<uint8_t> scratch;
        auto srcBytes = model.readTensor(t, scratch);
        if (!srcBytes) return srcBytes.error();
        const std::span<const uint8_t> src = *srcBytes;
        const auto& srcTraits = formats::traits(t.type);
        if (!srcTraits.decode) {
            return makeError(ErrorCode::BadInput,
                             "cannot decode source type " + std::string(srcTraits.name),
                             model.path(), t.offset, t.name);
        }

        // Importance: per column, or per column and expert (3-D expert tensors).
        const float* importance = nullptr;
        int64_t rowsPerSlice = std::max<int64_t>(1, rows);
        uint64_t imHash = 0;
        if (options.imatrix) {
            if (const auto* e = options.imatrix->find(t.name)) {
                const int64_t slices =
                    t.shape.size() > 2 ? rows / std::max<int64_t>(1, t.shape[1]) : 1;
                if (int64_t(e->size()) == rowLength) {
                    importance = e->data();
                } else if (slices > 1 && int64_t(e->size()) == rowLength * slices) {
                    importance = e->data();
                    rowsPerSlice = t.shape[1];
                } else {
                    return makeError(ErrorCode::BadInput,
                                     "imatrix entry has " + std::to_string(e->size()) +
                                         " values for rows of " + std::to_string(rowLength),
                                     options.imatrix->path, kNoOffset, t.name);
                }
                imHash = contentHash(e->data(), e->size() * sizeof(float), 7);
            }
        }

        // Which rows: all, or `sampleRows` drawn with probability proportional to their
        // (weighted) energy, systematically (see below, once we know rows are needed).
        const uint64_t content = contentHash(src.data(), src.size());
        std::vector<int64_t> sample;
        const bool all = options.exact || rows <= options.sampleRows;
        if (!all) sample.resize(size_t(options.sampleRows));
        const int64_t nRows = all ? rows : int64_t(sample.size());

        TensorJob job;
        job.index = i;
        {
            std::ostringstream key;
            key << kCacheVersion << " src=" << srcTraits.name << " shape=" << t.shapeString()
                << " content=" << hex64(content) << " imatrix=" << hex64(imHash)
                << " mode=" << (all ? std::string("all") : "pps" + std::to_string(nRows))
                << " seed=" << (all ? 0 : options.seed);
            job.key = key.str();
        }
        if (options.useCache) {
            job.cachePath = (fs::path(cacheDir) / "sensitivity" /
                             (hex64(contentHash(job.key.data(), job.key.size())) + ".json"))
                                .string();
            readCache(job.cachePath, job.key, table.types, out, job.missing);
        } else {
            for (size_t k = 0; k < table.types.size(); ++k) job.missing.push_back(k);
        }
        // Types validated for this tensor; same-type and impossible cells need no rows.
        std::vector<size_t> measure;
        for (size_t k : job.missing) {
            SensitivityCell& c = out.cells[k];
            c = {};
            c.requested = table.types[k];
            c.type = shapeFallback(c.requested, rowLength);
            c.valid = cellValid(t, c.type, options.imatrix, importance != nullptr);
            if (!c.valid) continue;
            c.bytes =
                c.type == t.type ? t.nbytes : *formats::byteSize(c.type, uint64_t(t.nElements));
            c.rowsMeasured = uint64_t(nRows);
            if (c.type != t.type) measure.push_back(k);
        }
        out.fromCache = options.useCache && job.missing.empty();
        if (out.fromCache) ++table.cacheHits;

        const uint64_t srcRowBytes = *formats::byteSize(t.type, uint64_t(rowLength));
        // Sampled mode: probability proportional to size (PPS) on an error proxy. Quantization
        // error behaves like noise of a variance set by each block's scale, whatever the value
        // it lands on, so a row's (weighted) error is close to c * sum_j w_j max|x_block(j)|^2
        // for some constant c of the type. Rows drawn in proportion to that proxy make the
        // ratio error / proxy nearly constant across the sample: a precise estimate and a
        // well-calibrated standard error, also when a few heavily weighted columns (outlier
        // channels) or rows of very different scale dominate the error.
        std::vector<double> mass;                               // per row: the error proxy
        double massTotal = 0, energyTotal = 0, plainTotal = 0;  // sums of proxy, w x^2, x^2
        if (!measure.empty() && !all) {
            mass.resize(size_t(rows));
            std::vector<double> energy(static_cast<size_t>(rows));
            std::vector<double> plain(static_cast<size_t>(rows));
            std::mutex errMu;
            std::optional<Error> firstErr;
            parallel::parallelFor(options.threads, rows, 64, [&](int64_t a, int64_t b) {
                std::vector<float> ref(static_cast<size_t>(rowLength));
                for (int64_t r = a; r < b; ++r) {
                    auto st = formats::decodeRows(
                        t.type, src.subspan(uint64_t(r) * srcRowBytes, srcRowBytes), ref, rowLength,
                        1, t.name);
                    if (!st) {
                        std::lock_guard lock(errMu);
                        if (!firstErr) firstErr = st.error();
                        return;
                    }
                    const float* imp =
                        importance ? importance + (r / rowsPerSlice) * rowLength : nullptr;
                    double x2 = 0, wx2 = 0, proxy = 0;
                    constexpr int64_t kBlock = 32;
                    for (int64_t j0 = 0; j0 < rowLength; j0 += kBlock) {
                        double bmax = 0, bw = 0;
                        for (int64_t j = j0; j < std::min(rowLength, j0 + kBlock); ++j) {
                            const double x = ref[size_t(j)];
                            const double w = imp ? double(imp[j]) : 1.0;
                            bmax = std::max(bmax, std::fabs(x));
                            bw += w;
                            x2 += x * x;
                            wx2 += w * x * x;
                        }
                        proxy += bw * bmax * bmax;
                    }
                    plain[size_t(r)] = x2;
                    energy[size_t(r)] = wx2;
                    mass[size_t(r)] = proxy;
                }
            });
            if (firstErr) {
                firstErr->file = model.path();
                return *firstErr;
            }
            for (int64_t r = 0; r < rows; ++r) {
                massTotal += mass[size_t(r)];
                energyTotal += energy[size_t(r)];
                plainTotal += plain[size_t(r)];
            }
            // Systematic PPS: one random start, then equal steps of cumulative energy.
            const double n = double(sample.size());
            const double u0 = double(splitmix(options.seed ^ splitmix(content)) >> 11) * 0x1.0p-53;
            double cum = 0;
            int64_t r = 0;
            for (size_t k = 0; k < sample.size(); ++k) {
                const double target = (u0 + double(k)) / n * massTotal;
                while (r + 1 < rows && cum + mass[size_t(r)] <= target) cum += mass[size_t(r++)];
                sample[k] = r;
            }
        }
        if (!measure.empty()) {
            const size_t nt = measure.size();
            std::vector<RowErr> perRow(size_t(nRows) * nt);
            const int64_t chunk =
                std::max<int64_t>(1, kChunkValues / std::max<int64_t>(1, rowLength * int64_t(nt)));
            std::mutex errMu;
            std::optional<Error> firstErr;
            int64_t firstErrRow = INT64_MAX;
            for (int64_t c0 = 0; c0 < nRows; c0 += chunk) {
                const int64_t c1 = std::min(nRows, c0 + chunk);
                parallel::parallelFor(options.threads, c1 - c0, 2, [&](int64_t a, int64_t b) {
                    std::vector<float> ref(static_cast<size_t>(rowLength));
                    std::vector<float> deq(static_cast<size_t>(rowLength));
                    std::vector<uint8_t> q;
                    for (int64_t s = c0 + a; s < c0 + b; ++s) {
                        const int64_t r = all ? s : sample[size_t(s)];
                        const float* imp =
                            importance ? importance + (r / rowsPerSlice) * rowLength : nullptr;
                        auto fail = [&](Error e) {
                            std::lock_guard lock(errMu);
                            if (r < firstErrRow) {
                                firstErrRow = r;
                                firstErr = std::move(e);
                            }
                        };
                        auto st = formats::decodeRows(
                            t.type, src.subspan(uint64_t(r) * srcRowBytes, srcRowBytes), ref,
                            rowLength, 1, t.name);
                        if (!st) {
                            fail(st.error());
                            return;
                        }
                        for (size_t m = 0; m < nt; ++m) {
                            const TensorType type = out.cells[measure[m]].type;
                            q.resize(size_t(*formats::byteSize(type, uint64_t(rowLength))));
                            auto es = formats::encodeRows(type, ref, q, rowLength, imp, 1, t.name);
                            if (!es) {
                                fail(es.error());
                                return;
                            }
                            auto ds = formats::decodeRows(type, q, deq, rowLength, 1, t.name);
                            if (!ds) {
                                fail(ds.error());
                                return;
                            }
                            stats::ErrorSums sums;
                            sums.addRow(ref.data(), deq.data(), rowLength, imp);
                            RowErr& e = perRow[size_t(s) * nt + m];
                            e.err = sums.sumSqErr;
                            e.ref = sums.sumSqRef;
                            e.werr = sums.wSumSqErr;
                            e.wref = sums.wSumSqRef;
                        }
                    }
                });
                if (firstErr) {
                    firstErr->file = model.path();
                    return *firstErr;
                }
                if (all) doneBytes += uint64_t(c1 - c0) * srcRowBytes;
                QS_TRY(report(i));
            }
            table.rowsMeasured += uint64_t(nRows);
            // Estimators in sample order (deterministic), and their standard errors.
            for (size_t m = 0; m < nt; ++m) {
                SensitivityCell& c = out.cells[measure[m]];
                if (all) {  // exact ratio sum e / sum x
                    double se = 0, sx = 0, swe = 0, swx = 0;
                    for (int64_t s = 0; s < nRows; ++s) {
                        const RowErr& e = perRow[size_t(s) * nt + m];
                        se += e.err;
                        sx += e.ref;
                        swe += e.werr;
                        swx += e.wref;
                    }
                    c.nmse = sx > 0 ? se / sx : 0;
                    c.weightedNmse = importance ? (swx > 0 ? swe / swx : 0) : c.nmse;
                    continue;
                }
                // PPS: massTotal * mean(e_r / proxy_r) estimates sum e (plain and weighted);
                // divided by the exact energies sum w x^2 and sum x^2.
                double sumRel = 0, sumRelSq = 0, sumPlain = 0;
                for (int64_t s = 0; s < nRows; ++s) {
                    const RowErr& e = perRow[size_t(s) * nt + m];
                    const double mr = mass[size_t(sample[size_t(s)])];
                    const double rel = mr > 0 ? e.werr / mr : 0;
                    sumRel += rel;
                    sumRelSq += rel * rel;
                    sumPlain += mr > 0 ? e.err / mr : 0;
                }
                const double n = double(nRows);
                const double mean = sumRel / n;
                const double scale = energyTotal > 0 ? massTotal / energyTotal : 0;
                c.weightedNmse = mean * scale;
                c.nmse = plainTotal > 0 ? sumPlain / n * massTotal / plainTotal : 0;
                if (!importance) c.nmse = c.weightedNmse;
                const double var = std::max(0.0, (sumRelSq - n * mean * mean) / (n - 1));
                c.stdError = std::sqrt(var / n) * scale;
            }
        }
        doneBytes = tensorStart + t.nbytes;
        model.releaseTensor(t);  // resident memory stays near one tensor, not the model
        if (options.useCache && !job.missing.empty()) {
            writeCache(job.cachePath, job.key, table.types, out);
        }
    }
    if (!ts.empty()) QS_TRY(report(ts.size() - 1));
    table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return table;
}

}  // namespace qs::quant
