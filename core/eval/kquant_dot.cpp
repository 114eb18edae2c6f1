#include "eval/kquant_dot.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "eval/cpu_features.h"
#include "formats/block_layouts.h"
#include "formats/half.h"
#include "formats/iq_grids.h"
#include "parallel/parallel.h"

namespace qs::eval::detail {

using formats::TensorType;
namespace blk = formats::blocks;

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
    std::vector<int8_t> q;     // rows x C
    std::vector<int16_t> s;    // rows x C/16
    std::vector<int16_t> m;    // rows x C/32
    std::vector<float> d;      // rows x C/256
    std::vector<float> dmin;   // rows x C/256
    void resize(int64_t rows, int64_t C) {
        q.resize(size_t(rows * C));
        s.resize(size_t(rows * C / 16));
        m.resize(size_t(rows * C / 32));
        d.resize(size_t(rows * C / kQK));
        dmin.resize(size_t(rows * C / kQK));
    }
};

inline void scaleMinK4(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/// One stored row (C values) into the integer form.
void unpackRow(TensorType t, const uint8_t* src, int64_t C, int8_t* q, int16_t* s, int16_t* m,
               float* d, float* dmin) {
    const int64_t nb = C / kQK;
    for (int64_t b = 0; b < nb; ++b) {
        int8_t* qb = q + b * kQK;
        int16_t* sb = s + b * 16;
        int16_t* mb = m + b * 8;
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
                scaleMinK4(j, scales, sc, mn);
                sb[2 * j] = sb[2 * j + 1] = int16_t(sc);
                mb[j] = int16_t(mn);
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
        default:
            break;
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

// ------------------------------------------------------------------------------------------
// Integer sums of one super-block: v[s][l] = scale(32s + 4l) * (4-value dot at 32s + 4l), the
// products of ggml's madd(maddubs(q, q8), scales) lanes. lanes[l] = sum over s (the vec_dot
// lanes), chunk[s] = sum over l (the 32-value sub-block sums of the repacked kernels).
// ------------------------------------------------------------------------------------------

[[gnu::always_inline]] inline void superBlockPlain(const int8_t* q, const int8_t* a,
                                                   const int16_t* sc, int32_t* lanes,
                                                   int32_t* chunk) {
    for (int l = 0; l < 8; ++l) lanes[l] = 0;
    for (int s = 0; s < 8; ++s) {
        int32_t tot = 0;
        for (int l = 0; l < 8; ++l) {
            const int o = 32 * s + 4 * l;
            const int32_t d4 = int32_t(q[o]) * a[o] + int32_t(q[o + 1]) * a[o + 1] +
                               int32_t(q[o + 2]) * a[o + 2] + int32_t(q[o + 3]) * a[o + 3];
            const int32_t v = int32_t(sc[2 * s + (l >= 4)]) * d4;
            lanes[l] += v;
            tot += v;
        }
        chunk[s] = tot;
    }
}

/// Integer sums of one weight row against n <= 4 token rows: lanes and chunk hold n x nb x 8.
void intSumsPlain(const int8_t* q, const int8_t* const* a, int n, const int16_t* sc, int64_t nb,
                  int32_t* lanes, int32_t* chunk) {
    for (int k = 0; k < n; ++k) {
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t o = (k * nb + b) * 8;
            superBlockPlain(q + b * kQK, a[k] + b * kQK, sc + b * 16, lanes + o, chunk + o);
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
// The same integers with AVX2: each weight vector, its absolute value and its scales are loaded
// once for the n tokens.
QS_EVAL_TARGET_AVX2 void intSumsAvx2(const int8_t* q, const int8_t* const* a, int n,
                                     const int16_t* sc, int64_t nb, int32_t* lanes,
                                     int32_t* chunk) {
    for (int64_t b = 0; b < nb; ++b) {
        const int8_t* qb = q + b * kQK;
        const int16_t* sb = sc + b * 16;
        __m256i v[4][8];
        for (int s = 0; s < 8; ++s) {
            const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb + 32 * s));
            const __m256i qa = _mm256_sign_epi8(qv, qv);
            const __m256i scv =
                _mm256_set_m128i(_mm_set1_epi16(sb[2 * s + 1]), _mm_set1_epi16(sb[2 * s]));
            for (int k = 0; k < n; ++k) {
                const __m256i av = _mm256_loadu_si256(
                    reinterpret_cast<const __m256i*>(a[k] + b * kQK + 32 * s));
                // |q| * (a with q's sign): exact, |q|, |a| <= 127 never saturate the int16 pairs.
                const __m256i p16 = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(av, qv));
                v[k][s] = _mm256_madd_epi16(p16, scv);
            }
        }
        for (int k = 0; k < n; ++k) {
            const int64_t o = (k * nb + b) * 8;
            const __m256i* w = v[k];
            const __m256i sum = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_add_epi32(w[0], w[1]), _mm256_add_epi32(w[2], w[3])),
                _mm256_add_epi32(_mm256_add_epi32(w[4], w[5]), _mm256_add_epi32(w[6], w[7])));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes + o), sum);
            // Per-chunk totals: three rounds of horizontal adds, then the two 128-bit halves.
            const __m256i h01 = _mm256_hadd_epi32(w[0], w[1]), h23 = _mm256_hadd_epi32(w[2], w[3]);
            const __m256i h45 = _mm256_hadd_epi32(w[4], w[5]), h67 = _mm256_hadd_epi32(w[6], w[7]);
            const __m256i h0123 = _mm256_hadd_epi32(h01, h23);
            const __m256i h4567 = _mm256_hadd_epi32(h45, h67);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(chunk + o),
                             _mm_add_epi32(_mm256_castsi256_si128(h0123),
                                           _mm256_extracti128_si256(h0123, 1)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(chunk + o + 4),
                             _mm_add_epi32(_mm256_castsi256_si128(h4567),
                                           _mm256_extracti128_si256(h4567, 1)));
        }
    }
}
#endif

using IntSumsFn = void (*)(const int8_t*, const int8_t* const*, int, const int16_t*, int64_t,
                           int32_t*, int32_t*);

// hsum_float_8: (i + i+4), then (0+2) + (1+3).
inline float hsum8(const float* v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

enum class Order { VecDot, Gemm, Gemv };

struct RowView {
    const int16_t* s;
    const int16_t* m;
    const float* d;
    const float* dmin;
};
struct ActView {
    const int16_t* bsums;
    const float* d;
};

/// The float steps of each kernel over the integer sums of one (weight row, token) pair.
[[gnu::always_inline]] inline float combine(TensorType t, Order order, const RowView& w, const ActView& x, int64_t nb,
              const int32_t* lanes, const int32_t* chunk) {
    if (order != Order::VecDot) {
        // ggml_gemm/gemv_q4_K_8x8_q8_K: separate d and dmin accumulators, col * row scales.
        float acc = 0, accm = 0;
        for (int64_t b = 0; b < nb; ++b) {
            const float ds = w.d[b] * x.d[b], dm = w.dmin[b] * x.d[b];
            const int16_t* bs = x.bsums + b * 16;
            const int16_t* mn = w.m + b * 8;
            const int32_t* c = chunk + b * 8;
            if (order == Order::Gemm) {
                for (int p = 0; p < 4; ++p) {
                    const int32_t isum = c[2 * p] + c[2 * p + 1];
                    const int32_t imin = int32_t(mn[2 * p]) * (bs[4 * p] + bs[4 * p + 1]) +
                                         int32_t(mn[2 * p + 1]) * (bs[4 * p + 2] + bs[4 * p + 3]);
                    acc = std::fma(float(isum), ds, acc);
                    accm = std::fma(float(imin), dm, accm);
                }
            } else {
                int32_t isum = 0, imin = 0;
                for (int k = 0; k < 8; ++k) {
                    isum += c[k];
                    imin += int32_t(mn[k]) * (bs[2 * k] + bs[2 * k + 1]);
                }
                acc = std::fma(float(isum), ds, acc);
                accm = std::fma(float(imin), dm, accm);
            }
        }
        return acc - accm;
    }
    float acc[8] = {};
    float accm[4] = {};
    float summs = 0;
    for (int64_t b = 0; b < nb; ++b) {
        const float d = x.d[b] * w.d[b];
        const int32_t* ln = lanes + b * 8;
        const int16_t* bs = x.bsums + b * 16;
        if (t == TensorType::Q6_K) {
            // The -32 offset as 32 * scale * bsum over the 16-groups 2l, 2l+1 of lane l.
            const int16_t* sc = w.s + b * 16;
            for (int l = 0; l < 8; ++l) {
                const int32_t sub = 32 * (int32_t(bs[2 * l]) * sc[2 * l] +
                                          int32_t(bs[2 * l + 1]) * sc[2 * l + 1]);
                acc[l] = std::fma(d, float(ln[l] - sub), acc[l]);
            }
            continue;
        }
        for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, float(ln[l]), acc[l]);
        if (t == TensorType::Q4_K || t == TensorType::Q5_K) {
            const float dmin = -x.d[b] * w.dmin[b];
            const int16_t* mn = w.m + b * 8;
            int32_t prod[4];
            for (int i = 0; i < 4; ++i) {
                prod[i] = int32_t(mn[2 * i]) * (bs[4 * i] + bs[4 * i + 1]) +
                          int32_t(mn[2 * i + 1]) * (bs[4 * i + 2] + bs[4 * i + 3]);
            }
            if (t == TensorType::Q4_K) {
                for (int i = 0; i < 4; ++i) accm[i] = std::fma(dmin, float(prod[i]), accm[i]);
            } else {
                summs = std::fma(dmin, float((prod[0] + prod[1]) + (prod[2] + prod[3])), summs);
            }
        }
    }
    float r = hsum8(acc);
    if (t == TensorType::Q4_K) r += (accm[0] + accm[2]) + (accm[1] + accm[3]);
    if (t == TensorType::Q5_K) r += summs;
    return r;
}

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

} // namespace

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
[[gnu::always_inline]] inline void chunkBody(const ChunkJob& j, IntSumsFn intSums,
                                             int32_t* lanes, int32_t* chunk) {
    const int64_t C = j.C, nb = j.nb;
    for (int64_t t0 = 0; t0 < j.nTok; t0 += 4) {
        const int n = int(std::min<int64_t>(4, j.nTok - t0));
        const int8_t* ap[4];
        for (int k = 0; k < n; ++k) ap[k] = j.a->q.data() + (t0 + k) * C;
        for (int64_t r = j.r0; r < j.r1; ++r) {
            const int64_t i = r - j.r0;
            const RowView wv{j.rw->s.data() + i * (C / 16), j.rw->m.data() + i * (C / 32),
                             j.rw->d.data() + i * nb, j.rw->dmin.data() + i * nb};
            intSums(j.rw->q.data() + i * C, ap, n, wv.s, nb, lanes, chunk);
            for (int k = 0; k < n; ++k) {
                const int64_t t = t0 + k;
                const Order order = !j.repacked         ? Order::VecDot
                                    : t < j.gemmTokens ? Order::Gemm
                                                       : Order::Gemv;
                const ActView av{j.a->bsums.data() + t * nb * 16, j.a->d.data() + t * nb};
                j.y[t * j.R + r] = combine(j.type, order, wv, av, nb, lanes + k * nb * 8,
                                           chunk + k * nb * 8);
            }
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
// The float steps compiled with FMA instructions; the results are those of the plain build
// (std::fma is exact either way).
QS_EVAL_TARGET_AVX2 void chunkAvx2(const ChunkJob& j, int32_t* lanes, int32_t* chunk) {
    chunkBody(j, intSumsAvx2, lanes, chunk);
}
#endif
void chunkPlain(const ChunkJob& j, int32_t* lanes, int32_t* chunk) {
    chunkBody(j, intSumsPlain, lanes, chunk);
}

} // namespace

void matmulKQuant(const WeightView& w, const float* x, int64_t nTok, float* y, int threads,
                  bool expert) {
    const int64_t C = w.cols, R = w.rows, nb = C / kQK;
    ActQ8K a;
    a.q.resize(size_t(nTok * C));
    a.d.resize(size_t(nTok * nb));
    a.bsums.resize(size_t(nTok * nb * 16));
    parallel::parallelFor(threads, nTok, 16, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
            quantizeQ8K(x + t * C, C, a.q.data() + t * C, a.d.data() + t * nb,
                        a.bsums.data() + t * nb * 16);
        }
    });
    const bool repacked = repackedQ4K(w, expert);
    // The repacked GEMM takes the activation rows in groups of four, the GEMV the rest.
    const int64_t gemmTokens = repacked && !expert ? nTok - nTok % 4 : 0;
#if defined(__x86_64__) || defined(__i386__)
    const auto run = cpuHasAvx2Fma() ? chunkAvx2 : chunkPlain;
#else
    const auto run = chunkPlain;
#endif
    const int64_t rowsPerChunk = std::clamp<int64_t>(16384 / std::max<int64_t>(C, 1), 1, 64);
    const int64_t nChunks = (R + rowsPerChunk - 1) / rowsPerChunk;
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        RowsInt rw;
        rw.resize(rowsPerChunk, C);
        std::vector<int32_t> lanes(size_t(4 * nb * 8)), chunk(size_t(4 * nb * 8));
        for (int64_t c = cb; c < ce; ++c) {
            const int64_t r0 = c * rowsPerChunk, r1 = std::min(R, r0 + rowsPerChunk);
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t i = r - r0;
                unpackRow(w.type, w.storedRow(r).data(), C, rw.q.data() + i * C,
                          rw.s.data() + i * (C / 16), rw.m.data() + i * (C / 32),
                          rw.d.data() + i * nb, rw.dmin.data() + i * nb);
            }
            const ChunkJob job{w.type, C, R, nb, nTok, gemmTokens, repacked, &a, &rw, r0, r1, y};
            run(job, lanes.data(), chunk.data());
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
    std::vector<int32_t> lanes(size_t(nb * 8)), chunk(size_t(nb * 8));
    const int8_t* ap[1] = {a.q.data()};
    intSumsPlain(rw.q.data(), ap, 1, rw.s.data(), nb, lanes.data(), chunk.data());
    const Order order = !(repacked && type == TensorType::Q4_K) ? Order::VecDot
                        : gemmOrder                              ? Order::Gemm
                                                                 : Order::Gemv;
    return combine(type, order, RowView{rw.s.data(), rw.m.data(), rw.d.data(), rw.dmin.data()},
                   ActView{a.bsums.data(), a.d.data()}, nb, lanes.data(), chunk.data());
}

} // namespace qs::eval::detail
