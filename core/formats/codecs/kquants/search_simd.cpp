// Runtime dispatch of the batched K-quant scale searches (search_simd.h) to lane kernels of
// 16 (AVX-512), 8 (AVX2) or 4 (portable vectors) lanes, or to the scalar searches. The lane
// kernels (search_lanes.h) are compiled once per width, with a target attribute per function,
// so the rest of the build stays baseline x86-64. No fused multiply-add is allowed anywhere:
// AVX-512 has FMA, and GCC contracts a * b + c in C++ even in ISO mode, so this file turns
// contraction off (GCC: optimize pragma, Clang: FP_CONTRACT); the scalar reference code is
// built for baseline x86-64, which has no FMA to contract to.

#include "formats/codecs/kquants/search_simd.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "formats/codecs/scale_search.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QS_KQ_X86 1
#else
#define QS_KQ_X86 0
#endif

namespace qs::formats::detail {

namespace {

#if QS_KQ_X86
namespace avx512 {
#define QS_KQ_LANES 16
#define QS_KQ_ANY(m) (_mm512_movepi32_mask((__m512i)(m)) != 0)
#define QS_KQ_SQRT(v) ((VF)_mm512_maskz_sqrt_ps(__mmask16(0xffff), (__m512)(v)))
#define QS_KQ_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define QS_KQ_INL \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) inline
#include "formats/codecs/kquants/search_lanes.h"
#undef QS_KQ_LANES
#undef QS_KQ_ANY
#undef QS_KQ_SQRT
#undef QS_KQ_FN
#undef QS_KQ_INL
}  // namespace avx512

namespace avx2 {
#define QS_KQ_LANES 8
#define QS_KQ_ANY(m) (_mm256_movemask_ps((__m256)(m)) != 0)
#define QS_KQ_SQRT(v) ((VF)_mm256_sqrt_ps((__m256)(v)))
#define QS_KQ_FN __attribute__((target("avx2")))
#define QS_KQ_INL __attribute__((target("avx2"), always_inline)) inline
#include "formats/codecs/kquants/search_lanes.h"
#undef QS_KQ_LANES
#undef QS_KQ_ANY
#undef QS_KQ_SQRT
#undef QS_KQ_FN
#undef QS_KQ_INL
}  // namespace avx2
#endif

namespace vec4 {
#define QS_KQ_LANES 4
#if QS_KQ_X86
#define QS_KQ_SQRT(v) ((VF)_mm_sqrt_ps((__m128)(v)))
#else
#define QS_KQ_SQRT(v) \
    (VF{__builtin_sqrtf(v[0]), __builtin_sqrtf(v[1]), __builtin_sqrtf(v[2]), __builtin_sqrtf(v[3])})
#endif
#define QS_KQ_FN
#define QS_KQ_INL __attribute__((always_inline)) inline
#include "formats/codecs/kquants/search_lanes.h"
#undef QS_KQ_LANES
#undef QS_KQ_ANY
#undef QS_KQ_SQRT
#undef QS_KQ_FN
#undef QS_KQ_INL
}  // namespace vec4

KSimdLevel detectLevel() {
#if QS_KQ_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        return KSimdLevel::Avx512;
    }
    if (__builtin_cpu_supports("avx2")) return KSimdLevel::Avx2;
#endif
    return KSimdLevel::Vec4;
}

std::atomic<int>& levelSlot() {
    static std::atomic<int> slot{int(kquantSimdSupported())};
    return slot;
}

KSimdLevel clampLevel(KSimdLevel level) {
    return std::min(level, kquantSimdSupported());
}

/// Runs `kernel(lanes, offset)` over `count` groups in batches of `width`.
template <typename Kernel>
void batches(int count, int width, Kernel&& kernel) {
    for (int g = 0; g < count; g += width) kernel(std::min(width, count - g), g);
}

}  // namespace

KSimdLevel kquantSimdSupported() {
    static const KSimdLevel level = detectLevel();
    return level;
}

KSimdLevel kquantSimdLevel() {
    return KSimdLevel(levelSlot().load(std::memory_order_relaxed));
}

KSimdLevel setKQuantSimdLevel(KSimdLevel level) {
    return KSimdLevel(levelSlot().exchange(int(clampLevel(level)), std::memory_order_relaxed));
}

const char* kquantSimdLevelName(KSimdLevel level) {
    switch (level) {
    case KSimdLevel::Scalar: return "scalar";
    case KSimdLevel::Vec4: return "vec4";
    case KSimdLevel::Avx2: return "avx2";
    case KSimdLevel::Avx512: return "avx512";
    }
    return "?";
}

void searchScaleMinBatch(KSimdLevel level, int count, int n, int nmax, const float* x,
                         const float* w, uint8_t* L, float* scales, float* negMins, float rmin,
                         float rdelta, int nstep, bool useMad) {
    level = clampLevel(level);
    if (n > 32 || nstep < 1) level = KSimdLevel::Scalar;
    auto run = [&](auto kernel, int width) {
        batches(count, width, [&](int lanes, int g) {
            kernel(lanes, n, nmax, x + g * n, w + g * n, L + g * n, scales + g, negMins + g, rmin,
                   rdelta, nstep, useMad);
        });
    };
    switch (level) {
#if QS_KQ_X86
    case KSimdLevel::Avx512: run(avx512::minLanes, 16); return;
    case KSimdLevel::Avx2: run(avx2::minLanes, 8); return;
#endif
    case KSimdLevel::Vec4: run(vec4::minLanes, 4); return;
    default: break;
    }
    for (int g = 0; g < count; ++g) {
        scales[g] = searchScaleMin(n, nmax, x + g * n, w + g * n, L + g * n, negMins + g, rmin,
                                   rdelta, nstep, useMad, true);
    }
}

void searchScaleSymBatch(KSimdLevel level, int count, int n, int nmax, const float* x,
                         const float* w, int8_t* L, float* scales) {
    level = clampLevel(level);
    if (n > 32) level = KSimdLevel::Scalar;
    auto run = [&](auto kernel, int width) {
        batches(count, width, [&](int lanes, int g) {
            kernel(lanes, n, nmax, x + g * n, w ? w + g * n : nullptr, L + g * n, scales + g);
        });
    };
    switch (level) {
#if QS_KQ_X86
    case KSimdLevel::Avx512: run(avx512::symLanes, 16); return;
    case KSimdLevel::Avx2: run(avx2::symLanes, 8); return;
#endif
    case KSimdLevel::Vec4: run(vec4::symLanes, 4); return;
    default: break;
    }
    for (int g = 0; g < count; ++g) {
        scales[g] = searchScaleSym(n, nmax, x + g * n, L + g * n, w ? w + g * n : nullptr, true);
    }
}

void fitQ3GroupBatch(KSimdLevel level, int count, int n, int nmax, const float* x, int8_t* L,
                     float* scales) {
    level = clampLevel(level);
    if (n > 32) level = KSimdLevel::Scalar;
    auto run = [&](auto kernel, int width) {
        batches(count, width, [&](int lanes, int g) {
            kernel(lanes, n, nmax, x + g * n, L + g * n, scales + g);
        });
    };
    switch (level) {
#if QS_KQ_X86
    case KSimdLevel::Avx512: run(avx512::q3Lanes<2>, 32); return;
    case KSimdLevel::Avx2: run(avx2::q3Lanes<2>, 16); return;
#endif
    case KSimdLevel::Vec4: run(vec4::q3Lanes<2>, 8); return;
    default: break;
    }
    for (int g = 0; g < count; ++g) scales[g] = fitQ3Group(n, nmax, x + g * n, L + g * n);
}

void importanceWeightsBatch(KSimdLevel level, int n, const float* x, const float* qw, float sigma2,
                            float* w) {
    level = clampLevel(level);
    if (n % 16 != 0) level = KSimdLevel::Scalar;
    switch (level) {
#if QS_KQ_X86
    case KSimdLevel::Avx512: avx512::importanceWeightsLanes(n, x, qw, sigma2, w); return;
    case KSimdLevel::Avx2: avx2::importanceWeightsLanes(n, x, qw, sigma2, w); return;
#endif
    case KSimdLevel::Vec4: vec4::importanceWeightsLanes(n, x, qw, sigma2, w); return;
    default: break;
    }
    for (int l = 0; l < n; ++l) w[l] = qw[l] * std::sqrt(sigma2 + x[l] * x[l]);
}

void requantizeBatch(KSimdLevel level, int groups, int len, const float* x, const float* d,
                     const float* dm, int lo, int hi, int offset, uint8_t* L) {
    level = clampLevel(level);
    if (len % 16 != 0) level = KSimdLevel::Scalar;
    switch (level) {
#if QS_KQ_X86
    case KSimdLevel::Avx512:
        avx512::requantizeLanes(groups, len, x, d, dm, lo, hi, offset, L);
        return;
    case KSimdLevel::Avx2: avx2::requantizeLanes(groups, len, x, d, dm, lo, hi, offset, L); return;
#endif
    case KSimdLevel::Vec4: vec4::requantizeLanes(groups, len, x, d, dm, lo, hi, offset, L); return;
    default: break;
    }
    for (int g = 0; g < groups; ++g) {
        if (d[g] == 0.f) continue;
        for (int i = g * len; i < (g + 1) * len; ++i) {
            const int l = nearestInt(dm ? (x[i] + dm[g]) / d[g] : x[i] / d[g]);
            L[i] = uint8_t(std::max(lo, std::min(hi, l)) + offset);
        }
    }
}

}  // namespace qs::formats::detail
