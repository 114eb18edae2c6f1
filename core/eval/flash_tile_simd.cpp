// The AVX-512 tile of llama.cpp's tiled flash attention (eval/flash_tile.h): the float
// operations of flashTileBody<16> (flash_tile.cpp) in the same order per output, only laid out
// for registers: four queries by the tile's 64 keys per score block, four queries by 64 head
// values per value block. Compiled with -ffp-contract=off (a *_simd.cpp file): every fused
// multiply-add here is an explicit one.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "eval/flash_tile.h"
#include "parallel/parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// g++ 12 warns that the AVX-512 intrinsics' own undefined operands (_mm512_undefined_*) may be
// used uninitialized when they are inlined into a target("avx512...") function.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace qs::eval::detail {

namespace {
constexpr int kKv = 64;  // keys per tile (GGML_FA_TILE_KV)
}  // namespace

int64_t keyTilesSize(int nHeadKv, int hd, int64_t nTok) {
    return int64_t(nHeadKv) * ((nTok + kKv - 1) / kKv) * hd * kKv;
}

void buildKeyTiles(const float* k, int64_t kvStride, int nHeadKv, int hd, int64_t nTok,
                   float* keyTiles, int threads) {
    const int64_t nTiles = (nTok + kKv - 1) / kKv;
    parallel::parallelFor(threads, int64_t(nHeadKv) * nTiles, 1, [&](int64_t b, int64_t e) {
        for (int64_t idx = b; idx < e; ++idx) {
            const int64_t g = idx / nTiles, tile = idx % nTiles;
            float* dst = keyTiles + idx * hd * kKv;
            for (int kk = 0; kk < kKv; ++kk) {
                const int64_t j = tile * kKv + kk;
                if (j >= nTok) {
                    for (int d = 0; d < hd; ++d) dst[d * kKv + kk] = 0.0f;
                    continue;
                }
                const float* src = k + j * kvStride + g * hd;
                for (int d = 0; d < hd; ++d) dst[d * kKv + kk] = src[d];
            }
        }
    });
}

#if defined(__x86_64__) || defined(__i386__)

bool flashTileAvx512Available() {
    static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return has;
}

#define QS_FLASH_TARGET __attribute__((target("avx512f,avx512dq")))

namespace {

// ggmlExpfAvx512Lane (ggml_math.h) on 16 lanes: ggml_v_expf of the AVX-512 build, with the
// lane twin's answer where |n| > 192 or n is NaN (0 for n <= 0, else inf).
QS_FLASH_TARGET inline __m512 expf16(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
            _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_NLE_UQ);
    if (big == 0) return res;
    const __mmask16 neg = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
    const __m512 alt = _mm512_mask_mov_ps(_mm512_set1_ps(INFINITY), neg, _mm512_setzero_ps());
    return _mm512_mask_mov_ps(res, big, alt);
}

// reduceLanesGgml<16>: (v[8+i] + v[i]), then (t[4+i] + t[i]), then (0+2) + (1+3).
QS_FLASH_TARGET inline float reduce16(__m512 v) {
    const __m256 t3 = _mm256_add_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
    const __m128 h = _mm_add_ps(t6, _mm_movehl_ps(t6, t6));  // lanes 0: t0+t2, 1: t1+t3
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

// Scores of RB queries against the tile's 64 keys: one fused chain over the head dimension per
// score, s = fma(k[d], q[d], s) from d = 0.
template <int RB>
QS_FLASH_TARGET inline void scoreRows(const float* const* qrow, const float* Kt, int hd, float* P) {
    __m512 a[RB][4];
    for (int rb = 0; rb < RB; ++rb) {
        for (int c = 0; c < 4; ++c) a[rb][c] = _mm512_setzero_ps();
    }
    for (int d = 0; d < hd; ++d) {
        const float* kd = Kt + d * kKv;
        const __m512 k0 = _mm512_loadu_ps(kd), k1 = _mm512_loadu_ps(kd + 16),
                     k2 = _mm512_loadu_ps(kd + 32), k3 = _mm512_loadu_ps(kd + 48);
        for (int rb = 0; rb < RB; ++rb) {
            const __m512 qd = _mm512_set1_ps(qrow[rb][d]);
            a[rb][0] = _mm512_fmadd_ps(k0, qd, a[rb][0]);
            a[rb][1] = _mm512_fmadd_ps(k1, qd, a[rb][1]);
            a[rb][2] = _mm512_fmadd_ps(k2, qd, a[rb][2]);
            a[rb][3] = _mm512_fmadd_ps(k3, qd, a[rb][3]);
        }
    }
    for (int rb = 0; rb < RB; ++rb) {
        for (int c = 0; c < 4; ++c) _mm512_storeu_ps(P + rb * kKv + c * 16, a[rb][c]);
    }
}

// Values of RB live queries (rows) over the tile's keys, head values [d0, d0 + 16 NC): one fused
// chain over the 64 keys per output, a = fma(v[kk][d], p[kk], a); keys past the tile's end
// have zero values (as the portable body's zero-padded tile).
template <int RB, int NC>
QS_FLASH_TARGET inline void valueRows(const int* rows, const float* P, const float* v,
                                      int64_t kvStride, int kvTile, int d0, int hd, float* acc) {
    __m512 a[RB][NC];
    for (int rb = 0; rb < RB; ++rb) {
        for (int c = 0; c < NC; ++c) {
            a[rb][c] = _mm512_loadu_ps(acc + int64_t(rows[rb]) * hd + d0 + 16 * c);
        }
    }
    for (int kk = 0; kk < kvTile; ++kk) {
        const float* vk = v + kk * kvStride + d0;
        __m512 vv[NC];
        for (int c = 0; c < NC; ++c) vv[c] = _mm512_loadu_ps(vk + 16 * c);
        for (int rb = 0; rb < RB; ++rb) {
            const __m512 p = _mm512_set1_ps(P[rows[rb] * kKv + kk]);
            for (int c = 0; c < NC; ++c) a[rb][c] = _mm512_fmadd_ps(vv[c], p, a[rb][c]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int kk = kvTile; kk < kKv; ++kk) {
        for (int rb = 0; rb < RB; ++rb) {
            const __m512 p = _mm512_set1_ps(P[rows[rb] * kKv + kk]);
            for (int c = 0; c < NC; ++c) a[rb][c] = _mm512_fmadd_ps(zero, p, a[rb][c]);
        }
    }
    for (int rb = 0; rb < RB; ++rb) {
        for (int c = 0; c < NC; ++c) {
            _mm512_storeu_ps(acc + int64_t(rows[rb]) * hd + d0 + 16 * c, a[rb][c]);
        }
    }
}

template <int RB>
QS_FLASH_TARGET void valueBlock(const int* rows, const float* P, const float* v, int64_t kvStride,
                                int kvTile, int hd, float* acc) {
    for (int d0 = 0; d0 < hd;) {
        const int nc = std::min(4, (hd - d0) / 16);
        switch (nc) {
        case 4: valueRows<RB, 4>(rows, P, v, kvStride, kvTile, d0, hd, acc); break;
        case 3: valueRows<RB, 3>(rows, P, v, kvStride, kvTile, d0, hd, acc); break;
        case 2: valueRows<RB, 2>(rows, P, v, kvStride, kvTile, d0, hd, acc); break;
        default: valueRows<RB, 1>(rows, P, v, kvStride, kvTile, d0, hd, acc); break;
        }
        d0 += 16 * nc;
    }
}

}  // namespace

QS_FLASH_TARGET void flashTileAvx512(const float* q, const float* keyTiles, const float* v,
                                     int64_t qStride, int64_t kvStride, int64_t nTok, int h,
                                     int group, int64_t t0, int64_t t1, int hd, float scale,
                                     int window, float* out, float* scratch) {
    const int nq = int(t1 - t0);
    const int64_t g = h / group;
    const int64_t nTiles = (nTok + kKv - 1) / kKv;
    float* P = scratch;         // nq x 64: scores, then probabilities
    float* acc = P + 64 * kKv;  // nq x hd
    float M[64], S[64];
    int live[64];
    const float* qrow[64];
    for (int r = 0; r < nq; ++r) {
        M[r] = -INFINITY;
        S[r] = 0.0f;
        qrow[r] = q + (t0 + r) * qStride + int64_t(h) * hd;
    }
    std::fill(acc, acc + int64_t(nq) * hd, 0.0f);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 negInf = _mm512_set1_ps(-INFINITY), scaleV = _mm512_set1_ps(scale);
    const int64_t jlo = window > 0 ? std::max<int64_t>(0, t0 - window + 1) : 0;
    for (int64_t ic = (jlo / kKv) * kKv; ic < t1; ic += kKv) {
        const int kvTile = int(std::min<int64_t>(kKv, t1 - ic));
        const float* Kt = keyTiles + (g * nTiles + ic / kKv) * hd * kKv;
        int r = 0;
        for (; r + 4 <= nq; r += 4) scoreRows<4>(qrow + r, Kt, hd, P + r * kKv);
        switch (nq - r) {
        case 3: scoreRows<3>(qrow + r, Kt, hd, P + r * kKv); break;
        case 2: scoreRows<2>(qrow + r, Kt, hd, P + r * kKv); break;
        case 1: scoreRows<1>(qrow + r, Kt, hd, P + r * kKv); break;
        default: break;
        }
        int nLive = 0;
        for (r = 0; r < nq; ++r) {
            const int64_t t = t0 + r;
            const int64_t j0 = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
            // Keys kk of the tile with j0 <= ic + kk <= t (bounds clamped to the tile).
            const int lo = int(std::clamp<int64_t>(j0 - ic, 0, kKv));
            const int hi = int(std::clamp<int64_t>(t - ic, -1, kKv - 1));
            float* pr = P + r * kKv;
            __m512 x[4];
            __m512 tmaxV = negInf;
            for (int c = 0; c < 4; ++c) {
                const __m512i kk = _mm512_add_epi32(iota, _mm512_set1_epi32(16 * c));
                const __mmask16 in =
                    _mm512_cmp_epi32_mask(kk, _mm512_set1_epi32(lo), _MM_CMPINT_NLT) &
                    _mm512_cmp_epi32_mask(kk, _mm512_set1_epi32(hi), _MM_CMPINT_LE);
                x[c] = _mm512_mask_mov_ps(negInf, in,
                                          _mm512_mul_ps(_mm512_loadu_ps(pr + 16 * c), scaleV));
                // max(x, m) keeps m where x is NaN, as std::max(m, x) does.
                tmaxV = _mm512_max_ps(x[c], tmaxV);
            }
            const float tmax = _mm512_reduce_max_ps(tmaxV);
            if (tmax == -INFINITY) continue;
            live[nLive++] = r;
            const float Mnew = std::fmax(M[r], tmax);
            if (Mnew > M[r]) {
                const float ms = std::exp(M[r] - Mnew);
                float* a = acc + int64_t(r) * hd;
                const __m512 msV = _mm512_set1_ps(ms);
                for (int d = 0; d < hd; d += 16) {
                    _mm512_storeu_ps(a + d, _mm512_mul_ps(_mm512_loadu_ps(a + d), msV));
                }
                S[r] *= ms;
            }
            M[r] = Mnew;
            const __m512 mV = _mm512_set1_ps(Mnew);
            double sum = 0;
            for (int c = 0; c < 4; ++c) {
                const __m512 p = expf16(_mm512_sub_ps(x[c], mV));
                _mm512_storeu_ps(pr + 16 * c, p);
                sum += double(reduce16(p));
            }
            S[r] = float(double(S[r]) + sum);
        }
        const float* vt = v + ic * kvStride + g * hd;
        int i = 0;
        for (; i + 4 <= nLive; i += 4) valueBlock<4>(live + i, P, vt, kvStride, kvTile, hd, acc);
        switch (nLive - i) {
        case 3: valueBlock<3>(live + i, P, vt, kvStride, kvTile, hd, acc); break;
        case 2: valueBlock<2>(live + i, P, vt, kvStride, kvTile, hd, acc); break;
        case 1: valueBlock<1>(live + i, P, vt, kvStride, kvTile, hd, acc); break;
        default: break;
        }
    }
    for (int r = 0; r < nq; ++r) {
        const float inv = S[r] == 0.0f ? 0.0f : 1.0f / S[r];
        const __m512 invV = _mm512_set1_ps(inv);
        const float* a = acc + int64_t(r) * hd;
        float* o = out + (t0 + r) * qStride + int64_t(h) * hd;
        for (int d = 0; d < hd; d += 16) {
            _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(a + d), invV));
        }
    }
}
#undef QS_FLASH_TARGET

#else
bool flashTileAvx512Available() {
    return false;
}
void flashTileAvx512(const float*, const float*, const float*, int64_t, int64_t, int64_t, int, int,
                     int64_t, int64_t, int, float, int, float*, float*) {}
#endif

}  // namespace qs::eval::detail
