#pragma once
// The forward pass's hyper-parameters of a model, read per architecture from the GGUF keys (or
// an HF model's translated hparams) the way llama.cpp's loader reads them for that architecture:
// defaults, sliding-window patterns, rope bases of sliding layers, soft-capping, query scaling.
// Internal to core/eval (LlamaModel::bind uses it).

#include "common/result.h"
#include "eval/llama_model.h"
#include "model/model.h"

namespace qs::eval::detail {

/// The architectures the forward pass runs, for messages.
inline constexpr const char* kSupportedArchitectures =
    "llama, mistral, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3";

/// Read and range-check the configuration; nVocab is left 0 (the binder sets it from the
/// embedding). Errors: an unsupported architecture, missing or inconsistent hyper-parameters.
Result<LlamaConfig> readConfig(const model::Model& model);

}  // namespace qs::eval::detail
