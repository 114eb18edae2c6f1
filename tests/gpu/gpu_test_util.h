#pragma once
// Helpers shared by the Vulkan tests: lavapipe detection, golden-file loading and a fixture
// that opens a VulkanBackend (failing, not skipping, when lavapipe is installed but does not
// open) and checks the validation layer's messages after every test.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "vulkan_backend.h"

namespace qs::gpu::test {

inline bool lavapipeInstalled() {
    return std::filesystem::exists("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json");
}

inline std::vector<uint8_t> readBytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<float> readFloats(const std::filesystem::path& p) {
    const std::vector<uint8_t> b = readBytes(p);
    std::vector<float> f(b.size() / sizeof(float));
    std::memcpy(f.data(), b.data(), f.size() * sizeof(float));
    return f;
}

inline std::filesystem::path goldenDir() {
    return std::filesystem::path(QS_TEST_DATA_DIR) / "golden";
}

/// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
public:
    TempDir() {
        m_path = std::filesystem::temp_directory_path() /
                 ("qs_gpu_test_" + std::to_string(::getpid()) + "_" + std::to_string(s_counter++));
        std::filesystem::create_directories(m_path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    const std::filesystem::path& path() const { return m_path; }

private:
    static inline int s_counter = 0;
    std::filesystem::path m_path;
};

/// Expect no validation-layer message from `device` (a no-op when validation is off).
inline void expectValidationClean(const Device& device) {
    const auto messages = device.validationMessages();
    EXPECT_TRUE(messages.empty()) << messages.size() << " validation message(s), first: "
                                  << (messages.empty() ? "" : messages.front());
}

/// Opens a backend on lavapipe per test. Options may be adjusted in the test before open().
class VulkanFixture : public ::testing::Test {
protected:
    void SetUp() override {
        if (!lavapipeInstalled()) {
            GTEST_SKIP() << "mesa-vulkan-drivers (lavapipe) is not installed: "
                            "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json is missing";
        }
        m_options.cacheDir = m_cache.path().string();  // never write the user's cache
    }
    void TearDown() override {
        if (m_backend) expectValidationClean(m_backend->device());
        m_backend.reset();
    }
    /// Open (or reopen) the backend with m_options; nullptr (and a failed test) on error.
    VulkanBackend* open() {
        if (m_backend) expectValidationClean(m_backend->device());
        m_backend.reset();
        auto b = VulkanBackend::create(m_options);
        EXPECT_TRUE(b.ok()) << "lavapipe is installed but the Vulkan backend did not open: "
                            << (b.ok() ? "" : b.error().what());
        if (b.ok()) m_backend = std::move(*b);
        return m_backend.get();
    }

    TempDir m_cache;
    DeviceOptions m_options;
    std::unique_ptr<VulkanBackend> m_backend;
};

}  // namespace qs::gpu::test
