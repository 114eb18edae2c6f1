// Where the best quantizer misses issue 23's 0.97, the format itself is the limit: a brute force
// over every fp16 super-scale (both signs) with every sub-block scale and every level exact finds
// no block encoding with a lower error than the search's, to within 0.1 %, and the optimum's
// RMSE over ggml's is itself above 0.97. Q3_K with an imatrix (the golden tensor, ggml's
// weighting imatrix x sqrt(sigma2 + x^2): ggml's own Q3_K already searches it) and IQ4_NL plain
// on synth tiny (one fp16 scale over a 16-level table: the error depends on d alone).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <span>
#include <vector>

#include "formats/encode_best.h"
#include "formats/encoders.h"
#include "formats/half.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "synth/synth.h"
#include "test_util.h"

namespace {

using qs::formats::Quantizer;
using qs::formats::TensorType;

std::vector<float> readFloats(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    std::vector<float> v(size_t(f.tellg()) / sizeof(float));
    f.seekg(0);
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
    return v;
}

/// Per-block weighted squared errors of `q`'s encoding of rows of `cols`.
std::vector<double> blockErrors(Quantizer q, TensorType t, const std::vector<float>& x,
                                int64_t cols, const float* imp, const std::vector<float>& w) {
    std::vector<uint8_t> bytes(*qs::formats::byteSize(t, uint64_t(x.size())));
    EXPECT_TRUE(qs::formats::encodeRowsWith(q, t, x, bytes, cols, imp, 1, "w").ok());
    std::vector<float> y(x.size());
    qs::formats::traits(t).decode(bytes.data(), y.data(), int64_t(y.size()));
    const size_t block = size_t(qs::formats::traits(t).blockSize);
    std::vector<double> e(x.size() / block, 0.0);
    for (size_t i = 0; i < x.size(); ++i) {
        const double r = double(y[i]) - double(x[i]);
        e[i / block] += double(w[i]) * r * r;
    }
    return e;
}

/// Every fp16 value of either sign whose magnitude lies in [lo, hi].
template <typename Fn>
void forEachHalf(float lo, float hi, Fn fn) {
    const uint16_t h0 = qs::formats::floatToHalf(lo), h1 = qs::formats::floatToHalf(hi);
    for (float sign : {1.f, -1.f})
        for (uint32_t h = h0; h <= h1; ++h) fn(sign * qs::formats::halfToFloat(uint16_t(h)));
}

/// The least error of one Q3_K block: d over fp16, each sub-block's scale in -32..31, levels
/// -4..3 nearest (the decoder's float arithmetic). Stops early past `cap`.
double q3kOptimum(const float* x, const float* w, double cap) {
    float amax = 0;
    for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[i]));
    double opt = cap;
    forEachHalf(amax / 128 * 0.6f, amax / 128 * 2.0f, [&](float d) {
        double e = 0;
        for (int j = 0; j < 16 && e < opt; ++j) {
            double bj = INFINITY;
            for (int sc = -32; sc <= 31; ++sc) {
                const float dl = d * float(sc);
                double ej = 0;
                for (int i = j * 16; i < (j + 1) * 16 && ej < bj; ++i) {
                    // The rounded level and its neighbours (the nearest in float arithmetic).
                    const int q0 = dl == 0.f ? 0 : std::clamp(int(std::lrint(x[i] / dl)), -4, 3);
                    double r = INFINITY;
                    for (int q = std::max(-4, q0 - 1); q <= std::min(3, q0 + 1); ++q) {
                        const double rq = double(dl * float(q)) - double(x[i]);
                        if (std::fabs(rq) < std::fabs(r)) r = rq;
                    }
                    ej += double(w[i]) * r * r;
                }
                bj = std::min(bj, ej);
            }
            e += bj;
        }
        opt = std::min(opt, e);
    });
    return opt;
}

/// The least error of one IQ4_NL block (plain): d over fp16, every level nearest.
double iq4nlOptimum(const float* x, double cap) {
    static constexpr int8_t kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                           1,    13,   25,  38,  53,  69,  89,  113};
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    double opt = cap;
    if (amax == 0) return opt;
    forEachHalf(amax / 254, amax, [&](float d) {
        double e = 0;
        for (int i = 0; i < 32 && e < opt; ++i) {
            float r = INFINITY;
            for (int8_t l : kLevels) r = std::min(r, std::fabs(d * float(l) - x[i]));
            e += double(r) * double(r);
        }
        opt = std::min(opt, e);
    });
    return opt;
}

TEST(EncodeBestOptimum, Q3KWithImatrixIsAtTheFormatsOptimum) {
    // The first 4 blocks of the golden tensor's first row (a brute force of 16 x 64 scales per
    // fp16 d is slow: about a second for 4 blocks).
    const auto all = readFloats(qs::test::dataPath("golden/weights.f32"));
    const auto imatrix = readFloats(qs::test::dataPath("golden/imatrix.f32"));
    ASSERT_GE(all.size(), 4096u);
    ASSERT_GE(imatrix.size(), 4096u);
    const std::vector<float> x(all.begin(), all.begin() + 4096);
    std::vector<float> w(x.size());
    qs::formats::bestRowWeights(x, imatrix.data(), w);
    const auto eb = blockErrors(Quantizer::Best, TensorType::Q3_K, x, 4096, imatrix.data(), w);
    const auto eg = blockErrors(Quantizer::Ggml, TensorType::Q3_K, x, 4096, imatrix.data(), w);
    double best = 0, ggml = 0, opt = 0;
    for (size_t b = 0; b < 4; ++b) {
        best += eb[b];
        ggml += eg[b];
        opt += q3kOptimum(x.data() + b * 256, w.data() + b * 256, std::min(eb[b], eg[b]));
    }
    std::printf("Q3_K imatrix: best/ggml RMSE %.4f, format optimum/ggml %.4f\n",
                std::sqrt(best / ggml), std::sqrt(opt / ggml));
    EXPECT_LE(std::sqrt(best / ggml), std::sqrt(opt / ggml) + 1e-3);
    EXPECT_GT(std::sqrt(opt / ggml), 0.97);  // why issue 23's 0.97 is not met here
}

TEST(EncodeBestOptimum, Iq4nlPlainOnSynthTinyIsAtTheFormatsOptimum) {
    // The rows of EncodeBestQuality.SynthTinyEveryTensorAtMost097: every 2-D tensor's first 4.
    qs::test::TempDir dir;
    const std::string path = dir.file("tiny.gguf");
    ASSERT_TRUE(qs::synth::writeSynthModel({qs::synth::SynthPreset::Tiny, 1, 2}, path).ok());
    auto m = qs::model::openModel(path);
    ASSERT_TRUE(m.ok());
    double best = 0, ggml = 0, opt = 0;
    for (const auto& t : m->tensors()) {
        if (t.shape.size() != 2 || t.rowLength() % 32) continue;
        if (t.type != TensorType::F32 && t.type != TensorType::F16) continue;
        std::vector<float> all(size_t(t.nElements));
        qs::formats::traits(t.type).decode(m->tensorData(t).data(), all.data(), t.nElements);
        const int64_t rows = std::min<int64_t>(4, t.nElements / t.rowLength());
        const std::vector<float> x(all.begin(), all.begin() + rows * t.rowLength());
        const std::vector<float> ones(x.size(), 1.f);
        const auto eb =
            blockErrors(Quantizer::Best, TensorType::IQ4_NL, x, t.rowLength(), nullptr, ones);
        const auto eg =
            blockErrors(Quantizer::Ggml, TensorType::IQ4_NL, x, t.rowLength(), nullptr, ones);
        for (size_t b = 0; b < eb.size(); ++b) {
            best += eb[b];
            ggml += eg[b];
            opt += iq4nlOptimum(x.data() + b * 32, std::min(eb[b], eg[b]));
        }
    }
    ASSERT_GT(ggml, 0.0);
    std::printf("IQ4_NL plain, synth tiny: best/ggml RMSE %.4f, format optimum/ggml %.4f\n",
                std::sqrt(best / ggml), std::sqrt(opt / ggml));
    EXPECT_LE(std::sqrt(best / ggml), std::sqrt(opt / ggml) + 1e-3);
    EXPECT_GT(std::sqrt(opt / ggml), 0.97);
}

}  // namespace
