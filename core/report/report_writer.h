#pragma once
// Writing a quant report (report/variants.h) the way model cards publish it:
//   report.md    a Markdown model-card table (file, type/mix, size, bpw, KL mean, KL p99,
//                top-1, PPL), the chart, the Pareto front, how it was measured (text, tokens,
//                context, imatrix, tool version) and the recipe of every mix;
//   report.html  the same as one self-contained page (inline CSS, the chart as inline SVG,
//                no external assets);
//   chart.svg    file size against mean KL divergence (log scale), the Pareto front drawn;
//   report.json  every number at full precision (schema quantscope.report/1, docs/CLI.md).
// The chart is SVG so that the core and the command line need no display and no Qt; the
// explorer also saves it as PNG (QCustomPlot) and points the Markdown at the PNG.

#include <string>

#include "common/result.h"
#include "report/variants.h"

namespace qs::report {

/// "296.97 KB", "1.23 MB", "4.07 GB" (decimal units, as model cards and the Hub write sizes).
std::string humanSize(uint64_t bytes);

/// The size-against-KL chart as a standalone SVG document.
std::string chartSvg(const Report& report, int width = 720, int height = 420);
/// The Markdown report; `chartFile` is the chart's file name next to it (chart.svg, chart.png).
std::string markdownReport(const Report& report, const std::string& chartFile = "chart.svg");
/// The self-contained HTML page (the chart inline).
std::string htmlReport(const Report& report);
/// Every number at full precision.
std::string jsonReport(const Report& report);

struct WrittenReport {
    std::string markdown, html, chart, json;  ///< paths written
};

/// Write report.md, report.html, chart.svg and report.json into `dir` (created if missing),
/// each through a temporary file renamed into place. `chartFile` is what the Markdown links
/// (a PNG the caller writes itself, or the SVG).
Result<WrittenReport> writeReport(const Report& report, const std::string& dir,
                                  const std::string& chartFile = "chart.svg");

/// Write `text` to `path` atomically (temporary file + rename); errors name the path.
Status writeTextAtomic(const std::string& path, const std::string& text);

}  // namespace qs::report
