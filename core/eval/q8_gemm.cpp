#include "eval/q8_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "formats/half.h"
#include "formats/type_table.h"
#include "parallel/parallel.h"

namespace qs::eval::detail {

using formats::TensorType;

namespace {

constexpr int kRows = 4;   // weight rows per micro-kernel
constexpr int kPairs = 3;  // token pairs per micro-kernel (two tokens per zmm)
// Packed weights per group of kRows rows and block: the int8 quants of each row (32 B), the
// correction -128 * (sum of each four quants) as eight int32 per row (32 B), d per row.
constexpr int64_t kGroupBlockBytes = kRows * 32 + kRows * 32 + kRows * 4;

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

namespace {

// Activations of one token pair: per block the two tokens' 32 quants as unsigned x + 128 (64 B)
// and their two F16-rounded scales.
struct PairActs {
    std::vector<uint8_t> xu;  // pairs x blocks x 64
    std::vector<float> dx;    // pairs x blocks x 2
};

// ggml's x86 quantize_row_q8_0: scale 127 / amax, round to nearest even, d = amax / 127 as F16.
void quantizeToken(const float* x, int64_t nb, uint8_t* xu, int64_t xuStride, float* dx,
                   int64_t dxStride) {
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        dx[b * dxStride] = formats::halfToFloat(formats::floatToHalf(amax / 127.0f));
        uint8_t* o = xu + b * xuStride;
        for (int j = 0; j < 32; ++j) {
            // |q| <= 127 for finite values; a NaN or inf activation (no meaningful product
            // anyway) gives 0 rather than an undefined conversion.
            const float r = std::nearbyint(xb[j] * id);
            o[j] = uint8_t((r >= -127.0f && r <= 127.0f ? int(r) : 0) + 128);
        }
    }
}

PairActs quantizePairs(const float* x, int64_t nTok, int64_t C, int threads) {
    const int64_t nb = C / 32, nPairs = (nTok + 1) / 2;
    PairActs a;
    a.xu.resize(size_t(nPairs * nb * 64));
    a.dx.resize(size_t(nPairs * nb * 2));
    parallel::parallelFor(threads, nPairs, 8, [&](int64_t pb, int64_t pe) {
        for (int64_t p = pb; p < pe; ++p) {
            for (int h = 0; h < 2; ++h) {
                // An odd batch's last pair repeats its token (the copy's results are dropped).
                const int64_t t = std::min(nTok - 1, 2 * p + h);
                quantizeToken(x + t * C, nb, a.xu.data() + p * nb * 64 + h * 32, 64,
                              a.dx.data() + p * nb * 2 + h, 2);
            }
        }
    });
    return a;
}

// The int8 quants and scale of one stored row: Q8_0's bytes as they are; the others decode to
// d * q, and q comes back by one division (as in matmul.cpp's lane-order kernel).
void unpackRow(TensorType type, const uint8_t* src, int64_t C, int8_t* q, float* d,
               std::vector<float>& scratch) {
    const auto& tr = formats::traits(type);
    const int64_t nb = C / 32;
    if (type == TensorType::Q8_0) {
        for (int64_t b = 0; b < nb; ++b) {
            uint16_t h;
            std::memcpy(&h, src + b * 34, 2);
            d[b] = formats::halfToFloat(h);
            std::memcpy(q + b * 32, src + b * 34 + 2, 32);
        }
        return;
    }
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

// Packs rows [4g, 4g + 4) (missing rows as zeros) into kGroupBlockBytes per block.
void packGroup(const WeightView& w, int64_t g, uint8_t* dst, std::vector<float>& scratch,
               std::vector<int8_t>& q, std::vector<float>& d) {
    const int64_t C = w.cols, nb = C / 32;
    std::memset(dst, 0, size_t(nb * kGroupBlockBytes));
    q.resize(size_t(C));
    d.resize(size_t(nb));
    for (int i = 0; i < kRows; ++i) {
        const int64_t r = g * kRows + i;
        if (r >= w.rows) break;
        unpackRow(w.type, w.storedRow(r).data(), C, q.data(), d.data(), scratch);
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* blk = dst + b * kGroupBlockBytes;
            std::memcpy(blk + i * 32, q.data() + b * 32, 32);
            int32_t corr[8];
            for (int l = 0; l < 8; ++l) {
                int32_t s = 0;
                for (int e = 0; e < 4; ++e) s += q[size_t(b * 32 + 4 * l + e)];
                corr[l] = -128 * s;
            }
            std::memcpy(blk + kRows * 32 + i * 32, corr, 32);
            std::memcpy(blk + kRows * 64 + i * 4, &d[size_t(b)], 4);
        }
    }
}

// tinyBLAS's hsum of eight lanes.
inline float hsum8(const float* v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

#if defined(__x86_64__) || defined(__i386__)
#define QS_Q8_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// kRows weight rows (one packed group) by NP token pairs over all nb blocks. out[i][p][16]:
// row i, pair p, lanes 0-7 the pair's first token, 8-15 its second.
template <int NP>
QS_Q8_TARGET void microKernel(const uint8_t* wg, const uint8_t* xu, const float* dx, int64_t nb,
                              float (*out)[kPairs][16]) {
    __m512 acc[kRows][NP];
    for (int i = 0; i < kRows; ++i) {
        for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
    }
    const int64_t xStride = nb * 64, dStride = nb * 2;
    for (int64_t b = 0; b < nb; ++b) {
        __m512i xv[NP];
        __m512 dxv[NP];
        for (int p = 0; p < NP; ++p) {
            xv[p] = _mm512_loadu_si512(xu + p * xStride + b * 64);
            // (The masked and insert forms: g++ 12 warns on the plain ones' undefined operand.)
            const float* d2 = dx + p * dStride + b * 2;
            dxv[p] = _mm512_insertf32x8(_mm512_set1_ps(d2[0]), _mm256_set1_ps(d2[1]), 1);
        }
        const uint8_t* blk = wg + b * kGroupBlockBytes;
        for (int i = 0; i < kRows; ++i) {
            const __m512i wv = _mm512_maskz_broadcast_i64x4(
                0xff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + i * 32)));
            const __m512i corr = _mm512_maskz_broadcast_i64x4(
                0xff,
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kRows * 32 + i * 32)));
            float dwf;
            std::memcpy(&dwf, blk + kRows * 64 + i * 4, 4);
            const __m512 dw = _mm512_set1_ps(dwf);
            for (int p = 0; p < NP; ++p) {
                const __m512 s =
                    _mm512_maskz_cvtepi32_ps(0xffff, _mm512_dpbusd_epi32(corr, xv[p], wv));
                acc[i][p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dxv[p]), s, acc[i][p]);
            }
        }
    }
    for (int i = 0; i < kRows; ++i) {
        for (int p = 0; p < NP; ++p) _mm512_storeu_ps(out[i][p], acc[i][p]);
    }
}
#undef QS_Q8_TARGET
#else
template <int NP>
void microKernel(const uint8_t*, const uint8_t*, const float*, int64_t, float (*)[kPairs][16]) {}
#endif

}  // namespace

void matmulQ8Gemm(const WeightView& w, const float* x, int64_t nTok, float* y, int threads) {
    const int64_t C = w.cols, R = w.rows, nb = C / 32;
    if (nTok <= 0 || R <= 0) return;
    const PairActs acts = quantizePairs(x, nTok, C, threads);
    const int64_t nGroups = (R + kRows - 1) / kRows;
    std::vector<uint8_t> packed(size_t(nGroups * nb * kGroupBlockBytes));
    parallel::parallelFor(threads, nGroups, 16, [&](int64_t gb, int64_t ge) {
        std::vector<float> scratch, d;
        std::vector<int8_t> q;
        for (int64_t g = gb; g < ge; ++g) {
            packGroup(w, g, packed.data() + g * nb * kGroupBlockBytes, scratch, q, d);
        }
    });
    // Tasks: a tile of token pairs by a chunk of row groups, sized to stay in L2.
    const int64_t nPairs = (nTok + 1) / 2;
    const int64_t pairsPerTile =
        std::max<int64_t>(kPairs, (32768 / std::max<int64_t>(C, 1)) / (2 * kPairs) * kPairs);
    const int64_t groupsPerChunk = std::max<int64_t>(1, 65536 / (nb * kGroupBlockBytes));
    const int64_t nTiles = (nPairs + pairsPerTile - 1) / pairsPerTile;
    const int64_t nChunks = (nGroups + groupsPerChunk - 1) / groupsPerChunk;
    parallel::parallelFor(threads, nTiles * nChunks, 1, [&](int64_t tb, int64_t te) {
        float out[kRows][kPairs][16];
        for (int64_t task = tb; task < te; ++task) {
            const int64_t chunk = task % nChunks, tile = task / nChunks;
            const int64_t g0 = chunk * groupsPerChunk, g1 = std::min(nGroups, g0 + groupsPerChunk);
            const int64_t p0 = tile * pairsPerTile, p1 = std::min(nPairs, p0 + pairsPerTile);
            for (int64_t g = g0; g < g1; ++g) {
                const uint8_t* wg = packed.data() + g * nb * kGroupBlockBytes;
                for (int64_t p = p0; p < p1; p += kPairs) {
                    const int np = int(std::min<int64_t>(kPairs, p1 - p));
                    const uint8_t* xu = acts.xu.data() + p * nb * 64;
                    const float* dx = acts.dx.data() + p * nb * 2;
                    if (np == 3) {
                        microKernel<3>(wg, xu, dx, nb, out);
                    } else if (np == 2) {
                        microKernel<2>(wg, xu, dx, nb, out);
                    } else {
                        microKernel<1>(wg, xu, dx, nb, out);
                    }
                    for (int i = 0; i < kRows; ++i) {
                        const int64_t r = g * kRows + i;
                        if (r >= R) break;
                        for (int pp = 0; pp < np; ++pp) {
                            for (int h = 0; h < 2; ++h) {
                                const int64_t t = 2 * (p + pp) + h;
                                if (t < nTok) y[t * R + r] = hsum8(out[i][pp] + 8 * h);
                            }
                        }
                    }
                }
            }
        }
    });
}

}  // namespace qs::eval::detail
