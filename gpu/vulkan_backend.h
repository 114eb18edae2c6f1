#pragma once
// The Vulkan implementation of qs::quant::Backend: decode and encode on the GPU with results
// bit-identical to the CPU codecs (docs/GPU.md lists what is covered and why it is exact).
//
// Tensors larger than one storage-buffer binding are processed in chunks of whole rows (or of
// whole blocks when a single row is larger than a binding); each chunk is uploaded, run and
// read back before the next. The backend is used by one job at a time (as Backend requires).

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "quant/backend.h"
#include "vulkan_device.h"

namespace qs::gpu {

/// Backend on one Vulkan Device, which it owns (and destroys last).
class VulkanBackend final : public quant::Backend {
public:
    /// Open a device with `options` and wrap it. Errors as Device::create.
    static Result<std::unique_ptr<VulkanBackend>> create(const DeviceOptions& options = {});
    ~VulkanBackend() override;

    /// "vulkan:0 llvmpipe (LLVM 15.0.6, 256 bits)".
    std::string name() const override;
    /// F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (importance-weighted Q4/Q5 encodes excepted,
    /// see encodeRows), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS (with or without
    /// importance), TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0 (importance ignored, as ggml).
    /// Not the grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): their
    /// searches run on the CPU, which the engine then uses for those tensors.
    bool canEncode(formats::TensorType type) const override;
    /// Every type with a block codec: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K,
    /// IQ4_NL, IQ4_XS, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, TQ1_0, TQ2_0,
    /// MXFP4, NVFP4, Q1_0, Q2_0.
    bool canDecode(formats::TensorType type) const override;
    /// As Backend::decodeRows. BadUsage for a type canDecode() rejects (the engine then uses
    /// the CPU), BadInput for sizes that do not form whole rows, IoError for device failures.
    Status decodeRows(formats::TensorType type, std::span<const uint8_t> src, std::span<float> dst,
                      int64_t rowLength, const std::string& tensorName) override;
    /// As Backend::encodeRows, byte-identical to the CPU reference encoders. BadUsage for a
    /// type canEncode() rejects and for `importance` with Q4_0/Q4_1/Q5_0/Q5_1 (the weighted
    /// scale search runs on the CPU); Q8_0, F16 and BF16 ignore importance as ggml does.
    /// BadInput for NaN/Inf input or an fp16 scale overflow, as the CPU encoder reports.
    /// BadUsage (the engine then encodes the chunk on the CPU, with the same bytes) for the
    /// low-bit types when a non-zero value is below 2^-100 in magnitude (fp32 denormal scales).
    Status encodeRows(formats::TensorType type, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance,
                      const std::string& tensorName) override;

    /// Histograms and error sums on the device (gpu/vulkan_reductions.cpp): identical counts,
    /// and error sums in double within 1e-12 relative of the CPU's. Error sums need
    /// shaderFloat64; without it they run on the CPU (Backend's default).
    bool hasReductions() const override { return m_reductions; }
    Status histogram(std::span<const float> values, stats::Histogram& hist) override;
    Status errorSums(std::span<const float> ref, std::span<const float> deq, int64_t rowLength,
                     const float* importance, stats::ErrorSums& sums) override;

    /// The device (for its info, limits and validation messages).
    Device& device() { return *m_device; }
    /// Chunks (submits) run by the last decodeRows/encodeRows call; for tests.
    int64_t lastChunkCount() const { return m_lastChunks; }

private:
    struct Job;
    explicit VulkanBackend(std::unique_ptr<Device> device);
    Status run(const Job& job);
    /// Workspace of `slots` (1 or 2) slots, each with inBytes / outBytes.
    Status ensureCapacity(int slots, uint64_t inBytes, uint64_t outBytes);
    /// Grow `b` to at least `bytes` (host-visible `use` memory bound directly as storage).
    Status ensureHostBuffer(Buffer& b, uint64_t bytes, MemoryUse use, const char* label);
    /// Values per reduction chunk (one binding's worth of floats).
    int64_t reductionChunkValues() const;
    /// Workgroup grid (x, y) for `groups` workgroups within the dispatch limits.
    Result<std::pair<uint32_t, uint32_t>> grid(int64_t groups) const;

    // Declared first so that it is destroyed last, after every buffer and set below.
    std::unique_ptr<Device> m_device;
    // Per slot (double buffering of multi-chunk jobs, see DeviceOptions::overlapChunks):
    static constexpr int kSlots = Device::kAsyncSlots;
    Buffer m_in[kSlots], m_out[kSlots];           // device-local storage bound to the shaders
    Buffer m_upload[kSlots], m_readback[kSlots];  // staging, only when not host-visible
    Buffer m_importance;  // one row's importance (host-visible), encode_k shaders
    Buffer m_redIn, m_redIn2, m_redAux, m_redOut;    // reductions (host-visible, bound directly)
    VkDescriptorSetLayout m_setLayout[kSlots] = {};  // layout m_set[s] was made for
    DescriptorSet m_set[kSlots];                     // binds m_in[s], m_out[s] (and m_importance)
    int64_t m_lastChunks = 0;
    bool m_reductions = false;  // DeviceOptions::reductions resolved for this device
};

/// Factory for the engine: a VulkanBackend as a quant::Backend.
Result<std::unique_ptr<quant::Backend>> makeVulkanBackend(const DeviceOptions& options = {});

}  // namespace qs::gpu
