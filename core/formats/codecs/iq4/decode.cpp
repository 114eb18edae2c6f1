// Decoders of IQ4_NL and IQ4_XS: 4-bit indices into ggml's non-linear table kvalues_iq4nl.
// Bit-exact with ggml's dequantize_row_iq4_nl / dequantize_row_iq4_xs.

#include "formats/codecs/iq4/iq4.h"
#include "formats/half.h"
#include "formats/iq_grids.h"

namespace qs::formats {

using namespace blocks;

// ==========================================================================================
// IQ4_NL: x = d * table[nibble]; nibble layout as Q4_0
// ==========================================================================================
void decodeIQ4_NL(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK32;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ4_NL>(src + i * int64_t(sizeof(BlockIQ4_NL)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK32;
        for (int j = 0; j < 16; ++j) {
            y[j] = d * float(iq::kIq4nlValues[b.qs[j] & 0x0f]);
            y[j + 16] = d * float(iq::kIq4nlValues[b.qs[j] >> 4]);
        }
    }
}

// ==========================================================================================
// IQ4_XS: x = (d * (ls - 32)) * table[nibble]; the 6-bit ls of sub-block ib has its low 4 bits
// in nibble (ib % 2) of scales_l[ib / 2] and its top 2 bits at bit 2 * ib of scales_h.
// ==========================================================================================
void decodeIQ4_XS(const uint8_t* src, float* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const auto b = loadBlock<BlockIQ4_XS>(src + i * int64_t(sizeof(BlockIQ4_XS)));
        const float d = halfToFloat(b.d);
        float* y = dst + i * kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) |
                           (((b.scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * float(ls - 32);
            const uint8_t* qs = b.qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * float(iq::kIq4nlValues[qs[j] & 0x0f]);
                y[j + 16] = dl * float(iq::kIq4nlValues[qs[j] >> 4]);
            }
            y += 32;
        }
    }
}

}  // namespace qs::formats
