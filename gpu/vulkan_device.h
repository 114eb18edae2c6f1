#pragma once
// One opened Vulkan device and everything created on it: the instance (with the validation
// layer and a debug messenger on request), the logical device and its compute queue, buffers,
// lazily built compute pipelines, a pipeline cache persisted across runs, and synchronous
// command submission.
//
// Ownership (docs/STYLE.md §3 items 13-14): a Device owns every Vulkan object. Buffers and
// descriptor sets are move-only RAII values that refer back to their Device and must be
// destroyed before it (checked with QS_ASSERT in ~Device); pipelines live inside the Device.
// There are no shared_ptr graphs.
//
// Thread safety: pipeline() and submit() may be called from several threads (each is guarded
// by a mutex); the other methods are const queries or create independent objects.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <vulkan/vulkan.h>

#include "common/result.h"
#include "device_list.h"
#include "shaders.h"

namespace qs::gpu {

/// How to open a device. Every field has a working default.
struct DeviceOptions {
    /// Physical device by vkEnumeratePhysicalDevices index; -1 = not by index.
    int deviceIndex = -1;
    /// Physical device by case-insensitive name substring ("llvmpipe"); empty = not by name.
    /// With neither set, env QS_VULKAN_DEVICE (an index or a name substring) is consulted, then
    /// the preference discrete > integrated > virtual > cpu.
    std::string deviceName;
    /// Enable VK_LAYER_KHRONOS_validation and collect its warnings and errors (see
    /// Device::validationMessages). Also enabled by env QS_VULKAN_VALIDATION=1. Fails cleanly
    /// if the layer is not installed.
    bool validation = false;
    /// Load and save the VkPipelineCache in cacheDir.
    bool persistPipelineCache = true;
    /// Where the pipeline cache lives; empty = $XDG_CACHE_HOME/quantscope, else
    /// ~/.cache/quantscope.
    std::string cacheDir;
    /// Upper bound on one storage-buffer binding (bytes) used by the backend's chunking;
    /// 0 = the device's maxStorageBufferRange capped at 64 MiB. Tests set it small to exercise
    /// the chunking path.
    uint64_t maxChunkBytes = 0;
    /// Upper bound on workgroups per grid dimension; 0 = maxComputeWorkGroupCount. Tests set
    /// it small to exercise the 2D grid.
    uint32_t maxWorkgroupsPerDim = 0;
    /// Invocations per workgroup (specialization constant 0 of every shader).
    uint32_t workgroupSize = 64;
    /// Double-buffer multi-chunk jobs: the host uploads chunk i+1 and reads back chunk i-1
    /// while the device runs chunk i (two workspaces, two command buffers and fences). Off =
    /// each chunk is uploaded, run and read back before the next (for measurements).
    bool overlapChunks = true;
    /// Whether the backend offers its histogram/error-sum reductions to the engine and the
    /// analysis (VulkanBackend::hasReductions): -1 = automatic, i.e. on for GPUs and off for
    /// CPU devices such as lavapipe, whose shaders run on the same cores as the CPU code but
    /// slower; 0 = off; 1 = on. Env QS_VULKAN_REDUCTIONS=0/1 overrides the automatic choice.
    /// The reduction methods themselves always run on the device when called.
    int reductions = -1;
};

/// What a buffer is used for; selects the memory-type preference list.
enum class MemoryUse {
    DeviceLocal,  ///< shader storage; prefers DEVICE_LOCAL, falls back to any type
    Upload,       ///< host writes, device reads: HOST_VISIBLE (+COHERENT preferred)
    Readback,     ///< device writes, host reads: HOST_VISIBLE (+CACHED, +COHERENT preferred)
};

class Device;

/// A VkBuffer with its own VkDeviceMemory, persistently mapped when host-visible. Move-only;
/// must be destroyed before its Device.
class Buffer {
public:
    Buffer() = default;
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer();

    /// Whether this holds a buffer.
    bool valid() const { return m_buffer != VK_NULL_HANDLE; }
    VkBuffer handle() const { return m_buffer; }
    /// Size in bytes as requested.
    uint64_t size() const { return m_size; }
    /// Host pointer to the whole buffer, or nullptr when the memory is not host-visible.
    uint8_t* mapped() const { return m_mapped; }
    /// Whether host writes/reads need flush()/invalidate() (HOST_VISIBLE without COHERENT).
    bool needsFlush() const { return m_mapped && !m_coherent; }
    /// Make host writes visible to the device (no-op for coherent memory).
    Status flush() const;
    /// Make device writes visible to the host (no-op for coherent memory).
    Status invalidate() const;

private:
    friend class Device;
    void release();

    Device* m_device = nullptr;
    VkBuffer m_buffer = VK_NULL_HANDLE;
    VkDeviceMemory m_memory = VK_NULL_HANDLE;
    uint64_t m_size = 0;
    uint8_t* m_mapped = nullptr;
    bool m_coherent = true;
};

/// A compute pipeline and its layouts, owned by the Device (pointers stay valid until the
/// Device is destroyed).
struct Pipeline {
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;  ///< shared by pipelines of one interface
    VkDescriptorSetLayout setLayout = VK_NULL_HANDLE;
    uint32_t storageBuffers = 0;
    uint32_t pushConstantBytes = 0;
    uint32_t workgroupSize = 0;  ///< local_size_x it was specialised with
};

/// A descriptor set binding whole buffers to a pipeline interface. Move-only; must be
/// destroyed before its Device.
class DescriptorSet {
public:
    DescriptorSet() = default;
    DescriptorSet(DescriptorSet&& other) noexcept;
    DescriptorSet& operator=(DescriptorSet&& other) noexcept;
    DescriptorSet(const DescriptorSet&) = delete;
    DescriptorSet& operator=(const DescriptorSet&) = delete;
    ~DescriptorSet();

    VkDescriptorSet handle() const { return m_set; }

private:
    friend class Device;
    void release();

    Device* m_device = nullptr;
    VkDescriptorSet m_set = VK_NULL_HANDLE;
};

/// Records commands into the Device's command buffer during Device::submit().
class CommandRecorder {
public:
    /// Bind `pipeline` and `set`, push `push` (pipeline.pushConstantBytes bytes) and dispatch a
    /// groupsX x groupsY grid.
    void dispatch(const Pipeline& pipeline, const DescriptorSet& set, const void* push,
                  uint32_t groupsX, uint32_t groupsY);
    /// Copy `bytes` bytes from the start of src to the start of dst.
    void copy(const Buffer& src, const Buffer& dst, uint64_t bytes);
    /// Make all earlier transfer and compute writes visible to later transfer, compute and
    /// host accesses.
    void barrier();
    VkCommandBuffer handle() const { return m_cmd; }

private:
    friend class Device;
    explicit CommandRecorder(VkCommandBuffer cmd) : m_cmd(cmd) {}
    VkCommandBuffer m_cmd;
};

/// Limits the backend's chunking needs.
struct DeviceLimits {
    uint64_t maxStorageBufferRange = 0;
    uint64_t maxMemoryAllocationSize = 0;
    uint32_t maxWorkgroupCount[3] = {0, 0, 0};
    uint32_t maxWorkgroupSize = 0;
    uint32_t minStorageBufferOffsetAlignment = 0;
    /// shaderFloat64 is offered (and then enabled): the error-sum reduction needs it.
    bool shaderFloat64 = false;
};

/// An opened Vulkan device. Create with Device::create(); destroy after every Buffer and
/// DescriptorSet made from it.
class Device {
public:
    /// Open a device. Returns an IoError (never crashes) when there is no Vulkan loader,
    /// driver or device, when the named device does not exist or lacks a compute queue, or
    /// when validation is requested and the layer is missing.
    static Result<std::unique_ptr<Device>> create(const DeviceOptions& options = {});

    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    /// The opened physical device as listDevices() describes it.
    const DeviceInfo& info() const { return m_info; }
    const DeviceLimits& limits() const { return m_limits; }
    const DeviceOptions& options() const { return m_options; }
    /// "vulkan:0 llvmpipe (LLVM 15.0.6, 256 bits)".
    std::string label() const;

    /// A new buffer of `bytes` bytes (> 0) usable as storage and transfer source/destination.
    /// Memory types are tried in the preference order of `use`; an allocation that fails on
    /// one type is retried on the next. `name` labels it for debug tools.
    Result<Buffer> createBuffer(uint64_t bytes, MemoryUse use, std::string_view name);

    /// The pipeline of `shader` specialised with workgroup size `workgroupSize` (constant 0)
    /// followed by `specConstants` (constants 1..n). Built on first use and cached by
    /// (shader name, constants); later calls return the same object. Thread-safe.
    Result<const Pipeline*> pipeline(const ShaderCode& shader, uint32_t workgroupSize,
                                     std::span<const uint32_t> specConstants = {});

    /// A descriptor set binding `buffers` (whole, in binding order) for `pipeline`.
    Result<DescriptorSet> bindBuffers(const Pipeline& pipeline,
                                      std::span<const Buffer* const> buffers);

    /// Record commands with `record`, submit them to the compute queue and wait for the
    /// fence. Returns an error on device loss or timeout. Thread-safe (serialised).
    Status submit(const std::function<void(CommandRecorder&)>& record);

    /// Slots for asynchronous submission (double buffering).
    static constexpr int kAsyncSlots = 2;
    /// Record and submit on slot `slot` (0 or 1) without waiting; first waits for the slot's
    /// previous submission, if any. Serialised with submit().
    Status submitAsync(int slot, const std::function<void(CommandRecorder&)>& record);
    /// Wait for slot `slot`'s submission; a no-op when none is pending. Errors as submit().
    Status waitAsync(int slot);

    /// Write the pipeline cache to pipelineCachePath() now (also done by ~Device). No-op when
    /// persistence is off.
    Status savePipelineCache();
    /// The cache file: <cacheDir>/vulkan-pipelines-<device UUID>-<driver version>.bin.
    const std::string& pipelineCachePath() const { return m_cachePath; }
    /// Whether a valid cache file for this device and driver was loaded at creation.
    bool pipelineCacheLoaded() const { return m_cacheLoaded; }
    /// Number of pipelines built so far.
    size_t pipelineCount() const;

    /// Whether the validation layer is on (by option or environment).
    bool validationEnabled() const { return m_validation; }
    /// Warnings and errors the validation layer reported so far (empty when it is off).
    /// Loader notices (general-type warnings) are not included.
    std::vector<std::string> validationMessages() const;

private:
    friend class Buffer;
    friend class DescriptorSet;
    struct Layout {
        VkDescriptorSetLayout setLayout = VK_NULL_HANDLE;
        VkPipelineLayout pipelineLayout = VK_NULL_HANDLE;
    };
    using PipelineKey = std::tuple<std::string, uint32_t, std::vector<uint32_t>>;

    Device() = default;
    Status init(const DeviceOptions& options);
    Status createInstance();
    Status pickPhysicalDevice();
    Status createLogicalDevice();
    Status createPipelineCache();
    Result<Layout> layoutFor(uint32_t storageBuffers, uint32_t pushBytes);
    void setName(VkObjectType type, uint64_t handle, std::string_view name) const;
    void destroyBuffer(Buffer& b);
    void freeDescriptorSet(VkDescriptorSet set);
    static VKAPI_ATTR VkBool32 VKAPI_CALL onDebugMessage(
        VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
        const VkDebugUtilsMessengerCallbackDataEXT* data, void* user);

    DeviceOptions m_options;
    DeviceInfo m_info;
    DeviceLimits m_limits;
    VkPhysicalDeviceMemoryProperties m_memory{};
    uint8_t m_uuid[VK_UUID_SIZE] = {};
    uint32_t m_vendorId = 0;
    uint32_t m_deviceId = 0;
    uint32_t m_driverVersion = 0;

    VkInstance m_instance = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT m_messenger = VK_NULL_HANDLE;
    VkPhysicalDevice m_physical = VK_NULL_HANDLE;
    VkDevice m_device = VK_NULL_HANDLE;
    VkQueue m_queue = VK_NULL_HANDLE;
    uint32_t m_queueFamily = 0;
    VkCommandPool m_commandPool = VK_NULL_HANDLE;
    VkCommandBuffer m_commandBuffer = VK_NULL_HANDLE;
    VkFence m_fence = VK_NULL_HANDLE;
    VkCommandBuffer m_asyncCommandBuffers[kAsyncSlots] = {};
    VkFence m_asyncFences[kAsyncSlots] = {};
    bool m_asyncPending[kAsyncSlots] = {};  // guarded by m_submitMutex
    VkDescriptorPool m_descriptorPool = VK_NULL_HANDLE;
    VkPipelineCache m_pipelineCache = VK_NULL_HANDLE;
    PFN_vkSetDebugUtilsObjectNameEXT m_setObjectName = nullptr;

    bool m_validation = false;
    bool m_debugUtils = false;
    bool m_cacheLoaded = false;
    std::string m_cachePath;

    mutable std::mutex m_pipelineMutex;  // guards m_pipelines and m_layouts
    std::map<PipelineKey, std::unique_ptr<Pipeline>> m_pipelines;
    std::map<std::pair<uint32_t, uint32_t>, Layout> m_layouts;
    std::mutex m_submitMutex;      // guards the command buffer, fence and queue
    std::mutex m_descriptorMutex;  // guards m_descriptorPool

    std::atomic<int64_t> m_liveBuffers{0};
    std::atomic<int64_t> m_liveSets{0};

    mutable std::mutex m_messageMutex;
    std::vector<std::string> m_messages;
};

}  // namespace qs::gpu
