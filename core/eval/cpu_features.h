#pragma once
// Runtime choice of the x86 AVX2 + FMA + F16C variant of the evaluator's kernels. Each kernel
// body is an always-inline function compiled twice: into a wrapper with
// __attribute__((target("avx2,fma,f16c"))) and into a plain one; the results are identical
// (the bodies state every fused multiply-add and rounding explicitly).

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace qs::eval {

/// True when the CPU runs AVX2, FMA and F16C (checked once).
inline bool cpuHasAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        // F16C is CPUID.1:ECX bit 29 (older compilers' __builtin_cpu_supports lack it).
        const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
        return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return has;
#else
    return false;
#endif
}

/// True when the CPU runs AVX-512F: llama.cpp then loads an AVX-512 build, whose F16/F32 sums
/// run over 16 lanes; the evaluator sums in the same order (the kernel itself stays AVX2).
inline bool cpuHasAvx512() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has = __builtin_cpu_supports("avx512f");
    return has;
#else
    return false;
#endif
}

}  // namespace qs::eval

#if defined(__x86_64__) || defined(__i386__)
#define QS_EVAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define QS_EVAL_TARGET_AVX2
#endif
