#include "synth/synth.h"

#include <cmath>
#include <cstring>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "formats/half.h"
#include "io/gguf_writer.h"
#include "parallel/parallel.h"

namespace qs::synth {

namespace {

using io::GgufType;
using io::GgufValue;

// ------------------------------------------------------------------------------------------
// Random numbers: a counter-based stream per (seed, tensor, row), so the bytes never depend on
// the thread count or on the order rows are generated in.
// ------------------------------------------------------------------------------------------
uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t seed) : m_s(seed) {}
    double uniform() { return (double(splitmix(m_s) >> 11) + 0.5) * 0x1p-53; }  // (0, 1)
    double normal() {
        if (m_haveSpare) {
            m_haveSpare = false;
            return m_spare;
        }
        const double r = std::sqrt(-2.0 * std::log(uniform()));
        const double t = 2.0 * std::numbers::pi * uniform();
        m_spare = r * std::sin(t);
        m_haveSpare = true;
        return r * std::cos(t);
    }
    /// Student-t with 4 degrees of freedom scaled to unit variance (var of t4 is 2).
    double student4() {
        const double chi2 = -2.0 * std::log(uniform() * uniform());  // chi-square, 4 dof
        return normal() / std::sqrt(chi2 / 4.0) / std::sqrt(2.0);
    }

private:
    uint64_t m_s;
    double m_spare = 0;
    bool m_haveSpare = false;
};

uint64_t streamSeed(uint64_t seed, uint64_t tensor, uint64_t row) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull ^ (tensor << 40) ^ row;
    splitmix(s);
    return s;
}

// ------------------------------------------------------------------------------------------
// Tokenizer: a small SentencePiece-style ("llama") vocabulary that llama.cpp accepts:
// <unk>, <s>, </s>, the 256 byte-fallback tokens, then word pieces with descending scores.
// ------------------------------------------------------------------------------------------
struct Vocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 6 byte
};

Vocab makeVocab(uint32_t size) {
    Vocab v;
    auto add = [&](std::string t, float score, int32_t type) {
        v.tokens.push_back(std::move(t));
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0.0f, 2);
    add("<s>", 0.0f, 3);
    add("</s>", 0.0f, 3);
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        add(buf, 0.0f, 6);
    }
    static const char* kWords[] = {
        "the",    "a",      "and",   "to",    "was",    "he",   "she",  "it",   "of",    "in",
        "they",   "you",    "said",  "day",   "one",    "time", "upon", "once", "there", "little",
        "girl",   "boy",    "big",   "happy", "play",   "with", "her",  "his",  "mom",   "dog",
        "cat",    "tree",   "ball",  "sun",   "friend", "went", "saw",  "had",  "very",  "not",
        "is",     "on",     "for",   "but",   "so",     "then", "be",   "can",  "want",  "wanted",
        "look",   "looked", "park",  "fun",   "toy",    "red",  "blue", "bird", "model", "weight",
        "tensor", "layer",  "quant", "scope", "data",   "file", "size", "bit",
    };
    const std::string space = "\xe2\x96\x81";  // U+2581, SentencePiece's word boundary
    const std::string letters = "abcdefghijklmnopqrstuvwxyz";
    float score = -1.0f;
    std::set<std::string> seen(v.tokens.begin(), v.tokens.end());
    auto next = [&](std::string piece) {
        // llama.cpp refuses a vocabulary with duplicate pieces: skip repeats.
        if (v.tokens.size() >= size || !seen.insert(piece).second) return;
        add(std::move(piece), score, 1);
        score -= 1.0f;
    };
    next(space);
    for (char c : letters) next(std::string(1, c));
    for (char c : letters) next(space + c);
    for (char c : std::string(".,!?'\"-:;()0123456789")) next(std::string(1, c));
    for (const char* w : kWords) next(space + w);
    for (const char* w : kWords) next(w);
    // Fill the rest with letter pairs and triples (unique by construction).
    for (char a : letters) {
        for (char b : letters) next(std::string{a, b});
    }
    for (char a : letters) {
        for (char b : letters) next(space + a + b);
    }
    for (char a : letters) {
        for (char b : letters) {
            for (char c : letters) {
                if (v.tokens.size() >= size) return v;
                next(std::string{a, b, c});
            }
        }
    }
    for (size_t i = 0; v.tokens.size() < size; ++i) next("<extra_" + std::to_string(i) + ">");
    return v;
}

// ------------------------------------------------------------------------------------------
// Tensors
// ------------------------------------------------------------------------------------------
enum class Kind { Norm, Matrix, Router, Fixed };

struct TensorSpec {
    std::string name;
    std::vector<int64_t> shape;  // ggml order
    Kind kind;
    double scale;              // base standard deviation of the weights
    bool hiddenInput;          // input channels are the residual stream (shared outlier channels)
    int tieRows = 0;           // Router: the last tieRows rows repeat the first ones (routing ties)
    std::vector<float> fixed;  // Fixed: the values (F32)
};

std::vector<TensorSpec> tensorSpecs(const SynthSpec& s) {
    const int64_t embd = s.embd, ffn = s.ffn, vocab = s.vocab;
    const int64_t kv = int64_t(s.embd) / s.heads * s.headsKv;
    std::vector<TensorSpec> out;
    out.push_back({"token_embd.weight", {embd, vocab}, Kind::Matrix, 0.02, false});
    out.push_back({"output_norm.weight", {embd}, Kind::Norm, 0.0, false});
    out.push_back({"output.weight", {embd, vocab}, Kind::Matrix, 0.02, true});
    for (uint32_t l = 0; l < s.layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const double d = 1.0 / std::sqrt(double(embd));
        out.push_back({p + "attn_norm.weight", {embd}, Kind::Norm, 0.0, false});
        out.push_back({p + "attn_q.weight", {embd, embd}, Kind::Matrix, d, true});
        out.push_back({p + "attn_k.weight", {embd, kv}, Kind::Matrix, d, true});
        out.push_back({p + "attn_v.weight", {embd, kv}, Kind::Matrix, 0.6 * d, true});
        out.push_back({p + "attn_output.weight", {embd, embd}, Kind::Matrix, 0.6 * d, false});
        out.push_back({p + "ffn_norm.weight", {embd}, Kind::Norm, 0.0, false});
        out.push_back({p + "ffn_gate.weight", {embd, ffn}, Kind::Matrix, d, true});
        out.push_back({p + "ffn_up.weight", {embd, ffn}, Kind::Matrix, d, true});
        out.push_back({p + "ffn_down.weight",
                       {ffn, embd},
                       Kind::Matrix,
                       0.6 / std::sqrt(double(ffn)),
                       false});
    }
    return out;
}

// ------------------------------------------------------------------------------------------
// Modern architectures at a tiny shape: metadata keys and tensor names as llama.cpp loads them.
// ------------------------------------------------------------------------------------------
struct ArchModel {
    std::string ggufArch;
    SynthSpec spec;
    std::vector<std::pair<std::string, GgufValue>> kvs;  // beyond the common llama keys
    std::vector<TensorSpec> tensors;
    uint32_t ropeDim = 0;
    float ropeBase = 10000.0f;
    float eps = 1e-5f;
};

// llama 3.1's rope_freqs (factor 8, low/high frequency factors 1 / 4, original context 8192),
// as convert_hf_to_gguf computes them.
std::vector<float> llama3RopeFreqs(uint32_t hd, double base) {
    std::vector<float> f;
    const double factor = 8, lowF = 1, highF = 4, orig = 8192;
    const double lowWl = orig / lowF, highWl = orig / highF;
    for (uint32_t i = 0; i < hd; i += 2) {
        const double freq = 1.0 / std::pow(base, double(i) / double(hd));
        const double wl = 2 * std::numbers::pi / freq;
        if (wl < highWl) {
            f.push_back(1.0f);
        } else if (wl > lowWl) {
            f.push_back(float(factor));
        } else {
            const double smooth = (orig / wl - lowF) / (highF - lowF);
            f.push_back(float(1.0 / ((1 - smooth) / factor + smooth)));
        }
    }
    return f;
}

Result<ArchModel> archModel(const std::string& arch, bool a3b = false) {
    ArchModel m;
    m.ggufArch = arch == "llama3" || arch == "mixtral" ? "llama" : arch;
    SynthSpec& s = m.spec;
    // general.name stays "quantscope-synth-tiny": llama.cpp gives names containing "phi3"
    // special token attributes that need phi3's own vocabulary.
    s = {"tiny", 2048, 256, 768, 4, 4, 2, 4096};
    uint32_t hd = 64, nExpert = 0, nUsed = 0, ffnExp = 0;
    if (arch == "qwen3") hd = 96;
    if (arch == "qwen3moe") {
        s.layers = 3;
        nExpert = 8;
        nUsed = 2;
        ffnExp = 128;
        if (a3b) {  // Qwen3-30B-A3B (its config.json): 48 layers, 128 experts, top-8
            s = {"30b-a3b", 151936, 2048, 6144, 48, 32, 4, 40960};
            hd = 128;
            nExpert = 128;
            nUsed = 8;
            ffnExp = 768;
        }
    }
    if (arch == "mixtral") {
        s.layers = 3;
        s.ffn = 256;
        nExpert = 4;
        nUsed = 2;
        ffnExp = 256;
    }
    if (arch == "gemma3") s.layers = 6;
    if (arch == "phi3") s.context = 131072;
    const bool known = arch == "llama3" || arch == "qwen3" || arch == "qwen3moe" ||
                       arch == "mixtral" || arch == "gemma2" || arch == "gemma3" || arch == "phi3";
    if (!known) {
        return makeError(ErrorCode::BadUsage, "unknown synth architecture '" + arch +
                                                  "' (expected " + kSynthArchitectures + ")");
    }
    m.ropeDim = hd;
    const std::string a = m.ggufArch + ".";
    auto kv = [&](const std::string& k, GgufValue v) { m.kvs.push_back({a + k, std::move(v)}); };
    const bool qwen = arch == "qwen3" || arch == "qwen3moe";
    const bool gemma = arch == "gemma2" || arch == "gemma3";
    if (qwen || gemma) {
        kv("attention.key_length", GgufValue::u32(hd));
        kv("attention.value_length", GgufValue::u32(hd));
    }
    if (nExpert) {
        kv("expert_count", GgufValue::u32(nExpert));
        kv("expert_used_count", GgufValue::u32(nUsed));
        if (arch == "qwen3moe") kv("expert_feed_forward_length", GgufValue::u32(ffnExp));
    }
    if (qwen || arch == "mixtral") m.ropeBase = 1e6f;
    if (arch == "llama3") m.ropeBase = 500000.0f;
    if (qwen || gemma) m.eps = 1e-6f;
    if (gemma) kv("attention.sliding_window", GgufValue::u32(32));
    if (arch == "gemma2") {
        kv("attn_logit_softcapping", GgufValue::f32(20.0f));
        kv("final_logit_softcapping", GgufValue::f32(10.0f));
    }
    if (arch == "gemma3") {
        m.ropeBase = 1e6f;
        kv("rope.freq_base_swa", GgufValue::f32(10000.0f));
    }
    if (arch == "phi3") {
        kv("rope.scaling.attn_factor", GgufValue::f32(1.1902381f));
        kv("rope.scaling.original_context_length", GgufValue::u32(4096));
    }

    const int64_t E = s.embd, F = s.ffn, V = s.vocab, Q = int64_t(s.heads) * hd,
                  KV = int64_t(s.headsKv) * hd;
    auto& out = m.tensors;
    const double d = 1.0 / std::sqrt(double(E));
    // Tied models (qwen3, gemma) read their logits through token_embd: give it logit scale.
    const bool tied = arch == "qwen3" || gemma;
    out.push_back(
        {"token_embd.weight", {E, V}, Kind::Matrix, tied ? (gemma ? 0.04 : 0.05) : 0.02, false});
    out.push_back({"output_norm.weight", {E}, Kind::Norm, 0.0, false});
    if (!tied) {
        // Larger than the llama presets' 0.02: logits of a few units, so that predictions are
        // far from uniform and the comparisons with llama.cpp see every rounding.
        out.push_back({"output.weight", {E, V}, Kind::Matrix, 0.05, true});
    }
    if (arch == "llama3") {
        out.push_back({"rope_freqs.weight",
                       {hd / 2},
                       Kind::Fixed,
                       0,
                       false,
                       0,
                       llama3RopeFreqs(hd, m.ropeBase)});
    }
    if (arch == "phi3") {
        std::vector<float> shortF, longF;
        for (uint32_t i = 0; i < hd / 2; ++i) {
            shortF.push_back(1.0f + 0.05f * float(i));
            longF.push_back(1.0f + 1.5f * float(i));
        }
        out.push_back({"rope_factors_long.weight", {hd / 2}, Kind::Fixed, 0, false, 0, longF});
        out.push_back({"rope_factors_short.weight", {hd / 2}, Kind::Fixed, 0, false, 0, shortF});
    }
    for (uint32_t l = 0; l < s.layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        out.push_back({p + "attn_norm.weight", {E}, Kind::Norm, 0.0, false});
        if (arch == "phi3") {
            out.push_back({p + "attn_qkv.weight", {E, Q + 2 * KV}, Kind::Matrix, d, true});
        } else {
            out.push_back({p + "attn_q.weight", {E, Q}, Kind::Matrix, d, true});
            out.push_back({p + "attn_k.weight", {E, KV}, Kind::Matrix, d, true});
            out.push_back({p + "attn_v.weight", {E, KV}, Kind::Matrix, 0.6 * d, true});
        }
        if (qwen || arch == "gemma3") {
            out.push_back({p + "attn_q_norm.weight", {hd}, Kind::Norm, 0.0, false});
            out.push_back({p + "attn_k_norm.weight", {hd}, Kind::Norm, 0.0, false});
        }
        out.push_back(
            {p + "attn_output.weight", {Q, E}, Kind::Matrix, 0.6 / std::sqrt(double(Q)), false});
        if (gemma) out.push_back({p + "post_attention_norm.weight", {E}, Kind::Norm, 0.0, false});
        out.push_back({p + "ffn_norm.weight", {E}, Kind::Norm, 0.0, false});
        if (nExpert) {
            const int64_t Fe = ffnExp, ne = nExpert;
            out.push_back({p + "ffn_gate_inp.weight",
                           {E, ne},
                           Kind::Router,
                           2 * d,
                           true,
                           arch == "qwen3moe" ? 2 : 1});
            out.push_back({p + "ffn_gate_exps.weight", {E, Fe, ne}, Kind::Matrix, d, true});
            out.push_back({p + "ffn_up_exps.weight", {E, Fe, ne}, Kind::Matrix, d, true});
            out.push_back({p + "ffn_down_exps.weight",
                           {Fe, E, ne},
                           Kind::Matrix,
                           0.6 / std::sqrt(double(Fe)),
                           false});
        } else if (arch == "phi3") {
            out.push_back({p + "ffn_up.weight", {E, 2 * F}, Kind::Matrix, d, true});
            out.push_back(
                {p + "ffn_down.weight", {F, E}, Kind::Matrix, 0.6 / std::sqrt(double(F)), false});
        } else {
            out.push_back({p + "ffn_gate.weight", {E, F}, Kind::Matrix, d, true});
            out.push_back({p + "ffn_up.weight", {E, F}, Kind::Matrix, d, true});
            out.push_back(
                {p + "ffn_down.weight", {F, E}, Kind::Matrix, 0.6 / std::sqrt(double(F)), false});
        }
        if (gemma) out.push_back({p + "post_ffw_norm.weight", {E}, Kind::Norm, 0.0, false});
    }
    return m;
}

}  // namespace

SynthSpec specOf(SynthPreset preset) {
    switch (preset) {
    case SynthPreset::Tiny: return {"tiny", 2048, 256, 768, 4, 4, 2, 2048};
    case SynthPreset::Small: return {"small", 16384, 768, 2048, 12, 12, 4, 4096};
    case SynthPreset::Medium: return {"medium", 32000, 2048, 5632, 22, 32, 4, 4096};
    // Llama 3.1 405B (its config.json).
    case SynthPreset::Llama405B: return {"405b", 128256, 16384, 53248, 126, 128, 8, 131072};
    case SynthPreset::Qwen3Moe30B: return {"30b-a3b", 151936, 2048, 6144, 48, 32, 4, 40960};
    }
    return {};
}

Result<SynthPreset> presetFromName(const std::string& name) {
    if (name == "tiny") return SynthPreset::Tiny;
    if (name == "small") return SynthPreset::Small;
    if (name == "medium") return SynthPreset::Medium;
    if (name == "llama-405b") return SynthPreset::Llama405B;
    if (name == "qwen3moe-30b-a3b") return SynthPreset::Qwen3Moe30B;
    return makeError(ErrorCode::BadUsage,
                     "unknown synth preset '" + name +
                         "' (expected tiny, small, medium, llama-405b or qwen3moe-30b-a3b)");
}

bool isSparseOnly(SynthPreset preset) {
    return preset == SynthPreset::Llama405B || preset == SynthPreset::Qwen3Moe30B;
}

Status writeSynthModel(const SynthOptions& options, const std::string& path) {
    const bool moe30b = options.preset == SynthPreset::Qwen3Moe30B;
    const bool modern = options.arch != "llama" || moe30b;
    ArchModel am;
    if (modern) {
        auto r = archModel(moe30b ? std::string("qwen3moe") : options.arch, moe30b);
        if (!r) return r.error();
        am = std::move(*r);
    } else {
        am.ggufArch = "llama";
        am.spec = specOf(options.preset);
        am.tensors = tensorSpecs(am.spec);
        am.ropeDim = am.spec.embd / am.spec.heads;
    }
    const SynthSpec& s = am.spec;
    io::GgufWriter w;
    const std::string a = am.ggufArch + ".";
    QS_TRY(w.setKv("general.architecture", GgufValue::string(am.ggufArch)));
    QS_TRY(w.setKv("general.name", GgufValue::string("quantscope-synth-" + s.name)));
    QS_TRY(
        w.setKv("general.description",
                GgufValue::string("Synthetic " + (moe30b ? std::string("qwen3moe") : options.arch) +
                                  "-architecture model written by quantscope-cli "
                                  "synth (seed " +
                                  std::to_string(options.seed) + ")")));
    QS_TRY(w.setKv("general.file_type", GgufValue::u32(1)));  // LLAMA_FTYPE_MOSTLY_F16
    QS_TRY(w.setKv(a + "vocab_size", GgufValue::u32(s.vocab)));
    QS_TRY(w.setKv(a + "context_length", GgufValue::u32(s.context)));
    QS_TRY(w.setKv(a + "embedding_length", GgufValue::u32(s.embd)));
    QS_TRY(w.setKv(a + "block_count", GgufValue::u32(s.layers)));
    QS_TRY(w.setKv(a + "feed_forward_length", GgufValue::u32(s.ffn)));
    QS_TRY(w.setKv(a + "rope.dimension_count", GgufValue::u32(am.ropeDim)));
    QS_TRY(w.setKv(a + "attention.head_count", GgufValue::u32(s.heads)));
    QS_TRY(w.setKv(a + "attention.head_count_kv", GgufValue::u32(s.headsKv)));
    QS_TRY(w.setKv(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(am.eps)));
    QS_TRY(w.setKv(a + "rope.freq_base", GgufValue::f32(am.ropeBase)));
    for (const auto& [k, v] : am.kvs) QS_TRY(w.setKv(k, v));

    Vocab vocab = makeVocab(s.vocab);
    QS_TRY(w.setKv("tokenizer.ggml.model", GgufValue::string("llama")));
    QS_TRY(w.setKv("tokenizer.ggml.tokens", GgufValue::stringArray(vocab.tokens)));
    QS_TRY(w.setKv("tokenizer.ggml.scores", GgufValue::floatArray(vocab.scores)));
    QS_TRY(w.setKv("tokenizer.ggml.token_type", GgufValue::intArray(GgufType::Int32, vocab.types)));
    QS_TRY(w.setKv("tokenizer.ggml.bos_token_id", GgufValue::u32(1)));
    QS_TRY(w.setKv("tokenizer.ggml.eos_token_id", GgufValue::u32(2)));
    QS_TRY(w.setKv("tokenizer.ggml.unknown_token_id", GgufValue::u32(0)));
    QS_TRY(w.setKv("tokenizer.ggml.add_bos_token", GgufValue::boolean(true)));
    QS_TRY(w.setKv("tokenizer.ggml.add_eos_token", GgufValue::boolean(false)));

    const std::vector<TensorSpec>& specs = am.tensors;
    for (const auto& t : specs) {
        QS_TRY(w.addTensor(
            t.name, t.shape,
            t.kind == Kind::Matrix ? formats::TensorType::F16 : formats::TensorType::F32));
    }

    // Outlier input channels of the residual stream, shared by every tensor that reads it (as
    // in real checkpoints, where a handful of hidden dimensions carry massive activations and
    // the matching weight columns are large).
    std::vector<float> channelGain(s.embd, 1.0f);
    {
        Rng rng(streamSeed(options.seed, 0xffff, 0));
        const uint32_t nOutliers = std::max<uint32_t>(4, s.embd / 256);
        for (uint32_t i = 0; i < nOutliers; ++i) {
            channelGain[size_t(rng.uniform() * s.embd) % s.embd] = 8.0f;
        }
    }

    QS_TRY(w.open(path));
    if (options.zeroData || isSparseOnly(options.preset)) {
        QS_TRY(w.zeroFillRemaining());
        return w.commit();
    }
    std::vector<uint8_t> buf;
    for (size_t ti = 0; ti < specs.size(); ++ti) {
        const auto& t = specs[ti];
        const int64_t cols = t.shape[0];
        int64_t rows = 1;
        for (size_t d = 1; d < t.shape.size(); ++d) rows *= t.shape[d];
        if (t.kind == Kind::Fixed) {
            buf.resize(t.fixed.size() * 4);
            std::memcpy(buf.data(), t.fixed.data(), buf.size());
        } else if (t.kind == Kind::Router) {
            // F32 router rows, heavy-tailed; duplicated rows give exactly equal expert scores.
            buf.resize(size_t(cols * rows) * 4);
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t src = r >= rows - t.tieRows ? r - (rows - t.tieRows) : r;
                Rng rng(streamSeed(options.seed, ti, uint64_t(src)));
                for (int64_t c = 0; c < cols; ++c) {
                    float x = float(t.scale * rng.student4());
                    if (t.hiddenInput) x *= channelGain[size_t(c)];
                    std::memcpy(buf.data() + size_t(r * cols + c) * 4, &x, 4);
                }
            }
        } else if (t.kind == Kind::Norm) {
            // RMSNorm gains: positive, mostly near a per-tensor level, a few large channels.
            buf.resize(size_t(cols) * 4);
            Rng rng(streamSeed(options.seed, ti, 0));
            const double level = 0.3 + 0.7 * rng.uniform();
            for (int64_t c = 0; c < cols; ++c) {
                float v = float(level * std::exp(0.25 * rng.normal()));
                if (channelGain[size_t(c) % channelGain.size()] > 1.0f) v *= 0.25f;
                std::memcpy(buf.data() + size_t(c) * 4, &v, 4);
            }
        } else {
            buf.resize(size_t(cols * rows) * 2);
            auto* out = reinterpret_cast<uint16_t*>(buf.data());
            parallel::parallelFor(options.threads, rows, 64, [&](int64_t r0, int64_t r1) {
                for (int64_t r = r0; r < r1; ++r) {
                    Rng rng(streamSeed(options.seed, ti, uint64_t(r)));
                    // Per-row scale spread (log-normal), heavy-tailed entries (Student-t).
                    const double rowScale = t.scale * std::exp(0.3 * rng.normal());
                    for (int64_t c = 0; c < cols; ++c) {
                        double x = rowScale * rng.student4();
                        if (t.hiddenInput) x *= channelGain[size_t(c)];
                        out[r * cols + c] = formats::floatToHalf(float(x));
                    }
                }
            });
        }
        QS_TRY(w.writeTensorData(buf));
    }
    return w.commit();
}

}  // namespace qs::synth
