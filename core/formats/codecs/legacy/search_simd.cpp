// AVX-512 and AVX2 kernels of the legacy quants' importance searches (legacy_kernels.h):
// ggml's make_qx_quants (Q4_0 / Q5_0 with an imatrix) and make_qkx3_quants (Q4_1 / Q5_1).
//
// They are the candidate-parallel searches of scale_search.cpp (searchScaleSymFast,
// searchScaleMinFast) on 16- or 8-lane vectors instead of 4: one lane per candidate scale,
// each lane running ggml's float operations in ggml's order (no fused multiply-add: this file
// is compiled with -ffp-contract=off, and GCC's vector extension keeps every + and * apart),
// then ggml's sequential comparison picks the winner. The bodies are templates on the vector
// type, inlined into one wrapper per target, so each wrapper is compiled for its ISA.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "formats/codecs/legacy/legacy_kernels.h"
#include "formats/codecs/scale_search.h"

namespace qs::formats::detail::legacy {

#if defined(__x86_64__) || defined(__i386__)

namespace {

constexpr float kGroupMaxEps = 1e-15f;

#define QS_INLINE __attribute__((always_inline)) inline

/// Lane-count traits of a GCC vector type.
template <typename V>
constexpr int lanesOf() {
    return int(sizeof(V) / sizeof(float));
}

// No helper takes or returns a vector (GCC would warn about the AVX calling convention):
// a scalar operand of a vector operation is broadcast to every lane, exactly.

/// Round to nearest even as floats ((v + 1.5 * 2^23) - 1.5 * 2^23, |v| <= 4194303 as ggml
/// asserts), then clamp to [lo, hi]; r must be a vector lvalue.
#define QS_ROUND_CLAMP(r, v, lo, hi)         \
    do {                                     \
        r = ((v) + 12582912.f) - 12582912.f; \
        r = r < (lo) ? (lo) : r;             \
        r = r > (hi) ? (hi) : r;             \
    } while (0)

// ------------------------------------------------------------------------------------------
// make_qx_quants, rmse_type 1: lane 0 the first guess, lanes 1-18 the candidates
// is = -9..-1, 1..9 in ggml's order.
// ------------------------------------------------------------------------------------------

template <typename V>
QS_INLINE float symSearch(int n, int nmax, const float* x, int8_t* L, const float* qw) {
    constexpr int W = lanesOf<V>();
    constexpr int NV = (19 + W - 1) / W;
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    const float fmax = float(nmax);
    alignas(64) float isc[NV * W];
    isc[0] = float(-nmax) / max;
    for (int k = 1; k < NV * W; ++k) {
        const int is = k <= 9 ? k - 10 : k - 9;
        isc[k] = -(fmax + 0.1f * float(is)) / max;
    }
    V iscV[NV], slx[NV], sl2[NV];
    for (int v = 0; v < NV; ++v) {
        std::memcpy(&iscV[v], isc + W * v, sizeof(V));
        slx[v] = sl2[v] = V{};
    }
    V lo = V{}, hi = V{};
    for (int k = 0; k < W; ++k) {
        lo[k] = -fmax;
        hi[k] = fmax - 1;
    }
    for (int i = 0; i < n; ++i) {
        const float xs = x[i];
        const float ws = qw ? qw[i] : xs * xs;
        const float wx = ws * xs;
        // ggml: sumlx += w*x[i]*l (that is (w*x)*l), suml2 += w*l*l.
        for (int v = 0; v < NV; ++v) {
            V l;
            QS_ROUND_CLAMP(l, iscV[v] * xs, lo, hi);
            slx[v] += wx * l;
            sl2[v] += ws * l * l;
        }
    }
    alignas(64) float sumlx[NV * W], suml2[NV * W];
    std::memcpy(sumlx, slx, sizeof slx);
    std::memcpy(suml2, sl2, sizeof sl2);
    float scale = suml2[0] != 0.f ? sumlx[0] / suml2[0] : 0.0f;
    float best = scale * sumlx[0];
    int pick = 0;
    for (int k = 1; k <= 18; ++k) {
        if (suml2[k] > 0 && sumlx[k] * sumlx[k] > best * suml2[k]) {
            scale = sumlx[k] / suml2[k];
            best = scale * sumlx[k];
            pick = k;
        }
    }
    // The winner's levels, recomputed with the same operations as in its lane.
    const float s = isc[pick];
    for (int i = 0; i < n; ++i) {
        const int l = nearestInt(s * x[i]);
        L[i] = int8_t(nmax + std::max(-nmax, std::min(nmax - 1, l)));
    }
    return scale;
}

// ------------------------------------------------------------------------------------------
// make_qkx3_quants with weights: see searchScaleMinFast (scale_search.cpp) for the scheme
// (speculative evaluation of the remaining candidates with the current min, redone when a
// winner moves the min).
// ------------------------------------------------------------------------------------------

template <typename V>
QS_INLINE float minSearch(int n, int nmax, const float* x, const float* w, uint8_t* L,
                          float* negMin, float rmin, float rdelta, int nstep, bool useMad) {
    constexpr int W = lanesOf<V>();
    constexpr int kMaxSteps = 40;  // the legacy types use nstep 36 (37 candidates)
    constexpr int NV = (kMaxSteps + W - 1) / W;
    // ggml's statistics: min (clamped to <= 0), max, sum of weights and of weighted values.
    float min = x[0], max = x[0], sumWs = w[0], sumXs = w[0] * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sumWs += w[i];
        sumXs += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::memset(L, 0, size_t(n));
        *negMin = -min;
        return 0.f;
    }
    // The first guess: the scale spanning [min, max] and its error.
    float scale;
    float bestError = 0;
    {
        const float iscale = float(nmax) / (max - min);
        scale = 1 / iscale;
        for (int i = 0; i < n; ++i) {
            const int l = nearestInt(iscale * (x[i] - min));
            L[i] = uint8_t(std::max(0, std::min(nmax, l)));
            float diff = scale * float(L[i]) + min - x[i];
            diff = useMad ? std::fabs(diff) : diff * diff;
            bestError += w[i] * diff;
        }
    }
    if (nstep < 1) {
        *negMin = -min;
        return scale;
    }
    const int ns = nstep + 1;
    const float fmax = float(nmax);
    V isc[NV], sumL[NV], sumL2[NV], sumXL[NV], err[NV];
    V lv[32][NV];
    alignas(64) float D[NV * W], sc[NV * W], mn[NV * W], errS[NV * W];
    int first = 0;
    while (first < ns) {
        // One vector of candidates per round: a winner that moves the min discards the rest of
        // the round, which happens often, so wider rounds mostly waste work.
        const int nv = 1;
        const float range = max - min;
        for (int v = 0; v < nv; ++v) {
            V is;
            for (int k = 0; k < W; ++k) is[k] = float(first + W * v + k);
            // ggml: (rmin + rdelta*is + nmax) / (max - min), is converted to float.
            isc[v] = (rmin + rdelta * is + fmax) / range;
            sumL[v] = sumL2[v] = sumXL[v] = err[v] = V{};
        }
        V zero = V{}, top = V{};
        for (int k = 0; k < W; ++k) top[k] = fmax;
        for (int i = 0; i < n; ++i) {
            const float xi = x[i], xm = x[i] - min, wi = w[i];
            for (int v = 0; v < nv; ++v) {
                V l;
                QS_ROUND_CLAMP(l, isc[v] * xm, zero, top);
                lv[i][v] = l;
                const V wl = wi * l;
                sumL[v] += wl;
                sumL2[v] += wl * l;
                sumXL[v] += wl * xi;
            }
        }
        const float sumW = sumWs, sumX = sumXs;
        V scV[NV], mnV[NV];
        for (int v = 0; v < nv; ++v) {
            const V Dv = sumW * sumL2[v] - sumL[v] * sumL[v];
            const V a = (sumW * sumXL[v] - sumX * sumL[v]) / Dv;
            const V b = (sumL2[v] * sumX - sumL[v] * sumXL[v]) / Dv;
            const V c = sumXL[v] / sumL2[v];
            scV[v] = b > zero ? c : a;
            mnV[v] = b > zero ? zero : b;
            std::memcpy(D + W * v, &Dv, sizeof Dv);
            std::memcpy(sc + W * v, &scV[v], sizeof(V));
            std::memcpy(mn + W * v, &mnV[v], sizeof(V));
        }
        for (int i = 0; i < n; ++i) {
            const float xi = x[i], wi = w[i];
            for (int v = 0; v < nv; ++v) {
                V diff = scV[v] * lv[i][v] + mnV[v] - xi;
                if (useMad) {
                    diff = diff < zero ? -diff : diff;
                } else {
                    diff = diff * diff;
                }
                err[v] += wi * diff;
            }
        }
        for (int v = 0; v < nv; ++v) std::memcpy(errS + W * v, &err[v], sizeof(V));
        const int count = std::min(W, ns - first);
        int next = first + count;
        for (int m = 0; m < count; ++m) {
            if (D[m] > 0 && errS[m] < bestError) {
                for (int i = 0; i < n; ++i) L[i] = uint8_t(lv[i][m / W][m % W]);
                bestError = errS[m];
                scale = sc[m];
                const bool minMoved = mn[m] != min;
                min = mn[m];
                if (minMoved) {
                    next = first + m + 1;  // later lanes used the old min: redo them
                    break;
                }
            }
        }
        first = next;
    }
    *negMin = -min;
    return scale;
}

typedef float V16 __attribute__((vector_size(64)));
typedef float V8 __attribute__((vector_size(32)));

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) float sym512(int n, int nmax,
                                                                           const float* x,
                                                                           int8_t* L,
                                                                           const float* qw) {
    return symSearch<V16>(n, nmax, x, L, qw);
}
__attribute__((target("avx2,fma"))) float sym256(int n, int nmax, const float* x, int8_t* L,
                                                 const float* qw) {
    return symSearch<V8>(n, nmax, x, L, qw);
}
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) float min512(
    int n, int nmax, const float* x, const float* w, uint8_t* L, float* negMin, float rmin,
    float rdelta, int nstep, bool useMad) {
    return minSearch<V16>(n, nmax, x, w, L, negMin, rmin, rdelta, nstep, useMad);
}
__attribute__((target("avx2,fma"))) float min256(int n, int nmax, const float* x, const float* w,
                                                 uint8_t* L, float* negMin, float rmin,
                                                 float rdelta, int nstep, bool useMad) {
    return minSearch<V8>(n, nmax, x, w, L, negMin, rmin, rdelta, nstep, useMad);
}

constexpr SearchKernels kAvx512{sym512, min512};
constexpr SearchKernels kAvx2{sym256, min256};

}  // namespace

const SearchKernels* searchKernelsAvx512() {
    return &kAvx512;
}
const SearchKernels* searchKernelsAvx2() {
    return &kAvx2;
}

#else

const SearchKernels* searchKernelsAvx512() {
    return nullptr;
}
const SearchKernels* searchKernelsAvx2() {
    return nullptr;
}

#endif

}  // namespace qs::formats::detail::legacy
