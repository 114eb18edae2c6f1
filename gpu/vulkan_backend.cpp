#include "vulkan_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "formats/encoders.h"

namespace qs::gpu {

namespace {

using formats::TensorType;

// Default bound on one binding. Bigger chunks gain little (a chunk is already millions of
// values) and would make every workspace buffer as large.
constexpr uint64_t kDefaultChunkBytes = 64ull << 20;

int64_t ceilDiv(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}
uint64_t roundUp4(uint64_t v) {
    return (v + 3) & ~uint64_t(3);
}

Error usage(const std::string& message, const std::string& tensor) {
    return makeError(ErrorCode::BadUsage, message, {}, kNoOffset, tensor);
}

bool isLegacyWeighted(TensorType t) {
    return t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q5_0 ||
           t == TensorType::Q5_1;
}

/// The legacy importance paths' sigma2: the row's sum of squares in order over its length, as
/// core/formats/codecs/legacy/encode.cpp computes it (ISO C++, no contraction: the same float).
float rowSigma2(const float* x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
    return s / float(n);
}

/// Types of encode_lowbit.comp (they ignore importance, as ggml does).
bool isLowBit(TensorType t) {
    return t == TensorType::TQ1_0 || t == TensorType::TQ2_0 || t == TensorType::MXFP4 ||
           t == TensorType::NVFP4 || t == TensorType::Q1_0 || t == TensorType::Q2_0;
}
/// 2^-100: the smallest non-zero magnitude the low-bit shaders take (see encodeRows).
constexpr float kLowBitSmallest = 7.8886090522101181e-31f;

}  // namespace

/// One operation over a whole tensor, expressed in "items" (blocks, or values of plain types).
struct VulkanBackend::Job {
    const ShaderCode* shader = nullptr;
    const uint8_t* src = nullptr;
    uint8_t* dst = nullptr;
    int64_t items = 0;        // total items
    int64_t itemsPerRow = 0;  // chunks prefer whole rows
    int64_t inBytes = 0;      // bytes per item read
    int64_t outBytes = 0;     // bytes per item written
    int64_t unitNum = 1;      // invocations for n items: ceil(n * unitNum / unitDen)
    int64_t unitDen = 1;
    int64_t pushScale = 1;  // second push constant: n * pushScale
    // encode_k shaders (kEncodeKBindings): the row's importance (itemsPerRow * valuesPerItem
    // floats) or null; bound as binding 2.
    const float* importance = nullptr;
    int64_t importanceFloats = 0;
    // kTableBindings shaders: the read-only table bound as binding 2 instead (tableOf).
    std::span<const uint32_t> table;
};

Result<std::unique_ptr<VulkanBackend>> VulkanBackend::create(const DeviceOptions& options) {
    auto device = Device::create(options);
    if (!device) return device.error();
    return std::unique_ptr<VulkanBackend>(new VulkanBackend(std::move(*device)));
}

VulkanBackend::VulkanBackend(std::unique_ptr<Device> device) : m_device(std::move(device)) {
    int choice = m_device->options().reductions;
    if (choice < 0) {
        const char* env = std::getenv("QS_VULKAN_REDUCTIONS");
        if (env && (std::string(env) == "0" || std::string(env) == "1")) {
            choice = env[0] - '0';
        } else {
            choice = m_device->info().type == "cpu" ? 0 : 1;
        }
    }
    m_reductions = choice != 0;
}

VulkanBackend::~VulkanBackend() = default;

std::string VulkanBackend::name() const {
    return m_device->label();
}

bool VulkanBackend::canEncode(TensorType type) const {
    return findShader(ShaderOp::Encode, type) != nullptr;
}

bool VulkanBackend::canDecode(TensorType type) const {
    return findShader(ShaderOp::Decode, type) != nullptr;
}

Status VulkanBackend::ensureCapacity(int slots, uint64_t inBytes, uint64_t outBytes) {
    for (int k = 0; k < slots; ++k) {
        bool changed = false;
        auto grow = [&](Buffer& b, uint64_t bytes, MemoryUse use, const char* label) -> Status {
            if (b.valid() && b.size() >= bytes) return {};
            b = Buffer();  // free first: the new one may need the memory
            auto nb = m_device->createBuffer(bytes, use, label);
            if (!nb) return nb.error();
            b = std::move(*nb);
            changed = true;
            return {};
        };
        QS_TRY(grow(m_in[k], inBytes, MemoryUse::DeviceLocal, k ? "qs input 1" : "qs input 0"));
        QS_TRY(grow(m_out[k], outBytes, MemoryUse::DeviceLocal, k ? "qs output 1" : "qs output 0"));
        // Staging only where the device-local memory cannot be mapped (discrete GPUs without
        // resizable BAR). lavapipe and integrated GPUs map it directly.
        if (!m_in[k].mapped()) {
            QS_TRY(
                grow(m_upload[k], inBytes, MemoryUse::Upload, k ? "qs upload 1" : "qs upload 0"));
        }
        if (!m_out[k].mapped()) {
            QS_TRY(grow(m_readback[k], outBytes, MemoryUse::Readback,
                        k ? "qs readback 1" : "qs readback 0"));
        }
        if (changed) m_setLayout[k] = VK_NULL_HANDLE;
    }
    return {};
}

Status VulkanBackend::run(const Job& job) {
    m_lastChunks = 0;
    if (job.items == 0) return {};
    const DeviceOptions& opt = m_device->options();
    const DeviceLimits& lim = m_device->limits();

    // Bytes one binding may span: the device limit, the allocation limit, and the option.
    uint64_t limit = std::min<uint64_t>(lim.maxStorageBufferRange, kDefaultChunkBytes);
    if (lim.maxMemoryAllocationSize > 0) limit = std::min(limit, lim.maxMemoryAllocationSize);
    if (opt.maxChunkBytes > 0) limit = std::min(limit, opt.maxChunkBytes);
    limit &= ~uint64_t(3);
    const int64_t perItem = std::max(job.inBytes, job.outBytes);
    int64_t chunkItems = int64_t(limit) / perItem;
    if (chunkItems >= job.itemsPerRow) {
        chunkItems -= chunkItems % job.itemsPerRow;  // whole rows when one fits
    }
    // Otherwise a row is split at block boundaries, which is exact: every shader works on
    // single blocks. Each chunk starts at offset 0 of the buffers and handles its own partial
    // last unit, so chunk sizes need no further alignment.
    if (chunkItems <= 0) {
        return makeError(ErrorCode::BadUsage, "Vulkan chunk limit of " + std::to_string(limit) +
                                                  " bytes is too small for one block");
    }
    chunkItems = std::min(chunkItems, job.items);
    // Two slots when there is more than one chunk: while the device runs chunk i, the host
    // fills chunk i + 1 into the other slot and reads chunk i - 1 back.
    const int slots = opt.overlapChunks && chunkItems < job.items ? 2 : 1;

    QS_TRY(ensureCapacity(slots, roundUp4(uint64_t(chunkItems * job.inBytes)),
                          roundUp4(uint64_t(chunkItems * job.outBytes))));
    // Binding 2 (encode_k's importance, or a table) is read straight from host-visible memory
    // (read once per block, or a few KiB of codebook that the device caches).
    static_assert(kEncodeKBindings == kTableBindings);
    const bool withImportance = job.shader->storageBuffers == kEncodeKBindings;
    const bool withTable = !job.table.empty();
    if (withImportance) {
        const uint64_t bytes = std::max<uint64_t>(
            4, withTable ? job.table.size_bytes() : uint64_t(job.importanceFloats) * 4);
        if (!m_importance.valid() || m_importance.size() < bytes) {
            m_importance = Buffer();
            auto b = m_device->createBuffer(bytes, MemoryUse::Upload, "qs importance");
            if (!b) return b.error();
            m_importance = std::move(*b);
            for (auto& l : m_setLayout) l = VK_NULL_HANDLE;
        }
        if (withTable) {
            std::memcpy(m_importance.mapped(), job.table.data(), job.table.size_bytes());
        } else if (job.importance) {
            std::memcpy(m_importance.mapped(), job.importance, size_t(job.importanceFloats) * 4);
        } else {
            std::memset(m_importance.mapped(), 0, 4);
        }
        QS_TRY(m_importance.flush());
    }
    auto pipeline = m_device->pipeline(*job.shader, opt.workgroupSize);
    if (!pipeline) return pipeline.error();
    const Pipeline& pipe = **pipeline;
    // Shaders of one interface share a set, so it is rebuilt only when the interface (layout)
    // or the buffers change.
    for (int k = 0; k < slots; ++k) {
        if (m_setLayout[k] == pipe.setLayout) continue;
        m_set[k] = DescriptorSet();
        const Buffer* buffers[] = {&m_in[k], &m_out[k], &m_importance};
        auto set = m_device->bindBuffers(
            pipe, std::span<const Buffer* const>(buffers, withImportance ? 3 : 2));
        if (!set) return set.error();
        m_set[k] = std::move(*set);
        m_setLayout[k] = pipe.setLayout;
    }

    const uint32_t maxPerDim = opt.maxWorkgroupsPerDim > 0
                                   ? std::min(opt.maxWorkgroupsPerDim, lim.maxWorkgroupCount[0])
                                   : lim.maxWorkgroupCount[0];
    // Chunk k runs in slot k % slots. Before a slot is reused its previous chunk is waited for
    // and read back; at the end the pending chunks are drained oldest first. Any error drains
    // every slot before returning, so no work in flight outlives the call.
    struct Pending {
        bool active = false;
        int64_t first = 0, n = 0;
    };
    Pending pending[kSlots];
    auto inHost = [&](int k) -> const Buffer& { return m_in[k].mapped() ? m_in[k] : m_upload[k]; };
    auto outHost = [&](int k) -> const Buffer& {
        return m_out[k].mapped() ? m_out[k] : m_readback[k];
    };
    auto finish = [&](int k) -> Status {
        if (!pending[k].active) return {};
        pending[k].active = false;
        QS_TRY(m_device->waitAsync(k));
        QS_TRY(outHost(k).invalidate());
        std::memcpy(job.dst + pending[k].first * job.outBytes, outHost(k).mapped(),
                    size_t(pending[k].n * job.outBytes));
        ++m_lastChunks;
        return {};
    };
    auto chunks = [&]() -> Status {
        int64_t index = 0;
        for (int64_t first = 0; first < job.items; first += chunkItems, ++index) {
            const int k = int(index % slots);
            QS_TRY(finish(k));
            const int64_t n = std::min(chunkItems, job.items - first);
            const uint64_t inBytes = uint64_t(n * job.inBytes);
            const uint64_t outBytes = uint64_t(n * job.outBytes);
            std::memcpy(inHost(k).mapped(), job.src + first * job.inBytes, inBytes);
            QS_TRY(inHost(k).flush());

            const int64_t units = ceilDiv(n * job.unitNum, job.unitDen);
            const uint32_t push[6] = {uint32_t(units),           uint32_t(n * job.pushScale),
                                      uint32_t(job.itemsPerRow), uint32_t(first % job.itemsPerRow),
                                      job.importance ? 1u : 0u,  uint32_t(first / job.itemsPerRow)};
            // A 2D grid once the groups exceed one dimension's limit: rows of gx groups, and
            // the shader drops the invocations past `units` in the last row.
            const int64_t groups = ceilDiv(units, int64_t(pipe.workgroupSize));
            const int64_t gy = ceilDiv(groups, int64_t(maxPerDim));
            const int64_t gx = ceilDiv(groups, gy);
            if (gy > int64_t(lim.maxWorkgroupCount[1])) {
                return makeError(ErrorCode::Internal, "Vulkan dispatch grid too large");
            }
            const bool upload = !m_in[k].mapped();
            const bool readback = !m_out[k].mapped();
            QS_TRY(m_device->submitAsync(k, [&](CommandRecorder& rec) {
                if (upload) {
                    rec.copy(m_upload[k], m_in[k], roundUp4(inBytes));
                    rec.barrier();
                }
                rec.dispatch(pipe, m_set[k], push, uint32_t(gx), uint32_t(gy));
                rec.barrier();
                if (readback) {
                    rec.copy(m_out[k], m_readback[k], roundUp4(outBytes));
                    rec.barrier();
                }
            }));
            pending[k] = {true, first, n};
        }
        // Oldest first: slot index % slots was used longest ago.
        for (int j = 0; j < slots; ++j) QS_TRY(finish(int((index + j) % slots)));
        return {};
    };
    Status s = chunks();
    if (!s) {
        for (int k = 0; k < kSlots; ++k) (void)m_device->waitAsync(k);
    }
    return s;
}

Status VulkanBackend::decodeRows(TensorType type, std::span<const uint8_t> src,
                                 std::span<float> dst, int64_t rowLength,
                                 const std::string& tensorName) {
    const ShaderCode* shader = findShader(ShaderOp::Decode, type);
    const std::string typeName(formats::typeName(type));
    if (!shader) return usage("the Vulkan backend cannot decode " + typeName, tensorName);
    const auto& tr = formats::traits(type);
    if (rowLength <= 0 || rowLength % tr.blockSize != 0) {
        return makeError(ErrorCode::BadInput,
                         "row length " + std::to_string(rowLength) +
                             " is not a positive multiple of the " + typeName + " block size",
                         {}, kNoOffset, tensorName);
    }
    const int64_t rowBytes = rowLength / tr.blockSize * tr.blockBytes;
    if (int64_t(src.size()) % rowBytes != 0) {
        return makeError(ErrorCode::BadInput,
                         std::to_string(src.size()) + " bytes are not whole rows of " +
                             std::to_string(rowBytes) + " bytes",
                         {}, kNoOffset, tensorName);
    }
    const int64_t rows = int64_t(src.size()) / rowBytes;
    if (int64_t(dst.size()) < rows * rowLength) {
        return usage("output holds " + std::to_string(dst.size()) + " floats, " +
                         std::to_string(rows * rowLength) + " needed",
                     tensorName);
    }
    Job job;
    job.shader = shader;
    job.src = src.data();
    job.dst = reinterpret_cast<uint8_t*>(dst.data());
    job.items = rows * (rowLength / tr.blockSize);
    job.itemsPerRow = rowLength / tr.blockSize;
    job.inBytes = tr.blockBytes;
    job.outBytes = tr.blockSize * int64_t(sizeof(float));
    job.unitNum = tr.blockSize;
    job.unitDen = decodeValuesPerUnit(type);
    job.pushScale = tr.blockSize;
    job.table = tableOf(ShaderOp::Decode, type);
    Status s = run(job);
    if (!s) s.error().tensor = tensorName;
    return s;
}

Status VulkanBackend::encodeRows(TensorType type, std::span<const float> src,
                                 std::span<uint8_t> dst, int64_t rowLength, const float* importance,
                                 const std::string& tensorName) {
    // Q4_0/Q4_1/Q5_0/Q5_1 with importance use ggml's weighted scale search, a shader of its
    // own that also needs each row's sigma2.
    const bool weighted = importance && isLegacyWeighted(type);
    const ShaderCode* shader =
        findShader(weighted ? ShaderOp::EncodeWeighted : ShaderOp::Encode, type);
    const std::string typeName(formats::typeName(type));
    if (!shader) return usage("the Vulkan backend cannot encode " + typeName, tensorName);
    const auto& tr = formats::traits(type);
    // The same argument and input checks as the CPU encoder, with the same messages.
    auto rowsR =
        formats::checkEncodeArgs(type, src.size(), dst.size(), rowLength, importance, tensorName);
    if (!rowsR) return rowsR.error();
    const int64_t rows = *rowsR;
    const int64_t rowBytes = rowLength / tr.blockSize * tr.blockBytes;
    for (size_t i = 0; i < src.size(); ++i) {
        if (!std::isfinite(src[i])) {
            return makeError(ErrorCode::BadInput,
                             "value at row " + std::to_string(int64_t(i) / rowLength) +
                                 ", column " + std::to_string(int64_t(i) % rowLength) +
                                 " is NaN or infinite",
                             {}, kNoOffset, tensorName);
        }
    }

    // The low-bit encoders (encode_lowbit.comp) leave magnitudes below 2^-100 to the CPU: with
    // them, scales and intermediates could be fp32 denormals, which devices may flush.
    if (isLowBit(type)) {
        for (size_t i = 0; i < src.size(); ++i) {
            if (src[i] != 0.0f && std::fabs(src[i]) < kLowBitSmallest) {
                return usage("value at row " + std::to_string(int64_t(i) / rowLength) +
                                 ", column " + std::to_string(int64_t(i) % rowLength) +
                                 " is below 2^-100; the CPU encodes this " + typeName + " tensor",
                             tensorName);
            }
        }
    }

    Job job;
    job.shader = shader;
    job.src = reinterpret_cast<const uint8_t*>(src.data());
    job.dst = dst.data();
    job.items = rows * (rowLength / tr.blockSize);
    job.itemsPerRow = rowLength / tr.blockSize;
    job.inBytes = tr.blockSize * int64_t(sizeof(float));
    job.outBytes = tr.blockBytes;
    job.unitNum = 1;
    job.unitDen = encodeItemsPerUnit(type);
    job.pushScale = 1;
    // Binding 2: the importance of one row, then (weighted legacy types) each row's sigma2,
    // the row's mean square computed exactly as the CPU encoder computes it.
    std::vector<float> importanceAndSigma2;
    if (weighted) {
        importanceAndSigma2.assign(importance, importance + rowLength);
        importanceAndSigma2.reserve(size_t(rowLength + rows));
        for (int64_t r = 0; r < rows; ++r) {
            importanceAndSigma2.push_back(rowSigma2(src.data() + r * rowLength, rowLength));
        }
    }
    job.importance = weighted ? importanceAndSigma2.data() : importance;
    job.importanceFloats = weighted ? int64_t(importanceAndSigma2.size()) : rowLength;
    job.table = tableOf(ShaderOp::Encode, type);
    Status s = run(job);
    if (!s) {
        s.error().tensor = tensorName;
        return s;
    }
    for (int64_t r = 0; r < rows; ++r) {
        if (formats::firstNonFiniteScale(type, dst.data() + r * rowBytes, rowLength) >= 0) {
            return makeError(ErrorCode::BadInput,
                             "encoding row " + std::to_string(r) + " as " + typeName +
                                 " gives a NaN or infinite scale (values out of fp16 range)",
                             {}, kNoOffset, tensorName);
        }
    }
    return {};
}

Result<std::unique_ptr<quant::Backend>> makeVulkanBackend(const DeviceOptions& options) {
    auto backend = VulkanBackend::create(options);
    if (!backend) return backend.error();
    return std::unique_ptr<quant::Backend>(std::move(*backend));
}

}  // namespace qs::gpu
