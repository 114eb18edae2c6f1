#version 450
// Encode (float32 -> bytes) of the K-quants (Q2_K ... Q6_K) and the non-linear 4-bit quants
// (IQ4_NL, IQ4_XS), with or without importance weights, and of the legacy quants with
// importance (TYPE_Q4_0W ... TYPE_Q5_1W: ggml's quantize_row_q4_0_impl ... q5_1_impl, whose
// sigma2 is a row-wide mean square that the host computes with the CPU's code and appends to
// the importance binding); the type is chosen with -DTYPE_<name>.
//
// A GLSL mirror of core/formats/encode_kquants.cpp and encode_iq4.cpp (their reference paths,
// which the CPU's fast paths reproduce bit for bit), hence of ggml's quantize_row_*_ref and
// quantize_row_*_impl: every float operation in the CPU's order, every float variable
// `precise` (so no a * b + c is fused into an fma), divisions kept as divisions, the CPU's
// nearest_int (the 1.5 * 2^23 trick, exact for the magnitudes that occur) and C's truncating
// int8/uint8 casts as masks.
//
// One invocation encodes one unit: one super-block (two blocks for the 110- and 210-byte
// Q3_K/Q6_K and the 18-byte IQ4_NL, so that a unit is whole words). Bytes are assembled in a
// private array and stored word by word.
//
// Bindings: 0 the chunk's floats, 1 the chunk's bytes, 2 the importance of one row (rowLength
// floats; a dummy word when there is none; for the legacy types followed by each row's sigma2).
// The importance column of a block follows from the block's index in its row:
// (firstBlockInRow + block) % blocksPerRow.

#extension GL_GOOGLE_include_directive : require

#include "common.glsl"
#include "types.glsl"

layout(std430, binding = 0) readonly buffer Src { uint srcWords[]; };  // float bits
layout(std430, binding = 1) writeonly buffer Dst { uint dstWords[]; };
layout(std430, binding = 2) readonly buffer Imp { float impValues[]; };

layout(push_constant) uniform Params {
    uint nUnits;           // invocations with work
    uint nItems;           // blocks in this chunk
    uint blocksPerRow;     // blocks in one row of the tensor
    uint firstBlockInRow;  // index in its row of the chunk's first block
    uint hasImportance;    // 1 when binding 2 holds the row's importance
    uint firstRow;         // row of the chunk's first block (legacy types: sigma2 index)
} p;

#if defined(TYPE_Q2_K)
#define BLOCK_BYTES Q2_K_BYTES
#define BLOCK_VALUES QK_K
#define BLOCKS_PER_UNIT 1u
#elif defined(TYPE_Q3_K)
#define BLOCK_BYTES Q3_K_BYTES
#define BLOCK_VALUES QK_K
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_Q4_K)
#define BLOCK_BYTES Q4_K_BYTES
#define BLOCK_VALUES QK_K
#define BLOCKS_PER_UNIT 1u
#define K4_NMAX 15
#elif defined(TYPE_Q5_K)
#define BLOCK_BYTES Q5_K_BYTES
#define BLOCK_VALUES QK_K
#define BLOCKS_PER_UNIT 1u
#define K4_NMAX 31
#elif defined(TYPE_Q6_K)
#define BLOCK_BYTES Q6_K_BYTES
#define BLOCK_VALUES QK_K
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_IQ4_NL)
#define BLOCK_BYTES IQ4_NL_BYTES
#define BLOCK_VALUES QK32
#define BLOCKS_PER_UNIT 2u
#elif defined(TYPE_IQ4_XS)
#define BLOCK_BYTES IQ4_XS_BYTES
#define BLOCK_VALUES QK_K
#define BLOCKS_PER_UNIT 1u
#elif defined(TYPE_Q4_0W)
#define BLOCK_BYTES Q4_0_BYTES
#define BLOCK_VALUES QK32
#define BLOCKS_PER_UNIT 2u
#define LEGACY_WEIGHTED
#elif defined(TYPE_Q4_1W)
#define BLOCK_BYTES Q4_1_BYTES
#define BLOCK_VALUES QK32
#define BLOCKS_PER_UNIT 1u
#define LEGACY_WEIGHTED
#elif defined(TYPE_Q5_0W)
#define BLOCK_BYTES Q5_0_BYTES
#define BLOCK_VALUES QK32
#define BLOCKS_PER_UNIT 2u
#define LEGACY_WEIGHTED
#elif defined(TYPE_Q5_1W)
#define BLOCK_BYTES Q5_1_BYTES
#define BLOCK_VALUES QK32
#define BLOCKS_PER_UNIT 1u
#define LEGACY_WEIGHTED
#else
#error "encode_k.comp: define one TYPE_<name>"
#endif

#define UNIT_BYTES (BLOCK_BYTES * BLOCKS_PER_UNIT)
#define UNIT_WORDS ((UNIT_BYTES + 3u) / 4u)

const float kGroupMaxEps = 1e-15;

// ------------------------------------------------------------------------------------------
// Per-invocation state. GLSL has no pointers, so the searches work on fixed private arrays:
// SX/SW (values and weights of one group, n <= 32) -> SL (levels); L holds a block's levels.
// ------------------------------------------------------------------------------------------
uint ob[UNIT_BYTES];  // the unit's output bytes
uint xBase;           // first float of the current block in srcWords
uint impBase;         // first importance value of the current block
bool useImp;
float SX[32];
float SW[32];
int SL[32];
int Laux[32];
int L[256];

float X(uint i) { return uintBitsToFloat(srcWords[xBase + i]); }
float QW(uint i) { return impValues[impBase + i]; }

void putByte(uint off, uint v) { ob[off] = v & 0xffu; }
void orByte(uint off, uint v) { ob[off] |= v & 0xffu; }
void putU16(uint off, uint v) {
    putByte(off, v);
    putByte(off + 1u, v >> 8);
}
uint getU16(uint off) { return ob[off] | (ob[off + 1u] << 8); }
uint halfBits(float v) { return floatToHalf(floatBitsToUint(v)); }

// a / b as a true division. Every division must be `precise` (NoContraction): otherwise the
// driver may rewrite a division by a constant as a multiplication by its rounded reciprocal
// (Mesa's NIR does, on lavapipe), which is one rounding too many.
float divide(float a, float b) {
    precise float r = a / b;
    return r;
}
// ggml's `suml2 > 0 ? sumlx / suml2 : 0`.
float ratioOrZero(float num, float den) { return den > 0.0 ? divide(num, den) : 0.0; }

// The CPU's nearestInt: round to nearest even through the 1.5 * 2^23 bias.
int nearestInt(float v) {
    precise float biased = v + 12582912.0;
    return int(floatBitsToUint(biased) & 0x7fffffu) - 0x400000;
}

// The value of largest magnitude of SX[0..n) (the first on ties, with its sign); amax its
// magnitude.
float valueOfLargestMagnitude(int n, out float amax) {
    float mx = 0.0;
    amax = 0.0;
    for (int i = 0; i < n; ++i) {
        const float ax = abs(SX[i]);
        if (ax > amax) {
            amax = ax;
            mx = SX[i];
        }
    }
    return mx;
}

#if defined(TYPE_Q2_K) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K) || defined(TYPE_Q4_1W) || \
    defined(TYPE_Q5_1W)
// searchScaleMinRef (ggml's make_qkx2/qkx3_quants) over SX/SW -> SL; returns the scale.
float searchScaleMin(int n, int nmax, float rmin, float rdelta, int nstep, bool useMad,
                     out float negMin) {
    precise float mn = SX[0];
    precise float mx = SX[0];
    precise float sumW = SW[0];
    precise float sumX = SW[0] * SX[0];
    for (int i = 1; i < n; ++i) {
        if (SX[i] < mn) mn = SX[i];
        if (SX[i] > mx) mx = SX[i];
        sumW += SW[i];
        sumX += SW[i] * SX[i];
    }
    if (mn > 0.0) mn = 0.0;
    if (mx == mn) {
        for (int i = 0; i < n; ++i) SL[i] = 0;
        negMin = -mn;
        return 0.0;
    }
    precise float iscale0 = float(nmax) / (mx - mn);
    precise float scale = 1.0 / iscale0;
    precise float bestError = 0.0;
    for (int i = 0; i < n; ++i) {
        precise float t = iscale0 * (SX[i] - mn);
        SL[i] = clamp(nearestInt(t), 0, nmax);
        precise float diff = scale * float(SL[i]) + mn - SX[i];
        diff = useMad ? abs(diff) : diff * diff;
        bestError += SW[i] * diff;
    }
    if (nstep < 1) {
        negMin = -mn;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        precise float iscale = (rmin + rdelta * float(is) + float(nmax)) / (mx - mn);
        precise float sumL = 0.0;
        precise float sumL2 = 0.0;
        precise float sumXL = 0.0;
        for (int i = 0; i < n; ++i) {
            precise float t = iscale * (SX[i] - mn);
            const int l = clamp(nearestInt(t), 0, nmax);
            Laux[i] = l;
            sumL += SW[i] * float(l);
            sumL2 += SW[i] * float(l) * float(l);
            sumXL += SW[i] * float(l) * SX[i];
        }
        precise float D = sumW * sumL2 - sumL * sumL;
        if (D > 0.0) {
            precise float thisScale = (sumW * sumXL - sumX * sumL) / D;
            precise float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
            if (thisMin > 0.0) {
                thisMin = 0.0;
                thisScale = sumXL / sumL2;
            }
            precise float err = 0.0;
            for (int i = 0; i < n; ++i) {
                precise float diff = thisScale * float(Laux[i]) + thisMin - SX[i];
                diff = useMad ? abs(diff) : diff * diff;
                err += SW[i] * diff;
            }
            if (err < bestError) {
                for (int i = 0; i < n; ++i) SL[i] = Laux[i];
                bestError = err;
                scale = thisScale;
                mn = thisMin;
            }
        }
    }
    negMin = -mn;
    return scale;
}
#endif

#if defined(TYPE_Q2_K) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// fitPositiveScales (ggml's make_qp_quants) over SX/SW -> SL (uint8 levels, wrapped as ggml).
float fitPositiveScales(int n, int nmax) {
    float mx = 0.0;
    for (int i = 0; i < n; ++i) mx = mx > SX[i] ? mx : SX[i];
    if (mx < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) SL[i] = 0;
        return 0.0;
    }
    precise float iscale = float(nmax) / mx;
    for (int i = 0; i < n; ++i) SL[i] = nearestInt(iscale * SX[i]) & 0xff;
    precise float scale = 1.0 / iscale;
    precise float bestMse = 0.0;
    for (int i = 0; i < n; ++i) {
        precise float diff = SX[i] - scale * float(SL[i]);
        bestMse += SW[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        precise float iscaleIs = (0.1 * float(is) + float(nmax)) / mx;
        precise float scaleIs = 1.0 / iscaleIs;
        precise float mse = 0.0;
        for (int i = 0; i < n; ++i) {
            const int l = min(nmax, nearestInt(iscaleIs * SX[i]));
            precise float diff = SX[i] - scaleIs * float(l);
            mse += SW[i] * diff * diff;
        }
        if (mse < bestMse) {
            bestMse = mse;
            iscale = iscaleIs;
        }
    }
    precise float sumlx = 0.0;
    precise float suml2 = 0.0;
    for (int i = 0; i < n; ++i) {
        const int l = min(nmax, nearestInt(iscale * SX[i]));
        SL[i] = l & 0xff;
        sumlx += SW[i] * SX[i] * float(l);
        suml2 += SW[i] * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = SW[i];
            precise float slx = sumlx - w * SX[i] * float(SL[i]);
            precise float sl2 = suml2 - w * float(SL[i]) * float(SL[i]);
            if (slx > 0.0 && sl2 > 0.0) {
                precise float t = SX[i] * sl2 / slx;
                const int newL = min(nmax, nearestInt(t));
                if (newL != SL[i]) {
                    slx += w * SX[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    precise float lhs = slx * slx * suml2;
                    precise float rhs = sumlx * sumlx * sl2;
                    if (lhs > rhs) {
                        SL[i] = newL & 0xff;
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (changed == 0) break;
    }
    return ratioOrZero(sumlx, suml2);
}
#endif

#if defined(TYPE_Q3_K) || defined(TYPE_Q6_K) || defined(TYPE_Q4_0W) || defined(TYPE_Q5_0W)
// searchScaleSymRef (ggml's make_qx_quants, rmse_type 1) over SX/SW -> SL (levels + nmax).
float searchScaleSym(int n, int nmax) {
    float amax;
    const float mx = valueOfLargestMagnitude(n, amax);
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) SL[i] = 0;
        return 0.0;
    }
    precise float iscale = float(-nmax) / mx;
    precise float sumlx = 0.0;
    precise float suml2 = 0.0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp(nearestInt(iscale * SX[i]), -nmax, nmax - 1);
        SL[i] = l + nmax;
        sumlx += SW[i] * SX[i] * float(l);
        suml2 += SW[i] * float(l) * float(l);
    }
    precise float scale = suml2 != 0.0 ? sumlx / suml2 : 0.0;
    precise float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(float(nmax) + 0.1 * float(is)) / mx;
        sumlx = 0.0;
        suml2 = 0.0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp(nearestInt(iscale * SX[i]), -nmax, nmax - 1);
            sumlx += SW[i] * SX[i] * float(l);
            suml2 += SW[i] * float(l) * float(l);
        }
        precise float lhs = sumlx * sumlx;
        precise float rhs = best * suml2;
        if (suml2 > 0.0 && lhs > rhs) {
            for (int i = 0; i < n; ++i) {
                SL[i] = nmax + clamp(nearestInt(iscale * SX[i]), -nmax, nmax - 1);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}
#endif

// Sum of squares of the block's first n values, in order.
float sumSquares(uint first, uint n) {
    precise float s = 0.0;
    for (uint i = 0u; i < n; ++i) {
        const float v = X(first + i);
        s += v * v;
    }
    return s;
}

// SX/SW <- values first..first+n of the block and weights qw * sqrt(sigma2 + x^2); returns the
// sum of the weights in order.
float loadImportanceWeights(uint first, uint n, float sigma2) {
    precise float sumw = 0.0;
    for (uint l = 0u; l < n; ++l) {
        const float v = X(first + l);
        SX[l] = v;
        precise float t = sigma2 + v * v;
        SW[l] = QW(first + l) * sqrt(t);
        sumw += SW[l];
    }
    return sumw;
}

#if defined(TYPE_Q2_K) || defined(TYPE_Q3_K)
// 2-bit packing: byte l of each 32-byte group holds values l, l+32, l+64, l+96 of its half.
void pack2Bit(uint qsOff) {
    for (uint j = 0u; j < 256u; j += 128u) {
        for (uint l = 0u; l < 32u; ++l) {
            putByte(qsOff + j / 4u + l,
                    uint(L[j + l]) | (uint(L[j + l + 32u]) << 2) | (uint(L[j + l + 64u]) << 4) |
                        (uint(L[j + l + 96u]) << 6));
        }
    }
}
#endif

// ==========================================================================================
// Q2_K
// ==========================================================================================
#if defined(TYPE_Q2_K)
void encodeBlock(uint o) {
    precise float scales[16];
    precise float mins[16];
    if (!useImp) {
        float maxScale = 0.0, maxMin = 0.0;
        for (uint j = 0u; j < 16u; ++j) {
            for (uint l = 0u; l < 16u; ++l) {
                SX[l] = X(16u * j + l);
                SW[l] = abs(SX[l]);
            }
            float m;
            scales[j] = searchScaleMin(16, 3, -0.5, 0.1, 15, true, m);
            mins[j] = m;
            for (uint l = 0u; l < 16u; ++l) L[16u * j + l] = SL[l];
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        if (maxScale > 0.0) {
            precise float iscale = 15.0 / maxScale;
            for (uint j = 0u; j < 16u; ++j) {
                putByte(o + Q2_K_SCALES + j, uint(nearestInt(iscale * scales[j])));
            }
            putU16(o + Q2_K_D, halfBits(divide(maxScale, 15.0)));
        } else {
            putU16(o + Q2_K_D, 0u);
        }
        if (maxMin > 0.0) {
            precise float iscale = 15.0 / maxMin;
            for (uint j = 0u; j < 16u; ++j) {
                orByte(o + Q2_K_SCALES + j, uint(nearestInt(iscale * mins[j]) << 4));
            }
            putU16(o + Q2_K_DMIN, halfBits(divide(maxMin, 15.0)));
        } else {
            putU16(o + Q2_K_DMIN, 0u);
        }
    } else {
        precise float sw[16];
        const float sigma2 = sumSquares(0u, 256u) / 256.0;
        for (uint j = 0u; j < 16u; ++j) {
            sw[j] = loadImportanceWeights(16u * j, 16u, sigma2);
            float m;
            scales[j] = searchScaleMin(16, 3, -0.9, 0.05, 36, false, m);
            mins[j] = m;
            for (uint l = 0u; l < 16u; ++l) L[16u * j + l] = SL[l];
        }
        int Ls[16];
        for (int j = 0; j < 16; ++j) {
            SX[j] = scales[j];
            SW[j] = sw[j];
        }
        const float dm0 = fitPositiveScales(16, 15);
        for (int j = 0; j < 16; ++j) {
            Ls[j] = SL[j];
            SX[j] = mins[j];
        }
        const float mm0 = fitPositiveScales(16, 15);
        putU16(o + Q2_K_D, halfBits(dm0));
        putU16(o + Q2_K_DMIN, halfBits(mm0));
        for (uint j = 0u; j < 16u; ++j) putByte(o + Q2_K_SCALES + j, uint(Ls[j] | (SL[j] << 4)));
    }
    const float dAll = halfToFloat(getU16(o + Q2_K_D));
    const float mAll = halfToFloat(getU16(o + Q2_K_DMIN));
    for (uint j = 0u; j < 16u; ++j) {
        const uint sc = ob[o + Q2_K_SCALES + j];
        precise float d = dAll * float(sc & 0xfu);
        if (d == 0.0) continue;
        precise float dm = mAll * float(sc >> 4);
        for (uint ii = 0u; ii < 16u; ++ii) {
            precise float t = (X(16u * j + ii) + dm) / d;
            L[16u * j + ii] = clamp(nearestInt(t), 0, 3);
        }
    }
    pack2Bit(o + Q2_K_QS);
}
#endif

// ==========================================================================================
// Q3_K
// ==========================================================================================
#if defined(TYPE_Q3_K)
// ggml's make_q3_quants with do_rmse over SX (n values, weights x^2) -> SL (levels + nmax, or
// all zero for a zero group).
float fitQ3Group(int n, int nmax) {
    float amax;
    const float mx = valueOfLargestMagnitude(n, amax);
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) SL[i] = 0;
        return 0.0;
    }
    precise float iscale = float(-nmax) / mx;
    precise float sumlx = 0.0;
    precise float suml2 = 0.0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp(nearestInt(iscale * SX[i]), -nmax, nmax - 1);
        SL[i] = l;
        precise float w = SX[i] * SX[i];
        sumlx += w * SX[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            precise float w = SX[i] * SX[i];
            precise float slx = sumlx - w * SX[i] * float(SL[i]);
            if (slx > 0.0) {
                precise float sl2 = suml2 - w * float(SL[i]) * float(SL[i]);
                precise float t = SX[i] * sl2 / slx;
                const int newL = clamp(nearestInt(t), -nmax, nmax - 1);
                if (newL != SL[i]) {
                    slx += w * SX[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    precise float lhs = slx * slx * suml2;
                    precise float rhs = sumlx * sumlx * sl2;
                    if (sl2 > 0.0 && lhs > rhs) {
                        SL[i] = newL;
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (changed == 0) break;
    }
    for (int i = 0; i < n; ++i) SL[i] += nmax;
    return ratioOrZero(sumlx, suml2);
}

void packScaleQ3(uint o, uint j, int l) {
    if (j < 8u) {
        putByte(o + Q3_K_SCALES + j, uint(l & 0xf));
    } else {
        orByte(o + Q3_K_SCALES + j - 8u, uint((l & 0xf) << 4));
    }
    l >>= 4;
    orByte(o + Q3_K_SCALES + j % 4u + 8u, uint(l << (2u * (j / 4u))));
}

void encodeBlock(uint o) {
    precise float scales[16];
    if (!useImp) {
        float maxScale = 0.0, amax = 0.0;
        for (uint j = 0u; j < 16u; ++j) {
            for (uint l = 0u; l < 16u; ++l) SX[l] = X(16u * j + l);
            scales[j] = fitQ3Group(16, 4);
            for (uint l = 0u; l < 16u; ++l) L[16u * j + l] = SL[l];
            const float scale = abs(scales[j]);
            if (scale > amax) {
                amax = scale;
                maxScale = scales[j];
            }
        }
        if (maxScale != 0.0) {
            precise float iscale = -32.0 / maxScale;
            for (uint j = 0u; j < 16u; ++j) {
                const int l = clamp(nearestInt(iscale * scales[j]), -32, 31) + 32;
                packScaleQ3(o, j, l);
            }
            putU16(o + Q3_K_D, halfBits(divide(1.0, iscale)));
        } else {
            putU16(o + Q3_K_D, 0u);
        }
    } else {
        precise float sw[16];
        const float sigma2 = 2.0 * sumSquares(0u, 256u) / 256.0;
        for (uint j = 0u; j < 16u; ++j) {
            sw[j] = loadImportanceWeights(16u * j, 16u, sigma2);
            scales[j] = searchScaleSym(16, 4);
            for (uint l = 0u; l < 16u; ++l) L[16u * j + l] = SL[l];
        }
        for (int j = 0; j < 16; ++j) {
            SX[j] = scales[j];
            SW[j] = sw[j];
        }
        const float dBlock = searchScaleSym(16, 32);
        for (uint j = 0u; j < 16u; ++j) packScaleQ3(o, j, SL[j]);
        putU16(o + Q3_K_D, halfBits(dBlock));
    }
    // Requantize against the stored scales; high bit -> hmask, low 2 bits -> qs.
    const float dAll = halfToFloat(getU16(o + Q3_K_D));
    for (uint j = 0u; j < 16u; ++j) {
        const uint lo = j < 8u ? ob[o + Q3_K_SCALES + j] & 0xfu : ob[o + Q3_K_SCALES + j - 8u] >> 4;
        const uint hi = (ob[o + Q3_K_SCALES + 8u + j % 4u] >> (2u * (j / 4u))) & 3u;
        const int sc = int(lo | (hi << 4)) - 32;
        precise float d = dAll * float(sc);
        if (d == 0.0) continue;
        for (uint ii = 0u; ii < 16u; ++ii) {
            precise float t = X(16u * j + ii) / d;
            L[16u * j + ii] = clamp(nearestInt(t), -4, 3) + 4;
        }
    }
    for (uint g = 0u; g < 8u; ++g) {
        for (uint m = 0u; m < 32u; ++m) {
            const uint v = uint(L[32u * g + m]) & 0xffu;
            orByte(o + Q3_K_HMASK + m, (v >> 2) << g);
            L[32u * g + m] = int(v & 3u);
        }
    }
    pack2Bit(o + Q3_K_QS);
}
#endif

// ==========================================================================================
// Q4_K and Q5_K
// ==========================================================================================
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#if defined(TYPE_Q4_K)
#define K4_SCALES Q4_K_SCALES
#define K4_D Q4_K_D
#define K4_DMIN Q4_K_DMIN
#else
#define K4_SCALES Q5_K_SCALES
#define K4_D Q5_K_D
#define K4_DMIN Q5_K_DMIN
#endif

void packScalesK4(uint o, uint j, uint ls, uint lm) {
    if (j < 4u) {
        putByte(o + K4_SCALES + j, ls);
        putByte(o + K4_SCALES + j + 4u, lm);
    } else {
        putByte(o + K4_SCALES + j + 4u, (ls & 0xfu) | ((lm & 0xfu) << 4));
        orByte(o + K4_SCALES + j - 4u, (ls >> 4) << 6);
        orByte(o + K4_SCALES + j, (lm >> 4) << 6);
    }
}

void unpackScalesK4(uint o, uint j, out uint sc, out uint m) {
    if (j < 4u) {
        sc = ob[o + K4_SCALES + j] & 63u;
        m = ob[o + K4_SCALES + j + 4u] & 63u;
    } else {
        sc = (ob[o + K4_SCALES + j + 4u] & 0xfu) | ((ob[o + K4_SCALES + j - 4u] >> 6) << 4);
        m = (ob[o + K4_SCALES + j + 4u] >> 4) | ((ob[o + K4_SCALES + j] >> 6) << 4);
    }
}

void fitK4(uint o) {
    precise float scales[8];
    precise float mins[8];
    if (!useImp) {
        float maxScale = 0.0, maxMin = 0.0;
        for (uint j = 0u; j < 8u; ++j) {
            const float avX = sqrt(sumSquares(32u * j, 32u) / 32.0);
            for (uint l = 0u; l < 32u; ++l) {
                SX[l] = X(32u * j + l);
                SW[l] = avX + abs(SX[l]);
            }
            float m;
#if defined(TYPE_Q4_K)
            scales[j] = searchScaleMin(32, 15, -1.0, 0.1, 20, false, m);
#else
            scales[j] = searchScaleMin(32, 31, -0.5, 0.1, 15, false, m);
#endif
            mins[j] = m;
            for (uint l = 0u; l < 32u; ++l) L[32u * j + l] = SL[l];
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        precise float invScale = maxScale > 0.0 ? 63.0 / maxScale : 0.0;
        precise float invMin = maxMin > 0.0 ? 63.0 / maxMin : 0.0;
        for (uint j = 0u; j < 8u; ++j) {
            const uint ls = min(63u, uint(nearestInt(invScale * scales[j])) & 0xffu);
            const uint lm = min(63u, uint(nearestInt(invMin * mins[j])) & 0xffu);
            packScalesK4(o, j, ls, lm);
        }
        putU16(o + K4_D, halfBits(divide(maxScale, 63.0)));
        putU16(o + K4_DMIN, halfBits(divide(maxMin, 63.0)));
    } else {
        precise float sw[8];
        const float sigma2 = 2.0 * sumSquares(0u, 256u) / 256.0;
        for (uint j = 0u; j < 8u; ++j) {
            sw[j] = loadImportanceWeights(32u * j, 32u, sigma2);
            float m;
            scales[j] = searchScaleMin(32, K4_NMAX, -0.9, 0.05, 36, false, m);
            mins[j] = m;
            for (uint l = 0u; l < 32u; ++l) L[32u * j + l] = SL[l];
        }
        int Ls[8];
        for (int j = 0; j < 8; ++j) {
            SX[j] = scales[j];
            SW[j] = sw[j];
        }
        const float dBlock = fitPositiveScales(8, 63);
        for (int j = 0; j < 8; ++j) {
            Ls[j] = SL[j];
            SX[j] = mins[j];
        }
        const float mBlock = fitPositiveScales(8, 63);
        for (uint j = 0u; j < 8u; ++j) {
            packScalesK4(o, j, min(63u, uint(Ls[j])), min(63u, uint(SL[j])));
        }
        putU16(o + K4_D, halfBits(dBlock));
        putU16(o + K4_DMIN, halfBits(mBlock));
    }
    const float dAll = halfToFloat(getU16(o + K4_D));
    const float mAll = halfToFloat(getU16(o + K4_DMIN));
    for (uint j = 0u; j < 8u; ++j) {
        uint sc, m;
        unpackScalesK4(o, j, sc, m);
        precise float d = dAll * float(sc);
        if (d == 0.0) continue;
        precise float dm = mAll * float(m);
        for (uint ii = 0u; ii < 32u; ++ii) {
            precise float t = (X(32u * j + ii) + dm) / d;
            L[32u * j + ii] = clamp(nearestInt(t), 0, K4_NMAX);
        }
    }
}

void encodeBlock(uint o) {
    fitK4(o);
#if defined(TYPE_Q4_K)
    for (uint j = 0u; j < 256u; j += 64u) {
        for (uint l = 0u; l < 32u; ++l) {
            putByte(o + Q4_K_QS + j / 2u + l, uint(L[j + l]) | (uint(L[j + l + 32u]) << 4));
        }
    }
#else
    uint m1 = 1u, m2 = 2u;
    for (uint g = 0u; g < 256u; g += 64u) {
        for (uint j = 0u; j < 32u; ++j) {
            int l1 = L[g + j];
            if (l1 > 15) {
                l1 -= 16;
                orByte(o + Q5_K_QH + j, m1);
            }
            int l2 = L[g + j + 32u];
            if (l2 > 15) {
                l2 -= 16;
                orByte(o + Q5_K_QH + j, m2);
            }
            putByte(o + Q5_K_QS + g / 2u + j, uint(l1 | (l2 << 4)));
        }
        m1 <<= 2;
        m2 <<= 2;
    }
#endif
}
#endif

// ==========================================================================================
// Q6_K
// ==========================================================================================
#if defined(TYPE_Q6_K)
void encodeBlock(uint o) {
    precise float scales[16];
    float maxScale = 0.0, maxAbsScale = 0.0;
    for (uint ib = 0u; ib < 16u; ++ib) {
        for (uint l = 0u; l < 16u; ++l) {
            const float v = X(16u * ib + l);
            SX[l] = v;
            SW[l] = useImp ? QW(16u * ib + l) : v * v;
        }
        const float scale = searchScaleSym(16, 32);
        for (uint l = 0u; l < 16u; ++l) L[16u * ib + l] = SL[l];
        scales[ib] = scale;
        const float absScale = abs(scale);
        if (absScale > maxAbsScale) {
            maxAbsScale = absScale;
            maxScale = scale;
        }
    }
    if (maxAbsScale < kGroupMaxEps) return;  // all zero, d = +0 (ob is zeroed)
    precise float iscale = -128.0 / maxScale;
    putU16(o + Q6_K_D, halfBits(divide(1.0, iscale)));
    for (uint ib = 0u; ib < 16u; ++ib) {
        putByte(o + Q6_K_SCALES + ib, uint(min(127, nearestInt(iscale * scales[ib]))));
    }
    const float dAll = halfToFloat(getU16(o + Q6_K_D));
    for (uint j = 0u; j < 16u; ++j) {
        const int sc = (int(ob[o + Q6_K_SCALES + j]) << 24) >> 24;  // int8
        precise float d = dAll * float(sc);
        if (d == 0.0) continue;
        for (uint ii = 0u; ii < 16u; ++ii) {
            precise float t = X(16u * j + ii) / d;
            L[16u * j + ii] = clamp(nearestInt(t), -32, 31) + 32;
        }
    }
    for (uint j = 0u; j < 256u; j += 128u) {
        const uint ql = o + Q6_K_QL + j / 2u;
        const uint qh = o + Q6_K_QH + j / 4u;
        for (uint l = 0u; l < 32u; ++l) {
            const uint q1 = uint(L[j + l]) & 0xfu;
            const uint q2 = uint(L[j + l + 32u]) & 0xfu;
            const uint q3 = uint(L[j + l + 64u]) & 0xfu;
            const uint q4 = uint(L[j + l + 96u]) & 0xfu;
            putByte(ql + l, q1 | (q3 << 4));
            putByte(ql + l + 32u, q2 | (q4 << 4));
            putByte(qh + l, (uint(L[j + l]) >> 4) | ((uint(L[j + l + 32u]) >> 4) << 2) |
                                ((uint(L[j + l + 64u]) >> 4) << 4) |
                                ((uint(L[j + l + 96u]) >> 4) << 6));
        }
    }
}
#endif

// ==========================================================================================
// IQ4_NL and IQ4_XS
// ==========================================================================================
#if defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS)
// ggml's best_index_int8 (binary search over the 16 sorted values, then the nearer of the two
// bracketing values, the upper one on ties), without a table: the search ends with
// v[mu - 1] <= x < v[mu], i.e. mu - 1 counts the values v[1..14] that are <= x, and the
// bracketing values are running sums of the (integer, hence exact) gaps. The final float
// comparison is ggml's. `value` receives the chosen table value. (Dynamic indexing into a
// constant array makes lavapipe copy the array on every call.)
#define IQ4_STEP(v, gapLo, gapHi) \
    if (x >= v) {                 \
        ++mu;                     \
        lo += gapLo;              \
        hi += gapHi;              \
    }
int bestIndex(float x, out float value) {
    if (x <= -127.0) {
        value = -127.0;
        return 0;
    }
    if (x >= 113.0) {
        value = 113.0;
        return 15;
    }
    int mu = 1;
    float lo = -127.0, hi = -104.0;  // v[mu - 1], v[mu]
    IQ4_STEP(-104.0, 23.0, 21.0)
    IQ4_STEP(-83.0, 21.0, 18.0)
    IQ4_STEP(-65.0, 18.0, 16.0)
    IQ4_STEP(-49.0, 16.0, 14.0)
    IQ4_STEP(-35.0, 14.0, 13.0)
    IQ4_STEP(-22.0, 13.0, 12.0)
    IQ4_STEP(-10.0, 12.0, 11.0)
    IQ4_STEP(1.0, 11.0, 12.0)
    IQ4_STEP(13.0, 12.0, 12.0)
    IQ4_STEP(25.0, 12.0, 13.0)
    IQ4_STEP(38.0, 13.0, 15.0)
    IQ4_STEP(53.0, 15.0, 16.0)
    IQ4_STEP(69.0, 16.0, 20.0)
    IQ4_STEP(89.0, 20.0, 24.0)
    precise float below = x - lo;
    precise float above = hi - x;
    const bool lower = below < above;
    value = lower ? lo : hi;
    return lower ? mu - 1 : mu;
}
#undef IQ4_STEP

// The block weights of 32 values starting at `first` into SX/SW: x^2, or with importance
// qw * sqrt(sigma2 + x^2).
void blockWeights(uint first, float sigma2) {
    for (uint j = 0u; j < 32u; ++j) {
        const float v = X(first + j);
        SX[j] = v;
        if (useImp) {
            precise float t = sigma2 + v * v;
            SW[j] = QW(first + j) * sqrt(t);
        } else {
            SW[j] = v * v;
        }
    }
}

float superBlockSigma2(uint n) {
    precise float s = sumSquares(0u, n);
    precise float f = 2.0 / float(n);
    s *= f;
    return s;
}

// One 32-value block's scale search over SX/SW (ntry = 7); 0 for an all-zero block.
float searchBlockScale() {
    float amax;
    const float mx = valueOfLargestMagnitude(32, amax);
    if (amax < kGroupMaxEps) return 0.0;
    const float v0 = -127.0;  // kvalues_iq4nl[0]
    precise float d = -mx / v0;
    precise float id = 1.0 / d;
    precise float sumqx = 0.0;
    precise float sumq2 = 0.0;
    for (int j = 0; j < 32; ++j) {
        float q;
        bestIndex(id * SX[j], q);
        sumqx += SW[j] * q * SX[j];
        sumq2 += SW[j] * q * q;
    }
    d = sumq2 > 0.0 ? sumqx / sumq2 : 0.0;
    precise float best = d * sumqx;
    for (int itry = -7; itry <= 7; ++itry) {
        id = float(itry - 127) / mx;  // itry + kvalues_iq4nl[0]
        sumqx = 0.0;
        sumq2 = 0.0;
        for (int j = 0; j < 32; ++j) {
            float q;
        bestIndex(id * SX[j], q);
            sumqx += SW[j] * q * SX[j];
            sumq2 += SW[j] * q * q;
        }
        precise float lhs = sumqx * sumqx;
        precise float rhs = best * sumq2;
        if (sumq2 > 0.0 && lhs > rhs) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// Nibbles of 32 indices of value `first` (scaled by id): low 0-15, high 16-31.
void packIndices(uint qsOff, uint first, float id) {
    for (uint j = 0u; j < 16u; ++j) {
        precise float a = id * X(first + j);
        precise float b = id * X(first + 16u + j);
        float va, vb;
        putByte(qsOff + j, uint(bestIndex(a, va)) | (uint(bestIndex(b, vb)) << 4));
    }
}

#if defined(TYPE_IQ4_NL)
void encodeBlock(uint o) {
    blockWeights(0u, superBlockSigma2(32u));
    const float d = searchBlockScale();
    putU16(o + IQ4_NL_D, halfBits(d));
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
    packIndices(o + IQ4_NL_QS, 0u, id);
}
#else
void encodeBlock(uint o) {
    const float sigma2 = superBlockSigma2(256u);
    precise float scales[8];
    float maxScale = 0.0, amaxScale = 0.0;
    for (uint ib = 0u; ib < 8u; ++ib) {
        blockWeights(32u * ib, sigma2);
        scales[ib] = searchBlockScale();
        const float absD = abs(scales[ib]);
        if (absD > amaxScale) {
            amaxScale = absD;
            maxScale = scales[ib];
        }
    }
    precise float d = -maxScale / 32.0;
    putU16(o + IQ4_XS_D, halfBits(d));
    precise float id = d != 0.0 ? 1.0 / d : 0.0;
    uint scalesH = 0u;
    for (uint ib = 0u; ib < 8u; ++ib) {
        int l = clamp(nearestInt(id * scales[ib]), -32, 31);
        precise float dl = d * float(l);
        precise float idl = dl != 0.0 ? 1.0 / dl : 0.0;
        packIndices(o + IQ4_XS_QS + 16u * ib, 32u * ib, idl);
        l += 32;
        const uint lLow = uint(l) & 0xfu, lHigh = uint(l) >> 4;
        if (ib % 2u == 0u) {
            putByte(o + IQ4_XS_SCALES_L + ib / 2u, lLow);
        } else {
            orByte(o + IQ4_XS_SCALES_L + ib / 2u, lLow << 4);
        }
        scalesH |= lHigh << (2u * ib);
    }
    putU16(o + IQ4_XS_SCALES_H, scalesH);
}
#endif
#endif

// ==========================================================================================
// Q4_0, Q4_1, Q5_0, Q5_1 with importance
// ==========================================================================================
#if defined(LEGACY_WEIGHTED)
// Q5 packing: low nibbles in qs, 5th bit of value j in bit j of the little-endian uint32 qh.
void packQ5(uint qhOff, uint qsOff) {
    uint qh = 0u;
    for (uint j = 0u; j < 16u; ++j) {
        const uint a = uint(SL[j]), b = uint(SL[j + 16u]);
        putByte(qsOff + j, (a & 0x0fu) | ((b & 0x0fu) << 4));
        qh |= ((a & 0x10u) >> 4) << j;
        qh |= ((b & 0x10u) >> 4) << (j + 16u);
    }
    for (uint k = 0u; k < 4u; ++k) putByte(qhOff + k, qh >> (8u * k));
}

void encodeBlock(uint o, float sigma2) {
    loadImportanceWeights(0u, 32u, sigma2);
#if defined(TYPE_Q4_0W)
    putU16(o + Q4_0_D, halfBits(searchScaleSym(32, 8)));
    for (uint j = 0u; j < 16u; ++j) {
        putByte(o + Q4_0_QS + j, uint(SL[j]) | (uint(SL[j + 16u]) << 4));
    }
#elif defined(TYPE_Q5_0W)
    putU16(o + Q5_0_D, halfBits(searchScaleSym(32, 16)));
    packQ5(o + Q5_0_QH, o + Q5_0_QS);
#else
    float negMin;
#if defined(TYPE_Q4_1W)
    const float d = searchScaleMin(32, 15, -0.9, 0.05, 36, false, negMin);
#else
    const float d = searchScaleMin(32, 31, -0.9, 0.05, 36, false, negMin);
#endif
    putU16(o + Q4_1_D, halfBits(d));  // Q5_1 has the same d, m offsets
    putU16(o + Q4_1_M, halfBits(-negMin));
#if defined(TYPE_Q4_1W)
    for (uint j = 0u; j < 16u; ++j) {
        putByte(o + Q4_1_QS + j, uint(SL[j]) | (uint(SL[j + 16u]) << 4));
    }
#else
    packQ5(o + Q5_1_QH, o + Q5_1_QS);
#endif
#endif
}
#endif

void main() {
    const uint u = flatInvocation();
    if (u >= p.nUnits) return;
    for (uint b = 0u; b < UNIT_BYTES; ++b) ob[b] = 0u;
    useImp = p.hasImportance != 0u;
    const uint first = u * BLOCKS_PER_UNIT;
    const uint nBlocks = min(BLOCKS_PER_UNIT, p.nItems - first);
    for (uint k = 0u; k < nBlocks; ++k) {
        const uint blk = first + k;
        xBase = blk * BLOCK_VALUES;
        impBase = ((p.firstBlockInRow + blk) % p.blocksPerRow) * BLOCK_VALUES;
#if defined(LEGACY_WEIGHTED)
        const uint row = p.firstRow + (p.firstBlockInRow + blk) / p.blocksPerRow;
        encodeBlock(k * BLOCK_BYTES, impValues[p.blocksPerRow * BLOCK_VALUES + row]);
#else
        encodeBlock(k * BLOCK_BYTES);
#endif
    }
    // Units start on word boundaries (UNIT_BYTES is a multiple of 4).
    const uint nWords = (nBlocks * BLOCK_BYTES + 3u) / 4u;
    for (uint w = 0u; w < nWords; ++w) {
        const uint b = 4u * w;
        uint word = ob[b];
        if (b + 1u < UNIT_BYTES) word |= ob[b + 1u] << 8;
        if (b + 2u < UNIT_BYTES) word |= ob[b + 2u] << 16;
        if (b + 3u < UNIT_BYTES) word |= ob[b + 3u] << 24;
        dstWords[u * UNIT_WORDS + w] = word;
    }
}
