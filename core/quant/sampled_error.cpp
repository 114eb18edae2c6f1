#include "quant/sampled_error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include "formats/decode.h"
#include "formats/encode_best.h"
#include "formats/encoders.h"
#include "parallel/parallel.h"
#include "stats/metrics.h"

namespace qs::quant {

using formats::TensorType;

namespace {

// Rows of the exact path are read in chunks of about this many values (as the engine does).
constexpr int64_t kChunkValues = int64_t(1) << 22;
// Rows drawn per stratum. Measured on stories260K and the synth tiny model with an imatrix
// (SampledError.DISABLED_CoverageOverSeeds, 6 seeds x 5 types): 2 rows in many strata cover best
// once the Satterthwaite t correction below is applied (94.8-97.9 % within 2 standard errors,
// against 91.2-96.1 % with 4 rows and 87.4-96.0 % with 8).
constexpr int64_t kRowsPerStratum = 2;

uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t nameHash(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// The 97.5 % quantile of Student's t at `df` (> 0, real) degrees of freedom: the Cornish-Fisher
// expansion in 1/df (Abramowitz & Stegun 26.7.5), within 1 % from 3 degrees up, 4 % at 2, and
// capped at the exact value at 1 (12.71).
double tQuantile975(double df) {
    const double z = 1.959963985, z2 = z * z;
    if (!(df > 1)) return 12.7062;
    const double g1 = (z2 + 1) * z / 4;
    const double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
    const double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
    const double g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160;
    const double v = 1 / df;
    return std::min(12.7062, z + v * (g1 + v * (g2 + v * (g3 + v * g4))));
}

// Per-row sums of one measured row.
struct RowSums {
    double err = 0, ref = 0;    // sum e^2, sum x^2
    double werr = 0, wref = 0;  // importance-weighted
};

// A stratum: rows [begin, end) of the tensor, within one expert; the sample holds `m` of them,
// at slots [first, first + m) of the sample.
struct Stratum {
    int64_t begin = 0, end = 0;
    int64_t expert = 0;
    size_t first = 0, m = 0;
};

// The ratio estimate and its standard error over a set of strata, for the pair (y, x) picked by
// `pick` from a row's sums.
struct RatioEstimate {
    double ratio = 0, stdError = 0;
};

template <typename Pick>
RatioEstimate ratioOf(const std::vector<Stratum>& strata, size_t s0, size_t s1,
                      const std::vector<RowSums>& rows, Pick pick) {
    double Y = 0, X = 0;
    for (size_t h = s0; h < s1; ++h) {
        const Stratum& st = strata[h];
        const double N = double(st.end - st.begin), m = double(st.m);
        for (size_t k = 0; k < st.m; ++k) {
            auto [y, x] = pick(rows[st.first + k]);
            Y += N / m * y;
            X += N / m * x;
        }
    }
    RatioEstimate out;
    if (!(X > 0)) return out;
    out.ratio = Y / X;
    // Linearization (delta method): var = sum_h N_h^2 (1 - m_h/N_h) s_h^2(d) / m_h / X^2 with
    // d = y - R x, finite population correction included.
    double var = 0, termSq = 0;
    for (size_t h = s0; h < s1; ++h) {
        const Stratum& st = strata[h];
        const double N = double(st.end - st.begin), m = double(st.m);
        if (st.m < 2) continue;
        double mean = 0;
        for (size_t k = 0; k < st.m; ++k) {
            auto [y, x] = pick(rows[st.first + k]);
            mean += (y - out.ratio * x) / m;
        }
        double s2 = 0;
        for (size_t k = 0; k < st.m; ++k) {
            auto [y, x] = pick(rows[st.first + k]);
            const double d = y - out.ratio * x - mean;
            s2 += d * d;
        }
        s2 /= (m - 1);
        const double term = N * N * (1 - m / N) * s2 / m;
        var += term;
        termSq += term * term / (m - 1);
    }
    // Satterthwaite's degrees of freedom of that variance estimate: near the number of sampled
    // rows less strata when the strata contribute alike, near 1 when one stratum's heavy row
    // dominates (heavy-tailed weights), which is when the estimate of the variance is itself
    // least sure.
    const double df = termSq > 0 ? var * var / termSq : 1e9;
    var /= X * X;
    // The stratified jackknife (each sampled row left out in turn, its stratum's other rows
    // weighted up): for the skewed per-row errors of heavy-tailed weights it is larger than the
    // linearization in small samples; the larger of the two is stated (conservative).
    double jk = 0;
    for (size_t h = s0; h < s1; ++h) {
        const Stratum& st = strata[h];
        const double N = double(st.end - st.begin), m = double(st.m);
        if (st.m < 2) continue;
        double yh = 0, xh = 0;
        for (size_t k = 0; k < st.m; ++k) {
            auto [y, x] = pick(rows[st.first + k]);
            yh += y;
            xh += x;
        }
        double mean = 0, sq = 0;
        for (size_t k = 0; k < st.m; ++k) {
            auto [y, x] = pick(rows[st.first + k]);
            const double Yk = Y - N / m * yh + N / (m - 1) * (yh - y);
            const double Xk = X - N / m * xh + N / (m - 1) * (xh - x);
            const double r = Xk > 0 ? Yk / Xk : out.ratio;
            mean += r;
            sq += r * r;
        }
        mean /= m;
        jk += (1 - m / N) * (m - 1) / m * std::max(0.0, sq - m * mean * mean);
    }
    // The stated standard error makes +-2 of it the Student-t 95 % interval at those degrees of
    // freedom: the variance estimate's own uncertainty widens it (x 1.02 at 200 degrees, x 1.12
    // at 10, x 2.2 at 2) instead of leaving heavy tails under-covered.
    out.stdError = std::sqrt(std::max({0.0, var, jk})) * tQuantile975(df) / kZ95;
    return out;
}

// madvise RANDOM over a tensor's pages in the map (a fault reads its own page only), or NORMAL
// again. A hint: harmless where it fails.
void adviseRandom(std::span<const uint8_t> bytes, bool on) {
    if (bytes.empty()) return;
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t start = reinterpret_cast<uintptr_t>(bytes.data()) / page * page;
    const uintptr_t end = reinterpret_cast<uintptr_t>(bytes.data()) + bytes.size();
    ::madvise(reinterpret_cast<void*>(start), end - start, on ? MADV_RANDOM : MADV_NORMAL);
}

// madvise WILLNEED over a byte range of the map: read it into the page cache in one call.
void prefetchRange(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t start = reinterpret_cast<uintptr_t>(bytes.data()) / page * page;
    const uintptr_t end = reinterpret_cast<uintptr_t>(bytes.data()) + bytes.size();
    ::madvise(reinterpret_cast<void*>(start), end - start, MADV_WILLNEED);
}

}  // namespace

Result<TensorErrorEstimate> estimateTensorError(const model::Model& model, size_t index,
                                                TensorType type,
                                                const ErrorEstimateOptions& options) {
    const auto& ts = model.tensors();
    if (index >= ts.size()) {
        return makeError(ErrorCode::BadUsage, "no tensor " + std::to_string(index), model.path());
    }
    const auto& t = ts[index];
    const ErrorSampling& sp = options.sampling;
    if (sp.sampleRows < 4) {
        return makeError(ErrorCode::BadUsage, "sampled error: sampleRows must be at least 4");
    }
    TensorErrorEstimate out;
    out.index = index;
    const int64_t rowLength = t.rowLength();
    const int64_t rows = t.rowCount();
    out.rowsTotal = uint64_t(rows);
    out.type = shapeFallback(type, rowLength);
    if (out.type == t.type) {
        out.copy = true;
        return out;
    }
    const auto& tt = formats::traits(out.type);
    const auto& st = formats::traits(t.type);
    if (!formats::canEncode(out.type) || !tt.decode || rowLength % tt.blockSize != 0) {
        return makeError(
            ErrorCode::BadUsage,
            "cannot write " + std::string(tt.name) + " for rows of " + std::to_string(rowLength),
            model.path(), t.offset, t.name);
    }
    if (!st.decode) {
        return makeError(ErrorCode::BadInput, "cannot decode source type " + std::string(st.name),
                         model.path(), t.offset, t.name);
    }

    // Importance: per column, or per column and expert (3-D expert tensors).
    const float* importance = nullptr;
    int64_t rowsPerSlice = std::max<int64_t>(1, rows);
    const int64_t experts = t.shape.size() == 3 ? std::max<int64_t>(1, t.shape[2]) : 1;
    const int64_t rowsPerExpert = experts > 1 ? t.shape[1] : rows;
    if (options.imatrix) {
        if (const auto* e = options.imatrix->find(t.name)) {
            if (int64_t(e->size()) == rowLength) {
                importance = e->data();
            } else if (experts > 1 && int64_t(e->size()) == rowLength * experts) {
                importance = e->data();
                rowsPerSlice = rowsPerExpert;
            } else {
                return makeError(ErrorCode::BadInput,
                                 "imatrix entry has " + std::to_string(e->size()) +
                                     " values for rows of " + std::to_string(rowLength),
                                 options.imatrix->path, kNoOffset, t.name);
            }
        }
    }
    if (!importance && formats::requiresImportance(out.type)) {
        return makeError(ErrorCode::BadUsage,
                         std::string(tt.name) + " needs an importance matrix (imatrix)",
                         model.path(), t.offset, t.name);
    }

    // Rows per stratum: kRowsPerStratum, fewer (down to 2) where the experts of a 3-D tensor
    // would otherwise get no stratum of their own.
    const int64_t perStratum = std::clamp<int64_t>(sp.sampleRows / experts, 2, kRowsPerStratum);
    const bool all = sp.exact || uint64_t(t.nElements) <= sp.exactBelowValues ||
                     rows <= sp.sampleRows * 2 || rowsPerExpert < 2 * perStratum;
    out.sampled = !all;

    // The strata: equal contiguous runs of rows, within one expert each; `perStratum` distinct
    // rows drawn uniformly in each (Floyd's algorithm, seeded by (seed, tensor name, stratum)).
    std::vector<Stratum> strata;
    std::vector<int64_t> sample;  // row of each sample slot, stratum by stratum, ascending
    if (!all) {
        const int64_t wanted = std::max<int64_t>(1, sp.sampleRows / perStratum);
        const int64_t perExpert = std::min<int64_t>(
            std::max<int64_t>(1, (wanted + experts - 1) / experts), rowsPerExpert / perStratum);
        for (int64_t e = 0; e < experts; ++e) {
            const int64_t base = e * rowsPerExpert;
            for (int64_t h = 0; h < perExpert; ++h) {
                strata.push_back({base + h * rowsPerExpert / perExpert,
                                  base + (h + 1) * rowsPerExpert / perExpert, e, 0, 0});
            }
        }
        const uint64_t seed = splitmix(sp.seed ^ splitmix(nameHash(t.name)));
        sample.reserve(strata.size() * size_t(perStratum));
        std::vector<int64_t> picked;
        for (size_t h = 0; h < strata.size(); ++h) {
            Stratum& sr = strata[h];
            const int64_t n = sr.end - sr.begin;
            picked.clear();
            for (int64_t j = n - perStratum; j < n; ++j) {
                const uint64_t r = splitmix(seed + uint64_t(h) * 0x10001ull + uint64_t(j - n));
                const int64_t v = int64_t(r % uint64_t(j + 1));
                picked.push_back(std::find(picked.begin(), picked.end(), v) == picked.end() ? v
                                                                                            : j);
            }
            std::sort(picked.begin(), picked.end());
            sr.first = sample.size();
            sr.m = picked.size();
            for (int64_t v : picked) sample.push_back(sr.begin + v);
        }
    }

    const uint64_t srcRowBytes = *formats::byteSize(t.type, uint64_t(rowLength));
    const uint64_t dstRowBytes = *formats::byteSize(out.type, uint64_t(rowLength));
    std::mutex errMu;
    std::optional<Error> firstErr;
    int64_t firstErrRow = INT64_MAX;
    auto fail = [&](int64_t r, Error e) {
        std::lock_guard lock(errMu);
        if (r < firstErrRow) {
            firstErrRow = r;
            if (e.file.empty()) e.file = model.path();
            if (e.offset == kNoOffset && !t.isVirtual())
                e.offset = t.offset + uint64_t(r) * srcRowBytes;
            if (e.tensor.empty()) e.tensor = t.name;
            firstErr = std::move(e);
        }
    };
    // Measure rows [0, n) of `bytes` (rows firstRow, firstRow + 1, ... of the tensor, or the
    // sample rows when `rowOf` is given) into `sums`.
    auto measureRow = [&](int64_t r, std::span<const uint8_t> bytes, std::vector<float>& ref,
                          std::vector<float>& deq, std::vector<uint8_t>& q, RowSums& sums) {
        const float* imp = importance ? importance + (r / rowsPerSlice) * rowLength : nullptr;
        auto ds = formats::decodeRows(t.type, bytes, ref, rowLength, 1, t.name);
        if (!ds) return fail(r, ds.error());
        auto es =
            formats::encodeRowsWith(options.quantizer, out.type, ref, q, rowLength, imp, 1, t.name);
        if (!es) return fail(r, es.error());
        auto dd = formats::decodeRows(out.type, q, deq, rowLength, 1, t.name);
        if (!dd) return fail(r, dd.error());
        stats::ErrorSums s;
        s.addRow(ref.data(), deq.data(), rowLength, imp);
        sums = {s.sumSqErr, s.sumSqRef, s.wSumSqErr, s.wSumSqRef};
    };
    auto cancelled = [&] { return options.cancel && options.cancel->cancelled(); };

    if (all) {
        // Every row, streamed chunk by chunk; sums per expert in row order (deterministic).
        std::vector<RowSums> perExpertSums(static_cast<size_t>(experts));
        const int64_t chunk = std::max<int64_t>(1, kChunkValues / std::max<int64_t>(1, rowLength));
        std::vector<uint8_t> scratch;
        std::vector<RowSums> rowSums;
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            if (cancelled()) {
                return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, t.name);
            }
            const int64_t n = std::min(chunk, rows - r0);
            auto bytes = model.copyRows(t, r0, n, scratch);
            if (!bytes) return bytes.error();
            model.releaseRows(t, r0, n);
            rowSums.assign(size_t(n), {});
            parallel::parallelFor(options.threads, n, 4, [&](int64_t a, int64_t b) {
                std::vector<float> ref(static_cast<size_t>(rowLength)),
                    deq(static_cast<size_t>(rowLength));
                std::vector<uint8_t> q(dstRowBytes);
                for (int64_t i = a; i < b; ++i) {
                    measureRow(r0 + i, bytes->subspan(uint64_t(i) * srcRowBytes, srcRowBytes), ref,
                               deq, q, rowSums[size_t(i)]);
                }
            });
            if (firstErr) return *firstErr;
            for (int64_t i = 0; i < n; ++i) {
                RowSums& e = perExpertSums[size_t((r0 + i) / rowsPerExpert)];
                const RowSums& s = rowSums[size_t(i)];
                e.err += s.err;
                e.ref += s.ref;
                e.werr += s.werr;
                e.wref += s.wref;
            }
        }
        RowSums total;
        for (const auto& e : perExpertSums) {
            total.err += e.err;
            total.ref += e.ref;
            total.werr += e.werr;
            total.wref += e.wref;
        }
        out.rowsMeasured = uint64_t(rows);
        out.nmse = total.ref > 0 ? total.err / total.ref : 0;
        out.weightedNmse = importance ? (total.wref > 0 ? total.werr / total.wref : 0) : out.nmse;
        if (options.perExpert && experts > 1) {
            for (const auto& e : perExpertSums) {
                ExpertError x;
                x.nmse = e.ref > 0 ? e.err / e.ref : 0;
                x.weightedNmse = importance ? (e.wref > 0 ? e.werr / e.wref : 0) : x.nmse;
                x.rowsMeasured = uint64_t(rowsPerExpert);
                out.experts.push_back(x);
            }
        }
        return out;
    }

    // The sample: each row read on its own (guarded copy), without readahead (a few rows of a
    // large tensor: readahead would read, or over a sparse file's holes zero-fill, megabytes
    // around each), its pages released after.
    const std::span<const uint8_t> mapped =
        t.isVirtual() ? std::span<const uint8_t>{} : model.tensorData(t);
    adviseRandom(mapped, true);
    std::vector<RowSums> sums(sample.size());
    const int64_t nSample = int64_t(sample.size());
    parallel::parallelFor(options.threads, nSample, 4, [&](int64_t a, int64_t b) {
        std::vector<float> ref(static_cast<size_t>(rowLength)), deq(static_cast<size_t>(rowLength));
        std::vector<uint8_t> q(dstRowBytes), scratch;
        for (int64_t s = a; s < b; ++s) {
            if (cancelled()) return;
            const int64_t r = sample[size_t(s)];
            // The row's pages in one call (a fault per page is far slower on rows of 100 KB).
            if (!mapped.empty()) {
                prefetchRange(mapped.subspan(uint64_t(r) * srcRowBytes, srcRowBytes));
            }
            auto bytes = model.copyRows(t, r, 1, scratch);
            if (!bytes) return fail(r, bytes.error());
            measureRow(r, *bytes, ref, deq, q, sums[size_t(s)]);
        }
    });
    // Release the pages read: the tensor's whole range (cheap where nothing is resident).
    model.releaseTensor(t);
    adviseRandom(mapped, false);
    if (cancelled()) return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, t.name);
    if (firstErr) return *firstErr;
    out.rowsMeasured = uint64_t(nSample);
    auto plain = [](const RowSums& s) { return std::pair{s.err, s.ref}; };
    auto weighted = [](const RowSums& s) { return std::pair{s.werr, s.wref}; };
    const RatioEstimate p = ratioOf(strata, 0, strata.size(), sums, plain);
    out.nmse = p.ratio;
    out.nmseStdError = p.stdError;
    if (importance) {
        const RatioEstimate w = ratioOf(strata, 0, strata.size(), sums, weighted);
        out.weightedNmse = w.ratio;
        out.stdError = w.stdError;
    } else {
        out.weightedNmse = p.ratio;
        out.stdError = p.stdError;
    }
    if (options.perExpert && experts > 1) {
        size_t h0 = 0;
        for (int64_t e = 0; e < experts; ++e) {
            size_t h1 = h0;
            while (h1 < strata.size() && strata[h1].expert == e) ++h1;
            const RatioEstimate x = importance ? ratioOf(strata, h0, h1, sums, weighted)
                                               : ratioOf(strata, h0, h1, sums, plain);
            ExpertError ee;
            ee.weightedNmse = x.ratio;
            ee.stdError = x.stdError;
            ee.nmse = importance ? ratioOf(strata, h0, h1, sums, plain).ratio : x.ratio;
            ee.rowsMeasured = 0;
            for (size_t h = h0; h < h1; ++h) ee.rowsMeasured += strata[h].m;
            out.experts.push_back(ee);
            h0 = h1;
        }
    }
    return out;
}

// ---- cache -------------------------------------------------------------------------------

ErrorEstimateCache::Key ErrorEstimateCache::keyOf(size_t index, TensorType type,
                                                  const ErrorSampling& s, bool perExpert,
                                                  formats::Quantizer quantizer,
                                                  uint64_t imatrixKey) {
    if (s.exact) return {index, uint32_t(type), quantizer, true, 0, 0, 0, perExpert, imatrixKey};
    return {index,        uint32_t(type), quantizer, false,     s.exactBelowValues,
            s.sampleRows, s.seed,         perExpert, imatrixKey};
}

std::optional<TensorErrorEstimate> ErrorEstimateCache::find(size_t index, TensorType type,
                                                            const ErrorSampling& sampling,
                                                            bool perExpert,
                                                            formats::Quantizer quantizer,
                                                            uint64_t imatrixKey) const {
    std::lock_guard lock(m_mu);
    for (bool pe : {perExpert, true}) {
        ErrorSampling exact;
        exact.exact = true;
        if (auto it = m_map.find(keyOf(index, type, exact, pe, quantizer, imatrixKey));
            it != m_map.end()) {
            return it->second;
        }
        if (auto it = m_map.find(keyOf(index, type, sampling, pe, quantizer, imatrixKey));
            it != m_map.end()) {
            return it->second;
        }
        if (pe) break;
    }
    return std::nullopt;
}

void ErrorEstimateCache::insert(const TensorErrorEstimate& e, const ErrorSampling& sampling,
                                bool perExpert, formats::Quantizer quantizer, uint64_t imatrixKey) {
    std::lock_guard lock(m_mu);
    ErrorSampling s = sampling;
    if (!e.sampled) s.exact = true;  // measured on every row: answers any question
    m_map[keyOf(e.index, e.type, s, perExpert, quantizer, imatrixKey)] = e;
}

void ErrorEstimateCache::clear() {
    std::lock_guard lock(m_mu);
    m_map.clear();
}

size_t ErrorEstimateCache::size() const {
    std::lock_guard lock(m_mu);
    return m_map.size();
}

uint64_t imatrixKeyOf(const Imatrix* imatrix, const std::string& tensor) {
    if (!imatrix) return 0;
    const auto* e = imatrix->find(tensor);
    if (!e) return 0;
    uint64_t h = splitmix(e->size());
    for (float v : *e) {
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        h = splitmix(h ^ bits);
    }
    return h | 1;  // never 0 (0: no entry)
}

Result<TensorErrorEstimate> estimateTensorErrorCached(const model::Model& model, size_t index,
                                                      TensorType type,
                                                      const ErrorEstimateOptions& options,
                                                      ErrorEstimateCache* cache, bool* fromCache) {
    if (fromCache) *fromCache = false;
    if (index < model.tensors().size()) {
        const auto& t = model.tensors()[index];
        const TensorType written = shapeFallback(type, t.rowLength());
        const uint64_t imKey = cache ? imatrixKeyOf(options.imatrix, t.name) : 0;
        if (cache) {
            if (auto hit = cache->find(index, written, options.sampling, options.perExpert,
                                       options.quantizer, imKey)) {
                if (fromCache) *fromCache = true;
                return *hit;
            }
        }
        auto r = estimateTensorError(model, index, written, options);
        if (r && cache) {
            cache->insert(*r, options.sampling, options.perExpert, options.quantizer, imKey);
        }
        return r;
    }
    return estimateTensorError(model, index, type, options);
}

Result<std::vector<TensorErrorEstimate>> estimatePlanErrors(const model::Model& model,
                                                            const Plan& plan,
                                                            const ErrorEstimateOptions& options,
                                                            ErrorEstimateCache* cache,
                                                            const ProgressFn& progress) {
    const auto& ts = model.tensors();
    if (plan.tensors.size() != ts.size()) {
        return makeError(ErrorCode::BadUsage, "plan does not match the model", model.path());
    }
    ErrorEstimateOptions planOptions = options;
    planOptions.quantizer = plan.quantizer;
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        if (plan.tensors[i].type != ts[i].type) total += ts[i].nbytes;
    }
    std::vector<TensorErrorEstimate> out(ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        if (plan.tensors[i].type == t.type) {
            out[i].index = i;
            out[i].type = t.type;
            out[i].copy = true;
            out[i].rowsTotal = uint64_t(t.rowCount());
            continue;
        }
        if (progress && !progress(Progress{done, total, i, ts.size(), t.name})) {
            return makeError(ErrorCode::Cancelled, "cancelled", {}, kNoOffset, t.name);
        }
        auto r = estimateTensorErrorCached(model, i, plan.tensors[i].type, planOptions, cache);
        if (!r) return r.error();
        out[i] = std::move(*r);
        done += t.nbytes;
    }
    if (progress && !ts.empty()) progress(Progress{done, total, ts.size(), ts.size(), {}});
    return out;
}

PlanErrorTotals totalsOf(const model::Model& model, const std::vector<TensorErrorEstimate>& e) {
    PlanErrorTotals out;
    double sum = 0, var = 0;
    for (const auto& x : e) {
        if (x.copy || x.index >= model.tensors().size()) continue;
        const double p = double(model.tensors()[x.index].nElements);
        out.parameters += int64_t(p);
        sum += p * x.weightedNmse;
        var += p * p * x.stdError * x.stdError;
        if (x.sampled) ++out.sampledTensors;
        out.maxRelativeStdError = std::max(out.maxRelativeStdError, x.relativeStdError());
    }
    if (out.parameters > 0) {
        out.weightedNmse = sum / double(out.parameters);
        out.stdError = std::sqrt(var) / double(out.parameters);
    }
    return out;
}

}  // namespace qs::quant
