#pragma once
// Internal to the best quantizer (encode_best.cpp): a block of a searched type in parameter
// form and the codec that packs it into ggml's bytes and reads it back. Not a public API.

#include <array>
#include <cstdint>

#include "formats/half.h"
#include "formats/type_table.h"

namespace qs::formats::best {

// A block in parameter form: value i of sub-block j = (d * sc_j) * L(u_i) - b_j, where
// b_j = dmin * m_j (K-quants with mins), b = dmin (Q4_1/Q5_1: dmin holds -m) or 0.

enum class MinKind { None, Scaled, Free };

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

struct Codec {
    Desc desc;
    void (*pack)(const Params&, uint8_t*) = nullptr;
    void (*unpack)(const uint8_t*, Params&) = nullptr;
};

/// The codec of `t`, or nullptr when the best quantizer has no search for it.
const Codec* codecOf(TensorType t);

}  // namespace qs::formats::best
