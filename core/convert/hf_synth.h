#pragma once
// Tiny Hugging Face model folders for tests and benchmarks: config.json and real safetensors
// (single file or sharded with model.safetensors.index.json) in the exact tensor layout
// transformers uses for each architecture the converter supports, with realistic random
// weights (Student-t entries, log-normal row scales, a few outlier input channels). The sparse
// mode writes the headers and leaves every data area a hole (ftruncate), for memory
// benchmarks of real model shapes at no disk cost.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "formats/type_table.h"

namespace qs::convert {

struct HfSynthOptions {
    std::string architecture = "LlamaForCausalLM";          ///< one of supportedHfArchitectures()
    formats::TensorType dtype = formats::TensorType::BF16;  ///< BF16, F16 or F32
    uint64_t seed = 1;
    int shards = 1;       ///< > 1: model-0000i-of-0000n.safetensors + index
    bool sparse = false;  ///< headers only, data areas left as holes
    /// Shape (0: the tiny default of the architecture).
    int64_t vocab = 0, hidden = 0, ffn = 0, layers = 0, heads = 0, headsKv = 0, headDim = 0;
    int64_t experts = 0, expertsUsed = 0;
    bool llama3Rope = true;  ///< LlamaForCausalLM: rope_scaling {"rope_type": "llama3"}
};

/// Write a model folder at `dir` (created; existing files of the same names are replaced).
Status writeHfSynthModel(const HfSynthOptions& options, const std::string& dir);

/// The options of Llama 3.1 8B's shapes (BF16, 4 shards, sparse) for the memory benchmark.
HfSynthOptions llama8BShape();

}  // namespace qs::convert
