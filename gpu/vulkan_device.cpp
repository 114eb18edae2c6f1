#include "vulkan_device.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/assert.h"

namespace qs::gpu {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
// A single submit that takes longer than this is treated as a hung device. Chunks are at most
// a few hundred MiB, which lavapipe processes in well under a second.
constexpr uint64_t kFenceTimeoutNs = 120ull * 1000 * 1000 * 1000;

Error vkError(const std::string& what, VkResult r) {
    return makeError(ErrorCode::IoError, what + " failed (VkResult " + std::to_string(r) + ")");
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

bool envFlag(const char* name) {
    const char* v = std::getenv(name);
    return v && (std::strcmp(v, "1") == 0 || lower(v) == "true" || lower(v) == "on");
}

std::string hex(const uint8_t* bytes, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += digits[bytes[i] >> 4];
        s += digits[bytes[i] & 15];
    }
    return s;
}

std::string defaultCacheDir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
        return std::string(xdg) + "/quantscope";
    }
    if (const char* home = std::getenv("HOME"); home && *home) {
        return std::string(home) + "/.cache/quantscope";
    }
    return {};
}

/// Memory property sets to try, best first, for each use.
std::vector<VkMemoryPropertyFlags> memoryPreferences(MemoryUse use) {
    constexpr VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    constexpr VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    constexpr VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    constexpr VkMemoryPropertyFlags cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    switch (use) {
    case MemoryUse::DeviceLocal: return {local, 0};
    case MemoryUse::Upload: return {visible | coherent, visible};
    case MemoryUse::Readback:
        return {visible | cached | coherent, visible | cached, visible | coherent, visible};
    }
    return {0};
}

}  // namespace

// ==========================================================================================
// Buffer
// ==========================================================================================

Buffer::Buffer(Buffer&& other) noexcept {
    *this = std::move(other);
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
    if (this != &other) {
        release();
        m_device = std::exchange(other.m_device, nullptr);
        m_buffer = std::exchange(other.m_buffer, VK_NULL_HANDLE);
        m_memory = std::exchange(other.m_memory, VK_NULL_HANDLE);
        m_size = std::exchange(other.m_size, 0);
        m_mapped = std::exchange(other.m_mapped, nullptr);
        m_coherent = std::exchange(other.m_coherent, true);
    }
    return *this;
}

Buffer::~Buffer() {
    release();
}

void Buffer::release() {
    if (m_device) m_device->destroyBuffer(*this);
    m_device = nullptr;
}

Status Buffer::flush() const {
    if (!needsFlush()) return {};
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = m_memory;
    range.size = VK_WHOLE_SIZE;
    if (VkResult r = vkFlushMappedMemoryRanges(m_device->m_device, 1, &range); r != VK_SUCCESS) {
        return vkError("vkFlushMappedMemoryRanges", r);
    }
    return {};
}

Status Buffer::invalidate() const {
    if (!needsFlush()) return {};
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = m_memory;
    range.size = VK_WHOLE_SIZE;
    if (VkResult r = vkInvalidateMappedMemoryRanges(m_device->m_device, 1, &range);
        r != VK_SUCCESS) {
        return vkError("vkInvalidateMappedMemoryRanges", r);
    }
    return {};
}

// ==========================================================================================
// DescriptorSet
// ==========================================================================================

DescriptorSet::DescriptorSet(DescriptorSet&& other) noexcept {
    *this = std::move(other);
}

DescriptorSet& DescriptorSet::operator=(DescriptorSet&& other) noexcept {
    if (this != &other) {
        release();
        m_device = std::exchange(other.m_device, nullptr);
        m_set = std::exchange(other.m_set, VK_NULL_HANDLE);
    }
    return *this;
}

DescriptorSet::~DescriptorSet() {
    release();
}

void DescriptorSet::release() {
    if (m_device && m_set != VK_NULL_HANDLE) m_device->freeDescriptorSet(m_set);
    m_device = nullptr;
    m_set = VK_NULL_HANDLE;
}

// ==========================================================================================
// CommandRecorder
// ==========================================================================================

void CommandRecorder::dispatch(const Pipeline& pipeline, const DescriptorSet& set, const void* push,
                               uint32_t groupsX, uint32_t groupsY) {
    vkCmdBindPipeline(m_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
    VkDescriptorSet s = set.handle();
    vkCmdBindDescriptorSets(m_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &s, 0,
                            nullptr);
    if (pipeline.pushConstantBytes > 0) {
        vkCmdPushConstants(m_cmd, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                           pipeline.pushConstantBytes, push);
    }
    vkCmdDispatch(m_cmd, groupsX, groupsY, 1);
}

void CommandRecorder::copy(const Buffer& src, const Buffer& dst, uint64_t bytes) {
    VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(m_cmd, src.handle(), dst.handle(), 1, &region);
}

void CommandRecorder::barrier() {
    VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                      VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                      VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(m_cmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                             VK_PIPELINE_STAGE_HOST_BIT,
                         0, 1, &b, 0, nullptr, 0, nullptr);
}

// ==========================================================================================
// Device: creation
// ==========================================================================================

Result<std::unique_ptr<Device>> Device::create(const DeviceOptions& options) {
    std::unique_ptr<Device> d(new Device());
    // On failure the partly built Device is destroyed here, releasing what init() created.
    if (Status s = d->init(options); !s) return s.error();
    return d;
}

Status Device::init(const DeviceOptions& options) {
    m_options = options;
    m_options.workgroupSize = std::max<uint32_t>(1, m_options.workgroupSize);
    m_validation = options.validation || envFlag("QS_VULKAN_VALIDATION");
    QS_TRY(createInstance());
    QS_TRY(pickPhysicalDevice());
    QS_TRY(createLogicalDevice());
    QS_TRY(createPipelineCache());
    return {};
}

Status Device::createInstance() {
    uint32_t extCount = 0;
    if (VkResult r = vkEnumerateInstanceExtensionProperties(nullptr, &extCount, nullptr);
        r != VK_SUCCESS) {
        return vkError("no Vulkan loader or driver: vkEnumerateInstanceExtensionProperties", r);
    }
    std::vector<VkExtensionProperties> exts(extCount);
    vkEnumerateInstanceExtensionProperties(nullptr, &extCount, exts.data());
    auto hasExt = [&](const char* name) {
        return std::any_of(exts.begin(), exts.end(), [&](const VkExtensionProperties& e) {
            return std::strcmp(e.extensionName, name) == 0;
        });
    };

    std::vector<const char*> layers;
    if (m_validation) {
        uint32_t layerCount = 0;
        vkEnumerateInstanceLayerProperties(&layerCount, nullptr);
        std::vector<VkLayerProperties> props(layerCount);
        vkEnumerateInstanceLayerProperties(&layerCount, props.data());
        const bool found = std::any_of(props.begin(), props.end(), [](const VkLayerProperties& p) {
            return std::strcmp(p.layerName, kValidationLayer) == 0;
        });
        if (!found) {
            return makeError(ErrorCode::IoError,
                             std::string("Vulkan validation requested but ") + kValidationLayer +
                                 " is not installed (apt-get install vulkan-validationlayers)");
        }
        layers.push_back(kValidationLayer);
    }
    // debug_utils gives object names (always useful in a debugger or capture tool) and, with
    // validation, the messenger. The loader provides it whenever a layer or driver does.
    std::vector<const char*> extensions;
    m_debugUtils = hasExt(VK_EXT_DEBUG_UTILS_EXTENSION_NAME) || m_validation;
    if (m_debugUtils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);

    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "quantscope";
    app.apiVersion = VK_API_VERSION_1_2;

    VkDebugUtilsMessengerCreateInfoEXT messenger{
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    messenger.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    messenger.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    messenger.pfnUserCallback = &Device::onDebugMessage;
    messenger.pUserData = this;

    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ci.enabledLayerCount = uint32_t(layers.size());
    ci.ppEnabledLayerNames = layers.data();
    ci.enabledExtensionCount = uint32_t(extensions.size());
    ci.ppEnabledExtensionNames = extensions.data();
    // Chained here, the messenger also sees vkCreateInstance / vkDestroyInstance themselves.
    if (m_validation) ci.pNext = &messenger;
    if (VkResult r = vkCreateInstance(&ci, nullptr, &m_instance); r != VK_SUCCESS) {
        m_instance = VK_NULL_HANDLE;
        return vkError(
            "no Vulkan instance: is a Vulkan driver installed (e.g. "
            "mesa-vulkan-drivers)? vkCreateInstance",
            r);
    }
    if (m_validation) {
        auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(m_instance, "vkCreateDebugUtilsMessengerEXT"));
        if (!create || create(m_instance, &messenger, nullptr, &m_messenger) != VK_SUCCESS) {
            return makeError(ErrorCode::IoError, "cannot create the Vulkan debug messenger");
        }
    }
    return {};
}

Status Device::pickPhysicalDevice() {
    uint32_t count = 0;
    if (VkResult r = vkEnumeratePhysicalDevices(m_instance, &count, nullptr); r != VK_SUCCESS) {
        return vkError("vkEnumeratePhysicalDevices", r);
    }
    if (count == 0) return makeError(ErrorCode::IoError, "no Vulkan device found");
    std::vector<VkPhysicalDevice> phys(count);
    vkEnumeratePhysicalDevices(m_instance, &count, phys.data());
    auto devices = listDevices();
    if (!devices) return devices.error();
    if (devices->size() != count) {
        return makeError(ErrorCode::Internal, "Vulkan device list changed during enumeration");
    }

    int index = m_options.deviceIndex;
    std::string name = m_options.deviceName;
    if (index < 0 && name.empty()) {
        if (const char* env = std::getenv("QS_VULKAN_DEVICE"); env && *env) {
            const std::string v = env;
            if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
                index = std::atoi(env);
            } else {
                name = v;
            }
        }
    }
    int chosen = -1;
    if (index >= 0) {
        if (index >= int(count)) {
            return makeError(ErrorCode::BadUsage, "Vulkan device index " + std::to_string(index) +
                                                      " does not exist (" + std::to_string(count) +
                                                      " devices)");
        }
        chosen = index;
    } else if (!name.empty()) {
        for (uint32_t i = 0; i < count && chosen < 0; ++i) {
            if (lower((*devices)[i].name).find(lower(name)) != std::string::npos) {
                chosen = int(i);
            }
        }
        if (chosen < 0) {
            return makeError(ErrorCode::BadUsage, "no Vulkan device matches '" + name + "'");
        }
    } else {
        for (uint32_t i = 0; i < count; ++i) {
            if (chosen < 0 ||
                devicePreference((*devices)[i]) < devicePreference((*devices)[size_t(chosen)])) {
                chosen = int(i);
            }
        }
    }
    m_physical = phys[size_t(chosen)];
    m_info = (*devices)[size_t(chosen)];

    VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    VkPhysicalDeviceMaintenance3Properties m3{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    props.pNext = &ids;
    ids.pNext = &m3;
    vkGetPhysicalDeviceProperties2(m_physical, &props);
    if (props.properties.apiVersion < VK_API_VERSION_1_2) {
        return makeError(ErrorCode::IoError, "Vulkan device '" + m_info.name +
                                                 "' supports only Vulkan " + m_info.apiVersion +
                                                 "; 1.2 is required");
    }
    const VkPhysicalDeviceLimits& l = props.properties.limits;
    m_limits.maxStorageBufferRange = l.maxStorageBufferRange;
    m_limits.maxMemoryAllocationSize = m3.maxMemoryAllocationSize;
    for (int i = 0; i < 3; ++i) m_limits.maxWorkgroupCount[i] = l.maxComputeWorkGroupCount[i];
    m_limits.maxWorkgroupSize =
        std::min(l.maxComputeWorkGroupSize[0], l.maxComputeWorkGroupInvocations);
    m_limits.minStorageBufferOffsetAlignment = uint32_t(l.minStorageBufferOffsetAlignment);
    std::memcpy(m_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);
    m_vendorId = props.properties.vendorID;
    m_deviceId = props.properties.deviceID;
    m_driverVersion = props.properties.driverVersion;
    vkGetPhysicalDeviceMemoryProperties(m_physical, &m_memory);
    if (m_options.workgroupSize > m_limits.maxWorkgroupSize) {
        m_options.workgroupSize = m_limits.maxWorkgroupSize;
    }

    uint32_t familyCount = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(m_physical, &familyCount, nullptr);
    std::vector<VkQueueFamilyProperties> families(familyCount);
    vkGetPhysicalDeviceQueueFamilyProperties(m_physical, &familyCount, families.data());
    // Prefer a compute queue without graphics (async compute on discrete GPUs), else any.
    int family = -1;
    for (uint32_t i = 0; i < familyCount; ++i) {
        const VkQueueFlags f = families[i].queueFlags;
        if (!(f & VK_QUEUE_COMPUTE_BIT)) continue;
        if (family < 0 || !(f & VK_QUEUE_GRAPHICS_BIT)) family = int(i);
    }
    if (family < 0) {
        return makeError(ErrorCode::IoError,
                         "Vulkan device '" + m_info.name + "' has no compute queue");
    }
    m_queueFamily = uint32_t(family);
    return {};
}

Status Device::createLogicalDevice() {
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo q{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    q.queueFamilyIndex = m_queueFamily;
    q.queueCount = 1;
    q.pQueuePriorities = &priority;
    // The codecs address bytes inside uint words, so they need no optional feature; the
    // error-sum reduction accumulates in double, so shaderFloat64 is enabled where offered
    // (without it that reduction stays on the CPU).
    VkPhysicalDeviceFeatures offered{};
    vkGetPhysicalDeviceFeatures(m_physical, &offered);
    VkPhysicalDeviceFeatures enabled{};
    enabled.shaderFloat64 = offered.shaderFloat64;
    m_limits.shaderFloat64 = offered.shaderFloat64 == VK_TRUE;
    VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    ci.queueCreateInfoCount = 1;
    ci.pQueueCreateInfos = &q;
    ci.pEnabledFeatures = &enabled;
    if (VkResult r = vkCreateDevice(m_physical, &ci, nullptr, &m_device); r != VK_SUCCESS) {
        m_device = VK_NULL_HANDLE;
        return vkError("vkCreateDevice", r);
    }
    vkGetDeviceQueue(m_device, m_queueFamily, 0, &m_queue);
    if (m_debugUtils) {
        m_setObjectName = reinterpret_cast<PFN_vkSetDebugUtilsObjectNameEXT>(
            vkGetInstanceProcAddr(m_instance, "vkSetDebugUtilsObjectNameEXT"));
    }

    VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool.queueFamilyIndex = m_queueFamily;
    if (VkResult r = vkCreateCommandPool(m_device, &pool, nullptr, &m_commandPool);
        r != VK_SUCCESS) {
        return vkError("vkCreateCommandPool", r);
    }
    VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    alloc.commandPool = m_commandPool;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    if (VkResult r = vkAllocateCommandBuffers(m_device, &alloc, &m_commandBuffer);
        r != VK_SUCCESS) {
        return vkError("vkAllocateCommandBuffers", r);
    }
    VkFenceCreateInfo fence{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (VkResult r = vkCreateFence(m_device, &fence, nullptr, &m_fence); r != VK_SUCCESS) {
        return vkError("vkCreateFence", r);
    }
    alloc.commandBufferCount = kAsyncSlots;
    if (VkResult r = vkAllocateCommandBuffers(m_device, &alloc, m_asyncCommandBuffers);
        r != VK_SUCCESS) {
        return vkError("vkAllocateCommandBuffers", r);
    }
    for (int i = 0; i < kAsyncSlots; ++i) {
        if (VkResult r = vkCreateFence(m_device, &fence, nullptr, &m_asyncFences[i]);
            r != VK_SUCCESS) {
            return vkError("vkCreateFence", r);
        }
        setName(VK_OBJECT_TYPE_FENCE, uint64_t(m_asyncFences[i]),
                i == 0 ? "qs async fence 0" : "qs async fence 1");
    }

    // Sets are few (one per bound buffer pair) and long-lived; 64 is plenty.
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 256};
    VkDescriptorPoolCreateInfo dp{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dp.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
    dp.maxSets = 64;
    dp.poolSizeCount = 1;
    dp.pPoolSizes = &size;
    if (VkResult r = vkCreateDescriptorPool(m_device, &dp, nullptr, &m_descriptorPool);
        r != VK_SUCCESS) {
        return vkError("vkCreateDescriptorPool", r);
    }
    setName(VK_OBJECT_TYPE_COMMAND_POOL, uint64_t(m_commandPool), "qs command pool");
    setName(VK_OBJECT_TYPE_FENCE, uint64_t(m_fence), "qs submit fence");
    setName(VK_OBJECT_TYPE_DESCRIPTOR_POOL, uint64_t(m_descriptorPool), "qs descriptor pool");
    return {};
}

Status Device::createPipelineCache() {
    std::vector<char> data;
    if (m_options.persistPipelineCache) {
        const std::string dir = m_options.cacheDir.empty() ? defaultCacheDir() : m_options.cacheDir;
        if (!dir.empty()) {
            m_cachePath = dir + "/vulkan-pipelines-" + hex(m_uuid, VK_UUID_SIZE) + "-" +
                          std::to_string(m_driverVersion) + ".bin";
            std::ifstream in(m_cachePath, std::ios::binary);
            if (in) data.assign(std::istreambuf_iterator<char>(in), {});
        }
    }
    // The file name already carries the UUID and driver version; still check the header the
    // driver wrote, so that a truncated or foreign file is dropped here rather than trusted to
    // the driver's own checks.
    if (!data.empty()) {
        VkPipelineCacheHeaderVersionOne h{};
        bool valid = data.size() >= sizeof(h);
        if (valid) {
            std::memcpy(&h, data.data(), sizeof(h));
            valid = h.headerSize >= sizeof(h) && h.headerSize <= data.size() &&
                    h.headerVersion == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
                    h.vendorID == m_vendorId && h.deviceID == m_deviceId &&
                    std::memcmp(h.pipelineCacheUUID, m_uuid, VK_UUID_SIZE) == 0;
        }
        if (!valid) data.clear();
    }
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = data.size();
    ci.pInitialData = data.empty() ? nullptr : data.data();
    VkResult r = vkCreatePipelineCache(m_device, &ci, nullptr, &m_pipelineCache);
    if (r != VK_SUCCESS && !data.empty()) {  // the driver rejected the data: start empty
        ci.initialDataSize = 0;
        ci.pInitialData = nullptr;
        data.clear();
        r = vkCreatePipelineCache(m_device, &ci, nullptr, &m_pipelineCache);
    }
    if (r != VK_SUCCESS) return vkError("vkCreatePipelineCache", r);
    m_cacheLoaded = !data.empty();
    setName(VK_OBJECT_TYPE_PIPELINE_CACHE, uint64_t(m_pipelineCache), "qs pipeline cache");
    return {};
}

// ==========================================================================================
// Device: destruction
// ==========================================================================================

Device::~Device() {
    // Buffers and descriptor sets refer back to us; outliving them is a programmer error.
    QS_ASSERT(m_liveBuffers.load() == 0);
    QS_ASSERT(m_liveSets.load() == 0);
    if (m_device != VK_NULL_HANDLE) {
        vkDeviceWaitIdle(m_device);
        (void)savePipelineCache();  // best effort: a read-only cache dir is not an error
        for (auto& [key, p] : m_pipelines) vkDestroyPipeline(m_device, p->pipeline, nullptr);
        m_pipelines.clear();
        for (auto& [key, l] : m_layouts) {
            vkDestroyPipelineLayout(m_device, l.pipelineLayout, nullptr);
            vkDestroyDescriptorSetLayout(m_device, l.setLayout, nullptr);
        }
        m_layouts.clear();
        if (m_pipelineCache) vkDestroyPipelineCache(m_device, m_pipelineCache, nullptr);
        if (m_descriptorPool) vkDestroyDescriptorPool(m_device, m_descriptorPool, nullptr);
        if (m_fence) vkDestroyFence(m_device, m_fence, nullptr);
        for (VkFence f : m_asyncFences) {
            if (f) vkDestroyFence(m_device, f, nullptr);
        }
        if (m_commandPool) vkDestroyCommandPool(m_device, m_commandPool, nullptr);
        vkDestroyDevice(m_device, nullptr);
    }
    if (m_messenger != VK_NULL_HANDLE) {
        auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(m_instance, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy) destroy(m_instance, m_messenger, nullptr);
    }
    if (m_instance != VK_NULL_HANDLE) vkDestroyInstance(m_instance, nullptr);
}

Status Device::savePipelineCache() {
    if (m_cachePath.empty() || m_pipelineCache == VK_NULL_HANDLE) return {};
    size_t size = 0;
    if (VkResult r = vkGetPipelineCacheData(m_device, m_pipelineCache, &size, nullptr);
        r != VK_SUCCESS) {
        return vkError("vkGetPipelineCacheData", r);
    }
    std::vector<char> data(size);
    if (VkResult r = vkGetPipelineCacheData(m_device, m_pipelineCache, &size, data.data());
        r != VK_SUCCESS && r != VK_INCOMPLETE) {
        return vkError("vkGetPipelineCacheData", r);
    }
    data.resize(size);
    if (data.empty()) return {};
    // Write a temp file next to the target and rename it over, so that a crash or a second
    // process never leaves a half-written cache behind.
    std::error_code ec;
    const std::filesystem::path path(m_cachePath);
    std::filesystem::create_directories(path.parent_path(), ec);
    const std::string tmp = m_cachePath + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(data.data(), std::streamsize(data.size()));
        if (!out) {
            std::filesystem::remove(tmp, ec);
            return makeError(ErrorCode::IoError, "cannot write the pipeline cache", tmp);
        }
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        return makeError(ErrorCode::IoError, "cannot rename the pipeline cache into place",
                         m_cachePath);
    }
    return {};
}

// ==========================================================================================
// Device: objects
// ==========================================================================================

std::string Device::label() const {
    return "vulkan:" + std::to_string(m_info.index) + " " + m_info.name;
}

void Device::setName(VkObjectType type, uint64_t handle, std::string_view name) const {
    if (!m_setObjectName || handle == 0) return;
    const std::string n(name);
    VkDebugUtilsObjectNameInfoEXT info{VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
    info.objectType = type;
    info.objectHandle = handle;
    info.pObjectName = n.c_str();
    m_setObjectName(m_device, &info);
}

Result<Buffer> Device::createBuffer(uint64_t bytes, MemoryUse use, std::string_view name) {
    if (bytes == 0) return makeError(ErrorCode::Internal, "zero-sized Vulkan buffer requested");
    Buffer b;
    VkBufferCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    ci.size = bytes;
    ci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    if (VkResult r = vkCreateBuffer(m_device, &ci, nullptr, &b.m_buffer); r != VK_SUCCESS) {
        return vkError("vkCreateBuffer (" + std::to_string(bytes) + " bytes)", r);
    }
    b.m_device = this;  // from here on ~Buffer releases what exists
    b.m_size = bytes;
    ++m_liveBuffers;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(m_device, b.m_buffer, &req);

    VkResult last = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    uint32_t type = UINT32_MAX;
    for (VkMemoryPropertyFlags want : memoryPreferences(use)) {
        for (uint32_t i = 0; i < m_memory.memoryTypeCount && b.m_memory == VK_NULL_HANDLE; ++i) {
            if (!(req.memoryTypeBits & (1u << i))) continue;
            if ((m_memory.memoryTypes[i].propertyFlags & want) != want) continue;
            VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
            ai.allocationSize = req.size;
            ai.memoryTypeIndex = i;
            last = vkAllocateMemory(m_device, &ai, nullptr, &b.m_memory);
            if (last == VK_SUCCESS) {
                type = i;
            } else {
                b.m_memory = VK_NULL_HANDLE;  // out of memory on this type: try the next one
            }
        }
        if (b.m_memory != VK_NULL_HANDLE) break;
    }
    if (b.m_memory == VK_NULL_HANDLE) {
        return vkError("vkAllocateMemory (" + std::to_string(req.size) + " bytes)", last);
    }
    if (VkResult r = vkBindBufferMemory(m_device, b.m_buffer, b.m_memory, 0); r != VK_SUCCESS) {
        return vkError("vkBindBufferMemory", r);
    }
    const VkMemoryPropertyFlags flags = m_memory.memoryTypes[type].propertyFlags;
    if (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        void* p = nullptr;
        if (VkResult r = vkMapMemory(m_device, b.m_memory, 0, VK_WHOLE_SIZE, 0, &p);
            r != VK_SUCCESS) {
            return vkError("vkMapMemory", r);
        }
        b.m_mapped = static_cast<uint8_t*>(p);
        b.m_coherent = (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    }
    setName(VK_OBJECT_TYPE_BUFFER, uint64_t(b.m_buffer), name);
    setName(VK_OBJECT_TYPE_DEVICE_MEMORY, uint64_t(b.m_memory), name);
    return b;
}

void Device::destroyBuffer(Buffer& b) {
    if (b.m_mapped) vkUnmapMemory(m_device, b.m_memory);
    if (b.m_buffer != VK_NULL_HANDLE) vkDestroyBuffer(m_device, b.m_buffer, nullptr);
    if (b.m_memory != VK_NULL_HANDLE) vkFreeMemory(m_device, b.m_memory, nullptr);
    b.m_buffer = VK_NULL_HANDLE;
    b.m_memory = VK_NULL_HANDLE;
    b.m_mapped = nullptr;
    b.m_size = 0;
    --m_liveBuffers;
}

Result<Device::Layout> Device::layoutFor(uint32_t storageBuffers, uint32_t pushBytes) {
    // Called with m_pipelineMutex held.
    const auto key = std::make_pair(storageBuffers, pushBytes);
    if (auto it = m_layouts.find(key); it != m_layouts.end()) return it->second;
    std::vector<VkDescriptorSetLayoutBinding> bindings(storageBuffers);
    for (uint32_t i = 0; i < storageBuffers; ++i) {
        bindings[i].binding = i;
        bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        bindings[i].descriptorCount = 1;
        bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    Layout l;
    VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dl.bindingCount = storageBuffers;
    dl.pBindings = bindings.data();
    if (VkResult r = vkCreateDescriptorSetLayout(m_device, &dl, nullptr, &l.setLayout);
        r != VK_SUCCESS) {
        return vkError("vkCreateDescriptorSetLayout", r);
    }
    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, pushBytes};
    VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &l.setLayout;
    pl.pushConstantRangeCount = pushBytes > 0 ? 1 : 0;
    pl.pPushConstantRanges = &range;
    if (VkResult r = vkCreatePipelineLayout(m_device, &pl, nullptr, &l.pipelineLayout);
        r != VK_SUCCESS) {
        vkDestroyDescriptorSetLayout(m_device, l.setLayout, nullptr);
        return vkError("vkCreatePipelineLayout", r);
    }
    m_layouts.emplace(key, l);
    return l;
}

Result<const Pipeline*> Device::pipeline(const ShaderCode& shader, uint32_t workgroupSize,
                                         std::span<const uint32_t> specConstants) {
    std::lock_guard lock(m_pipelineMutex);
    PipelineKey key{std::string(shader.name), workgroupSize,
                    std::vector<uint32_t>(specConstants.begin(), specConstants.end())};
    if (auto it = m_pipelines.find(key); it != m_pipelines.end()) return it->second.get();

    auto layout = layoutFor(shader.storageBuffers, shader.pushConstantBytes);
    if (!layout) return layout.error();

    VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = shader.spirv.size_bytes();
    mi.pCode = shader.spirv.data();
    VkShaderModule module = VK_NULL_HANDLE;
    if (VkResult r = vkCreateShaderModule(m_device, &mi, nullptr, &module); r != VK_SUCCESS) {
        return vkError("vkCreateShaderModule(" + std::string(shader.name) + ")", r);
    }

    std::vector<uint32_t> values{workgroupSize};
    values.insert(values.end(), specConstants.begin(), specConstants.end());
    std::vector<VkSpecializationMapEntry> entries(values.size());
    for (uint32_t i = 0; i < values.size(); ++i) {
        entries[i] = VkSpecializationMapEntry{i, i * 4u, 4};
    }
    VkSpecializationInfo spec{uint32_t(entries.size()), entries.data(), values.size() * 4u,
                              values.data()};
    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = module;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = &spec;
    ci.layout = layout->pipelineLayout;
    auto p = std::make_unique<Pipeline>();
    VkResult r = vkCreateComputePipelines(m_device, m_pipelineCache, 1, &ci, nullptr, &p->pipeline);
    // The module is only needed while the pipeline is created.
    vkDestroyShaderModule(m_device, module, nullptr);
    if (r != VK_SUCCESS) {
        return vkError("vkCreateComputePipelines(" + std::string(shader.name) + ")", r);
    }
    p->layout = layout->pipelineLayout;
    p->setLayout = layout->setLayout;
    p->storageBuffers = shader.storageBuffers;
    p->pushConstantBytes = shader.pushConstantBytes;
    p->workgroupSize = workgroupSize;
    setName(VK_OBJECT_TYPE_PIPELINE, uint64_t(p->pipeline), shader.name);
    const Pipeline* out = p.get();
    m_pipelines.emplace(std::move(key), std::move(p));
    return out;
}

size_t Device::pipelineCount() const {
    std::lock_guard lock(m_pipelineMutex);
    return m_pipelines.size();
}

Result<DescriptorSet> Device::bindBuffers(const Pipeline& pipeline,
                                          std::span<const Buffer* const> buffers) {
    if (buffers.size() != pipeline.storageBuffers) {
        return makeError(ErrorCode::Internal, "descriptor set: wrong number of buffers");
    }
    DescriptorSet set;
    {
        std::lock_guard lock(m_descriptorMutex);
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        ai.descriptorPool = m_descriptorPool;
        ai.descriptorSetCount = 1;
        ai.pSetLayouts = &pipeline.setLayout;
        if (VkResult r = vkAllocateDescriptorSets(m_device, &ai, &set.m_set); r != VK_SUCCESS) {
            return vkError("vkAllocateDescriptorSets", r);
        }
    }
    set.m_device = this;
    ++m_liveSets;
    std::vector<VkDescriptorBufferInfo> infos(buffers.size());
    std::vector<VkWriteDescriptorSet> writes(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
        // Whole buffers; callers keep each at or below maxStorageBufferRange.
        infos[i] = VkDescriptorBufferInfo{buffers[i]->handle(), 0, buffers[i]->size()};
        writes[i] = VkWriteDescriptorSet{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set.m_set;
        writes[i].dstBinding = uint32_t(i);
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(m_device, uint32_t(writes.size()), writes.data(), 0, nullptr);
    return set;
}

void Device::freeDescriptorSet(VkDescriptorSet set) {
    std::lock_guard lock(m_descriptorMutex);
    vkFreeDescriptorSets(m_device, m_descriptorPool, 1, &set);
    --m_liveSets;
}

Status Device::submit(const std::function<void(CommandRecorder&)>& record) {
    std::lock_guard lock(m_submitMutex);
    if (VkResult r = vkResetCommandBuffer(m_commandBuffer, 0); r != VK_SUCCESS) {
        return vkError("vkResetCommandBuffer", r);
    }
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    if (VkResult r = vkBeginCommandBuffer(m_commandBuffer, &bi); r != VK_SUCCESS) {
        return vkError("vkBeginCommandBuffer", r);
    }
    CommandRecorder rec(m_commandBuffer);
    record(rec);
    if (VkResult r = vkEndCommandBuffer(m_commandBuffer); r != VK_SUCCESS) {
        return vkError("vkEndCommandBuffer", r);
    }
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &m_commandBuffer;
    if (VkResult r = vkResetFences(m_device, 1, &m_fence); r != VK_SUCCESS) {
        return vkError("vkResetFences", r);
    }
    if (VkResult r = vkQueueSubmit(m_queue, 1, &si, m_fence); r != VK_SUCCESS) {
        return vkError("vkQueueSubmit", r);
    }
    if (VkResult r = vkWaitForFences(m_device, 1, &m_fence, VK_TRUE, kFenceTimeoutNs);
        r != VK_SUCCESS) {
        if (r == VK_TIMEOUT) vkDeviceWaitIdle(m_device);  // never leave work in flight
        return vkError(r == VK_TIMEOUT ? "GPU work timed out: vkWaitForFences" : "vkWaitForFences",
                       r);
    }
    return {};
}

namespace {

/// Waits for `fence` with the submit timeout; on timeout the device is drained first.
Status waitFence(VkDevice device, VkFence fence, uint64_t timeoutNs) {
    if (VkResult r = vkWaitForFences(device, 1, &fence, VK_TRUE, timeoutNs); r != VK_SUCCESS) {
        if (r == VK_TIMEOUT) vkDeviceWaitIdle(device);  // never leave work in flight
        return makeError(ErrorCode::IoError,
                         std::string(r == VK_TIMEOUT ? "GPU work timed out: vkWaitForFences"
                                                     : "vkWaitForFences") +
                             " failed (VkResult " + std::to_string(int(r)) + ")");
    }
    return {};
}

}  // namespace

Status Device::submitAsync(int slot, const std::function<void(CommandRecorder&)>& record) {
    QS_ASSERT(slot >= 0 && slot < kAsyncSlots);
    std::lock_guard lock(m_submitMutex);
    if (m_asyncPending[slot]) {
        m_asyncPending[slot] = false;
        QS_TRY(waitFence(m_device, m_asyncFences[slot], kFenceTimeoutNs));
    }
    VkCommandBuffer cmd = m_asyncCommandBuffers[slot];
    if (VkResult r = vkResetCommandBuffer(cmd, 0); r != VK_SUCCESS) {
        return vkError("vkResetCommandBuffer", r);
    }
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    if (VkResult r = vkBeginCommandBuffer(cmd, &bi); r != VK_SUCCESS) {
        return vkError("vkBeginCommandBuffer", r);
    }
    CommandRecorder rec(cmd);
    record(rec);
    if (VkResult r = vkEndCommandBuffer(cmd); r != VK_SUCCESS) {
        return vkError("vkEndCommandBuffer", r);
    }
    if (VkResult r = vkResetFences(m_device, 1, &m_asyncFences[slot]); r != VK_SUCCESS) {
        return vkError("vkResetFences", r);
    }
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    if (VkResult r = vkQueueSubmit(m_queue, 1, &si, m_asyncFences[slot]); r != VK_SUCCESS) {
        return vkError("vkQueueSubmit", r);
    }
    m_asyncPending[slot] = true;
    return {};
}

Status Device::waitAsync(int slot) {
    QS_ASSERT(slot >= 0 && slot < kAsyncSlots);
    std::lock_guard lock(m_submitMutex);
    if (!m_asyncPending[slot]) return {};
    m_asyncPending[slot] = false;
    return waitFence(m_device, m_asyncFences[slot], kFenceTimeoutNs);
}

// ==========================================================================================
// Device: validation messages
// ==========================================================================================

VKAPI_ATTR VkBool32 VKAPI_CALL Device::onDebugMessage(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    // General-type warnings come from the loader (e.g. "env var VK_INSTANCE_LAYERS defined
    // and adding layers"): informative, not a misuse of the API. Keep their errors only.
    const bool general = !(types & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT));
    if (general && !(severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) return VK_FALSE;
    auto* self = static_cast<Device*>(user);
    std::string msg =
        (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error: " : "warning: ";
    msg += data && data->pMessage ? data->pMessage : "(no message)";
    std::lock_guard lock(self->m_messageMutex);
    self->m_messages.push_back(std::move(msg));
    return VK_FALSE;  // never abort the call that triggered the message
}

std::vector<std::string> Device::validationMessages() const {
    std::lock_guard lock(m_messageMutex);
    return m_messages;
}

}  // namespace qs::gpu
