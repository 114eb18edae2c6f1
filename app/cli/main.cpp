// quantscope-cli: command-line parsing only; the work is in commands.cpp and core.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "common/build_info.h"
#include "llama_quantize_compat.h"
#include "workflow/presets.h"

#ifdef QS_HAVE_VULKAN
constexpr bool kWithVulkan = true;
#else
constexpr bool kWithVulkan = false;
#endif

int main(int argc, char** argv) {
    // `quantscope-cli quantize` in llama-quantize's form (IN [OUT] TYPE [THREADS]) is the
    // drop-in's; the native form (one model, -o, --type ...) goes on to CLI11 below.
    if (argc >= 2 && std::string(argv[1]) == "quantize") {
        std::vector<std::string> rest(argv + 2, argv + argc);
        if (qs::cli::isLlamaQuantizeForm(rest)) {
            return qs::cli::runLlamaQuantize(rest, "quantscope-cli quantize");
        }
    }
    CLI::App app{"Quantscope: explore, plan and quantize LLM weights (GGUF, safetensors)",
                 "quantscope-cli"};
    app.require_subcommand(1);
    app.set_version_flag("--version", qs::versionLine("quantscope-cli", kWithVulkan));

    qs::cli::InspectOptions inspect;
    auto* cInspect = app.add_subcommand(
        "inspect", "Show a model's format, metadata and every tensor (name, shape, type, size)");
    cInspect
        ->add_option("model", inspect.model,
                     "GGUF file, .safetensors file, index .json or "
                     "model directory")
        ->required();
    cInspect->add_flag("--json", inspect.json, "Machine-readable output (schema in docs/CLI.md)");
    cInspect->add_flag("--full", inspect.fullMetadata, "Print metadata arrays in full");

    qs::cli::ConvertCliOptions conv;
    auto* cConvert = app.add_subcommand(
        "convert", "Convert a Hugging Face model folder to GGUF (convert_hf_to_gguf.py's twin)");
    cConvert->add_option("model", conv.model, "Model folder, its config.json, index or a shard")
        ->required();
    cConvert->add_option("-o,--output", conv.output, "Output .gguf path")->required();
    cConvert
        ->add_option("--outtype", conv.outtype,
                     "f32, f16, bf16 or auto (default: the weights' own 16-bit type, else f16)")
        ->check(CLI::IsMember({"f32", "f16", "bf16", "auto"}));
    cConvert->add_option("--vocab-from", conv.vocabFrom,
                         "Test aid: copy tokenizer.* keys from this GGUF when the folder's "
                         "tokenizer does not convert");
    cConvert->add_option("--threads", conv.threads, "Threads (0 = all cores)");
    cConvert->add_flag("--json", conv.json, "Machine-readable output (schema in docs/CLI.md)");

    qs::cli::SynthHfCliOptions synthHf;
    auto* cSynthHf = app.add_subcommand(
        "synth-hf", "Write a tiny Hugging Face model folder (config.json + safetensors) for tests");
    cSynthHf
        ->add_option("architecture", synthHf.architecture,
                     "LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM, "
                     "Qwen3ForCausalLM, Qwen3MoeForCausalLM, Gemma2ForCausalLM, "
                     "Gemma3ForCausalLM or Phi3ForCausalLM")
        ->required();
    cSynthHf->add_option("-o,--output", synthHf.output, "Output folder")->required();
    cSynthHf->add_option("--dtype", synthHf.dtype, "bf16, f16 or f32")
        ->check(CLI::IsMember({"bf16", "f16", "f32"}));
    cSynthHf->add_option("--seed", synthHf.seed, "Random seed");
    cSynthHf->add_option("--shards", synthHf.shards, "Number of safetensors shards")
        ->check(CLI::Range(1, 64));
    cSynthHf->add_flag("--sparse-8b", synthHf.sparse8b,
                       "Llama 3.1 8B's shapes, headers only (data areas are holes), 4 shards");
    cSynthHf->add_option("--vocab", synthHf.vocab, "Vocabulary rows (default 512)");
    cSynthHf->add_option("--hidden", synthHf.hidden, "Hidden size (default 64; 4 heads)");
    cSynthHf->add_option("--ffn", synthHf.ffn, "Feed-forward size (default 128)");
    cSynthHf->add_option("--layers", synthHf.layers, "Layers (default 2)");
    cSynthHf->add_flag("--no-rope-scaling", synthHf.noRopeScaling,
                       "LlamaForCausalLM without the llama3 rope scaling (a Llama 2 config)");
    cSynthHf->add_option("--tokenizer-from", synthHf.tokenizerFrom,
                         "Copy tokenizer.json, tokenizer_config.json, tokenizer.model from here");

    qs::cli::SynthCliOptions synth;
    auto* cSynth = app.add_subcommand(
        "synth", "Write a realistic synthetic GGUF model (F16 weights) for tests and demos");
    cSynth->add_option("-o,--output", synth.output, "Output .gguf path")->required();
    cSynth
        ->add_option("--preset", synth.preset,
                     "tiny (~4M params), small (~100M), medium (~1B); written sparsely (header "
                     "+ holes): llama-405b (812 GB), qwen3moe-30b-a3b (61 GB, 128 experts)")
        ->check(CLI::IsMember({"tiny", "small", "medium", "llama-405b", "qwen3moe-30b-a3b"}));
    cSynth->add_option("--arch", synth.arch,
                       "Architecture: llama (default, every preset) or, tiny only, llama3, "
                       "qwen3, qwen3moe, mixtral, gemma2, gemma3, phi3");
    cSynth->add_option("--seed", synth.seed, "Random seed (same seed, same bytes)");
    cSynth->add_option("--threads", synth.threads, "Threads (0 = all cores)");
    cSynth->add_option("--imatrix", synth.imatrix,
                       "Also write a synthetic importance matrix for the model (GGUF)");

    qs::cli::QuantizeCliOptions quant;
    auto* cQuant = app.add_subcommand(
        "quantize",
        "Quantize a model by a llama.cpp preset, rules or a recipe and write a GGUF "
        "(also takes llama-quantize's command line: IN [OUT] TYPE [THREADS])");
    cQuant
        ->add_option("model", quant.model,
                     "Input model (GGUF, or a Hugging Face folder: converted on the fly)")
        ->required();
    cQuant->add_option("-o,--output", quant.output, "Output .gguf path");
    cQuant->add_option(
        "--type", quant.type,
        "Preset as llama-quantize names it (default Q8_0): " + qs::workflow::presetNameList());
    cQuant->add_option("--tensor-type", quant.tensorTypes,
                       "REGEX=TYPE override, first match wins (repeatable), as llama-quantize's");
    cQuant->add_option("--tensor-type-file", quant.tensorTypeFile,
                       "File of REGEX=TYPE entries separated by whitespace or newlines");
    cQuant->add_option("--output-tensor-type", quant.outputTensorType, "Type for output.weight");
    cQuant->add_option("--token-embedding-type", quant.tokenEmbeddingType,
                       "Type for token_embd.weight");
    cQuant->add_flag("--pure", quant.pure,
                     "No k-quant mixture: every tensor gets the preset's type");
    cQuant->add_flag("--leave-output-tensor", quant.leaveOutputTensor,
                     "Keep output.weight as it is");
    cQuant->add_flag("--allow-requantize", quant.allowRequantize,
                     "Re-quantize tensors that are already quantized (refused otherwise, as by "
                     "llama-quantize; quality suffers)");
    cQuant->add_option("--recipe", quant.recipe, "Recipe JSON (quantscope.recipe/1)");
    cQuant->add_option("--imatrix", quant.imatrix,
                       "Importance matrix (GGUF or legacy imatrix.dat)");
    cQuant->add_option("--backend", quant.backend, "cpu or vulkan[:N]");
    cQuant->add_option("--quantizer", quant.quantizer,
                       "ggml (default: llama.cpp's bytes) or best (lower error, same formats)");
    cQuant->add_option("--threads", quant.threads,
                       "Threads (0 = all cores); output never depends on it");
    cQuant->add_flag("--dry-run", quant.dryRun,
                     "Print every tensor's type and exact size; write nothing");
    cQuant->add_flag("--no-space-check", quant.noSpaceCheck,
                     "Write even if the target's file system reports less free space than the "
                     "exact output size (for file systems that report it wrongly)");
    cQuant->add_flag("--json", quant.json, "Machine-readable output (schema in docs/CLI.md)");
    cQuant->add_flag("-q,--quiet", quant.quiet, "Only the summary line");
    cQuant->add_option("--target-bpw", quant.targetBpw,
                       "Budget optimizer: best plan for this many bits per weight (whole file)");
    cQuant->add_option("--target-size", quant.targetSize, "Budget optimizer: file size in bytes");
    cQuant->add_option("--types", quant.optTypes, "Optimizer: allowed types, comma-separated");
    cQuant->add_option("--lock", quant.lock,
                       "Optimizer: tensors (REGEX) that keep the --type preset's type");
    cQuant->add_option("--weight", quant.factors,
                       "Optimizer: REGEX=FACTOR on matching tensors' error");
    cQuant->add_flag("--exact", quant.exact,
                     "Optimizer: measure every row of every tensor (default: as plan, tensors "
                     "of more than 4194304 values on 256 sampled rows, the others on 64)");
    auto* qSplitSize = cQuant->add_option(
        "--split-max-size", quant.splitMaxSize,
        "Write shards of at most SIZE tensor data each (500M, 2G: 10^6 / 10^9 bytes), named "
        "OUT-00001-of-0000N.gguf as llama.cpp's gguf-split");
    auto* qSplitTensors = cQuant
                              ->add_option("--split-max-tensors", quant.splitMaxTensors,
                                           "Write shards of at most N tensors each (gguf-split's)")
                              ->check(CLI::Range(1u, 1u << 30));
    cQuant
        ->add_flag("--keep-split", quant.keepSplit,
                   "Keep the input's split: one output shard per input shard (llama-quantize's)")
        ->excludes(qSplitSize)
        ->excludes(qSplitTensors);
    qSplitSize->excludes(qSplitTensors);

    qs::cli::StatsCliOptions statsOpt;
    auto* cStats = app.add_subcommand(
        "stats",
        "Histogram of one tensor and, with --type, the error it would get; with --all, every "
        "tensor's planned type and error (sampled, +- its 95 % interval, or --exact)");
    cStats->add_option("model", statsOpt.model, "Model file")->required();
    auto* sTensor = cStats->add_option("--tensor", statsOpt.tensor, "Tensor name");
    auto* sAll = cStats->add_flag(
        "--all", statsOpt.all, "Every tensor in its planned type (--type, --preset or --recipe)");
    sTensor->excludes(sAll);
    cStats->add_option("--type", statsOpt.type,
                       "Candidate type (Q4_K, Q8_0 ...); with --all, every quantizable tensor");
    auto* sPreset = cStats->add_option("--preset", statsOpt.preset,
                                       "With --all: a llama.cpp preset (Q4_K_M ...)");
    auto* sRecipe = cStats->add_option("--recipe", statsOpt.recipe, "With --all: a recipe file");
    sPreset->needs(sAll);
    sRecipe->needs(sAll);
    sPreset->excludes(sRecipe);
    cStats->add_flag("--exact", statsOpt.exact, "With --all: measure every row of every tensor");
    cStats
        ->add_option("--sample-rows", statsOpt.sampleRows,
                     "With --all: rows sampled per tensor (default 256)")
        ->check(CLI::Range(4, 1 << 24));
    cStats->add_option("--exact-below", statsOpt.exactBelow,
                       "With --all: tensors of at most this many values are measured exactly "
                       "(default 4194304)");
    cStats->add_option("--seed", statsOpt.seed, "With --all: sample seed");
    cStats->add_flag("--per-expert", statsOpt.perExpert,
                     "With --all: the error of every expert of *_exps tensors");
    cStats->add_option("--tensors", statsOpt.tensors,
                       "With --all: only tensors whose name matches this regular expression");
    cStats->add_option("--imatrix", statsOpt.imatrix, "Importance matrix");
    cStats->add_option("--bins", statsOpt.bins, "Histogram bins")->check(CLI::Range(1, 100000));
    cStats->add_option("--threads", statsOpt.threads, "Threads (0 = all cores)");
    cStats->add_option("--backend", statsOpt.backend,
                       "cpu or vulkan[:N] (same counts and metrics)");
    cStats->add_option("--quantizer", statsOpt.quantizer,
                       "ggml or best: whose encoding is measured");
    cStats->add_flag("--json", statsOpt.json, "Machine-readable output");

    qs::cli::PlanCliOptions plan;
    auto* cPlan = app.add_subcommand(
        "plan", "Budget optimizer: the least-error type per tensor for a size, as a recipe");
    cPlan->add_option("model", plan.model, "Input model (GGUF or Hugging Face folder)");
    cPlan->add_option("--target-bpw", plan.targetBpw, "Bits per weight of the whole file");
    cPlan->add_option("--target-size", plan.targetSize, "File size in bytes");
    cPlan->add_option("--imatrix", plan.imatrix, "Importance matrix: weighted error (recommended)");
    cPlan->add_option("--types", plan.types,
                      "Allowed types, comma-separated (default: all we write)");
    cPlan->add_option("--lock", plan.lock, "Tensors (REGEX) that keep the --base preset's type");
    cPlan->add_option(
        "--weight", plan.factors,
        "REGEX=FACTOR: multiply matching tensors' error (repeatable, first match wins)");
    cPlan->add_option("--base", plan.base,
                      "Preset for locked tensors and the file_type label (Q8_0)");
    cPlan->add_flag("--exact", plan.exact,
                    "Measure every row of every tensor (default: tensors of more than "
                    "--exact-below values on 256 rows drawn as by stats --all, the others on "
                    "--sample-rows rows)");
    cPlan
        ->add_option("--sample-rows", plan.sampleRows,
                     "Rows per small tensor in the sampled estimate (default 64)")
        ->check(CLI::Range(2, 1 << 20));
    cPlan->add_option("--exact-below", plan.exactBelow,
                      "Tensors of more values than this are measured by the sampler of stats "
                      "--all (default 4194304)");
    cPlan->add_flag("--no-cache", plan.noCache, "Do not read or write the sensitivity cache");
    cPlan->add_option("--from", plan.from, "Import the per-tensor types of this GGUF file instead");
    cPlan->add_option("-o,--output", plan.output,
                      "Write the plan as a recipe (quantscope.recipe/1)");
    cPlan->add_option("--tensor-type-file", plan.tensorTypeFile,
                      "Also write llama-quantize's --tensor-type-file");
    cPlan->add_option("--curve", plan.curve, "JSON: points of the size-against-error curve");
    cPlan->add_option("--preset-size", plan.presetSize,
                      "The budget is this preset's exact file size (e.g. Q4_K_M)");
    cPlan
        ->add_option("--objective", plan.objective,
                     "nmse (weight error, default), kl (per-tensor KL probes on --text) or "
                     "closed-loop (candidates scored by the model's KL on --text; never worse "
                     "there than the preset of that size)")
        ->check(CLI::IsMember({"nmse", "kl", "closed-loop"}));
    cPlan->add_option(
        "--text", plan.text,
        "Text for --objective kl / closed-loop (tokenized with the model's vocabulary)");
    cPlan
        ->add_option("--fit-ctx", plan.fitCtx,
                     "closed-loop: tokens of --text scored, calibration + held-out (default 512)")
        ->check(CLI::Range(int64_t(32), int64_t(1) << 16));
    cPlan
        ->add_option("--holdout", plan.holdOut,
                     "closed-loop: fraction of those tokens held out (default 0.25; 0 = none)")
        ->check(CLI::Range(0.0, 0.8));
    cPlan->add_option("--holdout-text", plan.holdoutText,
                      "closed-loop: the held-out tokens are the first ones of this other text "
                      "(default: the tail of --text)");
    cPlan
        ->add_option("--guard-sigmas", plan.guardSigmas,
                     "closed-loop: a candidate replaces the preset only when its gain exceeds "
                     "this many standard errors (KL and log-likelihood, calibration and held-out; "
                     "default 2)")
        ->check(CLI::Range(0.0, 100.0));
    cPlan
        ->add_option("--max-seconds", plan.maxSeconds,
                     "closed-loop: time bound; the search stops between evaluations (0 = none)")
        ->check(CLI::Range(0.0, 1e7));
    cPlan
        ->add_option("--max-rounds", plan.maxRounds,
                     "closed-loop: rounds of local moves (default 8)")
        ->check(CLI::Range(0, 1000));
    cPlan
        ->add_option("--probe-types", plan.probeTypes,
                     "closed-loop: types per tensor group the KL probes measure, the others "
                     "interpolated (0 = all; default: all under 20M parameters, else 3)")
        ->check(CLI::Range(-1, 64));
    cPlan->add_option("--kl-ctx", plan.klCtx, "Tokens of --text the KL probes score (default 128)")
        ->check(CLI::Range(int64_t(8), int64_t(1) << 16));
    cPlan->add_option("--threads", plan.threads, "Threads (0 = all cores)");
    cPlan->add_flag("--json", plan.json, "Machine-readable output (schema in docs/CLI.md)");
    qs::cli::PlanDiffCliOptions planDiff;
    auto* cPlanDiff =
        cPlan->add_subcommand("diff", "Compare two plans: tensors, size and error per layer");
    cPlanDiff->add_option("model", planDiff.model, "Model the plans are for")->required();
    cPlanDiff->add_option("a", planDiff.a, "Plan A: a .gguf file, a recipe .json or a preset")
        ->required();
    cPlanDiff->add_option("b", planDiff.b, "Plan B")->required();
    cPlanDiff->add_option("--imatrix", planDiff.imatrix, "Importance matrix");
    cPlanDiff->add_flag("--exact", planDiff.exact, "Measure every row");
    cPlanDiff->add_flag("--json", planDiff.json, "Machine-readable output");
    qs::cli::EvalCliOptions evalOpt;
    auto* cEval = app.add_subcommand(
        "eval", "Perplexity of a model on a text and, against a reference, KL divergence");
    cEval->add_option("model", evalOpt.model, "Model to evaluate (GGUF or safetensors)")
        ->required();
    cEval->add_option("--reference", evalOpt.reference,
                      "Original model: KL divergence and top-1 agreement against it");
    auto* evType = cEval->add_option("--type", evalOpt.type,
                                     "Quantize MODEL in memory by this preset first (Q4_K_M ...); "
                                     "the reference defaults to MODEL itself");
    cEval->add_option("--recipe", evalOpt.recipe, "... or by this recipe JSON")->excludes(evType);
    auto* evText = cEval->add_option("--text", evalOpt.text, "Text file to score");
    cEval->add_option("--tokens", evalOpt.tokens, "File of token ids instead of a text")
        ->excludes(evText);
    cEval->add_option("--ctx", evalOpt.ctx, "Context length: tokens scored in one context")
        ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
    cEval->add_option("--first", evalOpt.firstScored,
                      "First scored position (0 = all; llama-perplexity uses ctx/2)");
    cEval->add_option("--top-k", evalOpt.topK, "Reference log-probabilities kept per position")
        ->check(CLI::Range(1, 1 << 20));
    cEval
        ->add_option("--attention", evalOpt.attention,
                     "flash (llama.cpp's default), f16 (F16 KV cache, no flash) or f32")
        ->check(CLI::IsMember({"flash", "f16", "f32"}));
    cEval->add_option("--save-reference", evalOpt.saveReference, "Write the reference cache");
    cEval->add_option("--reference-cache", evalOpt.referenceCache,
                      "Read the reference from a cache written by --save-reference");
    cEval->add_flag(
        "--no-bos", evalOpt.noBos,
        "Do not put BOS before the text's tokens (by default: when the vocabulary adds one)");
    cEval->add_flag("--llama-perplexity", evalOpt.chunked,
                    "Score as llama-perplexity does: chunks of --ctx tokens, each starting with "
                    "BOS, second halves scored (perplexity only)");
    cEval->add_option("--probe", evalOpt.probe,
                      "Sensitivity probe: KL when only one tensor takes this type (Q4_0 ...), "
                      "ranked");
    cEval->add_flag("--probe-layers", evalOpt.probeLayers, "Probe one layer at a time instead");
    cEval->add_flag("--trace", evalOpt.trace, "Per-position NLL, KL and top-1 in the JSON");
    cEval->add_option("--threads", evalOpt.threads, "Threads (0 = all cores)");
    cEval->add_flag("--json", evalOpt.json, "Machine-readable output (schema in docs/CLI.md)");

    qs::cli::ImatrixCliOptions imx;
    auto* cImatrix = app.add_subcommand(
        "imatrix", "Importance matrix from a calibration text (llama-imatrix's GGUF format)");
    cImatrix->add_option("model", imx.model,
                         "Model (GGUF or safetensors); omit to only merge or "
                         "show --in-file files");
    cImatrix->add_option("--text", imx.text,
                         "Calibration text, tokenized with the model's vocabulary");
    cImatrix->add_option("-o,--output", imx.output, "Output file (default imatrix.gguf)");
    cImatrix
        ->add_option("--in-file", imx.inFiles,
                     "Imatrix file to merge, weighted by its counts (repeatable)")
        ->allow_extra_args(false);
    cImatrix->add_option("--ctx", imx.ctx, "Tokens per chunk, each starting with BOS (default 512)")
        ->check(CLI::Range(int64_t(16), int64_t(1) << 20));
    cImatrix->add_option("--chunks", imx.chunks, "At most this many chunks (default: all)")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
    cImatrix
        ->add_option("--batch", imx.batch,
                     "llama-imatrix's -b: max(1, N / ctx) chunks decoded together (default "
                     "2048); with --ubatch it fixes the order of the float sums")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    cImatrix
        ->add_option("--ubatch", imx.ubatch,
                     "llama-imatrix's -ub: tokens per product (default 512)")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    cImatrix->add_option("--threads", imx.threads, "Threads (0 = all cores)");
    cImatrix->add_flag("--show-statistics", imx.showStatistics,
                       "Per tensor and per layer statistics, as llama-imatrix prints them");
    cImatrix->add_flag("--json", imx.json, "Machine-readable output (schema in docs/CLI.md)");

    qs::cli::ReportCliOptions rep;
    auto* cReport = app.add_subcommand(
        "report",
        "Variants of a model measured against it: model-card report (Markdown, HTML, "
        "chart), optionally the variants' files");
    cReport->add_option("model", rep.model, "The original model (GGUF or safetensors)")->required();
    cReport
        ->add_option("--variant", rep.variants,
                     "A preset (Q4_K_M ...), recipe:FILE, fit:SIZE (304096, 300K, 4.5bpw) or "
                     "file:GGUF (a quantized file of the same model); repeatable")
        ->required()
        ->allow_extra_args(false);
    cReport->add_option("--text", rep.text, "Text the variants are measured on")->required();
    cReport->add_option("-o,--output", rep.output, "Folder for the report")->required();
    cReport->add_option("--ctx", rep.ctx, "Tokens of the text scored in one context (default 512)")
        ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
    cReport->add_option("--top-k", rep.topK, "Reference log-probabilities kept per position")
        ->check(CLI::Range(1, 1 << 20));
    cReport->add_option("--imatrix", rep.imatrix,
                        "Importance matrix for the quantization (as quantize --imatrix)");
    cReport
        ->add_option("--fit-rounds", rep.fitRounds,
                     "Closed-loop rounds of local moves per fit:SIZE (default 2)")
        ->check(CLI::Range(0, 64));
    cReport->add_flag("--export", rep.exportFiles,
                      "Also write every variant's GGUF file into the folder (recipe embedded "
                      "under quantize.recipe)");
    cReport->add_option("--threads", rep.threads, "Threads (0 = all cores)");
    cReport->add_flag("--json", rep.json, "Print report.json (schema in docs/CLI.md)");

    bool devicesJson = false;
    auto* cDevices =
        app.add_subcommand("devices", "List the Vulkan devices the GPU backend can use");
    cDevices->add_flag("--json", devicesJson, "Machine-readable output");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;  // bad usage is exit code 2
    }
    if (*cInspect) return qs::cli::runInspect(inspect);
    if (*cSynth) return qs::cli::runSynth(synth);
    if (*cConvert) return qs::cli::runConvert(conv);
    if (*cSynthHf) return qs::cli::runSynthHf(synthHf);
    if (*cDevices) return qs::cli::runDevices(devicesJson);
    if (*cQuant) return qs::cli::runQuantize(quant);
    if (*cStats) return qs::cli::runStats(statsOpt);
    if (*cPlanDiff) return qs::cli::runPlanDiff(planDiff);
    if (*cPlan) {
        if (plan.model.empty()) {
            std::fprintf(stderr, "error: plan: the model is required\n");
            return 2;
        }
        return qs::cli::runPlan(plan);
    }
    if (*cEval) return qs::cli::runEval(evalOpt);
    if (*cImatrix) return qs::cli::runImatrix(imx);
    if (*cReport) return qs::cli::runReport(rep);
    return 2;
}
