#pragma once
// Where the encoding of a workflow runs, as `--backend` and the explorer's settings spell it:
// "cpu", "vulkan" (the default device) or "vulkan:N". Parsed here only, so that "vulkan:x" is
// the same error in the CLI and in the explorer. Making the device itself is up to the caller
// (the Vulkan backend lives outside core).

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace qs::workflow {

struct BackendSpec {
    enum class Kind { Cpu, Vulkan };
    Kind kind = Kind::Cpu;
    std::optional<int> device;  ///< Vulkan device index; none: the default device

    bool isCpu() const { return kind == Kind::Cpu; }
    /// The spec as text: "cpu", "vulkan", "vulkan:1".
    std::string text() const;
    bool operator==(const BackendSpec&) const = default;
};

/// Parse a backend spec. Errors (BadUsage): anything but cpu / vulkan / vulkan:N with N a
/// non-negative decimal index ("vulkan:x", "vulkan:", "vulkan:-1", "gpu").
Result<BackendSpec> parseBackendSpec(std::string_view spec);

}  // namespace qs::workflow
