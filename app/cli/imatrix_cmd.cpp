// quantscope-cli imatrix: an importance matrix from our own forward pass, written in llama.cpp's
// GGUF imatrix format; merges files (--in-file) and prints llama-imatrix's statistics.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "eval/imatrix_collect.h"
#include "eval/tokenizer.h"
#include "model/model.h"
#include "quant/imatrix_sums.h"

namespace qs::cli {

namespace {

void printStatistics(const quant::ImatrixStatistics& st) {
    std::printf("\n%6s %-20s %14s %10s %12s %10s %10s %9s %7s %10s %9s %9s %8s\n", "Layer",
                "Tensor", "Sum(Act^2)", "Min", "Max", "Mean", "StdDev", "%Active", "N", "Entropy",
                "E(norm)", "ZD", "CosSim");
    for (const auto& t : st.tensors) {
        std::printf(
            "%6s %-20s %14.2f %10.4f %12.4f %10.2f %10.2f %8.2f%% %7d %10.4f %8.2f%% "
            "%8.2f%% %8.4f\n",
            t.layer.c_str(), t.shortName.c_str(), t.sumSq, t.minSq, t.maxSq, t.mean, t.stddev,
            100.0f * t.active, t.elements, t.entropy, t.entropyNorm, 100.0f * t.zd, t.cossim);
    }
    std::printf("\nper layer, weighted by columns\n%7s %14s %10s %8s\n", "Layer", "Mean Sum(Act^2)",
                "Mean ZD", "CosSim");
    for (const auto& l : st.layers) {
        if (l.layer < 0) continue;
        std::printf("%7d %14.2f %9.4f%% %8.4f\n", l.layer, l.meanSumSq, 100.0f * l.meanZd,
                    l.meanCossim);
    }
}

nlohmann::json statisticsJson(const quant::ImatrixStatistics& st) {
    nlohmann::json j;
    j["tensors"] = nlohmann::json::array();
    for (const auto& t : st.tensors) {
        j["tensors"].push_back(
            {{"name", t.tensor},
             {"layer", t.layer},
             {"tensor", t.shortName},
             {"sum_sq", t.sumSq},
             {"min", t.minSq},
             {"max", t.maxSq},
             {"mean", t.mean},
             {"stddev", t.stddev},
             {"active", t.active},
             {"elements", t.elements},
             {"entropy", t.entropy},
             {"entropy_norm", t.entropyNorm},
             {"zd", t.zd},
             {"cossim", t.hasPrevious ? nlohmann::json(t.cossim) : nlohmann::json()}});
    }
    j["layers"] = nlohmann::json::array();
    for (const auto& l : st.layers) {
        if (l.layer < 0) continue;
        j["layers"].push_back({{"layer", l.layer},
                               {"mean_sum_sq", l.meanSumSq},
                               {"mean_zd", l.meanZd},
                               {"mean_cossim", l.meanCossim},
                               {"elements", l.elements}});
    }
    return j;
}

}  // namespace

int runImatrix(const ImatrixCliOptions& o) {
    if (o.model.empty() && o.inFiles.empty()) {
        return fail(
            makeError(ErrorCode::BadUsage, "imatrix: give MODEL --text FILE, or --in-file FILE"));
    }
    if (!o.model.empty() && o.text.empty()) {
        return fail(makeError(ErrorCode::BadUsage,
                              "imatrix: MODEL needs --text FILE (the calibration text)"));
    }
    if (o.model.empty() && !o.text.empty()) {
        return fail(makeError(ErrorCode::BadUsage, "imatrix: --text needs a MODEL"));
    }
    // Check every input before any work: the files to merge first.
    quant::ImatrixSums sums;
    bool haveSums = false;
    for (const auto& f : o.inFiles) {
        auto in = quant::loadImatrixSums(f);
        if (!in) return fail(in.error());
        if (!haveSums) {
            sums = std::move(*in);
            haveSums = true;
        } else if (auto s = quant::mergeImatrixSums(sums, *in); !s.ok()) {
            Error e = s.error();
            e.file = f;
            return fail(e);
        }
    }
    nlohmann::json j;
    std::string summary;  // printed once everything succeeded: nothing on stdout on failure
    j["schema"] = "quantscope.imatrix/1";
    j["in_files"] = o.inFiles;
    if (!o.model.empty()) {
        auto m = model::openModel(o.model);
        if (!m) return fail(m.error());
        auto lm = eval::LlamaModel::bind(*m);
        if (!lm) return fail(lm.error());
        auto tk = eval::Tokenizer::fromModel(*m);
        if (!tk) {
            Error e = tk.error();
            e.message += " (imatrix tokenizes --text with the model's vocabulary)";
            return fail(e);
        }
        std::ifstream f(o.text, std::ios::binary);
        if (!f) return fail(makeError(ErrorCode::IoError, "cannot open the text file", o.text));
        std::stringstream ss;
        ss << f.rdbuf();
        // As llama-imatrix: the text with BOS when the vocabulary adds one, and every chunk's
        // first token replaced by BOS.
        const bool addBos = tk->addBosDefault();
        const auto tokens = tk->encode(ss.str(), addBos);
        eval::ImatrixOptions io;
        io.ctx = o.ctx;
        io.chunks = o.chunks;
        io.batch = o.batch;
        io.ubatch = o.ubatch;
        io.bos = addBos ? tk->bos() : -1;
        io.dataset = o.text;
        io.forward.threads = o.threads;
        const auto t0 = std::chrono::steady_clock::now();
        if (!o.json) {
            std::fprintf(
                stderr, "%zu tokens, %lld chunks of %lld\n", tokens.size(),
                static_cast<long long>(
                    o.chunks < 0 ? int64_t(tokens.size()) / o.ctx
                                 : std::min<int64_t>(o.chunks, int64_t(tokens.size()) / o.ctx)),
                static_cast<long long>(o.ctx));
        }
        auto r = eval::computeImatrix(*lm, tokens, io);
        if (!r) return fail(r.error());
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        j["model"] = o.model;
        j["text"] = o.text;
        j["tokens"] = tokens.size();
        j["ctx"] = o.ctx;
        j["batch"] = o.batch;
        j["ubatch"] = o.ubatch;
        j["chunks"] = r->chunkCount;
        j["seconds"] = secs;
        j["tokens_per_second"] = secs > 0 ? double(r->chunkCount) * double(o.ctx) / secs : 0.0;
        char line[160];
        std::snprintf(line, sizeof line,
                      "computed over %u chunks of %u tokens in %.3f s (%.0f tokens/s)\n",
                      r->chunkCount, r->chunkSize, secs,
                      secs > 0 ? double(r->chunkCount) * double(o.ctx) / secs : 0.0);
        summary += line;
        if (!haveSums) {
            sums = std::move(*r);
        } else if (auto s = quant::mergeImatrixSums(sums, *r); !s.ok()) {
            return fail(s.error());
        }
        haveSums = true;
    }
    std::vector<std::string> warnings;
    (void)quant::importanceOf(sums, &warnings);
    for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    const bool write = !o.model.empty() || o.inFiles.size() > 1 || !o.output.empty();
    const std::string out = o.output.empty() ? std::string("imatrix.gguf") : o.output;
    if (write) {
        if (auto s = quant::saveImatrixSums(sums, out); !s.ok()) return fail(s.error());
        summary += "wrote " + out + ": " + std::to_string(sums.entries.size()) + " tensors, " +
                   std::to_string(sums.chunkCount) + " chunks of " +
                   std::to_string(sums.chunkSize) + "\n";
    }
    const auto stats =
        o.showStatistics ? quant::imatrixStatistics(sums) : quant::ImatrixStatistics{};
    if (o.json) {
        j["output"] = write ? nlohmann::json(out) : nlohmann::json();
        j["entries"] = sums.entries.size();
        j["chunk_count"] = sums.chunkCount;
        j["chunk_size"] = sums.chunkSize;
        j["datasets"] = sums.datasets;
        j["warnings"] = warnings;
        if (o.showStatistics) j["statistics"] = statisticsJson(stats);
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::fputs(summary.c_str(), stdout);
    if (o.showStatistics) printStatistics(stats);
    return 0;
}

}  // namespace qs::cli
