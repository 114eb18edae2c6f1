#pragma once
// The error of a failed Vulkan call (internal to qs_gpu).

#include <vulkan/vulkan.h>

#include <string>

#include "common/result.h"

namespace qs::gpu {

inline Error vkError(const std::string& what, VkResult r) {
    return makeError(ErrorCode::IoError, what + " failed (VkResult " + std::to_string(r) + ")");
}

}  // namespace qs::gpu
