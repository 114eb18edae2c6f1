#version 450
// Encode (float32 -> bytes) of the round-to-nearest low-bit types: TQ1_0, TQ2_0, MXFP4, NVFP4,
// Q1_0 and Q2_0, chosen with -DTYPE_<name>. Byte-identical to core/formats/encode_ternary_fp4.cpp
// (itself byte-identical to ggml's quantize_row_*_ref): the same float operations in the same
// order, `precise` so nothing is fused or reassociated, divisions kept as divisions, integer
// packing with ggml's uint8 wrap-arounds, fp16 scales through common.glsl's integer floatToHalf.
//
// The host sends only input whose non-zero magnitudes are at least 2^-100 (smaller ones go to
// the CPU), so no scale or intermediate is an fp32 denormal and a device that flushes
// denormals gives the same bytes. The CPU's branches for an infinite 1/d are then unreachable.
//
// MXFP4's scale needs floor(log2f(amax)) exactly as the C library computes it (log2f may round
// up to the next integer just below a power of two): binding 2 holds, per float exponent, the
// first bit pattern whose floor(log2f) is one more (words 0-255 by biased exponent, 256-278 by
// the leading bit of a denormal), built by the host with the same log2f.
//
// Invocation i writes BLOCKS_PER_UNIT whole blocks, a whole number of words, as encode.comp.

#extension GL_GOOGLE_include_directive : require

#include "common.glsl"

layout(std430, binding = 0) readonly buffer Src { uint srcWords[]; };  // float bits
layout(std430, binding = 1) writeonly buffer Dst { uint dstWords[]; };
#if defined(TYPE_MXFP4)
layout(std430, binding = 2) readonly buffer Table { uint log2Threshold[]; };
#endif

layout(push_constant) uniform Params {
    uint nUnits;  // invocations with work
    uint nItems;  // blocks in this chunk
} p;

#if defined(TYPE_TQ1_0)
#define BLOCK_BYTES 54u
#define BLOCK_VALUES 256u
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_TQ2_0)
#define BLOCK_BYTES 66u
#define BLOCK_VALUES 256u
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_MXFP4)
#define BLOCK_BYTES 17u
#define BLOCK_VALUES 32u
#define BLOCKS_PER_UNIT 4u
#elif defined(TYPE_NVFP4)
#define BLOCK_BYTES 36u
#define BLOCK_VALUES 64u
#define BLOCKS_PER_UNIT 1u
#elif defined(TYPE_Q1_0)
#define BLOCK_BYTES 18u
#define BLOCK_VALUES 128u
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_Q2_0)
#define BLOCK_BYTES 18u
#define BLOCK_VALUES 64u
#define BLOCKS_PER_UNIT 2u
#else
#error "encode_lowbit.comp: define one TYPE_<name>"
#endif

#define UNIT_WORDS ((BLOCK_BYTES * BLOCKS_PER_UNIT + 3u) / 4u)

uint outWords[UNIT_WORDS];

float x(uint i) { return uintBitsToFloat(srcWords[i]); }
void putByte(uint off, uint v) { outWords[off >> 2] |= (v & 0xffu) << ((off & 3u) * 8u); }
void putHalf(uint off, float v) {  // off is even
    const uint h = floatToHalf(floatBitsToUint(v));
    putByte(off, h);
    putByte(off + 1u, h >> 8);
}

// Largest |x| of n values from x0: the max of the magnitudes' bit patterns (as the CPU).
float absMax(uint x0, uint n) {
    uint m = 0u;
    for (uint j = 0u; j < n; ++j) m = max(m, srcWords[x0 + j] & 0x7fffffffu);
    return uintBitsToFloat(m);
}

// Ternary digit 0, 1, 2 of x / d for |x * id| < 1.5: round half away from zero, plus one.
uint tritOf(float xv, float id) {
    precise float v = xv * id;
    return uint(1 + int(v >= 0.5) - int(v <= -0.5));
}

// ceil(q * 256 / 243) as a byte: ggml's storage of a 5-trit number.
uint packTrits(uint q) { return ((q * 256u + 242u) / 243u) & 0xffu; }

#if defined(TYPE_MXFP4) || defined(TYPE_NVFP4)
// FP4 magnitude doubled (kvalues_fp4 0-7): 0 1 2 3 4 6 8 12.
uint fp4Mag(uint n) { return n < 4u ? n : (4u + 2u * (n & 1u)) << ((n - 4u) >> 1); }

// ggml's best_index_mxfp4 as the CPU evaluates it: nearest of entries 0..7 times e to |x|
// (first on ties, strict comparison), mapped to 8 + m for negative x (see nearestFp4x4).
uint nearestFp4(float xv, float e) {
    const float ax = abs(xv);
    float best = ax;
    uint at = 0u;
    for (uint i = 1u; i < 8u; ++i) {
        precise float prod = float(fp4Mag(i)) * e;
        precise float diff = prod - ax;
        const float err = abs(diff);
        if (err < best) {
            best = err;
            at = i;
        }
    }
    return xv < 0.0 && at != 0u ? at + 8u : at;
}
#endif

#if defined(TYPE_NVFP4)
uint toUe4m3(float v) {
    if (!(v > 0.0)) return 0u;
    if (v > 448.0) v = 448.0;
    const uint bits = floatBitsToUint(v);
    const int fexp = int((bits >> 23) & 0xffu) - 127;
    const int fman = int((bits >> 20) & 7u);
    int e = fexp + 7;
    if (e <= 0) {
        precise float scaled = v * 512.0 + 0.5;
        int man = int(scaled);
        if (man > 7) man = 7;
        if (man < 1) return 0u;
        return uint(man);
    }
    if (e >= 15) return 0x7eu;
    int m = fman + int((bits >> 19) & 1u);
    if (m > 7) {
        m = 0;
        ++e;
        if (e >= 15) return 0x7eu;
    }
    return uint((e << 3) | m);
}

float ue4m3Half(uint x8) {
    if (x8 == 0u || x8 == 0x7fu) return 0.0;
    const uint e = (x8 >> 3) & 15u, m = x8 & 7u;
    if (e == 0u) return float(m) * (1.0 / 1024.0);
    return uintBitsToFloat(((e + 119u) << 23) | (m << 20));
}
#endif

void encodeBlock(uint blk, uint o) {
    const uint x0 = blk * BLOCK_VALUES;
#if defined(TYPE_TQ1_0) || defined(TYPE_TQ2_0)
    const float d = absMax(x0, 256u);
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
#if defined(TYPE_TQ1_0)
    for (uint m = 0u; m < 32u; ++m) {
        uint q = 0u;
        for (uint k = 0u; k < 5u; ++k) q = (q * 3u + tritOf(x(x0 + m + 32u * k), id)) & 0xffu;
        putByte(o + m, packTrits(q));
    }
    for (uint m = 0u; m < 16u; ++m) {
        uint q = 0u;
        for (uint k = 0u; k < 5u; ++k) {
            q = (q * 3u + tritOf(x(x0 + 160u + m + 16u * k), id)) & 0xffu;
        }
        putByte(o + 32u + m, packTrits(q));
    }
    for (uint j = 0u; j < 4u; ++j) {
        uint q = 0u;
        for (uint m = 0u; m < 4u; ++m) {
            q = (q * 3u + tritOf(x(x0 + 240u + j + 4u * m), id)) & 0xffu;
        }
        q = (q * 3u) & 0xffu;
        putByte(o + 48u + j, packTrits(q));
    }
    putHalf(o + 52u, d);
#else
    for (uint h = 0u; h < 2u; ++h) {
        for (uint m = 0u; m < 32u; ++m) {
            uint q = 0u;
            for (uint k = 0u; k < 4u; ++k) {
                q += (tritOf(x(x0 + 128u * h + m + 32u * k), id) & 3u) << (2u * k);
            }
            putByte(o + 32u * h + m, q);
        }
    }
    putHalf(o + 64u, d);
#endif

#elif defined(TYPE_MXFP4)
    const float amax = absMax(x0, 32u);
    uint e = 0u;
    if (amax > 0.0) {
        // floor(log2f(amax)): the exponent, plus one from the host's threshold on.
        const uint bits = floatBitsToUint(amax);
        const uint be = bits >> 23;
        int fl;
        uint thr;
        if (be > 0u) {
            fl = int(be) - 127;
            thr = log2Threshold[be];
        } else {
            const int lead = findMSB(bits);
            fl = lead - 149;
            thr = log2Threshold[256u + uint(lead)];
        }
        if (bits >= thr) ++fl;
        e = uint(fl - 2 + 127) & 0xffu;  // ggml's int -> uint8_t wrap
    }
    // 2^(e - 128), ggml's GGML_E8M0_TO_FP32_HALF.
    const float d = uintBitsToFloat(e < 2u ? (0x00200000u << e) : ((e - 1u) << 23));
    putByte(o, e);
    for (uint j = 0u; j < 16u; ++j) {
        putByte(o + 1u + j, nearestFp4(x(x0 + j), d) | (nearestFp4(x(x0 + 16u + j), d) << 4));
    }

#elif defined(TYPE_NVFP4)
    for (uint s = 0u; s < 4u; ++s) {
        const uint xs = x0 + 16u * s;
        precise float scaled = absMax(xs, 16u) / 6.0;
        const uint ue = toUe4m3(scaled);
        putByte(o + s, ue);
        const float d = ue4m3Half(ue);
        for (uint j = 0u; j < 8u; ++j) {
            putByte(o + 4u + 8u * s + j,
                    nearestFp4(x(xs + j), d) | (nearestFp4(x(xs + 8u + j), d) << 4));
        }
    }

#elif defined(TYPE_Q1_0)
    precise float sumAbs = 0.0;
    for (uint j = 0u; j < 128u; ++j) sumAbs = sumAbs + abs(x(x0 + j));
    precise float d = sumAbs / 128.0;
    putHalf(o, d);
    for (uint b = 0u; b < 16u; ++b) {
        uint byte_ = 0u;
        for (uint k = 0u; k < 8u; ++k) byte_ |= uint(x(x0 + 8u * b + k) >= 0.0) << k;
        putByte(o + 2u + b, byte_);
    }

#elif defined(TYPE_Q2_0)
    float amax = 0.0;
    for (uint j = 0u; j < 64u; ++j) {
        const float a = abs(x(x0 + j));
        if (a > amax) amax = a;
    }
    const float d = amax;
    precise float id = d > 0.0 ? 1.0 / d : 0.0;
    putHalf(o, d);
    for (uint b = 0u; b < 16u; ++b) {
        uint byte_ = 0u;
        for (uint k = 0u; k < 4u; ++k) byte_ |= min(tritOf(x(x0 + 4u * b + k), id), 3u) << (2u * k);
        putByte(o + 2u + b, byte_);
    }
#endif
}

void main() {
    const uint u = flatInvocation();
    if (u >= p.nUnits) return;
    for (uint w = 0u; w < UNIT_WORDS; ++w) outWords[w] = 0u;
    const uint first = u * BLOCKS_PER_UNIT;
    const uint nBlocks = min(BLOCKS_PER_UNIT, p.nItems - first);
    for (uint k = 0u; k < nBlocks; ++k) encodeBlock(first + k, k * BLOCK_BYTES);
    const uint nWords = (nBlocks * BLOCK_BYTES + 3u) / 4u;
    for (uint w = 0u; w < nWords; ++w) dstWords[u * UNIT_WORDS + w] = outWords[w];
}
