#include "eval/q8_gemm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// g++ 12 warns that the AVX-512 intrinsics' own undefined operands (_mm512_undefined_*) may be
// used uninitialized when they are inlined into a target("avx512...") function.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "eval/scratch_pool.h"
#include "formats/half.h"
#include "formats/type_table.h"
#include "parallel/parallel.h"

namespace qs::eval::detail {

using formats::TensorType;

namespace {

constexpr int kRows = 4;      // weight rows per micro-kernel
constexpr int kMaxPairs = 5;  // token pairs per micro-kernel (two tokens per zmm)
// Packed weights per group of kRows rows and block: the int8 quants of each row (32 B), the
// correction -128 * (sum of each four quants) as eight int32 per row (32 B), d per row.
constexpr int64_t kGroupBlockBytes = kRows * 32 + kRows * 32 + kRows * 4;
// Packed activations per token pair and block: the two tokens' 32 quants as unsigned x + 128
// (64 B), then their F16-rounded scales as 16 floats (8 x the first token's, 8 x the second's),
// so that one load gives the pair's scale vector.
constexpr int64_t kPairBlockBytes = 64 + 64;

}  // namespace

bool q8GemmAvailable() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni");
    return has;
#else
    return false;
#endif
}

bool q8GemmType(TensorType t, bool repacked) {
    if (t == TensorType::Q8_0 || t == TensorType::Q5_0) return true;
    return (t == TensorType::Q4_0 || t == TensorType::IQ4_NL) && !repacked;
}

#if defined(__x86_64__) || defined(__i386__)
#define QS_Q8_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace {

// ggml's x86 quantize_row_q8_0 of one token into its pair's blocks (half h of each): scale
// 127 / amax, round to nearest even, d = amax / 127 as F16. A NaN is left out of amax (as
// std::max(amax, NaN) leaves it) and quantizes to 0, as does any product outside [-127, 127]
// (inf * 0 from an infinite amax): no undefined conversion.
QS_Q8_TARGET void quantizeToken(const float* x, int64_t nb, uint8_t* pairBlocks, int h) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i bias = _mm512_set1_epi32(128);
    for (int64_t b = 0; b < nb; ++b) {
        const __m512 x0 = _mm512_loadu_ps(x + b * 32), x1 = _mm512_loadu_ps(x + b * 32 + 16);
        // max(|x|, m) returns m where |x| is NaN (the second operand), so NaN never enters.
        __m512 m = _mm512_max_ps(_mm512_abs_ps(x0), zero);
        m = _mm512_max_ps(_mm512_abs_ps(x1), m);
        const float amax = _mm512_reduce_max_ps(m);
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        const float d = formats::halfToFloat(formats::floatToHalf(amax / 127.0f));
        uint8_t* blk = pairBlocks + b * kPairBlockBytes;
        const __m512 idv = _mm512_set1_ps(id);
        for (int k = 0; k < 2; ++k) {
            const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(k == 0 ? x0 : x1, idv),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __mmask16 ok =
                _mm512_cmp_ps_mask(r, lo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(r, hi, _CMP_LE_OQ);
            const __m512i q = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(ok, r), bias);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + h * 32 + k * 16),
                             _mm512_cvtepi32_epi8(q));
        }
        _mm256_storeu_ps(reinterpret_cast<float*>(blk + 64) + h * 8, _mm256_set1_ps(d));
    }
}

// All tokens, in pairs; an odd batch's last pair repeats its token (the copy's results are
// dropped).
void quantizePairs(const float* x, int64_t nTok, int64_t C, int threads, uint8_t* acts) {
    const int64_t nb = C / 32, nPairs = (nTok + 1) / 2;
    parallel::parallelFor(threads, nPairs, 8, [&](int64_t pb, int64_t pe) {
        for (int64_t p = pb; p < pe; ++p) {
            for (int h = 0; h < 2; ++h) {
                const int64_t t = std::min(nTok - 1, 2 * p + h);
                quantizeToken(x + t * C, nb, acts + p * nb * kPairBlockBytes, h);
            }
        }
    });
}

// -128 * (sum of each four quants) of a block's 32 int8 quants, as eight int32.
QS_Q8_TARGET inline __m256i blockCorrection(__m256i q) {
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
    return _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), s), 7);
}

// The int8 quants and scale of one stored row of a decoded type: d * q decoded, and q comes
// back by one division (as in matmul.cpp's lane-order kernel).
void unpackRow(TensorType type, const uint8_t* src, int64_t C, int8_t* q, float* d,
               std::vector<float>& scratch) {
    const auto& tr = formats::traits(type);
    const int64_t nb = C / 32;
    scratch.resize(size_t(C));
    tr.decode(src, scratch.data(), C);
    for (int64_t b = 0; b < nb; ++b) {
        uint16_t h;
        std::memcpy(&h, src + b * tr.blockBytes, 2);
        d[b] = formats::halfToFloat(h);
        for (int j = 0; j < 32; ++j) {
            const float v = scratch[size_t(b * 32 + j)];
            const float r = d[b] != 0 ? std::nearbyint(v / d[b]) : 0.0f;
            q[b * 32 + j] = r >= -128.0f && r <= 127.0f ? int8_t(r) : int8_t(0);
        }
    }
}

// Packs rows [4g, 4g + 4) (missing rows as zeros) into kGroupBlockBytes per block: Q8_0's
// bytes as they are, the other types through unpackRow.
QS_Q8_TARGET void packGroup(const WeightView& w, int64_t g, uint8_t* dst,
                            std::vector<float>& scratch, std::vector<int8_t>& q,
                            std::vector<float>& d) {
    const int64_t C = w.cols, nb = C / 32;
    const bool q8 = w.type == TensorType::Q8_0;
    if (!q8) {
        q.resize(size_t(C));
        d.resize(size_t(nb));
    }
    for (int i = 0; i < kRows; ++i) {
        const int64_t r = g * kRows + i;
        if (r >= w.rows) {
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t* blk = dst + b * kGroupBlockBytes;
                std::memset(blk + i * 32, 0, 32);
                std::memset(blk + kRows * 32 + i * 32, 0, 32);
                std::memset(blk + kRows * 64 + i * 4, 0, 4);
            }
            continue;
        }
        const uint8_t* src = w.storedRow(r).data();
        if (!q8) unpackRow(w.type, src, C, q.data(), d.data(), scratch);
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* blk = dst + b * kGroupBlockBytes;
            const void* qb = q8 ? static_cast<const void*>(src + b * 34 + 2)
                                : static_cast<const void*>(q.data() + b * 32);
            float db;
            if (q8) {
                uint16_t h;
                std::memcpy(&h, src + b * 34, 2);
                db = formats::halfToFloat(h);
            } else {
                db = d[size_t(b)];
            }
            const __m256i qv = _mm256_loadu_si256(static_cast<const __m256i*>(qb));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk + i * 32), qv);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk + kRows * 32 + i * 32),
                                blockCorrection(qv));
            std::memcpy(blk + kRows * 64 + i * 4, &db, 4);
        }
    }
}

// kRows weight rows (one packed group) by NP token pairs over all nb blocks. acc[i][p]: row i,
// pair p, lanes 0-7 the pair's first token, 8-15 its second. Per block and lane, as
// tinyBLAS_Q0_AVX: the exact int32 sum of four products, converted, times (d_w * d_x) fused
// into the lane's accumulator.
template <int NP>
QS_Q8_TARGET inline void microKernel(const uint8_t* wg, const uint8_t* acts, int64_t pairStride,
                                     int64_t nb, __m512 (&acc)[kRows][kMaxPairs]) {
    for (int i = 0; i < kRows; ++i) {
        for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* a = acts + b * kPairBlockBytes;
        __m512i xv[NP];
        for (int p = 0; p < NP; ++p) xv[p] = _mm512_loadu_si512(a + p * pairStride);
        const uint8_t* blk = wg + b * kGroupBlockBytes;
        for (int i = 0; i < kRows; ++i) {
            const __m512i wv = _mm512_broadcast_i64x4(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + i * 32)));
            const __m512i corr = _mm512_broadcast_i64x4(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kRows * 32 + i * 32)));
            float dwf;
            std::memcpy(&dwf, blk + kRows * 64 + i * 4, 4);
            const __m512 dw = _mm512_set1_ps(dwf);
            for (int p = 0; p < NP; ++p) {
                const __m512 s = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(corr, xv[p], wv));
                const __m512 dd = _mm512_mul_ps(
                    dw, _mm512_loadu_ps(reinterpret_cast<const float*>(a + p * pairStride + 64)));
                acc[i][p] = _mm512_fmadd_ps(dd, s, acc[i][p]);
            }
        }
    }
}

// tinyBLAS's hsum of eight lanes, ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)), of the four rows'
// two tokens at once: returns [row0..row3 of the first token, row0..row3 of the second] in the
// low eight lanes. (Each addition adds the same two floats as the scalar tree.)
QS_Q8_TARGET inline __m256 hsumRows(__m512 a, __m512 b, __m512 c, __m512 d) {
    // 128-bit chunks of a row's vector: 0 = token 0 lanes 0-3, 1 = its lanes 4-7, 2, 3 token 1.
    const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 1, 3, 1)));
    // Chunks [a t0, a t1, b t0, b t1] of ab hold v_k + v_k+4 in lane k; likewise cd.
    const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    // Per chunk [ab (0+4)+(2+6), ab (1+5)+(3+7), cd ..., cd ...].
    const __m512 f = _mm512_add_ps(e, _mm512_permute_ps(e, _MM_SHUFFLE(2, 3, 0, 1)));
    // Lane 0 / 2 of chunk 0: a / c token 0; chunk 1: token 1; chunks 2, 3: b and d.
    const __m512i idx = _mm512_setr_epi32(0, 8, 2, 10, 4, 12, 6, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(idx, f));
}

// Writes the NP pairs' results of rows [r0, r0 + 4) (those below R, tokens below nTok).
template <int NP>
QS_Q8_TARGET inline void storeResults(const __m512 (&acc)[kRows][kMaxPairs], int64_t r0, int64_t R,
                                      int64_t t0, int64_t nTok, float* y) {
    for (int p = 0; p < NP; ++p) {
        const __m256 v = hsumRows(acc[0][p], acc[1][p], acc[2][p], acc[3][p]);
        const int64_t t = t0 + 2 * p;
        if (r0 + kRows <= R && t + 1 < nTok) {
            _mm_storeu_ps(y + t * R + r0, _mm256_castps256_ps128(v));
            _mm_storeu_ps(y + (t + 1) * R + r0, _mm256_extractf32x4_ps(v, 1));
            continue;
        }
        float o[8];
        _mm256_storeu_ps(o, v);
        for (int h = 0; h < 2 && t + h < nTok; ++h) {
            for (int i = 0; i < kRows && r0 + i < R; ++i) y[(t + h) * R + r0 + i] = o[h * 4 + i];
        }
    }
}

template <int NP>
QS_Q8_TARGET void runTile(const uint8_t* wg, const uint8_t* acts, int64_t nb, int64_t r0, int64_t R,
                          int64_t t0, int64_t nTok, float* y) {
    __m512 acc[kRows][kMaxPairs];
    microKernel<NP>(wg, acts, nb * kPairBlockBytes, nb, acc);
    storeResults<NP>(acc, r0, R, t0, nTok, y);
}

using TileFn = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, int64_t, int64_t, int64_t,
                        float*);
template <int... NP>
constexpr std::array<TileFn, sizeof...(NP)> tileTable(std::integer_sequence<int, NP...>) {
    return {runTile<NP + 1>...};
}
// runTiles[np - 1]: the micro-kernel of np token pairs.
constexpr auto runTiles = tileTable(std::make_integer_sequence<int, kMaxPairs>{});

// The packed weights of a task's chunk: reused by the thread across tasks and calls (a task
// runs no nested parallel loop, so no other task can take the buffer while it is in use).
std::vector<uint8_t>& packBuffer() {
    thread_local std::vector<uint8_t> buffer;
    return buffer;
}

}  // namespace

void matmulQ8Gemm(const WeightView& w, const float* x, int64_t nTok, float* y, int threads) {
    const int64_t C = w.cols, R = w.rows, nb = C / 32;
    if (nTok <= 0 || R <= 0) return;
    const int64_t nPairs = (nTok + 1) / 2;
    PooledVector<uint8_t> actBuf(size_t(nPairs * nb * kPairBlockBytes));
    uint8_t* acts = actBuf.data();
    quantizePairs(x, nTok, C, threads, acts);
    // Tasks: a chunk of row groups, packed by the task into its thread's buffer (sized to stay
    // in L2) and run against every token, a tile of token pairs at a time.
    const int64_t nGroups = (R + kRows - 1) / kRows;
    const int64_t byCache = std::max<int64_t>(1, 65536 / (nb * kGroupBlockBytes));
    const int64_t byThreads = std::max<int64_t>(1, nGroups / (4 * int64_t(std::max(1, threads))));
    const int64_t groupsPerChunk = std::min(byCache, byThreads);
    const int64_t nChunks = (nGroups + groupsPerChunk - 1) / groupsPerChunk;
    const int64_t pairsPerTile = std::max<int64_t>(
        kMaxPairs, (32768 / std::max<int64_t>(C, 1)) / (2 * kMaxPairs) * kMaxPairs);
    parallel::parallelFor(threads, nChunks, 1, [&](int64_t cb, int64_t ce) {
        std::vector<float> scratch, d;
        std::vector<int8_t> q;
        std::vector<uint8_t>& packed = packBuffer();
        if (packed.size() < size_t(groupsPerChunk * nb * kGroupBlockBytes)) {
            packed.resize(size_t(groupsPerChunk * nb * kGroupBlockBytes));
        }
        for (int64_t chunk = cb; chunk < ce; ++chunk) {
            const int64_t g0 = chunk * groupsPerChunk, g1 = std::min(nGroups, g0 + groupsPerChunk);
            for (int64_t g = g0; g < g1; ++g) {
                packGroup(w, g, packed.data() + (g - g0) * nb * kGroupBlockBytes, scratch, q, d);
            }
            for (int64_t p0 = 0; p0 < nPairs; p0 += pairsPerTile) {
                const int64_t p1 = std::min(nPairs, p0 + pairsPerTile);
                for (int64_t g = g0; g < g1; ++g) {
                    const uint8_t* wg = packed.data() + (g - g0) * nb * kGroupBlockBytes;
                    for (int64_t p = p0; p < p1; p += kMaxPairs) {
                        const int np = int(std::min<int64_t>(kMaxPairs, p1 - p));
                        const uint8_t* a = acts + p * nb * kPairBlockBytes;
                        const int64_t r0 = g * kRows, t0 = 2 * p;
                        runTiles[np - 1](wg, a, nb, r0, R, t0, nTok, y);
                    }
                }
            }
        }
    });
}
#undef QS_Q8_TARGET
#else
void matmulQ8Gemm(const WeightView&, const float*, int64_t, float*, int) {}
#endif

}  // namespace qs::eval::detail
