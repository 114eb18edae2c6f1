#pragma once
// Closed-loop quality of a model on a token sequence: perplexity, and against a reference run
// of the original model on the same tokens, KL divergence (mean, 99th percentile, max), top-1
// agreement and per-position traces. The reference keeps only its top-k log-probabilities per
// position (plus the probability mass of the rest), so its cache stays small: KL is computed
// over those k tokens and one "rest" bucket, which is exact when k >= the vocabulary.
//
// Scoring follows the reference numbers of shared/models/README.md (tests/js/perplexity.mjs):
// one context of the first ctx tokens, and every position from `firstScored` on predicts the
// next token. llama-perplexity instead scores only the second half of each context
// (firstScored = ctx / 2) and starts each chunk with BOS.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "eval/forward.h"
#include "quant/imatrix.h"

namespace qs::eval {

struct EvalOptions {
    int64_t ctx = 512;        ///< tokens in the context; longer input is cut (0 = all)
    int64_t firstScored = 0;  ///< first position whose next-token prediction counts
    int topK = 32;            ///< log-probabilities kept per position by a reference run
    ForwardOptions forward;
    /// Importance matrix for the weights a plan or a probe quantizes in memory (as the export
    /// would use it); null = plain quantization.
    const quant::Imatrix* imatrix = nullptr;
};

/// The top-k log-probabilities of a reference model at each scored position.
struct ReferenceCache {
    int32_t vocab = 0;
    int32_t topK = 0;
    int64_t firstScored = 0;
    std::vector<int32_t> tokens;  ///< the evaluated context (ctx tokens)
    std::vector<int32_t> ids;     ///< positions x topK, most probable first
    std::vector<float> logProbs;  ///< positions x topK
    std::vector<float> nll;       ///< the reference's own -log p(next) per position
    double perplexity = 0;

    int64_t positions() const { return int64_t(nll.size()); }
    /// Write/read a small binary file ("QSREFC1"). Errors name the file and offset.
    Status save(const std::string& path) const;
    static Result<ReferenceCache> load(const std::string& path);
};

struct EvalResult {
    int64_t tokens = 0;  ///< tokens in the context
    int64_t scored = 0;  ///< positions scored
    double perplexity = 0;
    double meanNll = 0;
    std::vector<float> nll;  ///< per scored position
    // Against a reference (when one was given).
    bool hasReference = false;
    double referencePerplexity = 0;
    double klMean = 0, klP99 = 0, klMax = 0, klMedian = 0;
    double top1Agreement = 0;       ///< fraction of positions with the same argmax
    std::vector<float> kl;          ///< per scored position
    std::vector<uint8_t> top1Same;  ///< per scored position
    double seconds = 0;
    double tokensPerSecond = 0;  ///< context tokens through the forward pass per second
};

/// Cut `tokens` to the context and check it leaves something to score.
Result<std::vector<int32_t>> contextTokens(std::span<const int32_t> tokens,
                                           const EvalOptions& options);

/// Run the reference model once and keep its top-k cache (and its own perplexity).
Result<ReferenceCache> runReference(const LlamaModel& model, std::span<const int32_t> tokens,
                                    const EvalOptions& options);

/// Evaluate `model` on `tokens`; with `reference` (made on the same tokens) also KL divergence
/// and top-1 agreement. The reference's tokens and positions must match.
Result<EvalResult> evaluate(const LlamaModel& model, std::span<const int32_t> tokens,
                            const EvalOptions& options, const ReferenceCache* reference = nullptr);

/// llama-perplexity's scoring: the tokens cut into floor(n / ctx) chunks of ctx tokens, the first
/// token of each chunk replaced by BOS, only the second half of each chunk scored (positions
/// ctx/2 .. ctx-2 predicting the next token). Perplexity over all chunks; `nll` holds every
/// scored position, chunk after chunk. Errors: fewer than ctx tokens, ctx < 4.
Result<EvalResult> evaluateChunked(const LlamaModel& model, std::span<const int32_t> tokens,
                                   int64_t ctx, int32_t bos, const ForwardOptions& options);

/// Percentile p (0..100) of `v` by linear interpolation between closest ranks.
double percentile(std::vector<float> v, double p);

}  // namespace qs::eval
