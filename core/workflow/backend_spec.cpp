#include "workflow/backend_spec.h"

#include <charconv>

namespace qs::workflow {

std::string BackendSpec::text() const {
    if (kind == Kind::Cpu) return "cpu";
    return device ? "vulkan:" + std::to_string(*device) : std::string("vulkan");
}

Result<BackendSpec> parseBackendSpec(std::string_view spec) {
    BackendSpec out;
    if (spec == "cpu") return out;
    if (spec != "vulkan" && !spec.starts_with("vulkan:")) {
        return makeError(ErrorCode::BadUsage,
                         "--backend must be cpu or vulkan[:N], not '" + std::string(spec) + "'");
    }
    out.kind = BackendSpec::Kind::Vulkan;
    if (spec.size() > 6) {
        const std::string_view digits = spec.substr(7);
        int index = -1;
        const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() ||
            index < 0) {
            return makeError(ErrorCode::BadUsage, "--backend vulkan:N needs a device index, not '" +
                                                      std::string(spec) + "'");
        }
        out.device = index;
    }
    return out;
}

}  // namespace qs::workflow
