// quantscope-cli quantize / stats: plans, dry runs, exports and per-tensor analysis.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "formats/encoders.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "optimize_util.h"
#include "quant/analysis.h"
#include "quant/engine.h"
#include "quant/imatrix.h"
#include "quant/plan.h"
#include "quant/plan_compare.h"
#include "quant/recipe.h"
#include "workflow/progress.h"
#include "workflow/request.h"
#include "workflow/run.h"
#ifdef QS_HAVE_VULKAN
#include "vulkan_backend.h"
#endif

namespace qs::cli {

namespace {

int usage(const std::string& message) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return 2;
}

double snrOrInf(double v) {
    return std::isfinite(v) ? v : 999.0;
}

// The request the command line describes; the workflow builds and checks the plan.
Result<workflow::Request> requestFromOptions(const model::Model& m, const QuantizeCliOptions& o,
                                             const quant::Imatrix* imatrix) {
    workflow::Request r;
    r.model = &m;
    r.presetName = o.type;
    r.recipePath = o.recipe;
    r.ruleTexts = o.tensorTypes;
    r.ruleFile = o.tensorTypeFile;
    r.pure = o.pure;
    r.leaveOutputTensor = o.leaveOutputTensor;
    r.imatrix = imatrix;
    r.allowRequantize = o.allowRequantize;
    r.threads = o.threads;
    if (!o.outputTensorType.empty()) {
        auto t = workflow::parseWritableType(o.outputTensorType, "--output-tensor-type");
        if (!t) return t.error();
        r.outputType = *t;
    }
    if (!o.tokenEmbeddingType.empty()) {
        auto t = workflow::parseWritableType(o.tokenEmbeddingType, "--token-embedding-type");
        if (!t) return t.error();
        r.tokenEmbdType = *t;
    }
    return r;
}

}  // namespace

static Result<std::unique_ptr<quant::Backend>> backendFromOption(const std::string& text) {
    auto spec = workflow::parseBackendSpec(text);
    if (!spec) return spec.error();
    if (spec->isCpu()) return std::unique_ptr<quant::Backend>();
#ifdef QS_HAVE_VULKAN
    gpu::DeviceOptions dopt;
    if (spec->device) dopt.deviceIndex = *spec->device;
    auto b = gpu::makeVulkanBackend(dopt);
    if (b) {
        std::fprintf(stderr, "backend: %s (the CPU does what it does not cover)\n",
                     (*b)->name().c_str());
        return std::move(*b);
    }
    std::fprintf(stderr, "note: no Vulkan device (%s); using the CPU\n", b.error().what().c_str());
#else
    std::fprintf(stderr, "note: this build has no Vulkan backend; using the CPU\n");
#endif
    return std::unique_ptr<quant::Backend>();
}

int runQuantize(const QuantizeCliOptions& o) {
    auto backend = backendFromOption(o.backend);
    if (!backend) return fail(backend.error());
    if (!o.dryRun && o.output.empty()) return usage("-o/--output is required (or use --dry-run)");
    auto opened = model::openModel(o.model);
    if (!opened) return fail(opened.error());
    const model::Model& m = *opened;
    if (!m.convertedFrom().empty() && !o.dryRun) {
        // A Hugging Face folder, converted on the fly: say so, and whether it has a vocabulary.
        std::fprintf(stderr,
                     "note: %s is a Hugging Face %s model, converted to GGUF as it is read\n",
                     o.model.c_str(), m.convertedFrom().c_str());
        for (const auto& n : m.conversionNotes()) std::fprintf(stderr, "note: %s\n", n.c_str());
    }

    std::optional<quant::Imatrix> imatrix;
    if (!o.imatrix.empty()) {
        auto im = workflow::loadImatrixFor(m, o.imatrix);
        if (!im) return fail(im.error());
        imatrix = std::move(*im);
    }
    auto request = requestFromOptions(m, o, imatrix ? &*imatrix : nullptr);
    if (!request) return fail(request.error());
    auto plan = workflow::buildPlan(*request);
    if (!plan) return fail(plan.error());
    if (o.targetBpw > 0 || o.targetSize > 0) {  // the budget optimizer decides
        if (!o.recipe.empty() || !o.tensorTypes.empty() || !o.tensorTypeFile.empty()) {
            return usage(
                "--target-bpw/--target-size cannot be combined with --recipe or "
                "--tensor-type");
        }
        BudgetSpec spec;
        spec.targetBpw = o.targetBpw;
        spec.targetSize = o.targetSize;
        spec.types = o.optTypes;
        spec.lock = o.lock;
        spec.factors = o.factors;
        spec.base = o.type.empty() ? "Q8_0" : o.type;
        spec.exact = o.exact;
        spec.threads = o.threads;
        spec.progress = !o.json && !o.quiet;
        Optimized opt;
        if (auto st = optimizeForBudget(m, spec, imatrix ? &*imatrix : nullptr, opt); !st) {
            return fail(st.error());
        }
        if (!o.json) {
            std::fprintf(stderr,
                         "optimizer: %" PRIu64 " bytes for a budget of %" PRIu64
                         ", error %.6g (lower bound %.6g)\n",
                         opt.result.fileBytes, opt.targetBytes, opt.result.error,
                         opt.result.lowerBound);
            const auto sampled = workflow::sampledSummary(m, opt.table, opt.result.plan);
            if (const std::string line = workflow::describeSampled(sampled, opt.table, spec);
                !line.empty()) {
                std::fprintf(stderr, "%s\n", line.c_str());
            }
        }
        *plan = std::move(opt.result.plan);
    }
    if (!o.quantizer.empty()) {
        auto q = formats::parseQuantizer(o.quantizer);
        if (!q) return fail(q.error());
        request->quantizer = *q;
    }
    // A dry run shows any plan, as llama-quantize --dry-run does; writing needs every type to be
    // writable, an imatrix where llama.cpp requires one, and --allow-requantize to re-quantize.
    auto checked = workflow::validate(*request, std::move(*plan), !o.dryRun);
    if (!checked) return fail(checked.error());
    const quant::Plan& qp = checked->plan;
    if (!checked->requantizeWarning.empty()) {
        std::fprintf(stderr, "warning: %s%s\n", checked->requantizeWarning.c_str(),
                     o.allowRequantize ? "" : " (refused without --allow-requantize)");
    }
    quant::SplitOptions split;
    if (!o.splitMaxSize.empty()) {
        auto bytes = quant::parseSplitSize(o.splitMaxSize);
        if (!bytes) return fail(bytes.error());
        split.maxBytes = *bytes;
    }
    split.maxTensors = o.splitMaxTensors;
    split.keepSplit = o.keepSplit;
    // Every file's exact size, before anything is written (the writers the export then fills).
    auto prepared = workflow::prepareExport(*checked, split, o.output);
    if (!prepared) return fail(prepared.error());
    const auto shards = prepared->predictions();
    const uint64_t predictedTotal = prepared->fileBytes();
    const uint64_t* fileSize = &predictedTotal;
    auto pathJson = [](const std::string& p) {
        return p.empty() ? nlohmann::json(nullptr) : nlohmann::json(p);
    };

    const auto& order = checked->order;
    uint64_t params = 0;
    for (const auto& t : m.tensors()) params += uint64_t(t.nElements);

    if (o.dryRun) {
        if (o.json) {
            nlohmann::ordered_json j;
            j["schema"] = "quantscope.quantize/1";
            j["dry_run"] = true;
            j["model"] = m.path();
            j["preset"] = qp.ftype ? nlohmann::json(quant::ftypeInfo(*qp.ftype).name)
                                   : nlohmann::json(nullptr);
            auto& ts = j["tensors"] = nlohmann::json::array();
            for (size_t i : order) {
                const auto& t = m.tensors()[i];
                const auto& c = qp.tensors[i];
                ts.push_back({{"name", t.name},
                              {"source_type", formats::typeName(t.type)},
                              {"type", formats::typeName(c.type)},
                              {"requested_type", formats::typeName(c.requested)},
                              {"origin", quant::originName(c.origin)},
                              {"fallback", c.fellBack},
                              {"parameters", t.nElements},
                              {"bytes", qp.tensorBytes(m, i)}});
            }
            j["data_bytes"] = qp.dataBytes(m);
            j["file_bytes"] = *fileSize;
            auto& sj = j["shards"] = nlohmann::json::array();
            for (const auto& sh : shards) {
                sj.push_back({{"path", pathJson(sh.path)},
                              {"file_bytes", sh.fileBytes},
                              {"tensors", sh.tensorCount}});
            }
            j["source_bytes"] = m.totalBytes();
            j["bits_per_weight"] =
                8.0 * double(qp.dataBytes(m)) / double(std::max<uint64_t>(1, params));
            std::printf("%s\n", j.dump(2).c_str());
            return 0;
        }
        std::printf("%-40s %-8s -> %-8s %12s  %s\n", "tensor", "from", "to", "bytes", "why");
        for (size_t i : order) {
            const auto& t = m.tensors()[i];
            const auto& c = qp.tensors[i];
            std::string why(quant::originName(c.origin));
            if (c.fellBack) {
                why += " (" + std::string(formats::typeName(c.requested)) +
                       " cannot hold rows of " + std::to_string(t.rowLength()) + ": fallback)";
            }
            std::printf("%-40s %-8s -> %-8s %12" PRIu64 "  %s\n", t.name.c_str(),
                        std::string(formats::typeName(t.type)).c_str(),
                        std::string(formats::typeName(c.type)).c_str(), qp.tensorBytes(m, i),
                        why.c_str());
        }
        std::printf("\ndata %" PRIu64 " bytes (%.2f MiB, %.4f bits per weight); file %" PRIu64
                    " bytes; source %" PRIu64 " bytes\n",
                    qp.dataBytes(m), double(qp.dataBytes(m)) / 1048576.0,
                    8.0 * double(qp.dataBytes(m)) / double(std::max<uint64_t>(1, params)),
                    *fileSize, m.totalBytes());
        if (shards.size() > 1) {
            for (size_t k = 0; k < shards.size(); ++k) {
                const auto& sh = shards[k];
                std::printf("shard %zu of %zu: %zu tensors, %" PRIu64 " bytes%s%s\n", k + 1,
                            shards.size(), sh.tensorCount, sh.fileBytes,
                            sh.path.empty() ? "" : "  ", sh.path.c_str());
            }
        }
        return 0;
    }

    workflow::ExportOptions eo;
    eo.backend = backend->get();
    eo.spaceCheck = !o.noSpaceCheck;
    eo.progress = workflow::terminalProgress("", !o.json && !o.quiet);
    const quant::QuantizeOptions qo = workflow::quantizeOptions(*checked, eo);
    auto summary = workflow::exportPlan(*checked, std::move(*prepared), eo);
    workflow::endProgressLine(eo.progress);
    if (!summary) {
        if (qo.spaceCheck && summary.error().message.starts_with("not enough free space")) {
            summary.error().message += " (--no-space-check writes anyway)";
        }
        return fail(summary.error());
    }
    for (const auto& n : summary->notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    for (const auto& w : summary->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.quantize/1";
        j["dry_run"] = false;
        j["model"] = m.path();
        j["output"] = o.output;
        j["preset"] =
            qp.ftype ? nlohmann::json(quant::ftypeInfo(*qp.ftype).name) : nlohmann::json(nullptr);
        auto& ts = j["tensors"] = nlohmann::json::array();
        for (const auto& r : summary->tensors) {
            const auto& t = m.tensors()[r.index];
            ts.push_back({{"name", t.name},
                          {"source_type", formats::typeName(t.type)},
                          {"type", formats::typeName(r.type)},
                          {"parameters", t.nElements},
                          {"bytes", r.bytes},
                          {"copied", r.copied},
                          {"imatrix", r.usedImatrix},
                          {"encoder", r.encoderName()},
                          {"rmse", r.metrics.rmse},
                          {"nmse", r.metrics.nmse},
                          {"snr_db", snrOrInf(r.metrics.snrDb)},
                          {"cosine", r.metrics.cosine},
                          {"max_abs_error", r.metrics.maxAbsErr},
                          {"weighted_nmse", r.metrics.weightedNmse}});
        }
        j["file_bytes"] = summary->fileBytes;
        j["predicted_file_bytes"] = *fileSize;
        auto& sj = j["shards"] = nlohmann::json::array();
        for (const auto& sh : summary->shards) {
            sj.push_back({{"path", sh.path},
                          {"file_bytes", sh.fileBytes},
                          {"predicted_file_bytes", sh.predictedBytes},
                          {"tensors", sh.tensorCount}});
        }
        j["backend"] = qo.backend ? qo.backend->name() : std::string("cpu");
        j["source_bytes"] = summary->sourceBytes;
        j["seconds"] = summary->seconds;
        j["warnings"] = summary->warnings;
        j["notes"] = summary->notes;
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    if (!o.quiet) {
        std::printf("%-40s %-8s %12s %12s %9s\n", "tensor", "type", "bytes", "nmse", "snr dB");
        for (const auto& r : summary->tensors) {
            const auto& t = m.tensors()[r.index];
            std::printf("%-40s %-8s %12" PRIu64 " %12.4e %9.2f\n", t.name.c_str(),
                        std::string(formats::typeName(r.type)).c_str(), r.bytes, r.metrics.nmse,
                        snrOrInf(r.metrics.snrDb));
        }
    }
    if (qo.backend && !o.quiet) {
        // Which engine encoded what: the backend, or the CPU for the types (or chunks) it
        // does not cover, e.g. the grid i-quants' searches on Vulkan.
        size_t onBackend = 0, onCpu = 0, mixed = 0;
        std::set<std::string> cpuTypes;
        for (const auto& r : summary->tensors) {
            const std::string e = r.encoderName();
            onBackend += e == "backend";
            mixed += e == "mixed";
            if (e == "cpu" || e == "mixed") {
                onCpu += e == "cpu";
                cpuTypes.insert(std::string(formats::typeName(r.type)));
            }
        }
        std::string types;
        for (const auto& t : cpuTypes) types += (types.empty() ? "" : ", ") + t;
        std::printf("encoded on %s: %zu tensors; on the CPU: %zu%s%s%s; partly each: %zu\n",
                    qo.backend->name().c_str(), onBackend, onCpu, types.empty() ? "" : " (",
                    types.c_str(), types.empty() ? "" : ")", mixed);
    }
    if (summary->shards.size() > 1) {
        for (const auto& sh : summary->shards) {
            std::printf("wrote %s: %zu tensors, %" PRIu64 " bytes\n", sh.path.c_str(),
                        sh.tensorCount, sh.fileBytes);
        }
        std::printf("wrote %zu files: %" PRIu64 " bytes (%.2f MiB) from %" PRIu64 " in %.2f s\n",
                    summary->shards.size(), summary->fileBytes,
                    double(summary->fileBytes) / 1048576.0, summary->sourceBytes, summary->seconds);
        return 0;
    }
    std::printf("wrote %s: %" PRIu64 " bytes (%.2f MiB) from %" PRIu64 " in %.2f s\n",
                summary->shards.empty() ? o.output.c_str() : summary->shards[0].path.c_str(),
                summary->fileBytes, double(summary->fileBytes) / 1048576.0, summary->sourceBytes,
                summary->seconds);
    return 0;
}

int runStats(const StatsCliOptions& o) {
    if (o.all) return runStatsAll(o);
    if (o.tensor.empty()) return usage("stats needs --tensor NAME or --all");
    auto backend = backendFromOption(o.backend);
    if (!backend) return fail(backend.error());
    auto opened = model::openModel(o.model);
    if (!opened) return fail(opened.error());
    const model::Model& m = *opened;
    const auto idx = m.indexOf(o.tensor);
    if (idx < 0) {
        return fail(
            makeError(ErrorCode::BadUsage, "no such tensor", m.path(), kNoOffset, o.tensor));
    }
    std::optional<formats::TensorType> type;
    if (!o.type.empty()) {
        auto t = workflow::parseWritableType(o.type, "--type");
        if (!t) return fail(t.error());
        type = *t;
    }
    std::optional<quant::Imatrix> imatrix;
    if (!o.imatrix.empty()) {
        auto im = quant::loadImatrix(o.imatrix);
        if (!im) return fail(im.error());
        imatrix = std::move(*im);
    }
    auto quantizer = formats::parseQuantizer(o.quantizer);
    if (!quantizer) return fail(quantizer.error());
    workflow::Request request;
    request.model = &m;
    request.imatrix = imatrix ? &*imatrix : nullptr;
    request.quantizer = *quantizer;
    request.threads = o.threads;
    auto a = workflow::tensorStats(request, size_t(idx), type, o.bins, backend->get());
    if (!a) return fail(a.error());
    const auto& t = m.tensors()[size_t(idx)];
    auto histJson = [](const stats::Histogram& h) {
        return nlohmann::ordered_json{{"lo", h.lo},
                                      {"hi", h.hi},
                                      {"counts", h.bins},
                                      {"underflow", h.underflow},
                                      {"overflow", h.overflow},
                                      {"non_finite", h.nonFinite}};
    };
    if (o.json) {
        nlohmann::ordered_json j;
        j["schema"] = "quantscope.stats/1";
        j["tensor"] = t.name;
        j["shape"] = t.shape;
        j["source_type"] = formats::typeName(t.type);
        j["parameters"] = t.nElements;
        j["min"] = a->min;
        j["max"] = a->max;
        j["mean"] = a->mean;
        j["stddev"] = a->stddev;
        j["histogram"] = histJson(a->original);
        if (a->type) {
            j["type"] = formats::typeName(*a->type);
            j["bytes"] = a->bytes;
            j["metrics"] = {{"rmse", a->metrics.rmse},
                            {"nmse", a->metrics.nmse},
                            {"snr_db", snrOrInf(a->metrics.snrDb)},
                            {"cosine", a->metrics.cosine},
                            {"max_abs_error", a->metrics.maxAbsErr},
                            {"weighted_nmse", a->metrics.weightedNmse}};
            j["decoded_histogram"] = histJson(a->decoded);
            j["error_histogram"] = histJson(a->error);
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("%s  %s  %s  %" PRId64 " parameters\n", t.name.c_str(), t.shapeString().c_str(),
                std::string(formats::typeName(t.type)).c_str(), t.nElements);
    std::printf("min %.6g  max %.6g  mean %.6g  stddev %.6g\n", a->min, a->max, a->mean, a->stddev);
    auto draw = [](const char* title, const stats::Histogram& h) {
        uint64_t peak = 1;
        for (auto c : h.bins) peak = std::max(peak, c);
        std::printf("\n%s (%zu bins over [%.4g, %.4g))\n", title, h.bins.size(), h.lo, h.hi);
        for (size_t i = 0; i < h.bins.size(); ++i) {
            const int bar = int(50.0 * double(h.bins[i]) / double(peak) + 0.5);
            std::printf("%12.4g %10" PRIu64 " %s\n", h.edge(i), h.bins[i],
                        std::string(size_t(bar), '#').c_str());
        }
    };
    draw("weights", a->original);
    if (a->type) {
        std::printf("\nas %s: %" PRIu64
                    " bytes, rmse %.4e, nmse %.4e, snr %.2f dB, cosine %.6f, "
                    "max |error| %.4e\n",
                    std::string(formats::typeName(*a->type)).c_str(), a->bytes, a->metrics.rmse,
                    a->metrics.nmse, snrOrInf(a->metrics.snrDb), a->metrics.cosine,
                    a->metrics.maxAbsErr);
        draw("error", a->error);
    }
    return 0;
}

}  // namespace qs::cli
