#include "eval/imatrix_collect.h"

#include <algorithm>
#include <vector>

namespace qs::eval {

void ImatrixCollector::onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                                 int64_t nRows) {
    // llama-imatrix: products of fewer than 16 rows are left out, except expert products.
    if (expert < 0 && nRows < 16) return;
    if (!w.name.starts_with("blk.") && !w.name.starts_with("model.layers.")) return;
    const int64_t cols = w.cols;
    const int64_t nmat = expert < 0 ? 1 : nExpert;
    auto& e = m_sums.entries[w.name];
    if (e.sums.empty()) {
        e.sums.assign(size_t(cols * nmat), 0.0);
        e.counts.assign(size_t(nmat), 0.0);
    }
    if (e.sums.size() != size_t(cols * nmat) || e.counts.size() != size_t(nmat)) return;
    const int64_t m = expert < 0 ? 0 : expert;
    double* acc = e.sums.data() + m * cols;
    for (int64_t r = 0; r < nRows; ++r) {
        const float* xr = x + r * cols;
        for (int64_t j = 0; j < cols; ++j) acc[j] += double(xr[j] * xr[j]);
    }
    e.counts[size_t(m)] += double(nRows);
}

Result<quant::ImatrixSums> computeImatrix(const LlamaModel& model, std::span<const int32_t> tokens,
                                          const ImatrixOptions& options) {
    const int64_t ctx = options.ctx;
    if (ctx < 16) {
        return makeError(ErrorCode::BadUsage,
                         "a chunk needs at least 16 tokens (llama-imatrix leaves out smaller "
                         "products), got --ctx " +
                             std::to_string(ctx));
    }
    const int64_t available = int64_t(tokens.size()) / ctx;
    if (available < 1) {
        return makeError(ErrorCode::BadInput, "the text has " + std::to_string(tokens.size()) +
                                                  " tokens, fewer than one chunk of " +
                                                  std::to_string(ctx));
    }
    const int64_t nChunks = options.chunks < 0 ? available : std::min(options.chunks, available);
    if (nChunks < 1) return makeError(ErrorCode::BadUsage, "--chunks must be at least 1");

    ImatrixCollector collector;
    ForwardOptions fo = options.forward;
    fo.observer = &collector;
    const uint64_t perChunk = uint64_t(model.config().nLayer) + 1;
    std::vector<int32_t> chunk(static_cast<size_t>(ctx));
    for (int64_t c = 0; c < nChunks; ++c) {
        std::copy(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx, chunk.begin());
        if (options.bos >= 0) chunk[0] = options.bos;
        if (options.progress) {
            fo.progress = [&, c](const quant::Progress& p) {
                quant::Progress q = p;
                q.doneBytes = uint64_t(c) * perChunk + p.doneBytes;
                q.totalBytes = uint64_t(nChunks) * perChunk;
                q.tensorIndex = size_t(c);
                q.tensorCount = size_t(nChunks);
                return options.progress(q);
            };
        }
        // Only the last position's logits are asked for: the products before the output head
        // see every position either way.
        QS_TRY(forward(
            model, chunk, fo, [](int64_t, int64_t, const float*) {}, ctx - 1));
    }
    auto sums = std::move(collector.sums());
    if (!options.dataset.empty()) sums.datasets.push_back(options.dataset);
    sums.chunkCount = uint32_t(nChunks);
    sums.chunkSize = uint32_t(ctx);
    return sums;
}

}  // namespace qs::eval
