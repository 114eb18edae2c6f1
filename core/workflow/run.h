#pragma once
// The steps after a validated plan (workflow/request.h): its exact size, the export, the
// statistics of one tensor and the evaluation. Thin wrappers over the engines (quant/engine.h,
// quant/analysis.h, eval/plan_eval.h) that take the plan's imatrix, threads and quantizer from
// the request, so that the CLI and the explorer cannot pass them differently.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "eval/plan_eval.h"
#include "quant/analysis.h"
#include "quant/engine.h"
#include "quant/export_shards.h"
#include "workflow/progress.h"
#include "workflow/request.h"

namespace qs::workflow {

/// The exact size of the file the plan exports to (unsplit), in bytes.
Result<uint64_t> predictedFileBytes(const ValidatedPlan& plan);

/// The files of an export, prepared once: their exact sizes are known before anything is
/// written, and exportPlan writes these very writers.
struct PreparedExport {
    std::string outPath;  ///< may be empty (a dry run): the shards then have no paths
    quant::SplitOptions split;
    std::vector<quant::ExportShard> shards;

    uint64_t fileBytes() const;
    std::vector<quant::ShardPrediction> predictions() const;
};
Result<PreparedExport> prepareExport(const ValidatedPlan& plan, const quant::SplitOptions& split,
                                     const std::string& outPath);

/// How the export runs; the backend (not owned) is made by the caller from plan.backend.
struct ExportOptions {
    quant::Backend* backend = nullptr;
    ProgressFn progress;
    const quant::CancelToken* cancel = nullptr;
    bool metrics = true;  ///< error metrics per tensor (the CLI's table)
    bool spaceCheck = true;
};

/// The engine's options for the plan: threads, imatrix and quantizer from the request.
quant::QuantizeOptions quantizeOptions(const ValidatedPlan& plan, const ExportOptions& options);

/// Write the prepared files (quant::exportShards). Refused for a plan validated for showing
/// only (forWriting false).
Result<quant::ExportSummary> exportPlan(const ValidatedPlan& plan, PreparedExport prepared,
                                        const ExportOptions& options);
/// prepareExport, then exportPlan.
Result<quant::ExportSummary> exportPlan(const ValidatedPlan& plan, const std::string& outPath,
                                        const quant::SplitOptions& split,
                                        const ExportOptions& options);

/// Statistics of one tensor and, with `type`, of its quantization (quant::analyzeTensor) with
/// the request's imatrix, quantizer and threads.
Result<quant::TensorAnalysis> tensorStats(const Request& request, size_t index,
                                          std::optional<formats::TensorType> type, int bins,
                                          quant::Backend* backend = nullptr);

/// The model with the plan's weights quantized in memory (eval::bindWithPlan).
Result<eval::LlamaModel> bindForEval(const ValidatedPlan& plan);
/// One evaluation of the plan against the original (eval::evaluatePlan), with its imatrix.
Result<eval::PlanEvaluation> evaluate(const ValidatedPlan& plan, std::span<const int32_t> tokens,
                                      const eval::EvalOptions& options,
                                      const eval::ReferenceCache* cached = nullptr);

}  // namespace qs::workflow
