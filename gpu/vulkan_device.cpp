// The Vulkan device: instance, physical and logical device, pipeline cache, validation
// messages. Buffers, pipelines and submission are in vulkan_resources.cpp.

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
#include "vulkan_error.h"

namespace qs::gpu {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

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

}  // namespace

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