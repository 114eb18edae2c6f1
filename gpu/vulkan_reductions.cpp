// VulkanBackend's reductions: histograms (gpu/shaders/histogram.comp) with exactly the counts of
// stats::Histogram::add, and error sums (error_sums.comp) in double. The inputs are on the host
// (the engine and the analysis hold them there), so each chunk is copied into host-visible
// buffers that the shaders read directly; these reductions are one pass over the data.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "vulkan_backend.h"

namespace qs::gpu {

namespace {

constexpr uint32_t kReductionGroup = 64;  // workgroup size of both reductions
constexpr int64_t kHistValuesPerInvocation = 64;
constexpr int64_t kSumValuesPerInvocation = 32;
constexpr uint64_t kLocalSlots = 4096;  // histogram.comp's shared counters
constexpr size_t kMaxGpuBins = size_t(1) << 22;

int64_t ceilDiv(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/// Floats in their order as unsigned keys (-inf < ... < -0 < +0 < ... < +inf).
uint32_t orderKey(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
float fromKey(uint32_t k) {
    const uint32_t b = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

/// The smallest float f with double(f) >= t (-inf when every float is, +inf when none is).
float smallestFloatNotBelow(double t) {
    if (t <= -double(FLT_MAX)) return -INFINITY;
    if (t > double(FLT_MAX)) return INFINITY;
    float f = float(t);
    while (double(f) < t) f = std::nextafter(f, INFINITY);
    while (double(std::nextafter(f, -INFINITY)) >= t) f = std::nextafter(f, -INFINITY);
    return f;
}

/// histogram.comp's binding 2 for `h`: loF, hiF, then the first float of bins 1..n-1 (hiF
/// when no float in range reaches the bin). The bin of a float is Histogram::add's own
/// formula, which is monotone in the value, so a lower-bound search finds each start.
std::vector<float> histogramThresholds(const stats::Histogram& h) {
    const size_t nb = h.bins.size();
    const double scale = double(nb) / (h.hi - h.lo);
    auto binOf = [&](float v) {
        size_t b = size_t((double(v) - h.lo) * scale);
        return b >= nb ? nb - 1 : b;
    };
    const float loF = smallestFloatNotBelow(h.lo);
    const float hiF = smallestFloatNotBelow(h.hi);
    std::vector<float> thr{loF, hiF};
    thr.reserve(nb + 1);
    // Finite floats in [loF, hiF): keys [first, end).
    uint64_t first = std::max(orderKey(loF), orderKey(-FLT_MAX));
    const uint64_t end = std::min<uint64_t>(orderKey(hiF), uint64_t(orderKey(FLT_MAX)) + 1);
    for (size_t k = 1; k < nb; ++k) {
        if (first >= end || binOf(fromKey(uint32_t(end - 1))) < k) {
            thr.push_back(hiF);
            continue;
        }
        uint64_t a = first, b = end - 1;  // binOf(key b) >= k
        while (a < b) {
            const uint64_t mid = a + (b - a) / 2;
            if (binOf(fromKey(uint32_t(mid))) >= k) {
                b = mid;
            } else {
                a = mid + 1;
            }
        }
        thr.push_back(fromKey(uint32_t(a)));
        first = a;
    }
    return thr;
}

}  // namespace

Status VulkanBackend::ensureHostBuffer(Buffer& b, uint64_t bytes, MemoryUse use,
                                       const char* label) {
    bytes = std::max<uint64_t>(4, (bytes + 3) & ~uint64_t(3));
    if (b.valid() && b.size() >= bytes) return {};
    b = Buffer();
    auto nb = m_device->createBuffer(bytes, use, label);
    if (!nb) return nb.error();
    b = std::move(*nb);
    return {};
}

int64_t VulkanBackend::reductionChunkValues() const {
    const DeviceLimits& lim = m_device->limits();
    uint64_t limit = std::min<uint64_t>(lim.maxStorageBufferRange, 64ull << 20);
    if (lim.maxMemoryAllocationSize > 0) limit = std::min(limit, lim.maxMemoryAllocationSize);
    if (m_device->options().maxChunkBytes > 0) {
        limit = std::min(limit, m_device->options().maxChunkBytes);
    }
    return std::max<int64_t>(1, int64_t(limit / sizeof(float)));
}

Result<std::pair<uint32_t, uint32_t>> VulkanBackend::grid(int64_t groups) const {
    const DeviceLimits& lim = m_device->limits();
    const DeviceOptions& opt = m_device->options();
    const uint32_t maxPerDim = opt.maxWorkgroupsPerDim > 0
                                   ? std::min(opt.maxWorkgroupsPerDim, lim.maxWorkgroupCount[0])
                                   : lim.maxWorkgroupCount[0];
    const int64_t gy = ceilDiv(groups, int64_t(maxPerDim));
    const int64_t gx = ceilDiv(groups, gy);
    if (gy > int64_t(lim.maxWorkgroupCount[1])) {
        return makeError(ErrorCode::Internal, "Vulkan dispatch grid too large");
    }
    return std::make_pair(uint32_t(gx), uint32_t(gy));
}

Status VulkanBackend::histogram(std::span<const float> values, stats::Histogram& hist) {
    const size_t nb = hist.bins.size();
    // Degenerate or enormous bin sets stay on the CPU (same code, same counts).
    if (nb == 0 || nb > kMaxGpuBins || !(hist.hi > hist.lo) || !std::isfinite(hist.hi - hist.lo)) {
        return Backend::histogram(values, hist);
    }
    if (values.empty()) return {};
    const ShaderCode* shader = findShader(ShaderOp::Histogram, formats::TensorType::F32);
    if (!shader) return Backend::histogram(values, hist);
    const std::vector<float> thr = histogramThresholds(hist);
    const int64_t chunk = std::min<int64_t>(reductionChunkValues(), int64_t(values.size()));
    const uint64_t slots = nb + 3;
    QS_TRY(ensureHostBuffer(m_redIn, uint64_t(chunk) * 4, MemoryUse::Upload, "qs hist values"));
    QS_TRY(ensureHostBuffer(m_redAux, thr.size() * 4, MemoryUse::Upload, "qs hist thresholds"));
    QS_TRY(ensureHostBuffer(m_redOut, slots * 4, MemoryUse::Readback, "qs hist counts"));
    std::memcpy(m_redAux.mapped(), thr.data(), thr.size() * 4);
    QS_TRY(m_redAux.flush());
    auto pipeline = m_device->pipeline(*shader, kReductionGroup);
    if (!pipeline) return pipeline.error();
    const Pipeline& pipe = **pipeline;
    const Buffer* buffers[] = {&m_redIn, &m_redOut, &m_redAux};
    auto set = m_device->bindBuffers(pipe, buffers);
    if (!set) return set.error();

    std::vector<uint64_t> total(slots, 0);
    std::vector<uint32_t> counts(slots);
    for (int64_t first = 0; first < int64_t(values.size()); first += chunk) {
        const int64_t n = std::min<int64_t>(chunk, int64_t(values.size()) - first);
        std::memcpy(m_redIn.mapped(), values.data() + first, size_t(n) * 4);
        QS_TRY(m_redIn.flush());
        std::memset(m_redOut.mapped(), 0, slots * 4);
        QS_TRY(m_redOut.flush());
        const int64_t groups =
            ceilDiv(ceilDiv(n, kHistValuesPerInvocation), int64_t(kReductionGroup));
        auto g = grid(groups);
        if (!g) return g.error();
        const uint32_t push[4] = {uint32_t(n), uint32_t(nb), slots <= kLocalSlots ? 1u : 0u, 0u};
        QS_TRY(m_device->submit([&](CommandRecorder& rec) {
            rec.dispatch(pipe, *set, push, g->first, g->second);
            rec.barrier();
        }));
        QS_TRY(m_redOut.invalidate());
        std::memcpy(counts.data(), m_redOut.mapped(), slots * 4);
        for (uint64_t i = 0; i < slots; ++i) total[i] += counts[i];
    }
    for (size_t i = 0; i < nb; ++i) hist.bins[i] += total[i];
    hist.underflow += total[nb];
    hist.overflow += total[nb + 1];
    hist.nonFinite += total[nb + 2];
    return {};
}

Status VulkanBackend::errorSums(std::span<const float> ref, std::span<const float> deq,
                                int64_t rowLength, const float* importance,
                                stats::ErrorSums& sums) {
    const ShaderCode* shader = findShader(ShaderOp::ErrorSums, formats::TensorType::F32);
    if (!m_device->limits().shaderFloat64 || !shader || rowLength <= 0 ||
        ref.size() != deq.size() || int64_t(ref.size()) % rowLength != 0) {
        return Backend::errorSums(ref, deq, rowLength, importance, sums);  // or its error
    }
    if (ref.empty()) return {};
    const int64_t chunk = std::min<int64_t>(reductionChunkValues(), int64_t(ref.size()));
    const int64_t maxGroups =
        ceilDiv(ceilDiv(chunk, kSumValuesPerInvocation), int64_t(kReductionGroup));
    auto maxGrid = grid(maxGroups);
    if (!maxGrid) return maxGrid.error();
    const uint64_t outBytes = uint64_t(maxGrid->first) * maxGrid->second * 8 * sizeof(double);
    QS_TRY(ensureHostBuffer(m_redIn, uint64_t(chunk) * 4, MemoryUse::Upload, "qs sums ref"));
    QS_TRY(ensureHostBuffer(m_redIn2, uint64_t(chunk) * 4, MemoryUse::Upload, "qs sums deq"));
    QS_TRY(ensureHostBuffer(m_redAux, importance ? uint64_t(rowLength) * 4 : 4, MemoryUse::Upload,
                            "qs sums importance"));
    QS_TRY(ensureHostBuffer(m_redOut, outBytes, MemoryUse::Readback, "qs sums partials"));
    if (importance) {
        std::memcpy(m_redAux.mapped(), importance, size_t(rowLength) * 4);
        QS_TRY(m_redAux.flush());
    }
    auto pipeline = m_device->pipeline(*shader, kReductionGroup);
    if (!pipeline) return pipeline.error();
    const Pipeline& pipe = **pipeline;
    const Buffer* buffers[] = {&m_redIn, &m_redIn2, &m_redAux, &m_redOut};
    auto set = m_device->bindBuffers(pipe, buffers);
    if (!set) return set.error();

    std::vector<double> part;
    for (int64_t first = 0; first < int64_t(ref.size()); first += chunk) {
        const int64_t n = std::min<int64_t>(chunk, int64_t(ref.size()) - first);
        std::memcpy(m_redIn.mapped(), ref.data() + first, size_t(n) * 4);
        std::memcpy(m_redIn2.mapped(), deq.data() + first, size_t(n) * 4);
        QS_TRY(m_redIn.flush());
        QS_TRY(m_redIn2.flush());
        const int64_t groups =
            ceilDiv(ceilDiv(n, kSumValuesPerInvocation), int64_t(kReductionGroup));
        auto g = grid(groups);
        if (!g) return g.error();
        const uint32_t push[4] = {uint32_t(n), uint32_t(rowLength), uint32_t(first % rowLength),
                                  importance ? 1u : 0u};
        QS_TRY(m_device->submit([&](CommandRecorder& rec) {
            rec.dispatch(pipe, *set, push, g->first, g->second);
            rec.barrier();
        }));
        QS_TRY(m_redOut.invalidate());
        // Every dispatched group wrote its partial (groups past the data wrote zeros).
        const int64_t written = int64_t(g->first) * g->second;
        part.resize(size_t(written) * 8);
        std::memcpy(part.data(), m_redOut.mapped(), part.size() * sizeof(double));
        stats::ErrorSums s;
        s.count = uint64_t(n);
        for (int64_t k = 0; k < written; ++k) {
            const double* q = part.data() + 8 * k;
            s.sumSqRef += q[0];
            s.sumSqDeq += q[1];
            s.sumSqErr += q[2];
            s.dot += q[3];
            s.wSumSqErr += q[4];
            s.wSumSqRef += q[5];
            s.wSum += q[6];
            s.maxAbsErr = std::max(s.maxAbsErr, q[7]);
        }
        sums.merge(s);
    }
    return {};
}

}  // namespace qs::gpu
