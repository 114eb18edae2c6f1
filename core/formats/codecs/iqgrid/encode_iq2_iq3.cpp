// Encoders of IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S (quantize_iq2_*_impl and
// quantize_iq3_*_impl in ggml-quants.c, byte for byte): sign folding, then the trial-scale
// search of grid_search.h over the E8 / D4 lattice codebooks.

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "formats/codecs/iqgrid/grid_search.h"
#include "formats/half.h"

namespace qs::formats::detail {

using namespace blocks;
using namespace grid;

namespace {

// ------------------------------------------------------------------------------------------
// IQ2_XXS, IQ2_XS, IQ2_S
// ------------------------------------------------------------------------------------------

constexpr SearchConfig kCfgIq2xxs{3, -6, 6, 0.1f, true, true, true};
constexpr SearchConfig kCfgIq2xs{3, -9, 9, 0.1f, false, true, false};
constexpr SearchConfig kCfgIq2s{3, -9, 9, 0.1f, false, true, false};
constexpr SearchConfig kCfgIq3xxs{8, -15, 15, 0.2f, false, true, false};
constexpr SearchConfig kCfgIq3s{8, -9, 9, 0.2f, false, false, true};

void iq2xxsRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq2xxs();
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ2_XXS));
        std::memset(y, 0, sizeof(BlockIQ2_XXS));
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = sumSquares256(xbl) / kQK_K;
        uint32_t q2[16] = {};
        float scales[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            const float* qw = qwRow + kQK_K * ibl + 32 * ib;
            float weight[32], waux[32], xval[32];
            for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[4];
            for (int k = 0; k < 4; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, true);
            int8_t L[32];
            float scale = 0;
            if (!searchBlock<32, 8>(t, kCfgIq2xxs, xval, weight, waux, kEpsIq2, L, &scale)) {
                scales[ib] = 0;
                continue;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
            }
            for (int k = 0; k < 4; ++k) {
                q2[2 * ib + 0] |= uint32_t(gridIndexOf<8>(t, L + 8 * k)) << (8 * k);
                q2[2 * ib + 1] |= uint32_t(signs[k]) << (7 * k);
            }
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y + offsetof(BlockIQ2_XXS, d), floatToHalf(d));
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ++ib)
            q2[2 * ib + 1] |= uint32_t(scaleLevel(id, scales[ib], 15)) << 28;
        std::memcpy(y + offsetof(BlockIQ2_XXS, qs), q2, sizeof q2);
    }
}

/// IQ2_XS (evenParity, importance required) and IQ2_S (explicit signs, 10-bit indices).
template <bool IsS>
void iq2xsRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = IsS ? tablesIq2s() : tablesIq2xs();
    constexpr size_t kBlock = IsS ? sizeof(BlockIQ2_S) : sizeof(BlockIQ2_XS);
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(kBlock);
        std::memset(y, 0, kBlock);
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = IsS ? 2 * sumSquares256(xbl) / kQK_K : sumSquares256(xbl) / kQK_K;
        float scales[16];
        float maxScale = 0;
        uint16_t q2[32] = {};
        for (int ib = 0; ib < 16; ++ib) {
            const float* xb = xbl + 16 * ib;
            float weight[16], waux[16], xval[16];
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + 16 * ib;
                for (int i = 0; i < 16; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
            }
            for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[2];
            for (int k = 0; k < 2; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, !IsS);
            int8_t L[16];
            float scale = 0;
            if (!searchBlock<16, 8>(t, IsS ? kCfgIq2s : kCfgIq2xs, xval, weight, waux,
                                    IsS ? kEpsIq2s : kEpsIq2, L, &scale)) {
                scales[ib] = 0;
                continue;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 2; ++k)
                    signs[k] = IsS ? uint8_t(~signs[k]) : uint8_t(~signs[k] & 127);
            }
            for (int k = 0; k < 2; ++k) {
                const int g = gridIndexOf<8>(t, L + 8 * k);
                if constexpr (IsS) {
                    const int i8 = 2 * ib + k;
                    y[offsetof(BlockIQ2_S, qs) + i8] = uint8_t(g & 255);
                    y[offsetof(BlockIQ2_S, qh) + i8 / 4] |= uint8_t((g >> 8) << (2 * (i8 % 4)));
                    y[offsetof(BlockIQ2_S, qs) + kQK_K / 8 + i8] = signs[k];
                } else {
                    q2[2 * ib + k] = uint16_t(g | (signs[k] << 9));
                }
            }
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y + offsetof(BlockIQ2_S, d), floatToHalf(IsS ? d * 0.9875f : d));
        const float id = 1 / d;
        uint8_t* sc = y + (IsS ? offsetof(BlockIQ2_S, scales) : offsetof(BlockIQ2_XS, scales));
        for (int ib = 0; ib < 16; ++ib) {
            const int l = scaleLevel(id, scales[ib], 15);
            if (ib % 2 == 0)
                sc[ib / 2] = uint8_t(l);
            else
                sc[ib / 2] |= uint8_t(l << 4);
        }
        if constexpr (!IsS) std::memcpy(y + offsetof(BlockIQ2_XS, qs), q2, sizeof q2);
    }
}

// ------------------------------------------------------------------------------------------
// IQ3_XXS, IQ3_S
// ------------------------------------------------------------------------------------------

void iq3xxsRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq3xxs();
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ3_XXS));
        std::memset(y, 0, sizeof(BlockIQ3_XXS));
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = 2 * sumSquares256(xbl) / kQK_K;
        uint8_t q3[96] = {};
        uint32_t scalesAndSigns[8] = {};
        float scales[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            float weight[32], waux[32], xval[32];
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + 32 * ib;
                for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 32; ++i) weight[i] = xb[i] * xb[i];
            }
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[4];
            for (int k = 0; k < 4; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, true);
            int8_t L[32];
            float scale = 0;
            if (!searchBlock<32, 4>(t, kCfgIq3xxs, xval, weight, waux, kEpsIq3xxs, L, &scale)) {
                scales[ib] = 0;
                continue;
            }
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
            }
            for (int k = 0; k < 8; ++k) q3[8 * ib + k] = uint8_t(gridIndexOf<4>(t, L + 4 * k));
            scalesAndSigns[ib] = uint32_t(signs[0]) | (uint32_t(signs[1]) << 7) |
                                 (uint32_t(signs[2]) << 14) | (uint32_t(signs[3]) << 21);
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y + offsetof(BlockIQ3_XXS, d), floatToHalf(d * 1.0125f));
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ++ib)
            scalesAndSigns[ib] |= uint32_t(scaleLevel(id, scales[ib], 15)) << 28;
        std::memcpy(y + offsetof(BlockIQ3_XXS, qs), q3, kQK_K / 4);
        std::memcpy(y + offsetof(BlockIQ3_XXS, qs) + kQK_K / 4, scalesAndSigns,
                    sizeof scalesAndSigns);
    }
}

void iq3sRow(const float* x, uint8_t* dst, int64_t n, const float* qwRow) {
    const GridTables& t = tablesIq3s();
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        uint8_t* y = dst + ibl * int64_t(sizeof(BlockIQ3_S));
        std::memset(y, 0, sizeof(BlockIQ3_S));
        uint8_t* qs = y + offsetof(BlockIQ3_S, qs);
        uint8_t* qh = y + offsetof(BlockIQ3_S, qh);
        uint8_t* signsOut = y + offsetof(BlockIQ3_S, signs);
        uint8_t* sc = y + offsetof(BlockIQ3_S, scales);
        const float* xbl = x + kQK_K * ibl;
        const float sigma2 = 2 * sumSquares256(xbl) / kQK_K;
        float scales[8];
        float maxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            float weight[32], waux[32], xval[32];
            if (qwRow) {
                const float* qw = qwRow + kQK_K * ibl + 32 * ib;
                for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            } else {
                for (int i = 0; i < 32; ++i) weight[i] = xb[i] * xb[i];
            }
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            uint8_t signs[4];
            for (int k = 0; k < 4; ++k)
                signs[k] = foldSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, false);
            float max = xval[0];
            for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
            int8_t L[32];
            float scale = 0;
            // ggml skips an all-zero block with `if (!max)` and, as it does, without advancing
            // its index and sign cursors: the next block's bytes land in this block's place.
            if (!max) {
                scales[ib] = 0;
                continue;
            }
            searchBlock<32, 4>(t, kCfgIq3s, xval, weight, waux, 0.f, L, &scale);
            if (scale < 0) {
                scale = -scale;
                for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k]);
            }
            for (int k = 0; k < 8; ++k) {
                const int g = gridIndexOf<4>(t, L + 4 * k);
                qs[k] = uint8_t(g & 255);
                qh[(ib * 8 + k) / 8] |= uint8_t((g >> 8) << ((ib * 8 + k) % 8));
            }
            qs += 8;
            for (int k = 0; k < 4; ++k) signsOut[k] = signs[k];
            signsOut += 4;
            scales[ib] = scale;
            maxScale = std::max(maxScale, scale);
        }
        if (!maxScale) continue;
        const float d = maxScale / 31;
        putU16(y + offsetof(BlockIQ3_S, d), floatToHalf(d * 1.033f));
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ib += 2) {
            const int l1 = scaleLevel(id, scales[ib], 15);
            const int l2 = scaleLevel(id, scales[ib + 1], 15);
            sc[ib / 2] = uint8_t(l1 | (l2 << 4));
        }
    }
}

}  // namespace

void encodeIQ2_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) return;  // refused by encodeRows (ggml requires an imatrix)
    iq2xxsRow(src, dst, n, importance);
}
void encodeIQ2_XS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    if (!importance) return;
    iq2xsRow<false>(src, dst, n, importance);
}
void encodeIQ2_S(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq2xsRow<true>(src, dst, n, importance);
}
void encodeIQ3_XXS(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq3xxsRow(src, dst, n, importance);
}
void encodeIQ3_S(const float* src, uint8_t* dst, int64_t n, const float* importance) {
    iq3sRow(src, dst, n, importance);
}

}  // namespace qs::formats::detail
