#include "eval/kquant_dot_avx512.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
// g++ 12 flags the AVX-512 intrinsics' own undefined pass-through operands (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace qs::eval::detail {

using formats::TensorType;

namespace {

constexpr int kQK = 256;
constexpr int kLanes = 16;  // rows per group

inline int32_t pack16(int lo, int hi) {
    return int32_t(uint32_t(uint16_t(int16_t(lo))) | (uint32_t(uint16_t(int16_t(hi))) << 16));
}

}  // namespace

bool kquantAvx512Supported() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    return has;
#else
    return false;
#endif
}

void packRows16(const int8_t* q, const int16_t* s, const int16_t* m, const float* d,
                const float* dmin, int64_t rows, int64_t C, KPacked16& out) {
    const int64_t nb = C / kQK, groups = (rows + kLanes - 1) / kLanes, gb = groups * nb;
    out.C = C;
    out.nb = nb;
    out.rows = rows;
    out.groups = groups;
    out.q.assign(size_t(gb * kQK * kLanes), 0);
    out.sc32.assign(size_t(gb * 8 * kLanes), 0);
    out.scPair.assign(size_t(gb * 16 * kLanes), 0);
    out.offPair.assign(size_t(gb * 8 * kLanes), 0);
    out.minPair.assign(size_t(gb * 4 * kLanes), 0);
    out.d.assign(size_t(gb * kLanes), 0.0f);
    out.dmin.assign(size_t(gb * kLanes), 0.0f);
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t g = row / kLanes, r = row % kLanes;
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t blk = g * nb + b;
            const int8_t* qs = q + row * C + b * kQK;
            const int16_t* ss = s + row * (C / 16) + b * 16;
            const int16_t* ms = m + row * (C / 16) + b * 16;
            uint8_t* qo = out.q.data() + blk * kQK * kLanes + r * 4;
            for (int c = 0; c < 64; ++c) std::memcpy(qo + c * kLanes * 4, qs + 4 * c, 4);
            for (int j = 0; j < 8; ++j) out.sc32[size_t((blk * 8 + j) * kLanes + r)] = ss[2 * j];
            for (int k = 0; k < 16; ++k) {
                out.scPair[size_t((blk * 16 + k) * kLanes + r)] = pack16(ss[k], ss[k]);
            }
            for (int l = 0; l < 8; ++l) {
                out.offPair[size_t((blk * 8 + l) * kLanes + r)] =
                    pack16(-32 * ss[2 * l], -32 * ss[2 * l + 1]);
            }
            for (int p = 0; p < 4; ++p) {
                out.minPair[size_t((blk * 4 + p) * kLanes + r)] = pack16(ms[4 * p], ms[4 * p + 2]);
            }
            out.d[size_t(blk * kLanes + r)] = d[row * nb + b];
            out.dmin[size_t(blk * kLanes + r)] = dmin[row * nb + b];
        }
    }
}

void bsumPairs(const int16_t* bsums, int64_t nTok, int64_t C, int32_t* out) {
    for (int64_t i = 0; i < nTok * (C / 64); ++i) {
        const int16_t* bs = bsums + 4 * i;
        out[i] = pack16(bs[0] + bs[1], bs[2] + bs[3]);
    }
}

#if defined(__x86_64__) || defined(__i386__)

#define QS_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace {

inline int32_t load32(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

/// Repacked Q4_K (ggml_gemm/gemv_q4_K_8x8_q8_K's order) for NT tokens and one group of 16
/// rows: per sub-block the unscaled 32-value sums (vpdpbusd, exact: 0..15 times -127..127),
/// times the scale, added per pair of sub-blocks; the GEMM fuses each pair into the lane's
/// chain, the GEMV the sum of the four.
template <int NT, bool kGemm>
[[gnu::always_inline]] QS_TARGET_AVX512 inline void q4kRepackedGroup(const KPacked16& w, int64_t g,
                                                                     const KTokensQ8K& a,
                                                                     int64_t t0, float* y,
                                                                     int64_t ldy, int rowsHere) {
    const int64_t nb = w.nb, C = w.C;
    __m512 acc[NT], accm[NT];
    for (int k = 0; k < NT; ++k) acc[k] = accm[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const int64_t blk = g * nb + b;
        const uint8_t* qb = w.q.data() + blk * kQK * kLanes;
        const int32_t* sc = w.sc32.data() + blk * 8 * kLanes;
        const int32_t* mp = w.minPair.data() + blk * 4 * kLanes;
        const __m512 wd = _mm512_loadu_ps(w.d.data() + blk * kLanes);
        const __m512 wdm = _mm512_loadu_ps(w.dmin.data() + blk * kLanes);
        const int8_t* ak[NT];
        const int32_t* bk[NT];
        __m512 ds[NT], dm[NT];
        for (int k = 0; k < NT; ++k) {
            ak[k] = a.q + (t0 + k) * C + b * kQK;
            bk[k] = a.bsumPairs + ((t0 + k) * nb + b) * 4;
            const __m512 xd = _mm512_set1_ps(a.d[(t0 + k) * nb + b]);
            ds[k] = _mm512_mul_ps(wd, xd);
            dm[k] = _mm512_mul_ps(wdm, xd);
        }
        __m512i osum[NT], omsum[NT];
        for (int k = 0; k < NT; ++k) osum[k] = omsum[k] = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p) {
            __m512i s0[NT], s1[NT];
            for (int k = 0; k < NT; ++k) s0[k] = s1[k] = _mm512_setzero_si512();
            const uint8_t* q0 = qb + (2 * p) * 8 * 64;
            const uint8_t* q1 = q0 + 8 * 64;
            for (int l = 0; l < 8; ++l) {
                const __m512i w0 = _mm512_loadu_si512(q0 + 64 * l);
                const __m512i w1 = _mm512_loadu_si512(q1 + 64 * l);
                for (int k = 0; k < NT; ++k) {
                    const int8_t* ap = ak[k] + 64 * p + 4 * l;
                    s0[k] = _mm512_dpbusd_epi32(s0[k], w0, _mm512_set1_epi32(load32(ap)));
                    s1[k] = _mm512_dpbusd_epi32(s1[k], w1, _mm512_set1_epi32(load32(ap + 32)));
                }
            }
            const __m512i sc0 = _mm512_loadu_si512(sc + (2 * p) * kLanes);
            const __m512i sc1 = _mm512_loadu_si512(sc + (2 * p + 1) * kLanes);
            const __m512i mins = _mm512_loadu_si512(mp + p * kLanes);
            for (int k = 0; k < NT; ++k) {
                const __m512i o = _mm512_add_epi32(_mm512_mullo_epi32(s0[k], sc0),
                                                   _mm512_mullo_epi32(s1[k], sc1));
                const __m512i om = _mm512_madd_epi16(mins, _mm512_set1_epi32(bk[k][p]));
                if (kGemm) {
                    acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(o), ds[k], acc[k]);
                    accm[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(om), dm[k], accm[k]);
                } else {
                    osum[k] = _mm512_add_epi32(osum[k], o);
                    omsum[k] = _mm512_add_epi32(omsum[k], om);
                }
            }
        }
        if (!kGemm) {
            for (int k = 0; k < NT; ++k) {
                acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(osum[k]), ds[k], acc[k]);
                accm[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(omsum[k]), dm[k], accm[k]);
            }
        }
    }
    const __mmask16 keep = __mmask16((1u << rowsHere) - 1);
    for (int k = 0; k < NT; ++k) {
        _mm512_mask_storeu_ps(y + (t0 + k) * ldy, keep, _mm512_sub_ps(acc[k], accm[k]));
    }
}

/// ggml_vec_dot_{q4,q5,q6}_K_q8_K's AVX2 order for NT tokens and one group of 16 rows: per
/// (32-value chunk s, lane l) vpmaddubsw of the row quants (0..63) with the token's four
/// values (pairs <= 2 * 63 * 127: no saturation) and vpdpwssd with the 16-value group's scale;
/// per super-block the eight lanes' chains, the Q6_K offset, the Q4_K / Q5_K minima.
template <int NT, TensorType kType>
[[gnu::always_inline]] QS_TARGET_AVX512 inline void vecDotGroup(const KPacked16& w, int64_t g,
                                                                const KTokensQ8K& a, int64_t t0,
                                                                float* y, int64_t ldy,
                                                                int rowsHere) {
    const int64_t nb = w.nb, C = w.C;
    __m512 facc[NT][8], faccm[NT][4], summs[NT];
    for (int k = 0; k < NT; ++k) {
        for (int l = 0; l < 8; ++l) facc[k][l] = _mm512_setzero_ps();
        for (int i = 0; i < 4; ++i) faccm[k][i] = _mm512_setzero_ps();
        summs[k] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
        const int64_t blk = g * nb + b;
        const uint8_t* qb = w.q.data() + blk * kQK * kLanes;
        const int32_t* scp = w.scPair.data() + blk * 16 * kLanes;
        const int8_t* ak[NT];
        const int16_t* bk[NT];
        for (int k = 0; k < NT; ++k) {
            ak[k] = a.q + (t0 + k) * C + b * kQK;
            bk[k] = a.bsums + (t0 + k) * (C / 16) + b * 16;
        }
        // Q6_K's offset first: −32 · (scale 2l · bsum 2l + scale 2l+1 · bsum 2l+1) in lane l.
        __m512i acc[NT][8];
        for (int k = 0; k < NT; ++k) {
            for (int l = 0; l < 8; ++l) {
                acc[k][l] = _mm512_setzero_si512();
                if (kType == TensorType::Q6_K) {
                    int32_t bsp;
                    std::memcpy(&bsp, bk[k] + 2 * l, 4);
                    acc[k][l] = _mm512_madd_epi16(
                        _mm512_loadu_si512(w.offPair.data() + (blk * 8 + l) * kLanes),
                        _mm512_set1_epi32(bsp));
                }
            }
        }
        for (int s = 0; s < 8; ++s) {
            const __m512i scLo = _mm512_loadu_si512(scp + (2 * s) * kLanes);
            const __m512i scHi = _mm512_loadu_si512(scp + (2 * s + 1) * kLanes);
            for (int l = 0; l < 8; ++l) {
                const __m512i wv = _mm512_loadu_si512(qb + (s * 8 + l) * 64);
                for (int k = 0; k < NT; ++k) {
                    const __m512i p =
                        _mm512_maddubs_epi16(wv, _mm512_set1_epi32(load32(ak[k] + 32 * s + 4 * l)));
                    acc[k][l] = _mm512_dpwssd_epi32(acc[k][l], p, l < 4 ? scLo : scHi);
                }
            }
        }
        const __m512 wd = _mm512_loadu_ps(w.d.data() + blk * kLanes);
        const __m512 wdm = _mm512_loadu_ps(w.dmin.data() + blk * kLanes);
        for (int k = 0; k < NT; ++k) {
            const float xd = a.d[(t0 + k) * nb + b];
            const __m512 dv = _mm512_mul_ps(_mm512_set1_ps(xd), wd);
            for (int l = 0; l < 8; ++l) {
                facc[k][l] = _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(acc[k][l]), facc[k][l]);
            }
            if (kType == TensorType::Q4_K || kType == TensorType::Q5_K) {
                const __m512 dmin = _mm512_mul_ps(_mm512_set1_ps(-xd), wdm);
                __m512i prod[4];
                for (int i = 0; i < 4; ++i) {
                    prod[i] = _mm512_madd_epi16(
                        _mm512_loadu_si512(w.minPair.data() + (blk * 4 + i) * kLanes),
                        _mm512_set1_epi32(a.bsumPairs[((t0 + k) * nb + b) * 4 + i]));
                }
                if (kType == TensorType::Q4_K) {
                    for (int i = 0; i < 4; ++i) {
                        faccm[k][i] =
                            _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(prod[i]), faccm[k][i]);
                    }
                } else {
                    const __m512i all = _mm512_add_epi32(_mm512_add_epi32(prod[0], prod[1]),
                                                         _mm512_add_epi32(prod[2], prod[3]));
                    summs[k] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(all), summs[k]);
                }
            }
        }
    }
    const __mmask16 keep = __mmask16((1u << rowsHere) - 1);
    for (int k = 0; k < NT; ++k) {
        const __m512* v = facc[k];
        // hsum_float_8: (i + i+4), then (0+2) + (1+3).
        __m512 r =
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v[0], v[4]), _mm512_add_ps(v[2], v[6])),
                          _mm512_add_ps(_mm512_add_ps(v[1], v[5]), _mm512_add_ps(v[3], v[7])));
        if (kType == TensorType::Q4_K) {
            const __m512* m = faccm[k];
            r = _mm512_add_ps(r,
                              _mm512_add_ps(_mm512_add_ps(m[0], m[2]), _mm512_add_ps(m[1], m[3])));
        }
        if (kType == TensorType::Q5_K) r = _mm512_add_ps(r, summs[k]);
        _mm512_mask_storeu_ps(y + (t0 + k) * ldy, keep, r);
    }
}

template <TensorType kType>
QS_TARGET_AVX512 void vecDotAll(const KPacked16& w, const KTokensQ8K& a, int64_t nTok, float* y,
                                int64_t ldy) {
    for (int64_t t0 = 0; t0 < nTok; t0 += 2) {
        for (int64_t g = 0; g < w.groups; ++g) {
            const int rowsHere = int(std::min<int64_t>(kLanes, w.rows - g * kLanes));
            float* yg = y + g * kLanes;
            if (nTok - t0 >= 2) {
                vecDotGroup<2, kType>(w, g, a, t0, yg, ldy, rowsHere);
            } else {
                vecDotGroup<1, kType>(w, g, a, t0, yg, ldy, rowsHere);
            }
        }
    }
}

QS_TARGET_AVX512 void q4kRepackedAll(const KPacked16& w, const KTokensQ8K& a, int64_t nTok,
                                     int64_t gemmTokens, float* y, int64_t ldy) {
    for (int64_t t0 = 0; t0 < nTok;) {
        const int64_t n = std::min<int64_t>(4, nTok - t0);
        // A group of four never straddles the GEMM / GEMV boundary (a multiple of 4).
        const bool gemm = t0 < gemmTokens;
        for (int64_t g = 0; g < w.groups; ++g) {
            const int rowsHere = int(std::min<int64_t>(kLanes, w.rows - g * kLanes));
            float* yg = y + g * kLanes;
            if (gemm) {
                q4kRepackedGroup<4, true>(w, g, a, t0, yg, ldy, rowsHere);
            } else if (n == 4) {
                q4kRepackedGroup<4, false>(w, g, a, t0, yg, ldy, rowsHere);
            } else if (n >= 2) {
                q4kRepackedGroup<2, false>(w, g, a, t0, yg, ldy, rowsHere);
            } else {
                q4kRepackedGroup<1, false>(w, g, a, t0, yg, ldy, rowsHere);
            }
        }
        t0 += gemm || n == 4 ? 4 : (n >= 2 ? 2 : 1);
    }
}

}  // namespace

void kquantPackedAvx512(TensorType type, const KPacked16& w, const KTokensQ8K& a, int64_t nTok,
                        bool repacked, int64_t gemmTokens, float* y, int64_t ldy) {
    if (repacked) {
        q4kRepackedAll(w, a, nTok, gemmTokens, y, ldy);
        return;
    }
    switch (type) {
    case TensorType::Q4_K: vecDotAll<TensorType::Q4_K>(w, a, nTok, y, ldy); break;
    case TensorType::Q5_K: vecDotAll<TensorType::Q5_K>(w, a, nTok, y, ldy); break;
    case TensorType::Q6_K: vecDotAll<TensorType::Q6_K>(w, a, nTok, y, ldy); break;
    default: break;
    }
}

#else

void kquantPackedAvx512(TensorType, const KPacked16&, const KTokensQ8K&, int64_t, bool, int64_t,
                        float*, int64_t) {}

#endif

}  // namespace qs::eval::detail
