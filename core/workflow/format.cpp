#include "workflow/format.h"

#include <array>
#include <cstdio>

namespace qs::workflow {

std::string formatBytes(uint64_t bytes, BytePrecision precision) {
    static constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double v = double(bytes);
    size_t unit = 0;
    while (v >= 1024.0 && unit + 1 < kUnits.size()) {
        v /= 1024.0;
        ++unit;
    }
    const int decimals = precision == BytePrecision::Fixed || v < 10.0 ? 2 : 1;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f %s", decimals, v, kUnits[unit]);
    return buf;
}

}  // namespace qs::workflow
