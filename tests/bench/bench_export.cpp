// Whole-model export time against llama.cpp's quantizer, back to back in one process: ours
// (quant::exportGguf, as `quantscope-cli quantize IN OUT TYPE THREADS` runs it: no metrics,
// temporary file, fsync, rename), optionally our one-chunk-at-a-time export, and
// llama_model_quantize of the node-llama-cpp package's libllama (dlopen, default parameters,
// nthread = THREADS), on the same F16 model, best of N each. Prints one JSON object: per type the
// wall and CPU seconds of each run, the best ratios ours / llama.cpp, our stage split
// (thread-seconds reading, encoding, writing, syncing) and whether the files are identical.
//
//   qs_bench_export MODEL.gguf [--types Q8_0,Q6_K,Q4_K_M] [--threads 2] [--reps 3]
//                   [--out DIR] [--sequential]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "../common/libllama_api.h"
#include "model/model.h"
#include "quant/engine.h"
#include "quant/ftype.h"
#include "quant/plan.h"

namespace {

namespace fs = std::filesystem;
using namespace qs;

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double cpuNow() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

struct Run {
    double wall = 0;
    double cpu = 0;
    quant::StageSeconds stages;
};

std::string fileBytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string loadAverage() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return a + " " + b + " " + c;
}

std::vector<std::string> splitList(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

Result<Run> runOurs(const std::string& in, const std::string& out, quant::Ftype ftype, int threads,
                    bool pipeline) {
    const double w0 = now(), c0 = cpuNow();
    auto m = model::openModel(in);
    if (!m) return m.error();
    quant::PlanOptions po;
    po.ftype = ftype;
    const quant::Plan plan = quant::buildPlan(*m, po);
    quant::QuantizeOptions qo;
    qo.threads = threads;
    qo.metrics = false;
    qo.pipeline = pipeline;
    auto s = quant::exportGguf(*m, plan, out, qo);
    if (!s) return s.error();
    return Run{now() - w0, cpuNow() - c0, s->stages};
}

void quiet(int, const char*, void*) {}

std::string json(const std::vector<Run>& runs) {
    std::string s = "[";
    for (size_t i = 0; i < runs.size(); ++i) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%s{\"wall_s\": %.3f, \"cpu_s\": %.3f}", i ? ", " : "",
                      runs[i].wall, runs[i].cpu);
        s += buf;
    }
    return s + "]";
}

Run best(const std::vector<Run>& runs) {
    Run b = runs.front();
    for (const auto& r : runs) {
        if (r.wall < b.wall) b.wall = r.wall;
        if (r.cpu < b.cpu) b.cpu = r.cpu;
    }
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: qs_bench_export MODEL.gguf [--types Q8_0,Q6_K,Q4_K_M] [--threads 2] "
                     "[--reps 3] [--out DIR] [--sequential]\n");
        return 2;
    }
    std::string in = argv[1];
    std::vector<std::string> types = {"Q8_0", "Q6_K", "Q4_K_M"};
    int threads = 2, reps = 3;
    std::string outDir = fs::temp_directory_path().string();
    bool sequential = false;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const bool more = i + 1 < argc;
        if (a == "--types" && more) {
            types = splitList(argv[++i]);
        } else if (a == "--threads" && more) {
            threads = std::atoi(argv[++i]);
        } else if (a == "--reps" && more) {
            reps = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--out" && more) {
            outDir = argv[++i];
        } else if (a == "--sequential") {
            sequential = true;
        } else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    test::libllama::LibllamaQuantizer llama;
    if (!llama.open()) {
        std::fprintf(stderr, "libllama not found under %s\n", test::libllama::libDir().c_str());
        return 77;
    }
    llama.logSet(quiet, nullptr);

    std::printf("{\n  \"model\": \"%s\", \"threads\": %d, \"reps\": %d, \"load_before\": \"%s\",\n",
                in.c_str(), threads, reps, loadAverage().c_str());
    std::printf("  \"types\": [\n");
    for (size_t ti = 0; ti < types.size(); ++ti) {
        const auto ftype = quant::ftypeFromName(types[ti]);
        if (!ftype) {
            std::fprintf(stderr, "unknown type %s\n", types[ti].c_str());
            return 2;
        }
        const std::string ours = outDir + "/bench-ours-" + types[ti] + ".gguf";
        const std::string seq = outDir + "/bench-seq-" + types[ti] + ".gguf";
        const std::string theirs = outDir + "/bench-llama-" + types[ti] + ".gguf";
        std::vector<Run> a, b, c;
        for (int r = 0; r < reps; ++r) {
            auto o = runOurs(in, ours, *ftype, threads, true);
            if (!o) {
                std::fprintf(stderr, "ours: %s\n", o.error().what().c_str());
                return 1;
            }
            a.push_back(*o);
            if (sequential) {
                auto s = runOurs(in, seq, *ftype, threads, false);
                if (!s) {
                    std::fprintf(stderr, "sequential: %s\n", s.error().what().c_str());
                    return 1;
                }
                c.push_back(*s);
            }
            auto p = llama.defaults();
            p.nthread = threads;
            p.ftype = int(*ftype);
            const double w0 = now(), c0 = cpuNow();
            if (llama.quantize(in.c_str(), theirs.c_str(), &p) != 0) {
                std::fprintf(stderr, "llama_model_quantize failed\n");
                return 1;
            }
            b.push_back(Run{now() - w0, cpuNow() - c0, {}});
        }
        const Run bo = best(a), bl = best(b);
        const bool same = fileBytes(ours) == fileBytes(theirs);
        const bool sameSeq = !sequential || fileBytes(seq) == fileBytes(ours);
        const auto& st = a.back().stages;  // the last run's split (thread-seconds)
        std::printf("    {\"type\": \"%s\", \"ours\": %s,\n     \"llama\": %s,\n",
                    types[ti].c_str(), json(a).c_str(), json(b).c_str());
        if (sequential) {
            const Run bs = best(c);
            std::printf("     \"ours_sequential\": %s, \"sequential_ratio_wall\": %.3f,\n",
                        json(c).c_str(), bs.wall / bl.wall);
        }
        std::printf(
            "     \"ratio_wall\": %.3f, \"ratio_cpu\": %.3f,\n"
            "     \"stages_cpu_s\": {\"read\": %.3f, \"decode\": %.3f, \"encode\": %.3f, "
            "\"write\": "
            "%.3f, \"sync_wall\": %.3f},\n"
            "     \"identical_to_llama\": %s, \"pipelined_equals_sequential\": %s}%s\n",
            bo.wall / bl.wall, bo.cpu / bl.cpu, st.read, st.decode, st.encode, st.write, st.sync,
            same ? "true" : "false", sameSeq ? "true" : "false", ti + 1 < types.size() ? "," : "");
        std::fflush(stdout);
        std::error_code ec;
        fs::remove(ours, ec);
        fs::remove(seq, ec);
        fs::remove(theirs, ec);
    }
    std::printf("  ],\n  \"load_after\": \"%s\"\n}\n", loadAverage().c_str());
    return 0;
}
