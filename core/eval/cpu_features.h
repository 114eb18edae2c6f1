#pragma once
// Runtime choice of the x86 AVX2 + FMA + F16C variant of the evaluator's kernels. Each kernel
// body is an always-inline function compiled twice: into a wrapper with
// __attribute__((target("avx2,fma,f16c"))) and into a plain one; the results are identical
// (the bodies state every fused multiply-add and rounding explicitly).

namespace qs::eval {

/// True when the CPU runs AVX2, FMA and F16C (checked once).
inline bool cpuHasAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                            __builtin_cpu_supports("f16c");
    return has;
#else
    return false;
#endif
}

} // namespace qs::eval

#if defined(__x86_64__) || defined(__i386__)
#define QS_EVAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define QS_EVAL_TARGET_AVX2
#endif
