// quantscope-cli report: many variants of one model measured against it, written as a model
// card's table (Markdown), a self-contained HTML page, the size-against-KL chart (SVG) and JSON;
// with --export also the variants' GGUF files, each with its recipe under quantize.recipe.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "commands.h"
#include "eval/tokenizer.h"
#include "quant/imatrix.h"
#include "report/report_writer.h"
#include "report/variants.h"

namespace qs::cli {

int runReport(const ReportCliOptions& o) {
    if (o.variants.empty()) {
        return fail(makeError(ErrorCode::BadUsage, "give at least one --variant SPEC"));
    }
    std::vector<report::VariantSpec> specs;
    for (const auto& v : o.variants) {
        auto s = report::parseVariantSpec(v);
        if (!s) return fail(s.error());
        specs.push_back(std::move(*s));
    }
    auto m = model::openModel(o.model);
    if (!m) return fail(m.error());
    std::optional<quant::Imatrix> imatrix;
    if (!o.imatrix.empty()) {
        auto im = quant::loadImatrix(o.imatrix);
        if (!im) return fail(im.error());
        imatrix = std::move(*im);
    }
    std::ifstream tf(o.text, std::ios::binary);
    if (!tf) return fail(makeError(ErrorCode::IoError, "cannot open the text file", o.text));
    std::stringstream text;
    text << tf.rdbuf();
    auto tk = eval::Tokenizer::fromModel(*m);
    if (!tk) return fail(tk.error());
    // BOS as `eval` adds it (when the vocabulary says so), so the numbers are eval's.
    const std::vector<int32_t> tokens = tk->encode(text.str(), tk->addBosDefault());

    report::ReportOptions ro;
    ro.ctx = o.ctx;
    ro.topK = o.topK;
    ro.threads = o.threads;
    ro.imatrix = imatrix ? &*imatrix : nullptr;
    ro.fitRounds = o.fitRounds;
    std::string last;
    if (!o.json && ::isatty(2)) {
        ro.progress = [&](const quant::Progress& p) {
            std::string line = "report [" + std::to_string(p.doneBytes) + "/" +
                               std::to_string(p.totalBytes) + "] " + std::string(p.tensor);
            if (line != last) {
                last = line;
                std::fprintf(stderr, "\r%-72.72s", line.c_str());
            }
            return true;
        };
    }
    auto rep = report::runReport(*m, specs, tokens, ro);
    if (ro.progress) std::fprintf(stderr, "\n");
    if (!rep) return fail(rep.error());
    rep->textName = std::filesystem::path(o.text).filename().string();
    if (imatrix) rep->imatrixName = std::filesystem::path(o.imatrix).filename().string();

    if (o.exportFiles) {
        quant::QuantizeOptions qo;
        qo.threads = o.threads;
        qo.imatrix = ro.imatrix;
        qo.metrics = false;
        if (auto st = report::exportVariants(*m, *rep, o.output, qo); !st) return fail(st.error());
    }
    auto written = report::writeReport(*rep, o.output);
    if (!written) return fail(written.error());

    if (o.json) {
        std::printf("%s", report::jsonReport(*rep).c_str());
        return 0;
    }
    std::printf("%-34s %10s %6s %10s %10s %7s %9s\n", "file", "size", "bpw", "KL mean", "KL p99",
                "top-1", "ppl");
    for (size_t i = 0; i < rep->variants.size(); ++i) {
        const auto& v = rep->variants[i];
        const bool front =
            std::find(rep->pareto.begin(), rep->pareto.end(), i) != rep->pareto.end();
        std::printf("%-34s %10s %6.2f %10.6f %10.6f %6.2f%% %9.4f%s\n", v.fileName.c_str(),
                    report::humanSize(v.fileBytes).c_str(), v.bpw, v.klMean, v.klP99,
                    100.0 * v.top1Agreement, v.perplexity, front ? "  *" : "");
    }
    std::printf("original perplexity %.4f on %lld tokens; * on the Pareto front (size vs KL)\n",
                rep->referencePerplexity, static_cast<long long>(rep->tokens));
    std::printf("wrote %s, %s, %s, %s%s\n", written->markdown.c_str(), written->html.c_str(),
                written->chart.c_str(), written->json.c_str(),
                o.exportFiles ? " and the variants' GGUF files" : "");
    return 0;
}

}  // namespace qs::cli
