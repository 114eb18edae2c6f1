#include "formats/encode_best.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/block_layouts.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/iq_grids.h"
#include "parallel/parallel.h"

namespace qs::formats {

std::string_view quantizerName(Quantizer q) {
    return q == Quantizer::Best ? "best" : "ggml";
}

Result<Quantizer> parseQuantizer(std::string_view text) {
    if (text == "ggml") return Quantizer::Ggml;
    if (text == "best") return Quantizer::Best;
    return makeError(ErrorCode::BadUsage,
                     "unknown quantizer '" + std::string(text) + "' (expected ggml or best)");
}

namespace {

using namespace blocks;

// ==========================================================================================
// A block in parameter form: value i of sub-block j = (d * sc_j) * L(u_i) - b_j, where
// b_j = dmin * m_j (K-quants with mins), b = dmin (Q4_1/Q5_1: dmin holds -m) or 0.
// ==========================================================================================

enum class MinKind { None, Scaled, Free };

// Effort of the search (docs/QUANTIZER.md has the error/time curve behind these values).
constexpr int kRounds = 4;         ///< alternations of levels and scales per start
constexpr int kAlternatives = 3;   ///< runner-up super-scales tried exactly per round
constexpr int kReach = 3;          ///< polish: sc +- kReach (and the mirror) without mins
constexpr int kReachWithMins = 2;  ///< polish: sc, m +- 2 with mins

struct Desc {
    int blockVals = 0;  ///< values per block (256 or 32)
    int blockBytes = 0;
    int nSub = 1;  ///< sub-blocks with their own integer scale
    int subLen = 0;
    bool intScales = false;  ///< sc_j integers in [scMin, scMax]; false: the block's d alone
    int scMin = 0, scMax = 0;
    MinKind minKind = MinKind::None;
    int mMax = 0;  ///< largest integer min (Scaled)
    int nLevels = 0;
    int levelOffset = 0;            ///< uniform levels: L(u) = u + levelOffset
    const int8_t* table = nullptr;  ///< non-uniform levels (IQ4): L(u) = table[u]
    float level(int u) const { return table ? float(table[u]) : float(u + levelOffset); }
};

struct Params {
    float d = 0, dmin = 0;
    std::array<int, 16> sc{}, m{};
    std::array<uint8_t, 256> u{};
};

inline float fp16(float x) {
    return halfToFloat(floatToHalf(x));
}

/// Sub-block scale and min as the decoders evaluate them.
inline float scaleOf(const Desc& D, const Params& p, int j) {
    return D.intScales ? p.d * float(p.sc[size_t(j)]) : p.d;
}
inline float minOf(const Desc& D, const Params& p, int j) {
    switch (D.minKind) {
    case MinKind::Scaled: return p.dmin * float(p.m[size_t(j)]);
    case MinKind::Free: return p.dmin;
    default: return 0.f;
    }
}

// ---- pack / unpack per type (the inverse of the decoders in kquants.cpp, iquants.cpp and
// legacy_quants.cpp) -------------------------------------------------------------------------

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

struct Codec {
    Desc desc;
    void (*pack)(const Params&, uint8_t*) = nullptr;
    void (*unpack)(const uint8_t*, Params&) = nullptr;
};

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

// ==========================================================================================
// The search
// ==========================================================================================

/// Weighted sums of one sub-block under fixed levels: the block error is exactly
/// E(a, b) = a^2 S2 - 2ab S1 + b^2 S0 - 2a Slx + 2b Sx + Sxx for y = a L - b.
struct Sums {
    double S0 = 0, S1 = 0, S2 = 0, Sx = 0, Slx = 0, Sxx = 0;
    double err(double a, double b) const {
        return a * a * S2 - 2 * a * b * S1 + b * b * S0 - 2 * a * Slx + 2 * b * Sx + Sxx;
    }
};

/// Best level of value x for scale a and min b (exact, in the decoders' float arithmetic).
inline int bestLevel(const Desc& D, float x, float a, float b) {
    if (D.table) {
        // The table ascends: the nearest level to (x + b) / a, then its neighbours exactly.
        if (a == 0.f) return 0;
        const float t = (x + b) / a;
        int k = 0;
        while (k < D.nLevels && float(D.table[k]) < t) ++k;
        int best = 0;
        float be = INFINITY;
        for (int u = std::max(0, k - 2); u <= std::min(D.nLevels - 1, k + 1); ++u) {
            const float e = std::fabs(a * D.level(u) - b - x);
            if (e < be) {
                be = e;
                best = u;
            }
        }
        return best;
    }
    if (a == 0.f) return std::clamp(-D.levelOffset, 0, D.nLevels - 1);
    const int c = std::clamp(int(std::lrint((x + b) / a)) - D.levelOffset, 0, D.nLevels - 1);
    int best = c;
    float be = std::fabs(a * D.level(c) - b - x);
    for (int u : {c - 1, c + 1}) {
        if (u < 0 || u >= D.nLevels) continue;
        const float e = std::fabs(a * D.level(u) - b - x);
        if (e < be) {
            be = e;
            best = u;
        }
    }
    return best;
}

/// Assign every level for the current scales; returns the block's weighted error.
double assignLevels(const Desc& D, const float* x, const float* w, Params& p) {
    double e = 0;
    for (int j = 0; j < D.nSub; ++j) {
        const float a = scaleOf(D, p, j), b = minOf(D, p, j);
        for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i) {
            const int u = bestLevel(D, x[i], a, b);
            p.u[size_t(i)] = uint8_t(u);
            const double r = double(a * D.level(u) - b) - double(x[i]);
            e += double(w[i]) * r * r;
        }
    }
    return e;
}

Sums sumsOf(const Desc& D, const float* x, const float* w, const Params& p, int j) {
    Sums s;
    for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i) {
        const double l = D.level(p.u[size_t(i)]), wi = w[i], xi = x[i];
        s.S0 += wi;
        s.S1 += wi * l;
        s.S2 += wi * l * l;
        s.Sx += wi * xi;
        s.Slx += wi * l * xi;
        s.Sxx += wi * xi * xi;
    }
    return s;
}

/// The scale a minimising E(a, b) for fixed b (0 when the sub-block carries no weight).
inline double bestA(const Sums& s, double b) {
    return s.S2 > 0 ? (s.Slx + b * s.S1) / s.S2 : 0;
}
/// The min b minimising E(a, b) for fixed a, at least 0 (mins are stored unsigned).
inline double bestB(const Sums& s, double a) {
    return s.S0 > 0 ? std::max(0.0, (a * s.S1 - s.Sx) / s.S0) : 0;
}

/// Integer multiple k of step in [lo, hi] nearest to target under err(k) (floor and ceil).
template <typename Err>
int bestInt(double target, double step, int lo, int hi, Err err) {
    if (step == 0) return std::clamp(0, lo, hi);
    const double t = target / step;
    const int f = std::clamp(int(std::floor(t)), lo, hi), c = std::clamp(int(std::ceil(t)), lo, hi);
    return err(f) <= err(c) ? f : c;
}

/// Step 3 for the super-scale: best fp16 d (and integer sc_j) for the current mins under the
/// fixed-level quadratic; `alternatives` (if given) receives the next best candidates of d.
void fitScales(const Desc& D, const std::vector<Sums>& S, Params& p,
               std::vector<float>* alternatives = nullptr) {
    std::array<double, 16> target{};
    std::array<double, 16> b{};
    double amax = 0;
    for (int j = 0; j < D.nSub; ++j) {
        b[size_t(j)] = minOf(D, p, j);
        target[size_t(j)] = bestA(S[size_t(j)], b[size_t(j)]);
        amax = std::max(amax, std::fabs(target[size_t(j)]));
    }
    if (amax == 0) return;
    auto total = [&](float d, std::array<int, 16>* out) {
        double e = 0;
        for (int j = 0; j < D.nSub; ++j) {
            const Sums& s = S[size_t(j)];
            const double bj = b[size_t(j)];
            const int k = bestInt(target[size_t(j)], d, D.scMin, D.scMax,
                                  [&](int kk) { return s.err(double(d * float(kk)), bj); });
            if (out) (*out)[size_t(j)] = k;
            e += s.err(double(d * float(k)), bj);
        }
        return e;
    };
    std::vector<std::pair<double, float>> cands;
    cands.emplace_back(total(p.d, nullptr), p.d);
    const int ranges[2] = {D.scMax, -D.scMin};
    for (int sign : {1, -1}) {
        if (sign < 0 && D.scMin >= 0) continue;
        for (int r : ranges) {
            if (r <= 0) continue;
            const double base = sign * amax / r;
            for (int k = -40; k <= 40; ++k) {
                const float d = fp16(float(base * (1.0 + 0.005 * k)));
                cands.emplace_back(total(d, nullptr), d);
            }
        }
    }
    std::stable_sort(cands.begin(), cands.end(),
                     [](const auto& l, const auto& r) { return l.first < r.first; });
    p.d = cands[0].second;
    total(p.d, &p.sc);
    if (alternatives) {
        alternatives->clear();
        for (size_t i = 1; i < cands.size() && alternatives->size() < kAlternatives; ++i) {
            const float d = cands[i].second;
            if (d == p.d ||
                std::find(alternatives->begin(), alternatives->end(), d) != alternatives->end())
                continue;
            alternatives->push_back(d);
        }
    }
}

/// Integer scales for a given d under the fixed-level quadratic (as fitScales chooses them).
void scalesFor(const Desc& D, const std::vector<Sums>& S, Params& p, float d) {
    p.d = d;
    for (int j = 0; j < D.nSub; ++j) {
        const Sums& s = S[size_t(j)];
        const double bj = minOf(D, p, j);
        p.sc[size_t(j)] = bestInt(bestA(s, bj), d, D.scMin, D.scMax,
                                  [&](int kk) { return s.err(double(d * float(kk)), bj); });
    }
}

/// Step 3 for the super-min: best fp16 dmin (and integer m_j) for the current scales.
void fitMins(const Desc& D, const std::vector<Sums>& S, Params& p) {
    std::array<double, 16> a{}, target{};
    double bmax = 0;
    for (int j = 0; j < D.nSub; ++j) {
        a[size_t(j)] = scaleOf(D, p, j);
        target[size_t(j)] = bestB(S[size_t(j)], a[size_t(j)]);
        bmax = std::max(bmax, target[size_t(j)]);
    }
    auto total = [&](float dmin, std::array<int, 16>* out) {
        double e = 0;
        for (int j = 0; j < D.nSub; ++j) {
            const Sums& s = S[size_t(j)];
            const double aj = a[size_t(j)];
            const int k = bestInt(target[size_t(j)], dmin, 0, D.mMax,
                                  [&](int kk) { return s.err(aj, double(dmin * float(kk))); });
            if (out) (*out)[size_t(j)] = k;
            e += s.err(aj, double(dmin * float(k)));
        }
        return e;
    };
    float bestDm = p.dmin;
    double bestE = total(p.dmin, nullptr);
    if (bmax > 0) {
        const double base = bmax / D.mMax;
        for (int k = -40; k <= 40; ++k) {
            const float dm = fp16(float(base * (1.0 + 0.005 * k)));
            const double e = total(dm, nullptr);
            if (e < bestE) {
                bestE = e;
                bestDm = dm;
            }
        }
    }
    p.dmin = bestDm;
    total(bestDm, &p.m);
}

/// Step 2+3 for a single-scale block (legacy types, IQ4_NL): least squares on (d[, -m]), then
/// the fp16 neighbours of the optimum under the exact quadratic.
void fitSingle(const Desc& D, const Sums& s, Params& p) {
    double a = 0, b = 0;
    if (D.minKind == MinKind::Free) {
        const double det = s.S2 * s.S0 - s.S1 * s.S1;
        if (det <= 0) return;
        a = (s.Slx * s.S0 - s.S1 * s.Sx) / det;
        b = (s.S1 * s.Slx - s.S2 * s.Sx) / det;
    } else {
        if (s.S2 <= 0) return;
        a = s.Slx / s.S2;
    }
    auto neighbours = [](double v, std::array<float, 5>& out) {
        const uint16_t h = floatToHalf(float(v));
        for (int k = -2; k <= 2; ++k) out[size_t(k + 2)] = halfToFloat(uint16_t(h + k));
    };
    std::array<float, 5> as{}, bs{};
    neighbours(a, as);
    neighbours(b, bs);
    double bestE = s.err(p.d, D.minKind == MinKind::Free ? p.dmin : 0.0);
    for (float ca : as) {
        if (!std::isfinite(ca)) continue;
        for (float cb : bs) {
            if (D.minKind != MinKind::Free) cb = 0;
            if (!std::isfinite(cb)) continue;
            const double e = s.err(ca, cb);
            if (e < bestE) {
                bestE = e;
                p.d = ca;
                if (D.minKind == MinKind::Free) p.dmin = cb;
            }
        }
    }
}

/// Weighted error of sub-block j with its levels reassigned for scale a and min b.
double subErr(const Desc& D, const float* x, const float* w, int j, float a, float b) {
    double e = 0;
    for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i) {
        const int u = bestLevel(D, x[i], a, b);
        const double r = double(a * D.level(u) - b) - double(x[i]);
        e += double(w[i]) * r * r;
    }
    return e;
}

/// Coordinate descent on the integer scale and min of each sub-block with exact level
/// reassignment: tries every (sc + ds, m + dm) for |ds|, |dm| <= 2 and keeps the best.
void polishSubBlocks(const Desc& D, const float* x, const float* w, Params& p, int reach = 2) {
    const bool mins = D.minKind == MinKind::Scaled;
    for (int j = 0; j < D.nSub; ++j) {
        int bestSc = p.sc[size_t(j)], bestM = p.m[size_t(j)];
        double bestE = subErr(D, x, w, j, scaleOf(D, p, j), minOf(D, p, j));
        const int sc0 = bestSc, m0 = bestM;
        // Signed scales mirror an asymmetric level set (Q3_K's -4..3, IQ4's table): the
        // neighbours of -sc are candidates too.
        const int centres = D.scMin < 0 ? 2 : 1;
        for (int c = 0; c < centres; ++c)
            for (int ds = -reach; ds <= reach; ++ds) {
                const int sc = (c == 0 ? sc0 : -sc0) + ds;
                if (sc < D.scMin || sc > D.scMax) continue;
                for (int dm = mins ? -2 : 0; dm <= (mins ? 2 : 0); ++dm) {
                    const int m = m0 + dm;
                    if (mins && (m < 0 || m > D.mMax)) continue;
                    if (c == 0 && ds == 0 && dm == 0) continue;
                    const float a = p.d * float(sc);
                    const float b = mins ? p.dmin * float(m) : 0.f;
                    const double e = subErr(D, x, w, j, a, b);
                    if (e < bestE) {
                        bestE = e;
                        bestSc = sc;
                        bestM = m;
                    }
                }
            }
        p.sc[size_t(j)] = bestSc;
        if (mins) p.m[size_t(j)] = bestM;
    }
}

/// Refine one block in place (bytes of ggml's encoding in, ours out if better).
void refineBlock(const Codec& C, const float* x, const float* w, uint8_t* blk,
                 const TypeTraits& tr) {
    const Desc& D = C.desc;
    float y[kQK_K];
    auto exactErr = [&](const uint8_t* bytes) {
        tr.decode(bytes, y, D.blockVals);
        double e = 0;
        for (int i = 0; i < D.blockVals; ++i) {
            const double r = double(y[i]) - double(x[i]);
            e += double(w[i]) * r * r;
        }
        return e;
    };
    const double ggmlErr = exactErr(blk);
    if (ggmlErr == 0) return;

    Params p;
    C.unpack(blk, p);
    Params best = p;
    double bestErr = assignLevels(D, x, w, p);
    if (bestErr < ggmlErr)
        best = p;
    else
        bestErr = ggmlErr;

    // Single-scale blocks: also start from a grid of scales around ggml's, since ggml's plain
    // legacy quantizers do not search at all.
    if (!D.intScales) {
        const Params start = p;
        // Both signs: an asymmetric level set (Q4_0's -8..7, IQ4_NL's table) mirrors with d.
        // A coarse scan (1 % steps, both signs), then 0.1 % steps around the best of it.
        auto tryScale = [&](float d) {
            Params q = start;
            q.d = fp16(d);
            double e = assignLevels(D, x, w, q);
            // One least-squares step for this assignment, then the levels again.
            fitSingle(D, sumsOf(D, x, w, q, 0), q);
            e = std::min(e, assignLevels(D, x, w, q));
            if (e < bestErr) {
                bestErr = e;
                best = q;
            }
            return e;
        };
        float coarse = start.d;
        double coarseErr = INFINITY;
        for (int sign = 1; sign >= (D.minKind == MinKind::Free ? 1 : -1); sign -= 2) {
            for (int k = -30; k <= 30; ++k) {
                const float d = float(sign) * start.d * float(1.0 + 0.01 * k);
                const double e = tryScale(d);
                if (e < coarseErr) {
                    coarseErr = e;
                    coarse = d;
                }
            }
        }
        for (int k = -9; k <= 9; ++k) {
            if (k != 0) tryScale(coarse * float(1.0 + 0.001 * k));
        }
        p = best;
    }

    std::vector<Sums> S(size_t(D.nSub));
    // Alternate levels and scales from `p` until the error stops falling; `best` keeps the
    // lowest seen.
    // Neighbourhood of the polish: (sc, m) pairs cost reach^2, scales alone reach.
    const int reach = D.minKind == MinKind::Scaled ? kReachWithMins : kReach;
    auto descend = [&](Params cur) {
        double prev = INFINITY;
        for (int iter = 0; iter < kRounds; ++iter) {
            for (int j = 0; j < D.nSub; ++j) S[size_t(j)] = sumsOf(D, x, w, cur, j);
            double e = 0;
            if (D.intScales) {
                std::vector<float> alts;
                fitScales(D, S, cur);
                if (D.minKind == MinKind::Scaled) fitMins(D, S, cur);
                fitScales(D, S, cur, &alts);
                const Params base = cur;
                polishSubBlocks(D, x, w, cur, reach);
                e = assignLevels(D, x, w, cur);
                // The quadratic holds the levels fixed: the next best super-scales, each polished
                // with its levels reassigned, may beat the first.
                for (float d : alts) {
                    Params q = base;
                    scalesFor(D, S, q, d);
                    polishSubBlocks(D, x, w, q, reach);
                    const double eq = assignLevels(D, x, w, q);
                    if (eq < e) {
                        e = eq;
                        cur = q;
                    }
                }
            } else {
                fitSingle(D, S[0], cur);
                e = assignLevels(D, x, w, cur);
            }
            if (e < bestErr) {
                bestErr = e;
                best = cur;
            }
            if (!(e < prev * (1 - 1e-12))) break;
            prev = e;
        }
    };
    descend(p);
    // Symmetric multi-scale types (Q3_K, Q6_K, IQ4_XS): also start from every sub-block's own
    // best scale (a scan of both signs with the levels reassigned), quantised by the same steps.
    if (D.intScales && D.minKind == MinKind::None) {
        Params q = p;
        float lmax = 0;
        for (int u = 0; u < D.nLevels; ++u) lmax = std::max(lmax, std::fabs(D.level(u)));
        std::vector<float> own(size_t(D.nSub), 0.f);
        for (int j = 0; j < D.nSub; ++j) {
            float xmax = 0;
            for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i)
                xmax = std::max(xmax, std::fabs(x[i]));
            if (xmax == 0) continue;
            double be = INFINITY;
            auto tryA = [&](float a) {
                const double e = subErr(D, x, w, j, a, 0.f);
                if (e < be) {
                    be = e;
                    own[size_t(j)] = a;
                }
            };
            for (int sign : {1, -1}) {
                for (int k = 0; k <= 40; ++k)
                    tryA(float(sign) * xmax / lmax * float(0.6 + 0.02 * k));
            }
            const float coarse = own[size_t(j)];
            for (int k = -9; k <= 9; ++k) {
                if (k != 0) tryA(coarse * float(1.0 + 0.002 * k));
            }
        }
        // Levels of that start, then the usual integer fit.
        float amax = 0;
        for (float a : own) amax = std::max(amax, std::fabs(a));
        if (amax > 0) {
            q.d = fp16(amax / float(D.scMax));
            for (int j = 0; j < D.nSub; ++j) {
                q.sc[size_t(j)] =
                    std::clamp(int(std::lrint(own[size_t(j)] / q.d)), D.scMin, D.scMax);
                for (int i = j * D.subLen; i < (j + 1) * D.subLen; ++i)
                    q.u[size_t(i)] = uint8_t(bestLevel(D, x[i], own[size_t(j)], 0.f));
            }
            descend(q);
        }
    }

    uint8_t mine[sizeof(BlockQ6_K) > sizeof(BlockQ5_K) ? sizeof(BlockQ6_K) : sizeof(BlockQ5_K)];
    C.pack(best, mine);
    // Scales and mins must decode finite (a degenerate fit could overflow fp16).
    const double mineErr = exactErr(mine);
    if (std::isfinite(mineErr) && mineErr < ggmlErr) std::memcpy(blk, mine, size_t(D.blockBytes));
}

}  // namespace

bool hasBestSearch(TensorType t) {
    return codecOf(t) != nullptr;
}

Status encodeRowsBest(TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance, int threads,
                      const std::string& tensorName) {
    QS_TRY(encodeRows(t, src, dst, rowLength, importance, threads, tensorName));
    const Codec* c = codecOf(t);
    if (!c) return {};
    const Desc& D = c->desc;
    const TypeTraits& tr = traits(t);
    const int64_t blocksPerRow = rowLength / D.blockVals;
    const int64_t nBlocks = int64_t(src.size()) / D.blockVals;
    parallel::parallelFor(threads, nBlocks, 64, [&](int64_t b0, int64_t b1) {
        std::vector<float> ones(size_t(D.blockVals), 1.f);
        for (int64_t b = b0; b < b1; ++b) {
            const float* x = src.data() + b * D.blockVals;
            const float* w =
                importance ? importance + (b % blocksPerRow) * D.blockVals : ones.data();
            refineBlock(*c, x, w, dst.data() + b * D.blockBytes, tr);
        }
    });
    return {};
}

Status encodeRowsWith(Quantizer q, TensorType t, std::span<const float> src, std::span<uint8_t> dst,
                      int64_t rowLength, const float* importance, int threads,
                      const std::string& tensorName) {
    return q == Quantizer::Best
               ? encodeRowsBest(t, src, dst, rowLength, importance, threads, tensorName)
               : encodeRows(t, src, dst, rowLength, importance, threads, tensorName);
}

}  // namespace qs::formats
