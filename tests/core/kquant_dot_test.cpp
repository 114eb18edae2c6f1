// The evaluator's integer K-quant / IQ4_XS products (eval/kquant_dot.h) against ggml's own CPU
// kernels: libggml-cpu-<variant>.so of the node-llama-cpp package (the variant llama.cpp loads
// on this CPU), dlopened. ggml_vec_dot_*_q8_K through ggml_get_type_traits_cpu, and the
// repacked Q4_K kernels ggml_gemv/gemm_q4_K_8x8_q8_K on rows interleaved the way llama.cpp's
// "CPU_REPACK" buffer stores them. Every product must be bit-identical. Skips (with the reason)
// without the package or on a CPU without AVX2.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "../common/weight_view_util.h"
#include "eval/cpu_features.h"
#include "eval/kquant_dot.h"
#include "eval/matmul.h"
#include "formats/encoders.h"
#include "formats/type_table.h"

using namespace qs;
using formats::TensorType;

namespace {

// ggml-cpu.h's struct ggml_type_traits_cpu.
struct GgmlTraitsCpu {
    void (*fromFloat)(const float* x, void* y, int64_t k);
    void (*vecDot)(int n, float* s, size_t bs, const void* x, size_t bx, const void* y, size_t by,
                   int nrc);
    int vecDotType;
    int64_t nrows;
};
using GemFn = void (*)(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);

std::string libDir() {
    return std::string(QS_TEST_DATA_DIR) +
           "/../js/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/";
}

/// The CPU variant llama.cpp's loader picks here among the two whose kernels we follow.
std::string variant() {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi")) {
        return "zen4";
    }
    if (eval::cpuHasAvx2Fma()) return "haswell";
#endif
    return "";
}

struct GgmlCpu {
    void* handle = nullptr;
    const GgmlTraitsCpu* (*traits)(int) = nullptr;
    GemFn gemv = nullptr, gemm = nullptr;
    void (*quantizeMat)(const float* x, void* vy, int64_t k) = nullptr;
    bool open(const std::string& path) {
        handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) return false;
        auto init = reinterpret_cast<void (*)()>(dlsym(handle, "ggml_cpu_init"));
        traits = reinterpret_cast<const GgmlTraitsCpu* (*)(int)>(
            dlsym(handle, "ggml_get_type_traits_cpu"));
        gemv = reinterpret_cast<GemFn>(dlsym(handle, "ggml_gemv_q4_K_8x8_q8_K"));
        gemm = reinterpret_cast<GemFn>(dlsym(handle, "ggml_gemm_q4_K_8x8_q8_K"));
        quantizeMat = reinterpret_cast<void (*)(const float*, void*, int64_t)>(
            dlsym(handle, "ggml_quantize_mat_q8_K_4x8"));
        if (!init || !traits || !gemv || !gemm || !quantizeMat) return false;
        init();
        return true;
    }
    ~GgmlCpu() {
        if (handle) dlclose(handle);
    }
};

/// Activations like a transformer's: mostly small, a few large outliers per row.
std::vector<float> activations(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(size_t(rows * cols));
    for (size_t i = 0; i < x.size(); ++i) {
        x[i] = nd(rng) * (i % 97 == 5 ? 12.0f : 1.0f);
    }
    return x;
}

/// Eight Q4_K rows (nb super-blocks each) as llama.cpp's block_q4_Kx8 (repack.cpp's
/// make_block_q4_Kx8 with 8-byte interleave): per super-block the eight fp16 d, the eight fp16
/// dmin, per 32-value sub-block the eight rows' scale and min packed as one Q4_K scale array,
/// then the quants 8 bytes of each row in turn.
std::vector<uint8_t> interleaveQ4K(const uint8_t* rows, int64_t nb) {
    constexpr size_t kBlock = 144, kOut = 16 + 16 + 96 + 1024;
    std::vector<uint8_t> out(size_t(nb) * kOut);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* o = out.data() + size_t(b) * kOut;
        const uint8_t* in[8];
        for (int r = 0; r < 8; ++r) in[r] = rows + (size_t(r) * size_t(nb) + size_t(b)) * kBlock;
        for (int r = 0; r < 8; ++r) {
            std::memcpy(o + 2 * r, in[r], 2);
            std::memcpy(o + 16 + 2 * r, in[r] + 2, 2);
        }
        for (int j = 0; j < 8; ++j) {
            int sc[8], mn[8];
            for (int r = 0; r < 8; ++r) {
                const uint8_t* q = in[r] + 4;
                if (j < 4) {
                    sc[r] = q[j] & 63;
                    mn[r] = q[j + 4] & 63;
                } else {
                    sc[r] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
                    mn[r] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
                }
            }
            uint8_t* s = o + 32 + 12 * j;
            for (int r = 0; r < 4; ++r) {
                s[r] = uint8_t((sc[r] & 63) | ((sc[r + 4] & 48) << 2));
                s[r + 4] = uint8_t((mn[r] & 63) | ((mn[r + 4] & 48) << 2));
                s[r + 8] = uint8_t((sc[r + 4] & 15) | ((mn[r + 4] & 15) << 4));
            }
        }
        for (int i = 0; i < 128; ++i) {
            std::memcpy(o + 128 + 8 * i, in[i % 8] + 16 + 8 * (i / 8), 8);
        }
    }
    return out;
}

}  // namespace

TEST(KQuantDot, DispatchedKernelEqualsPortable) {
    const int64_t cols = 768, rows = 13, nTok = 7;
    const auto w = activations(rows, cols, 7);
    const auto x = activations(nTok, cols, 8);
    for (TensorType t : {TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                         TensorType::IQ4_XS}) {
        SCOPED_TRACE(std::string(formats::typeName(t)));
        const auto bytes = test::encodeWeights(t, w, cols);
        const auto v = test::weightView(t, bytes, rows, cols);
        std::vector<float> y(size_t(nTok * rows));
        eval::matmul(v, x.data(), nTok, y.data(), 2);
        for (int64_t tk = 0; tk < nTok; ++tk) {
            for (int64_t r = 0; r < rows; ++r) {
                // 13 rows: never repacked, every product in vec_dot order.
                const float p = eval::detail::dotKQuantPortable(
                    t, v.storedRow(r).data(), x.data() + tk * cols, cols, false, false);
                EXPECT_EQ(test::floatBits(y[size_t(tk * rows + r)]), test::floatBits(p))
                    << "row " << r;
            }
        }
    }
}

TEST(KQuantDotVsGgml, VecDotBitIdentical) {
    const std::string v = variant();
    if (v.empty()) GTEST_SKIP() << "no AVX2: llama.cpp's x86 kernels are not the ones emulated";
    const std::string path = libDir() + "libggml-cpu-" + v + ".so";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
    GgmlCpu g;
    ASSERT_TRUE(g.open(path)) << dlerror();
    const int64_t cols = 1024, rows = 12, nTok = 5;
    const auto w = activations(rows, cols, 21);
    const auto x = activations(nTok, cols, 22);
    const GgmlTraitsCpu* q8k = g.traits(int(TensorType::Q8_K));
    ASSERT_TRUE(q8k && q8k->fromFloat);
    std::vector<uint8_t> xq(size_t(cols / 256 * 292));
    int differ = 0, total = 0;
    for (TensorType t : {TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                         TensorType::IQ4_XS}) {
        SCOPED_TRACE(std::string(formats::typeName(t)));
        const GgmlTraitsCpu* tr = g.traits(int(t));
        ASSERT_TRUE(tr && tr->vecDot);
        ASSERT_EQ(tr->vecDotType, int(TensorType::Q8_K));
        const auto bytes = test::encodeWeights(t, w, cols);
        const auto wv = test::weightView(t, bytes, rows, cols);
        for (int64_t tk = 0; tk < nTok; ++tk) {
            q8k->fromFloat(x.data() + tk * cols, xq.data(), cols);
            for (int64_t r = 0; r < rows; ++r) {
                float theirs = 0;
                tr->vecDot(int(cols), &theirs, 0, wv.storedRow(r).data(), 0, xq.data(), 0, 1);
                const float ours = eval::detail::dotKQuantPortable(
                    t, wv.storedRow(r).data(), x.data() + tk * cols, cols, false, false);
                ++total;
                if (test::floatBits(ours) != test::floatBits(theirs)) {
                    ++differ;
                    ADD_FAILURE() << "row " << r << " token " << tk << ": ours " << ours << " ggml "
                                  << theirs;
                }
            }
        }
    }
    std::printf("vec_dot (%s): %d of %d products differ\n", v.c_str(), differ, total);
}

TEST(KQuantDotVsGgml, RepackedQ4KGemvGemmBitIdentical) {
    const std::string v = variant();
    if (v.empty()) GTEST_SKIP() << "no AVX2: llama.cpp does not repack Q4_K here";
    const std::string path = libDir() + "libggml-cpu-" + v + ".so";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
    GgmlCpu g;
    ASSERT_TRUE(g.open(path)) << dlerror();
    // 16 rows (two interleaved groups), 6 tokens: the GEMM takes tokens 0-3, the GEMV 4 and 5.
    const int64_t cols = 768, rows = 16, nTok = 6, nb = cols / 256;
    const auto w = activations(rows, cols, 31);
    const auto x = activations(nTok, cols, 32);
    const auto bytes = test::encodeWeights(TensorType::Q4_K, w, cols);
    std::vector<uint8_t> packed;
    for (int64_t grp = 0; grp < rows / 8; ++grp) {
        const auto p = interleaveQ4K(bytes.data() + size_t(grp * 8 * nb * 144), nb);
        packed.insert(packed.end(), p.begin(), p.end());
    }
    std::vector<float> theirs(size_t(nTok * rows));
    // GEMM: the first four activation rows as ggml's block_q8_Kx4.
    std::vector<uint8_t> x4(size_t(nb) * (16 + 1024 + 128));
    g.quantizeMat(x.data(), x4.data(), cols);
    g.gemm(int(cols), theirs.data(), size_t(rows), packed.data(), x4.data(), 4, int(rows));
    // GEMV: the other two, quantize_row_q8_K each.
    const GgmlTraitsCpu* q8k = g.traits(int(TensorType::Q8_K));
    std::vector<uint8_t> xq(size_t(nb * 292));
    for (int64_t tk = 4; tk < nTok; ++tk) {
        q8k->fromFloat(x.data() + tk * cols, xq.data(), cols);
        g.gemv(int(cols), theirs.data() + tk * rows, size_t(rows), packed.data(), xq.data(), 1,
               int(rows));
    }
    // Ours: the dispatched matmul (16 rows: repacked), and the portable kernel per product.
    const auto wv = test::weightView(TensorType::Q4_K, bytes, rows, cols);
    std::vector<float> ours(size_t(nTok * rows));
    eval::matmul(wv, x.data(), nTok, ours.data(), 2);
    for (int64_t tk = 0; tk < nTok; ++tk) {
        for (int64_t r = 0; r < rows; ++r) {
            const size_t i = size_t(tk * rows + r);
            EXPECT_EQ(test::floatBits(ours[i]), test::floatBits(theirs[i]))
                << "row " << r << " token " << tk << ": ours " << ours[i] << " ggml " << theirs[i];
            const float p = eval::detail::dotKQuantPortable(
                TensorType::Q4_K, wv.storedRow(r).data(), x.data() + tk * cols, cols, true, tk < 4);
            EXPECT_EQ(test::floatBits(p), test::floatBits(theirs[i]))
                << "portable, row " << r << " token " << tk;
        }
    }
    // The two orders do differ (so the comparison above can tell them apart).
    int orderMatters = 0;
    for (int64_t tk = 0; tk < nTok; ++tk) {
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t* row = wv.storedRow(r).data();
            const float* xt = x.data() + tk * cols;
            const float gemmOrder =
                eval::detail::dotKQuantPortable(TensorType::Q4_K, row, xt, cols, true, true);
            const float gemvOrder =
                eval::detail::dotKQuantPortable(TensorType::Q4_K, row, xt, cols, true, false);
            const float vecDot =
                eval::detail::dotKQuantPortable(TensorType::Q4_K, row, xt, cols, false, false);
            orderMatters += test::floatBits(gemmOrder) != test::floatBits(gemvOrder) ||
                            test::floatBits(gemvOrder) != test::floatBits(vecDot);
        }
    }
    std::printf("Q4_K: %d of %lld products depend on the kernel's order\n", orderMatters,
                static_cast<long long>(nTok * rows));
    EXPECT_GT(orderMatters, 0);
    // An expert slice runs the GEMV for every token (llama.cpp's MUL_MAT_ID).
    std::vector<float> gemvAll(size_t(nTok * rows)), oursExpert(size_t(nTok * rows));
    for (int64_t tk = 0; tk < nTok; ++tk) {
        q8k->fromFloat(x.data() + tk * cols, xq.data(), cols);
        g.gemv(int(cols), gemvAll.data() + tk * rows, size_t(rows), packed.data(), xq.data(), 1,
               int(rows));
    }
    eval::matmul(wv, x.data(), nTok, oursExpert.data(), 2, true, true);
    for (size_t i = 0; i < gemvAll.size(); ++i) {
        EXPECT_EQ(test::floatBits(oursExpert[i]), test::floatBits(gemvAll[i]))
            << "expert, product " << i;
    }
}
