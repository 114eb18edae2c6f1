// Shared helpers: the flat invocation index over a 2D grid, and the fp16 / bf16 conversions
// written with integer operations only, so that they are bit-identical to core/formats/half.h
// on any device (no reliance on how a driver rounds, flushes denormals or quiets NaNs).

#ifndef QS_COMMON_GLSL
#define QS_COMMON_GLSL

// Workgroup size is specialization constant 0 (the host picks it; default 64).
layout(local_size_x_id = 0) in;

// Flat index of this invocation. The host dispatches a 2D grid when the group count exceeds
// maxComputeWorkGroupCount[0]; rows of the grid are gl_NumWorkGroups.x groups wide.
uint flatInvocation() {
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * (gl_NumWorkGroups.x *
                                                                gl_WorkGroupSize.x);
}

// fp16 bits -> float, exactly as halfToFloat(): subnormals become normal floats (man * 2^-24,
// an exact product), inf and NaN keep their payload.
float halfToFloat(uint h) {
    const uint sign = (h & 0x8000u) << 16;
    const uint e = (h >> 10) & 0x1fu;
    const uint man = h & 0x3ffu;
    uint bits;
    if (e == 0u) {
        bits = man == 0u ? sign : (sign | floatBitsToUint(float(man) * 5.9604644775390625e-8));
    } else if (e == 31u) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((e + 112u) << 23) | (man << 13);
    }
    return uintBitsToFloat(bits);
}

// float bits -> fp16 bits, round to nearest even, as floatToHalf(). The CPU rounds subnormal
// results by a float addition; here the same rounding is done on the integer mantissa, which
// gives identical bits without depending on the device's float rounding mode.
uint floatToHalf(uint x) {
    const uint sign = (x >> 16) & 0x8000u;
    const uint ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // inf or NaN
        return sign | 0x7c00u | (ax > 0x7f800000u ? (0x200u | ((ax >> 13) & 0x3ffu)) : 0u);
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520 -> inf
    if (ax < 0x38800000u) {                        // result is a subnormal half or zero
        const uint e = ax >> 23;
        if (e < 102u) return sign;  // below 2^-25: rounds to zero
        // value = m * 2^(e - 150) = (m >> s) units of 2^-24, s = 126 - e in [14, 24]
        const uint m = (ax & 0x7fffffu) | 0x800000u;
        const uint s = 126u - e;
        uint q = m >> s;
        const uint rem = m & ((1u << s) - 1u);
        const uint halfway = 1u << (s - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u) == 1u)) q += 1u;
        return sign | q;
    }
    const uint mantOdd = (ax >> 13) & 1u;
    return sign | (((ax + 0xc8000fffu + mantOdd) >> 13) & 0xffffu);
}

// float bits -> bfloat16 bits as ggml does it: NaN -> quiet NaN, else round to nearest even.
uint floatToBf16(uint x) {
    if ((x & 0x7fffffffu) > 0x7f800000u) return ((x >> 16) | 64u) & 0xffffu;
    return ((x + (0x7fffu + ((x >> 16) & 1u))) >> 16) & 0xffffu;
}

#endif
