#include <algorithm>
#include <cmath>

#include "eval/cpu_features.h"
#include "eval/forward_blocks.h"
#include "eval/ggml_math.h"
#include "eval/matmul.h"
#include "formats/half.h"
#include "parallel/parallel.h"

namespace qs::eval::detail {

namespace {

inline float roundF16(float x) {
    return formats::halfToFloat(formats::floatToHalf(x));
}

// ggml_gelu_f32 (tanh approximation) as ggml's CPU backend applies it: through its F16 table
// (the input rounded to F16, the result stored as F16), 0 below -10 and identity above 10.
inline float geluGgml(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float f = roundF16(x);
    constexpr float kA = 0.044715f, kS = 0.79788456080286535587989211986876f;
    return roundF16(0.5f * f * (1.0f + std::tanh(kS * f * (1.0f + kA * f * f))));
}

// SwiGLU of rows of n values as ggml_vec_swiglu_f32: W-lane groups through ggml_v_silu (the
// polynomial expf of the build llama.cpp picks: W = 16 with AVX-512, else 8), the tail of a row
// through libm's expf.
template <int W>
[[gnu::always_inline]] inline void swigluBody(float* gate, const float* up, size_t nRows,
                                              size_t n) {
    for (size_t r = 0; r < nRows; ++r) {
        float* x = gate + r * n;
        const float* g = up + r * n;
        const size_t nv = n - n % W;
        size_t i = 0;
        for (; i < nv; ++i) x[i] = ggmlSiluLane<W>(x[i]) * g[i];
        for (; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i])) * g[i];
    }
}
#if defined(__x86_64__) || defined(__i386__)
QS_EVAL_TARGET_AVX2 void swigluAvx2W16(float* gate, const float* up, size_t nRows, size_t n) {
    swigluBody<16>(gate, up, nRows, n);
}
QS_EVAL_TARGET_AVX2 void swigluAvx2W8(float* gate, const float* up, size_t nRows, size_t n) {
    swigluBody<8>(gate, up, nRows, n);
}
#endif
void swigluPlain(float* gate, const float* up, size_t nRows, size_t n) {
    swigluBody<8>(gate, up, nRows, n);
}

// gate[i] = act(gate[i]) * up[i] (SwiGLU or GEGLU) over rows of rowLen values.
void glu(std::vector<float>& gate, const std::vector<float>& up, size_t n, bool gelu,
         size_t rowLen) {
    if (gelu) {
        for (size_t i = 0; i < n; ++i) gate[i] = geluGgml(gate[i]) * up[i];
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    const auto fn = !cpuHasAvx2Fma() ? swigluPlain : cpuHasAvx512() ? swigluAvx2W16 : swigluAvx2W8;
#else
    const auto fn = swigluPlain;
#endif
    fn(gate.data(), up.data(), n / rowLen, rowLen);
}

}  // namespace

void rmsNorm(const float* x, float* out, const std::vector<float>& w, int64_t nRows, int64_t n,
             float eps, int threads) {
    parallel::parallelFor(threads, nRows, 8, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
            const float* xi = x + t * n;
            float* yi = out + t * n;
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) sum += double(xi[i] * xi[i]);  // float square, as ggml
            const float mean = float(sum / double(n));
            const float scale = 1.0f / std::sqrt(mean + eps);
            for (int64_t i = 0; i < n; ++i) yi[i] = (xi[i] * scale) * w[size_t(i)];
        }
    });
}

double ggmlSoftMax(int n, float* y, const float* x, float max) {
    const int lanes = !cpuHasAvx2Fma() ? 0 : cpuHasAvx512() ? 16 : 8;
    double sum = 0;
    int i = 0;
    for (; lanes > 0 && i + lanes <= n; i += lanes) {
        for (int l = 0; l < lanes; ++l) {
            y[i + l] =
                lanes == 16 ? ggmlExpfAvx512Lane(x[i + l] - max) : ggmlExpfAvx2Lane(x[i + l] - max);
        }
        // _mm512_reduce_add_ps / the AVX2 build's halving, in float, then added in double.
        sum += double(lanes == 16 ? reduceLanesGgml<16>(y + i) : reduceLanesGgml<8>(y + i));
    }
    for (; i < n; ++i) {
        y[i] = std::exp(x[i] - max);
        sum += double(y[i]);
    }
    return sum;
}

void denseFfn(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok, float* out,
              int threads, bool emulateGgml, ActivationObserver* observer) {
    const size_t n = size_t(nTok) * size_t(L.wGate.rows);
    std::vector<float> gate(n), up(n);
    if (observer) {
        observer->onProduct(L.wGate, -1, 0, h, nTok);
        if (L.wUp.name != L.wGate.name) observer->onProduct(L.wUp, -1, 0, h, nTok);  // phi3: fused
    }
    matmul(L.wGate, h, nTok, gate.data(), threads, emulateGgml);
    matmul(L.wUp, h, nTok, up.data(), threads, emulateGgml);
    glu(gate, up, n, c.gelu, size_t(L.wGate.rows));
    if (observer) observer->onProduct(L.wDown, -1, 0, gate.data(), nTok);
    matmul(L.wDown, gate.data(), nTok, out, threads, emulateGgml);
}

void routeExperts(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok,
                  int threads, bool emulateGgml, std::vector<int32_t>& selected,
                  std::vector<float>& weights) {
    const int nE = c.nExpert, k = c.nExpertUsed;
    std::vector<float> logits(size_t(nTok) * size_t(nE));
    matmul(L.router, h, nTok, logits.data(), threads, emulateGgml);
    selected.assign(size_t(nTok) * size_t(k), 0);
    weights.assign(size_t(nTok) * size_t(k), 0.0f);
    std::vector<float> p(static_cast<size_t>(nE));
    std::vector<int32_t> idx(static_cast<size_t>(nE));
    for (int64_t t = 0; t < nTok; ++t) {
        // ggml_soft_max: exp(x - max) as ggml_vec_soft_max_f32, scaled by float(1 / sum).
        const float* l = logits.data() + t * nE;
        float mx = -INFINITY;
        for (int i = 0; i < nE; ++i) mx = std::max(mx, l[i]);
        const double sum = ggmlSoftMax(nE, p.data(), l, mx);
        const float inv = float(1.0 / sum);
        for (int i = 0; i < nE; ++i) p[size_t(i)] *= inv;
        // ggml_argsort (descending) with std::sort and the same comparison, first k.
        for (int i = 0; i < nE; ++i) idx[size_t(i)] = i;
        std::sort(idx.begin(), idx.end(),
                  [&p](int32_t a, int32_t b) { return p[size_t(a)] > p[size_t(b)]; });
        double wsum = 0;
        for (int j = 0; j < k; ++j) {
            selected[size_t(t * k + j)] = idx[size_t(j)];
            weights[size_t(t * k + j)] = p[size_t(idx[size_t(j)])];
            wsum += double(weights[size_t(t * k + j)]);
        }
        // ggml_sum_rows, ggml_clamp at F16's smallest normal, ggml_div.
        const float s = std::max(float(wsum), 6.103515625e-5f);
        for (int j = 0; j < k; ++j) weights[size_t(t * k + j)] /= s;
    }
}

void moeFfn(const LayerWeights& L, const LlamaConfig& c, const float* h, int64_t nTok, float* out,
            int threads, bool emulateGgml, ActivationObserver* observer) {
    const int k = c.nExpertUsed;
    const int64_t E = c.nEmbd, Fe = c.nFfExp;
    std::vector<int32_t> selected;
    std::vector<float> weights;
    if (observer) observer->onProduct(L.router, -1, 0, h, nTok);
    routeExperts(L, c, h, nTok, threads, emulateGgml, selected, weights);
    // Each expert's output per (token, slot), already multiplied by the slot's weight.
    std::vector<float> slots(size_t(nTok) * size_t(k) * size_t(E));
    std::vector<int64_t> who;  // (token * k + slot) of the tokens routed to expert e
    std::vector<float> xe, gate, up, down;
    for (int e = 0; e < c.nExpert; ++e) {
        who.clear();
        for (int64_t i = 0; i < nTok * k; ++i) {
            if (selected[size_t(i)] == e) who.push_back(i);
        }
        if (who.empty()) continue;  // this expert's rows are never decoded
        const int64_t n = int64_t(who.size());
        xe.resize(size_t(n * E));
        for (int64_t j = 0; j < n; ++j) {
            const int64_t t = who[size_t(j)] / k;
            std::copy(h + t * E, h + (t + 1) * E, xe.begin() + j * E);
        }
        gate.resize(size_t(n * Fe));
        up.resize(size_t(n * Fe));
        down.resize(size_t(n * E));
        if (observer) {
            observer->onRouting(e, who.data(), n, k);
            observer->onProduct(L.gateExps[size_t(e)], e, c.nExpert, xe.data(), n);
            observer->onProduct(L.upExps[size_t(e)], e, c.nExpert, xe.data(), n);
        }
        matmul(L.gateExps[size_t(e)], xe.data(), n, gate.data(), threads, emulateGgml, true);
        matmul(L.upExps[size_t(e)], xe.data(), n, up.data(), threads, emulateGgml, true);
        glu(gate, up, size_t(n * Fe), false, size_t(Fe));
        if (observer) observer->onProduct(L.downExps[size_t(e)], e, c.nExpert, gate.data(), n);
        matmul(L.downExps[size_t(e)], gate.data(), n, down.data(), threads, emulateGgml, true);
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = who[size_t(j)];
            const float w = weights[size_t(i)];
            float* dst = slots.data() + i * E;
            const float* src = down.data() + j * E;
            for (int64_t d = 0; d < E; ++d) dst[d] = src[d] * w;
        }
    }
    for (int64_t t = 0; t < nTok; ++t) {
        float* o = out + t * E;
        const float* s0 = slots.data() + t * k * E;
        std::copy(s0, s0 + E, o);
        for (int j = 1; j < k; ++j) {
            const float* sj = s0 + j * E;
            for (int64_t d = 0; d < E; ++d) o[d] += sj[d];
        }
    }
}

}  // namespace qs::eval::detail
