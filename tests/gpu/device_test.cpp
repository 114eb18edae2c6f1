// Vulkan device discovery on whatever the machine has; CI has Mesa's lavapipe.
#include <gtest/gtest.h>

#include <filesystem>

#include "device_list.h"

namespace {

bool lavapipeInstalled() {
    return std::filesystem::exists("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json");
}

TEST(GpuDevices, FindsLavapipeWhereInstalled) {
    auto devices = qs::gpu::listDevices();
    if (!lavapipeInstalled()) {
        GTEST_SKIP() << "mesa-vulkan-drivers (lavapipe) is not installed on this machine";
    }
    ASSERT_TRUE(devices.ok()) << devices.error().what();
    ASSERT_FALSE(devices->empty());
    bool foundCpu = false;
    for (const auto& d : *devices) {
        EXPECT_FALSE(d.name.empty());
        EXPECT_FALSE(d.apiVersion.empty());
        EXPECT_GT(d.maxStorageBufferRange, 0u);
        EXPECT_GT(d.subgroupSize, 0u);
        if (d.type == "cpu") {
            foundCpu = true;
            // lavapipe's facts the GPU backend relies on (TOOLCHAIN.md §3).
            EXPECT_TRUE(d.shaderFloat16);
            EXPECT_TRUE(d.shaderInt8);
            EXPECT_TRUE(d.storageBuffer16Bit);
            EXPECT_TRUE(d.storageBuffer8Bit);
        }
    }
    EXPECT_TRUE(foundCpu) << "lavapipe installed but no CPU-type Vulkan device enumerated";
}

TEST(GpuDevices, PreferenceOrdersDiscreteFirst) {
    qs::gpu::DeviceInfo a, b, c;
    a.type = "cpu";
    b.type = "discrete";
    c.type = "integrated";
    EXPECT_LT(qs::gpu::devicePreference(b), qs::gpu::devicePreference(c));
    EXPECT_LT(qs::gpu::devicePreference(c), qs::gpu::devicePreference(a));
}

}  // namespace
