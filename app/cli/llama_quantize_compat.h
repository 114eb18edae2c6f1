#pragma once
// llama-quantize's command line, as a drop-in: `quantscope-quantize [options] IN [OUT] TYPE
// [THREADS]` (and `quantscope-cli quantize` in the same form) takes every option of llama.cpp's
// tools/quantize with its meaning, names its output as llama-quantize does, prints the sizes
// llama-quantize prints and exits with its codes: 0 on success, 1 on every failure (bad usage
// included). The reasons are Quantscope's: they name the file, the tensor and the fix.

#include <cstdio>
#include <string>
#include <vector>

namespace qs::cli {

/// Whether the arguments that follow `quantize` are llama-quantize's form: leading options of
/// llama-quantize only (`--name [value]`), then two or three positional arguments (IN [OUT]
/// TYPE [THREADS]); the native form (one model, -o, --type ...) answers false.
bool isLlamaQuantizeForm(const std::vector<std::string>& args);

/// Run llama-quantize's command line (args without the program name). `prog` is the name shown
/// in the help and messages. Returns the exit code (0 or 1; --help and --version give 0).
int runLlamaQuantize(const std::vector<std::string>& args, const std::string& prog);

/// The help text: llama-quantize's options, what each means here, and the types.
void printLlamaQuantizeHelp(const std::string& prog, std::FILE* to);

}  // namespace qs::cli
