#version 450
// Decode (bytes -> float32) of one tensor type, chosen at compile time with -DTYPE_<name>.
//
// Bit-identity with the CPU decoders (core/formats/*.cpp, themselves bit-exact with ggml's
// dequantize_row_*): every value is computed with the same float operations in the same order.
// Results are declared `precise` so the compiler may not contract a * b - c into an fma (that
// would skip a rounding and change the last bit). Integer parts are exact on any device.
//
// Input: the blocks of the chunk back to back, read as bytes out of uint words (blocks are not
// 4-byte aligned). Output: one float per value, stored as its bit pattern.
// Invocation i decodes "unit" i: 32 values (a legacy block, or a 32-value slice of a K-quant
// super-block), or 8 values of a plain type.

#extension GL_GOOGLE_include_directive : require

#include "common.glsl"
#include "types.glsl"

layout(std430, binding = 0) readonly buffer Src { uint srcWords[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dstWords[]; };

layout(push_constant) uniform Params {
    uint nUnits;   // invocations with work
    uint nValues;  // values in this chunk (bounds plain types' last unit)
} p;

uint byteAt(uint off) { return (srcWords[off >> 2] >> ((off & 3u) * 8u)) & 0xffu; }
// Little-endian uint16 at an even offset (all fp16 fields are at even offsets).
uint u16At(uint off) { return (srcWords[off >> 2] >> ((off & 2u) * 8u)) & 0xffffu; }
float halfAt(uint off) { return halfToFloat(u16At(off)); }
int i8At(uint off) { return (int(byteAt(off)) << 24) >> 24; }

void put(uint idx, float v) { dstWords[idx] = floatBitsToUint(v); }

// Q4_K / Q5_K packed 6-bit scale and min of sub-block j (scaleMinK4 in kquants.cpp).
void scaleMinK4(uint base, uint j, out uint sc, out uint m) {
    if (j < 4u) {
        sc = byteAt(base + j) & 63u;
        m = byteAt(base + j + 4u) & 63u;
    } else {
        sc = (byteAt(base + j + 4u) & 0x0fu) | ((byteAt(base + j - 4u) >> 6) << 4);
        m = (byteAt(base + j + 4u) >> 4) | ((byteAt(base + j) >> 6) << 4);
    }
}

void main() {
    const uint u = flatInvocation();
    if (u >= p.nUnits) return;

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
    for (uint k = 0u; k < 8u; ++k) {
        const uint i = u * 8u + k;
        if (i >= p.nValues) return;
#if defined(TYPE_F32)
        dstWords[i] = srcWords[i];  // bit copy: NaN payloads and denormals survive
#elif defined(TYPE_F16)
        dstWords[i] = floatBitsToUint(halfToFloat(u16At(2u * i)));
#else
        dstWords[i] = u16At(2u * i) << 16;
#endif
    }

#elif defined(TYPE_Q4_0) || defined(TYPE_IQ4_NL)
    const uint b = u * Q4_0_BYTES;  // IQ4_NL has Q4_0's layout
    const float d = halfAt(b + Q4_0_D);
    const uint y = u * QK32;
    for (uint j = 0u; j < 16u; ++j) {
        const uint q = byteAt(b + Q4_0_QS + j);
#if defined(TYPE_Q4_0)
        put(y + j, float(int(q & 0x0fu) - 8) * d);
        put(y + j + 16u, float(int(q >> 4) - 8) * d);
#else
        put(y + j, d * float(kvalues_iq4nl[q & 0x0fu]));
        put(y + j + 16u, d * float(kvalues_iq4nl[q >> 4]));
#endif
    }

#elif defined(TYPE_Q4_1)
    const uint b = u * Q4_1_BYTES;
    const float d = halfAt(b + Q4_1_D);
    const float m = halfAt(b + Q4_1_M);
    const uint y = u * QK32;
    for (uint j = 0u; j < 16u; ++j) {
        const uint q = byteAt(b + Q4_1_QS + j);
        precise float v0 = float(q & 0x0fu) * d + m;
        precise float v1 = float(q >> 4) * d + m;
        put(y + j, v0);
        put(y + j + 16u, v1);
    }

#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#if defined(TYPE_Q5_0)
    const uint b = u * Q5_0_BYTES;
    const uint qhOff = b + Q5_0_QH, qsOff = b + Q5_0_QS;
    const float d = halfAt(b + Q5_0_D);
#else
    const uint b = u * Q5_1_BYTES;
    const uint qhOff = b + Q5_1_QH, qsOff = b + Q5_1_QS;
    const float d = halfAt(b + Q5_1_D);
    const float m = halfAt(b + Q5_1_M);
#endif
    const uint qh = byteAt(qhOff) | (byteAt(qhOff + 1u) << 8) | (byteAt(qhOff + 2u) << 16) |
                    (byteAt(qhOff + 3u) << 24);
    const uint y = u * QK32;
    for (uint j = 0u; j < 16u; ++j) {
        const uint q = byteAt(qsOff + j);
        const uint q0 = (q & 0x0fu) | (((qh >> j) & 1u) << 4);
        const uint q1 = (q >> 4) | (((qh >> (j + 16u)) & 1u) << 4);
#if defined(TYPE_Q5_0)
        put(y + j, float(int(q0) - 16) * d);
        put(y + j + 16u, float(int(q1) - 16) * d);
#else
        precise float v0 = float(q0) * d + m;
        precise float v1 = float(q1) * d + m;
        put(y + j, v0);
        put(y + j + 16u, v1);
#endif
    }

#elif defined(TYPE_Q8_0)
    const uint b = u * Q8_0_BYTES;
    const float d = halfAt(b + Q8_0_D);
    const uint y = u * QK32;
    for (uint j = 0u; j < 32u; ++j) put(y + j, float(i8At(b + Q8_0_QS + j)) * d);

#elif defined(TYPE_Q2_K)
    // Slice g of 32 values: bit pair `shift` of the 32 qs bytes of half g / 4; sub-blocks of 16
    // (two per slice) each with a 4-bit scale and a 4-bit min.
    const uint blk = u >> 3, g = u & 7u;
    const uint b = blk * Q2_K_BYTES;
    const float d = halfAt(b + Q2_K_D);
    const float dmin = halfAt(b + Q2_K_DMIN);
    const uint half_ = g >> 2, shift = 2u * (g & 3u);
    const uint y = u * 32u;
    for (uint part = 0u; part < 2u; ++part) {
        const uint sc = byteAt(b + Q2_K_SCALES + 2u * g + part);
        const float dl = d * float(sc & 0x0fu);
        const float ml = dmin * float(sc >> 4);
        const uint qq = b + Q2_K_QS + 32u * half_ + 16u * part;
        for (uint l = 0u; l < 16u; ++l) {
            precise float v = dl * float((byteAt(qq + l) >> shift) & 3u) - ml;
            put(y + 16u * part + l, v);
        }
    }

#elif defined(TYPE_Q3_K)
    const uint blk = u >> 3, g = u & 7u;
    const uint b = blk * Q3_K_BYTES;
    const float dAll = halfAt(b + Q3_K_D);
    const uint half_ = g >> 2, shift = 2u * (g & 3u), bit = g;
    const uint y = u * 32u;
    for (uint part = 0u; part < 2u; ++part) {
        const uint s = 2u * g + part;  // sub-block of 16 values: its 6-bit scale
        const uint lo = s < 8u ? (byteAt(b + Q3_K_SCALES + s) & 0x0fu)
                               : (byteAt(b + Q3_K_SCALES + s - 8u) >> 4);
        const uint hi = (byteAt(b + Q3_K_SCALES + 8u + (s & 3u)) >> (2u * (s >> 2))) & 3u;
        const float dl = dAll * float(int(lo | (hi << 4)) - 32);
        const uint qq = b + Q3_K_QS + 32u * half_ + 16u * part;
        const uint hm = b + Q3_K_HMASK + 16u * part;
        for (uint l = 0u; l < 16u; ++l) {
            const int v = int((byteAt(qq + l) >> shift) & 3u) -
                          (((byteAt(hm + l) >> bit) & 1u) != 0u ? 0 : 4);
            put(y + 16u * part + l, dl * float(v));
        }
    }

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    // Slice g is sub-block g: low (g even) or high (g odd) nibbles of qs[32 * (g / 2) ...].
    const uint blk = u >> 3, g = u & 7u;
#if defined(TYPE_Q4_K)
    const uint b = blk * Q4_K_BYTES;
    const uint qsOff = b + Q4_K_QS + 32u * (g >> 1);
#else
    const uint b = blk * Q5_K_BYTES;
    const uint qsOff = b + Q5_K_QS + 32u * (g >> 1);
#endif
    const float d = halfAt(b + Q4_K_D);      // Q5_K has the same d, dmin, scales offsets
    const float dmin = halfAt(b + Q4_K_DMIN);
    uint sc, m;
    scaleMinK4(b + Q4_K_SCALES, g, sc, m);
    const float d1 = d * float(sc);
    const float m1 = dmin * float(m);
    const uint nibbleShift = 4u * (g & 1u);
    const uint y = u * 32u;
    for (uint l = 0u; l < 32u; ++l) {
        uint q = (byteAt(qsOff + l) >> nibbleShift) & 0x0fu;
#if defined(TYPE_Q5_K)
        q |= ((byteAt(b + Q5_K_QH + l) >> g) & 1u) << 4;
#endif
        precise float v = d1 * float(q) - m1;
        put(y + l, v);
    }

#elif defined(TYPE_Q6_K)
    // Slice g: column g % 4 of half g / 4 (see decodeQ6_K).
    const uint blk = u >> 3, g = u & 7u;
    const uint b = blk * Q6_K_BYTES;
    const float d = halfAt(b + Q6_K_D);
    const uint half_ = g >> 2, col = g & 3u;
    const uint lo = b + Q6_K_QL + 64u * half_ + 32u * (col & 1u);
    const uint qh = b + Q6_K_QH + 32u * half_;
    const uint nibbleShift = 4u * (col >> 1), hiShift = 2u * col;
    const uint y = u * 32u;
    for (uint gg = 0u; gg < 2u; ++gg) {
        const float ds = d * float(i8At(b + Q6_K_SCALES + 8u * half_ + 2u * col + gg));
        for (uint l = 16u * gg; l < 16u * gg + 16u; ++l) {
            const uint q = ((byteAt(lo + l) >> nibbleShift) & 0x0fu) |
                           (((byteAt(qh + l) >> hiShift) & 3u) << 4);
            put(y + l, ds * float(int(q) - 32));
        }
    }

#elif defined(TYPE_IQ4_XS)
    const uint blk = u >> 3, ib = u & 7u;
    const uint b = blk * IQ4_XS_BYTES;
    const float d = halfAt(b + IQ4_XS_D);
    const uint scalesH = u16At(b + IQ4_XS_SCALES_H);
    const uint ls = ((byteAt(b + IQ4_XS_SCALES_L + (ib >> 1)) >> (4u * (ib & 1u))) & 0x0fu) |
                    (((scalesH >> (2u * ib)) & 3u) << 4);
    const float dl = d * float(int(ls) - 32);
    const uint qs = b + IQ4_XS_QS + 16u * ib;
    const uint y = u * 32u;
    for (uint j = 0u; j < 16u; ++j) {
        const uint q = byteAt(qs + j);
        put(y + j, dl * float(kvalues_iq4nl[q & 0x0fu]));
        put(y + j + 16u, dl * float(kvalues_iq4nl[q >> 4]));
    }

#else
#error "decode.comp: define one TYPE_<name>"
#endif
}
