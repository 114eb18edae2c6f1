#pragma once
// The AVX-512 (F, BW, VL, VNNI) kernels of the Q4_K, Q5_K and Q6_K x Q8_K products
// (eval/kquant_dot.h): sixteen weight rows side by side, one row per 32-bit lane, so that one
// vpdpbusd (Q4_K repacked) or vpmaddubsw + vpdpwssd (the vec_dot order) adds 4-value products
// of 16 rows at once and no horizontal sum is ever needed. Every integer sum is the exact one
// of the portable kernel and each lane runs one (row, token) float chain in the portable
// kernel's order, so the results are bit-identical (docs/EVAL_NUMERICS.md).

#include <cstdint>
#include <vector>

#include "formats/type_table.h"

namespace qs::eval::detail {

/// Whether this CPU runs the kernels below (AVX-512 F, BW, VL and VNNI; checked once).
bool kquantAvx512Supported();

/// Unpacked rows (kquant_dot.cpp's integer form: quants in element order, scales and minima
/// per 16 values, d and dmin per super-block) repacked in groups of 16 rows; a last group of
/// fewer rows is padded with zero rows.
struct KPacked16 {
    int64_t C = 0, nb = 0, rows = 0, groups = 0;
    std::vector<uint8_t> q;        // [group][block][32-value chunk s][4-value lane l][row][4]
    std::vector<int32_t> sc32;     // [group][block][sub-block j][row]: its scale
    std::vector<int32_t> scPair;   // [group][block][16-value group k][row]: (scale, scale) int16
    std::vector<int32_t> offPair;  // [group][block][lane l][row]: −32 · (scale 2l, 2l+1) int16
    std::vector<int32_t> minPair;  // [group][block][pair p][row]: (min 2p, min 2p+1) int16
    std::vector<float> d, dmin;    // [group][block][row]
};

/// Packs `rows` unpacked rows of C values (C a multiple of 256).
void packRows16(const int8_t* q, const int16_t* s, const int16_t* m, const float* d,
                const float* dmin, int64_t rows, int64_t C, KPacked16& out);

/// Q8_K activations, token-major: C quants, C/256 scales and C/16 bsums per token.
struct KTokensQ8K {
    const int8_t* q;
    const float* d;
    const int16_t* bsums;
    const int32_t* bsumPairs;  // C/64 per token: (bsum32 of sub-block 2p, of 2p + 1) as int16
};

/// The bsumPairs of `nTok` tokens' bsums (C/16 each).
void bsumPairs(const int16_t* bsums, int64_t nTok, int64_t C, int32_t* out);

/// y[t * ldy + r] for every token t < nTok and packed row r: `repacked` Q4_K in the GEMM order
/// for the tokens below gemmTokens and the GEMV order after; otherwise `type`'s vec_dot order.
void kquantPackedAvx512(formats::TensorType type, const KPacked16& w, const KTokensQ8K& a,
                        int64_t nTok, bool repacked, int64_t gemmTokens, float* y, int64_t ldy);

}  // namespace qs::eval::detail
