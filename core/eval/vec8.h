#pragma once
// The 8-wide float vector of the evaluator's portable kernels (GCC vector extension): compiled
// into AVX2 code inside target("avx2,...") functions and into SSE code elsewhere. Internal to
// the kernels and always inlined: the type never crosses a call (hence no -Wpsabi warning).

#include <cstring>

namespace qs::eval::detail {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float V8 __attribute__((vector_size(32)));

inline V8 load8(const float* p) {
    V8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline float hsum(V8 v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}
#pragma GCC diagnostic pop

}  // namespace qs::eval::detail
