#pragma once
// The readers that make a model::Model of a file: each parses its format into Model::Parts and
// hands them to Model::fromParts. model::openModel (io/open_model.cpp) picks one by path.

#include <string>

#include "common/result.h"
#include "model/model.h"

namespace qs::io {

/// A GGUF file (or the first of a split GGUF set: every shard is opened and checked).
Result<model::Model> loadGgufModel(const std::string& path);
/// A .safetensors file, a sharded model's index .json, or a folder holding either (with
/// config.json beside it), as stored (no conversion).
Result<model::Model> loadSafetensorsModel(const std::string& path);

}  // namespace qs::io
