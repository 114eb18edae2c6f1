#include "eval/flash_tile.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "eval/cpu_features.h"
#include "eval/ggml_math.h"

namespace qs::eval::detail {

namespace {

// llama.cpp's tiled CPU flash attention (ggml_compute_forward_flash_attn_ext_tiled, taken when
// a batch has at least 64 queries): F32 queries (not rounded), keys and values read from the
// F16 cache, tiles of 64 keys from position 0. Per tile: scores as one fused multiply-add chain
// over the head dimension (simd_gemm), scaled (soft-capped), masked; the running maximum and
// sum rescaled by expf when the tile's maximum is larger; ggml_vec_soft_max_f32 (ggml_v_expf
// per lane, W-lane sums added in double); the values accumulated as one fused chain over the
// tile's 64 keys per output element. W is 16 in the AVX-512 build llama.cpp picks, else 8.
// One call: queries t0..t1-1 of head h (their own rows are independent of the grouping).
template <int W>
[[gnu::always_inline]] inline void flashTileBody(const float* q, const float* k, const float* v,
                                                 int64_t qStride, int64_t kvStride, int h,
                                                 int group, int64_t t0, int64_t t1, int hd,
                                                 float scale, float softcap, int window, float* out,
                                                 float* scratch) {
    constexpr int KV = 64;
    const int nq = int(t1 - t0);
    const int64_t g = h / group;
    float* Kt = scratch;       // hd x KV (transposed key tile)
    float* Vt = Kt + hd * KV;  // KV x hd
    float* P = Vt + KV * hd;   // nq x KV (probabilities)
    float* acc = P + 64 * KV;  // nq x hd
    float M[64], S[64];
    bool live[64];
    for (int r = 0; r < nq; ++r) {
        M[r] = -INFINITY;
        S[r] = 0.0f;
    }
    std::fill(acc, acc + int64_t(nq) * hd, 0.0f);
    const int64_t jlo = window > 0 ? std::max<int64_t>(0, t0 - window + 1) : 0;
    for (int64_t ic = (jlo / KV) * KV; ic < t1; ic += KV) {
        const int kvTile = int(std::min<int64_t>(KV, t1 - ic));
        for (int d = 0; d < hd; ++d) {
            for (int kk = 0; kk < KV; ++kk) {
                Kt[d * KV + kk] = kk < kvTile ? k[(ic + kk) * kvStride + g * hd + d] : 0.0f;
            }
        }
        for (int kk = 0; kk < KV; ++kk) {
            for (int d = 0; d < hd; ++d) {
                Vt[kk * hd + d] = kk < kvTile ? v[(ic + kk) * kvStride + g * hd + d] : 0.0f;
            }
        }
        for (int r = 0; r < nq; ++r) {
            const int64_t t = t0 + r;
            const int64_t j0 = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
            const float* qt = q + t * qStride + int64_t(h) * hd;
            float s[KV];
            for (int kk = 0; kk < KV; ++kk) s[kk] = 0.0f;
            for (int d = 0; d < hd; ++d) {
                const float qd = qt[d];
                for (int kk = 0; kk < KV; ++kk) s[kk] = std::fma(Kt[d * KV + kk], qd, s[kk]);
            }
            float tmax = -INFINITY;
            for (int kk = 0; kk < KV; ++kk) {
                float x = s[kk] * scale;
                if (softcap != 0.0f) x = std::tanh(x) * softcap;
                const int64_t j = ic + kk;
                if (j < j0 || j > t) x = -INFINITY;
                s[kk] = x;
                tmax = std::max(tmax, x);
            }
            live[r] = tmax != -INFINITY;
            if (!live[r]) continue;
            const float Mnew = std::fmax(M[r], tmax);
            if (Mnew > M[r]) {
                const float ms = std::exp(M[r] - Mnew);
                float* a = acc + int64_t(r) * hd;
                for (int d = 0; d < hd; ++d) a[d] *= ms;
                S[r] *= ms;
            }
            M[r] = Mnew;
            double sum = 0;
            float* pr = P + r * KV;
            for (int b0 = 0; b0 < KV; b0 += W) {
                for (int l = 0; l < W; ++l) {
                    pr[b0 + l] = W == 16 ? ggmlExpfAvx512Lane(s[b0 + l] - Mnew)
                                         : ggmlExpfAvx2Lane(s[b0 + l] - Mnew);
                }
                sum += double(reduceLanesGgml<W>(pr + b0));
            }
            S[r] = float(double(S[r]) + sum);
        }
        for (int r = 0; r < nq; ++r) {
            if (!live[r]) continue;
            const float* pr = P + r * KV;
            float* a = acc + int64_t(r) * hd;
            for (int kk = 0; kk < KV; ++kk) {
                const float pk = pr[kk];
                const float* vk = Vt + kk * hd;
                for (int d = 0; d < hd; ++d) a[d] = std::fma(vk[d], pk, a[d]);
            }
        }
    }
    for (int r = 0; r < nq; ++r) {
        const float inv = S[r] == 0.0f ? 0.0f : 1.0f / S[r];
        float* o = out + (t0 + r) * qStride + int64_t(h) * hd;
        for (int d = 0; d < hd; ++d) o[d] = acc[int64_t(r) * hd + d] * inv;
    }
}

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
QS_EVAL_TARGET_AVX2 void flashTileAvx2W16(const float* q, const float* k, const float* v,
                                          int64_t qs, int64_t kvs, int h, int group, int64_t t0,
                                          int64_t t1, int hd, float scale, float softcap,
                                          int window, float* out, float* scratch) {
    flashTileBody<16>(q, k, v, qs, kvs, h, group, t0, t1, hd, scale, softcap, window, out, scratch);
}
QS_EVAL_TARGET_AVX2 void flashTileAvx2W8(const float* q, const float* k, const float* v, int64_t qs,
                                         int64_t kvs, int h, int group, int64_t t0, int64_t t1,
                                         int hd, float scale, float softcap, int window, float* out,
                                         float* scratch) {
    flashTileBody<8>(q, k, v, qs, kvs, h, group, t0, t1, hd, scale, softcap, window, out, scratch);
}
#endif
void flashTilePlain(const float* q, const float* k, const float* v, int64_t qs, int64_t kvs, int h,
                    int group, int64_t t0, int64_t t1, int hd, float scale, float softcap,
                    int window, float* out, float* scratch) {
    flashTileBody<8>(q, k, v, qs, kvs, h, group, t0, t1, hd, scale, softcap, window, out, scratch);
}

}  // namespace qs::eval::detail
