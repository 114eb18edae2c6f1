#version 450
// Encode (float32 -> bytes) of one tensor type, chosen at compile time with -DTYPE_<name>.
//
// Bit-identity with ggml's quantize_row_*_ref (and core/formats/encode_legacy.cpp): the same
// float operations in the same order, divisions kept as divisions (d = amax / 127, id = 1 / d),
// `precise` on every a * b + c so nothing is fused into an fma, truncating float -> int
// conversions as C's casts, and roundf (half away from zero) built from truncation. The fp16
// scales go through the integer floatToHalf of common.glsl.
//
// Invocation i writes whole output words: BLOCKS_PER_UNIT blocks chosen so that their bytes
// are a multiple of 4 (two 18-byte Q4_0 blocks are 9 words), assembled in a private array and
// stored word by word, so no two invocations ever write the same word. Only the last unit of a
// chunk may be short; its padding bytes are zero.

#extension GL_GOOGLE_include_directive : require

#include "common.glsl"
#include "types.glsl"

layout(std430, binding = 0) readonly buffer Src { uint srcWords[]; };  // float bits
layout(std430, binding = 1) writeonly buffer Dst { uint dstWords[]; };

layout(push_constant) uniform Params {
    uint nUnits;  // invocations with work
    uint nItems;  // blocks (quantized types) or values (F16/BF16) in this chunk
} p;

float x(uint i) { return uintBitsToFloat(srcWords[i]); }

#if defined(TYPE_F16) || defined(TYPE_BF16)

void main() {
    const uint u = flatInvocation();
    if (u >= p.nUnits) return;
    // 8 values -> 4 words.
    for (uint w = 0u; w < 4u; ++w) {
        const uint i = u * 8u + 2u * w;
        if (i >= p.nItems) return;
#if defined(TYPE_F16)
        const uint lo = floatToHalf(srcWords[i]);
        const uint hi = i + 1u < p.nItems ? floatToHalf(srcWords[i + 1u]) : 0u;
#else
        const uint lo = floatToBf16(srcWords[i]);
        const uint hi = i + 1u < p.nItems ? floatToBf16(srcWords[i + 1u]) : 0u;
#endif
        dstWords[u * 4u + w] = lo | (hi << 16);
    }
}

#else

#if defined(TYPE_Q8_0)
#define BLOCK_BYTES Q8_0_BYTES
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_Q4_0)
#define BLOCK_BYTES Q4_0_BYTES
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_Q4_1)
#define BLOCK_BYTES Q4_1_BYTES
#define BLOCKS_PER_UNIT 1u
#elif defined(TYPE_Q5_0)
#define BLOCK_BYTES Q5_0_BYTES
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_Q5_1)
#define BLOCK_BYTES Q5_1_BYTES
#define BLOCKS_PER_UNIT 1u
#else
#error "encode.comp: define one TYPE_<name>"
#endif

#define UNIT_WORDS ((BLOCK_BYTES * BLOCKS_PER_UNIT + 3u) / 4u)

// The unit's output bytes, assembled before the word stores (private to the invocation).
uint outWords[UNIT_WORDS];

void putByte(uint off, uint v) { outWords[off >> 2] |= (v & 0xffu) << ((off & 3u) * 8u); }
void putU16(uint off, uint v) {  // off is even in every block
    putByte(off, v);
    putByte(off + 1u, v >> 8);
}

// The value of largest magnitude (the first on ties), with its sign, as ggml finds it.
float signedAbsMax(uint x0) {
    float amax = 0.0, mx = 0.0;
    for (uint j = 0u; j < 32u; ++j) {
        const float v = x(x0 + j);
        if (amax < abs(v)) {
            amax = abs(v);
            mx = v;
        }
    }
    return mx;
}

// Block minimum and maximum starting from +-FLT_MAX, as ggml does.
void blockMinMax(uint x0, out float mn, out float mx) {
    mn = uintBitsToFloat(0x7f7fffffu);
    mx = -uintBitsToFloat(0x7f7fffffu);
    for (uint j = 0u; j < 32u; ++j) {
        const float v = x(x0 + j);
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
}

// C's roundf (half away from zero) for |v| < 2^23: truncate, then step away from zero when the
// remainder (exact) is at least one half. GLSL's round() may round halves either way.
int roundAway(float v) {
    int r = int(v);
    precise float frac = v - float(r);
    r += int(frac >= 0.5) - int(frac <= -0.5);
    return r;
}

// Q5 packing: low nibbles in qs, 5th bit of value j in bit j of the little-endian uint32 qh.
void packQ5(uint o, uint qhOff, uint qsOff, uint q[32]) {
    uint qh = 0u;
    for (uint j = 0u; j < 16u; ++j) {
        putByte(o + qsOff + j, (q[j] & 0x0fu) | ((q[j + 16u] & 0x0fu) << 4));
        qh |= ((q[j] & 0x10u) >> 4) << j;
        qh |= ((q[j + 16u] & 0x10u) >> 4) << (j + 16u);
    }
    for (uint k = 0u; k < 4u; ++k) putByte(o + qhOff + k, qh >> (8u * k));
}

// Encode block `blk` of the chunk into outWords at byte offset o.
void encodeBlock(uint blk, uint o) {
    const uint x0 = blk * QK32;
#if defined(TYPE_Q8_0)
    float amax = 0.0;
    for (uint j = 0u; j < 32u; ++j) {
        const float a = abs(x(x0 + j));
        amax = amax > a ? amax : a;
    }
    precise float d = amax / 127.0;
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
    putU16(o + Q8_0_D, floatToHalf(floatBitsToUint(d)));
    for (uint j = 0u; j < 32u; ++j) {
        precise float v = x(x0 + j) * id;
        putByte(o + Q8_0_QS + j, uint(roundAway(v)));
    }
#elif defined(TYPE_Q4_0)
    precise float d = signedAbsMax(x0) / -8.0;
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
    putU16(o + Q4_0_D, floatToHalf(floatBitsToUint(d)));
    for (uint j = 0u; j < 16u; ++j) {
        precise float v0 = x(x0 + j) * id + 8.5;
        precise float v1 = x(x0 + 16u + j) * id + 8.5;
        const uint q0 = uint(min(15, int(v0)));
        const uint q1 = uint(min(15, int(v1)));
        putByte(o + Q4_0_QS + j, q0 | (q1 << 4));
    }
#elif defined(TYPE_Q5_0)
    precise float d = signedAbsMax(x0) / -16.0;
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
    putU16(o + Q5_0_D, floatToHalf(floatBitsToUint(d)));
    uint q[32];
    for (uint j = 0u; j < 32u; ++j) {
        precise float v = x(x0 + j) * id + 16.5;
        q[j] = uint(min(31, int(v)));
    }
    packQ5(o, Q5_0_QH, Q5_0_QS, q);
#elif defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    float mn, mx;
    blockMinMax(x0, mn, mx);
#if defined(TYPE_Q4_1)
    precise float d = (mx - mn) / 15.0;
#else
    precise float d = (mx - mn) / 31.0;
#endif
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
    putU16(o + Q4_1_D, floatToHalf(floatBitsToUint(d)));  // Q5_1 has the same d, m offsets
    putU16(o + Q4_1_M, floatToHalf(floatBitsToUint(mn)));
#if defined(TYPE_Q4_1)
    for (uint j = 0u; j < 16u; ++j) {
        precise float v0 = (x(x0 + j) - mn) * id + 0.5;
        precise float v1 = (x(x0 + 16u + j) - mn) * id + 0.5;
        const uint q0 = uint(min(15, int(v0)));
        const uint q1 = uint(min(15, int(v1)));
        putByte(o + Q4_1_QS + j, q0 | (q1 << 4));
    }
#else
    uint q[32];
    for (uint j = 0u; j < 32u; ++j) {
        precise float v = (x(x0 + j) - mn) * id + 0.5;
        q[j] = uint(int(v)) & 0xffu;  // ggml's (uint8_t) cast, no clamp
    }
    packQ5(o, Q5_1_QH, Q5_1_QS, q);
#endif
#endif
}

void main() {
    const uint u = flatInvocation();
    if (u >= p.nUnits) return;
    for (uint w = 0u; w < UNIT_WORDS; ++w) outWords[w] = 0u;
    const uint first = u * BLOCKS_PER_UNIT;
    const uint nBlocks = min(BLOCKS_PER_UNIT, p.nItems - first);
    for (uint k = 0u; k < nBlocks; ++k) encodeBlock(first + k, k * BLOCK_BYTES);
    // Units start on word boundaries (BLOCK_BYTES * BLOCKS_PER_UNIT is a multiple of 4).
    const uint nWords = (nBlocks * BLOCK_BYTES + 3u) / 4u;
    for (uint w = 0u; w < nWords; ++w) dstWords[u * UNIT_WORDS + w] = outWords[w];
}

#endif
