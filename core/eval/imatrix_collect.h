#pragma once
// Importance matrices from our own forward pass, as llama.cpp's llama-imatrix collects them:
// the text's tokens cut into chunks of ctx tokens, the first token of each chunk replaced by BOS
// (when the vocabulary adds one), each chunk one context; for every product with a `blk.*`
// weight the squared input activations are summed per column and the rows counted. A product of
// fewer than 16 rows is skipped for 2-D weights (llama-imatrix's rule); expert tensors count
// per expert the tokens routed to it. The result is written with quant::saveImatrixSums.

#include <cstdint>
#include <span>
#include <string>

#include "eval/activation_observer.h"
#include "eval/forward.h"
#include "quant/imatrix_sums.h"

namespace qs::eval {

/// Sums squared activations of the products it observes into an ImatrixSums.
class ImatrixCollector final : public ActivationObserver {
public:
    void onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                   int64_t nRows) override;
    quant::ImatrixSums& sums() { return m_sums; }
    const quant::ImatrixSums& sums() const { return m_sums; }

private:
    quant::ImatrixSums m_sums;
};

struct ImatrixOptions {
    int64_t ctx = 512;       ///< tokens per chunk (llama-imatrix -c)
    int64_t chunks = -1;     ///< at most this many chunks (-1: all full chunks of the text)
    int32_t bos = -1;        ///< token that starts every chunk (-1: leave the text's tokens)
    std::string dataset;     ///< recorded in imatrix.datasets (the text file's name)
    ForwardOptions forward;  ///< threads, cancellation; its observer is replaced
    /// Called after each layer of each chunk: doneBytes / totalBytes count layers of all chunks.
    quant::ProgressFn progress;
};

/// Collect the imatrix of `model` over `tokens` (the whole tokenized text, BOS included as the
/// tokenizer adds it). Errors: fewer tokens than one chunk, ctx < 16, cancellation.
Result<quant::ImatrixSums> computeImatrix(const LlamaModel& model, std::span<const int32_t> tokens,
                                          const ImatrixOptions& options);

}  // namespace qs::eval
