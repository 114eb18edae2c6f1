#include "device_list.h"

#include <vulkan/vulkan.h>

#include <memory>

namespace qs::gpu {

namespace {

std::string typeName(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

std::string versionString(uint32_t v) {
    return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) +
           "." + std::to_string(VK_API_VERSION_PATCH(v));
}

struct InstanceDeleter {
    void operator()(VkInstance_T* i) const { vkDestroyInstance(i, nullptr); }
};

}  // namespace

int devicePreference(const DeviceInfo& d) {
    if (d.type == "discrete") return 0;
    if (d.type == "integrated") return 1;
    if (d.type == "virtual") return 2;
    if (d.type == "cpu") return 3;
    return 4;
}

Result<std::vector<DeviceInfo>> listDevices() {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "quantscope";
    app.apiVersion = VK_API_VERSION_1_2;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    VkInstance raw = VK_NULL_HANDLE;
    if (VkResult r = vkCreateInstance(&ci, nullptr, &raw); r != VK_SUCCESS) {
        return makeError(ErrorCode::IoError,
                         "no Vulkan instance (vkCreateInstance returned " + std::to_string(r) +
                             "): is a Vulkan driver installed (e.g. mesa-vulkan-drivers)?");
    }
    std::unique_ptr<VkInstance_T, InstanceDeleter> instance(raw);
    uint32_t count = 0;
    vkEnumeratePhysicalDevices(raw, &count, nullptr);
    std::vector<VkPhysicalDevice> phys(count);
    vkEnumeratePhysicalDevices(raw, &count, phys.data());
    std::vector<DeviceInfo> out;
    for (uint32_t i = 0; i < count; ++i) {
        VkPhysicalDeviceDriverProperties driver{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
        VkPhysicalDeviceSubgroupProperties subgroup{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        subgroup.pNext = &driver;
        VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
        props.pNext = &subgroup;
        vkGetPhysicalDeviceProperties2(phys[i], &props);

        VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
        VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
        f11.pNext = &f12;
        VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
        feats.pNext = &f11;
        vkGetPhysicalDeviceFeatures2(phys[i], &feats);

        VkPhysicalDeviceMemoryProperties mem;
        vkGetPhysicalDeviceMemoryProperties(phys[i], &mem);

        DeviceInfo d;
        d.index = i;
        d.name = props.properties.deviceName;
        d.type = typeName(props.properties.deviceType);
        d.driver = driver.driverName;
        d.apiVersion = versionString(props.properties.apiVersion);
        for (uint32_t h = 0; h < mem.memoryHeapCount; ++h) {
            if (mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
                d.deviceLocalBytes += mem.memoryHeaps[h].size;
            }
        }
        d.maxStorageBufferRange = props.properties.limits.maxStorageBufferRange;
        d.subgroupSize = subgroup.subgroupSize;
        d.shaderFloat16 = f12.shaderFloat16;
        d.shaderInt8 = f12.shaderInt8;
        d.storageBuffer16Bit = f11.storageBuffer16BitAccess;
        d.storageBuffer8Bit = f12.storageBuffer8BitAccess;
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace qs::gpu
