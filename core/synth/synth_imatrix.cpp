#include "synth/synth_imatrix.h"

#include <cmath>
#include <random>
#include <string>

#include "formats/decode.h"

namespace qs::synth {

namespace {

std::vector<float> logNormal(std::mt19937_64& rng, size_t n, double sigma) {
    std::normal_distribution<double> z(0.0, 1.0);
    std::vector<float> v(n);
    double sum = 0;
    for (auto& x : v) {
        x = float(std::exp(sigma * z(rng)));
        sum += x;
    }
    for (auto& x : v) x = float(x * double(n) / sum);  // mean 1
    return v;
}

std::string blockPrefix(const std::string& name) {
    // "blk.3.attn_q.weight" -> "blk.3."
    const auto dot = name.find('.', 4);
    return dot == std::string::npos ? std::string() : name.substr(0, dot + 1);
}

}  // namespace

Result<quant::Imatrix> synthImatrix(const model::Model& m, uint64_t seed) {
    quant::Imatrix im;
    im.datasets = {"quantscope-synthetic"};
    im.chunkCount = 100;
    im.chunkSize = 512;
    im.path = "synthetic-imatrix";
    const uint32_t embd = m.hparams().embeddingLength;

    // The residual-stream profile, shared by every layer (massive activations stay put).
    std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + 1);
    auto normGain = [&](const std::string& normName, int64_t n) -> Result<std::vector<float>> {
        const auto idx = m.indexOf(normName);
        if (idx < 0) return std::vector<float>(size_t(n), 1.0f);
        const auto& t = m.tensors()[size_t(idx)];
        if (t.nElements != n) return std::vector<float>(size_t(n), 1.0f);
        std::vector<uint8_t> scratch;
        auto bytes = m.readTensor(t, scratch);
        if (!bytes) return bytes.error();
        return formats::decodeToFloat(t.type, *bytes, t.nElements, 1, 1, t.name);
    };
    std::vector<float> residual;
    for (const auto& t : m.tensors()) {
        const int64_t cols = t.rowLength();
        if (t.shape.size() < 2 || !t.name.ends_with(".weight")) continue;
        const std::string& n = t.name;
        if (n == "token_embd.weight" || n.find("norm") != std::string::npos) continue;
        std::mt19937_64 trng(seed ^ std::hash<std::string>{}(n));
        std::vector<float> v;
        auto fromNorm = [&](const std::string& normName) -> Status {
            if (residual.size() != size_t(cols)) {
                residual = logNormal(rng, size_t(cols), 0.6);
                std::uniform_int_distribution<int64_t> pick(0, cols - 1);
                for (int64_t k = 0; k < std::max<int64_t>(1, cols / 250); ++k) {
                    residual[size_t(pick(rng))] *= 30.0f;
                }
            }
            auto g = normGain(normName, cols);
            if (!g) return g.error();
            v.resize(size_t(cols));
            for (size_t j = 0; j < v.size(); ++j) v[j] = (*g)[j] * (*g)[j] * residual[j];
            return {};
        };
        const std::string pre = blockPrefix(n);
        if (n == "output.weight") {
            QS_TRY(fromNorm("output_norm.weight"));
        } else if (n.find("attn_q.") != std::string::npos ||
                   n.find("attn_k.") != std::string::npos ||
                   n.find("attn_v.") != std::string::npos) {
            QS_TRY(fromNorm(pre + "attn_norm.weight"));
        } else if (n.find("ffn_gate") != std::string::npos ||
                   n.find("ffn_up") != std::string::npos) {
            QS_TRY(fromNorm(pre + "ffn_norm.weight"));
        } else if (n.find("attn_output.") != std::string::npos) {
            const uint32_t heads = std::max(1u, m.hparams().headCount);
            const int64_t headDim = embd && cols % heads == 0 ? cols / heads : cols;
            auto perHead = logNormal(trng, size_t(cols / headDim), 0.5);
            v = logNormal(trng, size_t(cols), 0.3);
            for (size_t j = 0; j < v.size(); ++j) v[j] *= perHead[j / size_t(headDim)];
        } else if (n.find("ffn_down") != std::string::npos) {
            v = logNormal(trng, size_t(cols), 1.0);
        } else {
            v = logNormal(trng, size_t(cols), 0.5);
        }
        // 3-D expert tensors: one vector per expert.
        const int64_t slices = t.shape.size() > 2 ? t.shape[2] : 1;
        std::vector<float> all;
        for (int64_t e = 0; e < slices; ++e) all.insert(all.end(), v.begin(), v.end());
        im.entries[n] = std::move(all);
    }
    return im;
}

}  // namespace qs::synth
