#pragma once
// Fit to budget in a closed loop: candidate plans of one file size, each scored by the model
// itself (mean KL divergence of the next-token distributions against the original on a
// calibration text), the best returned, never worse on that text than llama.cpp's preset(s) of
// that size. docs/OPTIMIZER.md ("Closed loop") states the method and the numbers:
//
//   1. the text's first ctx tokens are split: calibration (the first 1 - holdOut of them) and
//      held-out (the rest, after the text's first token; or, with a held-out text, as many
//      tokens of that other text), one reference run of the original on each (top-k caches,
//      reused by every candidate);
//   2. candidates: the presets (each must fit the budget), the optimizer's plan for the NMSE
//      table, the optimizer's plan for the KL-probe table (per-tensor KL on the first probeCtx
//      calibration tokens), then local moves from the best so far (one tie group one option
//      up and another one down, or one group up into the slack, under the budget), ranked by
//      the KL table's first-order estimate, a batch of movesPerRound per round, the best
//      accepted when it lowers the calibration KL;
//   3. the choice (chooseCandidate): the candidate with the lowest calibration KL, unless its
//      gain over the best preset is within noise (not more than noiseSigmas paired standard
//      errors of the per-position KL difference, or not more than nllSigmas of the
//      per-position log-likelihood difference: the noise a perplexity on a text of that
//      length has), or on the held-out part its KL gain is not more than heldOutSigmas paired
//      standard errors or its log-likelihood is lower than the preset's (a higher
//      perplexity): then the next candidate, and last the preset. So the result's calibration
//      KL is never above the best preset's, and a gain that is noise or does not carry over to
//      the held-out text is not taken.
//
// The time bound (maxSeconds) stops the loop between evaluations (the presets are always
// evaluated); cancel (options.cancel or the progress callback returning false) stops it with
// ErrorCode::Cancelled. Quantized tensors are cached per (tensor, type) across candidates.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "eval/evaluate.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/optimizer.h"
#include "quant/plan.h"
#include "quant/sensitivity.h"

namespace qs::eval {

enum class FitKind { Preset, Nmse, Kl, Move };
std::string_view fitKindName(FitKind k);  ///< "preset", "nmse", "kl", "move"

/// One plan the loop measured.
struct FitCandidate {
    FitKind kind = FitKind::Preset;
    std::string name;  ///< preset name, "nmse", "kl", or the move ("#3: blk.1.attn_v Q5_0->Q8_0,
                       ///< ...", #3 the candidate it moved from)
    quant::Plan plan;
    uint64_t fileBytes = 0;    ///< exact size of the export
    double predictedKl = -1;   ///< sum of the plan's per-tensor KL probes (< 0: no KL table)
    double klCalibration = 0;  ///< mean KL on the calibration tokens
    double klHeldOut = -1;     ///< mean KL on the held-out tokens (< 0: no hold-out)
    double pplCalibration = 0, pplHeldOut = 0;
    std::vector<float> klPositions;   ///< per calibration position (the noise estimates)
    std::vector<float> nllPositions;  ///< -log p(next token) per calibration position
    std::vector<float> klHeldOutPositions, nllHeldOutPositions;  ///< the same, held-out part
};

struct FitOptions {
    uint64_t targetBytes = 0;                 ///< file-size budget (every candidate fits it)
    std::vector<quant::Ftype> presets;        ///< the presets not to lose to (must fit)
    quant::Ftype base = quant::Ftype::Q8_0;   ///< base plan (locks, file_type label)
    quant::OptimizerOptions optimizer;        ///< allowed types, locks, ties, factors
    const quant::Imatrix* imatrix = nullptr;  ///< quantize (and build the presets) with it
    int64_t ctx = 512;                        ///< tokens of the text used (calibration + held-out)
    double holdOut = 0.25;                    ///< fraction of them held out (0: none)
    /// A held-out text of its own (tokens, BOS first when the model adds one): when not empty
    /// the calibration part is the first ctx * (1 - holdOut) tokens of the text and the
    /// held-out part the first ctx * holdOut tokens of this one (holdOut must be > 0), so the
    /// guard sees whether a gain carries over to another text, not only to the same text's
    /// tail. fitToBudgetOfText fills it from heldOutText.
    std::vector<int32_t> heldOutTokens;
    std::string heldOutText;  ///< fitToBudgetOfText: tokenized into heldOutTokens
    int64_t probeCtx = 128;   ///< calibration tokens the per-tensor KL probes score
    bool klProbes = true;     ///< build the KL-probe candidate (false: NMSE only)
    /// A KL-probe table made before on the same model, text and options (FitResult::klTable):
    /// the probes, which do not depend on the budget, are not run again. Null: probe.
    std::shared_ptr<const quant::SensitivityTable> klTable;
    /// Types measured per tensor group by the KL probes (KlSensitivityOptions::typesPerTensor):
    /// 0 = every type; -1 = automatic: every type on models under 20M parameters, else 3.
    int probeTypes = -1;
    /// Probes and candidates rerun only the layers from the first one they change, from a saved
    /// residual stream (the original's for the probes, the best candidate's for the moves).
    bool reusePrefix = true;
    int maxRounds = 8;         ///< rounds of local moves
    int movesPerRound = 6;     ///< moves evaluated per round
    double noiseSigmas = 2.0;  ///< a KL gain within this many standard errors of the KL is noise
    /// ... and one within this many standard errors of the per-position log-likelihood
    /// difference (the noise of a perplexity on a text of the calibration's length)
    double nllSigmas = 2.0;
    /// On the held-out part the KL gain must exceed this many paired standard errors (and
    /// the log-likelihood must not be lower than the preset's)
    double heldOutSigmas = 2.0;
    double maxSeconds = 0;  ///< time bound (0: none)
    int threads = 0;
    const quant::CancelToken* cancel = nullptr;
    /// One step per evaluation (doneBytes of totalBytes planned; `tensor` names the phase).
    quant::ProgressFn progress;
};

struct FitResult {
    std::vector<FitCandidate> candidates;  ///< in evaluation order
    size_t chosen = 0;                     ///< index into candidates
    std::optional<size_t> preset;          ///< the best preset (lowest calibration KL)
    size_t best = 0;                       ///< lowest calibration KL of all
    std::string rule;                      ///< why `chosen` was chosen, in words
    bool heldOutText = false;              ///< the held-out part came from another text
    double noise = 0;  ///< the chosen's noise threshold (see the rule), 0 for the preset
    int64_t calibrationTokens = 0, heldOutTokens = 0;
    int evaluations = 0;
    int probes = 0;             ///< KL probes run (forward passes of the probe tokens)
    int64_t resumedLayers = 0;  ///< layers the candidates' runs skipped by prefix reuse
    double probeSeconds = 0;    ///< time in the KL probes
    int acceptedMoves = 0;
    bool timedOut = false;  ///< maxSeconds stopped the search
    double seconds = 0;
    /// The KL-probe table the loop used (to pass back as FitOptions::klTable for another
    /// budget on the same text); null when it did not probe.
    std::shared_ptr<const quant::SensitivityTable> klTable;

    const FitCandidate& result() const { return candidates[chosen]; }
    /// How the plan was chosen, as key/value pairs for the recipe's "chosen_by".
    std::vector<std::pair<std::string, std::string>> provenance() const;
};

/// Run the loop on `tokens` (BOS first when the model wants one). `nmse` is the measured
/// weight-error table (its types are the candidates' types).
Result<FitResult> fitToBudget(const model::Model& model, const quant::SensitivityTable& nmse,
                              std::span<const int32_t> tokens, const FitOptions& options);

/// Step 3 of the loop on measured candidates: sets chosen, preset, best, rule and noise.
void chooseCandidate(FitResult& result, const FitOptions& options);

/// The same from a text, tokenized with the model's vocabulary.
Result<FitResult> fitToBudgetOfText(const model::Model& model, const quant::SensitivityTable& nmse,
                                    std::string_view text, const FitOptions& options);

/// The presets of a size: those of `pool` (llama-quantize's K-quant and i-quant presets when
/// empty) whose plan fits `targetBytes`, keeping every one of the largest size (several presets
/// write the same file on small models). Built with the imatrix flag as the export would.
std::vector<quant::Ftype> presetsOfSize(const model::Model& model, uint64_t targetBytes,
                                        const quant::Imatrix* imatrix,
                                        std::vector<quant::Ftype> pool = {});

}  // namespace qs::eval
