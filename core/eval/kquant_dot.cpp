#include "eval/kquant_dot.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

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

#include "eval/cpu_features.h"
#include "eval/kquant_dot_avx512.h"
#include "formats/block_layouts.h"
#include "formats/half.h"
#include "formats/iq_grids.h"
#include "parallel/parallel.h"

namespace qs::eval::detail {

using formats::TensorType;
namespace blk = formats::blocks;

namespace {
std::atomic<int> gLevelCap{int(KDotLevel::Avx512)};
}  // namespace

KDotLevel kquantDotSupported() {
#if defined(__x86_64__) || defined(__i386__)
    if (cpuHasAvx2Fma() && kquantAvx512Supported()) return KDotLevel::Avx512;
    if (cpuHasAvx2Fma()) return KDotLevel::Avx2;
#endif
    return KDotLevel::Portable;
}

KDotLevel kquantDotLevel() {
    return KDotLevel(std::min(int(kquantDotSupported()), gLevelCap.load()));
}

void setKQuantDotLevel(KDotLevel level) {
    gLevelCap.store(int(level));
}

const char* kquantDotLevelName(KDotLevel level) {
    switch (level) {
    case KDotLevel::Portable: return "portable";
    case KDotLevel::Avx2: return "avx2";
    case KDotLevel::Avx512: return "avx512";
    }
    return "?";
}

bool kquantIntDotType(TensorType t) {
    return t == TensorType::Q3_K || t == TensorType::Q4_K || t == TensorType::Q5_K ||
           t == TensorType::Q6_K || t == TensorType::IQ4_XS;
}

namespace {

constexpr int kQK = 256;

// ------------------------------------------------------------------------------------------
// Operands in one integer form: per super-block 256 int8 quants in element order (unsigned
// 0..63 for Q4_K/Q5_K/Q6_K as ggml multiplies them, signed for Q3_K and IQ4_XS), an int16
// scale per 16 values, an int16 minimum per 32 (Q4_K, Q5_K) and the float super-scales.
// ------------------------------------------------------------------------------------------

struct RowsInt {
    std::vector<int8_t> q;    // rows x C
    std::vector<int16_t> s;   // rows x C/16
    std::vector<int16_t> m;   // rows x C/16 (each 32-value minimum twice)
    std::vector<float> d;     // rows x C/256
    std::vector<float> dmin;  // rows x C/256
    void resize(int64_t rows, int64_t C) {
        q.resize(size_t(rows * C));
        s.resize(size_t(rows * C / 16));
        m.resize(size_t(rows * C / 16));
        d.resize(size_t(rows * C / kQK));
        dmin.resize(size_t(rows * C / kQK));
    }
};

/// One stored row (C values) into the integer form.
void unpackRow(TensorType t, const uint8_t* src, int64_t C, int8_t* q, int16_t* s, int16_t* m,
               float* d, float* dmin) {
    const int64_t nb = C / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        int8_t* qb = q + b * kQK;
        int16_t* sb = s + b * 16;
        int16_t* mb = m + b * 16;
        std::fill(mb, mb + 16, int16_t(0));  // no minima but Q4_K's and Q5_K's
        switch (t) {
        case TensorType::Q4_K:
        case TensorType::Q5_K: {
            const bool five = t == TensorType::Q5_K;
            const uint8_t* raw = src + b * (five ? sizeof(blk::BlockQ5_K) : sizeof(blk::BlockQ4_K));
            uint16_t hd, hm;
            std::memcpy(&hd, raw, 2);
            std::memcpy(&hm, raw + 2, 2);
            const uint8_t* scales = raw + 4;
            const uint8_t* qh = five ? raw + 16 : nullptr;
            const uint8_t* qs = five ? raw + 48 : raw + 16;
            d[b] = formats::halfToFloat(hd);
            dmin[b] = formats::halfToFloat(hm);
            for (int j = 0; j < 8; ++j) {
                int sc, mn;
                blk::scaleMinK4(j, scales, sc, mn);
                sb[2 * j] = sb[2 * j + 1] = int16_t(sc);
                mb[2 * j] = mb[2 * j + 1] = int16_t(mn);
            }
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    int lo = qs[j * 32 + l] & 15, hi = qs[j * 32 + l] >> 4;
                    if (five) {
                        lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                        hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
                    }
                    qb[j * 64 + l] = int8_t(lo);
                    qb[j * 64 + 32 + l] = int8_t(hi);
                }
            }
            break;
        }
        case TensorType::Q6_K: {
            const auto x = blk::loadBlock<blk::BlockQ6_K>(src + b * sizeof(blk::BlockQ6_K));
            d[b] = formats::halfToFloat(x.d);
            dmin[b] = 0;
            for (int g = 0; g < 16; ++g) sb[g] = x.scales[g];
            for (int n = 0; n < 2; ++n) {
                const uint8_t* ql = x.ql + 64 * n;
                const uint8_t* qh = x.qh + 32 * n;
                int8_t* o = qb + 128 * n;
                for (int l = 0; l < 32; ++l) {
                    o[l] = int8_t((ql[l] & 15) | ((qh[l] & 3) << 4));
                    o[l + 32] = int8_t((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
                    o[l + 64] = int8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                    o[l + 96] = int8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
                }
            }
            break;
        }
        case TensorType::Q3_K: {
            const auto x = blk::loadBlock<blk::BlockQ3_K>(src + b * sizeof(blk::BlockQ3_K));
            d[b] = formats::halfToFloat(x.d);
            dmin[b] = 0;
            for (int g = 0; g < 16; ++g) {
                const int lo = g < 8 ? (x.scales[g] & 0x0f) : (x.scales[g - 8] >> 4);
                const int hi = (x.scales[8 + g % 4] >> (2 * (g / 4))) & 3;
                sb[g] = int16_t((lo | (hi << 4)) - 32);
            }
            for (int n = 0; n < 2; ++n) {
                for (int j = 0; j < 4; ++j) {
                    const int mask = 1 << (4 * n + j);
                    for (int l = 0; l < 32; ++l) {
                        const int low = (x.qs[32 * n + l] >> (2 * j)) & 3;
                        qb[128 * n + 32 * j + l] = int8_t(low - ((x.hmask[l] & mask) ? 0 : 4));
                    }
                }
            }
            break;
        }
        case TensorType::IQ4_XS: {
            const auto x = blk::loadBlock<blk::BlockIQ4_XS>(src + b * sizeof(blk::BlockIQ4_XS));
            d[b] = formats::halfToFloat(x.d);
            dmin[b] = 0;
            for (int ib = 0; ib < 8; ++ib) {
                const int ls = ((x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
                               (((x.scales_h >> (2 * ib)) & 3) << 4);
                sb[2 * ib] = sb[2 * ib + 1] = int16_t(ls - 32);
                for (int j = 0; j < 16; ++j) {
                    qb[32 * ib + j] = formats::iq::kIq4nlValues[x.qs[16 * ib + j] & 0xf];
                    qb[32 * ib + 16 + j] = formats::iq::kIq4nlValues[x.qs[16 * ib + j] >> 4];
                }
            }
            break;
        }
        default: break;
        }
    }
}

/// Q8_K activations of a row: quantize_row_q8_K (the value of largest magnitude maps to
/// -127, float scale 1 / iscale, round to nearest even), bsums per 16.
void quantizeQ8K(const float* x, int64_t n, int8_t* q, float* d, int16_t* bsums) {
    for (int64_t b = 0; b < n / kQK; ++b) {
        const float* xb = x + b * kQK;
        int8_t* qb = q + b * kQK;
        float amax = 0, max = 0;
        for (int j = 0; j < kQK; ++j) {
            const float ax = std::fabs(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax == 0) {
            d[b] = 0;
            std::fill(qb, qb + kQK, int8_t(0));
            std::fill(bsums + b * 16, bsums + b * 16 + 16, int16_t(0));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < kQK; ++j) {
            qb[j] = int8_t(std::min(127.0f, std::nearbyint(iscale * xb[j])));
        }
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += qb[16 * g + j];
            bsums[b * 16 + g] = int16_t(sum);
        }
        d[b] = 1 / iscale;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/// quantizeQ8K with AVX-512: the same amax (the first value of largest magnitude), the same
/// float products rounded to nearest even, the same bsums (one 16-value group per vector).
__attribute__((target("avx512f,avx512bw"))) void quantizeQ8KAvx512(const float* x, int64_t n,
                                                                   int8_t* q, float* d,
                                                                   int16_t* bsums) {
    for (int64_t b = 0; b < n / kQK; ++b) {
        const float* xb = x + b * kQK;
        int8_t* qb = q + b * kQK;
        __m512 vmax = _mm512_setzero_ps();
        for (int c = 0; c < 16; ++c)
            vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + 16 * c)), vmax);
        const float amax = _mm512_reduce_max_ps(vmax);
        if (!(amax > 0)) {
            quantizeQ8K(xb, kQK, qb, d + b, bsums + b * 16);  // zeros (or NaNs): the scalar way
            continue;
        }
        float max = 0;
        for (int c = 0; c < 16; ++c) {
            const __mmask16 m = _mm512_cmpeq_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb + 16 * c)),
                                                     _mm512_set1_ps(amax));
            if (m) {
                max = xb[16 * c + __builtin_ctz(unsigned(m))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int c = 0; c < 16; ++c) {
            const __m512 r =
                _mm512_min_ps(_mm512_roundscale_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(xb + 16 * c)),
                                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                              _mm512_set1_ps(127.0f));
            const __m512i qi = _mm512_cvtps_epi32(r);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16 * c), _mm512_cvtepi32_epi8(qi));
            bsums[b * 16 + c] = int16_t(_mm512_reduce_add_epi32(qi));
        }
        d[b] = 1 / iscale;
    }
}
#endif

/// quantizeQ8K, vectorized where the CPU allows (the same bytes).
void quantizeQ8KFast(const float* x, int64_t n, int8_t* q, float* d, int16_t* bsums) {
#if defined(__x86_64__) || defined(__i386__)
    static const bool avx512 =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (avx512 && kquantDotLevel() != KDotLevel::Portable) {
        quantizeQ8KAvx512(x, n, q, d, bsums);
        return;
    }
#endif
    quantizeQ8K(x, n, q, d, bsums);
}

// ------------------------------------------------------------------------------------------
// Integer sums, 16 int32 per (token, super-block):
//  - vec_dot types: [0..7] the eight lanes, lane l = sum over the 32-value chunks s of
//    scale(32s + 4l) * (4-value dot at 32s + 4l) (ggml's madd(maddubs(q, q8), scales) lanes),
//    minus for Q6_K its offset 32 * madd(bsums, scales) lane l; [8..15] m16 * bsums madd lanes
//    (lane k = min_k * bsum32_k; zero without minima);
//  - repacked Q4_K: [0..3] the sums of the 64-value pairs of sub-blocks, [4..7] their minimum
//    terms min * bsum32.
// Every value is an exact integer, so the AVX2 and the portable code agree.
// ------------------------------------------------------------------------------------------

constexpr int kSlots = 16;

struct KernelIn {
    const int8_t* q;              // weight row, element order
    const int16_t* sc;            // its scales per 16
    const int16_t* mins;          // its minima per 16 (duplicated per 32)
    const int8_t* const* a;       // n token rows (Q8_K quants)
    const int16_t* const* bsums;  // n token rows' bsums
    int n;
    int64_t nb;
    bool pairs, signedQ, q6Offset;
};

void intSumsPlain(const KernelIn& in, int32_t* out) {
    for (int k = 0; k < in.n; ++k) {
        for (int64_t b = 0; b < in.nb; ++b) {
            const int8_t* q = in.q + b * kQK;
            const int8_t* a = in.a[k] + b * kQK;
            const int16_t* sc = in.sc + b * 16;
            const int16_t* mn = in.mins + b * 16;
            const int16_t* bs = in.bsums[k] + b * 16;
            int32_t* o = out + (k * in.nb + b) * kSlots;
            int32_t lanes[8] = {}, chunk[8] = {}, mins[8];
            for (int s = 0; s < 8; ++s) {
                for (int l = 0; l < 8; ++l) {
                    const int e = 32 * s + 4 * l;
                    const int32_t d4 = int32_t(q[e]) * a[e] + int32_t(q[e + 1]) * a[e + 1] +
                                       int32_t(q[e + 2]) * a[e + 2] + int32_t(q[e + 3]) * a[e + 3];
                    const int32_t v = int32_t(sc[2 * s + (l >= 4)]) * d4;
                    lanes[l] += v;
                    chunk[s] += v;
                }
            }
            for (int l = 0; l < 8; ++l) {
                mins[l] = int32_t(bs[2 * l]) * mn[2 * l] + int32_t(bs[2 * l + 1]) * mn[2 * l + 1];
            }
            if (in.pairs) {
                for (int p = 0; p < 4; ++p) {
                    o[p] = chunk[2 * p] + chunk[2 * p + 1];
                    o[4 + p] = mins[2 * p] + mins[2 * p + 1];
                }
                continue;
            }
            for (int l = 0; l < 8; ++l) {
                const int32_t off = in.q6Offset ? 32 * (int32_t(bs[2 * l]) * sc[2 * l] +
                                                        int32_t(bs[2 * l + 1]) * sc[2 * l + 1])
                                                : 0;
                o[l] = lanes[l] - off;
                o[8 + l] = mins[l];
            }
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
// The same integers with AVX2: each weight vector and its scales are loaded once for the n
// tokens. Unsigned quants (Q4_K, Q5_K, Q6_K) go straight into maddubs; signed ones (Q3_K,
// IQ4_XS) as |q| against a with q's sign (exact: |q|, |a| <= 127 never saturate the pairs).
// The token count is a template argument so that the accumulators stay in registers.
template <bool kSigned, bool kPairs, int n>
[[gnu::always_inline]] QS_EVAL_TARGET_AVX2 inline void intSumsAvx2Body(const KernelIn& in, int koff,
                                                                       int32_t* out) {
    for (int64_t b = 0; b < in.nb; ++b) {
        const int8_t* qb = in.q + b * kQK;
        const int16_t* sb = in.sc + b * 16;
        const __m256i mins16 =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in.mins + b * 16));
        const __m256i sc16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb));
        __m256i acc[n];
        __m256i part[n][4];
        for (int k = 0; k < n; ++k) {
            acc[k] = _mm256_setzero_si256();
            for (int p = 0; p < 4; ++p) part[k][p] = _mm256_setzero_si256();
        }
        for (int s = 0; s < 8; ++s) {
            const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb + 32 * s));
            const __m256i qa = kSigned ? _mm256_sign_epi8(qv, qv) : qv;
            const __m256i scv =
                _mm256_set_m128i(_mm_set1_epi16(sb[2 * s + 1]), _mm_set1_epi16(sb[2 * s]));
            for (int k = 0; k < n; ++k) {
                __m256i av = _mm256_loadu_si256(
                    reinterpret_cast<const __m256i*>(in.a[koff + k] + b * kQK + 32 * s));
                if (kSigned) av = _mm256_sign_epi8(av, qv);
                const __m256i m = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, av), scv);
                if (kPairs) {
                    part[k][s / 2] = _mm256_add_epi32(part[k][s / 2], m);
                } else {
                    acc[k] = _mm256_add_epi32(acc[k], m);
                }
            }
        }
        for (int k = 0; k < n; ++k) {
            int32_t* o = out + ((koff + k) * in.nb + b) * kSlots;
            const __m256i bs =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in.bsums[koff + k] + b * 16));
            const __m256i mins = _mm256_madd_epi16(bs, mins16);
            if (!kPairs) {
                __m256i lanes = acc[k];
                if (in.q6Offset) {
                    lanes =
                        _mm256_sub_epi32(lanes, _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
                }
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), lanes);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 8), mins);
                continue;
            }
            // Pair sums: horizontal adds over the four pair vectors, then the two halves; the
            // minimum terms: adjacent lanes added.
            const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(part[k][0], part[k][1]),
                                                _mm256_hadd_epi32(part[k][2], part[k][3]));
            _mm_storeu_si128(
                reinterpret_cast<__m128i*>(o),
                _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
            const __m256i mh = _mm256_hadd_epi32(mins, mins);  // [m01 m23 . . | m45 m67 . .]
            const __m128i mlo = _mm256_castsi256_si128(mh), mhi = _mm256_extracti128_si256(mh, 1);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 4), _mm_unpacklo_epi64(mlo, mhi));
        }
    }
}
template <bool kSigned, bool kPairs>
[[gnu::always_inline]] QS_EVAL_TARGET_AVX2 inline void intSumsAvx2N(const KernelIn& in,
                                                                    int32_t* out) {
    if (in.n == 4) {
        intSumsAvx2Body<kSigned, kPairs, 4>(in, 0, out);
        return;
    }
    for (int k = 0; k < in.n; ++k) intSumsAvx2Body<kSigned, kPairs, 1>(in, k, out);
}
QS_EVAL_TARGET_AVX2 void intSumsAvx2(const KernelIn& in, int32_t* out) {
    if (in.pairs) {
        intSumsAvx2N<false, true>(in, out);
    } else if (in.signedQ) {
        intSumsAvx2N<true, false>(in, out);
    } else {
        intSumsAvx2N<false, false>(in, out);
    }
}
#endif

using IntSumsFn = void (*)(const KernelIn&, int32_t*);

// hsum_float_8: (i + i+4), then (0+2) + (1+3).
inline float hsum8(const float* v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

struct RowView {
    const float* d;
    const float* dmin;
};

/// ggml_vec_dot_*_q8_K's float steps for one token: eight lanes fused with d_x * d_w per
/// super-block, the Q4_K minima in four lanes, Q5_K's in one scalar, then the horizontal sums.
[[gnu::always_inline]] inline float combineVecDot(TensorType t, const RowView& w, const float* xd,
                                                  int64_t nb, const int32_t* sums) {
    float acc[8] = {};
    float accm[4] = {};
    float summs = 0;
    const bool withMin = t == TensorType::Q4_K || t == TensorType::Q5_K;
    for (int64_t b = 0; b < nb; ++b) {
        const int32_t* o = sums + b * kSlots;
        const float d = xd[b] * w.d[b];
        for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, float(o[l]), acc[l]);
        if (!withMin) continue;
        const float dmin = -xd[b] * w.dmin[b];
        int32_t prod[4];
        for (int i = 0; i < 4; ++i) prod[i] = o[8 + 2 * i] + o[8 + 2 * i + 1];
        if (t == TensorType::Q4_K) {
            for (int i = 0; i < 4; ++i) accm[i] = std::fma(dmin, float(prod[i]), accm[i]);
        } else {
            summs = std::fma(dmin, float((prod[0] + prod[1]) + (prod[2] + prod[3])), summs);
        }
    }
    float r = hsum8(acc);
    if (t == TensorType::Q4_K) r += (accm[0] + accm[2]) + (accm[1] + accm[3]);
    if (t == TensorType::Q5_K) r += summs;
    return r;
}

/// ggml_gemm/gemv_q4_K_8x8_q8_K's float steps for n <= 4 tokens in lockstep (independent
/// chains overlap in the pipeline): separate d and dmin accumulators with col * row scales, one
/// fused step per 64 values (GEMM) or per super-block (GEMV), then acc - accm.
[[gnu::always_inline]] inline void combineRepacked(bool gemm, const RowView& w,
                                                   const float* const* xd, int n, int64_t nb,
                                                   const int32_t* sums, float* out) {
    float acc[4] = {0, 0, 0, 0}, accm[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; ++b) {
        for (int k = 0; k < n; ++k) {
            const float ds = w.d[b] * xd[k][b], dm = w.dmin[b] * xd[k][b];
            const int32_t* o = sums + (k * nb + b) * kSlots;
            if (gemm) {
                for (int p = 0; p < 4; ++p) {
                    acc[k] = std::fma(float(o[p]), ds, acc[k]);
                    accm[k] = std::fma(float(o[4 + p]), dm, accm[k]);
                }
            } else {
                acc[k] = std::fma(float((o[0] + o[1]) + (o[2] + o[3])), ds, acc[k]);
                accm[k] = std::fma(float((o[4] + o[5]) + (o[6] + o[7])), dm, accm[k]);
            }
        }
    }
    for (int k = 0; k < n; ++k) out[k] = acc[k] - accm[k];
}

#if defined(__x86_64__) || defined(__i386__)
/// combineRepacked for four tokens in the four lanes of an SSE register: each lane's chain is
/// exactly the scalar one (the same products, fused steps and order).
QS_EVAL_TARGET_AVX2 void combineRepacked4Avx2(bool gemm, const RowView& w, const float* const* xd,
                                              int64_t nb, const int32_t* sums, float* out) {
    __m128 acc = _mm_setzero_ps(), accm = _mm_setzero_ps();
    const int64_t ks = nb * kSlots;
    auto ld = [](const int32_t* p) {
        return _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    };
    auto cvt = [](__m128 v) { return _mm_cvtepi32_ps(_mm_castps_si128(v)); };
    for (int64_t b = 0; b < nb; ++b) {
        const __m128 xdv = _mm_set_ps(xd[3][b], xd[2][b], xd[1][b], xd[0][b]);
        const __m128 ds = _mm_mul_ps(_mm_set1_ps(w.d[b]), xdv);
        const __m128 dm = _mm_mul_ps(_mm_set1_ps(w.dmin[b]), xdv);
        const int32_t* o = sums + b * kSlots;
        // Rows: tokens; after the transpose, register p holds slot p of the four tokens.
        __m128 s0 = ld(o), s1 = ld(o + ks), s2 = ld(o + 2 * ks), s3 = ld(o + 3 * ks);
        __m128 m0 = ld(o + 4), m1 = ld(o + ks + 4), m2 = ld(o + 2 * ks + 4),
               m3 = ld(o + 3 * ks + 4);
        _MM_TRANSPOSE4_PS(s0, s1, s2, s3);
        _MM_TRANSPOSE4_PS(m0, m1, m2, m3);
        if (gemm) {
            acc = _mm_fmadd_ps(cvt(s0), ds, acc);
            accm = _mm_fmadd_ps(cvt(m0), dm, accm);
            acc = _mm_fmadd_ps(cvt(s1), ds, acc);
            accm = _mm_fmadd_ps(cvt(m1), dm, accm);
            acc = _mm_fmadd_ps(cvt(s2), ds, acc);
            accm = _mm_fmadd_ps(cvt(m2), dm, accm);
            acc = _mm_fmadd_ps(cvt(s3), ds, acc);
            accm = _mm_fmadd_ps(cvt(m3), dm, accm);
        } else {
            auto isum = [](__m128 a, __m128 b2, __m128 c, __m128 d) {
                const __m128i x = _mm_add_epi32(_mm_castps_si128(a), _mm_castps_si128(b2));
                const __m128i y = _mm_add_epi32(_mm_castps_si128(c), _mm_castps_si128(d));
                return _mm_cvtepi32_ps(_mm_add_epi32(x, y));
            };
            acc = _mm_fmadd_ps(isum(s0, s1, s2, s3), ds, acc);
            accm = _mm_fmadd_ps(isum(m0, m1, m2, m3), dm, accm);
        }
    }
    _mm_storeu_ps(out, _mm_sub_ps(acc, accm));
}
#endif

/// Whether llama.cpp's CPU backend repacks this weight (x86 with AVX2: Q4_K tensors whose row
/// count, ggml's ne[1], is a multiple of 8).
bool repackedQ4K(const WeightView& w, bool expert) {
    if (w.type != TensorType::Q4_K) return false;
#if defined(__x86_64__) || defined(__i386__)
    if (!cpuHasAvx2Fma()) return false;
#else
    return false;
#endif
    const int64_t tensorRows =
        expert ? w.rows : int64_t(w.rowBytes ? w.data.size() / w.rowBytes : 0);
    return tensorRows % 8 == 0;
}

struct ActQ8K {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int16_t> bsums;
};

}  // namespace

namespace {

struct ChunkJob {
    TensorType type;
    int64_t C, R, nb, nTok, gemmTokens;
    bool repacked;
    const ActQ8K* a;
    const RowsInt* rw;
    int64_t r0, r1;
    float* y;
};

/// Every (row, token) product of one chunk of unpacked rows, four tokens per integer call.
using Combine4Fn = void (*)(bool, const RowView&, const float* const*, int64_t, const int32_t*,
                            float*);
[[gnu::always_inline]] inline void chunkBody(const ChunkJob& j, IntSumsFn intSums,
                                             Combine4Fn combine4, int32_t* sums) {
    const int64_t C = j.C, nb = j.nb;
    KernelIn in{};
    in.nb = nb;
    in.pairs = j.repacked;
    in.signedQ = j.type == TensorType::Q3_K || j.type == TensorType::IQ4_XS;
    in.q6Offset = j.type == TensorType::Q6_K;
    for (int64_t t0 = 0; t0 < j.nTok; t0 += 4) {
        const int n = int(std::min<int64_t>(4, j.nTok - t0));
        const int8_t* ap[4];
        const int16_t* bp[4];
        const float* dp[4];
        for (int k = 0; k < n; ++k) {
            ap[k] = j.a->q.data() + (t0 + k) * C;
            bp[k] = j.a->bsums.data() + (t0 + k) * nb * 16;
            dp[k] = j.a->d.data() + (t0 + k) * nb;
        }
        in.a = ap;
        in.bsums = bp;
        in.n = n;
        for (int64_t r = j.r0; r < j.r1; ++r) {
            const int64_t i = r - j.r0;
            in.q = j.rw->q.data() + i * C;
            in.sc = j.rw->s.data() + i * (C / 16);
            in.mins = j.rw->m.data() + i * (C / 16);
            const RowView wv{j.rw->d.data() + i * nb, j.rw->dmin.data() + i * nb};
            intSums(in, sums);
            if (j.repacked) {
                // A group of four never straddles the GEMM / GEMV boundary (a multiple of 4).
                float o[4];
                if (combine4 && n == 4) {
                    combine4(t0 < j.gemmTokens, wv, dp, nb, sums, o);
                } else {
                    combineRepacked(t0 < j.gemmTokens, wv, dp, n, nb, sums, o);
                }
                for (int k = 0; k < n; ++k) j.y[(t0 + k) * j.R + r] = o[k];
                continue;
            }
            for (int k = 0; k < n; ++k) {
                j.y[(t0 + k) * j.R + r] =
                    combineVecDot(j.type, wv, dp[k], nb, sums + k * nb * kSlots);
            }
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
// The float steps compiled with FMA instructions; the results are those of the plain build
// (std::fma is exact either way).
QS_EVAL_TARGET_AVX2 void chunkAvx2(const ChunkJob& j, int32_t* sums) {
    chunkBody(j, intSumsAvx2, combineRepacked4Avx2, sums);
}
#endif
void chunkPlain(const ChunkJob& j, int32_t* sums) {
    chunkBody(j, intSumsPlain, nullptr, sums);
}

/// The AVX-512 path: chunks of whole 16-row groups, unpacked, repacked and multiplied.
void matmulPacked16(const WeightView& w, const ActQ8K& a, int64_t nTok, bool repacked,
                    int64_t gemmTokens, float* y, int threads) {
    const int64_t C = w.cols, R = w.rows, nb = C / kQK;
    // About 32 KiB of quants per chunk: 32 rows of 768 values, 16 of 2048.
    const int64_t rowsPerChunk =
        std::clamp<int64_t>(32768 / std::max<int64_t>(C, 1) / 16, 1, 4) * 16;
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    std::vector<int32_t> pairs(size_t(nTok * (C / 64)));
    bsumPairs(a.bsums.data(), nTok, C, pairs.data());
    const KTokensQ8K tokens{a.q.data(), a.d.data(), a.bsums.data(), pairs.data()};
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        RowsInt rw;
        rw.resize(rowsPerChunk, C);
        KPacked16 packed;
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t i = r - r0;
                unpackRow(w.type, w.storedRow(r).data(), C, rw.q.data() + i * C,
                          rw.s.data() + i * (C / 16), rw.m.data() + i * (C / 16),
                          rw.d.data() + i * nb, rw.dmin.data() + i * nb);
            }
            packRows16(rw.q.data(), rw.s.data(), rw.m.data(), rw.d.data(), rw.dmin.data(), r1 - r0,
                       C, packed);
            kquantPackedAvx512(w.type, packed, tokens, nTok, repacked, gemmTokens, y + r0, R);
        }
    });
}

}  // namespace

void matmulKQuant(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                  bool expert) {
    const int64_t C = w.cols, R = w.rows, nb = C / kQK;
    ActQ8K a;
    a.q.resize(size_t(nTok * C));
    a.d.resize(size_t(nTok * nb));
    a.bsums.resize(size_t(nTok * nb * 16));
    parallel::parallelFor(threads, nTok, 16, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
            quantizeQ8KFast(x + t * C, C, a.q.data() + t * C, a.d.data() + t * nb,
                            a.bsums.data() + t * nb * 16);
        }
    });
    const bool repacked = repackedQ4K(w, expert);
    // The repacked GEMM takes the activation rows in groups of four, the GEMV the rest.
    const int64_t gemmTokens = repacked && !expert ? nTok - nTok % 4 : 0;
    const KDotLevel level = kquantDotLevel();
    // Regrouping the rows for the AVX-512 kernels costs about what 8 (repacked Q4_K) to 20
    // (vec_dot order) tokens' products gain; fewer tokens take the AVX2 kernel (same bits).
    const int64_t minTokens = repacked ? kAvx512MinTokensRepacked : kAvx512MinTokensVecDot;
    if (level == KDotLevel::Avx512 && nTok >= minTokens &&
        (w.type == TensorType::Q4_K || w.type == TensorType::Q5_K || w.type == TensorType::Q6_K)) {
        matmulPacked16(w, a, nTok, repacked, gemmTokens, y, threads);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    const auto run = level >= KDotLevel::Avx2 ? chunkAvx2 : chunkPlain;
#else
    const auto run = chunkPlain;
#endif
    const int64_t rowsPerChunk = std::clamp<int64_t>(16384 / std::max<int64_t>(C, 1), 1, 64);
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        RowsInt rw;
        rw.resize(rowsPerChunk, C);
        std::vector<int32_t> sums(size_t(4 * nb * kSlots));
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t i = r - r0;
                unpackRow(w.type, w.storedRow(r).data(), C, rw.q.data() + i * C,
                          rw.s.data() + i * (C / 16), rw.m.data() + i * (C / 16),
                          rw.d.data() + i * nb, rw.dmin.data() + i * nb);
            }
            const ChunkJob job{w.type, C, R, nb, nTok, gemmTokens, repacked, &a, &rw, r0, r1, y};
            run(job, sums.data());
        }
    });
}

float dotKQuantPortable(TensorType type, const uint8_t* row, const float* x, int64_t n,
                        bool repacked, bool gemmOrder) {
    const int64_t nb = n / kQK;
    RowsInt rw;
    rw.resize(1, n);
    unpackRow(type, row, n, rw.q.data(), rw.s.data(), rw.m.data(), rw.d.data(), rw.dmin.data());
    ActQ8K a;
    a.q.resize(size_t(n));
    a.d.resize(size_t(nb));
    a.bsums.resize(size_t(nb * 16));
    quantizeQ8K(x, n, a.q.data(), a.d.data(), a.bsums.data());
    std::vector<int32_t> sums(size_t(nb * kSlots));
    const int8_t* ap[1] = {a.q.data()};
    const int16_t* bp[1] = {a.bsums.data()};
    KernelIn in{rw.q.data(),
                rw.s.data(),
                rw.m.data(),
                ap,
                bp,
                1,
                nb,
                repacked && type == TensorType::Q4_K,
                type == TensorType::Q3_K || type == TensorType::IQ4_XS,
                type == TensorType::Q6_K};
    intSumsPlain(in, sums.data());
    const RowView wv{rw.d.data(), rw.dmin.data()};
    if (in.pairs) {
        const float* dp[1] = {a.d.data()};
        float o;
        combineRepacked(gemmOrder, wv, dp, 1, nb, sums.data(), &o);
        return o;
    }
    return combineVecDot(type, wv, a.d.data(), nb, sums.data());
}

}  // namespace qs::eval::detail
