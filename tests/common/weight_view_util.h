// Helpers of the kernel tests (kquant_dot_test, matmul_kernels_test): weights encoded as a
// type's rows and the WeightView the forward pass reads them through.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "eval/matmul.h"
#include "formats/encoders.h"
#include "formats/type_table.h"

namespace qs::test {

/// `w` (rows of `cols` values) encoded as `t` on one thread.
inline std::vector<uint8_t> encodeWeights(formats::TensorType t, const std::vector<float>& w,
                                          int64_t cols) {
    const auto& tr = formats::traits(t);
    std::vector<uint8_t> out(size_t(int64_t(w.size()) / tr.blockSize * tr.blockBytes));
    EXPECT_TRUE(formats::encodeRows(t, w, out, cols, nullptr, 1).ok());
    return out;
}

/// The view of `bytes` as a rows x cols weight of type `t`.
inline eval::WeightView weightView(formats::TensorType t, const std::vector<uint8_t>& bytes,
                                   int64_t rows, int64_t cols) {
    eval::WeightView v;
    v.name = "test.weight";
    v.type = t;
    v.data = bytes;
    v.rows = rows;
    v.cols = cols;
    v.rowBytes = uint64_t(cols / formats::traits(t).blockSize * formats::traits(t).blockBytes);
    return v;
}

/// The bits of `f`, to compare floats exactly (NaN payloads and signed zeros included).
inline uint32_t floatBits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

}  // namespace qs::test
