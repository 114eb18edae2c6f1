// `quantscope-cli report` end to end on the real stories260K (issue 25): six variants (four
// presets, one closed-loop fit, one imported llama.cpp file) measured in one run and exported;
// every number equals `eval` of the exported file against the original; the Markdown is a
// table to a real Markdown parser (Debian's python3-markdown); the HTML renders in headless
// Chromium with the chart; llama.cpp (node-llama-cpp) loads every exported variant; `inspect`
// shows the embedded recipe and `plan --from` gives it back.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_util.h"

using qs::test::cli;
namespace fs = std::filesystem;

namespace {

const std::string kData = QS_TEST_DATA_DIR;
const std::string kJs = kData + "/../js/";
const std::string kStories = kData + "/models/stories260K.gguf";
const std::string kText = kData + "/models/eval-text.txt";
const std::string kImported = kData + "/models/reference-quants/stories260K-Q8_0.gguf";

int shell(const std::string& cmd, std::string* out = nullptr) {
    std::string o;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.append(buf, n);
    const int st = ::pclose(p);
    if (out) *out = o;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string readFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

class ReportCli : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_dir = fs::temp_directory_path() / ("qs_report_cli_" + std::to_string(::getpid()));
        fs::remove_all(s_dir);
        auto r =
            cli("report " + kStories + " --variant Q4_0 --variant Q3_K_M --variant Q4_K_M" +
                " --variant Q5_K_M --variant fit:300K --variant file:" + kImported + " --text " +
                kText + " -o " + s_dir.string() + " --export --json --ctx 256 --fit-rounds 1");
        s_code = r.code;
        s_err = r.err;
        if (r.code == 0) s_report = nlohmann::json::parse(r.out);
    }
    static void TearDownTestSuite() { fs::remove_all(s_dir); }
    void SetUp() override { ASSERT_EQ(s_code, 0) << s_err; }

    static inline fs::path s_dir;
    static inline int s_code = -1;
    static inline std::string s_err;
    static inline nlohmann::json s_report;
};

TEST_F(ReportCli, SixVariantsEqualEvalOfEachFile) {
    const auto& vs = s_report["variants"];
    ASSERT_EQ(vs.size(), 6u);
    const std::vector<std::string> kinds = {"preset", "preset", "preset", "preset", "fit", "file"};
    const double params = s_report["parameters"].get<double>();
    EXPECT_EQ(s_report["tokens"], 256);
    for (size_t i = 0; i < vs.size(); ++i) {
        const auto& v = vs[i];
        SCOPED_TRACE(v["name"].get<std::string>());
        EXPECT_EQ(v["kind"], kinds[i]);
        const std::string path = v["path"].get<std::string>();
        ASSERT_TRUE(fs::exists(path)) << path;
        EXPECT_EQ(fs::file_size(path), v["file_bytes"].get<uint64_t>());
        EXPECT_DOUBLE_EQ(v["bpw"].get<double>(), 8.0 * double(fs::file_size(path)) / params);
        auto e = cli("eval " + path + " --reference " + kStories + " --text " + kText +
                     " --ctx 256 --json");
        ASSERT_EQ(e.code, 0) << e.err;
        const auto j = nlohmann::json::parse(e.out);
        // The same forward pass on the same bytes: equal, not close.
        EXPECT_EQ(v["perplexity"].get<double>(), j["perplexity"].get<double>());
        EXPECT_EQ(v["kl"]["mean"].get<double>(), j["kl"]["mean"].get<double>());
        EXPECT_EQ(v["kl"]["p99"].get<double>(), j["kl"]["p99"].get<double>());
        EXPECT_EQ(v["top1_agreement"].get<double>(), j["top1_agreement"].get<double>());
        EXPECT_EQ(s_report["reference_perplexity"].get<double>(),
                  j["reference_perplexity"].get<double>());
    }
    // The fit fits its budget, the embedded recipe included.
    EXPECT_LE(vs[4]["file_bytes"].get<uint64_t>(), 300000u);
    // The Pareto front: a variant is on it exactly when no other is at most as large and
    // diverges less.
    int front = 0;
    for (const auto& v : vs) {
        bool dominated = false;
        for (const auto& o : vs) {
            dominated = dominated ||
                        (o["file_bytes"] <= v["file_bytes"] && o["kl"]["mean"] < v["kl"]["mean"]);
        }
        EXPECT_EQ(v["pareto"].get<bool>(), !dominated) << v["name"];
        front += dominated ? 0 : 1;
    }
    EXPECT_GE(front, 2);
    for (const char* f : {"report.md", "report.html", "chart.svg", "report.json"}) {
        EXPECT_TRUE(fs::exists(s_dir / f)) << f;
    }
}

TEST_F(ReportCli, MarkdownIsAModelCardTable) {
    std::string out;
    const int rc = shell("/usr/bin/python3 " + kData + "/../cli/report/md_table.py " +
                             (s_dir / "report.md").string() + " 2>&1",
                         &out);
    if (rc == 3) GTEST_SKIP() << "Debian's python3-markdown is not installed: " << out;
    ASSERT_EQ(rc, 0) << out;
    const auto rows = nlohmann::json::parse(out);
    ASSERT_EQ(rows.size(), 7u);  // header + 6 variants
    EXPECT_EQ(rows[0], nlohmann::json({"File", "Type / mix", "Size", "BPW", "KL mean", "KL p99",
                                       "Top-1", "PPL"}));
    const auto& vs = s_report["variants"];
    for (size_t i = 0; i < vs.size(); ++i) {
        const auto& v = vs[i];
        const auto& row = rows[i + 1];
        ASSERT_EQ(row.size(), 8u);
        EXPECT_EQ(row[0], v["file"]);
        EXPECT_EQ(row[0], fs::path(v["path"].get<std::string>()).filename().string());
        EXPECT_EQ(row[3], fmt("%.2f", v["bpw"].get<double>()));
        EXPECT_EQ(row[4], fmt("%.6f", v["kl"]["mean"].get<double>()));
        EXPECT_EQ(row[5], fmt("%.6f", v["kl"]["p99"].get<double>()));
        EXPECT_EQ(row[6], fmt("%.2f", 100.0 * v["top1_agreement"].get<double>()) + "%");
        EXPECT_EQ(row[7], fmt("%.4f", v["perplexity"].get<double>()));
    }
    const std::string md = readFile((s_dir / "report.md").string());
    EXPECT_NE(md.find("](chart.svg)"), std::string::npos);
    EXPECT_NE(md.find("eval-text.txt: 256 tokens in one context (ctx 256)"), std::string::npos);
    EXPECT_NE(md.find("**imatrix**: none"), std::string::npos);
    EXPECT_NE(md.find("quantscope "), std::string::npos);
    EXPECT_NE(md.find("\"chosen_by\""), std::string::npos);  // the fit's recipe
}

TEST_F(ReportCli, HtmlRendersTheChartInHeadlessChromium) {
    const std::string html = readFile((s_dir / "report.html").string());
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained
    EXPECT_EQ(html.find("href=\"http"), std::string::npos);
    if (shell("command -v chromium > /dev/null 2>&1") != 0) {
        GTEST_SKIP() << "chromium is not installed (Debian package chromium)";
    }
    const std::string shot = (s_dir / "shot.png").string();
    std::string out;
    const int rc = shell("cd " + s_dir.string() +
                             " && timeout 120 chromium --headless --no-sandbox --disable-gpu "
                             "--hide-scrollbars --window-size=1000,1100 --screenshot=" +
                             shot + " file://" + (s_dir / "report.html").string() + " 2>&1",
                         &out);
    ASSERT_EQ(rc, 0) << out;
    ASSERT_TRUE(fs::exists(shot));
    EXPECT_GT(fs::file_size(shot), 20000u);
    // The chart's Pareto-front colour (#d0501c) covers real pixels of the screenshot.
    if (shell("command -v convert > /dev/null 2>&1") == 0) {
        ASSERT_EQ(shell("convert " + shot + " -format %c histogram:info:- 2>/dev/null", &out), 0);
        size_t count = 0;
        std::istringstream lines(out);
        for (std::string l; std::getline(lines, l);) {
            if (l.find("#D0501C") != std::string::npos) count += std::stoul(l);
        }
        EXPECT_GT(count, 300u) << "the chart's front is not in the screenshot";
    }
}

TEST_F(ReportCli, InspectShowsTheRecipeAndPlanImportGivesItBack) {
    for (const auto& v : s_report["variants"]) {
        if (v["kind"] == "file") continue;
        const std::string path = v["path"].get<std::string>();
        SCOPED_TRACE(path);
        auto i = cli("inspect " + path);
        ASSERT_EQ(i.code, 0) << i.err;
        EXPECT_NE(i.out.find("recipe (quantize.recipe"), std::string::npos);
        auto ij = cli("inspect " + path + " --json");
        ASSERT_EQ(ij.code, 0) << ij.err;
        const auto embedded = nlohmann::json::parse(ij.out)["recipe"];
        ASSERT_TRUE(embedded.is_object());
        EXPECT_EQ(embedded, v["recipe"]);
        const std::string back = (s_dir / "back.json").string();
        auto p = cli("plan " + kStories + " --from " + path + " -o " + back + " --json");
        ASSERT_EQ(p.code, 0) << p.err;
        EXPECT_TRUE(nlohmann::json::parse(p.out)["embedded_recipe"].get<bool>());
        EXPECT_EQ(nlohmann::json::parse(readFile(back)), embedded);
        // The recipe re-applied writes the same tensors (same types, same size less nothing).
        auto d = cli("quantize " + kStories + " --recipe " + back + " --dry-run --json");
        ASSERT_EQ(d.code, 0) << d.err;
    }
    // The imported llama.cpp file has no recipe: inspect says nothing of one.
    auto i = cli("inspect " + kImported + " --json");
    ASSERT_EQ(i.code, 0);
    EXPECT_TRUE(nlohmann::json::parse(i.out)["recipe"].is_null());
}

TEST_F(ReportCli, LlamaCppLoadsEveryExportedVariant) {
    if (shell("node --version > /dev/null 2>&1") != 0 ||
        !fs::exists(kJs + "node_modules/node-llama-cpp")) {
        GTEST_SKIP() << "Node.js with node-llama-cpp is not installed";
    }
    std::string files;
    int n = 0;
    for (const auto& v : s_report["variants"]) {
        if (v["kind"] == "file") continue;
        files += ' ';
        files += v["path"].get<std::string>();
        ++n;
    }
    EXPECT_EQ(n, 5);
    std::string out;
    EXPECT_EQ(shell("node " + kJs + "generate.mjs 4" + files + " 2>&1", &out), 0) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), n) << out;
}

TEST(ReportCliErrors, BadSpecsAreUsageErrors) {
    qs::test::TempDir dir;
    auto r = cli("report " + kStories + " --variant Q9_X --text " + kText + " -o " +
                 dir.path().string());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("Q9_X"), std::string::npos) << r.err;
    r = cli("report " + kStories + " --variant fit:abc --text " + kText + " -o " +
            dir.path().string());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("abc"), std::string::npos) << r.err;
    r = cli("report " + kStories + " --variant fit:1K --text " + kText + " -o " +
            dir.path().string());
    EXPECT_EQ(r.code, 2);
    r = cli("report " + kStories + " --variant file:/nonexistent.gguf --text " + kText + " -o " +
            dir.path().string());
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(fs::path(dir.path().string()) / "report.md"));
}

}  // namespace
