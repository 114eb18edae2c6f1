// quantscope-cli: command-line parsing only; the work is in commands.cpp and core.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
    CLI::App app{"Quantscope: explore, plan and quantize LLM weights (GGUF, safetensors)",
                 "quantscope-cli"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("quantscope-cli ") + QS_VERSION);

    qs::cli::InspectOptions inspect;
    auto* cInspect = app.add_subcommand(
        "inspect", "Show a model's format, metadata and every tensor (name, shape, type, size)");
    cInspect->add_option("model", inspect.model, "GGUF file, .safetensors file, index .json or "
                                                 "model directory")
        ->required();
    cInspect->add_flag("--json", inspect.json, "Machine-readable output (schema in docs/CLI.md)");
    cInspect->add_flag("--full", inspect.fullMetadata, "Print metadata arrays in full");

    qs::cli::SynthCliOptions synth;
    auto* cSynth = app.add_subcommand(
        "synth", "Write a realistic synthetic llama GGUF (F16 weights) for tests and demos");
    cSynth->add_option("-o,--output", synth.output, "Output .gguf path")->required();
    cSynth->add_option("--preset", synth.preset, "tiny (~4M params), small (~100M), medium (~1B)")
        ->check(CLI::IsMember({"tiny", "small", "medium"}));
    cSynth->add_option("--seed", synth.seed, "Random seed (same seed, same bytes)");
    cSynth->add_option("--threads", synth.threads, "Threads (0 = all cores)");

    bool devicesJson = false;
    auto* cDevices = app.add_subcommand("devices", "List the Vulkan devices the GPU backend can use");
    cDevices->add_flag("--json", devicesJson, "Machine-readable output");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;  // bad usage is exit code 2
    }
    if (*cInspect) return qs::cli::runInspect(inspect);
    if (*cSynth) return qs::cli::runSynth(synth);
    if (*cDevices) return qs::cli::runDevices(devicesJson);
    return 2;
}
