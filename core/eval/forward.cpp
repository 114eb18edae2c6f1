#include "eval/forward.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "eval/cpu_features.h"
#include "eval/flash_tile.h"
#include "eval/forward_blocks.h"
#include "eval/ggml_math.h"
#include "eval/matmul.h"
#include "eval/scratch_pool.h"
#include "formats/half.h"
#include "parallel/parallel.h"

namespace qs::eval {

namespace {

inline float roundF16(float x) {
    return formats::halfToFloat(formats::floatToHalf(x));
}

// x rounded to F16 and back in place (the F16 KV cache): F16C's conversions where the CPU has
// them (round to nearest even, NaN quieted as floatToHalf does; the same bits), else
// formats::floatToHalf.
#if defined(__x86_64__) || defined(__i386__)
QS_EVAL_TARGET_AVX2 void roundToF16Avx2(float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)));
    }
    for (; i < n; ++i) x[i] = roundF16(x[i]);
}
#endif
void roundToF16(float* x, int64_t n, int threads) {
    parallel::parallelFor(threads, (n + 4095) / 4096, 1, [&](int64_t b, int64_t e) {
        const int64_t i0 = b * 4096, i1 = std::min(n, e * 4096);
#if defined(__x86_64__) || defined(__i386__)
        if (cpuHasAvx2Fma()) {
            roundToF16Avx2(x + i0, i1 - i0);
            return;
        }
#endif
        for (int64_t i = i0; i < i1; ++i) x[i] = roundF16(x[i]);
    });
}

// RoPE on nTok x nHeads heads of headDim values, in place.
// freqBase/freqScale are the layer's (sliding layers may differ); cos and sin are scaled by
// rope.scaling.attn_factor (ggml's mscale).
void rope(float* x, int64_t nTok, int nHeads, const LlamaConfig& c, float freqBase, float freqScale,
          const std::vector<float>& freqFactors, int threads) {
    const int hd = c.headDim, nd = c.ropeDim;
    const float thetaScale = std::pow(freqBase, -2.0f / float(nd));
    const float mscale = c.ropeAttnFactor;
    parallel::parallelFor(threads, nTok, 8, [&](int64_t b, int64_t e) {
        std::vector<float> cs(static_cast<size_t>(nd)), sn(static_cast<size_t>(nd));
        for (int64_t t = b; t < e; ++t) {
            float theta = float(t);
            for (int i0 = 0; i0 < nd; i0 += 2) {
                const float ff = freqFactors.empty() ? 1.0f : freqFactors[size_t(i0 / 2)];
                const float th = freqScale * (theta / ff);
                cs[size_t(i0 / 2)] = std::cos(th) * mscale;
                sn[size_t(i0 / 2)] = std::sin(th) * mscale;
                theta *= thetaScale;
            }
            for (int h = 0; h < nHeads; ++h) {
                float* v = x + (t * nHeads + h) * hd;
                for (int i = 0; i < nd / 2; ++i) {
                    const int a = c.ropeNeox ? i : 2 * i;
                    const int bb = c.ropeNeox ? i + nd / 2 : 2 * i + 1;
                    const float x0 = v[a], x1 = v[bb];
                    // ggml's rotate_pairs as its compiler contracts it (GNU C++: the first
                    // product of each line fused with the rest).
                    v[a] = std::fma(x0, cs[size_t(i)], -(x1 * sn[size_t(i)]));
                    v[bb] = std::fma(x0, sn[size_t(i)], x1 * cs[size_t(i)]);
                }
            }
        }
    });
}

void addBias(float* y, const std::vector<float>& b, int64_t nTok) {
    if (b.empty()) return;
    const size_t n = b.size();
    for (int64_t t = 0; t < nTok; ++t) {
        for (size_t i = 0; i < n; ++i) y[size_t(t) * n + i] += b[i];
    }
}

// Causal grouped-query attention: out (nTok x nHead*hd) from q, k, v (rope applied).
// Keys j0(t) .. t are visible (a sliding window of `window` keys, or all when 0); scores are
// soft-capped (softcap > 0: cap * tanh(s / cap)) and then scaled by `scale`.
// ggml_vec_dot_f16: 4 * W values a step into four W-lane accumulators (F16 products are exact
// in float), reduced pairwise, then across lanes as ggml's build reduces them (W = 16 in the
// AVX-512 build llama.cpp picks where it can, 8 in the AVX2 one), the tail added in double.
template <int W>
[[gnu::always_inline]] inline float dotF16Ggml(const float* a, const float* b, int n) {
    float acc[4][W] = {};
    const int np = n & ~(4 * W - 1);
    for (int i = 0; i < np; i += 4 * W) {
        for (int j = 0; j < 4; ++j) {
            for (int l = 0; l < W; ++l) acc[j][l] += a[i + j * W + l] * b[i + j * W + l];
        }
    }
    double sum = 0;
    if (np > 0) {
        float v[W];
        for (int l = 0; l < W; ++l) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
        if constexpr (W == 16) {
            float t3[8], t6[4];
            for (int i = 0; i < 8; ++i) t3[i] = v[8 + i] + v[i];
            for (int i = 0; i < 4; ++i) t6[i] = t3[4 + i] + t3[i];
            sum = double((t6[0] + t6[2]) + (t6[1] + t6[3]));
        } else {
            sum = double(((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])));
        }
    }
    for (int i = np; i < n; ++i) sum += double(a[i] * b[i]);
    return float(sum);
}

// tinyBLAS's F16 dot (W lanes, one fused chain per lane, _mm512_reduce_add_ps / hsum): F16
// values' products are exact in float.
template <int W>
[[gnu::always_inline]] inline float dotF16TinyBlas(const float* a, const float* b, int n) {
    float acc[W] = {};
    for (int i = 0; i < n; i += W) {
        for (int l = 0; l < W; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
    }
    return reduceLanesGgml<W>(acc);
}

// llama.cpp's attention without flash attention over an F16 cache (node-llama-cpp's path for
// gemma2): KQ = mul_mat(K, q) with q rounded to F16 (tinyBLAS's W-lane order when the head size
// allows it), soft-cap as scale / tanh / scale, ggml_soft_max_ext (ggml_v_expf, W-lane groups of
// the cache's columns from 0 summed in double, times float(1 / sum)), the weights rounded to F16
// and KQV = mul_mat(V^T, kq) in tinyBLAS's order over the keys (key j in lane j mod W).
template <int W>
[[gnu::always_inline]] inline void attentionF16CacheRow(const float* qt, const float* k,
                                                        const float* v, int64_t kvStride,
                                                        int64_t j0, int64_t t, int hd, float scale,
                                                        float softcap, float* qh, float* s,
                                                        float* out) {
    for (int i = 0; i < hd; ++i) qh[i] = roundF16(qt[i]);
    const bool tiny = hd % W == 0;
    float mx = -INFINITY;
    for (int64_t j = j0; j <= t; ++j) {
        float kq = tiny ? dotF16TinyBlas<W>(qh, k + j * kvStride, hd)
                        : dotF16Ggml<W>(qh, k + j * kvStride, hd);
        if (softcap > 0) kq = std::tanh(kq * (1.0f / softcap)) * softcap;
        s[j] = kq * scale;
        mx = std::max(mx, s[j]);
    }
    const int64_t nCols = (t / W + 1) * W;  // whole groups from column 0 (the rest are 0)
    for (int64_t j = 0; j < nCols; ++j) {
        s[j] = (j < j0 || j > t) ? 0.0f
               : W == 16         ? ggmlExpfAvx512Lane(s[j] - mx)
                                 : ggmlExpfAvx2Lane(s[j] - mx);
    }
    double sum = 0;
    for (int64_t g = 0; g < nCols; g += W) sum += double(reduceLanesGgml<W>(s + g));
    const float inv = float(1.0 / sum);
    for (int64_t j = 0; j < nCols; ++j) s[j] = roundF16(s[j] * inv);
    for (int d = 0; d < hd; ++d) {
        float acc[W] = {};
        for (int64_t g = 0; g < nCols; g += W) {
            for (int l = 0; l < W; ++l) {
                const int64_t j = g + l;
                if (j <= t) acc[l] = std::fma(s[j], v[j * kvStride + d], acc[l]);
            }
        }
        out[d] = reduceLanesGgml<W>(acc);
    }
}

using F16CacheRowFn = void (*)(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                               int, float, float, float*, float*, float*);
#if defined(__x86_64__) || defined(__i386__)
QS_EVAL_TARGET_AVX2 void f16CacheRowW16(const float* qt, const float* k, const float* v,
                                        int64_t kvs, int64_t j0, int64_t t, int hd, float scale,
                                        float softcap, float* qh, float* s, float* out) {
    attentionF16CacheRow<16>(qt, k, v, kvs, j0, t, hd, scale, softcap, qh, s, out);
}
QS_EVAL_TARGET_AVX2 void f16CacheRowW8(const float* qt, const float* k, const float* v, int64_t kvs,
                                       int64_t j0, int64_t t, int hd, float scale, float softcap,
                                       float* qh, float* s, float* out) {
    attentionF16CacheRow<8>(qt, k, v, kvs, j0, t, hd, scale, softcap, qh, s, out);
}
#endif
void f16CacheRowPlain(const float* qt, const float* k, const float* v, int64_t kvs, int64_t j0,
                      int64_t t, int hd, float scale, float softcap, float* qh, float* s,
                      float* out) {
    attentionF16CacheRow<8>(qt, k, v, kvs, j0, t, hd, scale, softcap, qh, s, out);
}

void attention(const float* q, const float* k, const float* v, float* out, int64_t nTok,
               const LlamaConfig& c, bool f16, int threads, int window, float scale,
               float softcap) {
    const int hd = c.headDim, H = c.nHead, Hkv = c.nHeadKv, group = H / Hkv;
    const int64_t qStride = int64_t(H) * hd, kvStride = int64_t(Hkv) * hd;
    if (f16) {
#if defined(__x86_64__) || defined(__i386__)
        const F16CacheRowFn row = !cpuHasAvx2Fma() ? f16CacheRowPlain
                                  : cpuHasAvx512() ? f16CacheRowW16
                                                   : f16CacheRowW8;
#else
        const F16CacheRowFn row = f16CacheRowPlain;
#endif
        parallel::parallelFor(threads, int64_t(H) * nTok, 16, [&](int64_t b, int64_t e) {
            std::vector<float> s(static_cast<size_t>(nTok + 16)), qh(static_cast<size_t>(hd));
            for (int64_t idx = b; idx < e; ++idx) {
                const int h = int(idx / nTok);
                const int64_t t = idx % nTok;
                const int g = h / group;
                const int64_t j0 = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
                row(q + t * qStride + int64_t(h) * hd, k + int64_t(g) * hd, v + int64_t(g) * hd,
                    kvStride, j0, t, hd, scale, softcap, qh.data(), s.data(),
                    out + t * qStride + int64_t(h) * hd);
            }
        });
        return;
    }
    parallel::parallelFor(threads, int64_t(H) * nTok, 16, [&](int64_t b, int64_t e) {
        std::vector<float> s(static_cast<size_t>(nTok)), qh(static_cast<size_t>(hd)),
            acc(static_cast<size_t>(hd));
        for (int64_t idx = b; idx < e; ++idx) {
            const int h = int(idx / nTok);
            const int64_t t = idx % nTok;
            const int g = h / group;
            const float* qt = q + t * qStride + int64_t(h) * hd;
            for (int i = 0; i < hd; ++i) qh[size_t(i)] = f16 ? roundF16(qt[i]) : qt[i];
            const int64_t j0 = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
            float mx = -INFINITY;
            for (int64_t j = j0; j <= t; ++j) {
                float kq = dotF32(qh.data(), k + j * kvStride + int64_t(g) * hd, hd);
                if (softcap > 0) kq = std::tanh(kq * (1.0f / softcap)) * softcap;
                s[size_t(j)] = kq * scale;
                mx = std::max(mx, s[size_t(j)]);
            }
            double sum = 0;
            for (int64_t j = j0; j <= t; ++j) {
                const float ev = std::exp(s[size_t(j)] - mx);
                s[size_t(j)] = ev;
                sum += ev;
            }
            const float inv = float(1.0 / sum);
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t j = j0; j <= t; ++j) {
                float p = s[size_t(j)] * inv;
                if (f16) p = roundF16(p);
                const float* vj = v + j * kvStride + int64_t(g) * hd;
                for (int i = 0; i < hd; ++i) acc[size_t(i)] += p * vj[i];
            }
            std::copy(acc.begin(), acc.end(), out + t * qStride + int64_t(h) * hd);
        }
    });
}

// One query row of llama.cpp's CPU flash attention over an F16 KV cache: q rounded to F16, an
// online softmax in float, and the value sum kept in F16 (rescaled in F16 when the running
// maximum grows). k and v are already F16-rounded. The body is a macro over the F16 rounding,
// so that the AVX2 build gets the F16C instructions inline and the other build the portable
// conversion (both round to nearest even).
#define QS_FLASH_ROW_BODY(ROUND, W)                                                     \
    for (int i = 0; i < hd; ++i) qh[i] = ROUND(qt[i]);                                  \
    for (int i = 0; i < hd; ++i) acc[i] = 0.0f;                                         \
    float M = -INFINITY, S = 0;                                                         \
    for (int64_t j = j0; j < n; ++j) {                                                  \
        float s = dotF16Ggml<W>(qh, k + j * kvStride, hd) * scale;                      \
        if (softcap != 0.0f) s = softcap * std::tanh(s);                                \
        float ms = 1.0f, vs = 1.0f;                                                     \
        if (s > M) {                                                                    \
            const float mOld = M;                                                       \
            M = s;                                                                      \
            ms = std::exp(mOld - M);                                                    \
            for (int i = 0; i < hd; ++i) acc[i] = ROUND(acc[i] * ms);                   \
        } else {                                                                        \
            vs = std::exp(s - M);                                                       \
        }                                                                               \
        const float* vj = v + j * kvStride;                                             \
        for (int i = 0; i < hd; ++i) acc[i] = ROUND(__builtin_fmaf(vj[i], vs, acc[i])); \
        S = roundedProduct(S, ms) + vs; /* llama.cpp's build: S * ms rounded */         \
    }                                                                                   \
    const float inv = 1.0f / S;                                                         \
    for (int i = 0; i < hd; ++i) out[i] = acc[i] * inv;

#if defined(__x86_64__) || defined(__i386__)
#define QS_ROUND_F16_HW(x) _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(x), 0)))
QS_EVAL_TARGET_AVX2 void flashRowAvx2(const float* qt, const float* k, const float* v,
                                      int64_t kvStride, int64_t j0, int64_t n, int hd, float scale,
                                      float softcap, float* qh, float* acc, float* out){
    QS_FLASH_ROW_BODY(QS_ROUND_F16_HW, 8)} QS_EVAL_TARGET_AVX2
    void flashRowAvx2W16(const float* qt, const float* k, const float* v, int64_t kvStride,
                         int64_t j0, int64_t n, int hd, float scale, float softcap, float* qh,
                         float* acc, float* out) {
    QS_FLASH_ROW_BODY(QS_ROUND_F16_HW, 16)
}
#endif
void flashRowPlain(const float* qt, const float* k, const float* v, int64_t kvStride, int64_t j0,
                   int64_t n, int hd, float scale, float softcap, float* qh, float* acc,
                   float* out) {
    QS_FLASH_ROW_BODY(roundF16, 8)
}
#if !defined(__x86_64__) && !defined(__i386__)
#define flashRowAvx2 flashRowPlain
#define flashRowAvx2W16 flashRowPlain
#endif

// ggml's CPU flash attention: with a soft cap the scale is divided by the cap and the score is
// cap * tanh(s); masked keys (outside the sliding window) are skipped.
void attentionFlashF16(const float* q, const float* k, const float* v, float* out, int64_t nTok,
                       const LlamaConfig& c, int threads, int window, float kqScale, float softcap,
                       std::span<const std::pair<int64_t, int64_t>> ubatches) {
    const int hd = c.headDim, H = c.nHead, Hkv = c.nHeadKv, group = H / Hkv;
    const int64_t qStride = int64_t(H) * hd, kvStride = int64_t(Hkv) * hd;
    const float scale = softcap != 0.0f ? kqScale / softcap : kqScale;
    // llama.cpp takes its tiled kernel for batches of at least 64 queries whose head size is a
    // multiple of its vector width (ggml_compute_forward_flash_attn_ext_f16); a batch is one
    // ubatch's queries of a sequence (the whole context when none are given).
    const int epr = cpuHasAvx512() ? 16 : 8;
    const std::pair<int64_t, int64_t> whole{0, nTok};
    int64_t covered = 0;  // ranges that do not tile the context one after another: one batch
    for (const auto& [b0, len] : ubatches) covered = b0 == covered && len > 0 ? b0 + len : -1;
    if (covered < nTok) ubatches = {&whole, 1};
#if defined(__x86_64__) || defined(__i386__)
    const detail::FlashTileFn tile = !cpuHasAvx2Fma() ? detail::flashTilePlain
                                     : cpuHasAvx512() ? detail::flashTileAvx2W16
                                                      : detail::flashTileAvx2W8;
#else
    const detail::FlashTileFn tile = detail::flashTilePlain;
#endif
    // The AVX-512 tile (the same floats) reads the keys transposed once per call.
    const bool avx512Tile =
        softcap == 0.0f && hd % 16 == 0 && cpuHasAvx512() && detail::flashTileAvx512Available();
    detail::PooledVector<float> keyTiles(0);
    const auto row = !cpuHasAvx2Fma() ? flashRowPlain
                     : cpuHasAvx512() ? flashRowAvx2W16
                                      : flashRowAvx2;
    for (const auto& range : ubatches) {
        // A plain local: C++20 lambdas (clang 14) cannot capture a structured binding.
        const int64_t b0 = range.first, len = range.second;
        const int64_t b1 = std::min(nTok, b0 + len);
        if (b0 >= b1) continue;
        const int64_t n = b1 - b0;
        if (n >= 64 && hd % epr == 0) {
            const int64_t nTiles = (n + 63) / 64;
            if (avx512Tile && keyTiles.vec().empty()) {
                keyTiles.vec().resize(size_t(detail::keyTilesSize(Hkv, hd, nTok)));
                detail::buildKeyTiles(k, kvStride, Hkv, hd, nTok, keyTiles.data(), threads);
            }
            parallel::parallelFor(threads, int64_t(H) * nTiles, 1, [&](int64_t b, int64_t e) {
                std::vector<float> scratch(size_t(hd) * 64 * 3 + 64 * 64);
                for (int64_t idx = b; idx < e; ++idx) {
                    const int h = int(idx / nTiles);
                    const int64_t t0 = b0 + (idx % nTiles) * 64, t1 = std::min(b1, t0 + 64);
                    if (avx512Tile) {
                        detail::flashTileAvx512(q, keyTiles.data(), v, qStride, kvStride, nTok, h,
                                                group, t0, t1, hd, scale, window, out,
                                                scratch.data());
                    } else {
                        tile(q, k, v, qStride, kvStride, h, group, t0, t1, hd, scale, softcap,
                             window, out, scratch.data());
                    }
                }
            });
            continue;
        }
        parallel::parallelFor(threads, int64_t(H) * n, 16, [&](int64_t b, int64_t e) {
            std::vector<float> qh(static_cast<size_t>(hd)), acc(static_cast<size_t>(hd));
            for (int64_t idx = b; idx < e; ++idx) {
                const int h = int(idx / n);
                const int64_t t = b0 + idx % n;
                const int64_t g = h / group;
                const int64_t j0 = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
                row(q + t * qStride + int64_t(h) * hd, k + g * hd, v + g * hd, kvStride, j0, t + 1,
                    hd, scale, softcap, qh.data(), acc.data(), out + t * qStride + int64_t(h) * hd);
            }
        });
    }
}

}  // namespace

Status forward(const LlamaModel& model, std::span<const int32_t> tokens,
               const ForwardOptions& options, const LogitsFn& consume, int64_t logitsFrom) {
    const LlamaConfig& c = model.config();
    const int threads = options.threads;
    const int64_t T = int64_t(tokens.size());
    const int64_t E = c.nEmbd;
    const int64_t qDim = int64_t(c.nHead) * c.headDim, kvDim = int64_t(c.nHeadKv) * c.headDim;
    for (int64_t t = 0; t < T; ++t) {
        if (tokens[size_t(t)] < 0 || tokens[size_t(t)] >= c.nVocab) {
            return makeError(ErrorCode::BadInput, "token id " + std::to_string(tokens[size_t(t)]) +
                                                      " at position " + std::to_string(t) +
                                                      " is outside the vocabulary of " +
                                                      std::to_string(c.nVocab));
        }
    }
    const uint64_t steps = uint64_t(c.nLayer) + 1;
    auto report = [&](uint64_t done, std::string_view what) -> Status {
        if (options.cancel && options.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "evaluation cancelled");
        }
        if (options.progress) {
            quant::Progress p;
            p.doneBytes = done;
            p.totalBytes = steps;
            p.tensorIndex = size_t(done);
            p.tensorCount = size_t(steps);
            p.tensor = what;
            if (!options.progress(p)) {
                return makeError(ErrorCode::Cancelled, "evaluation cancelled");
            }
        }
        return {};
    };

    // Embeddings: ggml_get_rows decodes the rows of the tokens.
    std::vector<float> x(size_t(T * E));
    const WeightView& emb = model.tokenEmbd();
    const auto embDecode = formats::traits(emb.type).decode;
    for (int64_t t = 0; t < T; ++t) {
        embDecode(emb.storedRow(tokens[size_t(t)]).data(), x.data() + t * E, E);
    }

    if (c.embdScale > 0) {
        for (float& f : x) f *= c.embdScale;
    }
    int firstLayer = 0;
    if (const auto* rs = options.resumeResidual; rs && options.resumeLayer > 0) {
        // (At layer 0 the stream is the embeddings, which this model's token_embd gives.)
        firstLayer = std::min(options.resumeLayer, c.nLayer);
        if (rs->size() <= size_t(firstLayer) || (*rs)[size_t(firstLayer)].size() != x.size()) {
            return makeError(ErrorCode::BadUsage,
                             "forward: no saved residual stream of these tokens at layer " +
                                 std::to_string(firstLayer));
        }
        x = (*rs)[size_t(firstLayer)];
    }
    if (options.saveResidual) options.saveResidual->resize(size_t(c.nLayer) + 1);

    std::vector<float> h(size_t(T * E)), q(size_t(T * qDim)), k(size_t(T * kvDim)),
        v(size_t(T * kvDim)), att(size_t(T * qDim)), proj(size_t(T * E));
    const bool emu = options.emulateGgml;
    const float kqScale = c.qScale > 0 ? 1.0f : 1.0f / std::sqrt(float(c.headDim));
    for (int l = firstLayer; l < c.nLayer; ++l) {
        const LayerWeights& L = model.layers()[size_t(l)];
        QS_TRY(report(uint64_t(l), L.wq.name));
        if (options.saveResidual) (*options.saveResidual)[size_t(l)] = x;
        detail::rmsNorm(x.data(), h.data(), L.attnNorm, T, E, c.rmsEps, threads);
        if (auto* ob = options.observer) {
            // q, k and v read the same input; a fused attn_qkv is one product.
            ob->onProduct(L.wq, -1, 0, h.data(), T);
            if (L.wk.name != L.wq.name) ob->onProduct(L.wk, -1, 0, h.data(), T);
            if (L.wv.name != L.wq.name && L.wv.name != L.wk.name) {
                ob->onProduct(L.wv, -1, 0, h.data(), T);
            }
        }
        matmul(L.wq, h.data(), T, q.data(), threads, emu);
        matmul(L.wk, h.data(), T, k.data(), threads, emu);
        matmul(L.wv, h.data(), T, v.data(), threads, emu);
        addBias(q.data(), L.bq, T);
        addBias(k.data(), L.bk, T);
        addBias(v.data(), L.bv, T);
        if (!L.qNorm.empty()) {
            detail::rmsNorm(q.data(), q.data(), L.qNorm, T * c.nHead, c.headDim, c.rmsEps, threads);
            detail::rmsNorm(k.data(), k.data(), L.kNorm, T * c.nHeadKv, c.headDim, c.rmsEps,
                            threads);
        }
        // Rope factors: llama 3's rope_freqs, phi3's long factors past the original context.
        const std::vector<float>& factors = !model.ropeFreqs().empty() ? model.ropeFreqs()
                                            : (T > c.nCtxOrig && !L.ropeLong.empty()) ? L.ropeLong
                                                                                      : L.ropeShort;
        const bool swa = c.isSwa(l);
        const float base = swa ? c.ropeFreqBaseSwa : c.ropeFreqBase;
        const float fscale = swa ? c.ropeFreqScaleSwa : c.ropeFreqScale;
        rope(q.data(), T, c.nHead, c, base, fscale, factors, threads);
        rope(k.data(), T, c.nHeadKv, c, base, fscale, factors, threads);
        if (c.qScale > 0) {
            for (float& f : q) f *= c.qScale;
        }
        const bool f16 = options.attention != Attention::F32;
        if (f16) {
            roundToF16(k.data(), int64_t(k.size()), threads);
            roundToF16(v.data(), int64_t(v.size()), threads);
        }
        const int window = swa ? c.nSwa : 0;
        if (options.attention == Attention::FlashF16) {
            attentionFlashF16(q.data(), k.data(), v.data(), att.data(), T, c, threads, window,
                              kqScale, c.attnSoftcap, options.ubatches);
        } else {
            attention(q.data(), k.data(), v.data(), att.data(), T, c, f16, threads, window, kqScale,
                      c.attnSoftcap);
        }
        if (options.observer) options.observer->onProduct(L.wo, -1, 0, att.data(), T);
        matmul(L.wo, att.data(), T, proj.data(), threads, emu);
        if (!L.postAttnNorm.empty()) {
            detail::rmsNorm(proj.data(), proj.data(), L.postAttnNorm, T, E, c.rmsEps, threads);
        }
        for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];

        detail::rmsNorm(x.data(), h.data(), L.ffnNorm, T, E, c.rmsEps, threads);
        if (c.nExpert > 0) {
            detail::moeFfn(L, c, h.data(), T, proj.data(), threads, emu, options.observer);
        } else {
            detail::denseFfn(L, c, h.data(), T, proj.data(), threads, emu, options.observer);
        }
        if (!L.postFfnNorm.empty()) {
            detail::rmsNorm(proj.data(), proj.data(), L.postFfnNorm, T, E, c.rmsEps, threads);
        }
        for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    }
    QS_TRY(report(uint64_t(c.nLayer), model.output().name));
    if (options.saveResidual) (*options.saveResidual)[size_t(c.nLayer)] = x;

    logitsFrom = std::clamp<int64_t>(logitsFrom, 0, T);
    const int64_t nOut = T - logitsFrom;
    detail::rmsNorm(x.data() + logitsFrom * E, h.data(), model.outputNorm(), nOut, E, c.rmsEps,
                    threads);
    constexpr int64_t kChunk = 64;
    std::vector<float> logits(size_t(std::min(kChunk, std::max<int64_t>(nOut, 1)) * c.nVocab));
    for (int64_t p0 = 0; p0 < nOut; p0 += kChunk) {
        const int64_t n = std::min(kChunk, nOut - p0);
        matmul(model.output(), h.data() + p0 * E, n, logits.data(), threads, emu);
        if (c.finalSoftcap > 0) {
            // ggml_scale by 1 / cap, ggml_tanh, ggml_scale by cap.
            const float inv = 1.0f / c.finalSoftcap;
            for (int64_t i = 0; i < n * c.nVocab; ++i) {
                logits[size_t(i)] = std::tanh(logits[size_t(i)] * inv) * c.finalSoftcap;
            }
        }
        consume(logitsFrom + p0, n, logits.data());
        if (options.cancel && options.cancel->cancelled()) {
            return makeError(ErrorCode::Cancelled, "evaluation cancelled");
        }
    }
    return report(steps, {});
}

}  // namespace qs::eval
