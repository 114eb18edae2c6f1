// Packing and unpacking of the searched block types for the best quantizer: the inverse of
// the decoders in kquants.cpp, iquants.cpp and legacy_quants.cpp, so that a block in
// parameter form (encode_best_codec.h) becomes ggml's bytes and back.

#include <cstring>
#include <type_traits>

#include "formats/block_layouts.h"
#include "formats/encode_best_codec.h"
#include "formats/iq_grids.h"

namespace qs::formats::best {

using namespace blocks;

namespace {

void packScalesK4(const Params& p, uint8_t* q) {
    for (int j = 0; j < 4; ++j) {
        const int sc = p.sc[size_t(j)], m = p.m[size_t(j)];
        const int sc4 = p.sc[size_t(j + 4)], m4 = p.m[size_t(j + 4)];
        q[j] = uint8_t(sc | ((sc4 >> 4) << 6));
        q[j + 4] = uint8_t(m | ((m4 >> 4) << 6));
        q[j + 8] = uint8_t((sc4 & 15) | ((m4 & 15) << 4));
    }
}
void unpackScalesK4(const uint8_t* q, Params& p) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            p.sc[size_t(j)] = q[j] & 63;
            p.m[size_t(j)] = q[j + 4] & 63;
        } else {
            p.sc[size_t(j)] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
            p.m[size_t(j)] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
}

// Q2_K and Q3_K share the low-bit layout: value 16 * j + l with j = 8 * half + 2 * s + part
// sits in bits 2s of qs[32 * half + 16 * part + l].
inline int lowIndexK2(int i, int& shift) {
    const int j = i / 16, l = i % 16;
    const int half = j / 8, s = (j % 8) / 2, part = j % 2;
    shift = 2 * s;
    return 32 * half + 16 * part + l;
}

void packQ2_K(const Params& p, uint8_t* dst) {
    BlockQ2_K b{};
    for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(p.sc[size_t(j)] | (p.m[size_t(j)] << 4));
    for (int i = 0; i < 256; ++i) {
        int shift;
        const int at = lowIndexK2(i, shift);
        b.qs[at] = uint8_t(b.qs[at] | (p.u[size_t(i)] << shift));
    }
    b.d = floatToHalf(p.d);
    b.dmin = floatToHalf(p.dmin);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ2_K(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockQ2_K>(src);
    for (int j = 0; j < 16; ++j) {
        p.sc[size_t(j)] = b.scales[j] & 15;
        p.m[size_t(j)] = b.scales[j] >> 4;
    }
    for (int i = 0; i < 256; ++i) {
        int shift;
        const int at = lowIndexK2(i, shift);
        p.u[size_t(i)] = uint8_t((b.qs[at] >> shift) & 3);
    }
    p.d = halfToFloat(b.d);
    p.dmin = halfToFloat(b.dmin);
}

void packQ3_K(const Params& p, uint8_t* dst) {
    BlockQ3_K b{};
    for (int s = 0; s < 16; ++s) {
        const int v = p.sc[size_t(s)] + 32;
        if (s < 8)
            b.scales[s] = uint8_t(b.scales[s] | (v & 15));
        else
            b.scales[s - 8] = uint8_t(b.scales[s - 8] | ((v & 15) << 4));
        b.scales[8 + s % 4] = uint8_t(b.scales[8 + s % 4] | ((v >> 4) << (2 * (s / 4))));
    }
    for (int i = 0; i < 256; ++i) {
        int shift;
        const int at = lowIndexK2(i, shift);
        const int u = p.u[size_t(i)];
        b.qs[at] = uint8_t(b.qs[at] | ((u & 3) << shift));
        const int j = i / 16, l = i % 16;
        const int bit = 4 * (j / 8) + (j % 8) / 2;
        if (u >> 2) b.hmask[16 * (j % 2) + l] = uint8_t(b.hmask[16 * (j % 2) + l] | (1 << bit));
    }
    b.d = floatToHalf(p.d);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ3_K(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockQ3_K>(src);
    for (int s = 0; s < 16; ++s) {
        const int lo = s < 8 ? (b.scales[s] & 0x0f) : (b.scales[s - 8] >> 4);
        const int hi = (b.scales[8 + s % 4] >> (2 * (s / 4))) & 3;
        p.sc[size_t(s)] = (lo | (hi << 4)) - 32;
    }
    for (int i = 0; i < 256; ++i) {
        int shift;
        const int at = lowIndexK2(i, shift);
        const int j = i / 16, l = i % 16;
        const int bit = 4 * (j / 8) + (j % 8) / 2;
        const int hb = (b.hmask[16 * (j % 2) + l] >> bit) & 1;
        p.u[size_t(i)] = uint8_t(((b.qs[at] >> shift) & 3) | (hb << 2));
    }
    p.d = halfToFloat(b.d);
}

template <bool Five>
void packQ45_K(const Params& p, uint8_t* dst) {
    using B = std::conditional_t<Five, BlockQ5_K, BlockQ4_K>;
    B b{};
    b.d = floatToHalf(p.d);
    b.dmin = floatToHalf(p.dmin);
    packScalesK4(p, b.scales);
    for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
            const int u1 = p.u[size_t(64 * k + l)], u2 = p.u[size_t(64 * k + 32 + l)];
            b.qs[32 * k + l] = uint8_t((u1 & 15) | ((u2 & 15) << 4));
            if constexpr (Five) {
                b.qh[l] = uint8_t(b.qh[l] | ((u1 >> 4) << (2 * k)) | ((u2 >> 4) << (2 * k + 1)));
            }
        }
    }
    std::memcpy(dst, &b, sizeof b);
}
template <bool Five>
void unpackQ45_K(const uint8_t* src, Params& p) {
    using B = std::conditional_t<Five, BlockQ5_K, BlockQ4_K>;
    const auto b = loadBlock<B>(src);
    p.d = halfToFloat(b.d);
    p.dmin = halfToFloat(b.dmin);
    unpackScalesK4(b.scales, p);
    for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
            int u1 = b.qs[32 * k + l] & 15, u2 = b.qs[32 * k + l] >> 4;
            if constexpr (Five) {
                u1 |= ((b.qh[l] >> (2 * k)) & 1) << 4;
                u2 |= ((b.qh[l] >> (2 * k + 1)) & 1) << 4;
            }
            p.u[size_t(64 * k + l)] = uint8_t(u1);
            p.u[size_t(64 * k + 32 + l)] = uint8_t(u2);
        }
    }
}

void packQ6_K(const Params& p, uint8_t* dst) {
    BlockQ6_K b{};
    for (int j = 0; j < 16; ++j) b.scales[j] = int8_t(p.sc[size_t(j)]);
    for (int half = 0; half < 2; ++half) {
        for (int col = 0; col < 4; ++col) {
            for (int l = 0; l < 32; ++l) {
                const int u = p.u[size_t(128 * half + 32 * col + l)];
                uint8_t& lo = b.ql[64 * half + 32 * (col & 1) + l];
                lo = uint8_t(lo | ((u & 15) << (4 * (col >> 1))));
                uint8_t& hi = b.qh[32 * half + l];
                hi = uint8_t(hi | ((u >> 4) << (2 * col)));
            }
        }
    }
    b.d = floatToHalf(p.d);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ6_K(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockQ6_K>(src);
    for (int j = 0; j < 16; ++j) p.sc[size_t(j)] = b.scales[j];
    for (int half = 0; half < 2; ++half) {
        for (int col = 0; col < 4; ++col) {
            for (int l = 0; l < 32; ++l) {
                const int lo = (b.ql[64 * half + 32 * (col & 1) + l] >> (4 * (col >> 1))) & 15;
                const int hi = (b.qh[32 * half + l] >> (2 * col)) & 3;
                p.u[size_t(128 * half + 32 * col + l)] = uint8_t(lo | (hi << 4));
            }
        }
    }
    p.d = halfToFloat(b.d);
}

/// Nibbles of 32 values as Q4_0 lays them out: value l low, value l + 16 high.
void packNibbles32(const uint8_t* u, uint8_t* qs) {
    for (int l = 0; l < 16; ++l) qs[l] = uint8_t((u[l] & 15) | ((u[l + 16] & 15) << 4));
}
void unpackNibbles32(const uint8_t* qs, uint8_t* u) {
    for (int l = 0; l < 16; ++l) {
        u[l] = qs[l] & 15;
        u[l + 16] = qs[l] >> 4;
    }
}

void packIQ4_XS(const Params& p, uint8_t* dst) {
    BlockIQ4_XS b{};
    b.d = floatToHalf(p.d);
    for (int ib = 0; ib < 8; ++ib) {
        const int ls = p.sc[size_t(ib)] + 32;
        b.scales_l[ib / 2] = uint8_t(b.scales_l[ib / 2] | ((ls & 15) << (4 * (ib % 2))));
        b.scales_h = uint16_t(b.scales_h | ((ls >> 4) << (2 * ib)));
        packNibbles32(p.u.data() + 32 * ib, b.qs + 16 * ib);
    }
    std::memcpy(dst, &b, sizeof b);
}
void unpackIQ4_XS(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockIQ4_XS>(src);
    p.d = halfToFloat(b.d);
    for (int ib = 0; ib < 8; ++ib) {
        const int ls =
            ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((b.scales_h >> (2 * ib)) & 3) << 4);
        p.sc[size_t(ib)] = ls - 32;
        unpackNibbles32(b.qs + 16 * ib, p.u.data() + 32 * ib);
    }
}

/// Q4_0 and IQ4_NL share a layout: an fp16 scale and 16 bytes of nibbles.
template <typename B>
void packScaleNibbles(const Params& p, uint8_t* dst) {
    B b{};
    b.d = floatToHalf(p.d);
    packNibbles32(p.u.data(), b.qs);
    std::memcpy(dst, &b, sizeof b);
}
template <typename B>
void unpackScaleNibbles(const uint8_t* src, Params& p) {
    const auto b = loadBlock<B>(src);
    p.d = halfToFloat(b.d);
    unpackNibbles32(b.qs, p.u.data());
}
void packQ4_1(const Params& p, uint8_t* dst) {
    BlockQ4_1 b{};
    b.d = floatToHalf(p.d);
    b.m = floatToHalf(-p.dmin);
    packNibbles32(p.u.data(), b.qs);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ4_1(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockQ4_1>(src);
    p.d = halfToFloat(b.d);
    p.dmin = -halfToFloat(b.m);
    unpackNibbles32(b.qs, p.u.data());
}

template <typename B>
void packQ5(const Params& p, B& b) {
    b.d = floatToHalf(p.d);
    uint32_t qh = 0;
    for (int l = 0; l < 32; ++l) qh |= uint32_t(p.u[size_t(l)] >> 4) << l;
    std::memcpy(b.qh, &qh, 4);
    packNibbles32(p.u.data(), b.qs);
}
template <typename B>
void unpackQ5(const B& b, Params& p) {
    p.d = halfToFloat(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    unpackNibbles32(b.qs, p.u.data());
    for (int l = 0; l < 32; ++l) p.u[size_t(l)] = uint8_t(p.u[size_t(l)] | (((qh >> l) & 1) << 4));
}
void packQ5_0(const Params& p, uint8_t* dst) {
    BlockQ5_0 b{};
    packQ5(p, b);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ5_0(const uint8_t* src, Params& p) {
    unpackQ5(loadBlock<BlockQ5_0>(src), p);
}
void packQ5_1(const Params& p, uint8_t* dst) {
    BlockQ5_1 b{};
    packQ5(p, b);
    b.m = floatToHalf(-p.dmin);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ5_1(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockQ5_1>(src);
    unpackQ5(b, p);
    p.dmin = -halfToFloat(b.m);
}

void packQ8_0(const Params& p, uint8_t* dst) {
    BlockQ8_0 b{};
    b.d = floatToHalf(p.d);
    for (int l = 0; l < 32; ++l) b.qs[l] = int8_t(int(p.u[size_t(l)]) - 128);
    std::memcpy(dst, &b, sizeof b);
}
void unpackQ8_0(const uint8_t* src, Params& p) {
    const auto b = loadBlock<BlockQ8_0>(src);
    p.d = halfToFloat(b.d);
    for (int l = 0; l < 32; ++l) p.u[size_t(l)] = uint8_t(int(b.qs[l]) + 128);
}

/// A 256-value super-block with integer sub-block scales.
Desc kDesc(int bytes, int nSub, int scMin, int scMax, MinKind mk, int mMax, int nLevels, int offset,
           const int8_t* table = nullptr) {
    Desc d;
    d.blockVals = kQK_K;
    d.blockBytes = bytes;
    d.nSub = nSub;
    d.subLen = kQK_K / nSub;
    d.intScales = true;
    d.scMin = scMin;
    d.scMax = scMax;
    d.minKind = mk;
    d.mMax = mMax;
    d.nLevels = nLevels;
    d.levelOffset = offset;
    d.table = table;
    return d;
}
/// A 32-value block with one fp16 scale (and a free fp16 min for MinKind::Free).
Desc d32(int bytes, MinKind mk, int nLevels, int offset, const int8_t* table = nullptr) {
    Desc d = kDesc(bytes, 1, 1, 1, mk, 0, nLevels, offset, table);
    d.blockVals = d.subLen = kQK32;
    d.intScales = false;
    return d;
}

}  // namespace

const Codec* codecOf(TensorType t) {
    static const Codec q2k{kDesc(sizeof(BlockQ2_K), 16, 0, 15, MinKind::Scaled, 15, 4, 0), packQ2_K,
                           unpackQ2_K};
    static const Codec q3k{kDesc(sizeof(BlockQ3_K), 16, -32, 31, MinKind::None, 0, 8, -4), packQ3_K,
                           unpackQ3_K};
    static const Codec q4k{kDesc(sizeof(BlockQ4_K), 8, 0, 63, MinKind::Scaled, 63, 16, 0),
                           packQ45_K<false>, unpackQ45_K<false>};
    static const Codec q5k{kDesc(sizeof(BlockQ5_K), 8, 0, 63, MinKind::Scaled, 63, 32, 0),
                           packQ45_K<true>, unpackQ45_K<true>};
    static const Codec q6k{kDesc(sizeof(BlockQ6_K), 16, -128, 127, MinKind::None, 0, 64, -32),
                           packQ6_K, unpackQ6_K};
    static const Codec iq4xs{
        kDesc(sizeof(BlockIQ4_XS), 8, -32, 31, MinKind::None, 0, 16, 0, iq::kIq4nlValues),
        packIQ4_XS, unpackIQ4_XS};
    static const Codec iq4nl{d32(sizeof(BlockIQ4_NL), MinKind::None, 16, 0, iq::kIq4nlValues),
                             packScaleNibbles<BlockIQ4_NL>, unpackScaleNibbles<BlockIQ4_NL>};
    static const Codec q40{d32(sizeof(BlockQ4_0), MinKind::None, 16, -8),
                           packScaleNibbles<BlockQ4_0>, unpackScaleNibbles<BlockQ4_0>};
    static const Codec q41{d32(sizeof(BlockQ4_1), MinKind::Free, 16, 0), packQ4_1, unpackQ4_1};
    static const Codec q50{d32(sizeof(BlockQ5_0), MinKind::None, 32, -16), packQ5_0, unpackQ5_0};
    static const Codec q51{d32(sizeof(BlockQ5_1), MinKind::Free, 32, 0), packQ5_1, unpackQ5_1};
    static const Codec q80{d32(sizeof(BlockQ8_0), MinKind::None, 256, -128), packQ8_0, unpackQ8_0};
    switch (t) {
    case TensorType::Q2_K: return &q2k;
    case TensorType::Q3_K: return &q3k;
    case TensorType::Q4_K: return &q4k;
    case TensorType::Q5_K: return &q5k;
    case TensorType::Q6_K: return &q6k;
    case TensorType::IQ4_XS: return &iq4xs;
    case TensorType::IQ4_NL: return &iq4nl;
    case TensorType::Q4_0: return &q40;
    case TensorType::Q4_1: return &q41;
    case TensorType::Q5_0: return &q50;
    case TensorType::Q5_1: return &q51;
    case TensorType::Q8_0: return &q80;
    default: return nullptr;
    }
}

}  // namespace qs::formats::best
