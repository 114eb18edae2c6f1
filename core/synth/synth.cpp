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

using io::GgufValue;
using io::GgufType;

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
        "the", "a", "and", "to", "was", "he", "she", "it", "of", "in", "they", "you", "said",
        "day", "one", "time", "upon", "once", "there", "little", "girl", "boy", "big", "happy",
        "play", "with", "her", "his", "mom", "dog", "cat", "tree", "ball", "sun", "friend",
        "went", "saw", "had", "very", "not", "is", "on", "for", "but", "so", "then", "be",
        "can", "want", "wanted", "look", "looked", "park", "fun", "toy", "red", "blue", "bird",
        "model", "weight", "tensor", "layer", "quant", "scope", "data", "file", "size", "bit",
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
enum class Kind { Norm, Matrix };

struct TensorSpec {
    std::string name;
    std::vector<int64_t> shape;  // ggml order
    Kind kind;
    double scale;       // base standard deviation of the weights
    bool hiddenInput;   // input channels are the residual stream (shared outlier channels)
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
        out.push_back({p + "ffn_down.weight", {ffn, embd}, Kind::Matrix,
                       0.6 / std::sqrt(double(ffn)), false});
    }
    return out;
}

} // namespace

SynthSpec specOf(SynthPreset preset) {
    switch (preset) {
    case SynthPreset::Tiny: return {"tiny", 2048, 256, 768, 4, 4, 2, 2048};
    case SynthPreset::Small: return {"small", 16384, 768, 2048, 12, 12, 4, 4096};
    case SynthPreset::Medium: return {"medium", 32000, 2048, 5632, 22, 32, 4, 4096};
    }
    return {};
}

Result<SynthPreset> presetFromName(const std::string& name) {
    if (name == "tiny") return SynthPreset::Tiny;
    if (name == "small") return SynthPreset::Small;
    if (name == "medium") return SynthPreset::Medium;
    return makeError(ErrorCode::BadUsage,
                     "unknown synth preset '" + name + "' (expected tiny, small or medium)");
}

Status writeSynthModel(const SynthOptions& options, const std::string& path) {
    const SynthSpec s = specOf(options.preset);
    io::GgufWriter w;
    const std::string a = "llama.";
    QS_TRY(w.setKv("general.architecture", GgufValue::string("llama")));
    QS_TRY(w.setKv("general.name", GgufValue::string("quantscope-synth-" + s.name)));
    QS_TRY(w.setKv("general.description",
                   GgufValue::string("Synthetic llama-architecture model written by quantscope-cli "
                                     "synth (seed " + std::to_string(options.seed) + ")")));
    QS_TRY(w.setKv("general.file_type", GgufValue::u32(1)));  // LLAMA_FTYPE_MOSTLY_F16
    QS_TRY(w.setKv(a + "vocab_size", GgufValue::u32(s.vocab)));
    QS_TRY(w.setKv(a + "context_length", GgufValue::u32(s.context)));
    QS_TRY(w.setKv(a + "embedding_length", GgufValue::u32(s.embd)));
    QS_TRY(w.setKv(a + "block_count", GgufValue::u32(s.layers)));
    QS_TRY(w.setKv(a + "feed_forward_length", GgufValue::u32(s.ffn)));
    QS_TRY(w.setKv(a + "rope.dimension_count", GgufValue::u32(s.embd / s.heads)));
    QS_TRY(w.setKv(a + "attention.head_count", GgufValue::u32(s.heads)));
    QS_TRY(w.setKv(a + "attention.head_count_kv", GgufValue::u32(s.headsKv)));
    QS_TRY(w.setKv(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f)));
    QS_TRY(w.setKv(a + "rope.freq_base", GgufValue::f32(10000.0f)));

    Vocab vocab = makeVocab(s.vocab);
    QS_TRY(w.setKv("tokenizer.ggml.model", GgufValue::string("llama")));
    QS_TRY(w.setKv("tokenizer.ggml.tokens", GgufValue::stringArray(vocab.tokens)));
    QS_TRY(w.setKv("tokenizer.ggml.scores", GgufValue::floatArray(vocab.scores)));
    QS_TRY(w.setKv("tokenizer.ggml.token_type",
                   GgufValue::intArray(GgufType::Int32, vocab.types)));
    QS_TRY(w.setKv("tokenizer.ggml.bos_token_id", GgufValue::u32(1)));
    QS_TRY(w.setKv("tokenizer.ggml.eos_token_id", GgufValue::u32(2)));
    QS_TRY(w.setKv("tokenizer.ggml.unknown_token_id", GgufValue::u32(0)));
    QS_TRY(w.setKv("tokenizer.ggml.add_bos_token", GgufValue::boolean(true)));
    QS_TRY(w.setKv("tokenizer.ggml.add_eos_token", GgufValue::boolean(false)));

    const auto specs = tensorSpecs(s);
    for (const auto& t : specs) {
        QS_TRY(w.addTensor(t.name, t.shape,
                           t.kind == Kind::Norm ? formats::TensorType::F32
                                                : formats::TensorType::F16));
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
    if (options.zeroData) {
        QS_TRY(w.zeroFillRemaining());
        return w.commit();
    }
    std::vector<uint8_t> buf;
    for (size_t ti = 0; ti < specs.size(); ++ti) {
        const auto& t = specs[ti];
        const int64_t cols = t.shape[0];
        const int64_t rows = t.shape.size() > 1 ? t.shape[1] : 1;
        if (t.kind == Kind::Norm) {
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

} // namespace qs::synth
