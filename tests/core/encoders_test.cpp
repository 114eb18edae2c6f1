// Encoders against ggml: golden tensors (tests/data/golden, made by llama.cpp's ggml) with and
// without an imatrix, llama.cpp's reference quants of a real model, determinism across thread
// counts and between the fast and the reference path, and clean errors on bad input.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "formats/encoders.h"
#include "formats/type_table.h"
#include "model/model.h"
#include "test_util.h"

namespace {

using qs::formats::TensorType;

constexpr int64_t kRows = 16;
constexpr int64_t kCols = 4096;

std::vector<float> readFloats(const std::string& path) {
    const std::vector<uint8_t> bytes = qs::test::readFile(path);
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

std::string goldenDir() {
    return qs::test::dataPath("golden");
}

/// One row of results.tsv: ggml's RMSE and importance-weighted RMSE for a type.
struct GgmlResult {
    double rmse = 0;
    double weightedRmse = 0;
};

std::map<std::string, GgmlResult> readResults(const std::string& path) {
    std::map<std::string, GgmlResult> out;
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);  // header: type id bytes bpw rmse weighted_rmse
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        std::string type, id, bytes, bpw;
        GgmlResult r;
        if (ss >> type >> id >> bytes >> bpw >> r.rmse >> r.weightedRmse) out[type] = r;
    }
    return out;
}

/// The types we encode and ggml's lower-case spelling used for the golden file names.
struct EncType {
    TensorType type;
    const char* golden;
    bool needsImatrix = false;  ///< ggml refuses the type without importance
};

const std::vector<EncType>& encTypes() {
    static const std::vector<EncType> types = {
        {TensorType::F16, "f16"},
        {TensorType::BF16, "bf16"},
        {TensorType::Q8_0, "q8_0"},
        {TensorType::Q4_0, "q4_0"},
        {TensorType::Q4_1, "q4_1"},
        {TensorType::Q5_0, "q5_0"},
        {TensorType::Q5_1, "q5_1"},
        {TensorType::Q2_K, "q2_K"},
        {TensorType::Q3_K, "q3_K"},
        {TensorType::Q4_K, "q4_K"},
        {TensorType::Q5_K, "q5_K"},
        {TensorType::Q6_K, "q6_K"},
        {TensorType::IQ4_NL, "iq4_nl"},
        {TensorType::IQ4_XS, "iq4_xs"},
        {TensorType::IQ2_XXS, "iq2_xxs", true},
        {TensorType::IQ2_XS, "iq2_xs", true},
        {TensorType::IQ2_S, "iq2_s"},
        {TensorType::IQ3_XXS, "iq3_xxs"},
        {TensorType::IQ3_S, "iq3_s"},
        {TensorType::IQ1_S, "iq1_s", true},
        {TensorType::IQ1_M, "iq1_m"},
        {TensorType::TQ1_0, "tq1_0"},
        {TensorType::TQ2_0, "tq2_0"},
        {TensorType::MXFP4, "mxfp4"},
    };
    return types;
}

/// Types that exist in the ggml of node-llama-cpp 3.22.1 but have no golden files in shared/:
/// their ggml output is checked in under golden/extra (scripts/gen_golden_extra.py) and they are
/// also checked against ggml_quantize_chunk at run time (EncodeVsGgml).
const std::vector<EncType>& newTypes() {
    static const std::vector<EncType> types = {
        {TensorType::NVFP4, "nvfp4"},
        {TensorType::Q1_0, "q1_0"},
        {TensorType::Q2_0, "q2_0"},
    };
    return types;
}

uint64_t bytesFor(TensorType t, int64_t n) {
    return *qs::formats::byteSize(t, uint64_t(n));
}

std::vector<uint8_t> encode(TensorType t, const std::vector<float>& x, int64_t rowLength,
                            const float* importance, int threads = 1, bool reference = false) {
    std::vector<uint8_t> out(bytesFor(t, int64_t(x.size())));
    const qs::Status st =
        reference ? qs::formats::encodeRowsReference(t, x, out, rowLength, importance, threads)
                  : qs::formats::encodeRows(t, x, out, rowLength, importance, threads);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().what());
    return out;
}

std::vector<float> decode(TensorType t, const std::vector<uint8_t>& q, int64_t n) {
    std::vector<float> out(size_t(n), 0.f);
    const auto& tr = qs::formats::traits(t);
    if (tr.decode) tr.decode(q.data(), out.data(), n);
    return out;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    return std::sqrt(s / double(a.size()));
}

/// sqrt(sum_ij w_j e_ij^2 / (rows * sum_j w_j)), as in the golden README.
double weightedRmse(const std::vector<float>& a, const std::vector<float>& b,
                    const std::vector<float>& w, int64_t cols) {
    double s = 0, sw = 0;
    for (int64_t j = 0; j < cols; ++j) sw += w[size_t(j)];
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = double(a[i]) - b[i];
        s += w[i % size_t(cols)] * e * e;
    }
    const double rows = double(a.size()) / double(cols);
    return std::sqrt(s / (rows * sw));
}

/// Empty if equal, else where the first difference lies (gtest's vector dump is unreadable).
std::string firstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    if (a.size() != b.size())
        return "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) return "first difference at byte " + std::to_string(i);
    }
    return {};
}

/// results.tsv prints 7 significant digits: allow that rounding, nothing more.
constexpr double kTableSlack = 1.0 + 2e-6;

class EncodeGolden : public ::testing::Test {
protected:
    void SetUp() override {
        weights = readFloats(goldenDir() + "/weights.f32");
        imatrix = readFloats(goldenDir() + "/imatrix.f32");
        ASSERT_EQ(weights.size(), size_t(kRows * kCols));
        ASSERT_EQ(imatrix.size(), size_t(kCols));
        plain = readResults(goldenDir() + "/plain/results.tsv");
        imat = readResults(goldenDir() + "/imat/results.tsv");
        ASSERT_FALSE(plain.empty());
        ASSERT_FALSE(imat.empty());
    }
    std::vector<float> weights, imatrix;
    std::map<std::string, GgmlResult> plain, imat;
};

TEST_F(EncodeGolden, PlainRmseAtMostGgml) {
    for (const EncType& e : encTypes()) {
        SCOPED_TRACE(e.golden);
        ASSERT_TRUE(qs::formats::canEncode(e.type));
        if (e.needsImatrix) continue;  // no plain golden: ggml refuses it
        const auto q = encode(e.type, weights, kCols, nullptr);
        const auto deq = decode(e.type, q, int64_t(weights.size()));
        const double ours = rmse(deq, weights);
        ASSERT_TRUE(plain.count(e.golden));
        const double theirs = plain[e.golden].rmse;
        // ggml's own bytes (checked in): both of our paths must reproduce them exactly.
        const auto ref = qs::test::readFile(goldenDir() + "/plain/" + e.golden + ".q");
        ASSERT_FALSE(ref.empty()) << "no golden file for " << e.golden;
        std::printf("[plain] %-7s ours %.7e  ggml %.7e\n", e.golden, ours, theirs);
        EXPECT_EQ(firstDifference(q, ref), "") << "fast path";
        EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, nullptr, 1, true), ref), "")
            << "reference path";
        EXPECT_LE(ours, theirs * kTableSlack);
    }
}

TEST_F(EncodeGolden, ImportanceWeightedRmseAtMostGgml) {
    for (const EncType& e : encTypes()) {
        SCOPED_TRACE(e.golden);
        const auto q = encode(e.type, weights, kCols, imatrix.data());
        const auto deq = decode(e.type, q, int64_t(weights.size()));
        const double ours = weightedRmse(deq, weights, imatrix, kCols);
        ASSERT_TRUE(imat.count(e.golden));
        const double theirs = imat[e.golden].weightedRmse;
        const auto ref = qs::test::readFile(goldenDir() + "/imat/" + e.golden + ".q");
        ASSERT_FALSE(ref.empty()) << "no golden file for " << e.golden;
        std::printf("[imat]  %-7s ours %.7e  ggml %.7e\n", e.golden, ours, theirs);
        EXPECT_EQ(firstDifference(q, ref), "") << "fast path";
        EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, imatrix.data(), 1, true), ref), "")
            << "reference path";
        EXPECT_LE(ours, theirs * kTableSlack);
    }
}

TEST_F(EncodeGolden, NewTypesByteIdenticalToCheckedInGgmlOutput) {
    // NVFP4, Q1_0, Q2_0: ggml's bytes and decode of the golden weights, made once with npm's
    // libggml-base (scripts/gen_golden_extra.py) and checked in, so this holds without npm.
    for (const EncType& e : newTypes()) {
        SCOPED_TRACE(e.golden);
        const std::string base = goldenDir() + "/extra/" + e.golden;
        const auto ref = qs::test::readFile(base + ".q");
        ASSERT_EQ(ref.size(), bytesFor(e.type, int64_t(weights.size())));
        EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, nullptr, 2), ref), "") << "plain";
        EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, imatrix.data(), 2), ref), "")
            << "importance is ignored, as ggml does";
        const auto deqRef = readFloats(base + ".deq.f32");
        const auto deq = decode(e.type, ref, int64_t(weights.size()));
        ASSERT_EQ(deq.size(), deqRef.size());
        EXPECT_EQ(std::memcmp(deq.data(), deqRef.data(), deq.size() * sizeof(float)), 0);
    }
}

TEST_F(EncodeGolden, F32IsACopy) {
    const auto q = encode(TensorType::F32, weights, kCols, imatrix.data());
    ASSERT_EQ(q.size(), weights.size() * 4);
    EXPECT_EQ(std::memcmp(q.data(), weights.data(), q.size()), 0);
}

// ------------------------------------------------------------------------------------------
// llama.cpp's reference quants of stories260K
// ------------------------------------------------------------------------------------------

/// Encode every tensor of `refFile` whose type is Q8_0 or Q4_0 from the F32 model and compare
/// with llama.cpp's bytes. Returns how many tensors were compared.
int compareWithReference(const std::string& refFile) {
    auto src = qs::model::openModel(qs::test::dataPath("models/stories260K.gguf"));
    auto ref = qs::model::openModel(qs::test::dataPath("models/reference-quants/" + refFile));
    EXPECT_TRUE(src.ok()) << (src.ok() ? "" : src.error().what());
    EXPECT_TRUE(ref.ok()) << (ref.ok() ? "" : ref.error().what());
    if (!src.ok() || !ref.ok()) return 0;
    int compared = 0;
    for (const auto& rt : ref->tensors()) {
        if (rt.type != TensorType::Q8_0 && rt.type != TensorType::Q4_0) continue;
        SCOPED_TRACE(rt.name);
        const int64_t idx = src->indexOf(rt.name);
        EXPECT_GE(idx, 0);
        if (idx < 0) continue;
        const auto& st = src->tensors()[size_t(idx)];
        EXPECT_EQ(st.type, TensorType::F32);
        EXPECT_EQ(st.nElements, rt.nElements);
        const auto bytes = src->tensorData(st);
        std::vector<float> x(size_t(st.nElements));
        std::memcpy(x.data(), bytes.data(), x.size() * sizeof(float));
        const auto ours = encode(rt.type, x, st.rowLength(), nullptr, 2);
        const auto theirs = ref->tensorData(rt);
        EXPECT_EQ(ours.size(), theirs.size());
        const bool same = ours.size() == theirs.size() &&
                          std::memcmp(ours.data(), theirs.data(), ours.size()) == 0;
        EXPECT_TRUE(same) << rt.name << " (" << qs::formats::typeName(rt.type) << ")";
        ++compared;
    }
    return compared;
}

TEST(EncodeModel, Stories260KQ8_0ByteIdentical) {
    const int n = compareWithReference("stories260K-Q8_0.gguf");
    std::printf("compared %d Q8_0 tensors\n", n);
    EXPECT_GT(n, 0);
}

TEST(EncodeModel, Stories260KQ4_0ByteIdentical) {
    const int n = compareWithReference("stories260K-Q4_0.gguf");
    std::printf("compared %d Q4_0/Q8_0 tensors\n", n);
    EXPECT_GT(n, 0);
}

// ------------------------------------------------------------------------------------------
// Determinism: thread counts, fast path vs reference path
// ------------------------------------------------------------------------------------------

/// Awkward data for the searches: heavy tails, all-zero and constant blocks, tiny and
/// large magnitudes, exact ties, a single non-zero value, signed zeros.
std::vector<float> awkwardRows(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::student_t_distribution<float> t4(4.0f);
    std::uniform_int_distribution<int> kind(0, 9);
    std::vector<float> x(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
        const float rowScale = std::pow(10.f, float(int(r % 7) - 4));
        for (int64_t b = 0; b < cols; b += 32) {
            const int k = kind(rng);
            for (int64_t j = 0; j < 32; ++j) {
                float v = t4(rng) * rowScale;
                if (k == 0) v = 0;
                if (k == 1) v = rowScale;
                if (k == 2) v = (j == 5) ? -rowScale : 0;
                if (k == 3) v = float(int(v / rowScale * 4)) * rowScale / 4;  // many ties
                if (k == 4 && j % 2) v = 0;
                if (k == 5 && j % 3 == 0) v = -0.0f;                            // signed zeros
                if (k == 6) v = j % 4 ? std::fabs(v) : (j % 8 ? 0.0f : -0.0f);  // min is a zero
                x[size_t(r * cols + b + j)] = v;
            }
        }
    }
    return x;
}

std::vector<float> randomImportance(int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::lognormal_distribution<float> ln(0.f, 1.5f);
    std::vector<float> w(static_cast<size_t>(cols));
    for (auto& v : w) v = ln(rng);
    for (int64_t j = 0; j < cols; j += 97) w[size_t(j)] = 0;  // unused channels
    return w;
}

TEST_F(EncodeGolden, ThreadCountDoesNotChangeBytes) {
    for (const EncType& e : encTypes()) {
        SCOPED_TRACE(e.golden);
        for (const float* imp :
             {static_cast<const float*>(nullptr), static_cast<const float*>(imatrix.data())}) {
            if (!imp && e.needsImatrix) continue;
            const auto one = encode(e.type, weights, kCols, imp, 1);
            const auto two = encode(e.type, weights, kCols, imp, 2);
            const auto any = encode(e.type, weights, kCols, imp, 0);
            EXPECT_EQ(firstDifference(one, two), "");
            EXPECT_EQ(firstDifference(one, any), "");
        }
    }
}

TEST_F(EncodeGolden, FastPathEqualsReference) {
    const auto awk = awkwardRows(24, 1024, 7);
    const auto awkImp = randomImportance(1024, 11);
    for (const EncType& e : encTypes()) {
        SCOPED_TRACE(e.golden);
        // The fast path must be bit-identical to the reference, not merely close.
        if (!e.needsImatrix) {
            EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, nullptr, 2, false),
                                      encode(e.type, weights, kCols, nullptr, 2, true)),
                      "");
            EXPECT_EQ(firstDifference(encode(e.type, awk, 1024, nullptr, 2, false),
                                      encode(e.type, awk, 1024, nullptr, 2, true)),
                      "");
        }
        EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, imatrix.data(), 2, false),
                                  encode(e.type, weights, kCols, imatrix.data(), 2, true)),
                  "");
        EXPECT_EQ(firstDifference(encode(e.type, awk, 1024, awkImp.data(), 2, false),
                                  encode(e.type, awk, 1024, awkImp.data(), 2, true)),
                  "");
    }
}

// ------------------------------------------------------------------------------------------
// Against ggml itself: llama.cpp's libggml-base.so (the build that made the golden files, from
// the node-llama-cpp npm package) is loaded at run time, test-only, and quantizes the same
// awkward rows. Skipped when the npm package is not installed.
// ------------------------------------------------------------------------------------------

using GgmlQuantizeChunk = size_t (*)(int type, const float* src, void* dst, int64_t start,
                                     int64_t nrows, int64_t nPerRow, const float* imatrix);

/// The first bytes of ggml's struct ggml_type_traits (ggml.h), enough to reach to_float.
struct GgmlTypeTraits {
    const char* typeName;
    int64_t blckSize;
    int64_t blckSizeInterleave;
    size_t typeSize;
    bool isQuantized;
    void (*toFloat)(const void* x, float* y, int64_t k);
};
using GgmlGetTypeTraits = const GgmlTypeTraits* (*)(int type);

/// libggml-base.so of the node-llama-cpp package, dlopened; skips the test if absent.
struct Ggml {
    void* handle = nullptr;
    GgmlQuantizeChunk quantize = nullptr;
    GgmlGetTypeTraits traits = nullptr;
    static std::string path() {
        return std::string(QS_TEST_DATA_DIR) +
               "/../js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";
    }
    bool open() {
        handle = dlopen(path().c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) return false;
        quantize = reinterpret_cast<GgmlQuantizeChunk>(dlsym(handle, "ggml_quantize_chunk"));
        traits = reinterpret_cast<GgmlGetTypeTraits>(dlsym(handle, "ggml_get_type_traits"));
        return quantize && traits;
    }
    ~Ggml() {
        if (handle) dlclose(handle);
    }
};

/// ggml's bytes for x (rows of `cols`), with or without importance.
std::vector<uint8_t> ggmlEncode(const Ggml& g, TensorType t, const std::vector<float>& x,
                                int64_t cols, const float* imp) {
    std::vector<uint8_t> out(bytesFor(t, int64_t(x.size())));
    g.quantize(int(t), x.data(), out.data(), 0, int64_t(x.size()) / cols, cols, imp);
    return out;
}

TEST(EncodeVsGgml, AwkwardRowsByteIdentical) {
    if (!std::filesystem::exists(Ggml::path())) GTEST_SKIP() << "no " << Ggml::path();
    Ggml g;
    ASSERT_TRUE(g.open()) << dlerror();
    std::vector<EncType> all = encTypes();
    all.insert(all.end(), newTypes().begin(), newTypes().end());
    for (uint32_t seed = 1; seed <= 3; ++seed) {
        const int64_t cols = 512 * seed;
        const auto x = awkwardRows(20, cols, seed);
        const auto imp = randomImportance(cols, seed + 100);
        for (const EncType& e : all) {
            SCOPED_TRACE(std::string(e.golden) + " seed " + std::to_string(seed));
            // The grid searches are ggml's slowest: fewer rows keep the test in seconds (the
            // row scales still cycle through all seven magnitudes).
            const bool slow = e.type >= TensorType::IQ2_XXS && e.type <= TensorType::IQ1_M &&
                              e.type != TensorType::IQ4_NL && e.type != TensorType::IQ4_XS;
            const std::vector<float> xs(x.begin(), x.begin() + (slow ? 8 : 20) * cols);
            for (const float* w : {static_cast<const float*>(nullptr), imp.data()}) {
                if (!w && e.needsImatrix) continue;  // ggml aborts without one
                EXPECT_EQ(firstDifference(encode(e.type, xs, cols, w, 2),
                                          ggmlEncode(g, e.type, xs, cols, w)),
                          "")
                    << (w ? "with importance" : "plain");
            }
        }
    }
}

TEST(EncodeVsGgml, NewTypesGoldenAndDecode) {
    // NVFP4, Q1_0, Q2_0: no golden files exist in shared/, so ggml makes them here from the
    // golden weights (plain and with the golden imatrix, which these types ignore); our
    // encoder must give the same bytes, our decoder ggml's values bit for bit, and the
    // type table ggml's block size and bytes.
    if (!std::filesystem::exists(Ggml::path())) GTEST_SKIP() << "no " << Ggml::path();
    Ggml g;
    ASSERT_TRUE(g.open()) << dlerror();
    const auto weights = readFloats(goldenDir() + "/weights.f32");
    const auto imatrix = readFloats(goldenDir() + "/imatrix.f32");
    for (const EncType& e : newTypes()) {
        SCOPED_TRACE(e.golden);
        const GgmlTypeTraits* gt = g.traits(int(e.type));
        ASSERT_NE(gt, nullptr);
        EXPECT_EQ(std::string(gt->typeName), e.golden);
        EXPECT_EQ(gt->blckSize, qs::formats::traits(e.type).blockSize);
        EXPECT_EQ(int64_t(gt->typeSize), qs::formats::traits(e.type).blockBytes);
        for (const float* w : {static_cast<const float*>(nullptr), imatrix.data()}) {
            const auto theirs = ggmlEncode(g, e.type, weights, kCols, w);
            EXPECT_EQ(firstDifference(encode(e.type, weights, kCols, w, 2), theirs), "");
            std::vector<float> ref(weights.size());
            gt->toFloat(theirs.data(), ref.data(), int64_t(ref.size()));
            const auto ours = decode(e.type, theirs, int64_t(weights.size()));
            EXPECT_EQ(std::memcmp(ours.data(), ref.data(), ref.size() * sizeof(float)), 0);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------

TEST(EncodeErrors, RowLengthNotMultipleOfBlockSize) {
    std::vector<float> x(200, 1.f);
    std::vector<uint8_t> out(1000);
    const auto st = qs::formats::encodeRows(TensorType::Q4_K, x, out, 100, nullptr, 1, "blk.0.w");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, qs::ErrorCode::BadInput);
    EXPECT_NE(st.error().what().find("blk.0.w"), std::string::npos) << st.error().what();
}

TEST(EncodeErrors, NaNAndInfInputAreRejected) {
    for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
        std::vector<float> x(2 * 256, 0.5f);
        x[300] = bad;
        for (const EncType& e : encTypes()) {
            SCOPED_TRACE(e.golden);
            std::vector<uint8_t> out(bytesFor(e.type, int64_t(x.size())));
            const std::vector<float> imp(256, 1.f);
            const auto st = qs::formats::encodeRows(
                e.type, x, out, 256, e.needsImatrix ? imp.data() : nullptr, 2, "tok_emb");
            ASSERT_FALSE(st.ok());
            EXPECT_EQ(st.error().code, qs::ErrorCode::BadInput);
            EXPECT_NE(st.error().what().find("tok_emb"), std::string::npos);
            EXPECT_NE(st.error().what().find("row 1"), std::string::npos) << st.error().what();
        }
    }
}

TEST(EncodeErrors, BadImportanceIsRejected) {
    std::vector<float> x(256, 0.5f), imp(256, 1.f);
    imp[3] = std::nanf("");
    std::vector<uint8_t> out(bytesFor(TensorType::Q4_K, 256));
    const auto st = qs::formats::encodeRows(TensorType::Q4_K, x, out, 256, imp.data(), 1, "w");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, qs::ErrorCode::BadInput);
}

TEST(EncodeErrors, ScaleOverflowIsRejected) {
    // 1e30 / 127 does not fit fp16: ggml_validate_row_data would reject the block.
    std::vector<float> x(256, 1e30f);
    for (const TensorType t : {TensorType::Q8_0, TensorType::Q4_K, TensorType::F16}) {
        std::vector<uint8_t> out(bytesFor(t, 256));
        const auto st = qs::formats::encodeRows(t, x, out, 256, nullptr, 1, "huge");
        ASSERT_FALSE(st.ok()) << qs::formats::typeName(t);
        EXPECT_EQ(st.error().code, qs::ErrorCode::BadInput);
        EXPECT_NE(st.error().what().find("huge"), std::string::npos);
    }
}

TEST(EncodeErrors, MissingImatrixIsRejectedWithTheFix) {
    std::vector<float> x(256, 0.5f);
    for (const TensorType t : {TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ1_S}) {
        EXPECT_TRUE(qs::formats::requiresImportance(t));
        std::vector<uint8_t> out(bytesFor(t, 256));
        const auto st =
            qs::formats::encodeRows(t, x, out, 256, nullptr, 1, "blk.3.ffn_down.weight");
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.error().code, qs::ErrorCode::BadInput);
        EXPECT_NE(st.error().what().find("blk.3.ffn_down.weight"), std::string::npos);
        EXPECT_NE(st.error().what().find("imatrix"), std::string::npos) << st.error().what();
    }
    EXPECT_FALSE(qs::formats::requiresImportance(TensorType::IQ1_M));
    EXPECT_FALSE(qs::formats::requiresImportance(TensorType::IQ2_S));
}

TEST(EncodeErrors, UnsupportedTypeAndBadSizes) {
    EXPECT_FALSE(qs::formats::canEncode(TensorType::Q8_1));
    EXPECT_EQ(qs::formats::encoderOf(TensorType::Q8_1), nullptr);
    std::vector<float> x(256, 0.5f);
    std::vector<uint8_t> out(10);
    const auto st = qs::formats::encodeRows(TensorType::Q8_1, x, out, 256, nullptr, 1, "w");
    ASSERT_FALSE(st.ok());
    const auto st2 = qs::formats::encodeRows(TensorType::Q8_0, x, out, 256, nullptr, 1, "w");
    ASSERT_FALSE(st2.ok());
    EXPECT_EQ(st2.error().code, qs::ErrorCode::BadUsage);
}

}  // namespace
