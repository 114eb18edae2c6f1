#pragma once
// Hugging Face model folder -> GGUF model description, without writing anything: the same
// `model::Model` a GGUF file gives (llama.cpp's tensor names, shapes, types and metadata keys,
// as its convert_hf_to_gguf.py writes them), with the tensor data left memory-mapped in the
// safetensors shards. Renames are plain views; the q/k row permutation of llama/mistral, the
// stacking of per-expert tensors into `*_exps`, Gemma's norm + 1, dtype changes and generated
// tensors (rope_freqs, Phi-3's rope factors) are virtual tensors (model::TensorSource) made
// row by row when read (Model::readRows), so export streams chunk by chunk.
//
// Supported `architectures`: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM (GGUF
// "llama"), Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, Gemma2ForCausalLM,
// Gemma3ForCausalLM, Phi3ForCausalLM. The tokenizer comes from readHfTokenizer
// (convert/hf_tokenizer.h); without tokenizer files the model converts without a vocabulary
// and says so in conversionNotes().

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/model.h"

namespace qs::convert {

/// The `architectures` values the converter supports, in documentation order.
const std::vector<std::string>& supportedHfArchitectures();

/// The model folder of a path if it names a Hugging Face model: a directory with config.json
/// and model.safetensors or model.safetensors.index.json, that config.json, the index, or one
/// of the .safetensors files beside a config.json. nullopt otherwise.
std::optional<std::filesystem::path> hfModelDir(const std::string& path);

/// True when the folder's config.json names a supported architecture.
bool isSupportedHfModel(const std::filesystem::path& dir);

/// Convert (describe) the model in `dir`. Errors: an unsupported architecture (named, with the
/// supported list), a missing or truncated shard, a tensor the architecture does not know, a
/// shape that disagrees with config.json, an unreadable tokenizer; each names the file.
Result<model::Model> convertHfModel(const std::filesystem::path& dir);

/// llama.cpp's `--outtype`.
enum class OutType { F32, F16, BF16, Auto };

/// Parse "f32" | "f16" | "bf16" | "auto".
std::optional<OutType> parseOutType(std::string_view s);

/// The concrete outtype of `auto` as llama.cpp decides it: BF16 if the first source tensor
/// with two or more dimensions is BF16, F16 if it is F16, else F16.
OutType resolveOutType(const model::Model& converted, OutType o);

/// The type llama.cpp's converter writes a tensor in for a (resolved) outtype: F32 for 1-D
/// tensors, norms, MoE routers (ffn_gate_inp) and anything not named *.weight; the outtype's
/// type for the rest.
formats::TensorType convertedType(const model::TensorInfo& t, OutType resolved);

/// llama.cpp's general.file_type for a resolved outtype (ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32).
uint32_t fileTypeOf(OutType resolved);

}  // namespace qs::convert
