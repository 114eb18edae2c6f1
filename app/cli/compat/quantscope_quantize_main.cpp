// quantscope-quantize: llama-quantize's command line on Quantscope (llama_quantize_compat.h).
#include <string>
#include <vector>

#include "../llama_quantize_compat.h"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return qs::cli::runLlamaQuantize(args, "quantscope-quantize");
}
