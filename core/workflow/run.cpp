#include "workflow/run.h"

namespace qs::workflow {

Result<uint64_t> predictedFileBytes(const ValidatedPlan& p) {
    return quant::predictFileSize(*p.model, p.plan, p.imatrix);
}

uint64_t PreparedExport::fileBytes() const {
    uint64_t total = 0;
    for (const auto& s : shards) total += s.writer->fileSize();
    return total;
}

std::vector<quant::ShardPrediction> PreparedExport::predictions() const {
    std::vector<quant::ShardPrediction> out;
    for (const auto& s : shards) out.push_back({s.path, s.writer->fileSize(), s.tensors.size()});
    return out;
}

Result<PreparedExport> prepareExport(const ValidatedPlan& p, const quant::SplitOptions& split,
                                     const std::string& outPath) {
    auto shards = quant::prepareSplitExport(*p.model, p.plan, p.imatrix, split, outPath);
    if (!shards) return shards.error();
    PreparedExport out;
    out.outPath = outPath;
    out.split = split;
    out.shards = std::move(*shards);
    return out;
}

quant::QuantizeOptions quantizeOptions(const ValidatedPlan& p, const ExportOptions& o) {
    quant::QuantizeOptions qo;
    qo.threads = p.threads;
    qo.imatrix = p.imatrix;
    qo.backend = o.backend;
    qo.quantizer = p.plan.quantizer;
    qo.metrics = o.metrics;
    qo.cancel = o.cancel;
    qo.progress = o.progress;
    qo.spaceCheck = o.spaceCheck;
    return qo;
}

Result<quant::ExportSummary> exportPlan(const ValidatedPlan& p, PreparedExport prepared,
                                        const ExportOptions& o) {
    if (!p.forWriting) {
        return makeError(ErrorCode::Internal, "the plan was validated for showing, not writing",
                         p.model->path());
    }
    quant::QuantizeOptions qo = quantizeOptions(p, o);
    qo.split = prepared.split;
    return quant::exportShards(*p.model, p.plan, std::move(prepared.shards), prepared.outPath, qo);
}

Result<quant::ExportSummary> exportPlan(const ValidatedPlan& p, const std::string& outPath,
                                        const quant::SplitOptions& split, const ExportOptions& o) {
    if (outPath.empty()) return makeError(ErrorCode::BadUsage, "no output path");
    auto prepared = prepareExport(p, split, outPath);
    if (!prepared) return prepared.error();
    return exportPlan(p, std::move(*prepared), o);
}

Result<quant::TensorAnalysis> tensorStats(const Request& r, size_t index,
                                          std::optional<formats::TensorType> type, int bins,
                                          quant::Backend* backend) {
    if (!r.model) return makeError(ErrorCode::BadUsage, "no model");
    quant::QuantizeOptions qo;
    qo.threads = r.threads;
    qo.imatrix = r.imatrix;
    qo.backend = backend;
    qo.quantizer = r.quantizer.value_or(formats::Quantizer::Ggml);
    return quant::analyzeTensor(*r.model, index, type, bins, qo);
}

Result<eval::LlamaModel> bindForEval(const ValidatedPlan& p) {
    quant::QuantizeOptions qo;
    qo.threads = p.threads;
    qo.imatrix = p.imatrix;
    qo.quantizer = p.plan.quantizer;
    return eval::bindWithPlan(*p.model, p.plan, qo);
}

Result<eval::PlanEvaluation> evaluate(const ValidatedPlan& p, std::span<const int32_t> tokens,
                                      const eval::EvalOptions& options,
                                      const eval::ReferenceCache* cached) {
    eval::EvalOptions o = options;
    o.imatrix = p.imatrix;
    return eval::evaluatePlan(*p.model, p.plan, tokens, o, cached);
}

}  // namespace qs::workflow
