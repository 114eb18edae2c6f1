#include "quant/runtime_estimate.h"

#include <string>

namespace qs::quant {

namespace {

uint32_t keyU32(const model::Model& m, const std::string& key, uint32_t fallback) {
    if (const io::GgufValue* v = m.find(key)) {
        if (const std::optional<uint64_t> u = v->asUInt()) return uint32_t(*u);
    }
    return fallback;
}

}  // namespace

Result<RuntimeEstimate> estimateRuntime(const model::Model& model, uint64_t weightBytes,
                                        int64_t context, formats::TensorType kvType) {
    const model::HParams& h = model.hparams();
    if (context < 1) {
        return makeError(ErrorCode::BadUsage, "the context length must be at least 1");
    }
    if (h.blockCount == 0 || h.headCount == 0 || h.embeddingLength == 0) {
        return makeError(ErrorCode::BadInput,
                         "the model has no attention hyper-parameters (block_count, "
                         "attention.head_count, embedding_length): no KV cache estimate",
                         model.path());
    }
    const std::string arch = h.architecture;
    const uint32_t headKv = h.headCountKv ? h.headCountKv : h.headCount;
    const uint32_t headDim = h.embeddingLength / h.headCount;
    const uint32_t dimK = keyU32(model, arch + ".attention.key_length", headDim);
    const uint32_t dimV = keyU32(model, arch + ".attention.value_length", headDim);
    RuntimeEstimate r;
    r.weightBytes = weightBytes;
    r.context = context;
    r.kvType = kvType;
    r.layers = h.blockCount;
    r.kvWidthK = dimK * headKv;
    r.kvWidthV = dimV * headKv;
    const std::optional<uint64_t> rowK = formats::byteSize(kvType, r.kvWidthK);
    const std::optional<uint64_t> rowV = formats::byteSize(kvType, r.kvWidthV);
    if (!rowK || !rowV) {
        return makeError(ErrorCode::BadUsage,
                         "a " + std::string(formats::typeName(kvType)) +
                             " KV cache cannot hold rows of " + std::to_string(r.kvWidthK) +
                             " values",
                         model.path());
    }
    r.kvBytes = (*rowK + *rowV) * uint64_t(context) * r.layers;
    r.totalBytes = r.weightBytes + r.kvBytes;
    return r;
}

}  // namespace qs::quant
