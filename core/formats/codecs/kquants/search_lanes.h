// The lane kernels of search_simd.cpp. No include guard: search_simd.cpp includes this file
// once per lane width, inside its own namespace, with
//   QS_KQ_LANES  the lane count (4, 8 or 16 floats),
//   QS_KQ_FN     the attributes of the kernels (a target ISA, or nothing),
//   QS_KQ_INL    the attributes of the helpers (the same target, always inlined).
// Every lane runs one group's search of scale_search.cpp with the same float operations in the
// same order (GCC/Clang vector extensions: plain IEEE element-wise arithmetic); each `if` of
// the scalar code is a lane mask, each assignment under it a select. nearestInt is emulated
// bit for bit (the low mantissa bits of v + 1.5 * 2^23), so even out-of-range values, NaN and
// infinities give the scalar code's integers.

typedef float VF __attribute__((vector_size(4 * QS_KQ_LANES)));
typedef int32_t VI __attribute__((vector_size(4 * QS_KQ_LANES)));
constexpr int kLanes = QS_KQ_LANES;

QS_KQ_INL VF splat(float v) {
    return VF{} + v;
}
QS_KQ_INL VI splatI(int v) {
    return VI{} + v;
}
/// m ? a : b per lane (m is 0 or -1 per lane).
QS_KQ_INL VF sel(VI m, VF a, VF b) {
    return (VF)((m & (VI)a) | (~m & (VI)b));
}
QS_KQ_INL VF absV(VF v) {
    return (VF)((VI)v & splatI(0x7fffffff));
}
QS_KQ_INL bool anyLane(VI m) {
#ifdef QS_KQ_ANY
    return QS_KQ_ANY(m);
#else
    int r = 0;
    for (int k = 0; k < kLanes; ++k) r |= m[k];
    return r != 0;
#endif
}
/// std::min / std::max per lane (vpminsd / vpmaxsd).
QS_KQ_INL VI minI(VI a, VI b) {
    return a < b ? a : b;
}
QS_KQ_INL VI maxI(VI a, VI b) {
    return a > b ? a : b;
}
/// float(std::max(lo, std::min(hi, nearestInt(v)))) per lane, bit-exact for every input.
QS_KQ_INL VF nearestClamped(VF v, int lo, int hi) {
    const VF biased = v + splat(12582912.f);
    VI l = ((VI)biased & splatI(0x007fffff)) - splatI(0x00400000);
    l = maxI(splatI(lo), minI(splatI(hi), l));
    return __builtin_convertvector(l, VF);
}
/// out[i] lane k = src[k * n + i] for i < n, k < lanes; everything else (out has 32) is zero.
QS_KQ_INL void loadTransposed(const float* src, int n, int lanes, VF* out) {
    alignas(64) float buf[32 * kLanes] = {};
    for (int k = 0; k < lanes; ++k) {
        for (int i = 0; i < n; ++i) buf[i * kLanes + k] = src[k * n + i];
    }
    for (int i = 0; i < 32; ++i) __builtin_memcpy(&out[i], buf + i * kLanes, sizeof(VF));
}

/// out[k * n + i] = byte(int(Lv[i] lane k) + add) for k < lanes, 0 in the flat lanes.
QS_KQ_INL void storeTransposed(const VF* Lv, int n, int lanes, int add, VI flat, uint8_t* out) {
    alignas(64) int32_t buf[32 * kLanes];
    for (int i = 0; i < n; ++i) {
        const VI li = (__builtin_convertvector(Lv[i], VI) + splatI(add)) & ~flat;
        __builtin_memcpy(buf + i * kLanes, &li, sizeof li);
    }
    for (int k = 0; k < lanes; ++k) {
        for (int i = 0; i < n; ++i) out[k * n + i] = uint8_t(buf[i * kLanes + k]);
    }
}

/// searchScaleMinRef (make_qkx2_quants / make_qkx3_quants) for `lanes` <= kLanes groups of
/// n <= 32 values; nstep >= 1.
QS_KQ_FN void minLanes(int lanes, int n, int nmax, const float* x, const float* w, uint8_t* Lout,
                       float* scOut, float* negMinOut, float rmin, float rdelta, int nstep,
                       bool useMad) {
    VF xT[32], wT[32], Lb[32], La[32], xm[32];
    loadTransposed(x, n, lanes, xT);
    loadTransposed(w, n, lanes, wT);
    const VF zero = splat(0.f);
    VF mn = xT[0], mx = xT[0], sumW = wT[0], sumX = wT[0] * xT[0];
    for (int i = 1; i < n; ++i) {
        mn = sel(xT[i] < mn, xT[i], mn);
        mx = sel(xT[i] > mx, xT[i], mx);
        sumW += wT[i];
        sumX += wT[i] * xT[i];
    }
    mn = sel(mn > zero, zero, mn);
    const VI flat = mx == mn;
    // The first guess: a scale spanning [min, max].
    const VF iscale = splat(float(nmax)) / (mx - mn);
    VF scale = splat(1.f) / iscale;
    VF best = zero;
    for (int i = 0; i < n; ++i) xm[i] = xT[i] - mn;  // x - min, redone when a min moves
    for (int i = 0; i < n; ++i) {
        const VF l = nearestClamped(iscale * xm[i], 0, nmax);
        Lb[i] = l;
        VF diff = scale * l + mn - xT[i];
        diff = useMad ? absV(diff) : diff * diff;
        best += wT[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        const float num = rmin + rdelta * float(is) + float(nmax);
        const VF isc = splat(num) / (mx - mn);
        VF sumL = zero, sumL2 = zero, sumXL = zero;
        for (int i = 0; i < n; ++i) {
            const VF l = nearestClamped(isc * xm[i], 0, nmax);
            La[i] = l;
            const VF wl = wT[i] * l;
            sumL += wl;
            sumL2 += wl * l;
            sumXL += wl * xT[i];
        }
        const VF D = sumW * sumL2 - sumL * sumL;
        VF thisScale = (sumW * sumXL - sumX * sumL) / D;
        VF thisMin = (sumL2 * sumX - sumL * sumXL) / D;
        const VI pos = thisMin > zero;
        thisScale = sel(pos, sumXL / sumL2, thisScale);
        thisMin = sel(pos, zero, thisMin);
        VF err = zero;
        if (useMad) {
            for (int i = 0; i < n; ++i) err += wT[i] * absV(thisScale * La[i] + thisMin - xT[i]);
        } else {
            for (int i = 0; i < n; ++i) {
                const VF diff = thisScale * La[i] + thisMin - xT[i];
                err += wT[i] * (diff * diff);
            }
        }
        const VI win = (D > zero) & (err < best) & ~flat;
        if (!anyLane(win)) continue;
        for (int i = 0; i < n; ++i) Lb[i] = sel(win, La[i], Lb[i]);
        best = sel(win, err, best);
        scale = sel(win, thisScale, scale);
        mn = sel(win, thisMin, mn);
        for (int i = 0; i < n; ++i) xm[i] = xT[i] - mn;
    }
    scale = sel(flat, zero, scale);
    const VF negMin = -mn;
    for (int k = 0; k < lanes; ++k) {
        scOut[k] = scale[k];
        negMinOut[k] = negMin[k];
    }
    storeTransposed(Lb, n, lanes, 0, flat, Lout);
}

/// The value of largest magnitude per lane (the first one on ties) and that magnitude.
QS_KQ_INL VF largestMagnitude(const VF* xT, int n, VF& amax) {
    VF mx = splat(0.f);
    amax = splat(0.f);
    for (int i = 0; i < n; ++i) {
        const VF ax = absV(xT[i]);
        const VI gt = ax > amax;
        amax = sel(gt, ax, amax);
        mx = sel(gt, xT[i], mx);
    }
    return mx;
}

/// searchScaleSymRef (make_qx_quants, rmse_type 1) for `lanes` groups; weights x^2 when w is
/// null.
QS_KQ_FN void symLanes(int lanes, int n, int nmax, const float* x, const float* w, int8_t* Lout,
                       float* scOut) {
    VF xT[32], wT[32], wx[32], Lb[32], La[32];
    loadTransposed(x, n, lanes, xT);
    if (w) {
        loadTransposed(w, n, lanes, wT);
    } else {
        for (int i = 0; i < n; ++i) wT[i] = xT[i] * xT[i];
    }
    for (int i = 0; i < n; ++i) wx[i] = wT[i] * xT[i];  // w * x * l is (w * x) * l
    const VF zero = splat(0.f);
    VF amax;
    const VF mx = largestMagnitude(xT, n, amax);
    const VI flat = amax < splat(1e-15f);
    const VF iscale = splat(float(-nmax)) / mx;
    VF sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; ++i) {
        const VF l = nearestClamped(iscale * xT[i], -nmax, nmax - 1);
        Lb[i] = l;
        sumlx += wx[i] * l;
        suml2 += wT[i] * l * l;
    }
    VF scale = sel(suml2 != zero, sumlx / suml2, zero);
    VF best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const float num = -(float(nmax) + 0.1f * float(is));
        const VF isc = splat(num) / mx;
        sumlx = suml2 = zero;
        for (int i = 0; i < n; ++i) {
            const VF l = nearestClamped(isc * xT[i], -nmax, nmax - 1);
            La[i] = l;
            sumlx += wx[i] * l;
            suml2 += wT[i] * l * l;
        }
        const VI win = (suml2 > zero) & (sumlx * sumlx > best * suml2);
        if (!anyLane(win)) continue;
        for (int i = 0; i < n; ++i) Lb[i] = sel(win, La[i], Lb[i]);
        const VF newScale = sumlx / suml2;
        scale = sel(win, newScale, scale);
        best = sel(win, newScale * sumlx, best);
    }
    scale = sel(flat, zero, scale);
    for (int k = 0; k < lanes; ++k) scOut[k] = scale[k];
    storeTransposed(Lb, n, lanes, nmax, flat, reinterpret_cast<uint8_t*>(Lout));
}

/// fitQ3Group (make_q3_quants with do_rmse) for `lanes` <= P * kLanes groups, as P
/// interleaved lane sets (the coordinate descent is one long dependency chain per set; two
/// sets keep the pipeline busy). A lane stops after a round without change, as the scalar
/// loop breaks.
template <int P>
QS_KQ_FN void q3Lanes(int lanes, int n, int nmax, const float* x, int8_t* Lout, float* scOut) {
    VF xT[P][32], Lb[P][32], w2[P][32], wx[P][32];
    VF sumlx[P], suml2[P];
    VI flat[P], active[P];
    bool setActive[P];  // some lane of the set has not converged
    const VF zero = splat(0.f);
    bool anyActive = false;
    for (int p = 0; p < P; ++p) {
        const int lp = std::max(0, std::min(kLanes, lanes - p * kLanes));
        loadTransposed(x + p * kLanes * n, n, lp, xT[p]);
        for (int i = 0; i < n; ++i) {
            w2[p][i] = xT[p][i] * xT[p][i];  // the weights x^2
            wx[p][i] = w2[p][i] * xT[p][i];  // w * x * l is (w * x) * l
        }
        VF amax;
        const VF mx = largestMagnitude(xT[p], n, amax);
        flat[p] = amax < splat(1e-15f);
        const VF iscale = splat(float(-nmax)) / mx;
        sumlx[p] = suml2[p] = zero;
        for (int i = 0; i < n; ++i) {
            const VF l = nearestClamped(iscale * xT[p][i], -nmax, nmax - 1);
            Lb[p][i] = l;
            sumlx[p] += wx[p][i] * l;
            suml2[p] += w2[p][i] * l * l;
        }
        active[p] = ~flat[p];
        setActive[p] = anyLane(active[p]);
        anyActive = anyActive || setActive[p];
    }
    for (int itry = 0; itry < 5 && anyActive; ++itry) {
        VI changed[P];
        for (int p = 0; p < P; ++p) changed[p] = splatI(0);
        for (int i = 0; i < n; ++i) {
            for (int p = 0; p < P; ++p) {
                if (!setActive[p]) continue;
                const VF w = w2[p][i], L = Lb[p][i];
                VF slx = sumlx[p] - wx[p][i] * L;
                const VI positive = slx > zero;
                VF sl2 = suml2[p] - w * L * L;
                const VF newL = nearestClamped(xT[p][i] * sl2 / slx, -nmax, nmax - 1);
                const VI differs = newL != L;
                slx += wx[p][i] * newL;
                sl2 += w * newL * newL;
                const VI better = (sl2 > zero) & (slx * slx * suml2[p] > sumlx[p] * sumlx[p] * sl2);
                const VI upd = active[p] & positive & differs & better;
                Lb[p][i] = sel(upd, newL, L);
                sumlx[p] = sel(upd, slx, sumlx[p]);
                suml2[p] = sel(upd, sl2, suml2[p]);
                changed[p] |= upd;
            }
        }
        anyActive = false;
        for (int p = 0; p < P; ++p) {
            active[p] &= changed[p];
            setActive[p] = anyLane(active[p]);
            anyActive = anyActive || setActive[p];
        }
    }
    for (int p = 0; p < P; ++p) {
        const VF scale = sel(flat[p] | ~(suml2[p] > zero), zero, sumlx[p] / suml2[p]);
        const int lp = std::max(0, std::min(kLanes, lanes - p * kLanes));
        for (int k = 0; k < lp; ++k) scOut[p * kLanes + k] = scale[k];
        storeTransposed(Lb[p], n, lp, nmax, flat[p],
                        reinterpret_cast<uint8_t*>(Lout + p * kLanes * n));
    }
}

/// ggml's importance weights qw * sqrt(sigma2 + x^2) for n values (a multiple of kLanes).
QS_KQ_FN void importanceWeightsLanes(int n, const float* x, const float* qw, float sigma2,
                                     float* w) {
    for (int i = 0; i < n; i += kLanes) {
        VF xv, qv;
        __builtin_memcpy(&xv, x + i, sizeof xv);
        __builtin_memcpy(&qv, qw + i, sizeof qv);
        const VF r = qv * QS_KQ_SQRT(splat(sigma2) + xv * xv);
        __builtin_memcpy(w + i, &r, sizeof r);
    }
}

/// The encoders' final pass: per group g of len values (a multiple of kLanes) with d[g] != 0,
/// L = clamp(nearestInt((x + dm[g]) / d[g]), lo, hi) + offset as a byte (x / d[g] when dm is
/// null); groups with d[g] == 0 keep their L.
QS_KQ_FN void requantizeLanes(int groups, int len, const float* x, const float* d, const float* dm,
                              int lo, int hi, int offset, uint8_t* L) {
    for (int g = 0; g < groups; ++g) {
        if (d[g] == 0.f) continue;
        const VF dv = splat(d[g]);
        for (int i = g * len; i < (g + 1) * len; i += kLanes) {
            VF xv;
            __builtin_memcpy(&xv, x + i, sizeof xv);
            const VF q = dm ? (xv + splat(dm[g])) / dv : xv / dv;
            const VF biased = q + splat(12582912.f);
            VI l = ((VI)biased & splatI(0x007fffff)) - splatI(0x00400000);
            l = maxI(splatI(lo), minI(splatI(hi), l)) + splatI(offset);
            for (int k = 0; k < kLanes; ++k) L[i + k] = uint8_t(l[k]);
        }
    }
}
