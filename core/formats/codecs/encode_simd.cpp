// Runtime dispatch level of the vectorised encoders (see encode_simd.h).

#include "formats/codecs/encode_simd.h"

#include <atomic>

namespace qs::formats::detail {

namespace {

// -1: not forced. Relaxed is enough: the switch is set before encoding starts.
std::atomic<int> gForced{-1};

EncodeSimdLevel detect() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        return EncodeSimdLevel::Avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return EncodeSimdLevel::Avx2;
    }
#endif
    return EncodeSimdLevel::Scalar;
}

}  // namespace

EncodeSimdLevel cpuEncodeSimdLevel() {
    static const EncodeSimdLevel level = detect();
    return level;
}

EncodeSimdLevel encodeSimdLevel() {
    const int forced = gForced.load(std::memory_order_relaxed);
    const EncodeSimdLevel cpu = cpuEncodeSimdLevel();
    if (forced < 0 || forced > int(cpu)) return cpu;
    return EncodeSimdLevel(forced);
}

EncodeSimdLevel forceEncodeSimdLevel(EncodeSimdLevel level) {
    gForced.store(int(level), std::memory_order_relaxed);
    return encodeSimdLevel();
}

void resetEncodeSimdLevel() {
    gForced.store(-1, std::memory_order_relaxed);
}

const char* encodeSimdLevelName(EncodeSimdLevel level) {
    switch (level) {
    case EncodeSimdLevel::Avx512: return "avx512";
    case EncodeSimdLevel::Avx2: return "avx2";
    case EncodeSimdLevel::Scalar: break;
    }
    return "scalar";
}

}  // namespace qs::formats::detail
