// gpu::Device on lavapipe: lifetime (repeated create/destroy, RAII objects), the persisted
// pipeline cache, device selection errors, and a clean run under the validation layer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "formats/type_table.h"
#include "gpu_test_util.h"

namespace qs::gpu::test {
namespace {

using formats::TensorType;

bool validationLayerInstalled() {
    for (const char* dir : {"/usr/share/vulkan/explicit_layer.d", "/etc/vulkan/explicit_layer.d",
                            "/usr/local/share/vulkan/explicit_layer.d"}) {
        if (std::filesystem::exists(std::string(dir) + "/VkLayer_khronos_validation.json")) {
            return true;
        }
    }
    return false;
}

/// A small decode and encode through `be`, so that pipelines, buffers and sets exist.
void exercise(VulkanBackend& be) {
    std::vector<float> x(64 * 32);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 61) - 30) * 0.125f;
    std::vector<uint8_t> q(64 * 34);
    Status s = be.encodeRows(TensorType::Q8_0, x, q, 256, nullptr, "t");
    ASSERT_TRUE(s.ok()) << s.error().what();
    std::vector<float> y(x.size());
    s = be.decodeRows(TensorType::Q8_0, q, y, 256, "t");
    ASSERT_TRUE(s.ok()) << s.error().what();
    EXPECT_NEAR(y[5], x[5], 0.2f);
}

TEST_F(VulkanFixture, CreateAndDestroyRepeatedly) {
    for (int i = 0; i < 5; ++i) {
        VulkanBackend* be = open();  // destroys the previous backend and its device first
        ASSERT_NE(be, nullptr);
        exercise(*be);
        EXPECT_GE(be->device().pipelineCount(), 2u);
    }
    // Devices without a backend, including objects released before the device.
    for (int i = 0; i < 3; ++i) {
        auto dev = Device::create(m_options);
        ASSERT_TRUE(dev.ok()) << dev.error().what();
        auto buf = (*dev)->createBuffer(1000, MemoryUse::Readback, "scratch");
        ASSERT_TRUE(buf.ok()) << buf.error().what();
        EXPECT_NE(buf->mapped(), nullptr);
        Buffer moved = std::move(*buf);
        EXPECT_FALSE(buf->valid());
        EXPECT_TRUE(moved.valid());
        const ShaderCode* sh = findShader(ShaderOp::Decode, TensorType::Q4_0);
        ASSERT_NE(sh, nullptr);
        auto p1 = (*dev)->pipeline(*sh, 64);
        auto p2 = (*dev)->pipeline(*sh, 64);
        auto p3 = (*dev)->pipeline(*sh, 128);
        ASSERT_TRUE(p1.ok() && p2.ok() && p3.ok());
        EXPECT_EQ(*p1, *p2);  // cached by (shader, constants)
        EXPECT_NE(*p1, *p3);
        EXPECT_EQ((*dev)->pipelineCount(), 2u);
        expectValidationClean(**dev);
    }
}

TEST_F(VulkanFixture, PipelineCacheWrittenAndReused) {
    {
        VulkanBackend* be = open();
        ASSERT_NE(be, nullptr);
        EXPECT_FALSE(be->device().pipelineCacheLoaded());  // fresh directory
        exercise(*be);
        const std::filesystem::path path = be->device().pipelineCachePath();
        EXPECT_EQ(path.parent_path(), m_cache.path());
        EXPECT_EQ(path.filename().string().rfind("vulkan-pipelines-", 0), 0u);
        m_backend.reset();  // ~Device saves the cache
        ASSERT_TRUE(std::filesystem::exists(path));
        // At least the 32-byte VkPipelineCacheHeaderVersionOne. lavapipe (Mesa 22.3) stores
        // nothing more; drivers that compile to machine code store the pipelines after it.
        EXPECT_GE(std::filesystem::file_size(path), 32u);
    }
    {
        VulkanBackend* be = open();
        ASSERT_NE(be, nullptr);
        EXPECT_TRUE(be->device().pipelineCacheLoaded());
        exercise(*be);
        const std::string path = be->device().pipelineCachePath();
        m_backend.reset();
        // A corrupt file is ignored, not trusted and not fatal.
        std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a pipeline cache";
    }
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    EXPECT_FALSE(be->device().pipelineCacheLoaded());
    exercise(*be);
}

TEST_F(VulkanFixture, PipelineCacheCanBeDisabled) {
    m_options.persistPipelineCache = false;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    exercise(*be);
    EXPECT_TRUE(be->device().pipelineCachePath().empty());
    m_backend.reset();
    EXPECT_TRUE(std::filesystem::is_empty(m_cache.path()));
}

TEST_F(VulkanFixture, DeviceSelection) {
    m_options.deviceName = "LLVMPIPE";  // case-insensitive substring
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    EXPECT_NE(be->name().find("llvmpipe"), std::string::npos) << be->name();
    EXPECT_EQ(be->name().rfind("vulkan:", 0), 0u);

    DeviceOptions o = m_options;
    o.deviceName = "no such gpu";
    auto bad = Device::create(o);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::BadUsage);
    o.deviceName.clear();
    o.deviceIndex = 99;
    bad = Device::create(o);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::BadUsage);
}

TEST(GpuDeviceNoDriver, MissingDriverIsACleanError) {
    // Point the loader at an ICD manifest that does not exist: creation must fail with an
    // Error, not crash. (setenv affects only this process; restored afterwards.)
    const char* old = std::getenv("VK_DRIVER_FILES");
    const std::string saved = old ? old : "";
    setenv("VK_DRIVER_FILES", "/nonexistent/qs_no_icd.json", 1);
    auto dev = Device::create(DeviceOptions{});
    if (old) {
        setenv("VK_DRIVER_FILES", saved.c_str(), 1);
    } else {
        unsetenv("VK_DRIVER_FILES");
    }
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, ErrorCode::IoError);
    EXPECT_FALSE(dev.error().message.empty());
}

TEST_F(VulkanFixture, CleanUnderValidationLayer) {
    if (!validationLayerInstalled()) {
        GTEST_SKIP() << "VK_LAYER_KHRONOS_validation is not installed (vulkan-validationlayers)";
    }
    m_options.validation = true;
    // Force the chunked path and 2D grids too: those are where descriptor ranges and dispatch
    // sizes could break a limit.
    m_options.maxChunkBytes = 64 << 10;
    m_options.maxWorkgroupsPerDim = 2;
    VulkanBackend* be = open();
    ASSERT_NE(be, nullptr);
    ASSERT_TRUE(be->device().validationEnabled());
    exercise(*be);
    std::vector<uint8_t> q(32 * 4096 / 32 * 18, 0x11);
    std::vector<float> y(32 * 4096);
    ASSERT_TRUE(be->decodeRows(TensorType::Q4_0, q, y, 4096, "v").ok());
    EXPECT_GT(be->lastChunkCount(), 1);
    expectValidationClean(be->device());
    m_backend.reset();  // device destruction is checked too (messages go nowhere after it)
}

TEST_F(VulkanFixture, ValidationMessengerReportsErrors) {
    // Proves that the clean runs above mean something: a deliberately invalid dispatch (more
    // groups than maxComputeWorkGroupCount[0]) must reach validationMessages(). The shader
    // exits at once (nUnits = 0), so the oversized grid costs nothing.
    if (!validationLayerInstalled()) {
        GTEST_SKIP() << "VK_LAYER_KHRONOS_validation is not installed (vulkan-validationlayers)";
    }
    DeviceOptions o = m_options;
    o.validation = true;
    auto dev = Device::create(o);
    ASSERT_TRUE(dev.ok()) << dev.error().what();
    Device& d = **dev;
    auto in = d.createBuffer(64, MemoryUse::DeviceLocal, "in");
    auto out = d.createBuffer(64, MemoryUse::DeviceLocal, "out");
    ASSERT_TRUE(in.ok() && out.ok());
    auto pipe = d.pipeline(*findShader(ShaderOp::Decode, TensorType::Q8_0), 64);
    ASSERT_TRUE(pipe.ok());
    const Buffer* buffers[] = {&*in, &*out};
    auto set = d.bindBuffers(**pipe, buffers);
    ASSERT_TRUE(set.ok());
    const uint32_t push[2] = {0, 0};
    const uint32_t tooMany = d.limits().maxWorkgroupCount[0] + 1;
    ASSERT_TRUE(
        d.submit([&](CommandRecorder& rec) { rec.dispatch(**pipe, *set, push, tooMany, 1); }).ok());
    const auto messages = d.validationMessages();
    ASSERT_FALSE(messages.empty());
    EXPECT_NE(messages.front().find("groupCountX"), std::string::npos) << messages.front();
}

}  // namespace
}  // namespace qs::gpu::test
