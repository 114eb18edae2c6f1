#pragma once
// QS_ASSERT: programmer errors only (broken invariants). Bad input never reaches an assert.
#include <cstdio>
#include <cstdlib>

#define QS_ASSERT(cond)                                                                       \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)
