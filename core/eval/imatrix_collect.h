#pragma once
// Importance matrices from our own forward pass, as llama.cpp's llama-imatrix collects them:
// the text's tokens cut into chunks of ctx tokens, the first token of each chunk replaced by BOS
// (when the vocabulary adds one), each chunk one context; for every product with a `blk.*`
// weight the squared input activations are summed per column and the rows counted. Expert
// tensors count per expert the tokens routed to it. The result is written with
// quant::saveImatrixSums.
//
// The sums are llama-imatrix's floats: float accumulators, each square rounded to float and then
// added (llama-imatrix is built without FMA), the rows in the order llama.cpp's decodes hand
// them to its evaluation callback. llama-imatrix decodes max(1, batch / ctx) chunks at once as
// that many sequences (-b 2048, -c 512: four), each sequence with its own KV cache; llama.cpp
// then cuts the batch into ubatches (-ub 512) that take floor(ubatch / sequences) tokens of
// every sequence (one sequence: ubatch tokens at a time), and each ubatch is one product: its
// rows are summed sequence by sequence, and a ubatch of fewer than 16 rows is left out of 2-D
// weights (llama-imatrix's rule). The collector holds the rows of a group's chunks and sums them
// in that order, so that a dense F32 model's imatrix equals llama-imatrix's bit for bit (the
// forward pass follows ggml's kernels). Expert products (MUL_MAT_ID) count every routed row and
// are summed per ubatch slot by slot (top-1 choices first), then sequence after sequence, then
// token by token, as llama-imatrix's loop over the routing ids visits them.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "eval/activation_observer.h"
#include "eval/forward.h"
#include "quant/imatrix_sums.h"

namespace qs::eval {

/// Sums squared activations of the products it observes, as llama-imatrix does.
class ImatrixCollector final : public ActivationObserver {
public:
    void onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                   int64_t nRows) override;
    void onRouting(int expert, const int64_t* who, int64_t n, int nUsed) override;

    /// The next chunks are `nSeq` sequences decoded together, cut into ubatches of the token
    /// ranges `slices` of every sequence. `hold`: keep the dense products' rows until endGroup
    /// and sum them in llama.cpp's order (else each chunk's rows are summed as they come).
    /// Without a group every product is one ubatch.
    void beginGroup(int nSeq, std::vector<std::pair<int64_t, int64_t>> slices, bool hold);
    /// The following products belong to sequence `seq` of the group.
    void setSequence(int seq) { m_seq = seq; }
    /// Sum what the group held.
    void endGroup();

    /// The sums so far (floats, as llama-imatrix keeps them) and the counts.
    quant::ImatrixSums sums() const;

private:
    struct Acc {
        std::vector<float> sums;               // columns x matrices
        std::vector<int64_t> counts;           // one per matrix
        std::vector<std::vector<float>> held;  // per sequence of the group: rows x columns
        // Expert products held per sequence: the row of (token * nUsed + slot) and its expert.
        std::vector<std::vector<float>> heldRows;
        std::vector<std::vector<int32_t>> heldExpert;
        int nUsed = 0;
    };
    Acc* entry(const WeightView& w, int64_t nmat);
    void addRows(Acc& e, int64_t m, int64_t cols, const float* x, int64_t nRows);

    std::map<std::string, Acc> m_acc;
    int m_nSeq = 1;
    int m_seq = 0;
    std::vector<std::pair<int64_t, int64_t>> m_slices;  // empty: each product one ubatch
    bool m_hold = false;
    int64_t m_ctx = 0;  // tokens per sequence of the group
    int m_routeExpert = -1, m_routeUsed = 0;
    std::vector<int64_t> m_routeWho;
};

struct ImatrixOptions {
    int64_t ctx = 512;     ///< tokens per chunk (llama-imatrix -c)
    int64_t chunks = -1;   ///< at most this many chunks (-1: all full chunks of the text)
    int32_t bos = -1;      ///< token that starts every chunk (-1: leave the text's tokens)
    int64_t batch = 2048;  ///< llama-imatrix -b: max(1, batch / ctx) chunks decoded together
    int64_t ubatch = 512;  ///< llama-imatrix -ub: tokens per product
    /// Most bytes of activations held to sum a group in llama.cpp's order; a larger model sums
    /// each chunk as it comes (the same values up to float rounding).
    uint64_t holdBytes = uint64_t(1) << 30;
    std::string dataset;     ///< recorded in imatrix.datasets (the text file's name)
    ForwardOptions forward;  ///< threads, cancellation; its observer is replaced
    /// Called after each layer of each chunk: doneBytes / totalBytes count layers of all chunks.
    quant::ProgressFn progress;
};

/// The token ranges of each sequence that llama.cpp's ubatches take when `nSeqBatch` chunks of
/// `ctx` tokens are decoded together with `nSeq` sequences in the context (llama-imatrix's
/// batch and ubatch): split_equal's floor(ubatch / nSeqBatch) tokens of each sequence when the
/// context has several sequences, else batch-sized decodes in ubatch-sized pieces.
std::vector<std::pair<int64_t, int64_t>> imatrixUbatchSlices(int64_t ctx, int64_t nSeq,
                                                             int64_t nSeqBatch, int64_t batch,
                                                             int64_t ubatch);

/// Collect the imatrix of `model` over `tokens` (the whole tokenized text, BOS included as the
/// tokenizer adds it). Errors: fewer tokens than one chunk, ctx < 16, cancellation.
Result<quant::ImatrixSums> computeImatrix(const LlamaModel& model, std::span<const int32_t> tokens,
                                          const ImatrixOptions& options);

}  // namespace qs::eval
