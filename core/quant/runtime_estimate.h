#pragma once
// "Will it fit on my GPU?": the memory a llama.cpp-style runtime needs for a plan, the weights
// (the file's tensor data) plus the KV cache at a chosen context length and cache type, sized
// as llama.cpp allocates it: per layer, K and V rows of head_dim x n_head_kv values for every
// position of the context, in the cache type's row size (ggml_row_size). Compute buffers and
// the context's scratch memory are not included (they depend on the batch size and backend).

#include <cstdint>

#include "common/result.h"
#include "formats/type_table.h"
#include "model/model.h"

namespace qs::quant {

struct RuntimeEstimate {
    uint64_t weightBytes = 0;  ///< tensor data of the plan
    uint64_t kvBytes = 0;      ///< K + V cache at `context` positions
    uint64_t totalBytes = 0;   ///< weights + KV cache
    int64_t context = 0;
    formats::TensorType kvType = formats::TensorType::F16;
    uint32_t layers = 0;    ///< layers with a KV cache
    uint32_t kvWidthK = 0;  ///< values per position and layer in K (head_dim_k x n_head_kv)
    uint32_t kvWidthV = 0;
};

/// Estimate for `weightBytes` of weights at `context` positions with a `kvType` cache (F32,
/// F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, as llama.cpp's --cache-type-k/v). Errors: a
/// model without the attention hyper-parameters, a cache type whose block does not divide the
/// row, a context < 1.
Result<RuntimeEstimate> estimateRuntime(const model::Model& model, uint64_t weightBytes,
                                        int64_t context,
                                        formats::TensorType kvType = formats::TensorType::F16);

}  // namespace qs::quant
