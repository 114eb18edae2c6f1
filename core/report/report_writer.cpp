#include "report/report_writer.h"

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

namespace qs::report {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string xmlEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

// A Markdown table cell: pipes escaped, no line breaks.
std::string mdCell(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '|')
            out += "\\|";
        else if (c == '\n')
            out += ' ';
        else
            out += c;
    }
    return out;
}

std::string klText(double v) {
    return fmt("%.6f", v);
}

struct Cells {
    std::string file, type, size, bpw, klMean, klP99, top1, ppl;
};

Cells cellsOf(const VariantResult& v) {
    Cells c;
    c.file = v.fileName;
    c.type = v.typeLabel + (v.mix.empty() ? "" : ": " + v.mix);
    c.size = humanSize(v.fileBytes);
    c.bpw = fmt("%.2f", v.bpw);
    c.klMean = klText(v.klMean);
    c.klP99 = klText(v.klP99);
    c.top1 = fmt("%.2f", 100.0 * v.top1Agreement) + "%";
    c.ppl = fmt("%.4f", v.perplexity);
    return c;
}

bool onFront(const Report& r, size_t i) {
    return std::find(r.pareto.begin(), r.pareto.end(), i) != r.pareto.end();
}

std::string imatrixText(const Report& r) {
    return r.imatrixName.empty() ? "none" : r.imatrixName;
}

std::string methodLines(const Report& r, bool html) {
    auto item = [&](const std::string& k, const std::string& v) {
        return html ? "<li><b>" + xmlEscape(k) + "</b>: " + xmlEscape(v) + "</li>\n"
                    : "- **" + k + "**: " + v + "\n";
    };
    std::string s;
    s += item("Original", std::filesystem::path(r.modelPath).filename().string() + " (" +
                              humanSize(r.modelFileBytes) + ", " + std::to_string(r.parameters) +
                              " parameters), perplexity " + fmt("%.4f", r.referencePerplexity));
    s += item("Text", (r.textName.empty() ? std::string("(tokens)") : r.textName) + ": " +
                          std::to_string(r.tokens) + " tokens in one context (ctx " +
                          std::to_string(r.ctx) + "), " + std::to_string(r.scored) +
                          " positions scored");
    s += item("KL divergence",
              "of each variant's next-token distribution from the original's at every scored "
              "position, over the original's top " +
                  std::to_string(r.topK) +
                  " tokens and the rest as one bucket; mean and 99th percentile");
    s += item("Top-1", "positions where the variant's most likely token is the original's");
    s += item("Size", "bytes of the GGUF file; bpw = 8 x size / parameters");
    s += item("imatrix", imatrixText(r));
    s += item("Tool", r.toolVersion);
    return s;
}

}  // namespace

std::string humanSize(uint64_t bytes) {
    const double b = double(bytes);
    if (b >= 1e9) return fmt("%.2f GB", b / 1e9);
    if (b >= 1e6) return fmt("%.2f MB", b / 1e6);
    if (b >= 1e3) return fmt("%.2f KB", b / 1e3);
    return std::to_string(bytes) + " B";
}

std::string chartSvg(const Report& r, int width, int height) {
    const double left = 78, right = 24, top = 40, bottom = 56;
    const double pw = width - left - right, ph = height - top - bottom;
    std::string s;
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
         "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) +
         " " + std::to_string(height) +
         "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n";
    s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    s += "<text x=\"" + fmt("%.1f", left) + "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" +
         xmlEscape(r.modelName + ": file size against KL divergence") + "</text>\n";
    if (r.variants.empty()) return s + "</svg>\n";

    // x: file size (decimal unit of the largest); y: log10 of the mean KL.
    double maxBytes = 0, minBytes = INFINITY, minKl = INFINITY, maxKl = 0;
    for (const auto& v : r.variants) {
        maxBytes = std::max(maxBytes, double(v.fileBytes));
        minBytes = std::min(minBytes, double(v.fileBytes));
        if (v.klMean > 0) minKl = std::min(minKl, v.klMean);
        maxKl = std::max(maxKl, v.klMean);
    }
    const double unit = maxBytes >= 1e9 ? 1e9 : maxBytes >= 1e6 ? 1e6 : 1e3;
    const char* unitName = unit == 1e9 ? "GB" : unit == 1e6 ? "MB" : "KB";
    if (!std::isfinite(minKl)) minKl = 1e-6;
    const double floorKl = minKl / 2;  // KL 0 (an exact variant) is drawn on the floor
    double y0 = std::floor(std::log10(floorKl)),
           y1 = std::ceil(std::log10(std::max(maxKl, minKl) * 1.5));
    if (y1 <= y0) y1 = y0 + 1;
    double x0 = minBytes / unit, x1 = maxBytes / unit;
    const double pad = std::max((x1 - x0) * 0.08, x1 * 0.02 + 1e-9);
    x0 = std::max(0.0, x0 - pad);
    x1 += pad;
    auto px = [&](double bytes) { return left + (bytes / unit - x0) / (x1 - x0) * pw; };
    auto py = [&](double kl) {
        const double l = std::log10(std::max(kl, floorKl));
        return top + (y1 - l) / (y1 - y0) * ph;
    };

    s += "<rect x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", top) + "\" width=\"" +
         fmt("%.1f", pw) + "\" height=\"" + fmt("%.1f", ph) +
         "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (double d = y0; d <= y1 + 1e-9; d += 1) {
        const double y = top + (y1 - d) / (y1 - y0) * ph;
        s += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", left + pw) + "\" y1=\"" +
             fmt("%.1f", y) + "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"#e4e4e4\"/>\n";
        s += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", y + 4) +
             "\" text-anchor=\"end\">1e" + std::to_string(int(d)) + "</text>\n";
    }
    for (int i = 0; i <= 5; ++i) {
        const double xv = x0 + (x1 - x0) * i / 5.0;
        const double x = left + pw * i / 5.0;
        s += "<line x1=\"" + fmt("%.1f", x) + "\" x2=\"" + fmt("%.1f", x) + "\" y1=\"" +
             fmt("%.1f", top + ph) + "\" y2=\"" + fmt("%.1f", top + ph + 5) +
             "\" stroke=\"#888\"/>\n";
        s += "<text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", top + ph + 19) +
             "\" text-anchor=\"middle\">" + fmt(xv >= 100 ? "%.0f" : "%.3g", xv) + "</text>\n";
    }
    s += "<text x=\"" + fmt("%.1f", left + pw / 2) + "\" y=\"" + fmt("%.1f", double(height) - 12) +
         "\" text-anchor=\"middle\">file size (" + unitName + ")</text>\n";
    s += "<text transform=\"translate(18," + fmt("%.1f", top + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">KL divergence, mean (log)</text>\n";

    // The front, then the points (front ones filled), then their names.
    std::string line;
    for (size_t i : r.pareto) {
        const auto& v = r.variants[i];
        line += fmt("%.1f", px(double(v.fileBytes))) + "," + fmt("%.1f", py(v.klMean)) + " ";
    }
    if (!line.empty()) {
        s += "<polyline points=\"" + line +
             "\" fill=\"none\" stroke=\"#d0501c\" stroke-width=\"2\" "
             "stroke-dasharray=\"6 3\"/>\n";
    }
    for (size_t i = 0; i < r.variants.size(); ++i) {
        const auto& v = r.variants[i];
        const bool f = onFront(r, i);
        const double x = px(double(v.fileBytes)), y = py(v.klMean);
        s += "<circle cx=\"" + fmt("%.1f", x) + "\" cy=\"" + fmt("%.1f", y) + "\" r=\"5\" fill=\"" +
             (f ? "#d0501c" : "#ffffff") + "\" stroke=\"" + (f ? "#d0501c" : "#3a6ea5") +
             "\" stroke-width=\"2\"><title>" +
             xmlEscape(v.fileName + ": " + humanSize(v.fileBytes) + ", KL " + klText(v.klMean)) +
             "</title></circle>\n";
        // Names alternate above and below their point (neighbours in size often touch).
        const bool leftSide = x > left + pw * 0.8;
        size_t rank = 0;
        for (const auto& o : r.variants) rank += o.fileBytes < v.fileBytes ? 1 : 0;
        const double ly = rank % 2 ? y + 18 : y - 8;
        s += "<text x=\"" + fmt("%.1f", leftSide ? x - 8 : x + 8) + "\" y=\"" + fmt("%.1f", ly) +
             "\" text-anchor=\"" + (leftSide ? "end" : "start") + "\">" + xmlEscape(v.name) +
             "</text>\n";
    }
    s += "<g transform=\"translate(" + fmt("%.1f", left + pw - 170) + "," + fmt("%.1f", top + 10) +
         ")\"><rect width=\"162\" height=\"40\" fill=\"#ffffff\" stroke=\"#ccc\"/>"
         "<circle cx=\"12\" cy=\"13\" r=\"5\" fill=\"#d0501c\"/><text x=\"24\" y=\"17\">on the "
         "Pareto front</text><circle cx=\"12\" cy=\"29\" r=\"5\" fill=\"#fff\" stroke=\"#3a6ea5\" "
         "stroke-width=\"2\"/><text x=\"24\" y=\"33\">dominated</text></g>\n";
    s += "</svg>\n";
    return s;
}

std::string markdownReport(const Report& r, const std::string& chartFile) {
    std::string s;
    s += "# " + r.modelName + ": quantized variants\n\n";
    s += "Each file measured against the original " +
         std::filesystem::path(r.modelPath).filename().string() + " (perplexity " +
         fmt("%.4f", r.referencePerplexity) + ") on " +
         (r.textName.empty() ? std::string("the given tokens") : r.textName) + ".\n\n";
    s += "| File | Type / mix | Size | BPW | KL mean | KL p99 | Top-1 | PPL |\n";
    s += "|:-----|:-----------|-----:|----:|--------:|-------:|------:|----:|\n";
    for (const auto& v : r.variants) {
        const Cells c = cellsOf(v);
        s += "| " + mdCell(c.file) + " | " + mdCell(c.type) + " | " + c.size + " | " + c.bpw +
             " | " + c.klMean + " | " + c.klP99 + " | " + c.top1 + " | " + c.ppl + " |\n";
    }
    s += "\n![File size against KL divergence](" + chartFile + ")\n\n";
    if (!r.pareto.empty()) {
        s += "On the Pareto front (no smaller file diverges less): ";
        for (size_t k = 0; k < r.pareto.size(); ++k) {
            s += (k ? ", " : "") + r.variants[r.pareto[k]].name;
        }
        s += ".\n\n";
    }
    s += "## How it was measured\n\n" + methodLines(r, false) + "\n";
    s += "## Recipes\n\n";
    s += "Each exported file carries its recipe in its GGUF metadata under `" +
         std::string(kRecipeKey) + "` (`quantscope-cli inspect FILE` shows it).\n\n";
    for (const auto& v : r.variants) {
        if (v.recipeJson.empty()) continue;
        s += "### " + v.fileName + "\n\n```json\n" + v.recipeJson;
        if (!v.recipeJson.ends_with('\n')) s += "\n";
        s += "```\n\n";
    }
    return s;
}

std::string htmlReport(const Report& r) {
    std::string s;
    s += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
         xmlEscape(r.modelName + ": quantized variants") + "</title>\n";
    s += "<style>body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;"
         "max-width:1000px}table{border-collapse:collapse;font-size:13px}th,td{border:1px solid "
         "#ccc;padding:4px "
         "8px}th{background:#f2f2f2}td.n{text-align:right;white-space:nowrap;font-variant-numeric:"
         "tabular-nums}tr.front td:first-child{font-weight:bold}pre{background:#f7f7f7;"
         "padding:8px;font-size:12px;overflow:auto}</style>\n</head><body>\n";
    s += "<h1>" + xmlEscape(r.modelName) + ": quantized variants</h1>\n";
    s += "<table id=\"variants\">\n<tr><th>File</th><th>Type / mix</th><th>Size</th><th>BPW</th>"
         "<th>KL mean</th><th>KL p99</th><th>Top-1</th><th>PPL</th></tr>\n";
    for (size_t i = 0; i < r.variants.size(); ++i) {
        const Cells c = cellsOf(r.variants[i]);
        s += std::string("<tr") + (onFront(r, i) ? " class=\"front\"" : "") + "><td>" +
             xmlEscape(c.file) + "</td><td>" + xmlEscape(c.type) + "</td><td class=\"n\">" +
             c.size + "</td><td class=\"n\">" + c.bpw + "</td><td class=\"n\">" + c.klMean +
             "</td><td class=\"n\">" + c.klP99 + "</td><td class=\"n\">" + c.top1 +
             "</td><td class=\"n\">" + c.ppl + "</td></tr>\n";
    }
    s += "</table>\n<p>Bold: on the Pareto front (no smaller file diverges less).</p>\n";
    s += "<div id=\"chart\">\n" + chartSvg(r) + "</div>\n";
    s += "<h2>How it was measured</h2>\n<ul>\n" + methodLines(r, true) + "</ul>\n";
    s += "<h2>Recipes</h2>\n";
    for (const auto& v : r.variants) {
        if (v.recipeJson.empty()) continue;
        s += "<details><summary>" + xmlEscape(v.fileName) + "</summary><pre>" +
             xmlEscape(v.recipeJson) + "</pre></details>\n";
    }
    s += "</body></html>\n";
    return s;
}

std::string jsonReport(const Report& r) {
    nlohmann::ordered_json j;
    j["schema"] = "quantscope.report/1";
    j["model"] = r.modelPath;
    j["parameters"] = r.parameters;
    j["model_bytes"] = r.modelFileBytes;
    j["text"] = r.textName;
    j["ctx"] = r.ctx;
    j["tokens"] = r.tokens;
    j["scored"] = r.scored;
    j["top_k"] = r.topK;
    j["imatrix"] = r.imatrixName.empty() ? nlohmann::ordered_json(nullptr)
                                         : nlohmann::ordered_json(r.imatrixName);
    j["tool"] = r.toolVersion;
    j["reference_perplexity"] = r.referencePerplexity;
    j["seconds"] = r.seconds;
    j["variants"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < r.variants.size(); ++i) {
        const auto& v = r.variants[i];
        nlohmann::ordered_json e;
        e["name"] = v.name;
        e["kind"] = std::string(variantKindName(v.kind));
        e["type"] = v.typeLabel;
        e["mix"] = v.mix;
        e["file"] = v.fileName;
        e["path"] = v.filePath.empty() ? nlohmann::ordered_json(nullptr)
                                       : nlohmann::ordered_json(v.filePath);
        e["file_bytes"] = v.fileBytes;
        e["bpw"] = v.bpw;
        e["perplexity"] = v.perplexity;
        e["kl"] = {{"mean", v.klMean}, {"p99", v.klP99}, {"max", v.klMax}};
        e["top1_agreement"] = v.top1Agreement;
        e["pareto"] = onFront(r, i);
        e["seconds"] = v.seconds;
        e["recipe"] = nullptr;
        if (!v.recipeJson.empty()) {
            auto parsed = nlohmann::ordered_json::parse(v.recipeJson, nullptr, false);
            if (!parsed.is_discarded()) e["recipe"] = parsed;
        }
        j["variants"].push_back(e);
    }
    return j.dump(2) + "\n";
}

Status writeTextAtomic(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return makeError(ErrorCode::IoError, "cannot write", path);
        out << text;
        out.flush();
        if (!out) {
            std::remove(tmp.c_str());
            return makeError(ErrorCode::IoError, "write failed", path);
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        return makeError(ErrorCode::IoError, "cannot rename into place: " + ec.message(), path);
    }
    return {};
}

Result<WrittenReport> writeReport(const Report& report, const std::string& dir,
                                  const std::string& chartFile) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return makeError(ErrorCode::IoError, "cannot create the folder: " + ec.message(), dir);
    const std::filesystem::path d(dir);
    WrittenReport w;
    w.chart = (d / "chart.svg").string();
    w.markdown = (d / "report.md").string();
    w.html = (d / "report.html").string();
    w.json = (d / "report.json").string();
    QS_TRY(writeTextAtomic(w.chart, chartSvg(report)));
    QS_TRY(writeTextAtomic(w.markdown, markdownReport(report, chartFile)));
    QS_TRY(writeTextAtomic(w.html, htmlReport(report)));
    QS_TRY(writeTextAtomic(w.json, jsonReport(report)));
    return w;
}

}  // namespace qs::report
