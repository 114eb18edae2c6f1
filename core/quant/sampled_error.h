#pragma once
// The sampled error of a tensor in a type: the core sampler behind `quantscope-cli stats --all`
// and the explorer's error atlas, made for models of hundreds of gigabytes.
//
// A tensor of more than `exactBelowValues` values is measured on a seeded, stratified sample of
// its rows: the rows are cut into equal contiguous strata (never across an expert of a 3-D
// `*_exps` tensor), two rows are drawn at random in each, and only those rows are read, encoded,
// decoded and compared. NMSE = sum e^2 / sum x^2 is estimated with the combined ratio estimator
// Y^ / X^ (Y^, X^ the stratified expansions of the per-row sums of e^2 and x^2) and its standard
// error with the larger of the delta method, var = sum_h N_h^2 (1 - m_h / N_h) s_h^2(d) / m_h / X^2
// (d = e^2 - R^ x^2 per sampled row, finite population correction included), and the stratified
// jackknife, widened by t_0.975(df) / 1.96 where df is Satterthwaite's degrees of freedom of that
// variance: +-1.96 standard errors (ci95()) is then the Student-t 95 % interval, the "±" every
// front end states (`stats --json`'s ci95, the explorer's "± x % (95 %)"). On heavy-tailed weights
// one sampled row can carry most of the variance (df near 1): the plain delta method then covered
// the exact error in 89 % of cases within 2 standard errors, the widened one in 95-98 %
// (docs/BENCHMARKS.md). Small tensors, and every tensor when `exact` is set, are measured on
// every row, giving the same NMSE as the export's metrics (stdError 0).
//
// The pages of the file read for a tensor are released (madvise DONTNEED) once it is measured, so
// the resident memory stays near a sample, not the model. Results never depend on the thread
// count: the draw depends on (seed, tensor name) only and sums run in sample order.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/result.h"
#include "formats/encode_best.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan.h"

namespace qs::quant {

/// The z factor of a two-sided 95 % interval. The stated standard errors are already widened by
/// t_0.975(df) / z (see above), so z x stdError is the Student-t 95 % interval's half-width.
inline constexpr double kZ95 = 1.959964;

/// How tensors are measured.
struct ErrorSampling {
    bool exact = false;                    ///< every row of every tensor
    uint64_t exactBelowValues = 1u << 22;  ///< tensors this small are measured exactly
    int64_t sampleRows = 256;              ///< rows per tensor (2 per stratum; >= 4)
    uint64_t seed = 1;                     ///< the draw; same seed, same rows
    bool operator==(const ErrorSampling&) const = default;
};

/// The error of one expert of a 3-D expert tensor (same estimator, restricted to its rows).
struct ExpertError {
    double nmse = 0;
    double weightedNmse = 0;
    double stdError = 0;  ///< of weightedNmse, absolute; 0 when exact
    uint64_t rowsMeasured = 0;
    /// Half-width of the 95 % interval of weightedNmse (absolute; 0 when exact).
    double ci95() const { return kZ95 * stdError; }
};

/// The measured (or estimated) error of one tensor in one type.
struct TensorErrorEstimate {
    size_t index = 0;
    formats::TensorType type = formats::TensorType::F16;  ///< as written (after the fallback)
    bool copy = false;     ///< same type as the source: lossless, nothing measured
    bool sampled = false;  ///< estimated from a sample of rows (else every row)
    uint64_t rowsMeasured = 0;
    uint64_t rowsTotal = 0;
    double nmse = 0;          ///< sum e^2 / sum x^2
    double weightedNmse = 0;  ///< sum w e^2 / sum w x^2 (= nmse without an imatrix)
    double stdError = 0;      ///< standard error of weightedNmse (absolute); 0 when exact
    double nmseStdError = 0;  ///< standard error of nmse
    /// stdError / weightedNmse (0 when exact or when the error is 0).
    double relativeStdError() const { return weightedNmse > 0 ? stdError / weightedNmse : 0; }
    /// Half-width of the 95 % interval of weightedNmse: kZ95 x the (t-widened) standard error, so
    /// weightedNmse +- ci95() is the Student-t 95 % interval (absolute; 0 when exact).
    double ci95() const { return kZ95 * stdError; }
    /// One entry per expert for a 3-D tensor (shape[2] experts) when asked for, else empty.
    std::vector<ExpertError> experts;
};

struct ErrorEstimateOptions {
    ErrorSampling sampling;
    const Imatrix* imatrix = nullptr;
    bool perExpert = false;  ///< fill TensorErrorEstimate::experts for 3-D tensors
    /// Whose encoding is measured: ggml's or the best quantizer's (formats/encode_best.h).
    formats::Quantizer quantizer = formats::Quantizer::Ggml;
    int threads = 0;
    const CancelToken* cancel = nullptr;
};

/// The error of tensor `index` in `type` (the shape fallback applied first). Errors: an index
/// out of range, a type that cannot be written for this tensor, an imatrix entry of the wrong
/// length, undecodable or non-finite source rows (naming file, tensor and byte offset),
/// cancellation.
Result<TensorErrorEstimate> estimateTensorError(const model::Model& model, size_t index,
                                                formats::TensorType type,
                                                const ErrorEstimateOptions& options);

/// Measured errors keyed by (tensor, type, quantizer, sampling, per-expert, imatrix entry), shared
/// by every job of one model (the atlas, `stats --all`, the optimizer's sensitivity table through
/// SensitivityOptions::sharedCache): asking again for a pair costs nothing. `imatrixKey` is
/// imatrixKeyOf() of the options' imatrix for the tensor (0: none). Thread-safe. An exact entry
/// also answers a sampled question.
class ErrorEstimateCache {
public:
    std::optional<TensorErrorEstimate> find(size_t index, formats::TensorType type,
                                            const ErrorSampling& sampling, bool perExpert,
                                            formats::Quantizer quantizer = formats::Quantizer::Ggml,
                                            uint64_t imatrixKey = 0) const;
    void insert(const TensorErrorEstimate& e, const ErrorSampling& sampling, bool perExpert,
                formats::Quantizer quantizer = formats::Quantizer::Ggml, uint64_t imatrixKey = 0);
    void clear();
    size_t size() const;

private:
    struct Key {
        size_t index;
        uint32_t type;
        formats::Quantizer quantizer;
        bool exact;
        uint64_t exactBelow;
        int64_t rows;
        uint64_t seed;
        bool perExpert;
        uint64_t imatrix;
        auto operator<=>(const Key&) const = default;
    };
    static Key keyOf(size_t index, formats::TensorType type, const ErrorSampling& s, bool perExpert,
                     formats::Quantizer quantizer, uint64_t imatrixKey);
    mutable std::mutex m_mu;
    std::map<Key, TensorErrorEstimate> m_map;
};

/// The cache key of `imatrix`'s entry for `tensor`: a hash of its values, 0 without one.
uint64_t imatrixKeyOf(const Imatrix* imatrix, const std::string& tensor);

/// estimateTensorError through `cache` (may be null); `*fromCache` (when given) tells whether
/// the answer came from the cache.
Result<TensorErrorEstimate> estimateTensorErrorCached(const model::Model& model, size_t index,
                                                      formats::TensorType type,
                                                      const ErrorEstimateOptions& options,
                                                      ErrorEstimateCache* cache,
                                                      bool* fromCache = nullptr);

/// The error of every tensor of `plan` in its planned type, written by the plan's quantizer
/// (plan.quantizer replaces options.quantizer), in model order. Tensors that are
/// not quantized (copies) get copy = true. `progress` counts the source bytes of the tensors
/// done (returning false cancels).
Result<std::vector<TensorErrorEstimate>> estimatePlanErrors(const model::Model& model,
                                                            const Plan& plan,
                                                            const ErrorEstimateOptions& options,
                                                            ErrorEstimateCache* cache = nullptr,
                                                            const ProgressFn& progress = {});

/// A plan's error summed over tensors: parameter-weighted mean NMSE and its standard error
/// (tensors independent), over the tensors measured.
struct PlanErrorTotals {
    double weightedNmse = 0;
    double stdError = 0;
    int64_t parameters = 0;
    size_t sampledTensors = 0;
    double maxRelativeStdError = 0;
    double ci95() const { return kZ95 * stdError; }  ///< half-width of the 95 % interval
};
PlanErrorTotals totalsOf(const model::Model& model, const std::vector<TensorErrorEstimate>& e);

}  // namespace qs::quant
