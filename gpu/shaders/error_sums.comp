#version 450
// Error sums of decoded values against the original (stats::ErrorSums): sum x^2, sum y^2,
// sum e^2, sum x y, sum w e^2, sum w x^2, sum w and max |e| with e = y - x, all in double as
// the CPU computes them per value (each term is the CPU's: exact float -> double conversions,
// one double rounding per product). Only the summation order differs (per invocation, then a
// tree over the workgroup; the host adds the workgroups' partials in order), which moves the
// sums by a few ulps of double.
//
// Needs shaderFloat64. Binding 3 receives 8 doubles per workgroup.

#extension GL_GOOGLE_include_directive : require

#include "common.glsl"

layout(std430, binding = 0) readonly buffer Ref { float refValues[]; };
layout(std430, binding = 1) readonly buffer Deq { float deqValues[]; };
layout(std430, binding = 2) readonly buffer Imp { float impValues[]; };
layout(std430, binding = 3) writeonly buffer Out { double partials[]; };

layout(push_constant) uniform Params {
    uint nValues;        // values in this chunk
    uint rowLength;      // importance period
    uint firstColumn;    // column of the chunk's first value
    uint hasImportance;  // 1 when binding 2 holds one row's importance
} p;

#define VALUES_PER_INVOCATION 32u
#define MAX_GROUP 256u
#define NSUMS 8u
shared double red[NSUMS * MAX_GROUP];

void main() {
    const uint lid = gl_LocalInvocationIndex;
    const uint first = flatInvocation() * VALUES_PER_INVOCATION;
    double s[NSUMS];
    for (uint k = 0u; k < NSUMS; ++k) s[k] = 0.0LF;
    for (uint k = 0u; k < VALUES_PER_INVOCATION; ++k) {
        const uint i = first + k;
        if (i >= p.nValues) break;
        const double x = double(refValues[i]), y = double(deqValues[i]);
        precise double e = y - x;
        const double w =
            p.hasImportance != 0u ? double(impValues[(p.firstColumn + i) % p.rowLength]) : 1.0LF;
        precise double xx = x * x;
        precise double yy = y * y;
        precise double ee = e * e;
        precise double xy = x * y;
        precise double wee = w * e * e;
        precise double wxx = w * x * x;
        s[0] += xx;
        s[1] += yy;
        s[2] += ee;
        s[3] += xy;
        s[4] += wee;
        s[5] += wxx;
        s[6] += w;
        s[7] = max(s[7], abs(e));
    }
    for (uint k = 0u; k < NSUMS; ++k) red[k * MAX_GROUP + lid] = s[k];
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            for (uint k = 0u; k < 7u; ++k) {
                red[k * MAX_GROUP + lid] += red[k * MAX_GROUP + lid + stride];
            }
            red[7u * MAX_GROUP + lid] =
                max(red[7u * MAX_GROUP + lid], red[7u * MAX_GROUP + lid + stride]);
        }
        barrier();
    }
    if (lid == 0u) {
        const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
        for (uint k = 0u; k < NSUMS; ++k) partials[group * NSUMS + k] = red[k * MAX_GROUP];
    }
}
