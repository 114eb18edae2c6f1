// The scale searches of ggml's quantizers (make_qkx2_quants / make_qkx3_quants, make_qx_quants,
// make_qp_quants, make_q3_quants), shared by the legacy quants' importance paths and the
// K-quants. Every float operation is written in ggml's order and with ggml's types, so the
// levels and scales match ggml's exactly; no fused multiply-add is allowed (the build is ISO
// C++, which keeps -ffp-contract=off).
//
// The fast variants evaluate all candidate scales at once, lane per candidate (the
// per-candidate sums keep ggml's order, so they are bit-identical), and then pick the winner
// with ggml's own sequential comparison. The compiler turns the candidate loops into SIMD code.

#include "formats/codecs/scale_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qs::formats::detail {

namespace {

/// ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is treated as zero.
constexpr float kGroupMaxEps = 1e-15f;

// Four float lanes (GCC/Clang vector extension: plain IEEE element-wise arithmetic, SSE2 on
// x86-64, NEON on ARM). The candidate-parallel searches use it so that no auto-vectoriser
// heuristic decides their speed.
typedef float V4 __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));

inline V4 splat(float v) {
    return V4{v, v, v, v};
}
/// Round to nearest (ties to even), as floats: (v + 1.5 * 2^23) - 1.5 * 2^23 equals
/// float(nearestInt(v)) for |v| <= 4194303, which every caller guarantees (as ggml asserts).
inline V4 roundNearestV(V4 v) {
    const V4 magic = splat(12582912.f);
    return (v + magic) - magic;
}
inline V4 clampV(V4 v, V4 lo, V4 hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}
inline V4 absV(V4 v) {
    return V4(V4i(v) & 0x7fffffff);
}

// ------------------------------------------------------------------------------------------
// Scale search with a minimum (ggml's make_qkx2_quants / make_qkx3_quants with weights).
// ------------------------------------------------------------------------------------------

/// Statistics every variant computes first: min (clamped to <= 0), max, sum of weights and of
/// weighted values, in ggml's order.
struct MinMaxSums {
    float min, max, sumW, sumX;
};

inline MinMaxSums minMaxSums(int n, const float* x, const float* w) {
    MinMaxSums r{x[0], x[0], w[0], w[0] * x[0]};
    for (int i = 1; i < n; ++i) {
        if (x[i] < r.min) r.min = x[i];
        if (x[i] > r.max) r.max = x[i];
        r.sumW += w[i];
        r.sumX += w[i] * x[i];
    }
    if (r.min > 0) r.min = 0;
    return r;
}

/// The first guess (scale spanning [min, max]) and its error, as in ggml.
inline float initialGuess(int n, int nmax, const float* x, const float* w, uint8_t* L, float min,
                          float max, bool useMad, float& scale) {
    const float iscale = float(nmax) / (max - min);
    scale = 1 / iscale;
    float bestError = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearestInt(iscale * (x[i] - min));
        L[i] = uint8_t(std::max(0, std::min(nmax, l)));
        float diff = scale * float(L[i]) + min - x[i];
        diff = useMad ? std::fabs(diff) : diff * diff;
        bestError += w[i] * diff;
    }
    return bestError;
}

float searchScaleMinRef(int n, int nmax, const float* x, const float* w, uint8_t* L, float* negMin,
                        float rmin, float rdelta, int nstep, bool useMad) {
    MinMaxSums s = minMaxSums(n, x, w);
    float min = s.min;
    const float max = s.max;
    if (max == min) {
        std::memset(L, 0, size_t(n));
        *negMin = -min;
        return 0.f;
    }
    float scale;
    float bestError = initialGuess(n, nmax, x, w, L, min, max, useMad, scale);
    if (nstep < 1) {
        *negMin = -min;
        return scale;
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; ++is) {
        const float iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sumL = 0, sumL2 = 0, sumXL = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * (x[i] - min));
            l = std::max(0, std::min(nmax, l));
            Laux[i] = uint8_t(l);
            sumL += w[i] * float(l);
            sumL2 += w[i] * float(l) * float(l);
            sumXL += w[i] * float(l) * x[i];
        }
        const float D = s.sumW * sumL2 - sumL * sumL;
        if (D > 0) {
            float thisScale = (s.sumW * sumXL - s.sumX * sumL) / D;
            float thisMin = (sumL2 * s.sumX - sumL * sumXL) / D;
            if (thisMin > 0) {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float err = 0;
            for (int i = 0; i < n; ++i) {
                float diff = thisScale * float(Laux[i]) + thisMin - x[i];
                diff = useMad ? std::fabs(diff) : diff * diff;
                err += w[i] * diff;
            }
            if (err < bestError) {
                std::memcpy(L, Laux, size_t(n));
                bestError = err;
                scale = thisScale;
                min = thisMin;
            }
        }
    }
    *negMin = -min;
    return scale;
}

/// Candidate-parallel searchScaleMinRef. Candidate `is` of ggml depends on the current best
/// min (through x - min and max - min), which changes whenever a candidate wins. So the
/// candidates from `first` on are evaluated speculatively with the current min, all at once
/// (lane m = candidate first + m); ggml's sequential comparison then walks them, and when a
/// winner moves the min, the remaining candidates are evaluated again with the new min. Each
/// lane does exactly ggml's arithmetic in ggml's order, so the result is bit-identical.
/// NS >= nstep + 1 is the lane count (a multiple of 4).
template <int NS>
float searchScaleMinFast(int n, int nmax, const float* x, const float* w, uint8_t* L, float* negMin,
                         float rmin, float rdelta, int nstep, bool useMad) {
    MinMaxSums s = minMaxSums(n, x, w);
    float min = s.min;
    const float max = s.max;
    if (max == min) {
        std::memset(L, 0, size_t(n));
        *negMin = -min;
        return 0.f;
    }
    float scale;
    float bestError = initialGuess(n, nmax, x, w, L, min, max, useMad, scale);
    if (nstep < 1) {
        *negMin = -min;
        return scale;
    }
    const int ns = nstep + 1;
    const float fmax = float(nmax);
    constexpr int NV = NS / 4;
    V4 isc[NV], sumL[NV], sumL2[NV], sumXL[NV], err[NV];
    V4 lv[32][NV];
    alignas(16) float D[NS], sc[NS], mn[NS];
    int first = 0;
    while (first < ns) {
        const int nv = (ns - first + 3) / 4;  // whole vectors; extra lanes unused
        const float range = max - min;
        for (int v = 0; v < nv; ++v) {
            const float k = float(first + 4 * v);
            const V4 is = V4{k, k + 1, k + 2, k + 3};
            // ggml: (rmin + rdelta*is + nmax) / (max - min), is converted to float.
            isc[v] = (splat(rmin) + splat(rdelta) * is + splat(fmax)) / splat(range);
            sumL[v] = sumL2[v] = sumXL[v] = err[v] = splat(0.f);
        }
        const V4 zero = splat(0.f), top = splat(fmax);
        for (int i = 0; i < n; ++i) {
            const V4 xi = splat(x[i]), xm = splat(x[i] - min), wi = splat(w[i]);
            for (int v = 0; v < nv; ++v) {
                const V4 l = clampV(roundNearestV(isc[v] * xm), zero, top);
                lv[i][v] = l;
                const V4 wl = wi * l;
                sumL[v] += wl;
                sumL2[v] += wl * l;
                sumXL[v] += wl * xi;
            }
        }
        const V4 sumW = splat(s.sumW), sumX = splat(s.sumX);
        V4 scV[NV], mnV[NV];
        for (int v = 0; v < nv; ++v) {
            const V4 Dv = sumW * sumL2[v] - sumL[v] * sumL[v];
            const V4 a = (sumW * sumXL[v] - sumX * sumL[v]) / Dv;
            const V4 b = (sumL2[v] * sumX - sumL[v] * sumXL[v]) / Dv;
            const V4 c = sumXL[v] / sumL2[v];
            scV[v] = b > zero ? c : a;
            mnV[v] = b > zero ? zero : b;
            std::memcpy(D + 4 * v, &Dv, sizeof Dv);
            std::memcpy(sc + 4 * v, &scV[v], sizeof(V4));
            std::memcpy(mn + 4 * v, &mnV[v], sizeof(V4));
        }
        for (int i = 0; i < n; ++i) {
            const V4 xi = splat(x[i]), wi = splat(w[i]);
            if (useMad) {
                for (int v = 0; v < nv; ++v) {
                    err[v] += wi * absV(scV[v] * lv[i][v] + mnV[v] - xi);
                }
            } else {
                for (int v = 0; v < nv; ++v) {
                    const V4 diff = scV[v] * lv[i][v] + mnV[v] - xi;
                    err[v] += wi * (diff * diff);
                }
            }
        }
        alignas(16) float errS[NS];
        for (int v = 0; v < nv; ++v) std::memcpy(errS + 4 * v, &err[v], sizeof(V4));
        const int count = ns - first;
        int next = ns;
        for (int m = 0; m < count; ++m) {
            if (D[m] > 0 && errS[m] < bestError) {
                for (int i = 0; i < n; ++i) L[i] = uint8_t(lv[i][m / 4][m % 4]);
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

// ------------------------------------------------------------------------------------------
// Symmetric scale search (ggml's make_qx_quants, rmse_type 1).
// ------------------------------------------------------------------------------------------

/// The value of largest magnitude (the first one on ties, keeping its sign) and, in `amax`,
/// that magnitude: where ggml's symmetric searches start.
inline float valueOfLargestMagnitude(const float* x, int n, float& amax) {
    float max = 0;
    amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return max;
}

float searchScaleSymRef(int n, int nmax, const float* x, int8_t* L, const float* qw) {
    float amax = 0;
    const float max = valueOfLargestMagnitude(x, n, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    float iscale = float(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = int8_t(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[i]);
            l = std::max(-nmax, std::min(nmax - 1, l));
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearestInt(iscale * x[i]);
                L[i] = int8_t(nmax + std::max(-nmax, std::min(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/// Candidate-parallel searchScaleSymRef. Lane 0 is ggml's first guess (is = 0), lanes 1-18 the
/// candidates is = -9..-1, 1..9 in ggml's order; lanes 19-23 are padding.
float searchScaleSymFast(int n, int nmax, const float* x, int8_t* L, const float* qw) {
    float amax = 0;
    const float max = valueOfLargestMagnitude(x, n, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    constexpr int NV = 5;  // 20 lanes: the first guess, 18 candidates, 1 unused
    const float fmax = float(nmax);
    alignas(16) float isc[4 * NV];
    isc[0] = float(-nmax) / max;
    for (int k = 1; k < 4 * NV; ++k) {
        const int is = k <= 9 ? k - 10 : k - 9;
        isc[k] = -(fmax + 0.1f * float(is)) / max;
    }
    V4 iscV[NV], slx[NV], sl2[NV];
    V4 lv[32][NV];
    for (int v = 0; v < NV; ++v) {
        std::memcpy(&iscV[v], isc + 4 * v, sizeof(V4));
        slx[v] = sl2[v] = splat(0.f);
    }
    const V4 lo = splat(-fmax), hi = splat(fmax - 1);
    for (int i = 0; i < n; ++i) {
        const float xs = x[i];
        const float ws = qw ? qw[i] : xs * xs;
        // ggml: sumlx += w*x[i]*l (that is (w*x)*l), suml2 += w*l*l.
        const V4 xi = splat(xs), w = splat(ws), wx = splat(ws * xs);
        for (int v = 0; v < NV; ++v) {
            const V4 l = clampV(roundNearestV(iscV[v] * xi), lo, hi);
            lv[i][v] = l;
            slx[v] += wx * l;
            sl2[v] += w * l * l;
        }
    }
    alignas(16) float sumlx[4 * NV], suml2[4 * NV];
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
    for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + int(lv[i][pick / 4][pick % 4]));
    return scale;
}

// ------------------------------------------------------------------------------------------
// ggml's make_qp_quants: positive values (sub-block scales or mins) onto 0..nmax, weighted.
// L is uint8_t as in ggml, so a (never expected) negative level wraps exactly as ggml's does.
// ------------------------------------------------------------------------------------------
float fitPositiveScales(int n, int nmax, const float* x, uint8_t* L, const float* qw) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (max < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    float iscale = float(nmax) / max;
    for (int i = 0; i < n; ++i) L[i] = uint8_t(nearestInt(iscale * x[i]));
    const float scale = 1 / iscale;
    float bestMse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * float(L[i]);
        bestMse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        const float iscaleIs = (0.1f * float(is) + float(nmax)) / max;
        const float scaleIs = 1 / iscaleIs;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::min(nmax, nearestInt(iscaleIs * x[i]));
            const float diff = x[i] - scaleIs * float(l);
            mse += qw[i] * diff * diff;
        }
        if (mse < bestMse) {
            bestMse = mse;
            iscale = iscaleIs;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::min(nmax, nearestInt(iscale * x[i]));
        L[i] = uint8_t(l);
        sumlx += qw[i] * x[i] * float(l);
        suml2 += qw[i] * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = qw[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            float sl2 = suml2 - w * float(L[i]) * float(L[i]);
            if (slx > 0 && sl2 > 0) {
                const int newL = std::min(nmax, nearestInt(x[i] * sl2 / slx));
                if (newL != L[i]) {
                    slx += w * x[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = uint8_t(newL);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ------------------------------------------------------------------------------------------
// ggml's make_q3_quants with do_rmse: symmetric 16-value groups for Q3_K without importance,
// weights x^2, then up to 5 rounds of coordinate descent on the levels.
// ------------------------------------------------------------------------------------------
}  // namespace

float fitQ3Group(int n, int nmax, const float* x, int8_t* L) {
    float amax = 0;
    const float max = valueOfLargestMagnitude(x, n, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    const float iscale = float(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            if (slx > 0) {
                float sl2 = suml2 - w * float(L[i]) * float(L[i]);
                int newL = nearestInt(x[i] * sl2 / slx);
                newL = std::max(-nmax, std::min(nmax - 1, newL));
                if (newL != L[i]) {
                    slx += w * x[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = int8_t(newL);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ------------------------------------------------------------------------------------------
// Entry points (declared in scale_search.h)
// ------------------------------------------------------------------------------------------

float searchScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* negMin, float rmin, float rdelta, int nstep, bool useMad, bool fast) {
    // make_qkx2_quants and make_qkx3_quants (with weights) differ only in `max == min` versus
    // `max <= min`, which are equivalent once min is clamped to <= 0; one routine serves both.
    if (fast && n <= 32) {
        if (nstep < 16)
            return searchScaleMinFast<16>(n, nmax, x, weights, L, negMin, rmin, rdelta, nstep,
                                          useMad);
        if (nstep < 24)
            return searchScaleMinFast<24>(n, nmax, x, weights, L, negMin, rmin, rdelta, nstep,
                                          useMad);
        if (nstep < 40)
            return searchScaleMinFast<40>(n, nmax, x, weights, L, negMin, rmin, rdelta, nstep,
                                          useMad);
    }
    return searchScaleMinRef(n, nmax, x, weights, L, negMin, rmin, rdelta, nstep, useMad);
}

float searchScaleSym(int n, int nmax, const float* x, int8_t* L, const float* weights, bool fast) {
    if (fast && n <= 32) return searchScaleSymFast(n, nmax, x, L, weights);
    return searchScaleSymRef(n, nmax, x, L, weights);
}

float fitPositiveLevels(int n, int nmax, const float* x, uint8_t* L, const float* weights) {
    return fitPositiveScales(n, nmax, x, L, weights);
}

}  // namespace qs::formats::detail
