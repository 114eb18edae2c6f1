// AVX-512 and AVX2 kernels of the IQ4 encoders (iq4_kernels.h).
//
// The scale search evaluates ggml's 16 trial scales of a block (its first guess, then
// itry = -7..7) as 16 float lanes, one lane per trial, with exactly the scalar code's float
// operations in its order: v = id * x, the nearest table value q (best_index_int8), then
// sumqx += (w * q) * x and sumq2 += (w * q) * q over j = 0..31. No fused multiply-add: this
// file is compiled with -ffp-contract=off and states every operation as an intrinsic. The
// winner is then picked with ggml's own sequential comparison, in scalar code.
//
// The nearest table value: c = number of table values <= v (a 4-step branchless binary search
// over the 16 sorted values, by lane permutes), mu = max(c, 1) brackets v between
// value[mu - 1] and value[mu], and ggml's comparison v - value[mu-1] < value[mu] - v picks the
// lower one. This is ggml's result for every finite v (its binary search ends on the same
// bracketing pair; below value[0] and above value[15] the comparison gives 0 and 15).

#include <cmath>
#include <cstdint>

#include "formats/codecs/iq4/iq4_kernels.h"
#include "formats/iq_grids.h"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns that the deliberately undefined operand of its own AVX-512 intrinsics
// (_mm512_undefined_*) is used uninitialized once they are inlined into a target("avx512f")
// function (GCC bug 105593, fixed in GCC 13): a false positive, silenced for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define QS_IQ4_X86 1
#define QS_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define QS_T256 __attribute__((target("avx2,fma")))
#endif

namespace qs::formats::detail::iq4 {

#if defined(QS_IQ4_X86)

namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr int kNtry = 7;
constexpr const int8_t* kValues = qs::formats::iq::kIq4nlValues;

/// amax/max of a block in ggml's order (the first value of largest magnitude); false for an
/// all-zero block. Then the 16 trial inverse scales: lane 0 ggml's first guess 1 / d with
/// d = -max / value[0], lanes 1-15 (itry + value[0]) / max for itry = -7..7.
inline bool trialScales(const float* xb, float* id, float& max) {
    float amax = 0;
    max = 0;
    for (int j = 0; j < 32; ++j) {
        const float ax = std::fabs(xb[j]);
        if (ax > amax) {
            amax = ax;
            max = xb[j];
        }
    }
    if (amax < kGroupMaxEps) return false;
    const float d = -max / float(kValues[0]);
    id[0] = 1 / d;
    for (int k = 1; k < 16; ++k) id[k] = float(k - 1 - kNtry + kValues[0]) / max;
    return true;
}

/// ggml's choice among the 16 trials (lane 0 first, then the others in order).
inline float pickScale(const float* sumqx, const float* sumq2) {
    float d = sumq2[0] > 0 ? sumqx[0] / sumq2[0] : 0.f;
    float best = d * sumqx[0];
    for (int k = 1; k < 16; ++k) {
        if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
            d = sumqx[k] / sumq2[k];
            best = d * sumqx[k];
        }
    }
    return d;
}

// ------------------------------------------------------------------------------------------
// AVX-512: one 16-lane vector holds the 16 trials.
// ------------------------------------------------------------------------------------------

struct Near512 {
    __m512i index;  ///< table index of the nearest value
    __m512 value;   ///< the value itself
};

/// One step of the binary search: c += step where value[c + step - 1] <= v.
QS_T512 inline __m512i searchStep512(__m512i c, __m512 v, __m512 table, int step) {
    const __m512i probe = _mm512_add_epi32(c, _mm512_set1_epi32(step - 1));
    const __mmask16 le = _mm512_cmp_ps_mask(_mm512_permutexvar_ps(probe, table), v, _CMP_LE_OQ);
    return _mm512_mask_add_epi32(c, le, c, _mm512_set1_epi32(step));
}

QS_T512 inline Near512 nearest512(__m512 v, __m512 table) {
    const __m512i one = _mm512_set1_epi32(1);
    __m512i c = _mm512_setzero_si512();
    c = searchStep512(c, v, table, 8);
    c = searchStep512(c, v, table, 4);
    c = searchStep512(c, v, table, 2);
    c = searchStep512(c, v, table, 1);
    const __m512i mu = _mm512_max_epi32(c, one);
    const __m512i ml = _mm512_sub_epi32(mu, one);
    const __m512 lo = _mm512_permutexvar_ps(ml, table);
    const __m512 hi = _mm512_permutexvar_ps(mu, table);
    const __mmask16 lower =
        _mm512_cmp_ps_mask(_mm512_sub_ps(v, lo), _mm512_sub_ps(hi, v), _CMP_LT_OQ);
    return {_mm512_mask_blend_epi32(lower, mu, ml), _mm512_mask_blend_ps(lower, hi, lo)};
}

QS_T512 inline __m512 table512() {
    alignas(64) float t[16];
    for (int k = 0; k < 16; ++k) t[k] = float(kValues[k]);
    return _mm512_load_ps(t);
}

QS_T512 float searchScale512(const float* xb, const float* weight) {
    alignas(64) float id[16];
    float max = 0;
    if (!trialScales(xb, id, max)) return 0.f;
    const __m512 table = table512();
    const __m512 ids = _mm512_load_ps(id);
    __m512 sumqx = _mm512_setzero_ps(), sumq2 = _mm512_setzero_ps();
    for (int j = 0; j < 32; ++j) {
        const __m512 x = _mm512_set1_ps(xb[j]);
        const __m512 w = _mm512_set1_ps(weight[j]);
        const __m512 q = nearest512(_mm512_mul_ps(ids, x), table).value;
        const __m512 wq = _mm512_mul_ps(w, q);
        sumqx = _mm512_add_ps(sumqx, _mm512_mul_ps(wq, x));
        sumq2 = _mm512_add_ps(sumq2, _mm512_mul_ps(wq, q));
    }
    alignas(64) float sx[16], s2[16];
    _mm512_store_ps(sx, sumqx);
    _mm512_store_ps(s2, sumq2);
    return pickScale(sx, s2);
}

QS_T512 void packIndices512(const float* xb, float id, uint8_t* q4) {
    const __m512 table = table512();
    const __m512 ids = _mm512_set1_ps(id);
    const __m512i lo = nearest512(_mm512_mul_ps(ids, _mm512_loadu_ps(xb)), table).index;
    const __m512i hi = nearest512(_mm512_mul_ps(ids, _mm512_loadu_ps(xb + 16)), table).index;
    const __m512i packed = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q4), _mm512_cvtepi32_epi8(packed));
}

// ------------------------------------------------------------------------------------------
// AVX2: two 8-lane vectors hold the 16 trials; a 16-entry lookup is two permutes and a blend.
// ------------------------------------------------------------------------------------------

struct Table256 {
    __m256 lo, hi;  ///< values 0-7 and 8-15
};

QS_T256 inline __m256 lookup256(const Table256& t, __m256i idx) {
    const __m256 a = _mm256_permutevar8x32_ps(t.lo, idx);
    const __m256 b = _mm256_permutevar8x32_ps(t.hi, idx);
    // Bit 3 of the index, moved to the sign bit, selects the upper half.
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/// One step of the binary search: c += step where value[c + step - 1] <= v.
QS_T256 inline __m256i searchStep256(__m256i c, __m256 v, const Table256& t, int step) {
    const __m256i probe = _mm256_add_epi32(c, _mm256_set1_epi32(step - 1));
    const __m256 le = _mm256_cmp_ps(lookup256(t, probe), v, _CMP_LE_OQ);
    return _mm256_add_epi32(c, _mm256_and_si256(_mm256_castps_si256(le), _mm256_set1_epi32(step)));
}

struct Near256 {
    __m256i index;
    __m256 value;
};

QS_T256 inline Near256 nearest256(__m256 v, const Table256& t) {
    const __m256i one = _mm256_set1_epi32(1);
    __m256i c = _mm256_setzero_si256();
    c = searchStep256(c, v, t, 8);
    c = searchStep256(c, v, t, 4);
    c = searchStep256(c, v, t, 2);
    c = searchStep256(c, v, t, 1);
    const __m256i mu = _mm256_max_epi32(c, one);
    const __m256i ml = _mm256_sub_epi32(mu, one);
    const __m256 lo = lookup256(t, ml);
    const __m256 hi = lookup256(t, mu);
    const __m256 lower = _mm256_cmp_ps(_mm256_sub_ps(v, lo), _mm256_sub_ps(hi, v), _CMP_LT_OQ);
    const __m256i index = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(mu), _mm256_castsi256_ps(ml), lower));
    return {index, _mm256_blendv_ps(hi, lo, lower)};
}

QS_T256 inline Table256 table256() {
    alignas(32) float t[16];
    for (int k = 0; k < 16; ++k) t[k] = float(kValues[k]);
    return {_mm256_load_ps(t), _mm256_load_ps(t + 8)};
}

QS_T256 float searchScale256(const float* xb, const float* weight) {
    alignas(32) float id[16];
    float max = 0;
    if (!trialScales(xb, id, max)) return 0.f;
    const Table256 table = table256();
    const __m256 ids0 = _mm256_load_ps(id), ids1 = _mm256_load_ps(id + 8);
    __m256 sumqx0 = _mm256_setzero_ps(), sumq20 = _mm256_setzero_ps();
    __m256 sumqx1 = _mm256_setzero_ps(), sumq21 = _mm256_setzero_ps();
    for (int j = 0; j < 32; ++j) {
        const __m256 x = _mm256_set1_ps(xb[j]);
        const __m256 w = _mm256_set1_ps(weight[j]);
        const __m256 q0 = nearest256(_mm256_mul_ps(ids0, x), table).value;
        const __m256 q1 = nearest256(_mm256_mul_ps(ids1, x), table).value;
        const __m256 wq0 = _mm256_mul_ps(w, q0), wq1 = _mm256_mul_ps(w, q1);
        sumqx0 = _mm256_add_ps(sumqx0, _mm256_mul_ps(wq0, x));
        sumq20 = _mm256_add_ps(sumq20, _mm256_mul_ps(wq0, q0));
        sumqx1 = _mm256_add_ps(sumqx1, _mm256_mul_ps(wq1, x));
        sumq21 = _mm256_add_ps(sumq21, _mm256_mul_ps(wq1, q1));
    }
    alignas(32) float sx[16], s2[16];
    _mm256_store_ps(sx, sumqx0);
    _mm256_store_ps(sx + 8, sumqx1);
    _mm256_store_ps(s2, sumq20);
    _mm256_store_ps(s2 + 8, sumq21);
    return pickScale(sx, s2);
}

QS_T256 void packIndices256(const float* xb, float id, uint8_t* q4) {
    const Table256 table = table256();
    const __m256 ids = _mm256_set1_ps(id);
    alignas(32) int32_t idx[32];
    for (int h = 0; h < 4; ++h) {
        const __m256 v = _mm256_mul_ps(ids, _mm256_loadu_ps(xb + 8 * h));
        _mm256_store_si256(reinterpret_cast<__m256i*>(idx + 8 * h), nearest256(v, table).index);
    }
    for (int j = 0; j < 16; ++j) q4[j] = uint8_t(idx[j] | (idx[16 + j] << 4));
}

constexpr Kernels kAvx512{searchScale512, packIndices512};
constexpr Kernels kAvx2{searchScale256, packIndices256};

}  // namespace

const Kernels* kernelsAvx512() {
    return &kAvx512;
}
const Kernels* kernelsAvx2() {
    return &kAvx2;
}

#else

const Kernels* kernelsAvx512() {
    return nullptr;
}
const Kernels* kernelsAvx2() {
    return nullptr;
}

#endif

}  // namespace qs::formats::detail::iq4
