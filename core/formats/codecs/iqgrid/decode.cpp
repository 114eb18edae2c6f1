// Decoders of the grid i-quants IQ2_XXS/XS/S, IQ3_XXS/S, IQ1_S/M, whose groups of 4 or 8
// values are indices into fixed codebooks (iq_grids.h) plus sign bits.
//
// Bit-exactness with ggml's dequantize_row_*: scales are formed in float in ggml's order (e.g.
// d * (0.5f + s) * 0.25f), each value is (scale * grid) and then negated when its sign bit is
// set. ggml multiplies by -1.f or 1.f instead; both are exact, so the results are identical.

#include <cstring>

#include "formats/codecs/iqgrid/iqgrid.h"
#include "formats/half.h"
#include "formats/iq_grids.h"

namespace qs::formats {

using namespace blocks;
using iq::gridByte;

namespace {

/// Write 8 values scale * grid byte j, negated where bit j of `signs` is set.
inline void emitSigned8(float* y, float scale, uint64_t grid, uint32_t signs) {
    for (int j = 0; j < 8; ++j) {
        const float v = scale * float(gridByte(grid, j));
        y[j] = ((signs >> j) & 1u) ? -v : v;
    }
}

/// Write 4 values scale * grid byte j, negated where bit (j + signShift) of `signs` is set.
inline void emitSigned4(float* y, float scale, uint32_t grid, uint32_t signs, int signShift) {
    for (int j = 0; j < 4; ++j) {
        const float v = scale * float(gridByte(grid, j));
        y[j] = ((signs >> (j + signShift)) & 1u) ? -v : v;
    }
}

/// Write 8 values scale * (int8 grid byte j + delta) for the ternary IQ1 grid.
inline void emitIq1(float* y, float scale, uint64_t grid, float delta) {
    for (int j = 0; j < 8; ++j) {
        const float g = float(int8_t(gridByte(grid, j)));
        y[j] = scale * (g + delta);
    }
}

inline uint32_t loadU32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

}  // namespace

// ==========================================================================================
// IQ2_XXS: per 32 values 8 bytes: 4 grid indices (one per 8 values), then a uint32 with four
// 7-bit sign indices and a 4-bit scale s in the top bits; scale = d * (0.5 + s) * 0.25.
// ==========================================================================================
void decodeIQ2_XXS(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ2_XXS>(src + i * int64_t(sizeof(BlockIQ2_XXS)));
        const float d = halfToFloat(b.d);
        // ggml declares qs as uint16_t but reads it as bytes; so do we (little-endian).
        const auto* qs = reinterpret_cast<const uint8_t*>(b.qs);
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t* q8 = qs + 8 * ib;
            const uint32_t aux = loadU32(q8 + 4);
            const float db = d * (0.5f + float(aux >> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l) {
                const uint32_t signs = iq::signsOf((aux >> (7 * l)) & 127u);
                emitSigned8(y, db, iq::kIq2xxsGrid[q8[l]], signs);
                y += 8;
            }
        }
    }
}

// ==========================================================================================
// IQ2_XS: per 8 values a uint16: 9-bit grid index | 7-bit sign index << 9. Two 4-bit scales
// per 32 values (low nibble for the first 16, high for the last 16).
// ==========================================================================================
void decodeIQ2_XS(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ2_XS>(src + i * int64_t(sizeof(BlockIQ2_XS)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const float db[2] = {d * (0.5f + float(b.scales[ib] & 0x0f)) * 0.25f,
                                 d * (0.5f + float(b.scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l) {
                const uint16_t q = b.qs[4 * ib + l];
                emitSigned8(y, db[l / 2], iq::kIq2xsGrid[q & 511], iq::signsOf(q >> 9));
                y += 8;
            }
        }
    }
}

// ==========================================================================================
// IQ2_S: 10-bit grid index = qs byte | 2 bits of qh[ib] << 8; explicit sign bytes (one per 8
// values) in the second half of qs; two 4-bit scales per 32 values as in IQ2_XS.
// ==========================================================================================
void decodeIQ2_S(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ2_S>(src + i * int64_t(sizeof(BlockIQ2_S)));
        const float d = halfToFloat(b.d);
        const uint8_t* signs = b.qs + kQK_K / 8;
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const float db[2] = {d * (0.5f + float(b.scales[ib] & 0x0f)) * 0.25f,
                                 d * (0.5f + float(b.scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l) {
                const uint32_t high = (uint32_t(b.qh[ib]) >> (2 * l)) & 3u;
                const uint32_t idx = b.qs[4 * ib + l] | (high << 8);
                emitSigned8(y, db[l / 2], iq::kIq2sGrid[idx], signs[4 * ib + l]);
                y += 8;
            }
        }
    }
}

// ==========================================================================================
// IQ3_XXS: 64 grid index bytes (one per 4 values), then per 32 values a uint32 with four 7-bit
// sign indices (one per 8 values) and a 4-bit scale; scale = d * (0.5 + s) * 0.5.
// ==========================================================================================
void decodeIQ3_XXS(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ3_XXS>(src + i * int64_t(sizeof(BlockIQ3_XXS)));
        const float d = halfToFloat(b.d);
        const uint8_t* scalesAndSigns = b.qs + kQK_K / 4;
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t* qs = b.qs + 8 * ib;
            const uint32_t aux = loadU32(scalesAndSigns + 4 * ib);
            const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; ++l) {
                const uint32_t signs = iq::signsOf((aux >> (7 * l)) & 127u);
                emitSigned4(y, db, iq::kIq3xxsGrid[qs[2 * l]], signs, 0);
                emitSigned4(y + 4, db, iq::kIq3xxsGrid[qs[2 * l + 1]], signs, 4);
                y += 8;
            }
        }
    }
}

// ==========================================================================================
// IQ3_S: 9-bit grid index = qs byte | bit of qh << 8 (qh[ib] bit k for the k-th group of 4 in
// sub-block ib); explicit sign bytes; 4-bit scales per 32 values, scale = d * (1 + 2 s).
// ==========================================================================================
void decodeIQ3_S(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ3_S>(src + i * int64_t(sizeof(BlockIQ3_S)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const int s = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f;
            const float db = d * float(1 + 2 * s);
            const uint8_t* qs = b.qs + 8 * ib;
            const uint32_t qh = b.qh[ib];
            const uint8_t* signs = b.signs + 4 * ib;
            for (int l = 0; l < 4; ++l) {
                const uint32_t idx1 = qs[2 * l] | (((qh >> (2 * l)) & 1u) << 8);
                const uint32_t idx2 = qs[2 * l + 1] | (((qh >> (2 * l + 1)) & 1u) << 8);
                emitSigned4(y, db, iq::kIq3sGrid[idx1], signs[l], 0);
                emitSigned4(y + 4, db, iq::kIq3sGrid[idx2], signs[l], 4);
                y += 8;
            }
        }
    }
}

// ==========================================================================================
// IQ1_S: 11-bit index into the ternary grid (qs byte | 3 bits of qh[ib] << 8) per 8 values;
// qh[ib] bits 12-14 hold the scale s (dl = d * (2 s + 1)) and bit 15 the sign of the delta:
// x = dl * (grid + delta).
// ==========================================================================================
void decodeIQ1_S(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ1_S>(src + i * int64_t(sizeof(BlockIQ1_S)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const uint32_t qh = b.qh[ib];
            const float dl = d * float(2 * int((qh >> 12) & 7u) + 1);
            const float delta = (qh & 0x8000u) ? -iq::kIq1Delta : iq::kIq1Delta;
            for (int l = 0; l < 4; ++l) {
                const uint32_t idx = b.qs[4 * ib + l] | (((qh >> (3 * l)) & 7u) << 8);
                emitIq1(y, dl, iq::kIq1sGrid[idx], delta);
                y += 8;
            }
        }
    }
}

// ==========================================================================================
// IQ1_M: per 8 values a grid index (qs byte | 3 bits of a qh nibble << 8) and a delta sign (bit
// 3 of that nibble). The four uint16 scale words hold 3-bit scales per 16 values in their low
// 12 bits and, in their top nibbles, the four nibbles of the fp16 super-scale.
// ==========================================================================================
void decodeIQ1_M(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ1_M>(src + i * int64_t(sizeof(BlockIQ1_M)));
        uint16_t sc[4];
        std::memcpy(sc, b.scales, sizeof(sc));
        const uint16_t dBits = uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                        ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        const float d = halfToFloat(dBits);
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const int shift = 6 * (ib % 2);
            const float dl1 = d * float(2 * ((sc[ib / 2] >> shift) & 7) + 1);
            const float dl2 = d * float(2 * ((sc[ib / 2] >> (shift + 3)) & 7) + 1);
            const uint8_t* qs = b.qs + 4 * ib;
            const uint8_t* qh = b.qh + 2 * ib;
            for (int l = 0; l < 4; ++l) {
                // Group l uses the low (even l) or high (odd l) nibble of qh[l / 2].
                const uint32_t nib = (uint32_t(qh[l / 2]) >> (4 * (l % 2))) & 0x0fu;
                const uint32_t idx = qs[l] | ((nib & 7u) << 8);
                const float delta = (nib & 8u) ? -iq::kIq1Delta : iq::kIq1Delta;
                emitIq1(y, l < 2 ? dl1 : dl2, iq::kIq1sGrid[idx], delta);
                y += 8;
            }
        }
    }
}

}  // namespace qs::formats
