#pragma once
// Vulkan device discovery: what `quantscope-cli devices` and the GUI's backend selector show.
// Creating an instance is cheap and side-effect free; no device is opened here.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace qs::gpu {

/// One physical device as the Vulkan loader reports it.
struct DeviceInfo {
    uint32_t index = 0;      ///< position in vkEnumeratePhysicalDevices order
    std::string name;        ///< e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
    std::string type;        ///< "discrete", "integrated", "virtual", "cpu", "other"
    std::string driver;      ///< driver name (VkPhysicalDeviceDriverProperties)
    std::string apiVersion;  ///< "1.3.230"
    uint64_t deviceLocalBytes = 0;
    uint64_t maxStorageBufferRange = 0;
    uint32_t subgroupSize = 0;
    bool shaderFloat16 = false;
    bool shaderInt8 = false;
    bool storageBuffer16Bit = false;
    bool storageBuffer8Bit = false;
};

/// Enumerate Vulkan devices. An error (no loader, no driver: VK_ERROR_INCOMPATIBLE_DRIVER) is a
/// normal outcome, reported with the Vulkan result code; callers fall back to the CPU.
Result<std::vector<DeviceInfo>> listDevices();

/// Order of preference used when no device is named: discrete > integrated > virtual > cpu.
int devicePreference(const DeviceInfo& d);

}  // namespace qs::gpu
