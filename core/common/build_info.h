#pragma once
// What this build is: the version and the backends compiled in, as `--version` prints them.

#include <string>
#include <string_view>

namespace qs {

/// The backends of a build, in the order `--version` lists them: "cpu/oneTBB" (the CPU engine
/// and what runs its parallel loops), then "vulkan" when the program links the Vulkan backend.
/// Compiled in is not the same as usable: `quantscope-cli devices` lists the Vulkan devices.
std::string buildBackends(bool withVulkan);

/// "<program> <version> (backends: <buildBackends>)", e.g.
/// "quantscope-cli 0.1.0 (backends: cpu/oneTBB, vulkan)". No trailing newline.
std::string versionLine(std::string_view program, bool withVulkan);

}  // namespace qs
