#include "quant/imatrix_sums.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <regex>
#include <tuple>

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "io/mapped_file.h"
#include "quant/imatrix_gguf.h"

namespace qs::quant {

namespace {

Result<ImatrixSums> sumsFromGguf(detail::GgufImatrix* read, const std::string& path) {
    ImatrixSums im;
    im.datasets = std::move(read->datasets);
    im.chunkCount = read->chunkCount;
    im.chunkSize = read->chunkSize;
    for (const auto& [name, p] : read->entries) {
        ImatrixSums::Entry e;
        for (const auto& [in, out, at, isCount] :
             {std::tuple{&p.sums, &e.sums, p.sumsAt, false},
              std::tuple{&p.counts, &e.counts, p.countsAt, true}}) {
            out->resize(in->size());
            for (size_t i = 0; i < in->size(); ++i) {
                const float v = (*in)[i];
                if (!std::isfinite(v) || (isCount && v < 0)) {
                    return makeError(ErrorCode::BadInput,
                                     std::string(isCount ? "bad count" : "non-finite sum") +
                                         " at index " + std::to_string(i),
                                     path, at + 4 * i, name);
                }
                (*out)[i] = double(v);
            }
        }
        im.entries[name] = std::move(e);
    }
    return im;
}

}  // namespace

Result<ImatrixSums> loadImatrixSums(const std::string& path) {
    auto gguf = detail::readGgufImatrix(path);
    if (!gguf) return gguf.error();
    if (*gguf) return sumsFromGguf(&**gguf, path);
    // Legacy: the stored values are (sum / count) x ncall; keep them with ncall as the count.
    auto legacy = loadImatrix(path);
    if (!legacy) return legacy.error();
    ImatrixSums im;
    im.datasets = legacy->datasets;
    im.chunkCount = legacy->chunkCount;
    im.chunkSize = legacy->chunkSize;
    const double ncall = std::max<double>(1.0, legacy->chunkCount);
    for (const auto& [name, v] : legacy->entries) {
        auto& e = im.entries[name];
        e.sums.resize(v.size());
        for (size_t i = 0; i < v.size(); ++i) e.sums[i] = double(v[i]) * ncall;
        e.counts = {ncall};
    }
    return im;
}

Status saveImatrixSums(const ImatrixSums& im, const std::string& path) {
    io::GgufWriter w;
    QS_TRY(w.setKv("general.type", io::GgufValue::string("imatrix")));
    QS_TRY(w.setKv("imatrix.datasets", io::GgufValue::stringArray(im.datasets)));
    QS_TRY(w.setKv("imatrix.chunk_count", io::GgufValue::u32(im.chunkCount)));
    QS_TRY(w.setKv("imatrix.chunk_size", io::GgufValue::u32(im.chunkSize)));
    for (const auto& [name, e] : im.entries) {
        if (e.counts.empty() || e.sums.empty() || e.sums.size() % e.counts.size() != 0) {
            return makeError(ErrorCode::BadUsage,
                             "imatrix entry has " + std::to_string(e.sums.size()) + " sums for " +
                                 std::to_string(e.counts.size()) + " counts",
                             path, kNoOffset, name);
        }
        const int64_t nmat = int64_t(e.counts.size());
        QS_TRY(w.addTensor(name + ".in_sum2", {e.columns(), nmat}, formats::TensorType::F32));
        QS_TRY(w.addTensor(name + ".counts", {1, nmat}, formats::TensorType::F32));
    }
    QS_TRY(w.open(path));
    std::vector<float> buf;
    auto put = [&](const std::vector<double>& v) {
        buf.assign(v.begin(), v.end());
        return w.writeTensorData({reinterpret_cast<const uint8_t*>(buf.data()), buf.size() * 4});
    };
    for (const auto& [name, e] : im.entries) {
        QS_TRY(put(e.sums));
        QS_TRY(put(e.counts));
    }
    return w.commit();
}

Status mergeImatrixSums(ImatrixSums& a, const ImatrixSums& b) {
    // Check everything first: a failed merge leaves `a` as it was.
    for (const auto& [name, eb] : b.entries) {
        auto it = a.entries.find(name);
        if (it == a.entries.end()) continue;
        const auto& ea = it->second;
        if (ea.sums.size() != eb.sums.size() || (ea.counts.size() != eb.counts.size() &&
                                                 ea.counts.size() != 1 && eb.counts.size() != 1)) {
            return makeError(ErrorCode::BadInput,
                             "cannot merge: " + std::to_string(ea.sums.size()) + " sums in " +
                                 std::to_string(ea.counts.size()) + " matrices against " +
                                 std::to_string(eb.sums.size()) + " in " +
                                 std::to_string(eb.counts.size()),
                             std::string(), kNoOffset, name);
        }
    }
    for (const auto& [name, eb] : b.entries) {
        auto [it, fresh] = a.entries.try_emplace(name, eb);
        if (fresh) continue;
        auto& ea = it->second;
        if (ea.counts.size() == 1 && eb.counts.size() > 1)
            ea.counts.resize(eb.counts.size(), ea.counts[0]);
        for (size_t i = 0; i < ea.sums.size(); ++i) ea.sums[i] += eb.sums[i];
        for (size_t j = 0; j < ea.counts.size(); ++j) {
            ea.counts[j] += eb.counts[eb.counts.size() == 1 ? 0 : j];
        }
    }
    a.datasets.insert(a.datasets.end(), b.datasets.begin(), b.datasets.end());
    a.chunkCount += b.chunkCount;
    if (a.chunkSize == 0) a.chunkSize = b.chunkSize;
    return {};
}

Imatrix importanceOf(const ImatrixSums& im, std::vector<std::string>* warnings) {
    Imatrix out;
    out.datasets = im.datasets;
    out.chunkCount = im.chunkCount;
    out.chunkSize = im.chunkSize;
    for (const auto& [name, e] : im.entries) {
        const size_t nmat = e.counts.size();
        if (nmat == 0) continue;
        const size_t cols = e.sums.size() / nmat;
        std::vector<float> v(e.sums.size());
        std::string unrouted;
        size_t nUnrouted = 0;
        for (size_t j = 0; j < nmat; ++j) {
            const double c = e.counts[j];
            if (c <= 0) {
                if (nUnrouted++ < 8) unrouted += (unrouted.empty() ? "" : ", ") + std::to_string(j);
            }
            for (size_t i = 0; i < cols; ++i) {
                // As llama-quantize: the float sum divided by the float count.
                v[j * cols + i] = c > 0 ? float(e.sums[j * cols + i]) / float(c) : 1.0f;
            }
        }
        if (nUnrouted > 0 && warnings) {
            warnings->push_back(name + ": " + std::to_string(nUnrouted) + " of " +
                                std::to_string(nmat) +
                                (nmat > 1 ? " experts never routed to (" + unrouted +
                                                (nUnrouted > 8 ? ", ..." : "") + ")"
                                          : " matrix never reached") +
                                "; their importance is 1");
        }
        out.entries[name] = std::move(v);
    }
    return out;
}

namespace {

// llama-imatrix's split of a name: the number after "blk", the part before "weight".
void splitName(const std::string& full, std::string& layer, std::string& tensor) {
    std::vector<std::string> parts;
    size_t s = 0;
    while (s <= full.size()) {
        const size_t d = full.find('.', s);
        parts.push_back(full.substr(s, d == std::string::npos ? std::string::npos : d - s));
        if (d == std::string::npos) break;
        s = d + 1;
    }
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        if (parts[i] == "blk") {
            layer = parts[i + 1];
            break;
        }
    }
    for (size_t i = 1; i < parts.size(); ++i) {
        if (parts[i] == "weight") {
            tensor = parts[i - 1];
            break;
        }
    }
    if (tensor.empty()) tensor = full;
    if (layer.empty()) layer = "-";
}

// A block number, or -1 when `s` is not one (not all digits, or too large).
int blockNumber(std::string_view s) {
    int v = -1;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return (r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty()) ? v : -1;
}

}  // namespace

ImatrixStatistics imatrixStatistics(const ImatrixSums& im) {
    ImatrixStatistics st;
    std::vector<std::vector<float>> raw;  // the float sums, for the cosine similarity
    for (const auto& [name, e] : im.entries) {
        const size_t nmat = e.counts.size();
        if (nmat == 0 || e.sums.size() % nmat != 0) continue;
        const size_t cols = e.sums.size() / nmat;
        std::vector<float> act;
        for (size_t j = 0; j < nmat; ++j) {
            if (e.counts[j] == 0) continue;
            for (size_t i = 0; i < cols; ++i) {
                act.push_back(float(e.sums[j * cols + i]) / float(e.counts[j]));
            }
        }
        if (act.empty()) continue;
        // In float, in the order llama-imatrix sums.
        ImatrixTensorStats t;
        t.tensor = name;
        splitName(name, t.layer, t.shortName);
        float total = 0, sq = 0;
        for (float a : act) total += a;
        for (float a : act) sq += a * a;
        t.sumSq = total;
        t.maxSq = *std::max_element(act.begin(), act.end());
        t.minSq = *std::min_element(act.begin(), act.end());
        t.elements = int(act.size());
        t.mean = total / float(act.size());
        const float var = sq / float(act.size()) - t.mean * t.mean;
        t.stddev = std::sqrt(std::max(0.0f, var));
        const auto inactive =
            std::count_if(act.begin(), act.end(), [](float v) { return std::fabs(v) <= 1e-5f; });
        t.active = 1 - float(inactive) / float(act.size());
        if (total > 0) {
            for (float a : act) {
                if (const float p = a / total; p > 0) t.entropy -= p * std::log2(p);
            }
        }
        t.entropyNorm = t.elements > 1 ? 100.0f * (t.entropy / std::log2(float(t.elements))) : 0;
        int z = 0;
        if (t.stddev > 0) {
            for (float a : act) z += (a - t.mean) / t.stddev > 1 ? 1 : 0;
        }
        t.zd = float(z) / float(t.elements);
        st.tensors.push_back(std::move(t));
        raw.emplace_back(e.sums.begin(), e.sums.end());
    }
    // Cosine similarity with the same tensor of the previous block.
    static const std::regex blk(R"(blk\.(\d+)\.)");
    std::map<std::string, size_t> byName;
    for (size_t i = 0; i < st.tensors.size(); ++i) byName[st.tensors[i].tensor] = i;
    for (size_t i = 0; i < st.tensors.size(); ++i) {
        auto& t = st.tensors[i];
        std::smatch m;
        if (!std::regex_search(t.tensor, m, blk)) continue;
        const int blkNo = blockNumber(m[1].str());
        if (blkNo < 0) continue;
        std::string prev = t.tensor;
        prev.replace(size_t(m.position(1)), size_t(m.length(1)), std::to_string(blkNo - 1));
        auto it = byName.find(prev);
        if (it == byName.end()) continue;
        const auto& a = raw[i];
        const auto& b = raw[it->second];
        if (a.size() != b.size()) continue;
        float dp = 0, ma = 0, mb = 0;
        for (size_t k = 0; k < a.size(); ++k) dp += a[k] * b[k];
        for (size_t k = 0; k < a.size(); ++k) ma += a[k] * a[k];
        for (size_t k = 0; k < b.size(); ++k) mb += b[k] * b[k];
        t.cossim = ma > 0 && mb > 0 ? dp / (std::sqrt(ma) * std::sqrt(mb)) : 0.0f;
        t.hasPrevious = true;
    }
    std::stable_sort(st.tensors.begin(), st.tensors.end(),
                     [](const ImatrixTensorStats& a, const ImatrixTensorStats& b) {
                         return a.shortName < b.shortName ||
                                (a.shortName == b.shortName && a.sumSq > b.sumSq);
                     });
    std::map<int, ImatrixLayerStats> layers;
    for (const auto& t : st.tensors) {
        const int blkNo = blockNumber(t.layer);
        auto& l = layers[blkNo];
        l.layer = blkNo;
        l.meanSumSq += float(t.elements) * t.sumSq;
        l.meanZd += float(t.elements) * t.zd;
        l.meanCossim += float(t.elements) * t.cossim;
        l.elements += t.elements;
    }
    for (auto& [n, l] : layers) {
        if (l.elements == 0) continue;
        l.meanSumSq /= float(l.elements);
        l.meanZd /= float(l.elements);
        l.meanCossim /= float(l.elements);
        st.layers.push_back(l);
    }
    return st;
}

}  // namespace qs::quant
