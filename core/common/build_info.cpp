#include "common/build_info.h"

#include "parallel/parallel.h"

namespace qs {

std::string buildBackends(bool withVulkan) {
    std::string out = std::string("cpu/") + parallel::runtimeName();
    if (withVulkan) out += ", vulkan";
    return out;
}

std::string versionLine(std::string_view program, bool withVulkan) {
    return std::string(program) + " " + QS_VERSION + " (backends: " + buildBackends(withVulkan) +
           ")";
}

}  // namespace qs
