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

#if defined(TYPE_IQ2_XXS) || defined(TYPE_IQ2_XS) || defined(TYPE_IQ2_S) || \
    defined(TYPE_IQ3_XXS) || defined(TYPE_IQ3_S) || defined(TYPE_IQ1_S) || defined(TYPE_IQ1_M)
// The type's codebook (core/formats/iq_grids.cpp) as little-endian words: a uint64 entry i
// (8 values) is words 2i, 2i + 1; a uint32 entry i (4 values) is word i. Uploaded by the host.
layout(std430, binding = 2) readonly buffer Table { uint tableWords[]; };
// Byte j of 8-value grid entry i (IQ2, IQ1; IQ1 bytes are signed).
uint grid8(uint i, uint j) { return (tableWords[2u * i + (j >> 2)] >> ((j & 3u) * 8u)) & 0xffu; }
// Byte j of 4-value grid entry i (IQ3).
uint grid4(uint i, uint j) { return (tableWords[i] >> (j * 8u)) & 0xffu; }
#endif

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

// Little-endian uint32 at any byte offset.
uint u32At(uint off) {
    return byteAt(off) | (byteAt(off + 1u) << 8) | (byteAt(off + 2u) << 16) |
           (byteAt(off + 3u) << 24);
}

// ggml's ksigns_iq2xs: 7 stored sign bits, the 8th makes the count of negatives even.
uint signsOf(uint index7) {
    const uint i = index7 & 127u;
    return i | ((uint(bitCount(i)) & 1u) << 7);
}

// FP4 (E2M1) magnitude doubled (ggml's kvalues_fp4 for nibbles 0-7): 0 1 2 3 4 6 8 12.
uint fp4Mag(uint n) { return n < 4u ? n : (4u + 2u * (n & 1u)) << ((n - 4u) >> 1); }

// mag * 2^p exactly, as the CPU's float(mag) * 2^p (mag <= 12 has at most two significant bits,
// so the product is exact down to p = -149 - 2; overflow gives inf). Built from bits so that
// a device that flushes denormals still gives MXFP4's tiny values (2^-128 scales).
float mulPow2(uint mag, int p) {
    if (mag == 0u) return 0.0;
    const uint fb = floatBitsToUint(float(mag));
    const int e = int(fb >> 23) + p;
    const uint man = fb & 0x7fffffu;
    if (e >= 255) return uintBitsToFloat(0x7f800000u);
    if (e >= 1) return uintBitsToFloat((uint(e) << 23) | man);
    const int shift = 1 - e;
    return shift > 24 ? 0.0 : uintBitsToFloat((man | 0x800000u) >> uint(shift));
}

// UE4M3 scale byte -> float halved (ggml's ggml_ue4m3_to_fp32 / 2); 0 and 0x7f give 0.
float ue4m3Half(uint x) {
    if (x == 0u || x == 0x7fu) return 0.0;
    const uint e = (x >> 3) & 15u, m = x & 7u;
    if (e == 0u) return float(m) * (1.0 / 1024.0);  // m * 2^-9 / 2, exact
    return uintBitsToFloat(((e + 119u) << 23) | (m << 20));  // (1 + m / 8) 2^(e - 7) / 2
}

// TQ1_0 trit k (0 = most significant) of a byte holding ceil(t * 256 / 243): ggml's uint8
// product by 3^k, then * 3 >> 8.
uint tq1Trit(uint byte_, uint k) {
    const uint pow3 = k == 0u ? 1u : k == 1u ? 3u : k == 2u ? 9u : k == 3u ? 27u : 81u;
    return (((byte_ * pow3) & 0xffu) * 3u) >> 8;
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

#elif defined(TYPE_IQ2_XXS)
    // Sub-block ib: 4 grid index bytes, then a uint32 of four 7-bit sign indices and a scale.
    const uint blk = u >> 3, ib = u & 7u;
    const uint b = blk * 66u;
    const float d = halfAt(b);
    const uint q8 = b + 2u + 8u * ib;
    const uint aux = u32At(q8 + 4u);
    precise float db = d * (0.5 + float(aux >> 28)) * 0.25;
    const uint y = u * 32u;
    for (uint l = 0u; l < 4u; ++l) {
        const uint signs = signsOf(aux >> (7u * l));
        const uint g = byteAt(q8 + l);
        for (uint j = 0u; j < 8u; ++j) {
            precise float v = db * float(grid8(g, j));
            put(y + 8u * l + j, ((signs >> j) & 1u) != 0u ? -v : v);
        }
    }

#elif defined(TYPE_IQ2_XS) || defined(TYPE_IQ2_S)
    const uint blk = u >> 3, ib = u & 7u;
#if defined(TYPE_IQ2_XS)
    const uint b = blk * 74u;
    const uint sc = byteAt(b + 66u + ib);
#else
    const uint b = blk * 82u;
    const uint sc = byteAt(b + 74u + ib);
    const uint qh = byteAt(b + 66u + ib);
#endif
    const float d = halfAt(b);
    precise float db0 = d * (0.5 + float(sc & 0x0fu)) * 0.25;
    precise float db1 = d * (0.5 + float(sc >> 4)) * 0.25;
    const uint y = u * 32u;
    for (uint l = 0u; l < 4u; ++l) {
#if defined(TYPE_IQ2_XS)
        const uint q = u16At(b + 2u + 2u * (4u * ib + l));
        const uint g = q & 511u;
        const uint signs = signsOf(q >> 9);
#else
        const uint g = byteAt(b + 2u + 4u * ib + l) | (((qh >> (2u * l)) & 3u) << 8);
        const uint signs = byteAt(b + 2u + 32u + 4u * ib + l);
#endif
        const float db = l < 2u ? db0 : db1;
        for (uint j = 0u; j < 8u; ++j) {
            precise float v = db * float(grid8(g, j));
            put(y + 8u * l + j, ((signs >> j) & 1u) != 0u ? -v : v);
        }
    }

#elif defined(TYPE_IQ3_XXS) || defined(TYPE_IQ3_S)
    const uint blk = u >> 3, ib = u & 7u;
#if defined(TYPE_IQ3_XXS)
    const uint b = blk * 98u;
    const float d = halfAt(b);
    const uint aux = u32At(b + 2u + 64u + 4u * ib);
    precise float db = d * (0.5 + float(aux >> 28)) * 0.5;
#else
    const uint b = blk * 110u;
    const float d = halfAt(b);
    const uint s = (byteAt(b + 106u + (ib >> 1)) >> (4u * (ib & 1u))) & 0x0fu;
    precise float db = d * float(1u + 2u * s);
    const uint qh = byteAt(b + 66u + ib);
#endif
    const uint qs = b + 2u + 8u * ib;
    const uint y = u * 32u;
    for (uint l = 0u; l < 4u; ++l) {
#if defined(TYPE_IQ3_XXS)
        const uint signs = signsOf(aux >> (7u * l));
        const uint g1 = byteAt(qs + 2u * l), g2 = byteAt(qs + 2u * l + 1u);
#else
        const uint signs = byteAt(b + 74u + 4u * ib + l);
        const uint g1 = byteAt(qs + 2u * l) | (((qh >> (2u * l)) & 1u) << 8);
        const uint g2 = byteAt(qs + 2u * l + 1u) | (((qh >> (2u * l + 1u)) & 1u) << 8);
#endif
        for (uint j = 0u; j < 4u; ++j) {
            precise float v1 = db * float(grid4(g1, j));
            precise float v2 = db * float(grid4(g2, j));
            put(y + 8u * l + j, ((signs >> j) & 1u) != 0u ? -v1 : v1);
            put(y + 8u * l + 4u + j, ((signs >> (j + 4u)) & 1u) != 0u ? -v2 : v2);
        }
    }

#elif defined(TYPE_IQ1_S) || defined(TYPE_IQ1_M)
    const uint blk = u >> 3, ib = u & 7u;
#if defined(TYPE_IQ1_S)
    const uint b = blk * 50u;
    const float d = halfAt(b);
    const uint qh = u16At(b + 34u + 2u * ib);
    precise float dl = d * float(2u * ((qh >> 12) & 7u) + 1u);
    const float delta = (qh & 0x8000u) != 0u ? -0.125 : 0.125;
    const uint qs = b + 2u + 4u * ib;
#else
    const uint b = blk * 56u;
    const uint sc0 = u16At(b + 48u), sc1 = u16At(b + 50u), sc2 = u16At(b + 52u),
               sc3 = u16At(b + 54u);
    const float d = halfToFloat((sc0 >> 12) | ((sc1 >> 8) & 0x00f0u) | ((sc2 >> 4) & 0x0f00u) |
                                (sc3 & 0xf000u));
    const uint sc = u16At(b + 48u + 2u * (ib >> 1));
    const uint shift = 6u * (ib & 1u);
    precise float dl1 = d * float(2u * ((sc >> shift) & 7u) + 1u);
    precise float dl2 = d * float(2u * ((sc >> (shift + 3u)) & 7u) + 1u);
    const uint qs = b + 4u * ib;
#endif
    const uint y = u * 32u;
    for (uint l = 0u; l < 4u; ++l) {
#if defined(TYPE_IQ1_S)
        const uint g = byteAt(qs + l) | (((qh >> (3u * l)) & 7u) << 8);
        const float scale = dl;
        const float dlt = delta;
#else
        const uint nib = (byteAt(b + 32u + 2u * ib + (l >> 1)) >> (4u * (l & 1u))) & 0x0fu;
        const uint g = byteAt(qs + l) | ((nib & 7u) << 8);
        const float scale = l < 2u ? dl1 : dl2;
        const float dlt = (nib & 8u) != 0u ? -0.125 : 0.125;
#endif
        for (uint j = 0u; j < 8u; ++j) {
            precise float v = scale * (float((int(grid8(g, j)) << 24) >> 24) + dlt);
            put(y + 8u * l + j, v);
        }
    }

#elif defined(TYPE_TQ1_0)
    // Value v of the block: qs[0..31] hold 0-159 (digit k of byte m is value 32 k + m),
    // qs[32..47] 160-239 (160 + 16 k + m), qh[0..3] 240-255 (240 + 4 k + m).
    const uint blk = u >> 3, g = u & 7u;
    const uint b = blk * 54u;
    const float d = halfAt(b + 52u);
    const uint y = u * 32u;
    for (uint j = 0u; j < 32u; ++j) {
        const uint v = 32u * g + j;
        uint byte_, k;
        if (v < 160u) {
            byte_ = byteAt(b + (v & 31u));
            k = v >> 5;
        } else if (v < 240u) {
            byte_ = byteAt(b + 32u + ((v - 160u) & 15u));
            k = (v - 160u) >> 4;
        } else {
            byte_ = byteAt(b + 48u + ((v - 240u) & 3u));
            k = (v - 240u) >> 2;
        }
        put(y + j, float(int(tq1Trit(byte_, k)) - 1) * d);
    }

#elif defined(TYPE_TQ2_0)
    // Bit pair l of byte 32 h + m is value 128 h + 32 l + m: slice g is h = g / 4, l = g % 4.
    const uint blk = u >> 3, g = u & 7u;
    const uint b = blk * 66u;
    const float d = halfAt(b + 64u);
    const uint qs = b + 32u * (g >> 2), shift = 2u * (g & 3u);
    const uint y = u * 32u;
    for (uint m = 0u; m < 32u; ++m) {
        put(y + m, float(int((byteAt(qs + m) >> shift) & 3u) - 1) * d);
    }

#elif defined(TYPE_MXFP4)
    // x = fp4x2[nibble] * 2^(e - 128), computed exactly from bits (see mulPow2).
    const uint b = u * 17u;
    const int p = int(byteAt(b)) - 128;
    const uint y = u * 32u;
    for (uint j = 0u; j < 16u; ++j) {
        const uint q = byteAt(b + 1u + j);
        const uint lo = q & 0x0fu, hi = q >> 4;
        const float v0 = mulPow2(fp4Mag(lo & 7u), p);
        const float v1 = mulPow2(fp4Mag(hi & 7u), p);
        // kvalues_fp4 holds 0 (not -0) for nibble 8.
        put(y + j, (lo & 8u) != 0u && lo != 8u ? -v0 : v0);
        put(y + j + 16u, (hi & 8u) != 0u && hi != 8u ? -v1 : v1);
    }

#elif defined(TYPE_NVFP4)
    // Unit u: sub-blocks 2 (u % 2) and 2 (u % 2) + 1 of block u / 2.
    const uint blk = u >> 1;
    const uint b = blk * 36u;
    const uint y = u * 32u;
    for (uint t = 0u; t < 2u; ++t) {
        const uint s = 2u * (u & 1u) + t;
        const float d = ue4m3Half(byteAt(b + s));
        for (uint j = 0u; j < 8u; ++j) {
            const uint q = byteAt(b + 4u + 8u * s + j);
            const uint lo = q & 0x0fu, hi = q >> 4;
            // kvalues_fp4 holds 0 (not -0) for nibble 8: float(0) * d is +0.
            const float m0 = float(fp4Mag(lo & 7u)), m1 = float(fp4Mag(hi & 7u));
            put(y + 16u * t + j, ((lo & 8u) != 0u && lo != 8u ? -m0 : m0) * d);
            put(y + 16u * t + 8u + j, ((hi & 8u) != 0u && hi != 8u ? -m1 : m1) * d);
        }
    }

#elif defined(TYPE_Q1_0)
    // Unit u: values 32 (u % 4) .. of block u / 4; bit j in bit j % 8 of byte j / 8.
    const uint blk = u >> 2;
    const uint b = blk * 18u;
    const float d = halfAt(b);
    const uint qs = b + 2u + 4u * (u & 3u);
    const uint y = u * 32u;
    for (uint j = 0u; j < 32u; ++j) {
        put(y + j, ((byteAt(qs + (j >> 3)) >> (j & 7u)) & 1u) != 0u ? d : -d);
    }

#elif defined(TYPE_Q2_0)
    // Unit u: values 32 (u % 2) .. of block u / 2; value j in bits 2 (j % 4) of byte j / 4.
    const uint blk = u >> 1;
    const uint b = blk * 18u;
    const float d = halfAt(b);
    const uint qs = b + 2u + 8u * (u & 1u);
    const uint y = u * 32u;
    for (uint j = 0u; j < 32u; ++j) {
        const uint q = (byteAt(qs + (j >> 2)) >> (2u * (j & 3u))) & 3u;
        put(y + j, float(int(q) - 1) * d);
    }

#else
#error "decode.comp: define one TYPE_<name>"
#endif
}
