#pragma once
// Synthetic llama-architecture models: F16 weights with the statistics of real checkpoints
// (heavy tails, per-row scale spread, a few outlier input channels), F32 norms, complete llama
// hyper-parameters and a small valid SentencePiece-style tokenizer, so that llama.cpp loads the
// file. Used for unit tests (tiny), benchmarks (small, medium) and as the demo model.

#include <cstdint>
#include <string>

#include "common/result.h"

namespace qs::synth {

/// Tiny, Small, Medium: llama shapes with real (generated) weights. Llama405B (Llama 3.1 405B's
/// shapes: 126 layers, hidden 16384, 812 GB in F16) and Qwen3Moe30B (Qwen3-30B-A3B's: 48 layers of
/// 128 experts, 61 GB) are always written sparsely: the header, then holes (zeros that take no
/// disk space and are read from no disk), for tests and benchmarks of scale on any machine.
enum class SynthPreset { Tiny, Small, Medium, Llama405B, Qwen3Moe30B };

/// Shape of a synthetic model.
struct SynthSpec {
    std::string name;
    uint32_t vocab = 0;
    uint32_t embd = 0;  ///< hidden size
    uint32_t ffn = 0;   ///< feed-forward size
    uint32_t layers = 0;
    uint32_t heads = 0;
    uint32_t headsKv = 0;
    uint32_t context = 0;
};

/// The spec of a preset (tiny: ~4M parameters; small: ~100M; medium: ~1B).
SynthSpec specOf(SynthPreset preset);
/// True for the presets that are only ever written sparsely (header + holes).
bool isSparseOnly(SynthPreset preset);
/// "tiny" / "small" / "medium" / "llama-405b" / "qwen3moe-30b-a3b" -> preset; else BadUsage.
Result<SynthPreset> presetFromName(const std::string& name);

struct SynthOptions {
    SynthPreset preset = SynthPreset::Tiny;
    uint64_t seed = 1;
    int threads = 0;  ///< generation threads (0 = all); the bytes never depend on it
    /// Write the header only and leave every tensor's data as zeros (a sparse file): the
    /// model's exact shapes and metadata at no cost, for tests and header-bound benchmarks.
    bool zeroData = false;
    /// "llama" (the presets above) or a modern architecture, always at a tiny shape (vocabulary
    /// 2048, hidden 256): "llama3" (rope_freqs), "qwen3" (q/k norms, head_dim 96 != 256/4, tied
    /// output), "qwen3moe" (8 experts, top-2, router rows 6 and 7 duplicate rows 0 and 1 so
    /// routing ties happen), "mixtral" (llama with 4 experts, top-2, router row 3 = row 0),
    /// "gemma2" (post norms, soft-capping 20 / 10 so the caps bite, window 32), "gemma3" (q/k
    /// norms, 6 layers: 5 sliding + 1 global, rope bases 1e6 / 1e4), "phi3" (fused qkv and
    /// gate_up, LongRoPE factors). Metadata keys and tensor names are llama.cpp's for the arch.
    std::string arch = "llama";
};

/// The architectures writeSynthModel knows.
inline constexpr const char* kSynthArchitectures =
    "llama, llama3, qwen3, qwen3moe, mixtral, gemma2, gemma3, phi3";

/// Write the model to `path` atomically (temp file, fsync, rename). Deterministic in (preset,
/// seed).
Status writeSynthModel(const SynthOptions& options, const std::string& path);

}  // namespace qs::synth
