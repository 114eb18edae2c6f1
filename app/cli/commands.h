#pragma once
// The headless twin's commands. Each returns the process exit code: 0 success, 1 runtime
// failure, 2 bad usage or bad input (the reason is printed on stderr). They call the same core
// functions as the GUI and print nothing the core does not return.

#include <cstdint>
#include <string>
#include <vector>

#include <cstdio>

#include "common/result.h"

namespace qs::cli {

/// Print "error: <what>" on stderr and return the exit code the error maps to (1 or 2).
inline int fail(const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what().c_str());
    return e.exitCode();
}

struct InspectOptions {
    std::string model;
    bool json = false;
    bool fullMetadata = false;  ///< print arrays whole instead of the first items
};
int runInspect(const InspectOptions& o);

struct ConvertCliOptions {
    std::string model;  ///< Hugging Face folder, its config.json, index or a shard
    std::string output;
    std::string outtype = "auto";  ///< f32 | f16 | bf16 | auto (convert_hf_to_gguf.py's)
    std::string vocabFrom;         ///< test aid: copy tokenizer.* from this GGUF when none converts
    int threads = 0;
    bool json = false;
};
int runConvert(const ConvertCliOptions& o);

struct SynthHfCliOptions {
    std::string architecture;  ///< LlamaForCausalLM ...
    std::string output;        ///< folder
    std::string dtype = "bf16";
    uint64_t seed = 1;
    int shards = 1;
    bool sparse8b = false;  ///< Llama 3.1 8B's shapes, headers only (holes), 4 shards
    int64_t vocab = 0;      ///< vocabulary rows (0: 512)
    int64_t hidden = 0, ffn = 0, layers = 0;  ///< shape (0: the tiny default)
    bool noRopeScaling = false;  ///< LlamaForCausalLM without llama3 rope scaling (Llama 2)
    std::string tokenizerFrom;   ///< copy tokenizer files from this folder
};
int runSynthHf(const SynthHfCliOptions& o);

struct SynthCliOptions {
    std::string output;
    std::string preset = "tiny";
    std::string arch = "llama";  ///< synth::kSynthArchitectures
    uint64_t seed = 1;
    int threads = 0;
    std::string imatrix;  ///< also write a synthetic imatrix (GGUF) for the model here
};
int runSynth(const SynthCliOptions& o);

struct QuantizeCliOptions {
    std::string model;
    std::string output;
    std::string type;                      ///< preset (Q4_K_M, Q8_0, F16 ...)
    std::vector<std::string> tensorTypes;  ///< REGEX=TYPE
    std::string tensorTypeFile;
    std::string outputTensorType;
    std::string tokenEmbeddingType;
    std::string recipe;
    std::string imatrix;
    std::string backend = "cpu";
    bool pure = false;
    bool leaveOutputTensor = false;
    bool allowRequantize = false;  ///< --allow-requantize (refused otherwise, as llama-quantize)
    bool dryRun = false;
    bool json = false;
    bool quiet = false;
    int threads = 0;
    // The budget optimizer instead of a preset (docs/OPTIMIZER.md).
    double targetBpw = 0;
    uint64_t targetSize = 0;
    std::string optTypes;              ///< --types
    std::vector<std::string> lock;     ///< --lock REGEX
    std::vector<std::string> factors;  ///< --weight REGEX=FACTOR
    bool exact = false;                ///< --exact sensitivity
    // Split output (llama.cpp's gguf-split layout, docs/CLI.md).
    std::string splitMaxSize;      ///< --split-max-size 500M | 2G
    uint32_t splitMaxTensors = 0;  ///< --split-max-tensors N
    bool keepSplit = false;        ///< --keep-split
    std::string quantizer;         ///< --quantizer ggml|best (empty: the recipe's, else ggml)
    bool noSpaceCheck = false;     ///< --no-space-check
};
int runQuantize(const QuantizeCliOptions& o);

/// `plan`: the optimizer's plan for a budget written as a recipe, or the plan of a GGUF file.
struct PlanCliOptions {
    std::string model;
    std::string output;          ///< recipe JSON
    std::string tensorTypeFile;  ///< also write llama.cpp's --tensor-type-file
    std::string from;            ///< import the plan of this GGUF file
    std::string imatrix;
    double targetBpw = 0;
    uint64_t targetSize = 0;
    std::string types;
    std::vector<std::string> lock;
    std::vector<std::string> factors;  ///< --weight REGEX=FACTOR
    std::string base = "Q8_0";
    bool exact = false;
    int sampleRows = 64;
    /// Tensors of more values are measured by the error atlas's sampler (256 rows), unless exact.
    uint64_t exactBelow = uint64_t(1) << 22;
    bool noCache = false;
    int threads = 0;
    int curve = 0;                   ///< JSON: this many points of the size-against-error curve
    std::string objective = "nmse";  ///< nmse | kl | closed-loop
    std::string text;                ///< --text for the KL and closed-loop objectives
    int64_t klCtx = 128;
    std::string presetSize;  ///< --preset-size NAME: the budget is that preset's size
    // closed-loop
    int64_t fitCtx = 512;     ///< tokens of --text the loop scores
    double holdOut = 0.25;    ///< fraction of them held out
    std::string holdoutText;  ///< held-out part from this text instead of the tail of --text
    double guardSigmas = 2;   ///< standard errors a gain must exceed (KL, log-likelihood, held-out)
    double maxSeconds = 0;    ///< time bound (0 = none)
    int maxRounds = 8;        ///< rounds of local moves
    int probeTypes = -1;      ///< types per tensor group the KL probes measure (-1 = auto, 0 = all)
    bool json = false;
};
int runPlan(const PlanCliOptions& o);

/// `plan diff MODEL A B`: A and B are .gguf files, recipes or presets.
struct PlanDiffCliOptions {
    std::string model, a, b, imatrix;
    bool exact = false;
    bool json = false;
};
int runPlanDiff(const PlanDiffCliOptions& o);

struct StatsCliOptions {
    std::string model;
    std::string tensor;
    std::string type;
    std::string imatrix;
    int bins = 41;
    int threads = 0;
    bool json = false;
    std::string backend = "cpu";     ///< histograms, metrics and the candidate encode on it
    std::string quantizer = "ggml";  ///< --quantizer ggml|best
    // --all: every tensor of a plan (stats_all_cmd.cpp)
    bool all = false;
    std::string preset, recipe;
    bool exact = false;
    int64_t sampleRows = 256;
    uint64_t exactBelow = uint64_t(1) << 22;
    uint64_t seed = 1;
    bool perExpert = false;
    std::string tensors;  ///< --tensors REGEX: only matching tensors
};
int runStats(const StatsCliOptions& o);
int runStatsAll(const StatsCliOptions& o);

struct EvalCliOptions {
    std::string model;
    std::string reference;       ///< original model for KL divergence
    std::string type;            ///< quantize MODEL in memory by this preset first
    std::string recipe;          ///< ... or by this recipe
    std::string text;            ///< text file (tokenized with the model's GGUF vocabulary)
    std::string tokens;          ///< or a file of token ids
    std::string saveReference;   ///< write the reference's top-k cache here
    std::string referenceCache;  ///< read the reference from a cache instead of running it
    std::string attention = "flash";
    int64_t ctx = 512;
    int64_t firstScored = 0;
    int topK = 32;
    int threads = 0;
    bool noBos = false;
    bool chunked = false;      ///< llama-perplexity's chunks (perplexity only)
    std::string probe;         ///< sensitivity probe: this type on one tensor at a time
    bool probeLayers = false;  ///< ... or on one layer at a time
    bool trace = false;
    bool json = false;
};
int runEval(const EvalCliOptions& o);

/// `imatrix`: an importance matrix from our forward pass (llama-imatrix's collection and GGUF
/// format), merged with --in-file files, with llama-imatrix's --show-statistics.
struct ImatrixCliOptions {
    std::string model;                 ///< empty: only merge / show --in-file files
    std::string text;                  ///< calibration text
    std::string output;                ///< default imatrix.gguf
    std::vector<std::string> inFiles;  ///< imatrix files to merge (GGUF or legacy .dat)
    int64_t ctx = 512;
    int64_t chunks = -1;
    int64_t batch = 2048;  ///< llama-imatrix -b: max(1, batch / ctx) chunks decoded together
    int64_t ubatch = 512;  ///< llama-imatrix -ub: tokens per product
    int threads = 0;
    bool showStatistics = false;
    bool json = false;
};
int runImatrix(const ImatrixCliOptions& o);

/// `report`: variants of MODEL (presets, recipe:FILE, fit:SIZE, file:GGUF) measured against it
/// on a text, written as report.md / report.html / chart.svg / report.json into a folder, with
/// --export the variants' GGUF files too (each with its recipe under quantize.recipe).
struct ReportCliOptions {
    std::string model;
    std::vector<std::string> variants;  ///< --variant SPEC (repeatable)
    std::string text;
    std::string output;  ///< folder
    std::string imatrix;
    int64_t ctx = 512;
    int topK = 32;
    int threads = 0;
    int fitRounds = 2;
    bool exportFiles = false;  ///< --export
    bool json = false;
};
int runReport(const ReportCliOptions& o);

/// List the Vulkan devices the backend can use (or say why there are none).
int runDevices(bool json);

}  // namespace qs::cli
