#version 450
// Histogram of float values over fixed bins, with the exact counts of stats::Histogram::add.
//
// The CPU bins a value by double arithmetic, floor((double(v) - lo) * bins / (hi - lo)). That
// map is monotone in v, so the host turns it into float thresholds (binding 2): value v lands
// in bin k when thr[k] <= v < thr[k + 1], which needs only exact float comparisons here (no
// double support, no rounding-mode dependence). Layout of binding 2: loF, hiF (the smallest
// floats with !(v < lo) and v >= hi), then the nBins - 1 bin starts of bins 1 .. nBins - 1.
//
// Counts (binding 1): nBins bins, then underflow, overflow, non-finite. Each workgroup counts
// into shared memory when the bins fit (useShared) and adds its counts to binding 1 at the end.

#extension GL_GOOGLE_include_directive : require

#include "common.glsl"

layout(std430, binding = 0) readonly buffer Src { uint srcWords[]; };  // float bits
layout(std430, binding = 1) buffer Counts { uint counts[]; };
layout(std430, binding = 2) readonly buffer Thr { float thr[]; };

layout(push_constant) uniform Params {
    uint nValues;    // values in this chunk
    uint nBins;      // bins (>= 1)
    uint useShared;  // 1 when nBins + 3 <= LOCAL_SLOTS
    uint pad;
} p;

#define VALUES_PER_INVOCATION 64u
#define LOCAL_SLOTS 4096u  // 16 KiB, the minimum maxComputeSharedMemorySize
shared uint localCounts[LOCAL_SLOTS];

uint slotOf(uint bits) {
    if ((bits & 0x7f800000u) == 0x7f800000u) return p.nBins + 2u;  // inf or NaN
    const float v = uintBitsToFloat(bits);
    if (v < thr[0]) return p.nBins;        // underflow
    if (v >= thr[1]) return p.nBins + 1u;  // overflow
    // Number of bin starts (thr[2 ..]) that are <= v.
    uint lo = 0u, hi = p.nBins - 1u;
    while (lo < hi) {
        const uint mid = (lo + hi) / 2u;
        if (thr[2u + mid] <= v) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void main() {
    const bool useShared = p.useShared != 0u;
    const uint slots = p.nBins + 3u;
    const uint lid = gl_LocalInvocationIndex;
    if (useShared) {
        for (uint i = lid; i < slots; i += gl_WorkGroupSize.x) localCounts[i] = 0u;
    }
    barrier();
    const uint first = flatInvocation() * VALUES_PER_INVOCATION;
    for (uint k = 0u; k < VALUES_PER_INVOCATION; ++k) {
        const uint i = first + k;
        if (i >= p.nValues) break;
        const uint slot = slotOf(srcWords[i]);
        if (useShared) {
            atomicAdd(localCounts[slot], 1u);
        } else {
            atomicAdd(counts[slot], 1u);
        }
    }
    barrier();
    if (useShared) {
        for (uint i = lid; i < slots; i += gl_WorkGroupSize.x) {
            if (localCounts[i] != 0u) atomicAdd(counts[i], localCounts[i]);
        }
    }
}
