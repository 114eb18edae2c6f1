// Decoders of the K-quants: super-blocks of 256 values split into sub-blocks of 16 or 32, each
// with its own small integer scale (and min) multiplied by an fp16 super-scale.
//
// Bit-exactness with ggml's dequantize_row_*: the sub-block scale is first formed in float
// (super-scale * integer scale), then multiplied by the quant, then the min is subtracted:
// exactly ggml's operation order, with no fused multiply-add.

#include <cstring>

#include "formats/codecs/kquants/kquants.h"
#include "formats/half.h"

namespace qs::formats {

using namespace blocks;

// ==========================================================================================
// Q2_K: x = (d * sc) * q - (dmin * m). Each 32-byte group of qs serves 128 values: bit pair
// `shift` of byte l is value l (first 16 bytes) or 16 + l (last 16), for shift 0, 2, 4, 6.
// ==========================================================================================
void decodeQ2_K(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ2_K>(src + i * int64_t(sizeof(BlockQ2_K)));
        const float d = halfToFloat(b.d);
        const float dmin = halfToFloat(b.dmin);
        float* y = dst + i * kQK_K;
        int is = 0;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q = b.qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; ++part) {
                    const uint8_t sc = b.scales[is++];
                    const float dl = d * float(sc & 0x0f);
                    const float ml = dmin * float(sc >> 4);
                    const uint8_t* qq = q + 16 * part;
                    for (int l = 0; l < 16; ++l) y[l] = dl * float((qq[l] >> shift) & 3) - ml;
                    y += 16;
                }
            }
        }
    }
}

// ==========================================================================================
// Q3_K: x = (d * (sc - 32)) * (q - (hbit ? 0 : 4)). Low bits as in Q2_K; the high bit of value
// k of each 32-wide column is bit (k / 32) of hmask[k % 32]. Sixteen 6-bit scales: low nibbles
// from bytes 0-7 (scales 0-7 the low nibble, 8-15 the high nibble), top 2 bits from bytes 8-11.
// ==========================================================================================
void decodeQ3_K(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ3_K>(src + i * int64_t(sizeof(BlockQ3_K)));
        const float dAll = halfToFloat(b.d);

        int scales[16];
        for (int s = 0; s < 16; ++s) {
            const int lo = s < 8 ? (b.scales[s] & 0x0f) : (b.scales[s - 8] >> 4);
            const int hi = (b.scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            scales[s] = (lo | (hi << 4)) - 32;
        }

        float* y = dst + i * kQK_K;
        int is = 0;
        int bit = 0;  // which hmask bit holds the high bits of the current 32-wide column
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q = b.qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2, ++bit) {
                for (int part = 0; part < 2; ++part) {
                    const float dl = dAll * float(scales[is++]);
                    const uint8_t* qq = q + 16 * part;
                    const uint8_t* hm = b.hmask + 16 * part;
                    for (int l = 0; l < 16; ++l) {
                        const int v = int((qq[l] >> shift) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4);
                        y[l] = dl * float(v);
                    }
                    y += 16;
                }
            }
        }
    }
}

// ==========================================================================================
// Q4_K: x = (d * sc) * q - (dmin * m). Each 32 bytes of qs serve 64 values: low nibbles the
// first 32 (sub-block 2k), high nibbles the next 32 (sub-block 2k + 1).
// ==========================================================================================
void decodeQ4_K(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ4_K>(src + i * int64_t(sizeof(BlockQ4_K)));
        const float d = halfToFloat(b.d);
        const float dmin = halfToFloat(b.dmin);
        float* y = dst + i * kQK_K;
        for (int k = 0; k < 4; ++k) {
            int sc, m;
            scaleMinK4(2 * k, b.scales, sc, m);
            const float d1 = d * float(sc);
            const float m1 = dmin * float(m);
            scaleMinK4(2 * k + 1, b.scales, sc, m);
            const float d2 = d * float(sc);
            const float m2 = dmin * float(m);
            const uint8_t* q = b.qs + 32 * k;
            for (int l = 0; l < 32; ++l) y[l] = d1 * float(q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; ++l) y[l + 32] = d2 * float(q[l] >> 4) - m2;
            y += 64;
        }
    }
}

// ==========================================================================================
// Q5_K: as Q4_K with q += 16 when the high bit is set: value l of sub-block s takes bit s of
// qh[l].
// ==========================================================================================
void decodeQ5_K(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ5_K>(src + i * int64_t(sizeof(BlockQ5_K)));
        const float d = halfToFloat(b.d);
        const float dmin = halfToFloat(b.dmin);
        float* y = dst + i * kQK_K;
        for (int k = 0; k < 4; ++k) {
            int sc, m;
            scaleMinK4(2 * k, b.scales, sc, m);
            const float d1 = d * float(sc);
            const float m1 = dmin * float(m);
            scaleMinK4(2 * k + 1, b.scales, sc, m);
            const float d2 = d * float(sc);
            const float m2 = dmin * float(m);
            const uint8_t* ql = b.qs + 32 * k;
            const int bit1 = 2 * k;
            const int bit2 = 2 * k + 1;
            for (int l = 0; l < 32; ++l) {
                const int q = (ql[l] & 0x0f) | (((b.qh[l] >> bit1) & 1) << 4);
                y[l] = d1 * float(q) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                const int q = (ql[l] >> 4) | (((b.qh[l] >> bit2) & 1) << 4);
                y[l + 32] = d2 * float(q) - m2;
            }
            y += 64;
        }
    }
}

// ==========================================================================================
// Q6_K: x = (d * sc) * (q - 32). Per 128 values: 64 bytes of ql (values 0-31 and 64-95 in the
// low/high nibbles of bytes 0-31, values 32-63 and 96-127 in bytes 32-63) and 32 bytes of qh
// (bit pairs 0, 2, 4, 6 for the four 32-wide columns). ggml evaluates d * sc * q left to
// right, so the product d * sc is rounded first.
// ==========================================================================================
void decodeQ6_K(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ6_K>(src + i * int64_t(sizeof(BlockQ6_K)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b.ql + 64 * half;
            const uint8_t* qh = b.qh + 32 * half;
            const int8_t* sc = b.scales + 8 * half;
            for (int col = 0; col < 4; ++col) {
                const uint8_t* lo = ql + 32 * (col & 1);
                const int nibbleShift = 4 * (col >> 1);
                const int hiShift = 2 * col;
                for (int g = 0; g < 2; ++g) {
                    const float ds = d * float(sc[2 * col + g]);
                    for (int l = 16 * g; l < 16 * g + 16; ++l) {
                        const int q =
                            ((lo[l] >> nibbleShift) & 0x0f) | (((qh[l] >> hiShift) & 3) << 4);
                        y[32 * col + l] = ds * float(q - 32);
                    }
                }
            }
            y += 128;
        }
    }
}

// ==========================================================================================
// Q8_K: x = d * q with a float scale
// ==========================================================================================
void decodeQ8_K(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockQ8_K>(src + i * int64_t(sizeof(BlockQ8_K)));
        float* y = dst + i * kQK_K;
        for (int j = 0; j < kQK_K; ++j) y[j] = b.d * float(b.qs[j]);
    }
}

}  // namespace qs::formats
