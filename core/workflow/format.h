#pragma once
// The byte formatter of the CLI and the explorer: one function, two precisions.

#include <cstdint>
#include <string>

namespace qs::workflow {

enum class BytePrecision {
    Fixed,        ///< two decimals above 1 KiB: "1.50 KiB", "304.10 KiB" (the CLI's tables)
    Significant,  ///< about three digits, like `ls -h`: "1.50 KiB", "304.1 KiB" (the explorer)
};

/// "512 B", "1.50 KiB", "3.25 GiB" (binary units up to PiB).
std::string formatBytes(uint64_t bytes, BytePrecision precision = BytePrecision::Fixed);

}  // namespace qs::workflow
